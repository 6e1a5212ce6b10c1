"""client_features on a hand-built folder, every value worked out by hand (period 2024-Q4).

The report period ends 2025-01-01; the year is 2024, the year before it 2023, the period
2024-10-01 to 2025-01-01.

* X: 2023-06-10 100 (order x1, the earlier year); 2024-03-01 200 + 50 (two lines of order x2);
  2024-10-05 300 (x3); 2024-11-01 -40 (a return, x4). Signed up 2022-01-01 12:30.
* Y: 2024-12-20 80 and 20, no order id (one order: the day). Signs up 2025-02-01, after the
  cut-off, so as of 2024-Q4 the customers table does not know Y yet.
* W: 2024-06-01 60; not in the customers table at all.
* V: only a return (not a client); Z: buys after the cut-off (not seen).
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segkit.analyses.features import client_features, returns_only_clients
from segkit.api import open_data
from segkit.engine.context import PeriodContext
from segkit.periods import parse_period

TRANSACTIONS = """customer_id,date,amount,margin,order_id
X,2023-06-10 09:00,100,30,x1
X,2024-03-01 10:00,200,50,x2
X,2024-03-01 10:00,50,10,x2
X,2024-10-05 12:00,300,90,x3
X,2024-11-01 08:00,-40,-10,x4
Y,2024-12-20 15:00,80,20,
Y,2024-12-20 18:00,20,5,
W,2024-06-01 00:00,60,6,w1
V,2024-05-01 00:00,-30,-3,v1
Z,2025-01-05 00:00,500,100,z1
"""

CUSTOMERS = """customer_id,signup_date,region,income_band
X,2022-01-01 12:30,north,high
Y,2025-02-01,south,low
"""

# Two answers at X's last time: the higher NPS (9) counts; CSAT is the mean of 4 and 2.
SURVEYS = """customer_id,date,nps,csat
X,2024-05-01,,2
X,2024-11-10,9,4
X,2024-11-10,6,
"""


def features(tmp_path: Path, customers: bool = True) -> pd.DataFrame:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "transactions.csv").write_text(TRANSACTIONS)
    (folder / "surveys.csv").write_text(SURVEYS)
    if customers:
        (folder / "customers.csv").write_text(CUSTOMERS)
    period = parse_period("2024-Q4")
    frame = client_features(PeriodContext(open_data(folder), period, {}))
    return frame.set_index("customer_id")


def test_transaction_and_survey_features(tmp_path: Path) -> None:
    f = features(tmp_path)
    assert list(f.index) == ["W", "X", "Y"]
    x = f.loc["X"]
    assert x["first_purchase"] == datetime(2023, 6, 10)
    assert x["last_purchase"] == datetime(2024, 10, 5)
    assert (x["orders_total"], x["orders_year"], x["orders_period"]) == (3, 2, 1)
    assert x["active_months_year"] == 2  # March and October
    assert x["revenue_total"] == 610 and x["revenue_year"] == 510
    assert x["revenue_prev_year"] == 100 and x["revenue_period"] == 260
    assert (x["margin_year"], x["margin_period"]) == (140, 80)
    assert x["recency_days"] == 88
    assert x["avg_order_value"] == 275  # (200 + 50 + 300) / 2 orders
    assert x["yoy_growth"] == pytest.approx(4.1)
    assert (x["nps_last"], x["csat_mean"]) == (9, 3)
    y = f.loc["Y"]
    assert (y["orders_total"], y["revenue_year"], y["recency_days"]) == (1, 100, 12)
    assert math.isnan(y["yoy_growth"])  # nothing bought the year before


def test_customer_columns_and_tenure(tmp_path: Path) -> None:
    f = features(tmp_path)
    # X signed up at 12:30 on a day 1096 days before the end: 1095 whole days.
    assert (f.loc["X", "region"], f.loc["X", "income_band"], f.loc["X", "tenure_days"]) == (
        "north",
        "high",
        1095,
    )
    # Y is not known as of the cut-off and W never: no attributes, tenure from the date of the
    # first purchase (Y's, twelve days before the end).
    for client in ("Y", "W"):
        assert f.loc[client, "region"] is None and f.loc[client, "income_band"] is None
        assert pd.isna(f.loc[client, "signup_date"])
    assert (f.loc["Y", "tenure_days"], f.loc["W", "tenure_days"]) == (12, 214)


def test_surveys_without_a_customers_table(tmp_path: Path) -> None:
    f = features(tmp_path, customers=False)
    assert "region" not in f and "signup_date" not in f
    assert f.loc["X", "tenure_days"] == 571  # from the date of the first purchase, 2023-06-10
    assert f.loc["X", "nps_last"] == 9


def test_the_previous_period_comes_with_the_report_period(tmp_path: Path) -> None:
    # 2024-Q3 (end 2024-10-01), computed with 2024-Q4 in one query: Y has not bought yet.
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "transactions.csv").write_text(TRANSACTIONS)
    (folder / "customers.csv").write_text(CUSTOMERS)
    dataset = open_data(folder)
    q3 = parse_period("2024-Q3")
    f = client_features(PeriodContext(dataset, parse_period("2024-Q4"), {}), q3)
    x = f.set_index("customer_id").loc["X"]
    assert list(f["customer_id"]) == ["W", "X"]
    assert (x["orders_total"], x["orders_year"], x["orders_period"]) == (2, 1, 0)
    assert (x["revenue_year"], x["revenue_prev_year"], x["recency_days"]) == (250, 100, 214)
    assert (x["region"], x["tenure_days"]) == ("north", 1003)
    # The same frame, types included, as when 2024-Q3 is the report's period.
    alone = client_features(PeriodContext(dataset, q3, {}))
    pd.testing.assert_frame_equal(f, alone, check_exact=True)


def test_clients_with_only_returns_are_counted(tmp_path: Path) -> None:
    # V's only row is a return (2024-05-01): counted as of both ends, and never a client.
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "transactions.csv").write_text(TRANSACTIONS)
    ctx = PeriodContext(open_data(folder), parse_period("2024-Q4"), {})
    assert returns_only_clients(ctx) == 1
    assert returns_only_clients(ctx, parse_period("2024-Q3")) == 1
    assert returns_only_clients(ctx, parse_period("2024-Q1")) == 0  # before V's return


# Orders whose lines straddle the windows' edges, as of 2024-Q4 (year from 2024-01-01, period
# from 2024-10-01). U's u1 has lines on both sides of the period's start, u2 on both sides of
# the year's start, u3 a purchase line and a return line (the return is no purchase), and two
# lines of u4 share one time. T buys twice on 2024-11-03 without an order id (one purchase:
# the day) and once with an order id that day (another).
STRADDLING = """customer_id,date,amount,order_id
U,2023-12-31 10:00,10,u2
U,2024-01-02 10:00,10,u2
U,2024-09-30 10:00,10,u1
U,2024-10-02 10:00,10,u1
U,2024-10-03 10:00,-5,u3
U,2024-10-04 10:00,10,u3
U,2024-10-05 10:00,10,u4
U,2024-10-05 10:00,12,u4
T,2024-11-03 09:00,10,
T,2024-11-03 17:00,10,
T,2024-11-03 12:00,10,t1
"""


def test_orders_are_counted_in_every_window_they_have_a_line_in(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "transactions.csv").write_text(STRADDLING)
    dataset = open_data(folder)
    f = client_features(PeriodContext(dataset, parse_period("2024-Q4"), {})).set_index(
        "customer_id"
    )
    # U: u1..u4 in all; u1, u2, u3, u4 in the year; u1, u3, u4 in the period.
    assert tuple(f.loc["U", ["orders_total", "orders_year", "orders_period"]]) == (4, 4, 3)
    assert tuple(f.loc["T", ["orders_total", "orders_year", "orders_period"]]) == (2, 2, 2)
    # As of 2024-Q3 (end 2024-10-01): u1's 2024-10-02 line is not known; u1 and u2 in the year.
    q3 = client_features(PeriodContext(dataset, parse_period("2024-Q3"), {}))
    u = q3.set_index("customer_id").loc["U"]
    assert (u["orders_total"], u["orders_year"], u["orders_period"]) == (2, 2, 1)


def test_order_counts_match_distinct_orders_of_random_data(tmp_path: Path) -> None:
    # Orders of 1-3 lines, each line on one of a few days around the windows' edges, some
    # without an order id, some returns; counted here by distinct keys per window.
    rng = np.random.default_rng(7)
    days = pd.to_datetime(
        [
            "2023-12-31",
            "2024-01-01",
            "2024-06-30",
            "2024-07-01",
            "2024-09-30",
            "2024-10-01",
            "2024-12-31",
            "2025-01-01",
        ]
    )
    rows = []
    for order in range(400):
        client = f"C{rng.integers(12)}"
        order_id = "" if rng.random() < 0.25 else f"o{order % 150}"  # ids shared by clients
        for _ in range(rng.integers(1, 4)):
            amount = -5 if rng.random() < 0.15 else 10
            when = days[rng.integers(len(days))] + pd.Timedelta(hours=int(rng.integers(24)))
            rows.append((client, when, amount, order_id, f"p{len(rows)}"))
    tx = pd.DataFrame(rows, columns=["customer_id", "date", "amount", "order_id", "product"])
    folder = tmp_path / "data"
    folder.mkdir()
    tx.to_csv(folder / "transactions.csv", index=False)
    dataset = open_data(folder)
    bought = tx[tx["amount"] > 0].assign(
        key=lambda t: t["order_id"].where(t["order_id"] != "", t["date"].dt.strftime("%Y-%m-%d"))
    )
    for name in ("2024-Q3", "2024-Q4", "2024-12"):
        period = parse_period(name)
        f = client_features(PeriodContext(dataset, period, {})).set_index("customer_id")
        end = pd.Timestamp(period.end)
        for column, start in (
            ("orders_total", pd.Timestamp.min),
            ("orders_year", end - pd.DateOffset(years=1)),
            ("orders_period", pd.Timestamp(period.start)),
        ):
            window = bought[(bought["date"] >= start) & (bought["date"] < end)]
            expected = window.groupby("customer_id")["key"].nunique()
            got = f[column]
            assert got[got > 0].sort_index().to_dict() == expected.sort_index().to_dict(), (
                name,
                column,
            )
