"""Service: first-response and resolution times of the support tickets opened in the period.

Durations run from ``opened_at`` to ``first_response_at`` (response) and to ``resolved_at``
(resolution), in hours. A ticket still waiting at the cut-off (the period's end) is **censored**
at the cut-off rather than dropped: dropping it would keep only the fast cases. The median,
90th percentile and the share done within the target are read from the Kaplan-Meier curve.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import ibis
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segkit.analyses.breakdowns import customer_groups, stacked, with_group
from segkit.analyses.options import names, number
from segkit.engine.analysis import Metric, Section, Table
from segkit.engine.context import PeriodContext
from segkit.engine.hookspecs import hookimpl
from segkit.periods import Period
from segkit.stats.survival import KaplanMeier, kaplan_meier

HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class Durations:
    """Summary of one duration (response or resolution) over a set of tickets, in hours."""

    tickets: int
    done: int
    censored: int
    median: float | None
    p90: float | None
    within_target: float | None


def durations(
    tickets: pd.DataFrame, end_column: str, cutoff: date
) -> tuple[np.ndarray, np.ndarray]:
    """Hours from ``opened_at`` to ``end_column`` and whether it happened before ``cutoff``.

    A ticket without ``end_column`` is censored at the cut-off; for the response, a ticket
    resolved without a recorded first response is left out (the response time is unknown, not
    pending), which the caller reports.
    """
    end = tickets[end_column]
    done = end.notna().to_numpy()
    stop = end.where(end.notna(), pd.Timestamp(cutoff))
    hours = ((stop - tickets["opened_at"]) / HOUR).to_numpy(dtype=float)
    return hours, done


def summarise(hours: np.ndarray, done: np.ndarray, target_hours: float) -> Durations:
    """Kaplan-Meier median, 90th percentile and share done within ``target_hours``."""
    km = kaplan_meier(hours, done)
    return Durations(
        km.n,
        km.events,
        km.n - km.events,
        km.quantile(0.5),
        km.quantile(0.9),
        km.share_by(target_hours),
    )


def tickets_in(ctx: PeriodContext, period: Period) -> pd.DataFrame:
    """Tickets opened in ``period`` as known at its end."""
    tickets = ctx.view("tickets", period.end)
    return ctx.execute(
        tickets.filter(tickets.opened_at >= ibis.timestamp(period.start)).select(
            "customer_id", "opened_at", "first_response_at", "resolved_at"
        )
    )


def response_frame(tickets: pd.DataFrame) -> pd.DataFrame:
    """The tickets whose response time is known or pending (not resolved without a response)."""
    unknown = tickets["first_response_at"].isna() & tickets["resolved_at"].notna()
    return tickets[~unknown]


class Service:
    """The response and resolution time section."""

    name = "service"
    title = "Service: response and resolution times"
    order = 46
    requires: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {
        "response_target_hours": 8,
        "resolution_target_hours": 48,
        "breakdown": ["acquisition_source", "region"],
    }
    definitions: Mapping[str, str] = {
        "Tickets": "Support tickets opened in the period (opened_at in [start, end)).",
        "Response time": "Hours from opened_at to first_response_at. A ticket resolved without "
        "a recorded first response is left out (unknown), and counted in a note.",
        "Resolution time": "Hours from opened_at to resolved_at.",
        "Median / 90th percentile": "Kaplan-Meier estimate over the period's tickets, with "
        "tickets not yet answered/resolved at the period's end censored at that moment: the "
        "smallest t with S(t) <= 0.5 (0.1). Not reached when too many tickets are still open.",
        "Share within target": "Kaplan-Meier estimate of the share answered (resolved) within "
        "the target hours, 1 - S(target); censored tickets count for the time they were seen.",
    }

    def run(self, ctx: PeriodContext) -> Section:
        s = ctx.settings
        r_target = number(s, self.name, "response_target_hours", low=0, open_low=True)
        s_target = number(s, self.name, "resolution_target_hours", low=0, open_low=True)
        breakdown = names(s, self.name, "breakdown")
        if not ctx.has("tickets"):
            return Section(self.name, self.title, summary="No tickets table: nothing to show.")
        now_t, prev_t = tickets_in(ctx, ctx.period), tickets_in(ctx, ctx.previous)

        def both(t: pd.DataFrame, cutoff: date) -> tuple[Durations, Durations]:
            resp = summarise(*durations(response_frame(t), "first_response_at", cutoff), r_target)
            res = summarise(*durations(t, "resolved_at", cutoff), s_target)
            return resp, res

        resp, res = both(now_t, ctx.period.end)
        p_resp, p_res = both(prev_t, ctx.previous.end)
        metrics = [
            Metric("tickets", "Tickets opened", len(now_t), "count", len(prev_t), None),
            Metric(
                "response_median",
                "Median response time",
                resp.median,
                "hours",
                p_resp.median,
                False,
            ),
            Metric("response_p90", "90th pct response time", resp.p90, "hours", p_resp.p90, False),
            Metric(
                "response_within",
                f"Answered within {r_target:g} h",
                resp.within_target,
                "share",
                p_resp.within_target,
                True,
            ),
            Metric(
                "resolution_median",
                "Median resolution time",
                res.median,
                "hours",
                p_res.median,
                False,
            ),
            Metric(
                "resolution_p90", "90th pct resolution time", res.p90, "hours", p_res.p90, False
            ),
            Metric(
                "resolution_within",
                f"Resolved within {s_target:g} h",
                res.within_target,
                "share",
                p_res.within_target,
                True,
            ),
        ]
        overview = pd.DataFrame(
            [{"measure": "response", **resp.__dict__}, {"measure": "resolution", **res.__dict__}]
        )
        fmt: dict[str, Any] = {
            "tickets": "count",
            "done": "count",
            "censored": "count",
            "median": "hours",
            "p90": "hours",
            "within_target": "share",
        }
        tables = {"overview": Table(overview, fmt, caption="Kaplan-Meier summaries")}
        parts = []
        for by, grouping in customer_groups(ctx, breakdown).items():
            rows = []
            for group, part in with_group(now_t, grouping).groupby("group", sort=True):
                d = summarise(*durations(part, "resolved_at", ctx.period.end), s_target)
                rows.append({"group": group, **d.__dict__})
            parts.append((by, pd.DataFrame(rows)))
        by_group = stacked(parts)
        if len(by_group):
            tables["resolution_by_group"] = Table(
                by_group, fmt, caption="Resolution time by group", max_rows=60
            )
        notes = []
        skipped = len(now_t) - len(response_frame(now_t))
        if skipped:
            notes.append(
                f"{skipped:,} ticket(s) were resolved without a recorded first response and are "
                "left out of the response time."
            )
        if res.tickets and res.median is None:
            notes.append("Fewer than half of the tickets are resolved: the median is not reached.")
        summary = (
            f"{len(now_t):,} tickets opened; median resolution "
            f"{_hours(res.median)}, {_share(res.within_target)} resolved within {s_target:g} h "
            f"({res.censored:,} still open at the period's end, counted as censored)."
            if len(now_t)
            else "No tickets were opened in the period."
        )
        figures = [_figure(now_t, prev_t, ctx.period, s_target)] if len(now_t) else []
        return Section(
            self.name,
            self.title,
            summary=summary,
            metrics=metrics,
            tables=tables,
            figures=figures,
            notes=notes,
            data={"response": resp, "resolution": res, "by_group": by_group},
        )


def _hours(x: float | None) -> str:
    return "not reached" if x is None else f"{x:,.1f} h"


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _figure(now: pd.DataFrame, prev: pd.DataFrame, period: Period, target: float) -> Figure:
    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    ax = fig.subplots()
    for label, t, cut, color in (
        (str(period), now, period.end, "#1f5f8b"),
        (str(period.previous()), prev, period.start, "#999999"),
    ):
        if not len(t):
            continue
        km: KaplanMeier = kaplan_meier(*durations(t, "resolved_at", cut))
        ax.step(
            np.concatenate([[0.0], km.times]),
            np.concatenate([[0.0], 1 - km.survival]) * 100,
            where="post",
            color=color,
            label=label,
        )
    ax.axvline(target, color="#c0392b", ls=":", lw=1, label=f"target {target:g} h")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("Hours since the ticket was opened")
    ax.set_ylabel("Resolved (%), Kaplan-Meier")
    ax.set_ylim(0, 100)
    ax.set_title(f"Resolution time, {period}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


@hookimpl
def register_analyses(register: Any) -> None:
    register(Service())
