"""Pareto 80/20: how concentrated the value is among clients.

Definitions (per period, net of returns):

* A client's **value** is the sum of ``amount`` (or ``margin`` with ``basis: margin``) of their
  rows dated in the window: the period itself (``window: period``) or the twelve months ending
  with it (``window: trailing_year``). Returns are negative rows and are netted in.
* Clients whose net value is zero or negative (only returns, or returns exceeding purchases in
  the window) are **not ranked**: shares are taken over clients with positive net value, and
  the excluded clients are counted and their net total shown beside the figures.
* **Top-group share**: the ``ceil(top_share x n)`` highest-value clients (ties broken by
  customer id) and their share of the positive net value total.
* **Clients for 80 %**: the smallest number k of clients, highest value first, whose values add
  up to at least ``target_share`` of the total; reported as k / n.
* **Gini coefficient**: ``sum_i (2i - n - 1) x_(i) / (n sum x)`` over ascending values
  ``x_(1) <= ... <= x_(n)``: 0 when every client brings the same, towards 1 when one client
  brings everything.
* **Lorenz (Pareto) curve**: the cumulative share of value against the cumulative share of
  clients, highest-value clients first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segkit.data.engine import money_sum
from segkit.engine.analysis import Metric, Section, Table
from segkit.engine.context import PeriodContext
from segkit.engine.hookspecs import hookimpl
from segkit.errors import ConfigError
from segkit.periods import Period, add_months


@dataclass(frozen=True)
class Concentration:
    """Concentration figures of a set of positive client values."""

    clients: int
    total: float
    top_clients: int
    top_share: float
    clients_for_target: int
    clients_share_for_target: float
    gini: float


def concentration(
    values: np.ndarray, top_share: float = 0.2, target_share: float = 0.8
) -> Concentration:
    """Concentration of positive ``values`` (see the module docstring for definitions)."""
    x = np.sort(np.asarray(values, dtype=float))[::-1]
    if x.size == 0 or np.any(x <= 0):
        raise ValueError("concentration needs a non-empty array of positive values")
    n, total = x.size, float(x.sum())
    top_n = math.ceil(top_share * n)
    cum = np.cumsum(x) / total
    # A small tolerance keeps an exact 80 % from being missed by rounding in cumsum.
    k = int(np.searchsorted(cum, target_share - 1e-12) + 1)
    ascending = x[::-1]
    i = np.arange(1, n + 1)
    gini = float(np.sum((2 * i - n - 1) * ascending) / (n * total))
    return Concentration(
        clients=n,
        total=total,
        top_clients=top_n,
        top_share=float(cum[top_n - 1]),
        clients_for_target=k,
        clients_share_for_target=k / n,
        gini=gini,
    )


def lorenz_curve(values: np.ndarray) -> pd.DataFrame:
    """Cumulative client share vs value share, highest first, starting at (0, 0)."""
    x = np.sort(np.asarray(values, dtype=float))[::-1]
    n = x.size
    return pd.DataFrame(
        {
            "client_share": np.concatenate([[0.0], np.arange(1, n + 1) / n]),
            "value_share": np.concatenate([[0.0], np.cumsum(x) / x.sum()]),
        }
    )


def client_values(ctx: PeriodContext, period: Period, basis: str, window: str) -> pd.DataFrame:
    """Per-client gross purchases, returns and net value in the window ending with ``period``.

    ``orders`` counts distinct purchases: an order id, or the row's time when it has none.
    Highest net value first, ties by customer id.
    """
    start = period.start if window == "period" else add_months(period.end, -12)
    tx = ctx.view("transactions", period.end)
    tx = tx.filter(tx.date >= ibis.timestamp(start))
    value = tx.amount if basis == "revenue" else tx.margin
    purchase = tx.amount > 0
    per_client = tx.group_by("customer_id").aggregate(
        net=money_sum(value),
        gross=money_sum(value, purchase),
        returns=money_sum(value, tx.amount < 0).fill_null(0.0),
        orders=tx.order_id.fill_null(tx.date.cast("string")).nunique(where=purchase),
    )
    return ctx.execute(per_client.order_by([ibis.desc("net"), "customer_id"]))


class Pareto:
    """The Pareto 80/20 section."""

    name = "pareto"
    title = "Pareto 80/20: value concentration"
    order = 10
    requires: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {
        "basis": "revenue",
        "window": "period",
        "top_share": 0.2,
        "target_share": 0.8,
        "top_list": 20,
    }
    definitions: Mapping[str, str] = {
        "Net value": "Sum of amount (or margin) of a client's rows in the window, returns "
        "(negative rows) netted in.",
        "Top 20 % share": "Share of the positive net value total brought by the ceil(20 % x n) "
        "highest-value clients (n = clients with positive net value).",
        "Clients for 80 %": "Smallest share of clients, highest value first, whose value adds "
        "up to at least 80 % of the total.",
        "Gini coefficient": "sum_i (2i - n - 1) x_(i) / (n sum x) over ascending client values; "
        "0 = equal, towards 1 = concentrated.",
        "Clients not ranked": "Clients whose net value in the window is zero or negative "
        "(returns only, or returns above purchases); left out of the shares.",
    }

    def run(self, ctx: PeriodContext) -> Section:
        s = ctx.settings
        basis, window = s["basis"], s["window"]
        if basis not in ("revenue", "margin"):
            raise ConfigError(f"analyses.pareto.basis must be revenue or margin, got {basis!r}")
        if window not in ("period", "trailing_year"):
            raise ConfigError(
                f"analyses.pareto.window must be period or trailing_year, got {window!r}"
            )
        for key in ("top_share", "target_share"):
            if not 0 < float(s[key]) < 1:
                raise ConfigError(f"analyses.pareto.{key} must be between 0 and 1")
        notes = []
        if basis == "margin" and "margin" not in ctx.dataset.columns("transactions"):
            notes.append("The transactions have no margin or cost column: revenue is used.")
            basis = "revenue"
        top_share, target = float(s["top_share"]), float(s["target_share"])
        now = client_values(ctx, ctx.period, basis, window)
        before = client_values(ctx, ctx.previous, basis, window)
        positive = now[now["net"] > 0]
        if positive.empty:
            return Section(
                self.name,
                self.title,
                summary=f"No client has a positive net {basis} in {ctx.period}.",
                notes=notes,
            )
        c = concentration(positive["net"].to_numpy(), top_share, target)
        prev_pos = before.loc[before["net"] > 0, "net"].to_numpy()
        p = concentration(prev_pos, top_share, target) if prev_pos.size else None
        unranked = now[now["net"] <= 0]

        clients = now.assign(
            rank=np.where(now["net"] > 0, np.arange(1, len(now) + 1), np.nan),
        )
        clients["top_group"] = clients["rank"] <= c.top_clients
        pct = round(top_share * 100)
        tpct = round(target * 100)
        metrics = [
            Metric(
                "net_value",
                f"Net {basis}",
                float(now["net"].sum()),
                "money",
                float(before["net"].sum()) if len(before) else None,
                True,
                headline=True,
            ),
            Metric(
                "clients",
                "Clients with positive net value",
                c.clients,
                "count",
                p.clients if p else None,
                True,
            ),
            Metric(
                "top_share",
                f"Top {pct} % share of {basis}",
                c.top_share,
                "share",
                p.top_share if p else None,
                None,
                headline=True,
            ),
            Metric(
                "clients_share_for_target",
                f"Share of clients making {tpct} %",
                c.clients_share_for_target,
                "share",
                p.clients_share_for_target if p else None,
            ),
            Metric("gini", "Gini coefficient", c.gini, "ratio", p.gini if p else None),
            Metric(
                "unranked",
                "Clients not ranked (net <= 0)",
                len(unranked),
                "count",
                int((before["net"] <= 0).sum()) if len(before) else None,
                False,
            ),
            Metric(
                "returns",
                "Returns netted in",
                float(now["returns"].sum()),
                "money",
                float(before["returns"].sum()) if len(before) else None,
                None,
            ),
        ]
        top = self._top_table(ctx, clients, c, int(s["top_list"]))
        summary = (
            f"The top {pct} % of clients ({c.top_clients:,}) brought {c.top_share:.0%} of net "
            f"{basis}; {c.clients_share_for_target:.0%} of clients make {tpct} % of it "
            f"(Gini {c.gini:.2f})."
        )
        if p is not None:
            summary += f" A period earlier the top {pct} % brought {p.top_share:.0%}."
        if len(unranked):
            notes.append(
                f"{len(unranked):,} client(s) with zero or negative net {basis} "
                f"(total {unranked['net'].sum():,.2f}) are not ranked."
            )
        return Section(
            self.name,
            self.title,
            summary=summary,
            metrics=metrics,
            tables={"top": top},
            figures=[self._figure(positive["net"].to_numpy(), c, top_share, target, ctx.period)],
            notes=notes,
            data={"clients": clients, "concentration": c},
        )

    @staticmethod
    def _top_table(
        ctx: PeriodContext, clients: pd.DataFrame, c: Concentration, limit: int
    ) -> Table:
        top = clients[clients["rank"] <= limit].copy()
        top["share"] = top["net"] / c.total
        top["cumulative_share"] = top["share"].cumsum()
        cols = ["rank", "customer_id", "net", "returns", "orders", "share", "cumulative_share"]
        frame = top[cols]
        if ctx.has("customers") and "name" in ctx.dataset.columns("customers"):
            names = ctx.table("customers")[["customer_id", "name"]]
            frame = frame.merge(names, on="customer_id", how="left")
            frame = frame[["rank", "customer_id", "name", *cols[2:]]]
        frame = frame.astype({"rank": int})
        return Table(
            frame,
            formats={
                "net": "money",
                "returns": "money",
                "orders": "count",
                "share": "share",
                "cumulative_share": "share",
            },
            caption=f"Top {len(frame)} clients by net value",
        )

    @staticmethod
    def _figure(
        values: np.ndarray, c: Concentration, top_share: float, target: float, period: Period
    ) -> Figure:
        curve = lorenz_curve(values)
        fig = Figure(figsize=(6.4, 4.2), dpi=100)
        ax = fig.subplots()
        ax.plot(
            curve["client_share"] * 100,
            curve["value_share"] * 100,
            color="#1f5f8b",
            lw=2,
            label="Cumulative share of value",
        )
        ax.plot([0, 100], [0, 100], color="#999999", ls="--", lw=1, label="Equal value")
        ax.axvline(top_share * 100, color="#c0392b", lw=1, ls=":")
        ax.axhline(c.top_share * 100, color="#c0392b", lw=1, ls=":")
        ax.annotate(
            f"top {top_share:.0%} -> {c.top_share:.0%}",
            (top_share * 100, c.top_share * 100),
            xytext=(8, -16),
            textcoords="offset points",
            color="#c0392b",
        )
        ax.set_xlabel("Share of clients, highest value first (%)")
        ax.set_ylabel("Share of net value (%)")
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.set_title(f"Pareto curve, {period} (Gini {c.gini:.2f})")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        fig.tight_layout()
        return fig


@hookimpl
def register_analyses(register: Any) -> None:
    register(Pareto())
