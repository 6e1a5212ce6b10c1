"""Churn, repeat purchases, renewals, revenue per client, offers and contacts by hand."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from relationship_data import metrics, run_analysis, write_folder

from segkit.analyses.retention import Retention, _anniversary_in
from segkit.periods import parse_period

CUSTOMERS = """
    customer_id,signup_date,acquisition_source
    A,2023-01-01,web
    B,2023-01-01,web
    C,2024-02-01,ads
    D,2024-03-10,ads
    E,2023-01-01,
    F,2022-01-01,events
"""
# 2024-Q1 against 2023-Q4 (and 2023-Q3 before it, when nobody bought).
# A: bought in Q4 and Q1 (returning) -> repeat; B: Q4 only -> churned;
# C: two orders in Q1 -> repeat; D: one order in Q1 -> not repeat;
# E: bought in Q4, only a return (-10) in Q1 -> churned, not a buyer, return still in revenue.
TRANSACTIONS = """
    customer_id,date,amount,order_id
    A,2023-11-10,100,o1
    A,2024-01-10,50,o2
    B,2023-12-01,80,o3
    C,2024-02-01,30,o4
    C,2024-03-01,20,o5
    D,2024-03-15,40,o6
    E,2023-10-05,60,o7
    E,2024-01-20,-10,o7
"""
OFFERS = """
    customer_id,offered_at,kind,accepted
    A,2024-01-15,upsell,true
    C,2024-02-15,upsell,false
    D,2024-03-20,cross-sell,yes
    B,2023-12-15,cross-sell,true
"""
# Term 12 months, grace 30 days; anniversaries in 2024-Q1:
# S1 A active -> due 2024-02-15, renewed. S2 B ended 2024-03-01, before its 2024-03-10
# anniversary (within the grace), no other contract -> due, not renewed.
# S3 C ran past 2024-01-20 (ended 01-25) -> renewed. S4 D ended 2023-06 -> not due.
# S5 E ended 2024-01-31 before 2024-02-01 but E started S6 on 2024-02-10 -> renewed.
# S6 anniversary 2025-02 -> not due. S7 F from 2022-03-31, active: second anniversary
# 2024-03-31 -> due, renewed. Due 5, renewed 4: 80 %.
SUBSCRIPTIONS = """
    customer_id,plan,start_date,end_date,monthly_value
    A,basic,2023-02-15,,10
    B,basic,2023-03-10,2024-03-01,10
    C,pro,2023-01-20,2024-01-25,20
    D,basic,2023-01-05,2023-06-01,10
    E,basic,2023-02-01,2024-01-31,10
    E,pro,2024-02-10,,20
    F,basic,2022-03-31,,10
"""
TICKETS = """
    customer_id,opened_at,first_response_at,resolved_at
    A,2024-02-01,2024-02-01,2024-02-02
"""
SURVEYS = """
    customer_id,date,nps,csat
    B,2024-03-01,9,5
"""


def folder(tmp_path: Path) -> Path:
    return write_folder(
        tmp_path,
        customers=CUSTOMERS,
        transactions=TRANSACTIONS,
        offers=OFFERS,
        subscriptions=SUBSCRIPTIONS,
        tickets=TICKETS,
        surveys=SURVEYS,
    )


def test_activity_by_hand(tmp_path: Path) -> None:
    section = run_analysis(Retention(), folder(tmp_path), "2024-Q1")
    m = metrics(section)
    assert m["buyers"].value == 3  # A, C, D
    assert m["buyers"].previous == 3  # A, B, E
    # Previous buyers A, B, E; B and E did not buy in Q1: 2 / 3.
    assert m["churn_rate"].value == pytest.approx(2 / 3)
    assert m["churn_rate"].previous is None  # nobody bought in 2023-Q3: no base
    # A (bought before) and C (two orders) of 3 buyers.
    assert m["repeat_rate"].value == pytest.approx(2 / 3)
    assert m["repeat_rate"].previous == pytest.approx(0.0)  # Q4: all first purchases
    # Net revenue 50 + 30 + 20 + 40 - 10 = 130 over 3 buyers; Q4: 240 / 3 = 80.
    assert m["revenue_per_client"].value == pytest.approx(130 / 3)
    assert m["revenue_per_client"].previous == pytest.approx(80.0)
    assert m["churn_rate"].headline and m["revenue_per_client"].headline


def test_renewals_offers_and_contacts_by_hand(tmp_path: Path) -> None:
    section = run_analysis(Retention(), folder(tmp_path), "2024-Q1")
    m = metrics(section)
    assert m["contracts_due"].value == 5
    assert m["renewal_rate"].value == pytest.approx(0.8)
    # Upsell 1 of 2 (A yes, C no); cross-sell 1 of 1 (D); all 2 of 3. Q4: B's cross-sell, 1 / 1.
    assert m["offer_rate_upsell"].value == pytest.approx(0.5)
    assert m["offer_rate_cross_sell"].value == pytest.approx(1.0)
    assert m["offer_rate_all"].value == pytest.approx(2 / 3)
    assert m["offer_rate_cross_sell"].previous == pytest.approx(1.0)
    assert m["offer_rate_upsell"].previous is None  # no upsell offered in Q4
    # Contacts: A 1 order + 1 ticket = 2, C 2 orders, D 1 order, B 1 survey answer:
    # 6 contacts over 4 contacted clients.
    assert m["contacts_per_client"].value == pytest.approx(1.5)
    contacts = section.tables["contacts"].frame.set_index("contacts")
    assert contacts.loc["1", "clients"] == 2 and contacts.loc["2", "clients"] == 2
    assert contacts.loc["5+", "clients"] == 0  # an empty band stays, with 0 clients


def test_breakdown_by_source_with_empty_groups(tmp_path: Path) -> None:
    section = run_analysis(Retention(), folder(tmp_path), "2024-Q1")
    by = section.tables["by_group"].frame
    src = by[by["by"] == "acquisition_source"].set_index("group")
    # web: A buys again, B does not -> churn 1/2; 1 buyer with 50 revenue.
    assert src.loc["web", "churn_rate"] == pytest.approx(0.5)
    assert src.loc["web", "revenue_per_client"] == pytest.approx(50.0)
    # ads: C and D are new -> no previous buyers, churn undefined; repeat 1 of 2.
    assert pd.isna(src.loc["ads", "churn_rate"])
    assert src.loc["ads", "repeat_rate"] == pytest.approx(0.5)
    # E has no source: (unknown) with no buyer now -> churn 1, revenue per client undefined.
    assert src.loc["(unknown)", "churn_rate"] == pytest.approx(1.0)
    assert pd.isna(src.loc["(unknown)", "revenue_per_client"])
    assert "events" not in src.index  # F never bought: no row


def test_anniversary_is_clamped_to_the_month_end() -> None:
    # Started 2023-01-31 with monthly terms: the anniversary in February 2024 is the 29th.
    start = pd.Series(pd.to_datetime(["2023-01-31", "2023-03-15"]))
    got = _anniversary_in(start, 1, parse_period("2024-02"))
    assert got.tolist() == [pd.Timestamp("2024-02-29"), pd.Timestamp("2024-02-15")]
    # Yearly terms started in March have no anniversary in February.
    assert _anniversary_in(start, 12, parse_period("2024-02")).isna().tolist() == [True, True]
