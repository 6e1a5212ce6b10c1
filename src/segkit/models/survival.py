"""Cox PH and Weibull AFT with late entry for categorical covariates, fast on a million rows.

lifelines' ``CoxPHFitter`` handles late entry (``entry_col``) on a slow path (about 30 s for
14,000 subscriptions) and cannot compute residuals there, so neither a fit on a million
subscriptions nor the proportional-hazards check would be possible with it. :class:`CoxPH`
uses that the covariates are one-hot categories: with K distinct covariate rows ("patterns") every
risk-set sum is ``N @ f(pattern)``, where ``N[j, k]`` is the number of rows of pattern k at risk
at event time j. ``N`` is built once; each Newton step then costs O(J K p^2), independent of
the number of rows.

Model: hazard ``h(t | x) = h0(t) exp(beta . x)``; partial likelihood with **Efron's** handling
of tied event times (as lifelines and R's ``coxph``), risk sets ``entry < t <= duration``,
whole-number weights counting identical rows (the likelihood of the expanded rows).

:class:`WeibullAFT` uses the same grouping by pattern for a fully parametric model (see its
docstring); lifelines' ``WeibullAFTFitter`` fits it row by row in about 20 s on a million.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import chi2, norm

from segkit.models._base import compress

Array = npt.NDArray[np.float64]


def newton_maximize(
    derivatives: Callable[[Array], tuple[float, Array, Array]],
    start: Array,
    tol: float,
    max_steps: int = 100,
) -> tuple[Array, float, Array, bool]:
    """Maximise a log-likelihood by Newton's method with step halving.

    ``derivatives(x)`` returns the log-likelihood, its gradient and its Hessian. A step that is
    not uphill is replaced by a scaled gradient step, and every step is halved until the
    likelihood does not fall, so the iteration cannot run away. Returns the maximiser, the
    log-likelihood and Hessian there, and whether the last step was shorter than ``tol``.
    """
    x = start
    ll, grad, hess = derivatives(x)
    for _ in range(max_steps):
        try:
            step = np.linalg.solve(-hess, grad)
        except np.linalg.LinAlgError:
            return x, ll, hess, False
        if not np.all(np.isfinite(step)) or grad @ step <= 0:
            step = grad / max(1.0, float(np.abs(grad).max()))  # not an ascent: go uphill
        for _ in range(40):
            new = derivatives(x + step)
            if np.isfinite(new[0]) and new[0] >= ll - 1e-12 * max(1.0, abs(ll)):
                break
            step /= 2
        x = x + step
        ll, grad, hess = new
        if np.max(np.abs(step)) < tol:
            return x, ll, hess, True
    return x, ll, hess, False


class CoxPH:
    """Cox model fitted by Newton-Raphson; lifelines-like attributes ending in ``_``."""

    def __init__(self) -> None:
        self.params_: pd.Series = pd.Series(dtype=float)
        self.variance_matrix_: pd.DataFrame = pd.DataFrame()
        self.log_likelihood_: float = np.nan
        self.converged_: bool = False
        self.n_events_: float = 0.0

    def fit(
        self,
        duration: npt.ArrayLike,
        event: npt.ArrayLike,
        covariates: pd.DataFrame,
        entry: npt.ArrayLike | None = None,
        weights: npt.ArrayLike | None = None,
        max_steps: int = 50,
    ) -> Self:
        """Fit on rows with ``duration`` > ``entry`` >= 0, ``event`` True for an observed end,
        ``covariates`` one column per coefficient, ``weights`` whole-number row counts."""
        t = np.asarray(duration, float)
        e = np.asarray(event, bool)
        s = np.zeros_like(t) if entry is None else np.asarray(entry, float)
        w = np.ones_like(t) if weights is None else np.asarray(weights, float)
        if np.any(w != np.round(w)) or np.any(w < 0):
            raise ValueError("weights must be whole numbers >= 0 (counts of identical rows)")
        if np.any(s >= t) or np.any(s < 0):
            raise ValueError("every row needs 0 <= entry < duration")
        if not np.any(e & (w > 0)):
            raise ValueError("no events (ended subscriptions): a Cox model cannot be fitted")
        names = [str(c) for c in covariates.columns]
        patterns, k = _patterns(covariates)
        times = np.unique(t[e & (w > 0)])
        n_times, n_pat = len(times), len(patterns)
        # At risk at times[j] when entry < times[j] <= duration: +w from the first event time
        # after the entry, -w from the first event time after the duration.
        steps = np.zeros((n_times + 1, n_pat))
        np.add.at(steps, (np.searchsorted(times, s, side="right"), k), w)
        np.add.at(steps, (np.searchsorted(times, t, side="right"), k), -w)
        at_risk = np.cumsum(steps, axis=0)[:n_times]
        deaths = np.zeros((n_times, n_pat))
        ev = e & (w > 0)
        np.add.at(deaths, (np.searchsorted(times, t[ev]), k[ev]), w[ev])
        self._data = _Risk(patterns, at_risk, deaths, times)

        beta, ll, hess, self.converged_ = newton_maximize(
            self._data.derivatives, np.zeros(patterns.shape[1]), tol=1e-9, max_steps=max_steps
        )
        if not self.converged_ or not np.all(np.isfinite(beta)):
            raise ValueError(
                "the Cox model did not converge (a covariate level may have no events, or "
                "separate the ended from the active subscriptions perfectly); drop or merge "
                "that level and fit again"
            )
        self.params_ = pd.Series(beta, index=names, name="coef")
        self.variance_matrix_ = pd.DataFrame(np.linalg.inv(-hess), index=names, columns=names)
        self.log_likelihood_ = float(ll)
        self.n_events_ = float(deaths.sum())
        return self

    @property
    def standard_errors_(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.variance_matrix_)), index=self.params_.index)

    @property
    def hazard_ratios_(self) -> pd.Series:
        return np.exp(self.params_).rename("exp(coef)")

    @property
    def summary(self) -> pd.DataFrame:
        """coef, exp(coef), se(coef), 95 % Wald interval of exp(coef), z and p, per column."""
        b, se = self.params_, self.standard_errors_
        z = b / se
        q = norm.ppf(0.975)
        return pd.DataFrame(
            {
                "coef": b,
                "exp(coef)": np.exp(b),
                "se(coef)": se,
                "exp(coef) lower 95%": np.exp(b - q * se),
                "exp(coef) upper 95%": np.exp(b + q * se),
                "z": z,
                "p": 2 * norm.sf(np.abs(z)),
            }
        )

    def proportional_hazard_test(self) -> pd.DataFrame:
        """Grambsch-Therneau test per column: scaled Schoenfeld residuals against the rank of
        the event time (lifelines' ``proportional_hazard_test(..., time_transform="rank")``).

        Statistic ``(sum_i (g_i - gbar) r*_i)^2 / (D se^2 sum_i (g_i - gbar)^2)``, chi-square
        with 1 degree of freedom; ``g`` = rank of the event time (ties: mean rank), ``r*`` = D x
        (Schoenfeld residual) @ variance matrix, ``D`` = number of events.
        """
        d = self._data
        beta = self.params_.to_numpy()
        xbar = d.expected_x(beta)  # Efron mean of x over each event time's risk set, (J, p)
        per_time = d.deaths.sum(1)
        resid = d.deaths @ d.patterns - per_time[:, None] * xbar  # summed residuals per time
        ranks = np.cumsum(per_time) - (per_time - 1) / 2  # mean rank of each tied block
        total = per_time.sum()
        g = ranks - (per_time @ ranks) / total
        scaled = total * (g @ resid) @ self.variance_matrix_.to_numpy()
        se2 = np.diag(self.variance_matrix_.to_numpy())
        stat = scaled**2 / (total * se2 * (per_time @ g**2))
        return pd.DataFrame(
            {"statistic": stat, "p_value": chi2.sf(stat, 1)}, index=self.params_.index
        )


def _patterns(covariates: pd.DataFrame) -> tuple[Array, npt.NDArray[np.intp]]:
    """Distinct covariate rows (K, p) and each row's index into them."""
    columns = [covariates[c].to_numpy(float) for c in covariates.columns]
    if not columns:  # no covariate: one pattern
        return np.zeros((1, 0)), np.zeros(len(covariates), dtype=np.intp)
    unique, inverse = compress(columns)
    return np.column_stack([unique.column(j) for j in range(len(columns))]), inverse


class _Risk:
    """Risk-set counts per (event time, covariate pattern) and the Efron partial likelihood."""

    def __init__(self, patterns: Array, at_risk: Array, deaths: Array, times: Array) -> None:
        self.patterns, self.at_risk, self.deaths, self.times = patterns, at_risk, deaths, times
        d = deaths.sum(1)
        if np.any(d != np.round(d)):
            raise ValueError("event counts must be whole numbers")
        # Efron: the d tied events of a time leave the risk set in d equal steps l/d.
        counts = d.astype(np.int64)
        self._j = np.repeat(np.arange(len(d)), counts)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._c = (np.arange(counts.sum()) - np.repeat(starts, counts)) / d[self._j]
        self._xx = np.einsum("ki,kj->kij", patterns, patterns).reshape(len(patterns), -1)

    def _sums(self, beta: Array) -> tuple[Array, ...]:
        eta = self.patterns @ beta
        r = np.exp(eta - eta.max())  # the shift cancels in the likelihood
        s0, s0d = self.at_risk @ r, self.deaths @ r
        den = s0[self._j] - self._c * s0d[self._j]
        # Per event time: sum over l of 1/den, c/den, 1/den^2, c/den^2, c^2/den^2.
        n = len(self.times)
        inv = 1.0 / den
        sums = [np.bincount(self._j, v, n) for v in (inv, self._c * inv)]
        sums += [
            np.bincount(self._j, v, n) for v in (inv**2, self._c * inv**2, self._c**2 * inv**2)
        ]
        return eta - eta.max(), r, den, *sums

    def derivatives(self, beta: Array) -> tuple[float, Array, Array]:
        """Log partial likelihood, gradient and Hessian at ``beta``."""
        eta, r, den, a, b, a2, b2, c2 = self._sums(beta)
        x = self.patterns
        p = x.shape[1]
        rx, rxx = r[:, None] * x, r[:, None] * self._xx
        s1, s1d = self.at_risk @ rx, self.deaths @ rx
        s2, s2d = self.at_risk @ rxx, self.deaths @ rxx
        dk = self.deaths.sum(0)
        ll = float(dk @ eta - np.log(den).sum())
        grad = dk @ x - (a[:, None] * s1 - b[:, None] * s1d).sum(0)
        first = (a[:, None] * s2 - b[:, None] * s2d).sum(0).reshape(p, p)
        cross = np.einsum("j,ji,jk->ik", a2, s1, s1)
        cross -= np.einsum("j,ji,jk->ik", b2, s1, s1d) + np.einsum("j,ji,jk->ik", b2, s1d, s1)
        cross += np.einsum("j,ji,jk->ik", c2, s1d, s1d)
        return ll, grad, -(first - cross)

    def expected_x(self, beta: Array) -> Array:
        """Efron mean of the covariates over the risk set of each event time, (J, p)."""
        _, r, _, a, b, *_ = self._sums(beta)
        rx = r[:, None] * self.patterns
        s1, s1d = self.at_risk @ rx, self.deaths @ rx
        return (a[:, None] * s1 - b[:, None] * s1d) / self.deaths.sum(1)[:, None]


class WeibullAFT:
    """Weibull AFT model with late entry for categorical covariates, lifelines' parametrisation.

    ``S(t | x) = exp(-(t / lambda(x)) ** rho)``, ``log lambda(x) = b0 + b . x``, ``rho = exp(c)``;
    ``params_`` is indexed like lifelines' ``WeibullAFTFitter.params_`` (``("lambda_", column)``,
    ``("lambda_", "Intercept")``, ``("rho_", "Intercept")``). With K covariate patterns the
    log-likelihood of all rows is

        sum_k D_k (log rho - rho log lambda_k) + (rho - 1) L_k - lambda_k^-rho A_k(rho)

    with ``D_k`` the events, ``L_k`` the summed log event times and ``A_k(rho) = sum_u C_ku
    u^rho`` over the distinct durations and entries u (C counts +w at a duration, -w at an
    entry): each Newton step (analytic gradient and Hessian) costs O(K x distinct times),
    whatever the number of rows.
    """

    def __init__(self) -> None:
        self.params_: pd.Series = pd.Series(dtype=float)
        self.variance_matrix_: pd.DataFrame = pd.DataFrame()
        self.log_likelihood_: float = np.nan
        self.converged_: bool = False

    def fit(
        self,
        duration: npt.ArrayLike,
        event: npt.ArrayLike,
        covariates: pd.DataFrame,
        entry: npt.ArrayLike | None = None,
        weights: npt.ArrayLike | None = None,
    ) -> Self:
        """Maximum-likelihood fit on rows with ``duration`` > ``entry`` >= 0 (``duration`` > 0)."""
        t = np.asarray(duration, float)
        e = np.asarray(event, bool)
        s = np.zeros_like(t) if entry is None else np.asarray(entry, float)
        w = np.ones_like(t) if weights is None else np.asarray(weights, float)
        if np.any(t <= 0) or np.any(s < 0) or np.any(s >= t):
            raise ValueError("every row needs 0 <= entry < duration and duration > 0")
        if np.any(w < 0) or not np.any(e & (w > 0)):
            raise ValueError("weights must be >= 0 and some rows must have an observed end")
        names = [str(c) for c in covariates.columns]
        patterns, k = _patterns(covariates)
        n_pat = len(patterns)
        where, times = pd.factorize(np.concatenate([t, s[s > 0]]))
        counts = np.zeros((n_pat, len(times)))
        np.add.at(counts, (k, where[: len(t)]), w)
        np.add.at(counts, (k[s > 0], where[len(t) :]), -w[s > 0])
        events = np.bincount(k, w * e, n_pat)
        log_events = np.bincount(k, w * e * np.log(t), n_pat)
        design = np.column_stack([patterns, np.ones(n_pat)])
        log_times = np.log(times)
        sum_log_events = float(log_events.sum())

        def derivatives(theta: Array) -> tuple[float, Array, Array]:
            """Log-likelihood, gradient and Hessian in (coefficients, c = log rho)."""
            rho = np.exp(theta[-1])
            eta = design @ theta[:-1]  # log lambda_k
            powered = np.exp(rho * log_times)
            # einsum, not @: BLAS matrix-vector products were erratic on shared cores.
            a0, a1, a2 = (np.einsum("ku,u->k", counts, log_times**j * powered) for j in (0, 1, 2))
            g = np.exp(-rho * eta)
            ll = events @ (theta[-1] - rho * eta) + (rho - 1) * sum_log_events - g @ a0
            r = g * a0 - events
            d_rho = events @ (1 / rho - eta) + sum_log_events + (eta * g) @ a0 - g @ a1
            d_eta_rho = r + rho * g * (a1 - eta * a0)
            d_rho2 = -events.sum() / rho**2 - (eta**2 * g) @ a0 + 2 * (eta * g) @ a1 - g @ a2
            grad = np.concatenate([design.T @ (rho * r), [rho * d_rho]])
            hess = np.empty((len(theta), len(theta)))
            hess[:-1, :-1] = (design.T * (-(rho**2) * g * a0)) @ design
            hess[:-1, -1] = hess[-1, :-1] = design.T @ (rho * d_eta_rho)
            hess[-1, -1] = rho * d_rho + rho**2 * d_rho2
            return float(ll), grad, hess

        start = np.zeros(design.shape[1] + 1)
        start[-2] = np.log(np.average(t, weights=w))
        theta, ll, hess, self.converged_ = newton_maximize(derivatives, start, tol=1e-10)
        if not self.converged_ or not np.all(np.isfinite(theta)):
            raise ValueError(
                "the Weibull model did not converge; a covariate level may have no ended "
                "subscriptions: drop or merge that level and fit again"
            )
        index = pd.MultiIndex.from_tuples(
            [("lambda_", n) for n in [*names, "Intercept"]] + [("rho_", "Intercept")],
            names=["param", "covariate"],
        )
        self.params_ = pd.Series(theta, index=index, name="coef")
        cov = np.linalg.inv(-hess)
        self.variance_matrix_ = pd.DataFrame(cov, index=index, columns=index)
        self.log_likelihood_ = ll
        return self

    @property
    def standard_errors_(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.variance_matrix_)), index=self.params_.index)

    @property
    def summary(self) -> pd.DataFrame:
        """coef, se(coef) and the 95 % Wald interval, per parameter."""
        b, se = self.params_, self.standard_errors_
        q = norm.ppf(0.975)
        return pd.DataFrame(
            {"coef": b, "se(coef)": se, "coef lower 95%": b - q * se, "coef upper 95%": b + q * se}
        )
