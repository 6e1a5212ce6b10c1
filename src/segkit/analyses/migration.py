"""Migration between periods: who moved between the levels of every segmentation.

For every section in the report whose ``data`` holds a segmenter (see
:mod:`segkit.analyses.segmenter`), the segmenter is fitted on the **previous** period's features
and both periods are labelled with those frozen cut-offs, so a move means the client changed,
not the thresholds. Definitions:

* **From / to**: the client's level as of the previous period's end and as of this period's
  end. A client present in only one of the two is ``(new)`` before or ``(gone)`` after.
* **Up / down**: to a level earlier / later in the segmenter's ``levels`` (best first).
* **Value**: the client's net revenue in this period (returns netted in; 0 when they did not
  buy), the same measure for every segmentation so matrices can be compared.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from segkit.analyses.features import client_features
from segkit.analyses.segmenter import Segmenter
from segkit.engine.analysis import Metric, Section, Table
from segkit.engine.context import PeriodContext
from segkit.engine.hookspecs import hookimpl
from segkit.errors import ConfigError

NEW, GONE = "(new)", "(gone)"
MOVES = np.array(["entered", "left", "up", "down", "same"], dtype=object)


def transitions(
    segmenter: Segmenter, before: pd.DataFrame, now: pd.DataFrame, value: pd.Series
) -> pd.DataFrame:
    """One row per client of either period: ``customer_id``, ``from``, ``to``, ``move``, ``value``.

    ``segmenter`` is fitted on ``before`` (changing it); ``value`` is indexed by customer id.
    ``move`` is ``up``, ``down``, ``same``, ``entered`` or ``left``.
    """
    segmenter.fit(before)
    a = pd.DataFrame({"customer_id": before["customer_id"], "from": segmenter.predict(before)})
    b = pd.DataFrame({"customer_id": now["customer_id"], "to": segmenter.predict(now)})
    t = a.merge(b, on="customer_id", how="outer", sort=True)
    t["from"] = t["from"].fillna(NEW)
    t["to"] = t["to"].fillna(GONE)
    rank = {level: i for i, level in enumerate(segmenter.levels)}
    r_from = t["from"].map(rank).to_numpy(dtype=float)
    r_to = t["to"].map(rank).to_numpy(dtype=float)
    # Codes into one shared object per move: an array of text from np.select became 1 M new
    # Python strings per segmentation (~65 MB each at 1 M clients, kept with the transitions).
    move = np.select(
        [t["from"] == NEW, t["to"] == GONE, r_to < r_from, r_to > r_from], [0, 1, 2, 3], 4
    )
    t["move"] = MOVES[move]
    t["value"] = t["customer_id"].map(value).fillna(0.0).to_numpy(dtype=float)
    return t


def matrices(t: pd.DataFrame, levels: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Transition matrices of client counts and of value: rows from, columns to."""
    rows, cols = [*levels, NEW], [*levels, GONE]
    counts = pd.crosstab(t["from"], t["to"]).reindex(index=rows, columns=cols, fill_value=0)
    value = (
        t.pivot_table(index="from", columns="to", values="value", aggfunc="sum", observed=False)
        .reindex(index=rows, columns=cols)
        .fillna(0.0)
    )
    return counts, value


class Migration:
    """The migration section: transition matrices and movers for each segmentation."""

    name = "migration"
    title = "Migration between periods"
    order = 90
    requires: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {"movers": 25}
    definitions: Mapping[str, str] = {
        "Frozen thresholds": "Each segmentation's cut-offs are learnt on the previous period and "
        "applied to both periods, so a move means the client changed.",
        "Moved up / down": "To a better / worse level of the segmentation (levels best first).",
        "(new) / (gone)": "Not classed as of the previous / this period's end.",
        "Value": "The client's net revenue in this period.",
    }

    def run(self, ctx: PeriodContext) -> Section:
        limit = ctx.settings["movers"]
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError("analyses.migration.movers must be a positive whole number")
        sources = {
            name: s.data["segmenter"]
            for name, s in sorted(ctx.results.items(), key=lambda kv: (kv[1].order, kv[0]))
            if s.error is None and isinstance(s.data.get("segmenter"), Segmenter)
        }
        if not sources:
            return Section(self.name, self.title, summary="No segmentation ran this period.")
        features = client_features(ctx, ctx.period)
        value = pd.Series(
            features["revenue_period"].to_numpy(), index=features["customer_id"].to_numpy()
        )
        metrics: list[Metric] = []
        tables: dict[str, Table] = {}
        data: dict[str, Any] = {}
        lines, notes = [], []
        for name, proto in sources.items():
            seg = copy.deepcopy(proto)  # the section keeps its unfitted segmenter
            try:
                t = transitions(
                    seg, seg.features(ctx, ctx.previous), seg.features(ctx, ctx.period), value
                )
            except Exception as exc:  # one plugin's segmenter must not hide the others' moves
                notes.append(f"{name}: migration failed: {type(exc).__name__}: {exc}")
                continue
            counts, values = matrices(t, tuple(seg.levels))
            data[name] = t
            title = ctx.results[name].title
            up, down = int((t["move"] == "up").sum()), int((t["move"] == "down").sum())
            both = int(t["move"].isin(["up", "down", "same"]).sum())
            metrics += [
                Metric(f"{name}_up", f"{title}: moved up", up, "count", None, True),
                Metric(f"{name}_down", f"{title}: moved down", down, "count", None, False),
            ]
            lines.append(f"{name}: {up:,} up, {down:,} down of {both:,} classed in both")
            tables[f"{name}_counts"] = Table(
                counts.rename_axis(f"{name} from \\ to").reset_index(),
                formats={c: "count" for c in counts.columns},
                caption=f"{title}: clients by level, previous period (rows) to this (columns)",
            )
            tables[f"{name}_value"] = Table(
                values.rename_axis(f"{name} from \\ to").reset_index(),
                formats={c: "money" for c in values.columns},
                caption=f"{title}: this period's net revenue of the clients in each cell",
            )
            for move in ("up", "down"):
                movers = t[t["move"] == move]
                # Highest value first, ties by id. t is sorted by id, so its row order breaks the
                # ties: a sort on the text ids took ~0.3 s per segmentation at 1 M clients.
                movers = movers.iloc[
                    np.lexsort((np.arange(len(movers)), -movers["value"].to_numpy()))
                ]
                tables[f"{name}_{move}"] = Table(
                    movers[["customer_id", "from", "to", "value"]].reset_index(drop=True),
                    formats={"value": "money"},
                    caption=f"{title}: moved {move}, highest value first",
                    max_rows=limit,
                )
        return Section(
            self.name,
            self.title,
            summary=f"From {ctx.previous} to {ctx.period}, with the cut-offs of {ctx.previous}: "
            + "; ".join(lines)
            + ".",
            metrics=metrics,
            tables=tables,
            notes=notes,
            data={"transitions": data},
        )


@hookimpl
def register_analyses(register: Any) -> None:
    register(Migration())
