"""NPS and CSAT of a hand-built survey table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from relationship_data import metrics, run_analysis, write_folder

from segkit.analyses.satisfaction import SMALL, Satisfaction, score
from segkit.config import Config
from segkit.data.load import load_dataset
from segkit.engine.analysis import Section
from segkit.errors import DataError

CUSTOMERS = """
    customer_id,signup_date,acquisition_source,region
    A,2023-01-01,web,north
    B,2023-01-01,web,south
    C,2023-01-01,web,north
    D,2023-01-01,ads,north
    E,2023-01-01,ads,
    F,2023-01-01,events,north
"""
TRANSACTIONS = """
    customer_id,date,amount
    A,2024-01-02,10
"""
# 2024-Q1: NPS 10, 9, 7, 3, 0 -> 2 promoters (A, B), 1 passive (C), 2 detractors (D, E).
# CSAT 5, 4, 3, 2 and one empty (E). 2023-Q4: one answer, A 10 (NPS 100).
# 2024-04-01 is after the Q1 cut-off and must not count.
SURVEYS = """
    customer_id,date,nps,csat
    A,2024-01-10,10,5
    B,2024-02-10,9,4
    C,2024-02-11,7,3
    D,2024-03-01 12:00,3,2
    E,2024-03-31 23:59,0,
    A,2023-12-01,10,
    B,2024-04-01,0,1
"""


def test_score_by_hand() -> None:
    s = score([10, 9, 7, 3, 0, float("nan")], [5, 4, 3, 2, float("nan"), float("nan")])
    # NPS (2 - 2) / 5 = 0; CSAT 4-5: 2 of 4 = 50 %; mean (5 + 4 + 3 + 2) / 4 = 3.5.
    assert (s.nps_n, s.promoters, s.passives, s.detractors) == (5, 2, 1, 2)
    assert s.nps == pytest.approx(0.0)
    assert s.csat_n == 4
    assert s.csat_share == pytest.approx(0.5)
    assert s.csat_mean == pytest.approx(3.5)
    empty = score([], [])
    assert empty.nps is None and empty.csat_mean is None and empty.nps_low is None


def test_section(tmp_path: Path) -> None:
    data = write_folder(tmp_path, customers=CUSTOMERS, transactions=TRANSACTIONS, surveys=SURVEYS)
    section = run_analysis(Satisfaction(), data, "2024-Q1")
    m = metrics(section)
    assert m["nps"].value == pytest.approx(0.0)
    assert m["nps"].previous == pytest.approx(100.0)  # A's 10 in 2023-Q4
    assert m["nps"].headline
    assert m["nps_responses"].value == 5
    assert m["csat_share"].value == pytest.approx(0.5)
    assert m["csat_mean"].value == pytest.approx(3.5)
    assert m["csat_mean"].previous is None  # no CSAT answer in 2023-Q4
    # Only 5 answers: the section warns.
    assert any("Only 5 NPS answer" in n for n in section.notes)

    by = section.tables["by_group"].frame
    src = by[by["by"] == "acquisition_source"].set_index("group")
    # web: 10, 9, 7 -> (2 - 0) / 3 = 66.7; ads: 3, 0 -> -100. events (F) answered nothing:
    # an empty group has no row rather than a made-up zero.
    assert src.loc["web", "nps"] == pytest.approx(200 / 3)
    assert src.loc["ads", "nps"] == pytest.approx(-100.0)
    assert "events" not in src.index
    assert (src["note"] == SMALL).all()  # all below 30 answers
    region = by[by["by"] == "region"].set_index("group")
    # E has no region: "(unknown)" with its single detractor.
    assert region.loc["(unknown)", "nps_n"] == 1
    assert region.loc["north", "nps_n"] == 3  # A, C, D
    assert "tier" not in set(by["by"])  # no tiers section ran


def test_tier_breakdown_when_tiers_ran(tmp_path: Path) -> None:
    tiers = Section(
        "tiers",
        "Tiers",
        data={"clients": pd.DataFrame({"customer_id": ["A", "D"], "tier": ["vip", "basic"]})},
    )
    data = write_folder(tmp_path, customers=CUSTOMERS, transactions=TRANSACTIONS, surveys=SURVEYS)
    section = run_analysis(Satisfaction(), data, "2024-Q1", results={"tiers": tiers})
    by = section.tables["by_group"].frame
    tier = by[by["by"] == "tier"].set_index("group")
    # vip: A (10) -> 100; basic: D (3) -> -100; B, C, E without tier -> (unknown): 9, 7, 0 -> 0.
    assert tier.loc["vip", "nps"] == pytest.approx(100.0)
    assert tier.loc["basic", "nps"] == pytest.approx(-100.0)
    assert tier.loc["(unknown)", "nps"] == pytest.approx(0.0)


def test_period_without_answers(tmp_path: Path) -> None:
    data = write_folder(tmp_path, customers=CUSTOMERS, transactions=TRANSACTIONS, surveys=SURVEYS)
    section = run_analysis(Satisfaction(), data, "2023-Q2")
    m = metrics(section)
    assert m["nps"].value is None and m["csat_share"].value is None
    assert m["nps_responses"].value == 0
    assert section.summary.startswith("No NPS answers")


def test_score_out_of_range_is_rejected_with_its_line(tmp_path: Path) -> None:
    bad = "customer_id,date,nps,csat\nA,2024-01-10,10,5\nB,2024-01-11,11,4\nC,2024-01-12,7,6\n"
    data = write_folder(tmp_path, customers=CUSTOMERS, transactions=TRANSACTIONS, surveys=bad)
    with pytest.raises(DataError) as err:
        load_dataset(data, Config())
    # Line 3 of the file (header = line 1) holds the NPS of 11.
    assert err.value.column == "nps"
    assert err.value.rows == [3]
    assert "above the maximum 10" in str(err.value)


def test_nps_chart_of_a_one_answer_group() -> None:
    """One promoter: NPS 100, but the adjusted-Wald interval is centred lower and excludes it."""
    import pandas as pd

    from segkit.analyses.satisfaction import SMALL, _nps_figure
    from segkit.periods import parse_period
    from segkit.stats.intervals import nps_interval

    ci = nps_interval(1, 0, 1)
    # Adjusted counts: p = 1.75/4, d = 0.75/4, centre 0.25 < 1.0 = the plain NPS.
    assert ci.estimate == 1.0 and ci.high is not None and ci.high < 1.0
    rows = pd.DataFrame(
        {
            "group": ["tiny"],
            "nps": [100.0],
            "nps_low": [ci.low * 100],
            "nps_high": [ci.high * 100],
            "nps_n": [1],
            "note": [SMALL],
        }
    )
    fig = _nps_figure(rows, "region", parse_period("2024-Q1"))
    assert len(fig.axes) == 1
