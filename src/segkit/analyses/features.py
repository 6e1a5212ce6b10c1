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

import numpy as np
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
    has_margin = "margin" in ctx.dataset.columns("transactions")
    margin = "margin" if has_margin else "amount"
    has_order = "order_id" in ctx.dataset.columns("transactions")
    order = "coalesce(order_id, CAST(date::DATE AS VARCHAR))" if has_order else "date::DATE"
    ts = "TIMESTAMP '{}'".format
    tx = ctx.view("transactions", end)
    frame = ctx.sql(
        f"""
        SELECT customer_id,
            min(date) FILTER (WHERE amount > 0)::DATE AS first_purchase,
            max(date) FILTER (WHERE amount > 0)::DATE AS last_purchase,
            count(DISTINCT {order}) FILTER (WHERE amount > 0) AS orders_total,
            count(DISTINCT {order}) FILTER (WHERE amount > 0 AND date >= {ts(year_start)})
                AS orders_year,
            count(DISTINCT {order}) FILTER (WHERE amount > 0 AND date >= {ts(p.start)})
                AS orders_period,
            count(DISTINCT date_trunc('month', date))
                FILTER (WHERE amount > 0 AND date >= {ts(year_start)}) AS active_months_year,
            sum(amount) AS revenue_total,
            coalesce(sum(amount) FILTER (WHERE date >= {ts(year_start)}), 0) AS revenue_year,
            coalesce(sum(amount) FILTER (WHERE date >= {ts(prev_year_start)}
                AND date < {ts(year_start)}), 0) AS revenue_prev_year,
            coalesce(sum(amount) FILTER (WHERE date >= {ts(p.start)}), 0) AS revenue_period,
            coalesce(sum({margin}) FILTER (WHERE date >= {ts(year_start)}), 0) AS margin_year,
            coalesce(sum({margin}) FILTER (WHERE date >= {ts(p.start)}), 0) AS margin_period,
            coalesce(sum(amount) FILTER (WHERE amount > 0 AND date >= {ts(year_start)}), 0)
                AS gross_year
        FROM {tx} t
        GROUP BY customer_id
        """
    )
    frame = frame[frame["first_purchase"].notna()].copy()
    end_ts = pd.Timestamp(end)
    frame["recency_days"] = (end_ts - pd.to_datetime(frame["last_purchase"])).dt.days
    frame["avg_order_value"] = np.where(
        frame["orders_year"] > 0, frame["gross_year"] / frame["orders_year"].clip(lower=1), np.nan
    )
    frame["yoy_growth"] = np.where(
        frame["revenue_prev_year"] > 0,
        frame["revenue_year"] / frame["revenue_prev_year"].where(frame["revenue_prev_year"] > 0)
        - 1,
        np.nan,
    )
    frame = frame.drop(columns="gross_year")
    start = pd.to_datetime(frame["first_purchase"])
    if ctx.has("customers"):
        customers = ctx.table("customers", end)
        frame = frame.merge(customers, on="customer_id", how="left")
        if "signup_date" in frame:
            start = pd.to_datetime(frame["signup_date"]).fillna(
                pd.to_datetime(frame["first_purchase"])
            )
    frame["tenure_days"] = (end_ts - start).dt.days
    if ctx.has("surveys"):
        surveys = ctx.sql(
            f"""
            SELECT customer_id,
                arg_max(nps, date) FILTER (WHERE nps IS NOT NULL) AS nps_last,
                avg(csat) AS csat_mean
            FROM {ctx.view("surveys", end)} s GROUP BY customer_id
            """
        )
        frame = frame.merge(surveys, on="customer_id", how="left")
    return frame.sort_values("customer_id", kind="stable").reset_index(drop=True)
