"""summarize() on a hand-built transactions table; expected values worked out by hand."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from segkit.data.engine import Engine
from segkit.data.summarize import summarize


@pytest.fixture
def transactions() -> pd.DataFrame:
    rows = [
        # A: two rows on 1 Jan (one purchase day worth 15); 8 Jan nets 20 - 5 = 15; 15 Jan is a
        # pure return (not a purchase day); 10 Feb worth 40; the row on as_of is excluded.
        ("A", "2024-01-01 10:00", 10.0),
        ("A", "2024-01-01 15:00", 5.0),
        ("A", "2024-01-08 09:00", 20.0),
        ("A", "2024-01-08 18:00", -5.0),
        ("A", "2024-01-15 12:00", -30.0),
        ("A", "2024-02-10 12:00", 40.0),
        ("A", "2024-03-01 00:00", 100.0),
        # B: a single purchase.
        ("B", "2024-02-01 08:00", 50.0),
        # C: only a return and a day that nets to 0 -> no purchase day -> not in the output.
        ("C", "2024-01-20 08:00", -10.0),
        ("C", "2024-01-25 08:00", 12.0),
        ("C", "2024-01-25 09:00", -12.0),
        # D: first seen after the calibration end used below.
        ("D", "2024-02-20 08:00", 30.0),
        ("D", "2024-02-25 08:00", 10.0),
        # E: only after as_of.
        ("E", "2024-03-05 08:00", 99.0),
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    df["date"] = pd.to_datetime(df["date"])
    return df


def test_summary_in_days(transactions: pd.DataFrame) -> None:
    out = summarize(transactions, as_of="2024-03-01", unit="D")
    assert list(out.index) == ["A", "B", "D"]
    # A: purchase days 1 Jan (15), 8 Jan (15), 10 Feb (40); 1 Jan -> 10 Feb = 40 days,
    # 1 Jan -> 1 Mar 2024 (leap year) = 60 days; repeat days mean (15 + 40) / 2.
    assert out.loc["A"].to_dict() == pytest.approx(
        {"frequency": 2, "recency": 40.0, "T": 60.0, "monetary_value": 27.5}
    )
    assert out.loc["B"].to_dict() == pytest.approx(
        {"frequency": 0, "recency": 0.0, "T": 29.0, "monetary_value": 0.0}
    )
    assert out.loc["D"].to_dict() == pytest.approx(
        {"frequency": 1, "recency": 5.0, "T": 10.0, "monetary_value": 10.0}
    )
    assert out["frequency"].dtype == "int64"


@pytest.mark.parametrize(("unit", "days"), [("W", 7.0), ("M", 30.4375), ("Y", 365.25)])
def test_units(transactions: pd.DataFrame, unit: str, days: float) -> None:
    out = summarize(transactions, as_of="2024-03-01", unit=unit)  # type: ignore[arg-type]
    assert out.loc["A", "recency"] == pytest.approx(40.0 / days)
    assert out.loc["A", "T"] == pytest.approx(60.0 / days)
    assert out.loc["A", "frequency"] == 2


def test_calibration_and_holdout(transactions: pd.DataFrame) -> None:
    out = summarize(transactions, as_of="2024-03-01", unit="D", calibration_end="2024-02-05")
    # D is first seen on 20 Feb, in the holdout: excluded.
    assert list(out.index) == ["A", "B"]
    # A: calibration days 1 Jan (15) and 8 Jan (15); T_cal = 1 Jan -> 5 Feb = 35 days;
    # holdout [5 Feb, 1 Mar): 10 Feb (40); holdout length 25 days.
    assert out.loc["A"].to_dict() == pytest.approx(
        {
            "frequency_cal": 1,
            "recency_cal": 7.0,
            "T_cal": 35.0,
            "monetary_value_cal": 15.0,
            "frequency_holdout": 1,
            "monetary_value_holdout": 40.0,
            "duration_holdout": 25.0,
        }
    )
    assert out.loc["B"].to_dict() == pytest.approx(
        {
            "frequency_cal": 0,
            "recency_cal": 0.0,
            "T_cal": 4.0,
            "monetary_value_cal": 0.0,
            "frequency_holdout": 0,
            "monetary_value_holdout": 0.0,
            "duration_holdout": 25.0,
        }
    )


@pytest.mark.parametrize("calibration_end", [None, "2024-02-05"])
def test_accepts_an_ibis_table(transactions: pd.DataFrame, calibration_end: str | None) -> None:
    # A table of the engine's backend (as the analyses pass their as-of view), not a frame.
    con = duckdb.connect()
    con.execute("CREATE TABLE transactions AS SELECT * FROM transactions")
    table = Engine.duckdb(con).table("transactions")
    pd.testing.assert_frame_equal(
        summarize(table, as_of="2024-03-01", unit="D", calibration_end=calibration_end),
        summarize(transactions, as_of="2024-03-01", unit="D", calibration_end=calibration_end),
    )


def test_bad_arguments(transactions: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="unit"):
        summarize(transactions, as_of="2024-03-01", unit="Q")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="amount"):
        summarize(transactions.drop(columns="amount"), as_of="2024-03-01")
    with pytest.raises(ValueError, match="calendar date"):
        summarize(transactions, as_of="2024-03-01 12:00")
    with pytest.raises(ValueError, match="after as_of"):
        summarize(transactions, as_of="2024-03-01", calibration_end="2024-04-01")
