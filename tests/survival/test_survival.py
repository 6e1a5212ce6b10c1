"""Subscription survival: durations, censoring and late entry, against lifelines and by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test

from segkit import survival

DAY = pd.Timedelta(days=1)
WINDOW = pd.Timestamp("2023-01-01")
AS_OF = pd.Timestamp("2023-01-11")


def _subs(rows: list[tuple[str, int, int | None]]) -> pd.DataFrame:
    """(plan, start day, end day or None) with days counted from the window start."""
    return pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(len(rows))],
            "plan": [r[0] for r in rows],
            "start_date": [WINDOW + r[1] * DAY for r in rows],
            "end_date": [WINDOW + r[2] * DAY if r[2] is not None else pd.NaT for r in rows],
            "monthly_value": 10.0,
        }
    )


def test_tiny_kaplan_meier_with_late_entry_by_hand() -> None:
    # Durations 2, 3, 4 (censored), 5 days; the second started 2 days and the fourth 1 day
    # before the window, so they enter at ages 2 and 1.
    subs = _subs([("a", 0, 2), ("a", -2, 1), ("a", 6, None), ("a", -1, 4)])
    curve = survival.subscription_survival(
        subs, WINDOW + 10 * DAY, unit="day", window_start=WINDOW
    )["all"]
    # Risk sets entry < t <= duration: t=2 {1st, 3rd, 4th} (the 2nd enters at 2, not yet
    # at risk): S = 2/3; t=3 {2nd, 3rd, 4th}, one ends: S = 2/3 * 2/3 = 4/9; the 3rd is
    # censored at 4; t=5 {4th}: S = 0.
    assert curve.loc[2.0] == pytest.approx(2 / 3)
    assert curve.loc[3.0] == pytest.approx(4 / 9)
    assert curve.loc[4.0] == pytest.approx(4 / 9)
    assert curve.loc[5.0] == pytest.approx(0.0)


def test_lifetimes_follow_the_as_of_rule() -> None:
    subs = _subs(
        [
            ("a", 0, 5),  # ended before the cut-off: observed, 5 days
            ("a", 1, 10),  # ends on the cut-off day: not known yet, censored at 9 days
            ("a", 3, None),  # active: censored at 7 days
            ("a", 10, None),  # starts on the cut-off: not seen
            ("a", -5, -1),  # ended before the window: unobservable, dropped under late entry
            ("a", -4, 6),  # started before the window: enters at 4 days
        ]
    )
    lt = survival.lifetimes(subs, AS_OF, unit="day", window_start=WINDOW)
    assert lt["customer_id"].tolist() == ["C0", "C1", "C2", "C5"]
    assert lt["duration"].tolist() == [5.0, 9.0, 7.0, 10.0]
    assert lt["observed"].tolist() == [True, False, False, True]
    assert lt["entry"].tolist() == [0.0, 0.0, 0.0, 4.0]
    # Without a window every subscription is taken as fully observed from its start.
    assert len(survival.lifetimes(subs, AS_OF, unit="day")) == 5
    months = survival.lifetimes(subs, AS_OF, unit="month", window_start=WINDOW)
    assert months["duration"].iloc[0] == pytest.approx(5 / 30.4375)


def test_end_before_start_is_rejected() -> None:
    with pytest.raises(ValueError, match="end before they start"):
        survival.lifetimes(_subs([("a", 3, 1)]), AS_OF)


def _random_subs(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = rng.integers(-400, 300, n)
    life = np.ceil(rng.weibull(0.9, n) * 200 * np.where(rng.random(n) < 0.5, 1.0, 1.6))
    end = start + life
    keep = end >= 0  # ended before the window: never recorded
    plan = np.where(rng.random(n) < 0.5, "basic", "pro")
    rows = [
        (p, int(s), int(e) if e < 365 else None)
        for p, s, e, k in zip(plan, start, end, keep, strict=True)
        if k
    ]
    return _subs(rows)


def test_survival_equals_lifelines_with_censoring_and_late_entry() -> None:
    subs = _random_subs(600, seed=3)
    as_of = WINDOW + 365 * DAY
    curves = survival.subscription_survival(subs, as_of, by="plan", unit="day", window_start=WINDOW)
    start = pd.to_datetime(subs["start_date"])
    end = pd.to_datetime(subs["end_date"])
    for plan in ("basic", "pro"):
        mine = subs["plan"] == plan
        stop = end.where(end < as_of, as_of)[mine].fillna(as_of)
        duration = (stop - start[mine]).dt.days.to_numpy(float)
        entry = (WINDOW - start[mine]).dt.days.clip(lower=0).to_numpy(float)
        observed = (end[mine] < as_of).to_numpy()
        ok = duration > entry
        ref = KaplanMeierFitter().fit(duration[ok], observed[ok], entry=entry[ok])
        expected = ref.survival_function_.iloc[:, 0]
        got = curves[plan].reindex(expected.index).ffill().fillna(1.0)
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)


def _brute_logrank(lt: pd.DataFrame, by: str) -> float:
    """Log-rank chi-square by direct risk sets at each event time (two groups)."""
    g = (lt[by] == lt[by].iloc[0]).to_numpy()
    t, e, s = lt["duration"].to_numpy(), lt["observed"].to_numpy(), lt["entry"].to_numpy()
    o_minus_e = var = 0.0
    for time in np.unique(t[e]):
        risk = (s < time) & (t >= time)
        dead = (t == time) & e
        n, d = risk.sum(), dead.sum()
        n1, d1 = (risk & g).sum(), (dead & g).sum()
        o_minus_e += d1 - d * n1 / n
        if n > 1:
            var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    return o_minus_e**2 / var


def test_logrank_with_late_entry_by_direct_risk_sets() -> None:
    lt = survival.lifetimes(_random_subs(500, seed=5), WINDOW + 365 * DAY, "day", WINDOW)
    assert (lt["entry"] > 0).any()
    test = survival.logrank(lt, "plan")
    assert test.df == 1
    assert test.statistic == pytest.approx(_brute_logrank(lt, "plan"), rel=1e-10)


def test_logrank_without_entry_equals_lifelines() -> None:
    lt = survival.lifetimes(_random_subs(500, seed=6), WINDOW + 365 * DAY, "day")
    lt["group"] = np.arange(len(lt)) % 3
    ours = survival.logrank(lt, "group")
    ref = multivariate_logrank_test(lt["duration"], lt["group"], lt["observed"])
    assert ours.statistic == pytest.approx(ref.test_statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(ref.p_value, rel=1e-8)


def test_median_table_reports_not_reached_as_missing() -> None:
    lt = survival.lifetimes(_subs([("a", 0, 2), ("a", 0, None), ("a", 0, None)]), AS_OF, "day")
    table = survival.median_table(survival.kaplan_meier(lt))
    assert np.isnan(table["median"].iloc[0])
    assert table["churned"].iloc[0] == 1


def test_churn_probability_by_hand() -> None:
    # Weibull AFT: log scale = 3 + 0.5 x, rho = exp(-0.1); S(t) = exp(-(t / e^(3 + 0.5x))^rho).
    params = pd.Series(
        [0.5, 3.0, -0.1],
        index=pd.MultiIndex.from_tuples(
            [("lambda_", "plan[pro]"), ("lambda_", "Intercept"), ("rho_", "Intercept")]
        ),
    )
    x = pd.DataFrame({"plan[pro]": [0.0, 1.0]})
    rho = np.exp(-0.1)

    def s(t: float, scale: float) -> float:
        return float(np.exp(-((t / scale) ** rho)))

    p = survival.churn_probability(params, x, np.array([12.0, 5.0]), 3.0)
    assert p[0] == pytest.approx(1 - s(15, np.exp(3.0)) / s(12, np.exp(3.0)))
    assert p[1] == pytest.approx(1 - s(8, np.exp(3.5)) / s(5, np.exp(3.5)))
    assert survival.weibull_hazard_ratios(params)["plan[pro]"] == pytest.approx(np.exp(-rho * 0.5))


def test_late_entry_that_empties_the_risk_set_falls_back_to_bfh() -> None:
    """One subscription from time 0 ends at 1 while three enter at 5: Kaplan-Meier drops to 0
    at t=1 and is undefined for the later entries (lifelines raises). The fallback is
    Breslow-Fleming-Harrington, S(t) = exp(-sum of d_i / n_i)."""
    import math

    frame = pd.DataFrame(
        {
            "duration": [1.0, 10, 12, 15],
            "observed": [True, True, False, True],
            "entry": [0.0, 5, 5, 5],
        }
    )
    (fitter,) = survival.kaplan_meier(frame).values()
    assert survival.is_fallback(fitter)
    curve = fitter.survival_function_.iloc[:, 0]
    # Risk sets: t=1 {1 of 1}; t=10 {1 of 3}; t=15 {1 of 1}.
    assert curve.loc[1.0] == pytest.approx(math.exp(-1))
    assert curve.loc[10.0] == pytest.approx(math.exp(-1 - 1 / 3))
    assert curve.loc[15.0] == pytest.approx(math.exp(-1 - 1 / 3 - 1))
    assert fitter.median_survival_time_ == 1.0  # exp(-1) < 0.5 from t = 1 on
