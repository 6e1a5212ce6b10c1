"""Pareto 80/20 figures against values worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from segkit.analyses.pareto import concentration, lorenz_curve
from segkit.api import run


def test_concentration_by_hand() -> None:
    # Values 50, 20, 10, 10, 5, 5 (total 100), n = 6.
    c = concentration(np.array([10, 50, 5, 20, 10, 5.0]))
    # Top ceil(0.2 * 6) = 2 clients: 50 + 20 = 70 % of the total.
    assert c.top_clients == 2
    assert c.top_share == pytest.approx(0.70)
    # Cumulative 50, 70, 80 -> 3 clients reach 80 %: 3/6 = 50 %.
    assert c.clients_for_target == 3
    assert c.clients_share_for_target == pytest.approx(0.5)
    # Gini, ascending 5, 5, 10, 10, 20, 50 with weights 2i - n - 1 = -5, -3, -1, 1, 3, 5:
    # (-25 - 15 - 10 + 10 + 60 + 250) / (6 * 100) = 270 / 600 = 0.45.
    assert c.gini == pytest.approx(0.45)


def test_equal_values_have_no_concentration() -> None:
    c = concentration(np.full(10, 3.0))
    assert c.gini == pytest.approx(0.0)
    assert c.top_share == pytest.approx(0.2)
    assert c.clients_share_for_target == pytest.approx(0.8)


def test_concentration_rejects_non_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        concentration(np.array([1.0, 0.0]))


def test_lorenz_curve_starts_at_zero_and_ends_at_one() -> None:
    curve = lorenz_curve(np.array([1.0, 3.0]))
    assert curve["client_share"].tolist() == [0.0, 0.5, 1.0]
    assert curve["value_share"].tolist() == [0.0, 0.75, 1.0]


def test_pareto_section_on_a_small_company(tmp_path: Path) -> None:
    (tmp_path / "transactions.csv").write_text(
        "customer_id,date,amount,order_id\n"
        "A,2024-01-05,100,1\n"
        "B,2024-02-05,50,2\n"
        "C,2024-03-01,30,3\n"
        "C,2024-03-02,-40,3\n"  # C returned more than bought: net -10, not ranked
        "D,2024-03-03,20,4\n"
        "E,2024-04-01,999,5\n"  # after the period: never seen
        "A,2023-12-30,10,0\n"  # previous period
    )
    report = run(tmp_path, "2024-Q1")
    section = report.section("pareto")
    assert section.error is None
    m = {x.key: x for x in section.metrics}
    # Positive nets 100, 50, 20 (total 170); top ceil(0.6) = 1 client: 100/170.
    assert m["top_share"].value == pytest.approx(100 / 170)
    # 100/170 = 59 % < 80 %, 150/170 = 88 %: 2 of 3 clients.
    assert m["clients_share_for_target"].value == pytest.approx(2 / 3)
    # Net revenue includes C's -10: 100 + 50 - 10 + 20 = 160; previous quarter: 10.
    assert (m["net_value"].value, m["net_value"].previous) == (160, 10)
    assert m["unranked"].value == 1
    assert m["returns"].value == -40
    # Gini of 20, 50, 100: (-2*20 + 0*50 + 2*100) / (3*170) = 160/510.
    assert m["gini"].value == pytest.approx(160 / 510)
    top = section.tables["top"].frame
    assert top["customer_id"].tolist() == ["A", "B", "D"]
