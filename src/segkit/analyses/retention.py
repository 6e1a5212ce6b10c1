"""Retention and activity: churn, repeat purchases, renewals, revenue per client, offers, contacts.

Definitions (per period ``[start, end)``, data as known at ``end``):

* A **buyer** of a period has at least one purchase (an order with a positive amount) in it.
* **Churn rate** (non-contractual, period over period): buyers of the previous period who made
  no purchase in this one, over the buyers of the previous period. A model-based definition
  (P(alive)) belongs to the CLV analyses.
* **Repeat-purchase rate**: buyers of the period with a purchase other than their first ever
  (they had bought before the period, or placed two or more orders in it), over the buyers.
* **Renewal rate**: contracts due in the period that renewed, over the contracts due. A contract
  is due when an anniversary (start + k x ``term_months``, k >= 1; the first one in the period)
  falls in the period and it had not ended more than ``grace_days`` before it; it renewed when
  it ran past the anniversary (end empty or after it) or the customer started another contract
  within ``grace_days`` of its end.
* **Revenue per client**: net revenue of the period (returns netted in) over its buyers.
* **Upsell / cross-sell rate**: offers made in the period that were accepted, over the offers,
  per kind, with Wilson intervals.
* **Contact frequency**: orders + tickets opened + survey answers in the period, per client with
  at least one contact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ibis
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segkit.analyses.breakdowns import customer_groups, stacked, with_group
from segkit.analyses.options import names, number
from segkit.data.engine import money_sum
from segkit.engine.analysis import Metric, Section, Table
from segkit.engine.context import PeriodContext
from segkit.engine.hookspecs import hookimpl
from segkit.periods import Period
from segkit.stats.intervals import wilson_interval


def purchases(ctx: PeriodContext, periods: Sequence[Period]) -> dict[Period, pd.DataFrame]:
    """Per period, per customer with a row in it (ordered by customer_id): orders, net revenue
    and margin in the period, and whether they had bought before it (``returning``).

    One scan for all ``periods``: transactions have no date but their own, so the rows of a
    period as known at the latest cut-off are exactly those known at the period's own end.
    The engine aggregates per customer and period; an order is its order_id, or the row's date
    when the export has no order ids. Computed once per run for the same periods (the
    retention and sources sections both need them).
    """
    key = ("purchases", *periods)
    frames = ctx.memo(key, lambda: _purchases(ctx, periods))
    return {p: frame.copy(deep=False) for p, frame in frames.items()}


def _purchases(ctx: PeriodContext, periods: Sequence[Period]) -> dict[Period, pd.DataFrame]:
    tx = ctx.view("transactions", max(p.end for p in periods))
    bucket = ibis.cases(
        *(
            ((tx.date >= ibis.timestamp(p.start)) & (tx.date < ibis.timestamp(p.end)), i)
            for i, p in enumerate(periods)
        )
    )
    order = tx.order_id.coalesce(tx.date.cast("string"))
    current = (
        tx.filter(tx.date >= ibis.timestamp(min(p.start for p in periods)))
        .group_by("customer_id", k=bucket)
        .aggregate(
            orders=order.nunique(where=tx.amount > 0),
            revenue=money_sum(tx.amount),
            margin=money_sum(tx.margin).coalesce(0),
        )
        .filter(ibis._.k.notnull())
    )
    bought = tx.filter(tx.amount > 0)
    firsts = bought.group_by("customer_id").aggregate(first_purchase=bought.date.min())
    frame = ctx.execute(
        current.left_join(firsts, "customer_id")
        .select(current, firsts.first_purchase)
        .order_by("k", "customer_id")
    )
    out = {}
    for i, p in enumerate(periods):
        part = frame[frame["k"] == i]
        returning = part["first_purchase"] < pd.Timestamp(p.start)
        out[p] = (
            part[["customer_id", "orders", "revenue", "margin"]]
            .assign(returning=returning.to_numpy())
            .reset_index(drop=True)
        )
    return out


def churn(previous_buyers: pd.Index, buyers: pd.Index) -> tuple[int, int]:
    """(churned, base): previous buyers who did not buy now, and the previous buyers."""
    return int((~previous_buyers.isin(buyers)).sum()), len(previous_buyers)


def activity(now: pd.DataFrame, before: pd.DataFrame) -> dict[str, float | None]:
    """Buyers, churn, repeat and revenue figures from :func:`purchases` of a period and the one
    before it (see the module docstring for definitions)."""
    b = now[now["orders"] > 0]
    prev_ids = pd.Index(before.loc[before["orders"] > 0, "customer_id"])
    churned, base = churn(prev_ids, pd.Index(b["customer_id"]))
    repeat = int((b["returning"].fillna(False) | (b["orders"] >= 2)).sum())
    n = len(b)
    return {
        "buyers": n,
        "previous_buyers": base,
        "churned": churned,
        "churn_rate": churned / base if base else None,
        "repeat_buyers": repeat,
        "repeat_rate": repeat / n if n else None,
        "revenue": float(now["revenue"].sum()),
        "revenue_per_client": float(now["revenue"].sum()) / n if n else None,
        "margin_per_client": float(now["margin"].sum()) / n if n else None,
    }


def _anniversary_in(start: pd.Series, term_months: int, period: Period) -> pd.Series:
    """First date start + k x term_months (k >= 1) in ``period``, NaT when there is none."""
    s = pd.DatetimeIndex(start)
    m0 = s.year.to_numpy() * 12 + s.month.to_numpy() - 1
    ps = period.start.year * 12 + period.start.month - 1
    pe = period.end.year * 12 + period.end.month - 1
    # The period starts on the 1st, so A_k >= start of period iff its month index is >= ps.
    k = np.maximum(1, -(-(ps - m0) // term_months))
    month = m0 + k * term_months
    first = pd.to_datetime(pd.DataFrame({"year": month // 12, "month": month % 12 + 1, "day": 1}))
    day = np.minimum(s.day.to_numpy(), first.dt.days_in_month.to_numpy())
    when = first + pd.to_timedelta(day - 1, unit="D")
    return pd.Series(np.where(month < pe, when, pd.NaT), index=start.index, dtype="datetime64[ns]")


def renewals(subs: pd.DataFrame, period: Period, term_months: int, grace_days: int) -> pd.DataFrame:
    """The contracts due in ``period`` with their anniversary and whether they renewed."""
    subs = subs.reset_index(drop=True)
    if subs.empty:
        return subs.assign(anniversary=pd.Series(dtype="datetime64[ns]"), renewed=False)
    grace = pd.Timedelta(days=grace_days)
    ann = _anniversary_in(subs["start_date"], term_months, period)
    end = subs["end_date"]
    due = ann.notna() & (end.isna() | (end >= ann - grace))
    d = subs[due].assign(anniversary=ann[due])
    ran_past = d["end_date"].isna() | (d["end_date"] > d["anniversary"])
    # A replacement: another contract of the customer starting within the grace of the end.
    pairs = (
        d[~ran_past]
        .reset_index()
        .merge(
            subs.reset_index()[["index", "customer_id", "start_date"]],
            on="customer_id",
            suffixes=("", "_other"),
        )
    )
    near = (pairs["index"] != pairs["index_other"]) & (
        (pairs["start_date_other"] - pairs["end_date"]).abs() <= grace
    )
    replaced = d.index.isin(pairs.loc[near, "index"])
    return d.assign(renewed=ran_past.to_numpy() | replaced)


def offer_rates(offers: pd.DataFrame) -> pd.DataFrame:
    """Offers, accepted and acceptance rate with Wilson bounds, per kind and for all offers.

    ``offers`` has one row per kind (lower-cased) with the counts ``offers`` and ``accepted``.
    """
    rows = []
    total = offers[["offers", "accepted"]].sum()
    per_kind = offers.sort_values("kind")[["kind", "offers", "accepted"]]
    parts = [*per_kind.itertuples(index=False), ("all", *total)]
    for kind, n, accepted in parts:
        w = wilson_interval(int(accepted), int(n))
        rows.append(
            {
                "kind": kind,
                "offers": int(n),
                "accepted": int(accepted),
                "rate": w.estimate,
                "low": w.low,
                "high": w.high,
            }
        )
    return pd.DataFrame(rows)


def contacts(ctx: PeriodContext, period: Period, orders: pd.DataFrame) -> pd.DataFrame:
    """Per customer with a contact in ``period``: orders, tickets, survey answers, total."""
    frame = orders.loc[orders["orders"] > 0, ["customer_id", "orders"]].set_index("customer_id")
    start = ibis.timestamp(period.start)
    for table, col, date_col in (
        ("tickets", "tickets", "opened_at"),
        ("surveys", "answers", "date"),
    ):
        if ctx.has(table):
            rows = ctx.view(table, period.end)
            counts = ctx.execute(
                rows.filter(rows[date_col] >= start)
                .group_by("customer_id")
                .aggregate(n=ibis._.count())
            ).set_index("customer_id")["n"]
            frame = frame.join(counts.rename(col), how="outer")
        else:
            frame[col] = 0
    frame = frame.fillna(0).astype(int)
    frame["contacts"] = frame.sum(axis=1)
    return frame.reset_index()


class Retention:
    """The retention and activity section."""

    name = "retention"
    title = "Retention: churn, repeat purchases, renewals and contacts"
    order = 50
    requires: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {
        "term_months": 12,
        "grace_days": 30,
        "breakdown": ["acquisition_source", "region"],
    }
    definitions: Mapping[str, str] = {
        "Buyer": "A customer with at least one order of positive amount in the period.",
        "Churn rate": "Non-contractual, period over period: buyers of the previous period with "
        "no purchase in this one / buyers of the previous period. Undefined when the previous "
        "period had no buyers.",
        "Repeat-purchase rate": "Buyers of the period with a purchase other than their first "
        "ever (bought before the period, or two or more orders in it) / buyers of the period.",
        "Renewal rate": "Contracts due in the period that renewed / contracts due. Due: the "
        "first anniversary start + k x term_months (k >= 1) in the period, and not ended more "
        "than grace_days before it. Renewed: ran past the anniversary, or the customer started "
        "another contract within grace_days of its end (plan change).",
        "Revenue per client": "Net revenue of the period (all rows dated in it, returns netted "
        "in) / buyers of the period.",
        "Upsell / cross-sell rate": "Offers made in the period and accepted / offers made in "
        "the period, per kind, with Wilson 95 % intervals.",
        "Contact frequency": "Orders + tickets opened + survey answers in the period, averaged "
        "over customers with at least one contact in the period.",
    }

    def run(self, ctx: PeriodContext) -> Section:
        s = ctx.settings
        term = int(number(s, self.name, "term_months", low=1, integer=True))
        grace = int(number(s, self.name, "grace_days", low=0, integer=True))
        breakdown = names(s, self.name, "breakdown")
        prev2 = ctx.previous.previous()
        bought = purchases(ctx, (ctx.period, ctx.previous, prev2))
        now = activity(bought[ctx.period], bought[ctx.previous])
        before = activity(bought[ctx.previous], bought[prev2])

        def metric(
            key: str, label: str, unit: Any, better: bool | None, head: bool = False
        ) -> Metric:
            return Metric(key, label, now[key], unit, before[key], better, headline=head)

        metrics = [
            metric("buyers", "Buyers", "count", True),
            metric("churn_rate", "Churn rate", "share", False, True),
            metric("repeat_rate", "Repeat-purchase rate", "share", True),
            metric("revenue_per_client", "Revenue per client", "money", True, True),
        ]
        tables: dict[str, Table] = {}
        notes: list[str] = []
        if ctx.has("subscriptions"):
            due_now = renewals(ctx.table("subscriptions"), ctx.period, term, grace)
            due_prev = renewals(
                ctx.table("subscriptions", ctx.previous.end), ctx.previous, term, grace
            )
            metrics.append(
                Metric(
                    "renewal_rate",
                    "Renewal rate",
                    _rate(due_now["renewed"]),
                    "share",
                    _rate(due_prev["renewed"]),
                    True,
                )
            )
            metrics.append(
                Metric("contracts_due", "Contracts due", len(due_now), "count", len(due_prev))
            )
        if ctx.has("offers"):
            rates = offer_rates(self._offers(ctx, ctx.period))
            prev_rates = offer_rates(self._offers(ctx, ctx.previous)).set_index("kind")["rate"]
            for row in rates.itertuples():
                metrics.append(
                    Metric(
                        f"offer_rate_{row.kind}".replace("-", "_"),
                        f"Offer acceptance ({row.kind})",
                        row.rate,
                        "share",
                        prev_rates.get(row.kind),
                        True,
                    )
                )
            tables["offers"] = Table(
                rates,
                {
                    "offers": "count",
                    "accepted": "count",
                    "rate": "share",
                    "low": "share",
                    "high": "share",
                },
                caption="Upsell / cross-sell offers of the period",
            )
        touch = contacts(ctx, ctx.period, bought[ctx.period])
        touch_prev = contacts(ctx, ctx.previous, bought[ctx.previous])
        metrics.append(
            Metric(
                "contacts_per_client",
                "Contacts per contacted client",
                float(touch["contacts"].mean()) if len(touch) else None,
                "number",
                float(touch_prev["contacts"].mean()) if len(touch_prev) else None,
            )
        )
        tables["contacts"] = Table(
            _contact_table(touch),
            {
                "clients": "count",
                "share": "share",
                "orders": "number",
                "tickets": "number",
                "answers": "number",
            },
            caption="Clients by number of contacts in the period (means per client)",
        )
        by = self._by_group(ctx, bought[ctx.period], bought[ctx.previous], breakdown)
        if len(by):
            tables["by_group"] = Table(
                by,
                {
                    "buyers": "count",
                    "previous_buyers": "count",
                    "churn_rate": "share",
                    "repeat_rate": "share",
                    "revenue_per_client": "money",
                },
                caption="Activity by group (churn base: the group's previous-period buyers)",
                max_rows=60,
            )
        if not now["buyers"]:
            notes.append("No customer bought in the period: per-client figures are undefined.")
        summary = f"{now['buyers']:,} buyers"
        if now["churn_rate"] is not None:
            summary += (
                f"; {now['churn_rate']:.0%} of the previous period's {now['previous_buyers']:,} "
                "buyers did not buy again"
            )
        if now["revenue_per_client"] is not None:
            summary += (
                f"; revenue per client {now['revenue_per_client']:,.2f} {ctx.config.currency}"
            )
        return Section(
            self.name,
            self.title,
            summary=summary + ".",
            metrics=metrics,
            tables=tables,
            figures=[_figure(by)] if len(by) else [],
            notes=notes,
            data={
                "activity": now,
                "previous": before,
                "purchases": bought[ctx.period],
                "contacts": touch,
            },
        )

    @staticmethod
    def _offers(ctx: PeriodContext, period: Period) -> pd.DataFrame:
        """Offers made in ``period`` and how many were accepted, per kind (lower-cased)."""
        offers = ctx.view("offers", period.end)
        return ctx.execute(
            offers.filter(offers.offered_at >= ibis.timestamp(period.start))
            .group_by(kind=offers.kind.lower())
            .aggregate(offers=ibis._.count(), accepted=offers.accepted.sum())
        )

    @staticmethod
    def _by_group(
        ctx: PeriodContext, now: pd.DataFrame, before: pd.DataFrame, columns: list[str]
    ) -> pd.DataFrame:
        parts = []
        for by, grouping in customer_groups(ctx, columns).items():
            g_now, g_before = with_group(now, grouping), with_group(before, grouping)
            rows = []
            for group in sorted(set(g_now["group"]) | set(g_before["group"])):
                a = activity(g_now[g_now["group"] == group], g_before[g_before["group"] == group])
                rows.append({"group": group, **a})
            parts.append((by, pd.DataFrame(rows)))
        out = stacked(parts)
        keep = [
            "by",
            "group",
            "buyers",
            "previous_buyers",
            "churn_rate",
            "repeat_rate",
            "revenue_per_client",
        ]
        return out[keep] if len(out) else out


def _rate(flags: pd.Series) -> float | None:
    return float(flags.mean()) if len(flags) else None


def _contact_table(touch: pd.DataFrame) -> pd.DataFrame:
    bins = pd.cut(touch["contacts"], [0, 1, 2, 4, np.inf], labels=["1", "2", "3-4", "5+"])
    table = touch.groupby(bins, observed=False).agg(
        clients=("contacts", "size"),
        orders=("orders", "mean"),
        tickets=("tickets", "mean"),
        answers=("answers", "mean"),
    )
    table["share"] = table["clients"] / max(len(touch), 1)
    return table.reset_index(names="contacts")[
        ["contacts", "clients", "share", "orders", "tickets", "answers"]
    ]


def _figure(by: pd.DataFrame) -> Figure:
    first = by["by"].iloc[0]
    rows = by[by["by"] == first].dropna(subset=["churn_rate"]).sort_values("churn_rate")
    fig = Figure(figsize=(6.4, 0.35 * len(rows) + 1.6), dpi=100)
    ax = fig.subplots()
    ax.barh(rows["group"], rows["churn_rate"] * 100, color="#1f5f8b")
    ax.set_xlabel("Churn rate (%): previous buyers who did not buy again")
    ax.set_title(f"Churn by {first.replace('_', ' ')}")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


@hookimpl
def register_analyses(register: Any) -> None:
    register(Retention())
