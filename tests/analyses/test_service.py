"""Response and resolution times of hand-built tickets, open tickets censored at the cut-off."""

from __future__ import annotations

from pathlib import Path

import pytest
from relationship_data import metrics, run_analysis, write_folder

from segkit.analyses.service import Service
from segkit.config import Config
from segkit.data.load import load_dataset
from segkit.errors import DataError

CUSTOMERS = """
    customer_id,acquisition_source
    A,web
    B,ads
"""
TRANSACTIONS = """
    customer_id,date,amount
    A,2024-01-02,10
"""
# 2024-Q1 (cut-off 2024-04-01 00:00). Hours: response / resolution.
# T1 2 / 10; T2 4 / 24; T3 1 / 48; T4 opened 2024-03-31, nothing yet: censored at 24 / 24;
# T5 response 6, resolved 2024-04-02 (after the cut-off, blanked): censored at 48;
# T6 resolved after 24 h without a recorded first response: no response time.
TICKETS = """
    customer_id,opened_at,first_response_at,resolved_at
    A,2024-01-01 00:00,2024-01-01 02:00,2024-01-01 10:00
    A,2024-01-02 00:00,2024-01-02 04:00,2024-01-03 00:00
    B,2024-01-03 00:00,2024-01-03 01:00,2024-01-05 00:00
    B,2024-03-31 00:00,,
    B,2024-03-30 00:00,2024-03-30 06:00,2024-04-02 00:00
    A,2024-02-01 00:00,,2024-02-02 00:00
    A,2023-12-01 00:00,2023-12-01 03:00,2023-12-01 05:00
"""


def test_section_by_hand(tmp_path: Path) -> None:
    data = write_folder(tmp_path, customers=CUSTOMERS, transactions=TRANSACTIONS, tickets=TICKETS)
    section = run_analysis(Service(), data, "2024-Q1", {"response_target_hours": 8})
    m = metrics(section)
    assert m["tickets"].value == 6
    # Resolution: 10, 24, 24 (T6), 48 events; 24+, 48+ censored.
    # t=10: 6 at risk -> S = 5/6; t=24: 5 at risk, 2 events -> 5/6 x 3/5 = 1/2;
    # t=48: 2 at risk (T3, T5+), 1 event -> 1/4. Median: first S <= 1/2 -> 24 h.
    # 90th percentile: S never reaches 0.1 -> not reached.
    assert m["resolution_median"].value == pytest.approx(24.0)
    assert m["resolution_p90"].value is None
    # Within the default 48 h: 1 - S(48) = 3/4.
    assert m["resolution_within"].value == pytest.approx(0.75)
    # Response (T6 left out): 1, 2, 4, 6 events and 24+ censored.
    # S: 4/5, 3/5, 2/5, 1/5 -> median 4 h; within 8 h: 1 - S(8) = 4/5; p90 not reached.
    assert m["response_median"].value == pytest.approx(4.0)
    assert m["response_within"].value == pytest.approx(0.8)
    assert m["response_p90"].value is None
    # 2023-Q4: one ticket, answered in 3 h, resolved in 5 h.
    assert m["response_median"].previous == pytest.approx(3.0)
    assert m["resolution_median"].previous == pytest.approx(5.0)
    assert any(
        "1 ticket(s) were resolved without a recorded first response" in n for n in section.notes
    )
    overview = section.tables["overview"].frame.set_index("measure")
    assert overview.loc["resolution", "censored"] == 2
    assert overview.loc["response", "tickets"] == 5

    by = section.tables["resolution_by_group"].frame
    src = by[by["by"] == "acquisition_source"].set_index("group")
    # web (A): 10, 24, 24 -> S = 2/3, 0 -> median 24; ads (B): 48, 24+, 48+ -> S(48) = 1/2.
    assert src.loc["web", "median"] == pytest.approx(24.0)
    assert src.loc["ads", "median"] == pytest.approx(48.0)
    assert src.loc["ads", "censored"] == 2


def test_period_without_tickets(tmp_path: Path) -> None:
    data = write_folder(tmp_path, customers=CUSTOMERS, transactions=TRANSACTIONS, tickets=TICKETS)
    section = run_analysis(Service(), data, "2023-Q2")
    m = metrics(section)
    assert m["tickets"].value == 0
    assert m["resolution_median"].value is None and m["resolution_within"].value is None
    assert section.figures == []


def test_ticket_resolved_before_opened_is_rejected(tmp_path: Path) -> None:
    bad = (
        "customer_id,opened_at,first_response_at,resolved_at\n"
        "A,2024-01-01 00:00,2024-01-01 02:00,2024-01-01 10:00\n"
        "A,2024-01-05 00:00,,2024-01-04 09:00\n"
    )
    data = write_folder(tmp_path, customers=CUSTOMERS, transactions=TRANSACTIONS, tickets=bad)
    with pytest.raises(DataError) as err:
        load_dataset(data, Config())
    assert err.value.column == "resolved_at"
    assert err.value.rows == [3]
    text = str(err.value)
    assert "tickets.csv" in text and "is before opened_at" in text and "2024-01-04" in text


def test_response_before_opened_is_rejected(tmp_path: Path) -> None:
    bad = (
        "customer_id,opened_at,first_response_at,resolved_at\n"
        "A,2024-01-05 10:00,2024-01-05 09:00,\n"
    )
    data = write_folder(tmp_path, customers=CUSTOMERS, transactions=TRANSACTIONS, tickets=bad)
    with pytest.raises(DataError, match="first_response_at") as err:
        load_dataset(data, Config())
    assert err.value.rows == [2]
