"""Cox PH with late entry against lifelines, and parameter recovery from simulated truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, WeibullAFTFitter
from lifelines.statistics import proportional_hazard_test

from segkit import survival
from segkit.data.demo import generate
from segkit.data.demo.params import PARAMS, WINDOW_END, WINDOW_START
from segkit.models.survival import CoxPH, WeibullAFT

COLS = ["p1", "p2", "s1"]


def _data(n: int, seed: int, ties: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan, src = rng.integers(0, 3, n), rng.integers(0, 2, n)
    x = pd.DataFrame({"p1": plan == 1, "p2": plan == 2, "s1": src == 1}).astype(float)
    eta = x.to_numpy() @ np.array([-0.4, -0.9, 0.3])
    life = rng.weibull(0.9, n) * 30 * np.exp(-eta / 0.9)
    censor = rng.uniform(5, 60, n)
    entry = np.where(rng.random(n) < 0.3, rng.uniform(0, 10, n), 0.0)
    frame = x.assign(T=np.minimum(life, censor), E=life < censor, S=entry)
    if ties:
        frame["T"], frame["S"] = np.ceil(frame["T"]), np.floor(frame["S"])
    return frame[frame["T"] > frame["S"]].reset_index(drop=True)


@pytest.mark.parametrize("ties", [False, True])
def test_cox_with_late_entry_equals_lifelines(ties: bool) -> None:
    df = _data(300, seed=1, ties=ties)
    ref = CoxPHFitter().fit(df, "T", "E", entry_col="S")
    ours = CoxPH().fit(df["T"], df["E"], df[COLS], entry=df["S"])
    # lifelines stops at a looser tolerance; both maximise the same Efron likelihood.
    np.testing.assert_allclose(ours.params_, ref.params_, atol=5e-5)
    np.testing.assert_allclose(ours.standard_errors_, ref.standard_errors_, rtol=1e-4)
    assert ours.log_likelihood_ == pytest.approx(ref.log_likelihood_, abs=1e-6)
    assert ours.log_likelihood_ >= ref.log_likelihood_ - 1e-9


def test_ph_test_equals_lifelines_without_ties() -> None:
    df = _data(300, seed=2, ties=False).drop(columns="S")
    ref = proportional_hazard_test(CoxPHFitter().fit(df, "T", "E"), df, time_transform="rank")
    ours = CoxPH().fit(df["T"], df["E"], df[COLS]).proportional_hazard_test()
    # Equal up to lifelines' looser convergence (its coefficients differ by ~1e-5).
    np.testing.assert_allclose(ours["statistic"], ref.summary["test_statistic"], rtol=1e-3)


def test_weights_equal_duplicated_rows() -> None:
    df = _data(400, seed=3, ties=True)
    grouped = df.groupby([*COLS, "T", "E", "S"]).size().rename("w").reset_index()
    assert len(grouped) < len(df)
    full = CoxPH().fit(df["T"], df["E"], df[COLS], entry=df["S"])
    merged = CoxPH().fit(
        grouped["T"], grouped["E"], grouped[COLS], entry=grouped["S"], weights=grouped["w"]
    )
    np.testing.assert_allclose(merged.params_, full.params_, rtol=1e-10)
    assert merged.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-12)


def test_cox_rejects_bad_input() -> None:
    df = _data(50, seed=4, ties=False)
    with pytest.raises(ValueError, match="no events"):
        CoxPH().fit(df["T"], np.zeros(len(df), bool), df[COLS])
    with pytest.raises(ValueError, match="entry < duration"):
        CoxPH().fit(df["T"], df["E"], df[COLS], entry=df["T"])


def test_recovery_on_simulated_subscriptions_with_late_entry() -> None:
    # 20,000 Weibull PH subscriptions over 8 years; the window opens after 4 years, so early
    # contracts that had ended are lost and the survivors enter late.
    rng = np.random.default_rng(7)
    n = 20_000
    plan = rng.choice(["basic", "pro", "enterprise"], n, p=[0.55, 0.33, 0.12])
    beta = pd.Series(plan).map({"basic": 0.0, "pro": -0.4, "enterprise": -0.9}).to_numpy()
    months = 30.0 * (rng.exponential(size=n) * np.exp(-beta)) ** (1 / 0.9)
    start = pd.Timestamp("2016-01-01") + pd.to_timedelta(rng.integers(0, 2922, n), "D")
    end = start + pd.to_timedelta(np.round(months * 30.4375), "D")
    subs = pd.DataFrame({"plan": plan, "start_date": start, "end_date": end})
    window, as_of = pd.Timestamp("2020-01-01"), pd.Timestamp("2024-01-01")
    subs = subs[end >= window]
    subs.loc[subs["end_date"] >= as_of, "end_date"] = pd.NaT
    lt = survival.lifetimes(subs, as_of, "month", window)
    d = survival.design(lt, ["plan"], {"plan": "basic"})
    cox = survival.fit_cox(d)
    weibull = survival.fit_weibull(d)
    shape = float(np.exp(weibull.params_.loc[("rho_", "Intercept")]))
    scale = float(np.exp(weibull.params_.loc[("lambda_", "Intercept")]))
    log_hr = np.log(survival.weibull_hazard_ratios(weibull.params_))
    # Tolerances: about 3 standard errors at this size.
    assert shape == pytest.approx(0.9, abs=0.03)
    assert scale == pytest.approx(30.0, rel=0.06)
    for model in (cox.params_, log_hr):
        assert model["plan[pro]"] == pytest.approx(-0.4, abs=0.07)
        assert model["plan[enterprise]"] == pytest.approx(-0.9, abs=0.1)
    # Ignoring the late entry overstates survival: the scale comes out clearly too long.
    naive = survival.fit_weibull(survival.design(survival.lifetimes(subs, as_of), ["plan"]))
    assert float(np.exp(naive.params_.loc[("lambda_", "Intercept")])) > 1.15 * scale


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("churn_demo") / "data"
    generate(out, customers=5000, seed=7)
    return out


def test_recovery_from_the_demo_company(demo: Path) -> None:
    subs = pd.read_csv(demo / "subscriptions.csv")
    customers = pd.read_csv(demo / "customers.csv")
    subs = subs.merge(customers[["customer_id", "acquisition_source"]], on="customer_id").rename(
        columns={"acquisition_source": "source"}
    )
    lt = survival.lifetimes(subs, WINDOW_END, "month", WINDOW_START)
    d = survival.design(lt, ["plan", "source"], {"plan": "basic", "source": "search"})
    cox = survival.fit_cox(d)
    weibull = survival.fit_weibull(d)
    truth = PARAMS.subscriptions
    se = cox.standard_errors_
    # About 1,450 subscriptions: the plan effects within 3 standard errors of the truth.
    for plan in ("pro", "enterprise"):
        col = f"plan[{plan}]"
        assert abs(cox.params_[col] - truth.beta_plan[plan]) < 3 * se[col]
    for source in ("social", "referral"):
        col = f"source[{source}]"
        assert abs(cox.params_[col] - truth.beta_source[source]) < 3 * se[col]
    rho = weibull.params_.loc[("rho_", "Intercept")]
    rho_se = weibull.standard_errors_.loc[("rho_", "Intercept")]
    assert abs(rho - np.log(truth.shape)) < 3 * rho_se
    assert np.exp(weibull.params_.loc[("lambda_", "Intercept")]) == pytest.approx(
        truth.scale_months, rel=0.15
    )


@pytest.mark.parametrize("ties", [False, True])
def test_weibull_with_late_entry_and_weights_equals_lifelines(ties: bool) -> None:
    df = _data(400, seed=8, ties=ties)
    df["w"] = np.random.default_rng(9).integers(1, 4, len(df)).astype(float)
    ref = WeibullAFTFitter().fit(
        df[[*COLS, "T", "E", "S", "w"]], "T", "E", weights_col="w", entry_col="S"
    )
    ours = WeibullAFT().fit(df["T"], df["E"], df[COLS], entry=df["S"], weights=df["w"])
    expected = ref.params_.reindex(ours.params_.index)
    # lifelines stops earlier (estimates within ~3e-5); ours is at least as likely.
    np.testing.assert_allclose(ours.params_, expected, atol=1e-4)
    assert ours.log_likelihood_ >= ref.log_likelihood_ - 1e-9
    np.testing.assert_allclose(
        ours.standard_errors_, ref.standard_errors_.reindex(ours.params_.index), rtol=1e-3
    )
    assert ours.log_likelihood_ == pytest.approx(ref.log_likelihood_, abs=1e-6)
