"""Satisfaction: NPS and CSAT from the surveys table, with intervals, by group.

Definitions (per period; the unit is a survey answer dated in the period, so a customer who
answers twice counts twice):

* **NPS**: promoters (9-10) minus detractors (0-6), as a share of the answers with an NPS score,
  shown in points from -100 to 100. Interval: Rocks' adjusted Wald (see
  :func:`segkit.stats.intervals.nps_interval`).
* **CSAT share**: answers of 4 or 5 over the answers with a CSAT score (1-5), with the Wilson
  interval. **CSAT mean**: mean score with the Student t interval.
* A group with fewer than ``min_responses`` answers is flagged as too small to compare.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
from segkit.stats.intervals import mean_interval, nps_categories, nps_interval, wilson_interval

SMALL = "small sample"


@dataclass(frozen=True)
class Scores:
    """NPS (points, -100..100) and CSAT figures of one set of answers; None when undefined."""

    nps_n: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None
    nps_low: float | None
    nps_high: float | None
    csat_n: int
    csat_share: float | None
    csat_share_low: float | None
    csat_share_high: float | None
    csat_mean: float | None
    csat_mean_low: float | None
    csat_mean_high: float | None


def _points(x: float | None) -> float | None:
    return None if x is None else 100.0 * x


def score(nps: np.ndarray, csat: np.ndarray, level: float = 0.95) -> Scores:
    """NPS and CSAT of the answers; NaN entries (unanswered questions) are left out."""
    nps = np.asarray(nps, dtype=float)
    csat = np.asarray(csat, dtype=float)
    nps, csat = nps[~np.isnan(nps)], csat[~np.isnan(csat)]
    pro, pas, det = nps_categories(nps)
    ni = nps_interval(pro, det, nps.size, level)
    good = wilson_interval(int(np.sum(csat >= 4)), csat.size, level)
    mean = mean_interval(csat, level)
    return Scores(
        nps.size,
        pro,
        pas,
        det,
        _points(ni.estimate),
        _points(ni.low),
        _points(ni.high),
        csat.size,
        good.estimate,
        good.low,
        good.high,
        mean.estimate,
        mean.low,
        mean.high,
    )


def scores_by_group(answers: pd.DataFrame, min_responses: int, level: float) -> pd.DataFrame:
    """One row per ``group`` of ``answers`` (columns group, nps, csat) with its :class:`Scores`."""
    rows = []
    for group, part in answers.groupby("group", sort=True):
        s = score(part["nps"].to_numpy(), part["csat"].to_numpy(), level)
        small = min(s.nps_n, s.csat_n) < min_responses
        rows.append({"group": group, **s.__dict__, "note": SMALL if small else ""})
    return pd.DataFrame(rows)


def answers_in(ctx: PeriodContext, period: Period) -> pd.DataFrame:
    """Survey answers dated in ``period``, as known at its end: customer_id, nps, csat."""
    surveys = ctx.view("surveys", period.end)
    return ctx.execute(
        surveys.filter(surveys.date >= ibis.timestamp(period.start)).select(
            "customer_id", "nps", "csat"
        )
    )


class Satisfaction:
    """The NPS and CSAT section."""

    name = "satisfaction"
    title = "Satisfaction: NPS and CSAT"
    order = 44
    requires: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {
        "min_responses": 30,
        "level": 0.95,
        "breakdown": ["acquisition_source", "region"],
    }
    definitions: Mapping[str, str] = {
        "NPS": "Per survey answer dated in the period with an NPS score (0-10): % promoters "
        "(9-10) minus % detractors (0-6), from -100 to 100. Denominator: answers with an NPS "
        "score; a customer answering twice counts twice. No answers: undefined.",
        "NPS interval": "95 % adjusted Wald interval of Rocks (2016, The American Statistician "
        "70(4)): 3 pseudo-answers added (3/4 promoter, 3/2 passive, 3/4 detractor) before the "
        "trinomial Wald standard error; clipped to -100..100. Keeps width at NPS = +-100 and "
        "near-nominal coverage at small n.",
        "Small sample": "A group with fewer than min_responses (default 30) NPS or CSAT answers "
        "is flagged: its interval is wide and comparisons with it are unreliable.",
        "CSAT share": "Answers of 4 or 5 on the 1-5 scale over answers with a CSAT score, with "
        "the Wilson score interval.",
        "CSAT mean": "Mean CSAT score (1-5) with the Student t interval.",
    }

    def run(self, ctx: PeriodContext) -> Section:
        s = ctx.settings
        min_n = int(number(s, self.name, "min_responses", low=1, integer=True))
        level = number(s, self.name, "level", low=0.5, high=0.999)
        breakdown = names(s, self.name, "breakdown")
        if not ctx.has("surveys"):
            return Section(self.name, self.title, summary="No surveys table: nothing to show.")
        now_answers = answers_in(ctx, ctx.period)
        now = score(now_answers["nps"].to_numpy(), now_answers["csat"].to_numpy(), level)
        prev_answers = answers_in(ctx, ctx.previous)
        prev = score(prev_answers["nps"].to_numpy(), prev_answers["csat"].to_numpy(), level)
        metrics = [
            Metric("nps", "NPS", now.nps, "score", prev.nps, True, headline=True),
            Metric("nps_responses", "NPS answers", now.nps_n, "count", prev.nps_n, True),
            Metric("csat_share", "CSAT 4-5 share", now.csat_share, "share", prev.csat_share, True),
            Metric("csat_mean", "CSAT mean (1-5)", now.csat_mean, "score", prev.csat_mean, True),
        ]
        overview = pd.DataFrame(
            [
                ("NPS (points)", now.nps, now.nps_low, now.nps_high, now.nps_n, prev.nps),
                (
                    "CSAT 4-5 (%)",
                    _points(now.csat_share),
                    _points(now.csat_share_low),
                    _points(now.csat_share_high),
                    now.csat_n,
                    _points(prev.csat_share),
                ),
                (
                    "CSAT mean (1-5)",
                    now.csat_mean,
                    now.csat_mean_low,
                    now.csat_mean_high,
                    now.csat_n,
                    prev.csat_mean,
                ),
            ],
            columns=["metric", "estimate", "low", "high", "answers", "previous"],
        )
        groups = customer_groups(ctx, breakdown)
        by = stacked(
            [
                (k, scores_by_group(with_group(now_answers, g), min_n, level))
                for k, g in groups.items()
            ]
        )
        notes = []
        if now.nps_n < min_n:
            notes.append(
                f"Only {now.nps_n} NPS answer(s) this period (fewer than {min_n}): read the "
                "interval, not the point."
            )
        tables = {
            "overview": Table(
                overview,
                {
                    "estimate": "number",
                    "low": "number",
                    "high": "number",
                    "previous": "number",
                    "answers": "count",
                },
                caption=f"NPS and CSAT with {level:.0%} intervals",
            )
        }
        figures = []
        if len(by):
            cols = ["by", "group", "nps_n", "nps", "nps_low", "nps_high", "csat_n", "csat_share"]
            tables["by_group"] = Table(
                by[[*cols, "csat_mean", "note"]],
                {
                    "nps_n": "count",
                    "nps": "score",
                    "nps_low": "score",
                    "nps_high": "score",
                    "csat_n": "count",
                    "csat_share": "share",
                    "csat_mean": "score",
                },
                caption="NPS and CSAT by group (small samples flagged)",
                max_rows=60,
            )
            first = next(iter(groups))
            figures.append(_nps_figure(by[by["by"] == first], first, ctx.period))
        summary = (
            f"NPS {now.nps:+.0f} ({now.nps_low:+.0f} to {now.nps_high:+.0f}) from {now.nps_n:,} "
            "answers"
            if now.nps is not None and now.nps_low is not None and now.nps_high is not None
            else "No NPS answers"
        )
        if now.csat_share is not None:
            summary += f"; {now.csat_share:.0%} of {now.csat_n:,} CSAT answers are 4-5"
        summary += "."
        return Section(
            self.name,
            self.title,
            summary=summary,
            metrics=metrics,
            tables=tables,
            figures=figures,
            notes=notes,
            data={"now": now, "previous": prev, "by_group": by},
        )


def _nps_figure(rows: pd.DataFrame, by: str, period: Period) -> Figure:
    rows = rows.dropna(subset=["nps"]).sort_values("nps")
    fig = Figure(figsize=(6.4, 0.4 * len(rows) + 1.6), dpi=100)
    ax = fig.subplots()
    y = np.arange(len(rows))
    small = (rows["note"] == SMALL).to_numpy()
    # Drawn from its bounds: the adjusted-Wald interval is centred on the adjusted estimate,
    # so in a tiny group the plain NPS can lie outside it (an error bar would need negatives).
    ax.hlines(y, rows["nps_low"], rows["nps_high"], color="#7f8c8d")
    ax.scatter(rows["nps_low"], y, marker="|", color="#7f8c8d")
    ax.scatter(rows["nps_high"], y, marker="|", color="#7f8c8d")
    ax.scatter(rows["nps"][~small], y[~small], color="#1f5f8b", zorder=3, label="NPS")
    ax.scatter(
        rows["nps"][small], y[small], color="white", edgecolor="#c0392b", zorder=3, label=SMALL
    )
    ax.axvline(0, color="#999999", lw=1)
    ax.set_yticks(y, [f"{g} (n={n})" for g, n in zip(rows["group"], rows["nps_n"], strict=True)])
    ax.set_xlim(-100, 100)
    ax.set_xlabel("NPS (points) with 95 % interval")
    ax.set_title(f"NPS by {by.replace('_', ' ')}, {period}")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


@hookimpl
def register_analyses(register: Any) -> None:
    register(Satisfaction())
