"""Intervals against hand arithmetic, and the NPS interval's coverage by simulation."""

from __future__ import annotations

import numpy as np
import pytest

from segkit.stats.intervals import (
    mean_interval,
    nps_categories,
    nps_interval,
    required_volume,
    wilson_interval,
)

Z = 1.959963984540054  # standard normal 97.5 % quantile


def test_nps_categories() -> None:
    # 9, 10 promoters; 7, 8 passives; 0..6 detractors.
    assert nps_categories(np.array([10, 9, 8, 7, 6, 0, 9])) == (3, 2, 2)


def test_nps_adjusted_wald_by_hand() -> None:
    # 6 promoters, 2 passives, 2 detractors: NPS = (6 - 2) / 10 = 0.4.
    # Adjusted: n' = 13, p' = 6.75 / 13, d' = 2.75 / 13, centre = 4 / 13 = 0.307692;
    # var = (9.5 / 13 - (4 / 13)^2) / 13 = 0.048930, se = 0.221202;
    # bounds 0.307692 -+ 1.959964 x 0.221202 = -0.125856, 0.741240.
    i = nps_interval(6, 2, 10)
    assert i.estimate == pytest.approx(0.4)
    assert i.low == pytest.approx(-0.125856, abs=1e-6)
    assert i.high == pytest.approx(0.741240, abs=1e-6)
    assert i.n == 10


def test_nps_all_promoters_keeps_a_width() -> None:
    # 5 of 5 promoters: plain Wald gives [1, 1]. Adjusted: n' = 8, p' = 5.75 / 8, d' = 0.75 / 8,
    # centre 0.625, se = sqrt((0.8125 - 0.390625) / 8) = 0.229640; 0.625 - 1.96 x se = 0.174915,
    # upper 1.075 clipped to 1.
    i = nps_interval(5, 0, 5)
    assert i.estimate == 1.0
    assert i.high == 1.0
    assert i.low == pytest.approx(0.174915, abs=1e-6)


def test_nps_empty_and_bad_counts() -> None:
    assert nps_interval(0, 0, 0).estimate is None
    with pytest.raises(ValueError):
        nps_interval(3, 3, 5)


def _coverage(n: int, probs: list[float], reps: int, seed: int) -> float:
    """Share of simulated samples whose interval holds the true NPS (promoters - detractors)."""
    truth = probs[0] - probs[2]
    draws = np.random.default_rng(seed).multinomial(n, probs, size=reps)
    hits = 0
    for pro, _, det in draws:
        i = nps_interval(int(pro), int(det), n)
        assert i.low is not None and i.high is not None
        hits += i.low <= truth <= i.high
    return hits / reps


def test_nps_interval_coverage_at_small_n() -> None:
    # n = 30, true NPS 0.70 (75 % promoters, 20 % passives, 5 % detractors). The exact coverage
    # (summing the trinomial over all outcomes) is 0.956; 4,000 replicates have a Monte Carlo
    # standard error of about 0.003.
    assert 0.93 <= _coverage(30, [0.75, 0.20, 0.05], 4000, seed=1) <= 0.97


def test_nps_interval_coverage_near_plus_100() -> None:
    # n = 30, true NPS 0.90 with no detractors: exact coverage 0.927 (plain Wald: 0.80, since
    # every all-promoter sample gives a zero-width interval at 1).
    assert 0.90 <= _coverage(30, [0.90, 0.10, 0.0], 4000, seed=2) <= 0.96


def test_wilson_by_hand() -> None:
    # 8 of 10, z^2 = 3.841459: centre (0.8 + 0.192073) / 1.384146 = 0.716723,
    # half 1.959964 x sqrt(0.016 + 0.009604) / 1.384146 = 0.226561 -> [0.490162, 0.943284].
    i = wilson_interval(8, 10)
    assert i.estimate == pytest.approx(0.8)
    assert i.low == pytest.approx(0.4902, abs=1e-4)
    assert i.high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0).low is None
    # 0 of 5 still has an upper bound above zero: z^2 / (n + z^2) = 3.841 / 8.841 = 0.4345.
    assert wilson_interval(0, 5).high == pytest.approx(0.4345, abs=1e-4)


def test_mean_interval_by_hand() -> None:
    # 1..5: mean 3, sd sqrt(2.5) = 1.581139, t(0.975, 4) = 2.776445:
    # half = 2.776445 x 1.581139 / sqrt(5) = 1.963243.
    i = mean_interval([1, 2, 3, 4, 5])
    assert i.estimate == pytest.approx(3.0)
    assert i.low == pytest.approx(1.036757, abs=1e-6)
    assert i.high == pytest.approx(4.963243, abs=1e-6)
    one = mean_interval([4.0])
    assert one.estimate == 4.0 and one.low is None


def test_required_volume_is_the_handbook_example() -> None:
    # 80 calls -> 40 proposals -> 4 meetings -> 1 buyer: 10 buyers need
    # 10 / (0.5 x 0.1 x 0.25) = 800 calls.
    # var(log V) = (1/40 - 1/80) + (1/4 - 1/40) + (1/1 - 1/4) = 0.0125 + 0.225 + 0.75 = 0.9875,
    # so the bounds are 800 x exp(-+1.959964 x 0.993730) = 114.08 and 5609.90.
    v = required_volume(10, [80, 40, 4], [40, 4, 1])
    assert v.estimate == pytest.approx(800)
    assert v.low == pytest.approx(114.084, abs=1e-3)
    assert v.high == pytest.approx(5609.896, abs=1e-3)
    # The last stage itself needs exactly the target, with no uncertainty.
    last = required_volume(10, [], [])
    assert (last.estimate, last.low, last.high) == (10, 10, 10)
    # A stage that converted nobody: the volume is undefined.
    assert required_volume(10, [80, 40], [40, 0]).estimate is None
