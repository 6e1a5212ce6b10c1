"""Cohort retention: signup month x months since signup.

Definitions (data as known at the period's end, the cut-off):

* A customer's **cohort** is the month of ``customers.signup_date`` (without a customers table
  or signup date: the month of their first purchase). The table shows the ``cohorts`` latest
  cohort months up to the cut-off.
* **Retention at month m**: cohort customers with a purchase (positive amount) in calendar
  month cohort + m, over the cohort's size. Month 0 is the signup month.
* A cell whose calendar month is not over at the cut-off is **incomplete**: left empty (NaN),
  never shown as a low rate.
* **Average** of a column: active customers over cohort sizes, summed over the cohorts whose
  cell is complete only (weighted by size); its ``cohorts`` row says how many it covers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from segkit.analyses.options import number
from segkit.engine.analysis import Metric, Section, Table, Unit
from segkit.engine.context import PeriodContext
from segkit.engine.hookspecs import hookimpl
from segkit.periods import add_months


def month_index(d: date) -> int:
    """Months since year 0: consecutive months differ by one."""
    return d.year * 12 + d.month - 1


def month_number(d: ir.TimestampValue) -> ir.IntegerValue:
    """:func:`month_index` of a date column, computed by the engine."""
    return (d.year() * 12 + d.month() - 1).cast("int64")


def month_label(index: int) -> str:
    return f"{index // 12}-{index % 12 + 1:02d}"


def retention_matrix(
    sizes: pd.Series, active: pd.DataFrame, cutoff: date, offsets: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Retention shares (cohort x month since signup) and the size-weighted column averages.

    ``sizes`` maps a cohort month index to its number of customers; ``active`` has one row per
    cohort and month with a purchase, with the columns ``cohort`` and ``month`` (month indices)
    and ``customers`` (how many of the cohort's customers bought in that month).
    Cells whose calendar month starts on or after ``cutoff``'s month are NaN (incomplete).
    The averages frame has rows ``retention`` and ``cohorts`` (how many complete cells).
    """
    cols = list(range(offsets + 1))
    offset = active["month"] - active["cohort"]
    counts = (
        active[(offset >= 0) & (offset <= offsets)]
        .assign(offset=offset)
        .set_index(["cohort", "offset"])["customers"]
        .unstack(fill_value=0)
        .reindex(index=sizes.index, columns=cols, fill_value=0)
    )
    complete = (sizes.index.to_numpy()[:, None] + np.array(cols)[None, :]) < month_index(cutoff)
    share = counts.div(sizes.where(sizes > 0), axis=0).where(complete)
    covered = (complete & (sizes.to_numpy()[:, None] > 0)).sum(axis=0)
    weights = sizes.to_numpy()[:, None] * complete
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(covered > 0, (counts.to_numpy() * complete).sum(0) / weights.sum(0), np.nan)
    averages = pd.DataFrame([avg, covered], index=["retention", "cohorts"], columns=cols)
    return share, averages


class Cohorts:
    """The cohort retention section."""

    name = "cohorts"
    title = "Cohort retention"
    order = 80
    requires: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {"cohorts": 12, "months": 12}
    definitions: Mapping[str, str] = {
        "Cohort": "Customers by month of signup_date (or of the first purchase when there is no "
        "signup date); the latest `cohorts` months up to the period's end.",
        "Retention at month m": "Cohort customers with a purchase in calendar month cohort + m "
        "/ cohort size; month 0 is the signup month.",
        "Incomplete cell": "A month not over at the period's end: left empty, not a low rate.",
        "Average": "Sum of active customers / sum of cohort sizes over the cohorts whose cell "
        "is complete; the number of cohorts it covers is shown beneath.",
        "Month-m retention (metric)": "The average of column m, at this and at the previous "
        "period's end.",
    }

    def run(self, ctx: PeriodContext) -> Section:
        n_cohorts = int(number(ctx.settings, self.name, "cohorts", low=1, integer=True))
        offsets = int(number(ctx.settings, self.name, "months", low=1, integer=True))
        share, averages, sizes = self._compute(ctx, ctx.period.end, n_cohorts, offsets)
        _, prev_avg, _ = self._compute(ctx, ctx.previous.end, n_cohorts, offsets)
        metrics = [
            Metric(
                f"retention_m{m}",
                f"Month-{m} retention (complete cohorts)",
                _num(averages.loc["retention", m]),
                "share",
                _num(prev_avg.loc["retention", m]),
                True,
            )
            for m in (1, 3)
            if m <= offsets
        ]
        table = share.copy()
        table.index = [month_label(i) for i in table.index]
        table.insert(0, "customers", sizes.to_numpy())
        shown = pd.concat(
            [table, averages.rename(index={"retention": "average", "cohorts": "cohorts"})]
        )
        shown.columns = ["customers", *[f"m{m}" for m in range(offsets + 1)]]
        shown = shown.reset_index(names="cohort")
        formats: dict[str, Unit] = {c: "share" for c in shown.columns[2:]}
        formats["customers"] = "count"
        return Section(
            self.name,
            self.title,
            summary=f"{int(sizes.sum()):,} customers in {len(sizes)} monthly cohorts; empty "
            "cells are months not over at the period's end.",
            metrics=metrics,
            tables={
                "retention": Table(
                    shown,
                    formats,
                    caption="Share of each signup cohort buying in month m after signup "
                    "(last rows: complete-cell average and the cohorts it covers)",
                    max_rows=n_cohorts + 2,
                )
            },
            figures=[_heatmap(share, str(ctx.period))] if len(sizes) else [],
            notes=[
                "Empty cells are incomplete (the month was not over at the period's end); "
                "the average row uses complete cells only."
            ],
            data={"retention": share, "averages": averages, "sizes": sizes},
        )

    @staticmethod
    def _compute(
        ctx: PeriodContext, cutoff: date, n_cohorts: int, offsets: int
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
        """Shares, averages and sizes as of ``cutoff``; the engine counts the cohorts'
        customers and, per cohort and calendar month, those who bought, so only those few
        rows come back to build the matrix."""
        first_month = add_months(cutoff, -n_cohorts)
        since = ibis.timestamp(first_month)
        tx = ctx.view("transactions", cutoff)
        bought = tx.filter(tx.amount > 0)
        if ctx.has("customers"):
            customers = ctx.view("customers", cutoff)
            signup = (
                customers.filter(customers.signup_date.notnull())
                .group_by("customer_id")
                .aggregate(signup=customers.signup_date.min())
            )
        else:
            signup = bought.group_by("customer_id").aggregate(signup=bought.date.min())
        members = signup.filter(signup.signup >= since).mutate(cohort=month_number(signup.signup))
        counted = ctx.execute(members.group_by("cohort").aggregate(customers=ibis._.count()))
        # A purchase before first_month precedes every shown cohort (a negative offset).
        buys = members.join(bought.filter(bought.date >= since), "customer_id")
        active = ctx.execute(
            buys.group_by("cohort", month=month_number(buys.date)).aggregate(
                customers=buys.customer_id.nunique()
            )
        )
        index = pd.Index(range(month_index(first_month), month_index(cutoff)), name="cohort")
        sizes = counted.set_index("cohort")["customers"].reindex(index, fill_value=0)
        share, averages = retention_matrix(sizes, active, cutoff, offsets)
        return share, averages, sizes


def _num(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _heatmap(share: pd.DataFrame, period: str) -> Figure:
    fig = Figure(figsize=(7.2, 0.32 * len(share) + 1.8), dpi=100)
    ax = fig.subplots()
    data = np.ma.masked_invalid(share.to_numpy(dtype=float) * 100)
    cmap = colormaps["Blues"].with_extremes(bad="#dddddd")  # incomplete (masked) cells
    im = ax.imshow(data, aspect="auto", cmap=cmap, vmin=0, vmax=100)
    ax.set_xticks(range(share.shape[1]), [str(c) for c in share.columns])
    ax.set_yticks(range(len(share)), [month_label(i) for i in share.index])
    ax.set_xlabel("Months since signup")
    ax.set_ylabel("Signup month")
    ax.set_title(f"Cohort retention (%), as of the end of {period}; grey = incomplete")
    fig.colorbar(im, ax=ax, label="Customers buying (%)")
    fig.tight_layout()
    return fig


@hookimpl
def register_analyses(register: Any) -> None:
    register(Cohorts())
