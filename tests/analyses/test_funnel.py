"""Funnel counts, conversion, time between stages, planning view and bad stage data by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from relationship_data import metrics, run_analysis, write_folder

from segkit.analyses.funnel import Funnel, plan
from segkit.errors import ConfigError, DataError

TRANSACTIONS = """
    customer_id,date,amount
    A,2024-01-02,10
"""
# Cohort of 2024-Q1 = leads whose call is in Q1: L1, L2, L3, L4, L5, L7 (6).
# L1 reaches buyer; L2 stops at proposal; L3 at meeting; L4 at call; L5 skips the proposal, so
# it counts at call only; L7's proposal is after the cut-off. L6 belongs to 2023-Q4.
FUNNEL = """
    lead_id,stage,entered_at,source,customer_id
    L1,call,2024-01-05,web,
    L1,proposal,2024-01-07,web,
    L1,meeting,2024-01-12,web,
    L1,buyer,2024-01-20,web,A
    L2,call,2024-01-10,web,
    L2,Proposal,2024-01-15,web,
    L3,call,2024-02-01,ads,
    L3,proposal,2024-02-03,ads,
    L3,meeting,2024-02-10,ads,
    L4,call,2024-02-15,ads,
    L5,call,2024-03-01,ads,
    L5,meeting,2024-03-05,ads,
    L6,call,2023-12-20,web,
    L6,proposal,2024-01-02,web,
    L7,call,2024-03-30,web,
    L7,proposal,2024-04-02,web,
"""


def test_stages_conversion_and_times(tmp_path: Path) -> None:
    data = write_folder(tmp_path, transactions=TRANSACTIONS, funnel=FUNNEL)
    section = run_analysis(Funnel(), data, "2024-Q1")  # target_buyers: 10 by default
    stages = section.tables["stages"].frame.set_index("stage")
    # Counted: call 6; proposal L1, L2, L3 = 3; meeting L1, L3 = 2 (L5 skipped); buyer L1 = 1.
    assert stages["leads"].tolist() == [6, 3, 2, 1]
    assert stages.loc["proposal", "rate"] == pytest.approx(3 / 6)
    assert stages.loc["meeting", "rate"] == pytest.approx(2 / 3)
    assert stages.loc["buyer", "rate"] == pytest.approx(1 / 2)
    assert stages.loc["buyer", "overall"] == pytest.approx(1 / 6)
    # Days call -> proposal: L1 2, L2 5, L3 2 -> median 2; proposal -> meeting: 5, 7 -> 6;
    # meeting -> buyer: L1 8.
    assert stages.loc["proposal", "median_days"] == pytest.approx(2.0)
    assert stages.loc["meeting", "median_days"] == pytest.approx(6.0)
    assert stages.loc["buyer", "median_days"] == pytest.approx(8.0)
    m = metrics(section)
    assert m["overall_conversion"].value == pytest.approx(1 / 6)
    assert m["leads"].previous == 1  # L6
    # As known at the end of 2023-Q4, L6 had not reached its proposal (2024-01-02) yet.
    assert m["conversion_proposal"].previous == pytest.approx(0.0)
    assert any("1 lead(s) entered a stage without the one before it" in n for n in section.notes)

    # Planning for 10 buyers: meeting 10 / 0.5 = 20, proposal 20 / (2/3) = 30, call 30 / 0.5
    # = 60. Call interval: var(log V) = (1/3 - 1/6) + (1/2 - 1/3) + (1 - 1/2) = 5/6,
    # 60 x exp(-+1.959964 x 0.912871) = 10.03, 359.08 -> rounded up 11, 360.
    p = section.tables["plan"].frame.set_index("stage")
    assert p["needed"].tolist() == [60, 30, 20, 10]
    assert (p.loc["call", "low"], p.loc["call", "high"]) == (11, 360)

    by = section.tables["by_source"].frame.set_index("source")
    # web: L1, L2, L7 -> 1 buyer of 3; ads: L3, L4, L5 -> 0 of 3.
    assert by.loc["web", "leads"] == 3 and by.loc["web", "overall"] == pytest.approx(1 / 3)
    assert by.loc["ads", "buyer"] == 0


def test_plan_is_the_handbook_example() -> None:
    # 80 calls -> 40 proposals -> 4 meetings -> 1 buyer: 10 buyers need 800 calls.
    p = plan([80, 40, 4, 1], ["call", "proposal", "meeting", "buyer"], 10)
    assert p["needed"].tolist() == [800, 400, 40, 10]


def test_configured_stages(tmp_path: Path) -> None:
    data = write_folder(tmp_path, transactions=TRANSACTIONS, funnel=FUNNEL)
    # Two stages only: the other names are unknown and rejected.
    with pytest.raises(DataError, match="not in the configured stages call, buyer"):
        run_analysis(Funnel(), data, "2024-Q1", {"stages": ["call", "buyer"]})


def test_bad_target(tmp_path: Path) -> None:
    data = write_folder(tmp_path, transactions=TRANSACTIONS, funnel=FUNNEL)
    with pytest.raises(ConfigError, match="target_buyers"):
        run_analysis(Funnel(), data, "2024-Q1", {"target_buyers": "ten"})


def test_empty_cohort(tmp_path: Path) -> None:
    data = write_folder(tmp_path, transactions=TRANSACTIONS, funnel=FUNNEL)
    section = run_analysis(Funnel(), data, "2023-Q3")
    assert metrics(section)["leads"].value == 0
    assert metrics(section)["overall_conversion"].value is None
    assert "plan" not in section.tables
    assert section.summary.startswith("No lead entered")


def test_unknown_stage_name_is_rejected(tmp_path: Path) -> None:
    bad = FUNNEL + "    L9,demo,2024-02-01,web,\n"
    data = write_folder(tmp_path, transactions=TRANSACTIONS, funnel=bad)
    with pytest.raises(DataError) as err:
        run_analysis(Funnel(), data, "2024-Q1")
    assert err.value.column == "stage"
    assert err.value.examples == ["demo"]
    assert "funnel.csv" in str(err.value)


def test_stages_out_of_order_are_rejected(tmp_path: Path) -> None:
    # L8 entered the proposal before its call.
    bad = FUNNEL + "    L8,call,2024-02-10,web,\n    L8,proposal,2024-02-05,web,\n"
    data = write_folder(tmp_path, transactions=TRANSACTIONS, funnel=bad)
    with pytest.raises(DataError, match="entered a stage before an earlier stage") as err:
        run_analysis(Funnel(), data, "2024-Q1")
    assert err.value.examples == ["L8"]
