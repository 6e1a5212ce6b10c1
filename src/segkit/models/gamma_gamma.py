"""Gamma-Gamma model of spend per transaction (Colombo & Jiang 1999; Fader, Hardie & Lee 2005,
"RFM and CLV: Using Iso-Value Curves for Customer Base Analysis").

Each transaction value of a customer is Gamma(p, nu) (shape p, rate nu); nu varies across
customers as Gamma(q, v). For a customer with x >= 1 repeat transactions of mean value zbar::

    f(zbar | x) = Gamma(px+q) / (Gamma(px) Gamma(q)) * v^q zbar^(px-1) x^(px) / (v + x zbar)^(px+q)

Only customers with x > 0 carry information; rows with frequency 0 are ignored by ``fit``.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from scipy.special import digamma, gammaln

from segkit.models._base import (
    Array,
    ArrayLike,
    Compressed,
    Fitter,
    as_float_array,
    check_frequency,
    check_weights,
    compress,
)


def _check_fm(frequency: ArrayLike, monetary_value: ArrayLike) -> tuple[Array, Array]:
    x = check_frequency(frequency)
    z = as_float_array(monetary_value, "monetary_value")
    try:
        x, z = np.broadcast_arrays(x, z)
    except ValueError as err:
        raise ValueError("frequency and monetary_value must have the same length.") from err
    if np.any((x > 0) & (z <= 0)):
        raise ValueError(
            "monetary_value must be > 0 for customers with repeat purchases; the Gamma-Gamma "
            "model describes positive spend. Drop or fix customers whose repeat purchases net "
            "to zero or less (returns)."
        )
    return x.copy(), z.copy()


class GammaGamma(Fitter):
    """Gamma-Gamma spend model; parameters ``p`` (spend shape), ``q`` and ``v``."""

    param_names = ("p", "q", "v")

    def fit(
        self,
        frequency: ArrayLike,
        monetary_value: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> Self:
        """Maximum-likelihood fit on customers with frequency > 0 (others are ignored).

        ``monetary_value`` is the mean value of the repeat purchases; ``weights`` counts customers
        per row. Assumes spend per transaction is independent of the purchase frequency.
        """
        x, z = _check_fm(frequency, monetary_value)
        w = check_weights(weights, len(x))
        repeat = x > 0
        if w is not None:
            repeat &= w > 0
        if not repeat.any():
            raise ValueError(
                "GammaGamma needs customers with repeat purchases (frequency > 0); all have "
                "frequency 0 (or weight 0). Use a longer observation period."
            )
        data, _ = compress((x[repeat], z[repeat]), None if w is None else w[repeat])
        return self._fit(data)

    def _initial_params(self, data: Compressed) -> Array:
        # E[zbar] = p v / (q - 1); start at p = 1, q = 2 with the observed mean spend.
        mean = float(np.average(data.column(1), weights=data.weights))
        return np.array([1.0, 2.0, mean])

    def _loglik(self, theta: Array, data: Compressed) -> tuple[Array, Array]:
        p, q, v = theta
        x, z = data.column(0), data.column(1)
        px = p * x
        log_xz_v = np.log(x * z + v)
        log_xz = np.log(x * z)
        ll = (
            gammaln(px + q)
            - gammaln(px)
            - gammaln(q)
            + q * np.log(v)
            + (px - 1) * np.log(z)
            + px * np.log(x)
            - (px + q) * log_xz_v
        )
        psi = digamma(px + q)
        grad = np.stack(
            [
                x * (psi - digamma(px) + log_xz - log_xz_v),
                psi - digamma(q) + np.log(v) - log_xz_v,
                q / v - (px + q) / (x * z + v),
            ]
        )
        return ll, grad

    def conditional_expected_spend(self, frequency: ArrayLike, monetary_value: ArrayLike) -> Array:
        """E[spend per transaction | x, zbar] = p (v + x zbar) / (p x + q - 1).

        A weighted mean of the population mean p v / (q - 1) and the customer's own mean zbar,
        with weight p x / (p x + q - 1) on zbar; customers with frequency 0 get the population
        mean. Needs q > 1 (otherwise the population mean is infinite).
        """
        p, q, v = self._theta()
        if q <= 1:
            raise ValueError(
                f"q = {q:.3g} <= 1: the fitted spend distribution has no finite mean, so no "
                "expected spend can be given. Check monetary_value for extreme outliers."
            )
        x, z = _check_fm(frequency, monetary_value)
        return p * (v + x * z) / (p * x + q - 1)

    def conditional_expected_average_profit(
        self, frequency: ArrayLike, monetary_value: ArrayLike
    ) -> Array:
        """Alias of :meth:`conditional_expected_spend` (lifetimes' name)."""
        return self.conditional_expected_spend(frequency, monetary_value)
