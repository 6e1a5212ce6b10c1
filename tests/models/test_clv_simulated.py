"""Parameter recovery from data simulated with known parameters.

The simulators follow the models' stories directly (draw each customer's rates, then her
purchases and dropout) and share nothing with the model code. A fit passes when every true
parameter lies within 3 standard errors of its estimate, which also checks that the standard
errors are of the right size (a failure rate of ~0.3 % per parameter if they are right; the seeds
are fixed, so the tests are deterministic).
"""

from __future__ import annotations

import numpy as np
import pytest

from segkit.models import BetaGeo, GammaGamma, ModifiedBetaGeo, ParetoNBD
from segkit.models._base import Fitter

N = 20_000


def _observation_lengths(rng: np.random.Generator, n: int) -> np.ndarray:
    # Customers acquired over a year, observed until week 52; whole days in weeks, as
    # summarize() would give them.
    return rng.integers(7, 365, n) / 7.0


def simulate_beta_geo(
    rng: np.random.Generator, r: float, alpha: float, a: float, b: float, modified: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BG/NBD (or MBG/NBD): Poisson purchases at rate lambda ~ Gamma(r, rate alpha); after each
    repeat purchase (and, for MBG/NBD, right after the first) the customer leaves with prob p."""
    big_t = _observation_lengths(rng, N)
    lam = rng.gamma(r, 1 / alpha, N)
    p = rng.beta(a, b, N)
    x = np.zeros(N)
    t_x = np.zeros(N)
    now = np.zeros(N)
    alive = rng.random(N) >= p if modified else np.ones(N, bool)
    while alive.any():
        now = now + rng.exponential(1 / lam)
        alive &= now < big_t
        x[alive] += 1
        t_x[alive] = now[alive]
        alive &= rng.random(N) >= p
    return x, t_x, big_t


def simulate_pareto_nbd(
    rng: np.random.Generator, r: float, alpha: float, s: float, beta: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pareto/NBD: Poisson purchases at rate lambda ~ Gamma(r, alpha) during an exponential
    lifetime with rate mu ~ Gamma(s, beta). Given n purchases in (0, L], the last is at
    L * U^(1/n) (maximum of n uniforms)."""
    big_t = _observation_lengths(rng, N)
    lam = rng.gamma(r, 1 / alpha, N)
    mu = rng.gamma(s, 1 / beta, N)
    active = np.minimum(rng.exponential(1 / mu), big_t)
    x = rng.poisson(lam * active).astype(float)
    t_x = np.where(x > 0, active * rng.random(N) ** (1 / np.maximum(x, 1)), 0.0)
    return x, t_x, big_t


def _assert_within_3_se(model: Fitter, truth: dict[str, float]) -> None:
    assert model.converged_
    se = model.standard_errors_
    for name, value in truth.items():
        assert np.isfinite(se[name]) and se[name] > 0, name
        assert abs(model.params_[name] - value) < 3 * se[name], (name, model.params_[name], se)


def test_bgnbd_recovers_parameters() -> None:
    truth = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
    x, t_x, big_t = simulate_beta_geo(np.random.default_rng(1), *truth.values())
    _assert_within_3_se(BetaGeo().fit(x, t_x, big_t), truth)


def test_mbgnbd_recovers_parameters() -> None:
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 1.6}
    x, t_x, big_t = simulate_beta_geo(np.random.default_rng(2), *truth.values(), modified=True)
    _assert_within_3_se(ModifiedBetaGeo().fit(x, t_x, big_t), truth)


def test_pareto_nbd_recovers_parameters() -> None:
    truth = {"r": 0.55, "alpha": 10.0, "s": 0.6, "beta": 12.0}
    x, t_x, big_t = simulate_pareto_nbd(np.random.default_rng(3), *truth.values())
    _assert_within_3_se(ParetoNBD().fit(x, t_x, big_t), truth)


def test_gamma_gamma_recovers_parameters() -> None:
    rng = np.random.default_rng(4)
    truth = {"p": 6.0, "q": 3.7, "v": 15.0}
    n = 5_000
    x = 1 + rng.poisson(2.0, n)
    nu = rng.gamma(truth["q"], 1 / truth["v"], n)
    # Mean of x Gamma(p, rate nu) spends is Gamma(p x, rate nu x).
    zbar = rng.gamma(truth["p"] * x, 1 / (nu * x))
    _assert_within_3_se(GammaGamma().fit(x, zbar), truth)


@pytest.mark.parametrize("model", [BetaGeo, ModifiedBetaGeo, ParetoNBD])
def test_unique_rows_with_weights_equal_expanded_rows(model: type[BetaGeo | ParetoNBD]) -> None:
    x, t_x, big_t = simulate_pareto_nbd(np.random.default_rng(5), 0.55, 10.0, 0.6, 12.0)
    # Round to whole weeks so that many customers share a row.
    t_x, big_t = np.floor(t_x), np.ceil(big_t)
    rows, counts = np.unique(np.column_stack([x, t_x, big_t]), axis=0, return_counts=True)
    assert len(rows) < len(x) / 5
    expanded = model().fit(x, t_x, big_t)
    weighted = model().fit(rows[:, 0], rows[:, 1], rows[:, 2], weights=counts)
    assert weighted.params_ == pytest.approx(expanded.params_, rel=1e-9)
    assert weighted.log_likelihood_ == pytest.approx(expanded.log_likelihood_, rel=1e-12)
    assert weighted.standard_errors_ == pytest.approx(expanded.standard_errors_, rel=1e-6)
