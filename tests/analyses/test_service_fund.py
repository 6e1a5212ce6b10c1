"""Service fund allocation, worked out by hand; the allocation always adds up to the budget."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from segkit.analyses.service_fund import ServiceFund, bounded_proportional, to_hundredths
from segkit.analyses.tiers import TIERS, Tiers
from segkit.api import open_data
from segkit.engine.analysis import Section
from segkit.engine.context import PeriodContext
from segkit.engine.plugins import ENV_LOAD
from segkit.errors import ConfigError
from segkit.periods import parse_period

Q4 = parse_period("2024-Q4")


def run_fund(folder: Path, **settings: Any) -> Section:
    dataset = open_data(folder)
    tiers = Tiers().run(PeriodContext(dataset, Q4, dict(Tiers.defaults)))
    merged = {**ServiceFund.defaults, **settings}
    return ServiceFund().run(PeriodContext(dataset, Q4, merged, {"tiers": tiers}))


def funds(section: Section) -> dict[str, float]:
    clients = section.data["clients"]
    return dict(zip(clients["customer_id"], clients["fund"], strict=True))


def test_cap_binds_and_the_rest_is_shared_again() -> None:
    # Weights 6, 3, 1 of 100: 60, 30, 10; the first is capped at 50 and the other 50 is shared
    # 3 : 1 -> 37.5 and 12.5.
    share, bound = bounded_proportional(
        np.array([6.0, 3, 1]), 100, np.zeros(3), np.array([50.0, 100, 100])
    )
    assert share.tolist() == [50, 37.5, 12.5]
    assert bound.tolist() == [1, 0, 0]


def test_cap_and_floor_bind_together() -> None:
    # Final ratio 10 per weight unit: clip(60, 0, 50) = 50, 3 x 10 = 30, clip(10, 20, 100) = 20.
    share, bound = bounded_proportional(
        np.array([6.0, 3, 1]), 100, np.array([0.0, 0, 20]), np.array([50.0, 100, 100])
    )
    assert share == pytest.approx([50, 30, 20])
    assert bound.tolist() == [1, 0, -1]


def test_infeasible_bounds() -> None:
    with pytest.raises(ValueError, match="floors need"):
        bounded_proportional(np.ones(2), 10, np.array([6.0, 6]), np.array([10.0, 10]))
    with pytest.raises(ValueError, match="caps allow only"):
        bounded_proportional(np.ones(2), 10, np.zeros(2), np.array([4.0, 4]))


def test_hundredths_add_up_to_the_budget() -> None:
    # 100 / 3 = 33.333...: floors 33.33 x 3 = 99.99, the cent left goes to the first row.
    assert to_hundredths(np.full(3, 100 / 3), 100).tolist() == [33.34, 33.33, 33.33]


def test_default_rule_by_hand(value_data: Callable[..., Path]) -> None:
    # Tiers (see test_tiers): A vip, B medium, C medium, D basic, E basic. Value = margin of
    # the 12 months = revenue (no margin column): 1000, 1000, 300, 200, 100. Weights x tier
    # multiplier (2, 1.5, 1.5, 1, 1): 2000, 1500, 450, 200, 100 (sum 4250). Budget 1000,
    # average 200 per client: floors vip 200, medium 100, basic 50.
    # Round 1: 470.59, 352.94, 105.88, 47.06, 23.53 -> D and E under 50, none over a cap:
    # fixed at 50. Round 2: 900 over 3950: A 455.696, B 341.772, C 102.532 (>= 100).
    # Hundredths: 45569 + 34177 + 10253 + 5000 + 5000 = 99999, the cent left to A (.62).
    section = run_fund(value_data(), budget=1000)
    assert funds(section) == {"A": 455.70, "B": 341.77, "C": 102.53, "D": 50.0, "E": 50.0}
    assert sum(funds(section).values()) == pytest.approx(1000, abs=1e-9)
    by_tier = section.tables["tiers"].frame.set_index("tier")
    # Medium: 341.77 + 102.53 = 444.30 against a period margin of 1000 (B) + 100 (C) = 1100.
    assert by_tier.loc["medium", "fund"] == pytest.approx(444.30)
    assert by_tier.loc["medium", "fund_pct_of_margin"] == pytest.approx(444.30 / 1100)


def test_vip_cap_binding_still_sums_to_the_budget(value_data: Callable[..., Path]) -> None:
    # VIP cap 2 x 200 = 400. Round 1: A 470.59 is 70.59 over, D and E 29.41 short in all, so
    # the cap is fixed first: A = 400. Round 2: 600 over 2250: B 400, C 120, D 53.33, E 26.67
    # -> E to its floor 50. Round 3: 550 over 2150: B 383.721, C 115.116, D 51.163.
    # Hundredths 40000 + 38372 + 11511 + 5116 + 5000 = 99999, the cent to C (.628).
    section = run_fund(value_data(), budget=1000, caps={"basic": 3.0, "medium": 6.0, "vip": 2.0})
    assert funds(section) == {"A": 400.0, "B": 383.72, "C": 115.12, "D": 51.16, "E": 50.0}
    assert round(sum(funds(section).values()), 2) == 1000.0
    bound = section.data["clients"].set_index("customer_id")["bound"]
    assert bound.to_dict() == {"A": "cap", "B": "", "C": "", "D": "", "E": "floor"}


def test_default_budget_is_a_share_of_the_margin(value_data: Callable[..., Path]) -> None:
    # Margin in 2024-Q4 of the rated clients: A 500 + B 1000 + C 100 + D 200 = 1800; 10 %.
    section = run_fund(value_data())
    assert sum(funds(section).values()) == pytest.approx(180.0)


def test_plugin_rule_by_name(
    value_data: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("segkit_service_norms")
    monkeypatch.setenv(ENV_LOAD, "service_norms")
    # Generic norms basic 5, medium 15, vip 50: weights 50, 15, 15, 5, 5 (sum 90) of 1000:
    # 555.556, 166.667, 166.667, 55.556, 55.556; hundredths 99997, three cents left to the
    # largest remainders: B, C (.667), then A (.556, the first of three equal ones).
    section = run_fund(value_data(), budget=1000, allocation="industry_norm")
    assert funds(section) == {"A": 555.56, "B": 166.67, "C": 166.67, "D": 55.55, "E": 55.55}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"allocation": "no_such_rule"}, "no fund rule 'no_such_rule'"),
        ({"floors": {"basic": 4.0, "medium": 0.5, "vip": 1.0}}, "out of order"),
        # 5 clients x 50 = 250 of floors for a budget of 100.
        (
            {
                "budget": 100,
                "bounds": "absolute",
                "floors": dict.fromkeys(TIERS, 50.0),
                "caps": dict.fromkeys(TIERS, 1000.0),
            },
            "floors need 250.00",
        ),
        ({"floors": {"basic": 0.5}}, "no value for tier 'vip'"),
        ({"unit": "hours"}, "must be set when unit is hours"),
        ({"multipliers": {"gold": 3}}, "unknown tier"),
    ],
)
def test_bad_settings(
    value_data: Callable[..., Path], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        run_fund(value_data(), **settings)


def test_a_plugin_rule_must_hand_out_the_budget() -> None:
    from segkit.analyses.service_fund import _check_allocation

    clients = pd.DataFrame({"customer_id": ["A", "B"]})
    with pytest.raises(ValueError, match="not the budget"):
        _check_allocation(pd.Series([1.0, 2.0]), clients, 10.0, "bad")
