"""Tests of the service_norms plugin; every expected figure is worked out by hand.

The module imports the plugin directly (installed, or from ``../src`` when it is not), and
checks separately that an installed copy loads through segkit's entry-point discovery.
"""

from __future__ import annotations

import importlib.metadata
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from segkit.config import Config
from segkit.data.load import Dataset, load_dataset
from segkit.engine.context import PeriodContext
from segkit.engine.plugins import ENV_LOAD, PluginManager
from segkit.engine.run import run_period
from segkit.errors import ConfigError
from segkit.periods import Period, parse_period

try:
    import segkit_service_norms as sn
except ModuleNotFoundError:  # not installed: test the source beside this file
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import segkit_service_norms as sn

DIST = "segkit-service-norms"
Q1 = parse_period("2024-Q1")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Five clients; generic norms per month: basic 5, medium 15, vip 50.

    2024-Q1 (3 months): A (VIP) buys 1000 on 01-15, B (Medium) 300 on 02-10, C (basic) 100 on
    03-05, E (no tier) 60 on 01-25, D (basic) only returns 20 on 02-20 -> active A, B, C, E;
    net revenue 1000 + 300 + 100 + 60 - 20 = 1440. 2023-Q4: D buys 50 on 11-10.
    """
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "transactions.csv").write_text(
        "customer_id,date,amount\n"
        "D,2023-11-10,50\n"
        "A,2024-01-15,1000\n"
        "E,2024-01-25,60\n"
        "B,2024-02-10,300\n"
        "D,2024-02-20,-20\n"
        "C,2024-03-05,100\n"
        "A,2024-04-03,5000\n",
        encoding="utf-8",
    )
    (folder / "customers.csv").write_text(
        "customer_id,tier\nA, VIP\nB,Medium\nC,basic\nD,basic\nE,\n", encoding="utf-8"
    )
    return folder


@pytest.fixture
def dataset(data_dir: Path) -> Dataset:
    return load_dataset(data_dir, Config())


def run(dataset: Dataset, period: Period, **settings: object) -> sn.Section:
    analysis = sn.ServiceNorms()
    merged = Config(analyses={"service_norms": settings}).analysis_settings(
        analysis.name, analysis.defaults
    )
    return analysis.run(PeriodContext(dataset, period, merged))


def metrics(section: sn.Section) -> dict[str, float | None]:
    return {m.key: m.value for m in section.metrics}


def test_months_in_each_grain() -> None:
    assert sn.months_in(parse_period("2024-02")) == 1
    assert sn.months_in(parse_period("2024-Q4")) == 3
    assert sn.months_in(parse_period("2024")) == 12


def test_quarter_at_generic_norms(dataset: Dataset) -> None:
    section = run(dataset, Q1)
    m = metrics(section)
    # 3 months x (A vip 50 + B medium 15 + C basic 5 + E defaulted to basic 5) = 225.
    assert m["active_clients"] == 4
    assert m["expected_service_cost"] == pytest.approx(225.0)
    assert m["net_revenue"] == pytest.approx(1440.0)
    assert m["service_cost_share"] == pytest.approx(225 / 1440)
    assert m["cost_per_active_client"] == pytest.approx(225 / 4)
    previous = {x.key: x.previous for x in section.metrics}
    # 2023-Q4: D (basic) alone, 3 x 5 = 15 against 50 of revenue.
    assert previous["active_clients"] == 1
    assert previous["expected_service_cost"] == pytest.approx(15.0)
    assert previous["service_cost_share"] == pytest.approx(0.3)

    tiers = section.tables["tiers"].frame.set_index("tier")
    assert list(tiers.index) == ["basic", "medium", "vip"]
    assert tiers["active_clients"].tolist() == [2, 1, 1]
    assert tiers["expected_cost"].tolist() == pytest.approx([30.0, 45.0, 150.0])
    # basic: C 100 + E 60 + D's return -20 = 140.
    assert tiers["net_revenue"].tolist() == pytest.approx([140.0, 300.0, 1000.0])
    assert tiers["cost_share"].tolist() == pytest.approx([30 / 140, 0.15, 0.15])
    assert any("1 client(s) have no known tier" in n for n in section.notes)

    [fig] = section.figures
    assert isinstance(fig, Figure)
    heights = [bar.get_height() for bar in fig.axes[0].containers[0]]
    heights += [bar.get_height() for bar in fig.axes[0].containers[1]]
    assert heights == pytest.approx([30.0, 45.0, 150.0, 140.0, 300.0, 1000.0])


def test_month_period_and_as_of_cut_off(dataset: Dataset) -> None:
    # January 2024: A (vip) and E (basic) bought; 1 month x (50 + 5) = 55 on 1060.
    m = metrics(run(dataset, parse_period("2024-01")))
    assert (m["active_clients"], m["expected_service_cost"], m["net_revenue"]) == (2, 55.0, 1060.0)
    # Year 2024, known as of 2025-01-01: A's April 5000 counts too; 12 x 75 = 900.
    y = metrics(run(dataset, parse_period("2024")))
    assert (y["expected_service_cost"], y["net_revenue"]) == (900.0, 6440.0)


def test_configured_norms(dataset: Dataset) -> None:
    # retail (2, 6, 25) with vip overridden to 80: 3 x (80 + 6 + 2 + 2) = 270.
    m = metrics(run(dataset, Q1, industry="retail", cost_per_client_per_month={"vip": 80}))
    assert m["expected_service_cost"] == pytest.approx(270.0)
    # A flat norm: 3 months x 4 active clients x 10 = 120.
    m = metrics(run(dataset, Q1, cost_per_client_per_month=10))
    assert m["expected_service_cost"] == pytest.approx(120.0)
    # E without a tier counted as vip instead: 3 x (50 + 15 + 5 + 50) = 360.
    m = metrics(run(dataset, Q1, default_tier="VIP"))
    assert m["expected_service_cost"] == pytest.approx(360.0)


def test_without_tiers_every_client_is_default(tmp_path: Path) -> None:
    folder = tmp_path / "flat"
    folder.mkdir()
    (folder / "transactions.csv").write_text(
        "customer_id,date,amount\nA,2024-01-05,100\nB,2024-02-05,50\n", encoding="utf-8"
    )
    section = run(load_dataset(folder, Config()), Q1)
    m = metrics(section)
    # Two basic clients x 5 x 3 months = 30 on 150 of revenue.
    assert (m["expected_service_cost"], m["net_revenue"]) == (30.0, 150.0)
    assert m["service_cost_share"] == pytest.approx(0.2)


def test_period_without_purchases(dataset: Dataset) -> None:
    section = run(dataset, parse_period("2023-Q3"))
    m = metrics(section)
    assert (m["active_clients"], m["expected_service_cost"]) == (0, 0.0)
    assert m["service_cost_share"] is None
    assert section.figures == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"industry": "mining"}, "unknown industry 'mining'"),
        ({"cost_per_client_per_month": {"gold": 3}}, "unknown tier(s) gold"),
        ({"cost_per_client_per_month": -1}, "must not be negative"),
        ({"cost_per_client_per_month": True}, "must be a number"),
        ({"default_tier": "platinum"}, "default_tier must be one of basic, medium, vip"),
    ],
)
def test_invalid_settings(dataset: Dataset, settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(dataset, Q1, **settings)


# -- the fund rule ---------------------------------------------------------------------------
def test_fund_rule_splits_in_proportion_to_norms_in_whole_cents() -> None:
    clients = pd.DataFrame({"tier": ["VIP", "medium", "basic", None]}, index=["a", "b", "c", "d"])
    fund = sn.allocate_by_norm(clients, 1000.0)
    # Weights 50 : 15 : 5 : 5 of 75 -> 666.666.., 200, 66.666.., 66.666..; floors in cents leave
    # 2 cents, which go to the largest remainders (0.67 each for a, c, d): a and c.
    assert fund.index.tolist() == ["a", "b", "c", "d"]
    assert fund.tolist() == [666.67, 200.00, 66.67, 66.66]
    assert int(np.round(fund.to_numpy() * 100).sum()) == 100_000


def test_fund_rule_without_tiers_is_an_equal_split() -> None:
    fund = sn.allocate_by_norm(pd.DataFrame(index=[1, 2, 3]), 100.0)
    assert fund.tolist() == [33.34, 33.33, 33.33]
    assert sn.allocate_by_norm(pd.DataFrame(index=[1, 2]), 0.0).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="non-negative"):
        sn.allocate_by_norm(pd.DataFrame(index=[1]), -5.0)
    with pytest.raises(ValueError, match="no client"):
        sn.allocate_by_norm(pd.DataFrame(index=[]), 10.0)


def test_make_fund_rule_uses_configured_norms() -> None:
    rule = sn.make_fund_rule("b2b_services", {"vip": 160})
    # basic 40 : vip 160 -> 20 % and 80 % of 250.
    fund = rule(pd.DataFrame({"tier": ["basic", "vip"]}), 250.0)
    assert fund.tolist() == [50.0, 200.0]


def test_hooks_register_the_analysis_and_the_rule() -> None:
    analyses: list[object] = []
    rules: dict[str, object] = {}
    sn.register_analyses(analyses.append)
    sn.register_fund_rules(rules.__setitem__)
    assert [type(a).__name__ for a in analyses] == ["ServiceNorms"]
    assert list(rules) == ["industry_norm"]


# -- through segkit's discovery --------------------------------------------------------------
def _installed() -> bool:
    try:
        importlib.metadata.distribution(DIST)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(
    not _installed(), reason=f"{DIST} is not installed (pip install -e plugins/{DIST} --no-deps)"
)
def test_loads_through_the_entry_point(
    dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_LOAD, "service_norms")
    pm = PluginManager(tmp_path / "no-plugins-folder")
    info = {i.name: i for i in pm.info()}
    assert info["service_norms"].source == "entry point"
    assert info["service_norms"].version == importlib.metadata.version(DIST)
    assert info["service_norms"].hooks == ("register_analyses", "register_fund_rules")
    assert pm.errors == {}
    fund = pm.fund_rules()["industry_norm"](pd.DataFrame({"tier": ["vip", "basic"]}), 55.0)
    assert fund.tolist() == [50.0, 5.0]  # 50 : 5 of 55
    report = run_period(dataset, Q1, pm)
    section = report.section("service_norms")
    assert (section.plugin, section.error) == ("service_norms", None)
    assert metrics(section)["expected_service_cost"] == pytest.approx(225.0)
    assert report.section("pareto").error is None


def test_as_of_customers_ignore_later_signups(dataset: Dataset) -> None:
    # No signup_date column: every customer row is known at any cut-off.
    ctx = PeriodContext(dataset, Period(date(2024, 1, 1), "quarter"), {})
    assert len(ctx.table("customers")) == 5
