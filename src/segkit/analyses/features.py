"""Per-client features as of a period's end, shared by the segmentation analyses.

The engine (DuckDB or Spark) aggregates the as-of transactions and surveys in one Ibis
expression, one row per client with a purchase before the cut-off; the customers table's columns
(as of the cut-off) are then joined to it. Definitions (``end`` is the period's exclusive
end; "year" is the twelve months ending at ``end``; amounts net of returns):

* ``first_purchase`` / ``last_purchase``: dates of the first and last row with amount > 0.
* ``recency_days``: days from ``last_purchase`` to ``end``.
* ``orders_total`` / ``orders_year`` / ``orders_period``: distinct purchases (an order id, or a
  day when rows carry no order id) with a positive amount, to date / in the year / in the period.
* ``revenue_total`` / ``revenue_year`` / ``revenue_prev_year`` / ``revenue_period``: net amount
  to date / in the year / in the twelve months before that / in the period.
* ``margin_year`` / ``margin_period``: net margin (revenue when the data has no margin).
* ``avg_order_value``: gross amount of positive rows in the year / ``orders_year``.
* ``active_months_year``: calendar months (0-12) of the year with at least one purchase; a
  measure of order regularity.
* ``tenure_days``: whole days from ``signup_date`` (else the date of ``first_purchase``) to
  ``end``.
* ``yoy_growth``: ``revenue_year / revenue_prev_year - 1``; empty when the earlier year is <= 0.
* ``nps_last`` / ``csat_mean``: last NPS answer (of several at the same last time, the highest)
  and mean CSAT to date, when surveys exist.
* plus every column of the customers table (region, acquisition_source, referrals ...).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from segkit.analyses.segmenter import column_values, positions
from segkit.data.engine import bit_count, bit_or, money_sum
from segkit.data.load import ORDER_PREV
from segkit.engine.context import PeriodContext
from segkit.periods import Period, add_months

#: The features taken as aggregated, in the order of the frame's columns.
_FROM_ROWS = (
    "first_purchase",
    "last_purchase",
    "orders_total",
    "orders_year",
    "orders_period",
    "active_months_year",
    "revenue_total",
    "revenue_year",
    "revenue_prev_year",
    "revenue_period",
    "margin_year",
    "margin_period",
)


def client_features(ctx: PeriodContext, period: Period | None = None) -> pd.DataFrame:
    """Features of every client as of the end of ``period`` (default ``ctx.period``). Cached;
    computed with the report's other period (see :meth:`PeriodContext.memo_periods`)."""
    return _computed(ctx, period or ctx.period)[0]


def returns_only_clients(ctx: PeriodContext, period: Period | None = None) -> int:
    """Clients with rows before the end of ``period`` (default ``ctx.period``), all of them
    returns (amount <= 0): they have never bought, so they have no features."""
    return _computed(ctx, period or ctx.period)[1]


def _computed(ctx: PeriodContext, period: Period) -> tuple[pd.DataFrame, int]:
    return ctx.memo_periods(("features",), period, lambda ps: _features(ctx, ps))


def _features(ctx: PeriodContext, periods: tuple[Period, ...]) -> list[tuple[pd.DataFrame, int]]:
    """:func:`client_features` and :func:`returns_only_clients` of each of ``periods`` (the
    latest first), from one query.

    Each frame is built once from its columns: selecting, filtering and concatenating frames
    copied ~100 MB per step at 1 M clients.
    """
    wide = ctx.execute(features_expr(ctx, periods))
    latest = periods[0].end
    # Fetched once for all the periods, and not kept afterwards (~0.3 GB at 1 M customers).
    customers = (
        ctx.execute(ctx.view("customers", latest).order_by("customer_id"))
        if ctx.has("customers")
        else None
    )
    # Each client's row in the frame of the latest period (its rows are the clients of any
    # earlier period too) and, once matched, that client's row in `customers`.
    latest_row = np.cumsum(wide["first_purchase__0"].notna().to_numpy()) - 1
    in_customers: np.ndarray | None = None
    out = []
    for i, p in enumerate(periods):
        suffix = f"__{i}"
        # Clients are those who had bought by the period's end; those who had only returned
        # something have rows (a net amount) but no purchase. The latest period's rows are a
        # leading slice, taken as views; an earlier period's are copied out of the result.
        has = wide[f"first_purchase{suffix}"].notna().to_numpy()
        returns_only = int((wide[f"revenue_total{suffix}"].notna().to_numpy() & ~has).sum())
        rows = _leading(has)
        columns: dict[str, Any] = {}
        for name in wide.columns:
            if name == "customer_id" or name.endswith(suffix):
                columns[name.removesuffix(suffix)] = _engine_type(column_values(wide[name])[rows])
        if customers is None:
            attributes = pd.DataFrame(index=range(len(columns["customer_id"])))
        elif in_customers is None:
            in_customers = positions(
                pd.Index(columns["customer_id"]), pd.Index(customers["customer_id"])
            )
            attributes = _attributes(customers, in_customers)
        else:
            # As of an earlier end: the same clients' rows among the customers known then,
            # renumbered without another match of the ids.
            kept = ctx.dataset.as_of_kept("customers", customers, p.end)
            row = (
                np.arange(len(customers)) if kept is None else np.where(kept, kept.cumsum() - 1, -1)
            )
            then = np.append(row, -1)[in_customers[latest_row[np.flatnonzero(has)]]]
            attributes = _attributes(ctx.dataset.as_of_frame("customers", customers, p.end), then)
        # The customers' columns go before the surveys', as the engine used to join them.
        at = list(columns).index("yoy_growth") + 1
        names = [*list(columns)[:at], *attributes.columns, *list(columns)[at:]]
        columns |= {c: column_values(attributes[c]) for c in attributes.columns}
        # Not consolidated into 2-D blocks: that would copy every column once more.
        frame = pd.DataFrame({c: columns[c] for c in names}, copy=False)
        start = frame["signup_date"] if "signup_date" in frame else frame["first_purchase"]
        frame["tenure_days"] = _whole_days(start.fillna(frame["first_purchase"]), p.end)
        out.append((frame, returns_only))
    return out


def _leading(mask: np.ndarray) -> slice | np.ndarray:
    """``mask`` as a slice when its true values come first (taking a slice is a view), else
    the mask itself."""
    n = int(mask.sum())
    return slice(0, n) if mask[:n].all() else mask


def _engine_type(values: Any) -> Any:
    """``values`` in the type the engine gives a column without NULLs when they have none
    (a nullable integer column of an earlier period, NULL only for clients left out)."""
    if not isinstance(values, pd.arrays.IntegerArray | pd.arrays.BooleanArray):
        return values
    return values if values.isna().any() else values.to_numpy(dtype=values.dtype.numpy_dtype)


def features_expr(ctx: PeriodContext, periods: tuple[Period, ...]) -> ir.Table:
    """The engine's part of :func:`client_features` for each of ``periods``, the latest first
    (from transactions and surveys; the customers' columns and the tenure are added in pandas):
    one row per client with a row by the latest end, with the features of period ``i`` in
    columns suffixed ``__i`` (empty ``first_purchase__i`` for a client who had not bought by
    period ``i``'s end, and also empty ``revenue_total__i`` for one without any row by then).
    Ordered by ``customer_id``, the clients who had bought by the latest end first.
    """
    latest = periods[0].end
    if any(p.end > latest for p in periods):
        raise ValueError("the first period must end last")
    # The transactions' only date is their event date, so the rows known at an earlier end are
    # those of the latest view dated before it.
    tx = ctx.view("transactions", latest)
    provided = ctx.dataset.columns("transactions")
    margin = tx.margin if "margin" in provided else tx.amount
    purchase = tx.amount > 0
    prev = tx[ORDER_PREV]
    zero = ibis.literal(0.0)
    aggregates: dict[str, ir.Scalar] = {}
    for i, p in enumerate(periods):
        known = tx.date < ibis.timestamp(p.end)
        year_start = add_months(p.end, -12)
        in_year = known & (tx.date >= ibis.timestamp(year_start))
        in_period = known & (tx.date >= ibis.timestamp(p.start))
        in_prev_year = (tx.date >= ibis.timestamp(add_months(p.end, -24))) & (
            tx.date < ibis.timestamp(year_start)
        )
        # The months of the year with a purchase travel as a 12-bit mask.
        month0 = year_start.year * 12 + year_start.month - 1
        month_bit = ibis.literal(1, "int64") << (tx.date.year() * 12 + tx.date.month() - 1 - month0)
        active = bit_or(ibis.ifelse(purchase & in_year, month_bit, ibis.null("int64")))
        aggregates |= {
            f"first_purchase__{i}": tx.date.min(where=purchase & known).cast("date"),
            f"last_purchase__{i}": tx.date.max(where=purchase & known).cast("date"),
            f"active_months_year__{i}": bit_count(active).fill_null(0).cast("int64"),
            f"revenue_total__{i}": money_sum(tx.amount, known),
            f"revenue_year__{i}": money_sum(tx.amount, in_year).fill_null(zero),
            f"revenue_prev_year__{i}": money_sum(tx.amount, in_prev_year).fill_null(zero),
            f"revenue_period__{i}": money_sum(tx.amount, in_period).fill_null(zero),
            f"margin_year__{i}": money_sum(margin, in_year).fill_null(zero),
            f"margin_period__{i}": money_sum(margin, in_period).fill_null(zero),
            f"gross_year__{i}": money_sum(tx.amount, purchase & in_year).fill_null(zero),
        }
        # A purchase (order) is counted in a window by its first row there (ORDER_PREV).
        aggregates |= {
            f"orders_total__{i}": tx.count(where=purchase & known & prev.isnull()),
            f"orders_year__{i}": tx.count(
                where=purchase & in_year & _first_since(prev, year_start)
            ),
            f"orders_period__{i}": tx.count(
                where=purchase & in_period & _first_since(prev, p.start)
            ),
        }
    c = tx.group_by("customer_id").aggregate(**aggregates)
    columns: dict[str, ir.Value] = {"customer_id": c.customer_id}
    for i, p in enumerate(periods):
        f = {name: c[f"{name}__{i}"] for name in (*_FROM_ROWS, "gross_year")}
        columns |= {f"{name}__{i}": f[name] for name in _FROM_ROWS}
        columns[f"recency_days__{i}"] = ibis.date(p.end).delta(f["last_purchase"], unit="day")
        columns[f"avg_order_value__{i}"] = ibis.ifelse(
            f["orders_year"] > 0, f["gross_year"] / f["orders_year"], None
        )
        columns[f"yoy_growth__{i}"] = ibis.ifelse(
            f["revenue_prev_year"] > 0, f["revenue_year"] / f["revenue_prev_year"] - 1, None
        )
    out = c.select(**columns)
    if ctx.has("surveys"):
        for i, p in enumerate(periods):
            surveys = _survey_features(ctx.view("surveys", p.end)).rename(
                {f"nps_last__{i}": "nps_last", f"csat_mean__{i}": "csat_mean"}
            )
            out = out.left_join(surveys, "customer_id").drop("customer_id_right")
    # The latest period's clients come first, so that its columns are leading slices of the
    # result's (views: taking ~30 columns of 825,000 rows copied ~0.2 GB).
    return out.order_by([out.first_purchase__0.isnull(), "customer_id"])


def _first_since(prev: ir.TimestampColumn, start: date) -> ir.BooleanColumn:
    """Whether a purchase row is its purchase's first on or after ``start``."""
    return prev.isnull() | (prev < ibis.timestamp(start))


def _attributes(customers: pd.DataFrame, at: np.ndarray) -> pd.DataFrame:
    """The columns of ``customers`` (a customers table as of a period's end) but its ids, at
    rows ``at``; missing values where ``at`` is -1 (a client with no known customer row).

    Joined here rather than in the engine: converting the text attributes of every client for
    each period took about as long as computing the features (~1.5 s at 1 M clients).
    """
    names = [c for c in customers.columns if c != "customer_id"]
    if (at >= 0).all():
        # Column by column: dropping the id column first copied the whole table.
        out = pd.DataFrame({c: column_values(customers[c])[at] for c in names}, copy=False)
    else:
        # Missing values as the engine gives them after a left join (as when it joined the
        # table): NULL integers and booleans in pandas' nullable types, None in text columns.
        rows = customers[names]
        nullable = {
            c: "boolean" if t.kind == "b" else "Int64"
            for c, t in rows.dtypes.items()
            if t.kind in "iub"
        }
        out = rows.astype(nullable).reindex(at)
        for c in out.select_dtypes(include="object").columns:
            out[c] = out[c].where(out[c].notna(), None)
    out.index = pd.RangeIndex(len(out))  # reset_index() would copy the rows again
    return out


def _whole_days(start: pd.Series, end: date) -> pd.Series:
    """Whole days from each ``start`` timestamp to the date ``end``, like a timedelta's
    ``.days`` (a signup at 10:00 is not a day yet); counted on calendar dates, so no time
    zone's daylight-saving hour shifts it."""
    t = start.to_numpy(dtype="datetime64[us]")
    day = t.astype("datetime64[D]")
    days = (np.datetime64(end, "D") - day).astype(np.int64) - (day < t)
    return pd.Series(days, index=start.index)


def _survey_features(surveys: ir.Table) -> ir.Table:
    """Per client: the last NPS answer (highest of ties at the last time) and the mean CSAT."""
    answered = surveys.filter(surveys.nps.notnull())
    last = answered.group_by("customer_id").aggregate(at=answered.date.max())
    nps = (
        answered.join(last, [answered.customer_id == last.customer_id, answered.date == last.at])
        .group_by("customer_id")
        .aggregate(nps_last=ibis._.nps.max())
    )
    csat = surveys.group_by("customer_id").aggregate(csat_mean=surveys.csat.mean())
    return csat.left_join(nps, "customer_id").select("customer_id", "nps_last", "csat_mean")
