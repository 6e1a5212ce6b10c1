"""Client tiers on the hand-built data of :mod:`value_clients`; answers worked out by hand."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from segkit.analyses.tiers import Tiers, TierSettings, _Coded, _joined
from segkit.api import open_data
from segkit.engine.analysis import Section
from segkit.engine.context import PeriodContext
from segkit.errors import ConfigError, SegkitError
from segkit.periods import parse_period

Q4 = parse_period("2024-Q4")


def run_tiers(folder: Path, period: str = "2024-Q4", **settings: Any) -> Section:
    dataset = open_data(folder)
    merged = dataset.config.analysis_settings("tiers", {**Tiers.defaults, **settings})
    return Tiers().run(PeriodContext(dataset, parse_period(period), merged))


@pytest.fixture
def clients(value_data: Callable[..., Path]) -> pd.DataFrame:
    section = run_tiers(value_data())
    return section.data["clients"].set_index("customer_id")


def test_family_points_by_hand(clients: pd.DataFrame) -> None:
    # Volume: revenue 12m of A-E = 1000, 1000, 300, 200, 100. Quantiles (linear) of
    # [100, 200, 300, 1000, 1000]: q0.5 = 300; q0.8 at position 3.2 = 1000 + 0.2 * 0 = 1000.
    assert clients["volume_points"].to_dict() == {"A": 2, "B": 2, "C": 1, "D": 0, "E": 0}
    # Capacity: positions (index / 4) averaged: A, B (1 + 1) / 2 = 1; C (0.5 + 0.5) / 2 = 0.5;
    # E 0. D has no label: average order value 200 against quantiles of [100, 100, 200, 500,
    # 1000]: q0.5 = 200, q0.8 = 500 + 0.2 * 500 = 600, so 1 point.
    assert clients["capacity_points"].to_dict() == {"A": 2, "B": 2, "C": 1, "D": 1, "E": 0}
    assert "avg order 200.00 >= 200.00, < 600.00" in clients.loc["D", "capacity_basis"]
    # Satisfaction: NPS 9 and 10 are promoters (2), 3 a detractor (0); D's CSAT 4 is in
    # [3.5, 4.5) (1); C has no survey answer.
    sat = clients["satisfaction_points"]
    assert sat.drop("C").to_dict() == {"A": 2, "B": 2, "D": 1, "E": 0}
    assert pd.isna(sat["C"])
    # Tenure: 1096, 92, 580, 31, 1461 days against 180 / 730.
    assert clients["tenure_points"].to_dict() == {"A": 2, "B": 0, "C": 1, "D": 0, "E": 2}


def test_tiers_and_reasons_by_hand(clients: pd.DataFrame) -> None:
    # A 8/8 = 100 % -> VIP. B 6/8 = 75 % reaches the VIP share but has tenure 0 < 1 -> medium.
    # C 3/6 (no survey) = 50 % -> medium. D 2/8 = 25 %, E 2/8 = 25 % -> basic.
    assert clients["tier"].to_dict() == {
        "A": "vip",
        "B": "medium",
        "C": "medium",
        "D": "basic",
        "E": "basic",
    }
    assert clients.loc["B", "reasons"].startswith("medium: 6 of 8 points (75%")
    assert "not VIP: tenure >= 1, volume >= 1 not met" in clients.loc["B", "reasons"]
    assert clients.loc["C", "max_points"] == 6
    assert "satisfaction - (no data)" in clients.loc["C", "reasons"]
    assert "NPS 9 >= 9" in clients.loc["A", "reasons"]


def test_only_returns_and_lapsed_clients_are_not_tiered(clients: pd.DataFrame) -> None:
    assert sorted(clients.index) == ["A", "B", "C", "D", "E"]


def test_without_surveys_and_income_data(value_data: Callable[..., Path]) -> None:
    folder = value_data()
    (folder / "surveys.csv").unlink()
    (folder / "customers.csv").write_text(
        "customer_id,signup_date\n" + "".join(f"{c},2024-01-01\n" for c in "ABCDEFG")
    )
    section = run_tiers(folder)
    clients = section.data["clients"].set_index("customer_id")
    assert clients["satisfaction_points"].isna().all()
    assert (clients["max_points"] == 6).all()
    # Capacity from average order value for all: A 500 -> 1, B 1000 -> 2 (>= 600).
    assert clients.loc["B", "capacity_points"] == 2
    assert any("No surveys table" in n for n in section.notes)
    assert any("No capacity scale column" in n for n in section.notes)


def test_segmenter_keeps_its_fitted_cut_offs(value_data: Callable[..., Path]) -> None:
    folder = value_data()
    dataset = open_data(folder)
    section = run_tiers(folder)
    rule = section.data["segmenter"]
    ctx = PeriodContext(dataset, Q4, {})
    features = rule.features(ctx, Q4)
    rule.fit(features)
    # A client who doubled their revenue is judged against the frozen cut of 1000.
    more = features.assign(revenue_year=features["revenue_year"] * 2)
    assert dict(zip(more["customer_id"], rule.evidence(more)["volume_points"], strict=True)) == {
        "A": 2,
        "B": 2,
        "C": 1,  # 600 >= 300
        "D": 1,  # 400 >= 300
        "E": 0,  # 200 < 300
    }


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("tier_cuts", [0.8, 0.4], "out of order"),
        ("tenure_cuts", [730, 180], "out of order"),
        ("nps_cuts", [7, 11], "between 0 and 10"),
        ("vip_requires", {"wealth": 1}, "unknown family"),
        ("capacity_scales", {"income_band": ["low"]}, "at least two levels"),
    ],
)
def test_bad_settings(setting: str, value: object, message: str) -> None:
    settings: Mapping[str, Any] = {**Tiers.defaults, setting: value}
    with pytest.raises(ConfigError, match=message):
        TierSettings.parse(settings)


def test_period_without_rated_clients(value_data: Callable[..., Path]) -> None:
    with pytest.raises(SegkitError, match="no client has a purchase"):
        run_tiers(value_data(), "2026-Q1")


def test_vip_concentrates_the_demo_key_customers(small_demo: Path) -> None:
    # The generator's truth: "key" = top 20 % of all customers by expected annual value. Tiers
    # also weigh tenure and satisfaction, so VIP is not a copy of it; on the 50,000-customer
    # demo in 2025-Q4, 43 % of VIPs are key (17 % of rated clients) and 10 % small (54 %).
    section = run_tiers(small_demo, "2025-Q4")
    truth = pd.read_parquet(small_demo / "truth" / "customers.parquet")
    clients = section.data["clients"].merge(truth, on="customer_id")
    key = clients["value_class"] == "key"
    vip = clients["tier"] == "vip"
    assert key[vip].mean() >= 2 * key.mean()
    assert (clients.loc[vip, "value_class"] == "small").mean() <= 0.2


def test_joined_texts_are_the_rows_concatenated() -> None:
    # Three parts of 2^21 texts each overflow one 62-bit key: the combinations are renumbered.
    texts = np.full(2**21, "-", dtype=object)
    texts[:3] = ["a", "b", "c"]
    parts = [
        _Coded(texts, np.array(codes))
        for codes in ([0, 1, 0, 2, 0], [1, 1, 2, 2, 1], [0, 0, 0, 2**21 - 1, 0])
    ]
    joined = _joined(parts[0], ": ", parts[1], parts[2])
    rows = [p.rows().tolist() for p in parts]
    assert joined.rows().tolist() == [a + ": " + b + c for a, b, c in zip(*rows, strict=True)]
    assert len(joined.texts) == 4  # the first and last rows share one text
