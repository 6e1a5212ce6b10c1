"""Acquisition sources: what each channel ("how did you hear of us") brings.

Definitions per source (``customers.acquisition_source``; empty is ``(unknown)``), per period:

* **Acquired**: customers whose ``signup_date`` is in the period; **clients**: all customers of
  the source known at the period's end.
* **Buyers, revenue, margin, revenue per client, churn rate**: as in the retention section,
  restricted to the source's customers (:func:`segkit.analyses.retention.activity`).
* **Revenue to date per client**: net revenue of all rows up to the period's end, over the
  source's clients (the CLV analyses will replace it with a CLV).
* **NPS**: as in the satisfaction section, over the answers of the source's customers.
* **Spend, CAC**: marketing spend of the months in the period / customers acquired in it;
  **revenue to date / CAC**: revenue to date per client over CAC.
* **Tier mix**: share of the source's clients per tier, when a ``tiers`` section ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segkit.analyses.breakdowns import customer_groups, with_group
from segkit.analyses.options import number
from segkit.analyses.retention import activity, purchases
from segkit.analyses.satisfaction import answers_in, scores_by_group
from segkit.data.engine import money_sum
from segkit.engine.analysis import Metric, Section, Table
from segkit.engine.context import PeriodContext
from segkit.engine.hookspecs import hookimpl
from segkit.periods import Period


def source_table(
    customers: pd.DataFrame,
    now: pd.DataFrame,
    before: pd.DataFrame,
    lifetime: pd.DataFrame,
    period: Period,
) -> pd.DataFrame:
    """Per source: clients, acquired, buyers, revenue, margin, churn, revenue to date.

    ``customers`` has customer_id, group (the source) and signup_date; ``now`` / ``before`` are
    :func:`segkit.analyses.retention.purchases` of the period and the previous one;
    ``lifetime`` has customer_id and revenue to date.
    """
    signup = customers["signup_date"]
    acquired = (signup >= pd.Timestamp(period.start)) & (signup < pd.Timestamp(period.end))
    grouping = customers[["customer_id", "group"]]
    now, before = with_group(now, grouping), with_group(before, grouping)
    life = with_group(lifetime, grouping)
    rows = []
    for source, part in customers.groupby("group", sort=True):
        mine = now[now["group"] == source]
        a = activity(mine, before[before["group"] == source])
        # Clients without any transaction have 0 revenue to date.
        to_date = float(life.loc[life["group"] == source, "to_date"].sum()) / len(part)
        rows.append(
            {
                "source": source,
                "clients": len(part),
                "acquired": int(acquired[part.index].sum()),
                "buyers": a["buyers"],
                "revenue": a["revenue"],
                "margin": float(mine["margin"].sum()),
                "revenue_per_client": a["revenue_per_client"],
                "churn_rate": a["churn_rate"],
                "revenue_to_date_per_client": to_date,
            }
        )
    return pd.DataFrame(rows)


def add_spend(table: pd.DataFrame, spend: pd.Series) -> pd.DataFrame:
    """Add spend, CAC (spend / acquired) and revenue to date per client / CAC per source.

    ``spend`` is indexed by source; CAC is undefined for a source that acquired nobody.
    """
    out = table.copy()
    out["spend"] = out["source"].map(spend).astype(float)
    acquired = out["acquired"].where(out["acquired"] > 0)
    out["cac"] = out["spend"] / acquired
    out["value_to_cac"] = out["revenue_to_date_per_client"] / out["cac"].where(out["cac"] > 0)
    return out


class Sources:
    """The acquisition-source section."""

    name = "sources"
    title = "Acquisition sources"
    order = 70
    requires: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {"min_responses": 30}
    definitions: Mapping[str, str] = {
        "Acquired": "Customers of the source whose signup_date is in the period.",
        "Clients": "Customers of the source known at the period's end (signup before it or "
        "unknown).",
        "Revenue per client, churn rate": "As in the retention section, over the source's "
        "customers: net revenue / buyers; previous-period buyers who did not buy again / "
        "previous-period buyers.",
        "Revenue to date per client": "Net revenue of every row up to the period's end / the "
        "source's clients. A stand-in for CLV until the CLV analyses provide it.",
        "NPS by source": "As in the satisfaction section, over answers of the source's "
        "customers dated in the period; '-' below min_responses answers.",
        "CAC": "Marketing spend of the source for the months in the period / customers acquired "
        "in the period. Undefined when none were acquired.",
        "Revenue to date / CAC": "Revenue to date per client / CAC.",
        "Cost per acquired client": "Blended: spend of the sources that match a customer's "
        "acquisition_source / all customers acquired in the period (unknown source included).",
        "Tier mix": "Share of the source's clients in each tier, when tiers were computed.",
    }

    def run(self, ctx: PeriodContext) -> Section:
        min_n = int(number(ctx.settings, self.name, "min_responses", low=1, integer=True))
        groups = customer_groups(ctx, ["acquisition_source"])
        if "acquisition_source" not in groups:
            return Section(
                self.name,
                self.title,
                summary="The customers table has no acquisition_source: nothing to show.",
            )
        periods = (ctx.period, ctx.previous, ctx.previous.previous())
        bought = purchases(ctx, periods)
        table, acquired_total = self._table(ctx, periods[:2], bought, groups, min_n)
        before, acquired_before = self._table(ctx, periods[1:], bought, groups, min_n)
        notes: list[str] = []
        metrics = [
            Metric("acquired", "Clients acquired", acquired_total, "count", acquired_before, True)
        ]
        formats: dict[str, Any] = {
            "clients": "count",
            "acquired": "count",
            "buyers": "count",
            "revenue": "money",
            "margin": "money",
            "revenue_per_client": "money",
            "churn_rate": "share",
            "revenue_to_date_per_client": "money",
            "nps": "score",
            "nps_n": "count",
        }
        if ctx.has("marketing"):
            spend = self._spend(ctx, ctx.period)
            table = add_spend(table, spend)
            before = add_spend(before, self._spend(ctx, ctx.previous))
            formats |= {"spend": "money", "cac": "money", "value_to_cac": "ratio"}
            unmatched = sorted(set(spend.index) - set(table["source"]))
            if unmatched:
                notes.append(
                    f"Marketing spend for source(s) {', '.join(unmatched)} matches no "
                    "customer's acquisition_source and is left out."
                )

            def cac(t: pd.DataFrame) -> float | None:
                got = t["acquired"].sum()
                return float(t["spend"].sum() / got) if got else None

            metrics.append(
                Metric("cac", "Cost per acquired client", cac(table), "money", cac(before), False)
            )
        if "tier" in groups:
            tiers = groups["tier"].rename(columns={"group": "tier"})
            mix = groups["acquisition_source"].merge(tiers, on="customer_id")
            shares = pd.crosstab(mix["group"], mix["tier"], normalize="index")
            shares.columns = [f"tier {c}" for c in shares.columns]
            table = table.merge(shares, left_on="source", right_index=True, how="left")
            formats |= {c: "share" for c in shares.columns}
        best = table.sort_values("revenue", ascending=False).iloc[0] if len(table) else None
        summary = f"{acquired_total:,} clients acquired in the period"
        if best is not None and best["revenue"] > 0:
            summary += f"; '{best['source']}' clients brought the most revenue"
        return Section(
            self.name,
            self.title,
            summary=summary + ".",
            metrics=metrics,
            tables={"sources": Table(table, formats, caption="Acquisition sources", max_rows=40)},
            figures=[_figure(table, ctx.period)] if len(table) else [],
            notes=notes,
            data={"sources": table, "previous": before},
        )

    @staticmethod
    def _table(
        ctx: PeriodContext,
        periods: tuple[Period, ...],
        bought: dict[Period, pd.DataFrame],
        groups: dict[str, pd.DataFrame],
        min_n: int,
    ) -> tuple[pd.DataFrame, int]:
        period, previous = periods
        customers = ctx.table("customers", period.end)[["customer_id", "signup_date"]]
        customers = with_group(customers, groups["acquisition_source"])
        tx = ctx.view("transactions", period.end)
        # Ordered, so the per-source sums in pandas add in the same order on every run.
        lifetime = ctx.execute(
            tx.group_by("customer_id")
            .aggregate(to_date=money_sum(tx.amount))
            .order_by("customer_id")
        )
        table = source_table(
            customers,
            bought[period],
            bought[previous],
            lifetime,
            period,
        )
        if ctx.has("surveys"):
            answers = with_group(answers_in(ctx, period), groups["acquisition_source"])
            nps = scores_by_group(answers, min_n, 0.95)
            if len(nps):
                nps = nps.assign(nps=nps["nps"].where(nps["nps_n"] >= min_n))
                table = table.merge(
                    nps[["group", "nps", "nps_n"]].rename(columns={"group": "source"}),
                    on="source",
                    how="left",
                )
        return table, int(table["acquired"].sum())

    @staticmethod
    def _spend(ctx: PeriodContext, period: Period) -> pd.Series:
        marketing = ctx.view("marketing", period.end)
        spend = ctx.execute(
            marketing.filter(marketing.month >= ibis.timestamp(period.start))
            .group_by("source")
            .aggregate(spend=money_sum(marketing.spend))
        )
        return spend.set_index("source")["spend"]


def _figure(table: pd.DataFrame, period: Period) -> Figure:
    rows = table.sort_values("revenue")
    fig = Figure(figsize=(6.4, 0.35 * len(rows) + 1.6), dpi=100)
    ax = fig.subplots()
    y = np.arange(len(rows))
    ax.barh(y, rows["revenue"], color="#1f5f8b")
    ax.set_yticks(
        y, [f"{s} ({a:,} new)" for s, a in zip(rows["source"], rows["acquired"], strict=True)]
    )
    ax.set_xlabel("Net revenue in the period")
    ax.set_title(f"Revenue by acquisition source, {period}")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


@hookimpl
def register_analyses(register: Any) -> None:
    register(Sources())
