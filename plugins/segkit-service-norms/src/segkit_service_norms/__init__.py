"""Industry-norm service cost: what serving the period's active clients should cost.

A segkit plugin (entry point ``service_norms`` in the ``segkit`` group). It adds one report
section, ``service_norms``, and one service-fund allocation rule, ``industry_norm``.

Definitions (per period ``[start, end)``, rows known before ``end`` only):

* **Active client**: a client with at least one purchase (a row with ``amount > 0``) dated in
  the period. A client with only returns in the period is not active.
* **Months in the period**: 1 for a month, 3 for a quarter, 12 for a year.
* **Service-cost norm**: the cost of serving one client for one month, in the report
  currency, by tier (``basic``, ``medium``, ``vip``): an ``industry`` preset, or your own
  ``cost_per_client_per_month``.
* **Tier**: read from the ``tier_column`` of the customers table (case-insensitive
  ``basic`` / ``medium`` / ``vip``); clients without one (no customers table, no such column,
  an empty or unknown value) count as ``default_tier``. The column is taken as exported: it is
  not historised, so past periods use today's tiers.
* **Expected service cost**: the sum over active clients of norm(tier) x months.
* **Net revenue**: the sum of ``amount`` of every row dated in the period, returns netted in.
* **Service cost share**: expected service cost / net revenue; undefined when net revenue
  is zero or negative.

Settings (``analyses.service_norms`` in segkit.yaml)::

    industry: generic              # a key of INDUSTRY_PRESETS
    cost_per_client_per_month: 12  # a flat norm for every tier, or {vip: 80} to override
                                   # the preset's tiers one by one; null: the preset alone
    tier_column: tier
    default_tier: basic

The presets are **illustrative assumptions**, not measured industry statistics: they encode
the handbook's shape (basic service < medium < VIP's extended service) with round numbers for
examples and demos. Replace them with your own cost of service.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segkit.engine.analysis import Metric, Section, Table
from segkit.engine.context import PeriodContext
from segkit.engine.hookspecs import hookimpl
from segkit.errors import ConfigError
from segkit.periods import Period

__version__ = "0.1.0"

TIERS: tuple[str, ...] = ("basic", "medium", "vip")

#: Illustrative service-cost norms per client per month, in the report currency, by tier.
#: Assumptions for examples, not sourced statistics; what each one imagines:
#:
#: * ``generic``: a little staff time for basic clients, a contact a month for medium ones,
#:   a personal manager's share for VIPs.
#: * ``retail``: self-service shops and a loyalty programme; VIPs get a personal shopper now
#:   and then.
#: * ``saas``: ticket support for everyone, customer success for the larger accounts.
#: * ``b2b_services``: account managers' hours, the dearest service of the four.
INDUSTRY_PRESETS: Mapping[str, Mapping[str, float]] = {
    "generic": {"basic": 5.0, "medium": 15.0, "vip": 50.0},
    "retail": {"basic": 2.0, "medium": 6.0, "vip": 25.0},
    "saas": {"basic": 10.0, "medium": 35.0, "vip": 150.0},
    "b2b_services": {"basic": 40.0, "medium": 120.0, "vip": 400.0},
}

#: A fund rule: ``rule(clients, budget)`` -> the budget split over ``clients.index``.
FundRule = Callable[[pd.DataFrame, float], pd.Series]


def months_in(period: Period) -> int:
    """Number of calendar months in ``period`` (1, 3 or 12)."""
    return (period.end.year - period.start.year) * 12 + period.end.month - period.start.month


def resolve_norms(
    industry: str, cost: float | Mapping[str, float] | None, where: str = "service_norms"
) -> dict[str, float]:
    """Norm per tier: the ``industry`` preset, overridden by ``cost`` (flat or per tier)."""
    if industry not in INDUSTRY_PRESETS:
        raise ConfigError(
            f"analyses.{where}.industry: unknown industry {industry!r}; presets are "
            f"{', '.join(INDUSTRY_PRESETS)}"
        )
    norms = dict(INDUSTRY_PRESETS[industry])
    if isinstance(cost, Mapping):
        unknown = sorted(set(cost) - set(TIERS))
        if unknown:
            raise ConfigError(
                f"analyses.{where}.cost_per_client_per_month: unknown tier(s) "
                f"{', '.join(map(str, unknown))}; tiers are {', '.join(TIERS)}"
            )
        norms.update({str(k): _cost(v, where) for k, v in cost.items()})
    elif cost is not None:
        norms = dict.fromkeys(TIERS, _cost(cost, where))
    return norms


def _cost(value: object, where: str) -> float:
    # bool is an int: `true` in YAML must not become a norm of 1.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(
            f"analyses.{where}.cost_per_client_per_month must be a number or a mapping of "
            f"tier to number, got {value!r}"
        )
    if value < 0:
        raise ConfigError(f"analyses.{where}.cost_per_client_per_month must not be negative")
    return float(value)


def normalise_tiers(values: pd.Series, default_tier: str) -> pd.Series:
    """Tier names lower-cased and stripped; missing or unknown ones become ``default_tier``."""
    tiers = values.astype("string").str.strip().str.lower()
    return tiers.where(tiers.isin(TIERS), default_tier).astype(object)


class ServiceNorms:
    """The industry-norm service cost section."""

    name = "service_norms"
    title = "Service cost at industry norms"
    order = 60
    requires: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {
        "industry": "generic",
        "cost_per_client_per_month": None,
        "tier_column": "tier",
        "default_tier": "basic",
    }
    definitions: Mapping[str, str] = {
        "Active clients": "Clients with at least one purchase (amount > 0) dated in the period.",
        "Service-cost norm": "Cost of serving one client for one month, by tier, from the "
        "industry preset (illustrative assumptions) or the configured cost_per_client_per_month.",
        "Expected service cost": "Sum over active clients of the norm of their tier x the "
        "number of months in the period.",
        "Net revenue": "Sum of amount of every transaction dated in the period, returns netted in.",
        "Service cost share": "Expected service cost / net revenue; undefined when net revenue "
        "is zero or negative.",
    }

    def run(self, ctx: PeriodContext) -> Section:
        s = ctx.settings
        industry = str(s["industry"])
        norms = resolve_norms(industry, s["cost_per_client_per_month"])
        default_tier = str(s["default_tier"]).strip().lower()
        if default_tier not in TIERS:
            raise ConfigError(
                f"analyses.service_norms.default_tier must be one of {', '.join(TIERS)}, "
                f"got {s['default_tier']!r}"
            )
        now = self.client_costs(ctx, ctx.period, norms, str(s["tier_column"]), default_tier)
        before = self.client_costs(ctx, ctx.previous, norms, str(s["tier_column"]), default_tier)
        cur, prev = _totals(now), _totals(before)
        months = months_in(ctx.period)
        by_tier = _by_tier(now, norms, months)
        metrics = [
            Metric("active_clients", "Active clients", cur.active, "count", prev.active, True),
            Metric(
                "expected_service_cost",
                "Expected service cost",
                cur.cost,
                "money",
                prev.cost,
                None,
            ),
            Metric("net_revenue", "Net revenue", cur.revenue, "money", prev.revenue, True),
            Metric(
                "service_cost_share",
                "Service cost share of net revenue",
                cur.share,
                "share",
                prev.share,
                False,
                headline=True,
            ),
            Metric(
                "cost_per_active_client",
                "Expected service cost per active client",
                cur.per_client,
                "money",
                prev.per_client,
                None,
            ),
        ]
        notes = [
            f"Norms ({industry} preset"
            + (", overridden in the config" if s["cost_per_client_per_month"] is not None else "")
            + "): "
            + ", ".join(f"{t} {norms[t]:,.2f}" for t in TIERS)
            + " per client per month; illustrative assumptions unless you set your own."
        ]
        defaulted = int(now["tier_defaulted"].sum())
        if defaulted:
            notes.append(
                f"{defaulted:,} client(s) have no known tier in column '{s['tier_column']}' and "
                f"are costed as {default_tier}."
            )
        if cur.active == 0:
            summary = f"No client bought in {ctx.period}: no service cost is expected."
        else:
            share = f"{cur.share:.1%}" if cur.share is not None else "undefined"
            summary = (
                f"Serving the {cur.active:,} clients active in {ctx.period} for {months} "
                f"month(s) at {industry} norms costs an expected {cur.cost:,.2f}, "
                f"{share} of net revenue ({cur.revenue:,.2f})."
            )
        return Section(
            self.name,
            self.title,
            summary=summary,
            metrics=metrics,
            tables={
                "tiers": Table(
                    by_tier,
                    formats={
                        "active_clients": "count",
                        "norm_per_month": "money",
                        "expected_cost": "money",
                        "net_revenue": "money",
                        "cost_share": "share",
                    },
                    caption=f"Expected service cost by tier, {ctx.period} ({months} month(s))",
                )
            },
            figures=[_figure(by_tier, ctx.period)] if cur.active else [],
            notes=notes,
            data={"clients": now, "norms": norms, "months": months},
        )

    @staticmethod
    def client_costs(
        ctx: PeriodContext,
        period: Period,
        norms: Mapping[str, float],
        tier_column: str,
        default_tier: str,
    ) -> pd.DataFrame:
        """Per client with rows in ``period``: tier, active, net revenue, expected cost."""
        tx = ctx.view("transactions", period.end)
        tx = tx.filter(tx.date >= ibis.timestamp(period.start))
        frame = ctx.execute(
            tx.group_by("customer_id")
            .aggregate(net_revenue=tx.amount.sum(), active=tx.count(where=tx.amount > 0) > 0)
            .order_by("customer_id")
        )
        tiers = pd.Series(pd.NA, index=frame.index, dtype="string")
        if ctx.has("customers") and tier_column in ctx.dataset.columns("customers"):
            known = ctx.table("customers", period.end).set_index("customer_id")[tier_column]
            tiers = frame["customer_id"].map(known).astype("string")
        frame["tier"] = normalise_tiers(tiers, default_tier)
        frame["tier_defaulted"] = ~tiers.str.strip().str.lower().isin(TIERS).to_numpy(bool)
        frame["norm_per_month"] = frame["tier"].map(norms).astype(float)
        frame["expected_cost"] = np.where(
            frame["active"], frame["norm_per_month"] * months_in(period), 0.0
        )
        return frame


@dataclass(frozen=True)
class Totals:
    """Period totals: active clients, expected cost and net revenue (money), their ratios."""

    active: int
    cost: float
    revenue: float
    #: cost / revenue, None when revenue <= 0.
    share: float | None
    #: cost / active clients, None without active clients.
    per_client: float | None


def _totals(clients: pd.DataFrame) -> Totals:
    active = int(clients["active"].sum())
    cost = float(clients["expected_cost"].sum())
    revenue = float(clients["net_revenue"].sum())
    return Totals(
        active,
        cost,
        revenue,
        cost / revenue if revenue > 0 else None,
        cost / active if active else None,
    )


def _by_tier(clients: pd.DataFrame, norms: Mapping[str, float], months: int) -> pd.DataFrame:
    rows = []
    for tier in TIERS:
        part = clients[clients["tier"] == tier]
        cost, revenue = float(part["expected_cost"].sum()), float(part["net_revenue"].sum())
        rows.append(
            {
                "tier": tier,
                "active_clients": int(part["active"].sum()),
                "norm_per_month": norms[tier],
                "expected_cost": cost,
                "net_revenue": revenue,
                "cost_share": cost / revenue if revenue > 0 else np.nan,
            }
        )
    return pd.DataFrame(rows)


def _figure(by_tier: pd.DataFrame, period: Period) -> Figure:
    """Grouped bars: expected service cost and net revenue by tier."""
    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    ax = fig.subplots()
    x = np.arange(len(by_tier))
    width = 0.38
    ax.bar(x - width / 2, by_tier["expected_cost"], width, color="#c0392b", label="Service cost")
    ax.bar(x + width / 2, by_tier["net_revenue"], width, color="#1f5f8b", label="Net revenue")
    ax.set_xticks(x, [str(t) for t in by_tier["tier"]])
    ax.set_ylabel("Report currency")
    ax.set_title(f"Expected service cost vs net revenue by tier, {period}")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


# -- the fund rule ---------------------------------------------------------------------------
def allocate_by_norm(
    clients: pd.DataFrame,
    budget: float,
    norms: Mapping[str, float] | None = None,
    default_tier: str = "basic",
) -> pd.Series:
    """Split ``budget`` over ``clients`` in proportion to each client's norm cost.

    ``clients`` has one row per client (its index is kept) and optionally a ``tier`` column;
    missing or unknown tiers count as ``default_tier``, and without the column every client
    gets an equal share. The result is in whole cents (0.01 of the budget's unit) and its
    cents add up exactly to the budget rounded to cents: each client gets the floor of their
    proportional share, and the cents left over go one each to the largest remainders (ties
    to the earlier row).
    """
    weights_by_tier = dict(norms if norms is not None else INDUSTRY_PRESETS["generic"])
    if not math.isfinite(budget) or budget < 0:
        raise ValueError(f"the budget must be a finite non-negative number, got {budget!r}")
    if "tier" in clients.columns:
        tiers = normalise_tiers(clients["tier"], default_tier)
    else:
        tiers = pd.Series(default_tier, index=clients.index)
    weights = tiers.map(weights_by_tier).to_numpy(dtype=float)
    total_cents = round(budget * 100)
    if total_cents == 0:
        return pd.Series(0.0, index=clients.index, name="fund")
    if weights.size == 0 or weights.sum() <= 0:
        raise ValueError("no client with a positive norm cost to allocate the budget to")
    exact = weights / weights.sum() * total_cents
    cents = np.floor(exact).astype(np.int64)
    left = total_cents - int(cents.sum())
    # Remainders are rounded so that float noise (66666.6666...67 vs 6666.6666...66) does not
    # decide between equal shares; the stable sort then gives ties to the earlier row.
    remainders = np.round(exact - cents, 9)
    cents[np.argsort(-remainders, kind="stable")[:left]] += 1
    return pd.Series(cents / 100, index=clients.index, name="fund")


def make_fund_rule(industry: str = "generic", cost: Any = None) -> FundRule:
    """A fund rule with the norms of ``industry`` (overridden by ``cost``) as weights."""
    norms = resolve_norms(industry, cost)

    def rule(clients: pd.DataFrame, budget: float) -> pd.Series:
        return allocate_by_norm(clients, budget, norms)

    rule.__doc__ = f"Service fund in proportion to {industry} service-cost norms by tier."
    return rule


# -- hooks -----------------------------------------------------------------------------------
@hookimpl
def register_analyses(register: Any) -> None:
    register(ServiceNorms())


@hookimpl
def register_fund_rules(register: Any) -> None:
    register("industry_norm", make_fund_rule("generic"))
