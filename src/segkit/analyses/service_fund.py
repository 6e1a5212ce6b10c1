"""The service fund: a budget of service effort split over tiers and clients.

The fund is the period's budget of service effort, in money (the config currency) or staff
hours (``unit``). It goes to the clients tiered by :mod:`segkit.analyses.tiers` (rated clients:
a purchase in the last twelve months), by one of these rules (``allocation``):

* ``value_proportional`` (built in, the default): each client's **weight** is their value
  (``value``, default net margin in the twelve months to the period end; zero when negative)
  times their tier's multiplier (``multipliers``, default basic 1, medium 1.5, VIP 2). Shares
  are proportional to the weight, kept between the tier's **floor** and **cap** per client
  (``floors`` / ``caps``): by default multiples of the average fund per client
  (``budget / clients``; basic 0.25 / 3, medium 0.5 / 6, VIP 1 / 20), or amounts in the
  fund's unit with ``bounds: absolute``. Clients pushed to a bound are fixed there and the rest
  of the budget is shared again by weight, until nobody is out of bounds: each round fixes the
  over-cap clients when their excess is larger than the under-floor clients' shortfall, else
  the under-floor ones (so the fixed clients are exactly those bound at the final solution).
  When no free client has a positive weight, the rest is split equally among them.
* any rule a plugin registers through ``register_fund_rules``, named in ``allocation``: it is
  called as ``rule(clients, budget)`` with one row per client (``customer_id``, ``tier``,
  ``value``, ``revenue_year``, ``margin_year``) and returns the fund per row.

The **budget** is ``budget`` when set, else ``budget_share`` (default 10 %) of the period's net
margin of the rated clients (money only; none when the margin is not positive). Allocations are
in whole hundredths of the unit (cents): each client gets the floor of their exact share and the
hundredths left over go to the largest remainders, so the allocation adds up to the budget
exactly and each client is within one hundredth of their exact share.

Against what each tier brings: the period's net revenue and net margin of the tier's clients,
and the fund as a percentage of that margin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segkit.analyses.charts import paired_share_bars
from segkit.analyses.tiers import LABELS, TIERS
from segkit.engine.analysis import Metric, Section, Table, Unit
from segkit.engine.context import PeriodContext
from segkit.engine.hookspecs import hookimpl
from segkit.engine.plugins import PluginManager
from segkit.errors import ConfigError
from segkit.periods import Period

#: A fund rule: ``rule(clients, budget)`` -> the fund of each row of ``clients`` (same index).
FundRule = Callable[[pd.DataFrame, float], pd.Series]
BUILT_IN = "value_proportional"
VALUES = ("margin_year", "revenue_year", "margin_period", "revenue_period")
UNITS = ("money", "hours")


def bounded_proportional(
    weights: np.ndarray, budget: float, floors: np.ndarray, caps: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``budget`` in proportion to ``weights``, each share within ``[floors, caps]``.

    Returns the exact shares and a code per client: -1 fixed at the floor, 1 at the cap, 0 free.
    Raises :class:`ValueError` when the bounds cannot hold the budget.
    """
    n = weights.size
    if floors.sum() > budget * (1 + 1e-12) + 1e-9:
        raise ValueError(f"the floors need {floors.sum():,.2f}, more than the budget {budget:,.2f}")
    if caps.sum() < budget * (1 - 1e-12) - 1e-9:
        raise ValueError(
            f"the caps allow only {caps.sum():,.2f}, less than the budget {budget:,.2f}"
        )
    share = np.zeros(n)
    bound = np.zeros(n, dtype=np.int8)
    free = np.ones(n, dtype=bool)
    while free.any():
        rest = budget - share[~free].sum()
        w = weights[free]
        # No positive weight left: the rest is split equally (a documented fallback).
        trial = rest * w / w.sum() if w.sum() > 0 else np.full(w.size, rest / w.size)
        over = np.maximum(trial - caps[free], 0)
        under = np.maximum(floors[free] - trial, 0)
        excess, shortfall = over.sum(), under.sum()
        idx = np.flatnonzero(free)
        if excess <= 1e-12 * max(budget, 1) and shortfall <= 1e-12 * max(budget, 1):
            share[idx] = trial
            break
        # More excess than shortfall means the final ratio is lower, so today's over-cap clients
        # stay capped (and the reverse for floors): fixing them is safe.
        fix_caps = excess >= shortfall
        hit = over > 0 if fix_caps else under > 0
        share[idx[hit]] = caps[idx[hit]] if fix_caps else floors[idx[hit]]
        bound[idx[hit]] = 1 if fix_caps else -1
        free[idx[hit]] = False
    return share, bound


def to_hundredths(exact: np.ndarray, budget: float) -> np.ndarray:
    """Round ``exact`` to hundredths that add up to ``budget`` (largest remainders)."""
    total = round(budget * 100)
    scaled = exact * 100
    cents = np.floor(scaled + 1e-9).astype(np.int64)
    left = total - int(cents.sum())
    if left > 0:
        # Stable: equal remainders go to the earlier row, so the split is reproducible.
        cents[np.argsort(-(scaled - cents), kind="stable")[:left]] += 1
    elif left < 0:
        cents[np.argsort(scaled - cents, kind="stable")[:-left]] -= 1
    return cents / 100


@dataclass(frozen=True)
class ValueProportional:
    """The built-in rule (see the module docstring) with the given tier settings.

    ``multipliers``, ``floors`` and ``caps`` map each tier to a number; with ``relative`` the
    floors and caps are multiples of the average fund per client.
    """

    multipliers: Mapping[str, float]
    floors: Mapping[str, float]
    caps: Mapping[str, float]
    relative: bool = True

    def __call__(self, clients: pd.DataFrame, budget: float) -> pd.Series:
        return self.allocate(clients, budget)[0]

    def allocate(self, clients: pd.DataFrame, budget: float) -> tuple[pd.Series, pd.Series]:
        """The fund per client and where it is bound ("floor", "cap" or "")."""
        tiers = clients["tier"]
        weights = clients["value"].clip(lower=0).to_numpy(float) * tiers.map(
            self.multipliers
        ).to_numpy(float)
        scale = budget / len(clients) if self.relative else 1.0
        lo = tiers.map(self.floors).to_numpy(float) * scale
        hi = tiers.map(self.caps).to_numpy(float) * scale
        try:
            exact, bound = bounded_proportional(weights, budget, lo, hi)
        except ValueError as exc:
            raise ConfigError(
                f"analyses.service_fund: {exc}; lower the floors or raise the caps"
            ) from None
        fund = pd.Series(to_hundredths(exact, budget), index=clients.index, name="fund")
        where = pd.Series(bound, index=clients.index).map({-1: "floor", 1: "cap", 0: ""})
        return fund, where


def _tier_numbers(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must map each tier ({', '.join(TIERS)}) to a number")
    unknown = sorted(set(map(str, value)) - set(TIERS))
    if unknown:
        raise ConfigError(f"{where}: unknown tier(s) {', '.join(unknown)}; tiers: {TIERS}")
    out = {}
    for tier, v in value.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise ConfigError(f"{where}.{tier} must be a non-negative number, got {v!r}")
        out[str(tier)] = float(v)
    return out


class ServiceFund:
    """The service fund section."""

    name = "service_fund"
    title = "Service fund by tier"
    order = 42
    requires: tuple[str, ...] = ("tiers",)
    defaults: Mapping[str, Any] = {
        "budget": None,
        "budget_share": 0.1,
        "unit": "money",
        "allocation": BUILT_IN,
        "value": "margin_year",
        "multipliers": {"basic": 1.0, "medium": 1.5, "vip": 2.0},
        "bounds": "relative",
        "floors": {"basic": 0.25, "medium": 0.5, "vip": 1.0},
        "caps": {"basic": 3.0, "medium": 6.0, "vip": 20.0},
    }
    definitions: Mapping[str, str] = {
        "Service fund": "The period's budget of service effort (money or staff hours), split "
        "over tiered clients; it always adds up to the budget.",
        "Budget": "The configured budget, else budget_share (10 %) of the period's net margin "
        "of the rated clients.",
        "Value-proportional rule": "Fund proportional to value (12 months' net margin) x tier "
        "multiplier (basic 1, medium 1.5, VIP 2), within per-client floors and caps of each "
        "tier (multiples of the average fund per client).",
        "Fund % of margin": "The tier's fund / the tier's net margin in the period.",
    }

    def run(self, ctx: PeriodContext) -> Section:
        s = ctx.settings
        unit = str(s["unit"])
        if unit not in UNITS:
            raise ConfigError(f"analyses.service_fund.unit must be money or hours, got {unit!r}")
        value = str(s["value"])
        if value not in VALUES:
            raise ConfigError(
                f"analyses.service_fund.value must be one of {', '.join(VALUES)}, got {value!r}"
            )
        tiers = ctx.results["tiers"].data["clients"]
        clients = tiers[
            [
                "customer_id",
                "tier",
                "revenue_year",
                "margin_year",
                "revenue_period",
                "margin_period",
            ]
        ].copy()
        clients["value"] = clients[value]
        budget, budget_note = self._budget(s, unit, float(clients["margin_period"].sum()))
        name, rule = self._rule(ctx, s)
        if isinstance(rule, ValueProportional):
            fund, bound = rule.allocate(clients, budget)
        else:
            fund, bound = rule(clients, budget), pd.Series("", index=clients.index)
        _check_allocation(fund, clients, budget, name)
        clients["fund"] = fund.to_numpy(float)
        clients["bound"] = bound.to_numpy(object)
        by_tier = _by_tier(clients)
        fmt: Unit = "money" if unit == "money" else "hours"
        vip_share = float(by_tier.loc["vip", "fund_share"]) if budget > 0 else None
        margin = float(clients["margin_period"].sum())
        metrics = [
            Metric("budget", f"Service fund ({unit})", budget, fmt),
            Metric("vip_fund_share", "Share of the fund to VIP clients", vip_share, "share"),
            Metric(
                "fund_per_client",
                "Average fund per client",
                budget / len(clients),
                fmt,
            ),
        ]
        if unit == "money":
            metrics.append(
                Metric(
                    "fund_share_of_margin",
                    "Fund as a share of the period's net margin",
                    budget / margin if margin > 0 else None,
                    "share",
                    higher_is_better=False,
                    headline=True,
                )
            )
        notes = [budget_note, f"Allocation rule: {name}."]
        if (clients["bound"] == "cap").any() or (clients["bound"] == "floor").any():
            notes.append(
                f"{int((clients['bound'] == 'cap').sum()):,} client(s) are held at their tier's "
                f"cap and {int((clients['bound'] == 'floor').sum()):,} at its floor."
            )
        if unit == "money" and budget > max(margin, 0):
            notes.append(
                f"The fund ({budget:,.2f}) exceeds the period's net margin ({margin:,.2f}): it "
                "is not covered by what these clients bring."
            )
        vip = by_tier.loc["vip"]
        summary = (
            f"A service fund of {budget:,.2f} {'hours' if unit == 'hours' else ctx.config.currency}"
            f" for {ctx.period} goes {vip['fund_share']:.0%} to the {int(vip['clients']):,} VIP "
            f"clients, who bring {vip['margin_share']:.0%} of the period's net margin."
            if budget > 0
            else f"No service fund for {ctx.period}: the budget is zero."
        )
        return Section(
            self.name,
            self.title,
            summary=summary,
            metrics=metrics,
            tables={
                "tiers": Table(
                    by_tier.reset_index(),
                    formats={
                        "clients": "count",
                        "fund": fmt,
                        "fund_share": "share",
                        "fund_per_client": fmt,
                        "revenue_period": "money",
                        "margin_period": "money",
                        "margin_share": "share",
                        "fund_pct_of_margin": "share",
                    },
                    caption=f"Service fund against what each tier brings, {ctx.period}",
                )
            },
            figures=[_figure(by_tier, ctx.period)] if budget > 0 else [],
            notes=notes,
            data={"clients": clients[["customer_id", "tier", "value", "fund", "bound"]]},
        )

    @staticmethod
    def _budget(s: Mapping[str, Any], unit: str, margin: float) -> tuple[float, str]:
        budget = s["budget"]
        if budget is not None:
            if isinstance(budget, bool) or not isinstance(budget, int | float) or budget < 0:
                raise ConfigError(
                    f"analyses.service_fund.budget must be a non-negative number, got {budget!r}"
                )
            return float(budget), f"Budget set in the config: {float(budget):,.2f} ({unit})."
        if unit == "hours":
            raise ConfigError("analyses.service_fund.budget must be set when unit is hours")
        share = s["budget_share"]
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise ConfigError(
                f"analyses.service_fund.budget_share must be between 0 and 1, got {share!r}"
            )
        budget = round(max(margin, 0.0) * share, 2)
        return budget, (
            f"Budget: {share:.0%} of the period's net margin of rated clients "
            f"({margin:,.2f}) = {budget:,.2f}; set analyses.service_fund.budget to fix it."
        )

    @staticmethod
    def _rule(ctx: PeriodContext, s: Mapping[str, Any]) -> tuple[str, FundRule]:
        name = str(s["allocation"])
        if name == BUILT_IN:
            where = "analyses.service_fund"
            bounds = str(s["bounds"])
            if bounds not in ("relative", "absolute"):
                raise ConfigError(f"{where}.bounds must be relative or absolute, got {bounds!r}")
            mult = _tier_numbers(s["multipliers"], f"{where}.multipliers")
            floors = _tier_numbers(s["floors"], f"{where}.floors")
            caps = _tier_numbers(s["caps"], f"{where}.caps")
            for tier in TIERS:
                for what, given in (("multipliers", mult), ("floors", floors), ("caps", caps)):
                    if tier not in given:
                        raise ConfigError(f"{where}.{what} has no value for tier {tier!r}")
                if floors[tier] > caps[tier]:
                    raise ConfigError(
                        f"{where}: thresholds out of order, the {tier} floor "
                        f"{floors[tier]:g} is above its cap {caps[tier]:g}"
                    )
            return name, ValueProportional(mult, floors, caps, relative=bounds == "relative")
        # Plugin rules: the engine does not hand its plugin manager to analyses, so the rules
        # are collected once per run from a manager of the same plugins folder.
        rules: dict[str, Any] = ctx.memo(
            ("fund_rules",),
            lambda: (ctx.plugins or PluginManager(ctx.config.plugins_dir)).fund_rules(),
        )
        if name not in rules:
            known = ", ".join([BUILT_IN, *sorted(rules)])
            raise ConfigError(
                f"analyses.service_fund.allocation: no fund rule {name!r} is loaded; rules: {known}"
            )
        return name, rules[name]


def _check_allocation(fund: Any, clients: pd.DataFrame, budget: float, name: str) -> None:
    """A rule's result must cover every client, be finite and >= 0, and add up to the budget."""
    if not isinstance(fund, pd.Series) or not fund.index.equals(clients.index):
        raise TypeError(f"fund rule {name!r} must return a Series with the clients' index")
    values = fund.to_numpy(float)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"fund rule {name!r} returned negative or non-finite amounts")
    if abs(values.sum() - budget) > 0.005 + 1e-9 * budget:
        raise ValueError(
            f"fund rule {name!r} allocated {values.sum():,.2f}, not the budget {budget:,.2f}"
        )


def _by_tier(clients: pd.DataFrame) -> pd.DataFrame:
    g = clients.groupby("tier")
    frame = pd.DataFrame(
        {
            "clients": g.size(),
            "fund": g["fund"].sum(),
            "revenue_period": g["revenue_period"].sum(),
            "margin_period": g["margin_period"].sum(),
        }
    ).reindex(list(TIERS), fill_value=0)
    budget, margin = frame["fund"].sum(), frame["margin_period"].sum()
    frame["fund_share"] = frame["fund"] / budget if budget > 0 else np.nan
    frame["fund_per_client"] = frame["fund"] / frame["clients"].where(frame["clients"] > 0)
    frame["margin_share"] = frame["margin_period"] / margin if margin > 0 else np.nan
    frame["fund_pct_of_margin"] = frame["fund"] / frame["margin_period"].where(
        frame["margin_period"] > 0
    )
    frame.index.name = "tier"
    return frame[
        [
            "clients",
            "fund",
            "fund_share",
            "fund_per_client",
            "revenue_period",
            "margin_period",
            "margin_share",
            "fund_pct_of_margin",
        ]
    ]


def _figure(by_tier: pd.DataFrame, period: Period) -> Figure:
    """Share of the fund vs share of the period's margin per tier."""
    return paired_share_bars(
        [LABELS[t] for t in by_tier.index],
        {
            "Fund": (by_tier["fund_share"], "#c0392b"),
            "Margin": (by_tier["margin_share"], "#1f5f8b"),
        },
        f"Service fund vs net margin by tier, {period}",
    )


@hookimpl
def register_analyses(register: Any) -> None:
    register(ServiceFund())
