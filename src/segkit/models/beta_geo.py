"""BG/NBD (Fader, Hardie & Lee 2005) and MBG/NBD (Batislam, Denizel & Filiztekin 2007).

While alive, a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha) (shape r,
rate alpha, so alpha is in the time unit of the data). After each repeat purchase she drops out
with probability p ~ Beta(a, b). The MBG/NBD also lets her drop out right after the first purchase,
so customers with no repeat purchase are not all alive.

Likelihood of one customer with x repeat purchases, last at t_x, observed for T (m = 0 for BG/NBD,
m = 1 for MBG/NBD; the second term is absent for BG/NBD when x = 0)::

    L = Gamma(r+x) alpha^r / Gamma(r) * [ B(a, b+x+m) / B(a, b) / (alpha+T)^(r+x)
                                        + B(a+1, b+x-1+m) / B(a, b) / (alpha+t_x)^(r+x) ]
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.special import betaln, digamma, gammaln, hyp2f1

from segkit.models._base import Array, Compressed, TransactionFitter


class BetaGeo(TransactionFitter):
    """BG/NBD model; parameters ``r, alpha`` (purchase rate) and ``a, b`` (dropout)."""

    param_names = ("r", "alpha", "a", "b")
    #: 1 when the customer may also drop out right after the first purchase (MBG/NBD).
    _m: ClassVar[int] = 0

    def _start_from_alpha(self, alpha: float) -> Array:
        return np.array([1.0, alpha, 1.0, 3.0])

    def _log_terms(self, theta: Array, data: Compressed) -> tuple[Array, Array, Array]:
        """Per row: the x-only part of log L, and the logs of the two bracketed terms."""
        r, alpha, a, b = theta
        m = self._m
        xs, txs, ts = data.values[:3]
        cx, ctx, ct = data.codes[:3]
        x = data.column(0)
        has_b = (xs > 0) | (m == 1)
        head = gammaln(r + xs) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
        beta_a = betaln(a, b + xs + m)
        beta_b = np.where(has_b, betaln(a + 1, np.where(has_b, b + xs - 1 + m, b)), -np.inf)
        log_a = beta_a[cx] - (r + x) * np.log(alpha + ts)[ct]
        log_b = beta_b[cx] - (r + x) * np.log(alpha + txs)[ctx]
        return head[cx], log_a, log_b

    def _loglik(self, theta: Array, data: Compressed) -> tuple[Array, Array]:
        r, alpha, a, b = theta
        m = self._m
        xs, txs, ts = data.values
        cx, ctx, ct = data.codes
        x = data.column(0)
        head, log_a, log_b = self._log_terms(theta, data)
        both = np.logaddexp(log_a, log_b)
        w_a = np.exp(log_a - both)
        w_b = 1.0 - w_a
        has_b = (xs > 0) | (m == 1)
        psi_rx = digamma(r + xs)[cx]
        psi_abx = digamma(a + b + xs + m)[cx]
        psi_ba = digamma(b + xs + m)[cx]
        psi_bb = np.where(has_b, digamma(np.where(has_b, b + xs - 1 + m, b)), 0.0)[cx]
        log_at, log_atx = np.log(alpha + ts)[ct], np.log(alpha + txs)[ctx]
        inv_at, inv_atx = (1.0 / (alpha + ts))[ct], (1.0 / (alpha + txs))[ctx]
        psi_ab = digamma(a + b)
        grad = np.stack(
            [
                psi_rx - digamma(r) + np.log(alpha) - w_a * log_at - w_b * log_atx,
                r / alpha - (r + x) * (w_a * inv_at + w_b * inv_atx),
                psi_ab - psi_abx + w_b / a,
                psi_ab - digamma(b) - psi_abx + w_a * psi_ba + w_b * psi_bb,
            ]
        )
        return head + both, grad

    def _log_p_alive(self, theta: Array, data: Compressed) -> Array:
        # P(alive) is the share of the first term in the likelihood bracket.
        _, log_a, log_b = self._log_terms(theta, data)
        return log_a - np.logaddexp(log_a, log_b)

    def _conditional_expectation(self, theta: Array, data: Compressed) -> Array:
        r, alpha, a, b = theta
        m = self._m
        x, big_t, t = data.column(0), data.column(2), data.column(3)
        z = t / (alpha + big_t + t)
        c = a + b + x - 1 + m
        # Euler's transformation of 2F1(r+x, b+x+m; c; z) * (1-z)^(r+x) (Fader & Hardie 2013,
        # "Overcoming the BG/NBD model's #NUM! error problem"): the transformed series does not
        # overflow for customers with many purchases.
        tail = np.exp((a - 1) * np.log1p(-z)) * hyp2f1(a + b - 1 + m - r, a - 1, c, z)
        return c / (a - 1) * (1 - tail) * np.exp(self._log_p_alive(theta, data))


class ModifiedBetaGeo(BetaGeo):
    """MBG/NBD model: as BG/NBD, but a customer may drop out right after the first purchase."""

    _m = 1
