"""Per-customer frequency / recency / T / monetary value, the input of the CLV models.

Computed in DuckDB, so tens of millions of transaction rows summarise in about a second.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, TypeAlias

import duckdb
import pandas as pd

Unit = Literal["D", "W", "M", "Y"]

#: Length of one time unit in days (M and Y are the mean Gregorian month and year).
UNIT_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 30.4375, "Y": 365.25}

_REQUIRED = ("customer_id", "date", "amount")

DateLike: TypeAlias = str | date | datetime | pd.Timestamp


def _as_day(value: DateLike, name: str) -> pd.Timestamp:
    day = pd.Timestamp(value)
    if day.tzinfo is not None or day != day.normalize():
        raise ValueError(
            f"{name} must be a calendar date (midnight, no time zone), got {value!r}; the "
            "summary counts whole purchase days."
        )
    return day


def summarize(
    transactions: pd.DataFrame | duckdb.DuckDBPyRelation,
    as_of: DateLike,
    unit: Unit = "W",
    calibration_end: DateLike | None = None,
) -> pd.DataFrame:
    """Summarise transactions per customer, following lifetimes' conventions.

    ``transactions`` has columns ``customer_id``, ``date`` (date or timestamp) and ``amount``.

    Definitions:

    * Only rows with ``date < as_of`` count (half-open; ``as_of`` is a date).
    * A *purchase* is a calendar day with purchases; the day's amounts are summed. Returns
      (negative amounts) are netted into the day they occur on, and a day whose net amount is
      <= 0 is not a purchase day; a return on a later day does not change earlier days' values.
      Customers with no purchase day are left out.
    * ``frequency``: number of repeat purchase days (purchase days after the first).
    * ``recency``: last purchase day - first purchase day, in ``unit``.
    * ``T``: ``as_of`` - first purchase day, in ``unit`` (so recency < T).
    * ``monetary_value``: mean value of the repeat purchase days; 0 when frequency is 0.
    * ``unit``: D (day), W (7 days), M (30.4375 days) or Y (365.25 days); values are floats.

    With ``calibration_end`` (a date, ``< as_of``), the calibration window is
    ``date < calibration_end`` and the holdout ``[calibration_end, as_of)``; the columns are
    ``frequency_cal``, ``recency_cal``, ``T_cal`` (= calibration_end - first purchase day),
    ``monetary_value_cal`` (defined as above on the calibration window), ``frequency_holdout``
    (purchase days in the holdout), ``monetary_value_holdout`` (their mean value, 0 if none) and
    ``duration_holdout`` (holdout length in ``unit``). Customers whose first purchase day is in
    the holdout are excluded.

    Returns a DataFrame indexed by ``customer_id``, sorted by it.
    """
    if unit not in UNIT_DAYS:
        raise ValueError(f"unit must be one of {sorted(UNIT_DAYS)}, got {unit!r}.")
    end = _as_day(as_of, "as_of")
    split = end if calibration_end is None else _as_day(calibration_end, "calibration_end")
    if split > end:
        raise ValueError("calibration_end must not be after as_of.")
    if isinstance(transactions, pd.DataFrame):
        con = duckdb.connect()
        # Output order is fixed by the final sort, so DuckDB need not keep row order.
        con.execute("SET preserve_insertion_order = false")
        relation = con.from_df(transactions)
    else:
        relation = transactions
    missing = [c for c in _REQUIRED if c not in relation.columns]
    if missing:
        raise ValueError(
            f"transactions lack column(s) {missing}; expected {list(_REQUIRED)} (see the data "
            "contract)."
        )
    days = UNIT_DAYS[unit]
    end_sql, split_sql = f"DATE '{end:%Y-%m-%d}'", f"DATE '{split:%Y-%m-%d}'"
    # Day-level nets first, then one pass per customer. arg_min(value, day) is the first
    # purchase day's value, which is excluded from the repeat-purchase mean.
    purchase_days = f"""
        SELECT customer_id, CAST(date AS DATE) AS day, CAST(SUM(amount) AS DOUBLE) AS value
        FROM transactions
        WHERE date < {end_sql}
        GROUP BY ALL
        HAVING SUM(amount) > 0
    """
    if calibration_end is None:
        sql = f"""
            SELECT customer_id,
                   CAST(COUNT(*) - 1 AS BIGINT) AS frequency,
                   date_diff('day', MIN(day), MAX(day)) / {days} AS recency,
                   date_diff('day', MIN(day), {end_sql}) / {days} AS T,
                   CASE WHEN COUNT(*) > 1
                        THEN (SUM(value) - arg_min(value, day)) / (COUNT(*) - 1)
                        ELSE 0 END AS monetary_value
            FROM ({purchase_days})
            GROUP BY customer_id
        """
    else:
        sql = f"""
            WITH per_customer AS (
                SELECT customer_id,
                       MIN(day) AS first_day,
                       MAX(day) FILTER (WHERE day < {split_sql}) AS last_cal,
                       COUNT(*) FILTER (WHERE day < {split_sql}) AS n_cal,
                       SUM(value) FILTER (WHERE day < {split_sql}) AS total_cal,
                       arg_min(value, day) AS first_value,
                       COUNT(*) FILTER (WHERE day >= {split_sql}) AS n_holdout,
                       SUM(value) FILTER (WHERE day >= {split_sql}) AS total_holdout
                FROM ({purchase_days})
                GROUP BY customer_id
                HAVING MIN(day) < {split_sql}
            )
            SELECT customer_id,
                   CAST(n_cal - 1 AS BIGINT) AS frequency_cal,
                   date_diff('day', first_day, last_cal) / {days} AS recency_cal,
                   date_diff('day', first_day, {split_sql}) / {days} AS T_cal,
                   CASE WHEN n_cal > 1 THEN (total_cal - first_value) / (n_cal - 1)
                        ELSE 0 END AS monetary_value_cal,
                   CAST(n_holdout AS BIGINT) AS frequency_holdout,
                   CASE WHEN n_holdout > 0 THEN total_holdout / n_holdout
                        ELSE 0 END AS monetary_value_holdout,
                   date_diff('day', {split_sql}, {end_sql}) / {days} AS duration_holdout
            FROM per_customer
        """
    # Sorting in pandas is cheaper than an ORDER BY over a million customers in DuckDB.
    result = relation.query("transactions", sql)
    assert result is not None  # a SELECT always yields a relation
    return result.df().set_index("customer_id").sort_index()
