"""Kaplan-Meier against a hand computation and against lifelines."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import qth_survival_time

from segkit.stats.survival import kaplan_meier


def test_kaplan_meier_by_hand() -> None:
    # Durations 1, 2, 2+, 3, 4+, 5 (+ = censored).
    # t=1: 6 at risk, 1 event -> S = 5/6; t=2: 5 at risk, 1 event -> 5/6 x 4/5 = 2/3
    # (the censoring at 2 leaves after the event); t=3: 3 at risk -> 2/3 x 2/3 = 4/9;
    # t=4 censored: unchanged; t=5: 1 at risk, 1 event -> 0.
    km = kaplan_meier(np.array([1, 2, 2, 3, 4, 5.0]), np.array([1, 1, 0, 1, 0, 1], dtype=bool))
    assert km.times.tolist() == [1, 2, 3, 4, 5]
    assert km.survival == pytest.approx([5 / 6, 2 / 3, 4 / 9, 4 / 9, 0.0])
    assert km.quantile(0.5) == 3  # first t with S <= 0.5
    assert km.quantile(0.9) == 5  # first t with S <= 0.1
    assert km.share_by(2.5) == pytest.approx(1 / 3)
    assert km.share_by(0.5) == 0.0
    assert (km.n, km.events) == (6, 4)


def test_median_not_reached_when_mostly_censored() -> None:
    # 1 event among 4: S falls to 3/4 and stays there.
    km = kaplan_meier(np.array([1.0, 2, 3, 4]), np.array([1, 0, 0, 0], dtype=bool))
    assert km.quantile(0.5) is None
    assert kaplan_meier(np.empty(0), np.empty(0, dtype=bool)).share_by(1.0) is None


def test_matches_lifelines_on_random_censored_data() -> None:
    rng = np.random.default_rng(3)
    t = np.round(rng.lognormal(3, 1, 400), 1)  # rounding makes ties
    e = rng.random(400) < 0.7
    km = kaplan_meier(t, e)
    ref = KaplanMeierFitter().fit(t, e)
    sf = ref.survival_function_.iloc[1:, 0]  # lifelines starts with S(0) = 1
    assert km.times == pytest.approx(sf.index.to_numpy())
    assert km.survival == pytest.approx(sf.to_numpy())
    assert km.quantile(0.5) == pytest.approx(ref.median_survival_time_)
    assert km.quantile(0.9) == pytest.approx(qth_survival_time(0.1, ref.survival_function_))
