"""Acquisition sources: clients, revenue, churn, NPS, CAC by hand."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from relationship_data import metrics, run_analysis, write_folder

from segkit.analyses.sources import Sources

CUSTOMERS = """
    customer_id,signup_date,acquisition_source
    A,2024-01-10,web
    B,2023-11-01,web
    C,2024-02-01,ads
    D,2024-03-10,ads
    E,2023-10-01,
    F,2024-06-01,ads
"""
TRANSACTIONS = """
    customer_id,date,amount,order_id,margin
    A,2023-11-10,100,o1,40
    A,2024-01-10,50,o2,20
    B,2023-12-01,80,o3,30
    C,2024-02-01,30,o4,10
    C,2024-03-01,20,o5,5
    D,2024-03-15,40,o6,15
    E,2023-10-05,60,o7,25
"""
# tv matches no customer's source.
MARKETING = """
    source,month,spend
    web,2024-01-01,1000
    web,2024-02-01,500
    ads,2024-03-01,300
    tv,2024-01-01,200
    web,2023-12-01,400
"""
SURVEYS = """
    customer_id,date,nps,csat
    A,2024-02-01,10,5
    B,2024-02-02,9,4
    C,2024-02-03,3,2
"""


def test_sources_by_hand(tmp_path: Path) -> None:
    data = write_folder(
        tmp_path,
        customers=CUSTOMERS,
        transactions=TRANSACTIONS,
        marketing=MARKETING,
        surveys=SURVEYS,
    )
    section = run_analysis(Sources(), data, "2024-Q1", {"min_responses": 2})
    t = section.tables["sources"].frame.set_index("source")
    # Known at the Q1 end: F signs up in June, so ads has C, D; web A, B; (unknown) E.
    assert t.loc["web", "clients"] == 2 and t.loc["ads", "clients"] == 2
    # Acquired in Q1: web A; ads C, D.
    assert t.loc["web", "acquired"] == 1 and t.loc["ads", "acquired"] == 2
    # Q1 revenue: web 50 (A), ads 30 + 20 + 40 = 90; margin ads 10 + 5 + 15 = 30.
    assert t.loc["web", "revenue"] == pytest.approx(50)
    assert t.loc["ads", "revenue"] == pytest.approx(90)
    assert t.loc["ads", "margin"] == pytest.approx(30)
    assert t.loc["ads", "revenue_per_client"] == pytest.approx(45)
    # Churn: web's Q4 buyers A, B; B did not buy -> 1/2. ads had no Q4 buyer -> undefined.
    assert t.loc["web", "churn_rate"] == pytest.approx(0.5)
    assert pd.isna(t.loc["ads", "churn_rate"])
    # Revenue to date per client: web (150 + 80) / 2 = 115; ads (50 + 40) / 2 = 45.
    assert t.loc["web", "revenue_to_date_per_client"] == pytest.approx(115)
    assert t.loc["ads", "revenue_to_date_per_client"] == pytest.approx(45)
    # NPS: web 10, 9 -> 100; ads one answer (3) is below min_responses 2 -> not shown.
    assert t.loc["web", "nps"] == pytest.approx(100)
    assert pd.isna(t.loc["ads", "nps"]) and t.loc["ads", "nps_n"] == 1
    # Spend in Q1: web 1000 + 500 = 1500 for 1 client; ads 300 for 2 -> CAC 1500 and 150.
    assert t.loc["web", "cac"] == pytest.approx(1500)
    assert t.loc["ads", "cac"] == pytest.approx(150)
    assert t.loc["web", "value_to_cac"] == pytest.approx(115 / 1500)
    assert t.loc["ads", "value_to_cac"] == pytest.approx(45 / 150)
    # (unknown) acquired nobody: no CAC rather than a division by zero.
    assert pd.isna(t.loc["(unknown)", "cac"])
    m = metrics(section)
    assert m["acquired"].value == 3
    assert m["acquired"].previous == 2  # B and E signed up in 2023-Q4
    # Blended CAC: matched spend 1500 + 300 over 3 acquired = 600; Q4: web's 400 over B and E
    # (E's source is unknown but E was acquired all the same) = 200.
    assert m["cac"].value == pytest.approx(600)
    assert m["cac"].previous == pytest.approx(200)
    assert any("tv" in n for n in section.notes)


def test_without_acquisition_source(tmp_path: Path) -> None:
    data = write_folder(tmp_path, transactions=TRANSACTIONS)
    section = run_analysis(Sources(), data, "2024-Q1")
    assert section.metrics == [] and "no acquisition_source" in section.summary
