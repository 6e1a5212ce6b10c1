"""Sales funnel: stage counts, conversion, time between stages, by source, and the planning view.

Definitions (per period, data as known at its end):

* The **cohort** of a period is the leads that entered the first stage (default ``call``) in
  it (``window: trailing_year``: in the twelve months ending with it). Later stages are
  followed up to the period's end, so recent leads may still convert after it.
* **Reached a stage**: a lead counts at stage k only if it entered every stage 1..k (the
  ordered-stage rule); a lead that skips a stage stops counting at the gap.
* **Stage conversion** k-1 -> k: leads counted at k / leads counted at k-1, with the Wilson
  interval; **overall conversion**: leads counted at the last stage / cohort.
* **Time between stages**: median days from entering k-1 to entering k, over leads counted at k.
* **Planning view**: the volume each stage needs for ``target_buyers`` at the last stage,
  ``target / product of the conversion rates from that stage on``; 95 % interval from the
  rates' binomial error by the delta method on the log scale
  (:func:`segkit.stats.intervals.required_volume`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import ibis
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segkit.analyses.breakdowns import UNKNOWN
from segkit.analyses.options import names, number
from segkit.engine.analysis import Metric, Section, Table
from segkit.engine.context import PeriodContext
from segkit.engine.hookspecs import hookimpl
from segkit.errors import ConfigError, DataError
from segkit.periods import Period, add_months
from segkit.stats.intervals import required_volume, wilson_interval

DAY = pd.Timedelta(days=1)


def check_order(wide: pd.DataFrame, stages: Sequence[str], path: Any = None) -> None:
    """Raise :class:`DataError` for leads that entered a stage before one that precedes it.

    ``wide`` has one row per lead (index ``lead_id``) and each stage's first entry time.
    """
    times = wide[list(stages)].to_numpy(dtype="datetime64[ns]")
    # Non-decreasing entry times along the stage order: compare each with the latest before it.
    as_num = np.where(np.isnat(times), np.iinfo(np.int64).min, times.view(np.int64))
    latest_before = np.maximum.accumulate(as_num, axis=1)[:, :-1]
    bad = (~np.isnat(times[:, 1:])) & (as_num[:, 1:] < latest_before)
    if bad.any():
        leads = wide.index[bad.any(axis=1)]
        raise DataError(
            "has leads that entered a stage before an earlier stage of the funnel",
            path=path,
            column="entered_at",
            examples=list(leads[:5]),
            n_bad=len(leads),
            hint=f"the stages are ordered {' -> '.join(stages)}; fix the dates, or the stage "
            "order under 'analyses: {funnel: {stages: [...]}}' in segkit.yaml",
        )


def lead_stages(
    ctx: PeriodContext, cutoff: date, stages: Sequence[str], start: date, path: Any = None
) -> pd.DataFrame:
    """Leads whose first-stage entry is in ``[start, cutoff)``: each stage's first entry time
    (NaT if never) and the lead's source, as known at ``cutoff``.

    Raises :class:`DataError` for stage names outside ``stages`` (compared trimmed and
    lower-cased; its examples are the most frequent such names, ties by name) and for stages
    entered out of order (:func:`check_order`). The engine reduces the funnel rows to one row
    per lead, each stage's first entry an aggregate over that stage's rows.
    """
    view = ctx.view("funnel", cutoff)
    # Loaded text is already trimmed (segkit.data.load): lower-casing is all that is left.
    stage = view.stage.lower()
    unknown = ctx.execute(
        view.filter(stage.notin(list(stages)))
        .group_by("stage")
        .aggregate(n=ibis._.count())
        .order_by(ibis.desc("n"), "stage")
    )
    if len(unknown):
        raise DataError(
            f"has stage name(s) not in the configured stages {', '.join(stages)}",
            path=path,
            column="stage",
            examples=unknown["stage"].tolist()[:5],
            n_bad=int(unknown["n"].sum()),
            hint="fix the names, or list your stages in order under "
            "'analyses: {funnel: {stages: [...]}}' in segkit.yaml",
        )
    firsts = {f"s{i}": view.entered_at.min(where=stage == st) for i, st in enumerate(stages)}
    wide = ctx.execute(
        view.group_by("lead_id")
        .aggregate(**firsts, source=view.source.min().coalesce(UNKNOWN))
        .filter(ibis._.s0 >= ibis.timestamp(start))
        .order_by("lead_id")
    ).set_index("lead_id")
    wide.columns = [*stages, "source"]
    check_order(wide, stages, path)
    return wide


def reached(wide: pd.DataFrame, stages: Sequence[str]) -> pd.DataFrame:
    """Boolean frame: lead counted at each stage under the ordered-stage rule."""
    entered = wide[list(stages)].notna()
    return entered.cumprod(axis=1).astype(bool)


def conversion(wide: pd.DataFrame, stages: Sequence[str]) -> pd.DataFrame:
    """Per stage: leads counted, conversion from the previous stage (Wilson bounds), overall
    conversion from the first stage and the median days from the previous stage."""
    hit = reached(wide, stages)
    counts = hit.sum().astype(int)
    rows = []
    for k, name in enumerate(stages):
        row: dict[str, Any] = {"stage": name, "leads": int(counts[name])}
        if k == 0:
            row.update(rate=None, low=None, high=None, median_days=None)
        else:
            w = wilson_interval(int(counts[name]), int(counts[stages[k - 1]]))
            gap = (wide.loc[hit[name], name] - wide.loc[hit[name], stages[k - 1]]) / DAY
            row.update(
                rate=w.estimate,
                low=w.low,
                high=w.high,
                median_days=float(gap.median()) if len(gap) else None,
            )
        first = int(counts[stages[0]])
        row["overall"] = counts[name] / first if first else None
        rows.append(row)
    return pd.DataFrame(rows)


def plan(counts: Sequence[int], stages: Sequence[str], target: float) -> pd.DataFrame:
    """Volume each stage needs for ``target`` at the last stage, with its 95 % interval.

    ``counts[k]`` is the number of leads counted at stage k (non-increasing).
    """
    rows = []
    for k, name in enumerate(stages):
        v = required_volume(target, counts[k:-1], counts[k + 1 :])
        rows.append(
            {
                "stage": name,
                "needed": None if v.estimate is None else math.ceil(v.estimate - 1e-9),
                "low": None if v.low is None else math.ceil(v.low - 1e-9),
                "high": None if v.high is None else math.ceil(v.high - 1e-9),
            }
        )
    return pd.DataFrame(rows)


class Funnel:
    """The sales funnel section."""

    name = "funnel"
    title = "Sales funnel and planning"
    order = 60
    requires: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {
        "stages": ["call", "proposal", "meeting", "buyer"],
        "window": "period",
        "target_buyers": 10,
    }
    definitions: Mapping[str, str] = {
        "Cohort": "Leads that entered the first stage in the period (window: trailing_year: "
        "in the 12 months ending with it); their later stages are followed to the period's "
        "end, so the latest leads may still convert.",
        "Reached a stage": "A lead counts at stage k only if it entered every stage before k "
        "(ordered-stage rule); skipping a stage stops it at the gap.",
        "Stage conversion": "Leads counted at stage k / leads counted at stage k-1, with the "
        "Wilson 95 % interval.",
        "Overall conversion": "Leads counted at the last stage / leads in the cohort.",
        "Days between stages": "Median days from entering stage k-1 to entering stage k, over "
        "the leads counted at k.",
        "Planning view": "Volume a stage needs for the target at the last stage: target / "
        "product of the conversion rates from that stage on, rounded up (e.g. 10 buyers at "
        "50/10/25 % need 800 calls). 95 % interval: delta method on the log scale, var(log V) "
        "= sum of (1/converted - 1/reached) over those stages, the target taken as fixed. "
        "Undefined when a stage converted nobody. Target: target_buyers (default 10).",
    }

    def run(self, ctx: PeriodContext) -> Section:
        s = ctx.settings
        stages = [x.lower() for x in names(s, self.name, "stages")]
        if len(stages) < 2 or len(set(stages)) != len(stages):
            raise ConfigError("analyses.funnel.stages must list two or more distinct stages")
        if s["window"] not in ("period", "trailing_year"):
            raise ConfigError("analyses.funnel.window must be period or trailing_year")
        target = number(s, self.name, "target_buyers", low=0, open_low=True)
        if not ctx.has("funnel"):
            return Section(self.name, self.title, summary="No funnel table: nothing to show.")
        path = ctx.dataset.files["funnel"]
        now = self._cohort(ctx, ctx.period, stages, s["window"], path)
        before = self._cohort(ctx, ctx.previous, stages, s["window"], path)
        conv, prev_conv = conversion(now, stages), conversion(before, stages)
        counts = conv["leads"].tolist()
        tables: dict[str, Table] = {
            "stages": Table(
                conv,
                {
                    "leads": "count",
                    "rate": "share",
                    "low": "share",
                    "high": "share",
                    "overall": "share",
                    "median_days": "days",
                },
                caption="Stage counts and conversion of the period's cohort",
            )
        }
        notes = []
        if counts[-1] > 0:
            tables["plan"] = Table(
                plan(counts, stages, target),
                {"needed": "count", "low": "count", "high": "count"},
                caption=f"Volume needed per stage for {target:g} {stages[-1]}(s) "
                "at the current conversion rates (95 % interval)",
            )
        else:
            notes.append(
                f"No lead of the cohort reached '{stages[-1]}': no rates for a planning view."
            )
        by_source = self._by_source(now, stages)
        if len(by_source):
            tables["by_source"] = Table(
                by_source,
                {
                    "leads": "count",
                    stages[-1]: "count",
                    "overall": "share",
                    "low": "share",
                    "high": "share",
                },
                caption="Conversion by lead source",
            )
        skipped = int((now[stages].notna() & ~reached(now, stages)).any(axis=1).sum())
        if skipped:
            notes.append(
                f"{skipped:,} lead(s) entered a stage without the one before it; they count "
                "only up to the gap."
            )
        overall = conv["overall"].iloc[-1]
        prev_overall = prev_conv["overall"].iloc[-1]
        metrics = [
            Metric(
                "leads",
                f"Leads ({stages[0]})",
                counts[0],
                "count",
                int(prev_conv["leads"].iloc[0]),
                True,
            ),
            Metric(
                "buyers",
                f"Leads reaching {stages[-1]}",
                counts[-1],
                "count",
                int(prev_conv["leads"].iloc[-1]),
                True,
            ),
            Metric(
                "overall_conversion",
                "Overall conversion",
                _num(overall),
                "share",
                _num(prev_overall),
                True,
            ),
        ]
        metrics += [
            Metric(
                f"conversion_{row.stage}",
                f"Conversion to {row.stage}",
                _num(row.rate),
                "share",
                _num(prev.rate),
                True,
            )
            for row, prev in zip(
                conv.iloc[1:].itertuples(), prev_conv.iloc[1:].itertuples(), strict=True
            )
        ]
        summary = (
            f"{counts[0]:,} leads entered '{stages[0]}'; {counts[-1]:,} reached "
            f"'{stages[-1]}' ({overall:.1%})."
            if counts[0]
            else f"No lead entered '{stages[0]}' in the period."
        )
        return Section(
            self.name,
            self.title,
            summary=summary,
            metrics=metrics,
            tables=tables,
            figures=[_figure(conv, ctx.period)] if counts[0] else [],
            notes=notes,
            data={"leads": now, "conversion": conv},
        )

    @staticmethod
    def _cohort(
        ctx: PeriodContext, period: Period, stages: list[str], window: str, path: Any
    ) -> pd.DataFrame:
        start = period.start if window == "period" else add_months(period.end, -12)
        return lead_stages(ctx, period.end, stages, start, path)

    @staticmethod
    def _by_source(wide: pd.DataFrame, stages: list[str]) -> pd.DataFrame:
        hit = reached(wide, stages)
        rows = []
        for source, idx in wide.groupby("source").groups.items():
            leads, won = int(hit.loc[idx, stages[0]].sum()), int(hit.loc[idx, stages[-1]].sum())
            w = wilson_interval(won, leads)
            rows.append(
                {
                    "source": source,
                    "leads": leads,
                    stages[-1]: won,
                    "overall": w.estimate,
                    "low": w.low,
                    "high": w.high,
                }
            )
        return pd.DataFrame(rows)


def _num(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _figure(conv: pd.DataFrame, period: Period) -> Figure:
    fig = Figure(figsize=(6.4, 0.6 * len(conv) + 1.4), dpi=100)
    ax = fig.subplots()
    y = np.arange(len(conv))[::-1]
    ax.barh(y, conv["leads"], color="#1f5f8b")
    ax.set_xscale("symlog", linthresh=10)
    for yi, row in zip(y, conv.itertuples(), strict=True):
        label = f"{row.leads:,}" + ("" if row.rate is None else f"  ({row.rate:.0%} of previous)")
        ax.annotate(
            label, (max(row.leads, 1), yi), xytext=(4, 0), textcoords="offset points", va="center"
        )
    ax.set_yticks(y, conv["stage"])
    ax.set_xlabel("Leads counted at the stage (log scale)")
    ax.set_title(f"Funnel of the leads of {period}")
    fig.tight_layout()
    return fig


@hookimpl
def register_analyses(register: Any) -> None:
    register(Funnel())
