"""CLV: discounting by hand, the churn and CLV sections on a demo company, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import hyp2f1

from segkit.analyses.clv import model_churn
from segkit.api import run
from segkit.data.demo import generate
from segkit.data.demo.params import PARAMS
from segkit.data.summarize import summarize
from segkit.engine.run import PeriodReport
from segkit.models import BetaGeo, GammaGamma
from segkit.models.clv import (
    contract_value,
    cumulative_purchases,
    discounted_purchases,
    monthly_rate,
    with_params,
)
from segkit.models.survival import CoxPH


def _bg_expected(t: float, r: float, alpha: float, a: float, b: float) -> float:
    """E[X(t)] of a new BG/NBD customer, Fader, Hardie & Lee (2005) eq. 9."""
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


def test_discounted_clv_of_one_customer_by_hand() -> None:
    r, alpha, a, b = 0.5, 1.2, 0.7, 5.0
    bg = with_params(BetaGeo(), [r, alpha, a, b])
    gg = with_params(GammaGamma(), [6.0, 3.0, 28.0])
    # A new customer (no repeat purchase, T = 0), three months, 10 % a year, margin 40 %.
    cum = cumulative_purchases(bg, [0.0], [0.0], [0.0], 3, unit_days=7.0)
    month_weeks = 30.4375 / 7
    by_hand = [_bg_expected(k * month_weeks, r, alpha, a, b) for k in (1, 2, 3)]
    np.testing.assert_allclose(cum[0], by_hand, rtol=1e-10)
    d = 1.1 ** (1 / 12) - 1
    assert monthly_rate(0.10) == pytest.approx(d)
    purchases = (
        by_hand[0] / (1 + d)
        + (by_hand[1] - by_hand[0]) / (1 + d) ** 2
        + (by_hand[2] - by_hand[1]) / (1 + d) ** 3
    )
    assert discounted_purchases(cum, 0.10)[0] == pytest.approx(purchases, rel=1e-12)
    # Expected spend of a customer with 2 repeat purchases averaging 100:
    # p (v + x zbar) / (p x + q - 1) = 6 (28 + 200) / (12 + 2).
    spend = gg.conditional_expected_spend(2, 100.0)[0]
    assert spend == pytest.approx(6 * 228 / 14)
    clv = 0.4 * spend * discounted_purchases(cum, 0.10)[0]
    assert clv == pytest.approx(0.4 * 6 * 228 / 14 * purchases)


def test_contract_value_by_hand() -> None:
    # 50 a month; survival 0.9 then 0.72 of the current value; 12 % a year.
    d = 1.12 ** (1 / 12) - 1
    value = contract_value(np.array([[0.9, 0.72]]), [50.0], 0.12)[0]
    assert value == pytest.approx(50 * (0.9 / (1 + d) + 0.72 / (1 + d) ** 2))


def test_model_churn_by_hand() -> None:
    before = pd.DataFrame({"customer_id": list("ABCD"), "p_alive": [0.9, 0.6, 0.4, 0.8]})
    now = pd.DataFrame({"customer_id": list("ABCDE"), "p_alive": [0.8, 0.3, 0.2, 0.5, 1.0]})
    # At 0.5: A, B, D were at or above it; B fell below: 1 / 3 (E is new, C was below).
    assert model_churn(before, now, 0.5) == (pytest.approx(1 / 3), 3)
    # At 0.7: A, D; D fell below.
    assert model_churn(before, now, 0.7) == (pytest.approx(1 / 2), 2)


def test_cox_that_cannot_converge_says_what_to_do() -> None:
    # One level never ends: its coefficient runs off to minus infinity.
    t = np.arange(1.0, 41.0)
    x = pd.DataFrame({"never": (np.arange(40) % 2).astype(float)})
    event = x["never"].to_numpy() == 0
    with pytest.raises(ValueError, match="drop or merge that level"):
        CoxPH().fit(t, event, x)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clv_demo") / "data"
    generate(out, customers=5000, seed=7)
    return out


@pytest.fixture(scope="module")
def report(demo: Path) -> PeriodReport:
    return run(demo, "2025-Q4")


def _finite_or_none(values: list[float | None]) -> bool:
    return all(v is None or math.isfinite(v) for v in values)


def test_clv_section_on_the_demo(report: PeriodReport) -> None:
    section = report.section("clv")
    assert section.error is None, section.error
    m = {x.key: x for x in section.metrics}
    assert _finite_or_none([x.value for x in section.metrics])
    assert {x.key for x in section.metrics if x.headline} == {"clv_total", "vip_at_risk"}
    total = m["clv_total"].value
    assert total is not None and m["clv_lower"].value is not None
    assert m["clv_lower"].value < total < m["clv_upper"].value
    clients = section.data["clients"]
    assert total == pytest.approx(clients["clv"].sum())
    assert clients["customer_id"].is_unique
    # Subscribers with no purchase in the data have no P(alive), only contract value.
    buyers = clients["frequency"].notna()
    assert clients.loc[buyers, "p_alive"].between(0, 1).all()
    assert (clients.loc[~buyers, "clv"] == clients.loc[~buyers, "clv_contracts"]).all()
    assert (clients["clv"] >= 0).all()
    assert "tier" in clients
    # The holdout test: the model predicts the last 6 months' repeat purchases within 10 %.
    assert abs(m["holdout_error"].value) < 0.10
    vip = section.tables["vip_at_risk"].frame
    assert "customer_id" in vip
    assert m["vip_at_risk"].value == len(vip)
    assert (vip["drop"] >= 0.2).all() and (vip["tier"] == "vip").all()
    sens = section.tables["sensitivity"].frame
    assert sens["alive_share"].is_monotonic_decreasing


def test_churn_section_on_the_demo(report: PeriodReport) -> None:
    section = report.section("churn")
    assert section.error is None, section.error
    assert _finite_or_none([x.value for x in section.metrics])
    hazards = section.tables["hazards"].frame.set_index("covariate")
    # Plan effects on the demo's Weibull PH truth, wide enough for ~1,450 subscriptions.
    truth = PARAMS.subscriptions.beta_plan
    for plan in ("pro", "enterprise"):
        assert np.log(hazards.loc[f"plan[{plan}]", "hazard_ratio"]) == pytest.approx(
            truth[plan], abs=0.3
        )
    lt = section.data["lifetimes"]
    active = lt[~lt["observed"]]
    assert active["p_churn_next"].between(0, 1).all()
    assert set(section.tables["logrank"].frame["dimension"]) >= {"plan", "source", "tier"}
    clients = section.data["clients"]
    assert clients["p_contract_churn_next"].between(0, 1).all()


def test_bgnbd_recovery_on_the_demo(demo: Path) -> None:
    # Clients acquired inside the window are BG/NBD in weeks (legacy ones are not: their
    # history before 2023 is missing). summarize counts purchase *days*: a heavy buyer's two
    # orders on one day count once (about 6 % of repeats on the demo), which lowers the
    # apparent purchase rate, so r and alpha are checked to 10 % and 20 %; the dropout
    # parameters within 3 standard errors.
    tx = pd.read_parquet(demo / "transactions.parquet", columns=["customer_id", "date", "amount"])
    truth = pd.read_parquet(demo / "truth" / "customers.parquet")
    inside = set(truth.loc[truth["in_window"], "customer_id"])
    s = summarize(tx[tx["customer_id"].isin(inside)], "2026-01-01", "W")
    bg = BetaGeo().fit(s["frequency"], s["recency"], s["T"])
    truth = PARAMS.bgnbd
    assert bg.params_["r"] == pytest.approx(truth.r, rel=0.10)
    assert bg.params_["alpha"] == pytest.approx(truth.alpha, rel=0.20)
    for name in ("a", "b"):
        assert abs(bg.params_[name] - getattr(truth, name)) < 3 * bg.standard_errors_[name]


def _write(folder: Path, transactions: str, subscriptions: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "transactions.csv").write_text(transactions)
    if subscriptions:
        (folder / "subscriptions.csv").write_text(subscriptions)
    return folder


def test_no_repeat_purchases_gives_notes_not_numbers(tmp_path: Path) -> None:
    folder = _write(
        tmp_path / "d",
        "customer_id,date,amount\nA,2024-01-05,10\nB,2024-02-05,20\nC,2024-03-01,-5\n"
        "C,2024-02-01,30\n",
        "customer_id,plan,start_date,end_date,monthly_value\nA,basic,2024-01-05,,10\n",
    )
    report = run(folder, "2024-Q1")
    clv = report.section("clv")
    assert clv.error is None, clv.error
    assert not clv.metrics
    assert any("repeat purchases" in n for n in clv.notes)
    churn = report.section("churn")
    assert churn.error is None, churn.error
    assert any("ended subscription" in n for n in churn.notes)
    assert _finite_or_none([x.value for x in churn.metrics])
    median = {x.key: x for x in churn.metrics}["median_lifetime"]
    assert median.value is None


def test_bad_settings_are_config_errors(tmp_path: Path) -> None:
    folder = _write(tmp_path / "d", "customer_id,date,amount\nA,2024-01-05,10\n")
    (folder / "segkit.yaml").write_text(
        "analyses:\n  clv: {model: lifetimes}\n  churn: {groups: [colour]}\n"
    )
    report = run(folder, "2024-Q1")
    assert "bgnbd" in (report.section("clv").error or "")
    assert "colour" in (report.section("churn").error or "")
