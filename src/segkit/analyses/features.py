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

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from segkit.analyses.segmenter import match_ids
from segkit.data.engine import bit_count, bit_or, money_sum
from segkit.engine.context import PeriodContext
from segkit.periods import Period, add_months


def client_features(ctx: PeriodContext, period: Period | None = None) -> pd.DataFrame:
    """Features of every client as of the end of ``period`` (default ``ctx.period``). Cached."""
    p = period or ctx.period
    return ctx.memo(("features", p), lambda: _features(ctx, p))


def _features(ctx: PeriodContext, p: Period) -> pd.DataFrame:
    frame = ctx.execute(features_expr(ctx, p))
    attributes = _attributes(ctx, p, pd.Index(frame["customer_id"]))
    at = frame.columns.get_loc("yoy_growth") + 1
    out = pd.concat([frame.iloc[:, :at], attributes, frame.iloc[:, at:]], axis=1)
    start = out["signup_date"] if "signup_date" in out else out["first_purchase"]
    out["tenure_days"] = _whole_days(start.fillna(out["first_purchase"]), p.end)
    return out


def features_expr(ctx: PeriodContext, p: Period) -> ir.Table:
    """The engine's part of :func:`client_features` (from transactions and surveys; the
    customers' columns and the tenure are added in pandas), ordered by ``customer_id``."""
    end, year_start = p.end, add_months(p.end, -12)
    tx = ctx.view("transactions", end)
    provided = ctx.dataset.columns("transactions")
    margin = tx.margin if "margin" in provided else tx.amount
    purchase = tx.amount > 0
    in_year, in_period = tx.date >= ibis.timestamp(year_start), tx.date >= ibis.timestamp(p.start)
    in_prev_year = (tx.date >= ibis.timestamp(add_months(end, -24))) & ~in_year
    # The months of the year with a purchase travel as a 12-bit mask.
    month0 = year_start.year * 12 + year_start.month - 1
    month_bit = ibis.literal(1, "int64") << (tx.date.year() * 12 + tx.date.month() - 1 - month0)
    zero = ibis.literal(0.0)
    r = (
        tx.group_by("customer_id")
        .aggregate(
            first_purchase=tx.date.min(where=purchase).cast("date"),
            last_purchase=tx.date.max(where=purchase).cast("date"),
            active_months_year=bit_count(
                bit_or(ibis.ifelse(purchase & in_year, month_bit, ibis.null("int64")))
            )
            .fill_null(0)
            .cast("int64"),
            revenue_total=money_sum(tx.amount),
            revenue_year=money_sum(tx.amount, in_year).fill_null(zero),
            revenue_prev_year=money_sum(tx.amount, in_prev_year).fill_null(zero),
            revenue_period=money_sum(tx.amount, in_period).fill_null(zero),
            margin_year=money_sum(margin, in_year).fill_null(zero),
            margin_period=money_sum(margin, in_period).fill_null(zero),
            gross_year=money_sum(tx.amount, purchase & in_year).fill_null(zero),
            n_purchase_rows=tx.count(where=purchase),
        )
        .filter(ibis._.n_purchase_rows > 0)
    )
    # Orders are counted in a separate aggregation per (client, order) of the purchase rows,
    # keeping each order's last purchase date: several times faster at 10 M rows than a
    # distinct count per window.
    bought = tx.filter(purchase)
    day = bought.date.cast("date")
    order = bought.order_id.fill_null(day.cast("string")) if "order_id" in provided else day
    per_order = bought.group_by(bought.customer_id, order_key=order).aggregate(
        last=bought.date.max()
    )
    o = per_order.group_by("customer_id").aggregate(
        orders_total=per_order.count(),
        orders_year=per_order.count(where=per_order.last >= ibis.timestamp(year_start)),
        orders_period=per_order.count(where=per_order.last >= ibis.timestamp(p.start)),
    )
    c = r.join(o, "customer_id")
    first = ["customer_id", "first_purchase", "last_purchase"]
    out = c.select(
        *first,
        "orders_total",
        "orders_year",
        "orders_period",
        *[n for n in r.columns if n not in (*first, "gross_year", "n_purchase_rows")],
        recency_days=ibis.date(end).delta(c.last_purchase, unit="day"),
        avg_order_value=ibis.ifelse(c.orders_year > 0, c.gross_year / c.orders_year, None),
        yoy_growth=ibis.ifelse(
            c.revenue_prev_year > 0, c.revenue_year / c.revenue_prev_year - 1, None
        ),
    )
    if ctx.has("surveys"):
        out = out.left_join(_survey_features(ctx.view("surveys", end)), "customer_id").drop(
            "customer_id_right"
        )
    return out.order_by("customer_id")


def _attributes(ctx: PeriodContext, p: Period, ids: pd.Index) -> pd.DataFrame:
    """The customers table's columns (as of ``p``'s end) for ``ids``, which are unique and
    sorted; missing values where a client has no known customer row.

    Joined here rather than in the engine: converting the text attributes of every client for
    each period took about as long as computing the features (~1.5 s at 1 M clients).
    """
    if not ctx.has("customers"):
        return pd.DataFrame(index=range(len(ids)))
    customers = ctx.memo(
        ("features.customers", p.end),
        lambda: ctx.execute(ctx.view("customers", p.end).order_by("customer_id")),
    )
    _, (_, at) = match_ids(ids, pd.Index(customers["customer_id"]), how="left")
    rows = customers.drop(columns="customer_id")
    if (at >= 0).all():
        return rows.take(at).reset_index(drop=True)
    # Missing values as the engine gives them after a left join: NULL integers and booleans in
    # pandas' nullable types, None in text columns.
    nullable = {
        c: "boolean" if t.kind == "b" else "Int64"
        for c, t in rows.dtypes.items()
        if t.kind in "iub"
    }
    out = rows.astype(nullable).reindex(at).reset_index(drop=True)
    for c in out.select_dtypes(include="object").columns:
        out[c] = out[c].where(out[c].notna(), None)
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
