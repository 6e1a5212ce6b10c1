"""Customer lifetime value from fitted models: discounting, and parameter draws for intervals.

Discounting is discrete and monthly: an annual rate ``i`` gives the monthly rate
``d = (1 + i) ** (1 / 12) - 1``, and value expected in month ``k`` (k = 1 .. H, months of
30.4375 days from the cut-off) is discounted by ``(1 + d) ** -k``, i.e. as if it arrived at the
end of that month.

* Non-contractual: ``CLV = margin x E[spend per purchase] x sum_k (E[X(k)] - E[X(k - 1)]) /
  (1 + d) ** k``, with ``E[X(t)]`` the model's expected purchases in ``(T, T + t]`` given the
  customer's history.
* Contractual: ``CLV = margin x monthly value x sum_k S(a + k) / S(a) / (1 + d) ** k`` for a
  subscription of age ``a`` months: the payment due k months ahead is received if the
  subscription is still running then.
"""

from __future__ import annotations

import copy
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from segkit.models._base import Array, ArrayLike, Fitter, TransactionFitter

F = TypeVar("F", bound=Fitter)

#: Mean Gregorian month in days.
MONTH_DAYS = 30.4375


def monthly_rate(annual_rate: float) -> float:
    """Monthly rate equivalent to ``annual_rate`` compounded: ``(1 + i) ** (1/12) - 1``."""
    if annual_rate <= -1:
        raise ValueError("the annual discount rate must be above -100 %")
    return float((1.0 + annual_rate) ** (1.0 / 12.0) - 1.0)


def discount_factors(months: int, annual_rate: float) -> Array:
    """``(1 + d) ** -k`` for k = 1 .. ``months``."""
    return np.asarray((1.0 + monthly_rate(annual_rate)) ** -np.arange(1.0, months + 1.0))


def cumulative_purchases(
    model: TransactionFitter,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    months: int,
    unit_days: float,
) -> Array:
    """``E[X(k months)]`` for k = 1 .. ``months``, shape (customers, months); the model's time
    unit is ``unit_days`` days (7 for weeks)."""
    steps = np.arange(1, months + 1) * MONTH_DAYS / unit_days
    return model.conditional_expected_purchases_grid(steps, frequency, recency, T)


def discounted_purchases(cumulative: Array, annual_rate: float) -> Array:
    """``sum_k (E[X(k)] - E[X(k-1)]) (1 + d) ** -k`` per row of ``cumulative`` (n, months)."""
    per_month = np.diff(cumulative, axis=1, prepend=0.0)
    return np.asarray(per_month @ discount_factors(cumulative.shape[1], annual_rate))


def contract_value(survival_ratio: Array, monthly_value: ArrayLike, annual_rate: float) -> Array:
    """``monthly value x sum_k S(a + k) / S(a) (1 + d) ** -k``; ratios are (n, months)."""
    factors = discount_factors(survival_ratio.shape[1], annual_rate)
    return np.asarray(np.asarray(monthly_value, float) * (survival_ratio @ factors))


def with_params(model: F, params: ArrayLike) -> F:
    """A copy of a fitted model with other parameter values (for parameter draws)."""
    twin = copy.copy(model)
    twin._params = np.asarray(params, dtype=np.float64)
    return twin


def parameter_draws(model: Fitter, draws: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """``draws`` parameter vectors from the estimate's asymptotic normal distribution.

    Drawn on the log scale (every parameter is positive): ``log theta ~ N(log theta_hat,
    J Sigma J)`` with ``J = diag(1 / theta_hat)``, the delta-method covariance of the logs.
    Raises ValueError when the model has no standard errors (Hessian not positive definite).
    """
    theta = np.array(list(model.params_.values()))
    assert model.variance_matrix_ is not None
    cov = model.variance_matrix_.to_numpy() / np.outer(theta, theta)
    if not np.all(np.isfinite(cov)):
        raise ValueError(
            f"{type(model).__name__} has no standard errors (its Hessian is not positive "
            "definite), so no interval can be given"
        )
    return np.exp(rng.multivariate_normal(np.log(theta), cov, size=draws))
