"""Per-client features as of a period's end, shared by the segmentation analyses.

Computed in one DuckDB query over the as-of data, one row per client with at least one
transaction before the cut-off. Definitions (``end`` is the period's exclusive end; "year" is
the twelve months ending at ``end``; amounts net of returns):

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
* ``tenure_days``: days from ``signup_date`` (else ``first_purchase``) to ``end``.
* ``yoy_growth``: ``revenue_year / revenue_prev_year - 1``; empty when the earlier year is <= 0.
* ``nps_last`` / ``csat_mean``: last NPS answer and mean CSAT to date, when surveys exist.
* plus every column of the customers table (region, acquisition_source, referrals ...).
"""

from __future__ import annotations

import pandas as pd

from segkit.engine.context import PeriodContext
from segkit.periods import Period, add_months


def client_features(ctx: PeriodContext, period: Period | None = None) -> pd.DataFrame:
    """Features of every client as of the end of ``period`` (default ``ctx.period``). Cached."""
    p = period or ctx.period
    return ctx.memo(("features", p.start, p.end), lambda: _compute(ctx, p))


def _compute(ctx: PeriodContext, p: Period) -> pd.DataFrame:
    end = p.end
    year_start = add_months(end, -12)
    prev_year_start = add_months(end, -24)
    month0 = year_start.year * 12 + year_start.month - 1
    has_margin = "margin" in ctx.dataset.columns("transactions")
    margin = "margin" if has_margin else "amount"
    has_order = "order_id" in ctx.dataset.columns("transactions")
    order = "coalesce(order_id, CAST(date::DATE AS VARCHAR))" if has_order else "date::DATE"
    ts = "TIMESTAMP '{}'".format
    in_year = f"date >= {ts(year_start)}"
    in_period = f"date >= {ts(p.start)}"
    # Orders are counted in a separate aggregation per (client, order) of the purchase rows,
    # keeping only each order's last purchase date: several times faster at 10 M rows than
    # count(DISTINCT ...) per window. The months of the year with a purchase travel as a 12-bit
    # mask.
    joins, extra = "", ""
    if ctx.has("customers"):
        joins += f" LEFT JOIN {ctx.view('customers', end)} cu USING (customer_id)"
        extra += ", cu.* EXCLUDE (customer_id)"
        start = "coalesce(cu.signup_date, c.first_purchase)"
    else:
        start = "c.first_purchase"
    if ctx.has("surveys"):
        joins += f"""
            LEFT JOIN (
                SELECT customer_id,
                    arg_max(nps, date) FILTER (WHERE nps IS NOT NULL) AS nps_last,
                    avg(csat) AS csat_mean
                FROM {ctx.view("surveys", end)} s GROUP BY customer_id
            ) sv USING (customer_id)"""
        extra += ", sv.nps_last, sv.csat_mean"
    tx = ctx.view("transactions", end)
    return ctx.sql(
        f"""
        WITH r AS (
            SELECT customer_id,
                min(date) FILTER (WHERE amount > 0)::DATE AS first_purchase,
                max(date) FILTER (WHERE amount > 0)::DATE AS last_purchase,
                coalesce(bit_count(bit_or(CASE WHEN amount > 0 AND {in_year}
                    THEN 1 << (year(date) * 12 + month(date) - 1 - {month0}) END)), 0)::BIGINT
                    AS active_months_year,
                sum(amount) AS revenue_total,
                coalesce(sum(amount) FILTER (WHERE {in_year}), 0) AS revenue_year,
                coalesce(sum(amount) FILTER (
                    WHERE date >= {ts(prev_year_start)} AND NOT {in_year}), 0)
                    AS revenue_prev_year,
                coalesce(sum(amount) FILTER (WHERE {in_period}), 0) AS revenue_period,
                coalesce(sum({margin}) FILTER (WHERE {in_year}), 0) AS margin_year,
                coalesce(sum({margin}) FILTER (WHERE {in_period}), 0) AS margin_period,
                coalesce(sum(amount) FILTER (WHERE amount > 0 AND {in_year}), 0) AS gross_year
            FROM {tx} t
            GROUP BY customer_id
            HAVING count(*) FILTER (WHERE amount > 0) > 0
        ), o AS (
            SELECT customer_id,
                count(*) AS orders_total,
                count(*) FILTER (WHERE last >= {ts(year_start)}) AS orders_year,
                count(*) FILTER (WHERE last >= {ts(p.start)}) AS orders_period
            FROM (
                SELECT customer_id, {order} AS order_key, max(date) AS last
                FROM {tx} t WHERE amount > 0 GROUP BY ALL
            ) GROUP BY customer_id
        ), c AS (
            SELECT r.customer_id, first_purchase, last_purchase, orders_total, orders_year,
                orders_period, r.* EXCLUDE (customer_id, first_purchase, last_purchase)
            FROM r JOIN o USING (customer_id)
        )
        SELECT c.* EXCLUDE (gross_year),
            date_diff('day', c.last_purchase, DATE '{end.isoformat()}') AS recency_days,
            CASE WHEN c.orders_year > 0 THEN c.gross_year / c.orders_year END AS avg_order_value,
            CASE WHEN c.revenue_prev_year > 0
                THEN c.revenue_year / c.revenue_prev_year - 1 END AS yoy_growth
            {extra},
            -- whole days elapsed, like a timedelta's .days (a signup at 10:00 is not a day)
            CAST(floor((epoch({ts(end)}) - epoch({start})) / 86400) AS BIGINT) AS tenure_days
        FROM c {joins}
        ORDER BY customer_id
        """
    )
