"""RFM: recency, frequency and monetary value of each client as of the period end.

Definitions (``end`` is the period's exclusive end; the *year* is the 12 months before it):

* Clients: everyone with at least one purchase (a row with amount > 0) before ``end``. A client
  with only returns has never bought and is not scored (counted in a note).
* **Recency**: days from the last purchase to ``end``. **Frequency**: distinct orders in the
  year. **Monetary**: net amount (``basis: margin``: net margin) in the year, returns netted in.
* **Scores 1-5** (rank-based quintiles, ties kept together): ``1 + floor(5 x share of clients
  strictly worse)``, where worse is a longer recency, fewer orders or less money. Equal values
  get the same score, the score of the lowest position they occupy: when 60 % of clients have
  the lowest frequency, all of them score F = 1 and the next frequency scores 4. The shares are
  taken over the clients of the period the segmenter was fitted on (frozen in migration).
* **FM** = ``ceil((F + M) / 2)``, frequency and money together.
* **Segments** from R and FM, a complete partition of the 5 x 5 grid (:data:`RULES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segkit.analyses._binning import Reference, rank_scores
from segkit.analyses.features import client_features, returns_only_clients
from segkit.analyses.segmenter import keep_labelled, with_results
from segkit.engine.analysis import Metric, Section, Table
from segkit.engine.context import PeriodContext
from segkit.engine.hookspecs import hookimpl
from segkit.errors import ConfigError
from segkit.periods import Period

#: Segment -> (R scores, FM scores, action), best segment first. Every (R, FM) pair of the
#: 5 x 5 grid falls in exactly one segment (a test checks it).
RULES: Mapping[str, tuple[range, range, str]] = {
    "Champions": (range(5, 6), range(4, 6), "Reward them; early access, ask for referrals."),
    "Loyal": (range(3, 5), range(4, 6), "Upsell higher-value offers; loyalty programme."),
    "Potential loyalists": (
        range(4, 6),
        range(2, 4),
        "Membership or loyalty offer; recommend related products.",
    ),
    "New": (range(5, 6), range(1, 2), "Onboarding support; make the second purchase easy."),
    "Promising": (range(4, 5), range(1, 2), "Build awareness; free trials, introductory offers."),
    "Need attention": (
        range(3, 4),
        range(3, 4),
        "Limited-time offers based on their purchase history.",
    ),
    "About to sleep": (
        range(3, 4),
        range(1, 3),
        "Share useful content and popular products; reconnect before they lapse.",
    ),
    "Can't lose them": (
        range(1, 3),
        range(5, 6),
        "Win them back personally: call, learn what went wrong, a tailored offer.",
    ),
    "At risk": (
        range(1, 3),
        range(3, 5),
        "Personal reactivation offer; ask for feedback.",
    ),
    "Hibernating": (
        range(1, 3),
        range(1, 3),
        "Low-cost reactivation campaigns only; otherwise let them go.",
    ),
}
SEGMENTS = tuple(RULES)


def segment_codes(r: np.ndarray, fm: np.ndarray) -> np.ndarray:
    """The position in :data:`SEGMENTS` of each (R, FM) score pair's segment (scores 1-5).

    Looked up in a table of the 5 x 5 pairs, instead of an ``isin`` per rule over every client.
    """
    table = np.full((6, 6), -1, dtype=np.int8)
    for i, (rs, fms, _) in enumerate(RULES.values()):
        table[np.ix_(list(rs), list(fms))] = i
    return table[np.asarray(r), np.asarray(fm)]


#: The segment names as objects to index per client (-1, no segment: "").
_SEGMENTS = np.array([*SEGMENTS, ""], dtype=object)


class RfmSegmenter:
    """RFM segments with the score quintiles learnt by :meth:`fit`."""

    name = "rfm"
    levels = SEGMENTS

    def __init__(self, basis: str = "revenue") -> None:
        self.basis = basis
        self.reference_: dict[str, Reference] | None = None

    def features(self, ctx: PeriodContext, period: Period) -> pd.DataFrame:
        """Recency (days), frequency (orders in the year), monetary (net in the year)."""
        f = client_features(ctx, period)
        # The client features' own columns (not copied): read only, and their ids, checked by
        # client_ids once, are then known to any section that checks them again.
        return pd.DataFrame(
            {
                "customer_id": f["customer_id"],
                "recency_days": f["recency_days"],
                "frequency": f["orders_year"],
                "monetary": f["margin_year" if self.basis == "margin" else "revenue_year"],
            },
            copy=False,
        )

    def fit(self, features: pd.DataFrame) -> Self:
        # Recency is negated so that "higher is better" holds for all three. References, not
        # sorted arrays: scoring the clients fitted on then needs no search (~0.3 s -> ~0.05 s
        # for the two periods at 825,000 clients).
        self.reference_ = {
            "r": Reference(-features["recency_days"].to_numpy(dtype=float)),
            "f": Reference(features["frequency"]),
            "m": Reference(features["monetary"]),
        }
        return self

    def score(self, features: pd.DataFrame) -> pd.DataFrame:
        """Scores ``r``, ``f``, ``m``, ``fm`` (1-5) and ``segment`` for each row."""
        return self._score(features)[0]

    def _score(self, features: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """:meth:`score` and each row's :func:`segment_codes`."""
        r, f, m, fm = self._scores(features)
        codes = segment_codes(r, fm)
        frame = pd.DataFrame(
            {"r": r, "f": f, "m": m, "fm": fm, "segment": _SEGMENTS[codes]},
            index=features.index,
            copy=False,  # new arrays, not copied into one block
        )
        return frame, codes

    def _scores(self, features: pd.DataFrame) -> tuple[np.ndarray, ...]:
        if self.reference_ is None:
            raise RuntimeError("fit the segmenter before predicting")
        ref = self.reference_
        r = rank_scores(ref["r"], -features["recency_days"].to_numpy(dtype=float))
        f = rank_scores(ref["f"], features["frequency"])
        m = rank_scores(ref["m"], features["monetary"])
        return r, f, m, (f + m + 1) // 2

    def predict(self, features: pd.DataFrame) -> pd.Series:
        return self.score(features)["segment"]

    def predict_codes(self, features: pd.DataFrame) -> np.ndarray:
        """Each row's segment as its position in :data:`SEGMENTS` (see
        :mod:`segkit.analyses.segmenter`)."""
        r, _, _, fm = self._scores(features)
        return segment_codes(r, fm)


class Rfm:
    """The RFM section: scores, named segments and what to do with each."""

    name = "rfm"
    title = "RFM: recency, frequency, monetary"
    order = 20
    requires: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {"basis": "revenue"}
    definitions: Mapping[str, str] = {
        "Recency": "Days from the client's last purchase to the period end.",
        "Frequency": "Distinct orders in the 12 months to the period end.",
        "Monetary": "Net amount (or margin) in the 12 months to the period end.",
        "Score 1-5": "1 + floor(5 x share of clients strictly worse on the measure); equal "
        "values share a score.",
        "FM": "ceil((F + M) / 2).",
        **{
            name: f"R {rs.start}-{rs.stop - 1}, FM {fms.start}-{fms.stop - 1}. {action}"
            for name, (rs, fms, action) in RULES.items()
        },
    }

    def run(self, ctx: PeriodContext) -> Section:
        basis = ctx.settings["basis"]
        if basis not in ("revenue", "margin"):
            raise ConfigError(f"analyses.rfm.basis must be revenue or margin, got {basis!r}")
        now, now_codes = _scored(ctx, RfmSegmenter(basis), ctx.period)
        before, before_codes = _scored(ctx, RfmSegmenter(basis), ctx.previous)
        notes = []
        returns_only = returns_only_clients(ctx)
        if returns_only:
            notes.append(f"{returns_only:,} client(s) with only returns are not scored.")
        if basis == "margin" and "margin" not in ctx.dataset.columns("transactions"):
            notes.append("The transactions have no margin or cost column: revenue is used.")
        data = {"segmenter": RfmSegmenter(basis), "clients": now}
        if now.empty:
            return Section(
                self.name,
                self.title,
                summary=f"No client has bought anything before the end of {ctx.period}.",
                notes=notes,
                data=data,
            )
        table = segment_table(now, now_codes)
        prev = segment_table(before, before_codes) if len(before) else None

        def share(t: pd.DataFrame | None, names: list[str]) -> float | None:
            return None if t is None else float(t.loc[names, "client_share"].sum())

        risk = ["At risk", "Can't lose them"]
        metrics = [
            Metric("clients", "Clients scored", len(now), "count", len(before) or None, True),
            Metric(
                "champions_share",
                "Share of Champions",
                share(table, ["Champions"]),
                "share",
                share(prev, ["Champions"]),
                True,
            ),
            Metric(
                "at_risk_share",
                "Share at risk (At risk, Can't lose them)",
                share(table, risk),
                "share",
                share(prev, risk),
                False,
            ),
        ]
        top = table["revenue"].idxmax()
        summary = (
            f"{table.loc['Champions', 'clients']:,} Champions "
            f"({table.loc['Champions', 'revenue_share']:.0%} of the year's {basis}); "
            f"{int(table.loc[risk, 'clients'].sum()):,} valuable clients at risk; "
            f"the largest {basis} comes from {top}."
        )
        # Counted on the (R, FM) pairs as integers: a pivot table grouped the rows first.
        pairs = np.bincount(now["r"].to_numpy() * 6 + now["fm"].to_numpy(), minlength=36)
        grid = pd.DataFrame(
            pairs.reshape(6, 6)[5:0:-1, 1:6].astype(int),
            index=pd.RangeIndex(5, 0, -1, name="r"),
            columns=[f"FM {c}" for c in range(1, 6)],
        )
        return Section(
            self.name,
            self.title,
            summary=summary,
            metrics=metrics,
            tables={
                "segments": Table(
                    table.reset_index(),
                    formats={
                        "clients": "count",
                        "client_share": "share",
                        "revenue": "money",
                        "revenue_share": "share",
                        "recency_days": "days",
                        "frequency": "number",
                    },
                    caption="Segments, best first, with their rule and action",
                ),
                "grid": Table(
                    grid.rename_axis("R").reset_index(),
                    formats={c: "count" for c in grid.columns},
                    caption="Clients by R score (rows) and FM score (columns)",
                ),
            },
            figures=[_figure(table, ctx.period)],
            notes=notes,
            data=data,
        )


def _scored(
    ctx: PeriodContext, seg: RfmSegmenter, period: Period
) -> tuple[pd.DataFrame, np.ndarray]:
    """Each client of ``period`` scored with cut-offs learnt on that period (kept for migration
    and stratification, so ``seg`` must not be fitted again), and their segment codes."""
    f = seg.features(ctx, period)
    scores, codes = seg.fit(f)._score(f)
    out = with_results(f, scores)
    keep_labelled(ctx, Rfm.name, period, seg, f, out["segment"], codes)
    return out, codes


def segment_table(clients: pd.DataFrame, codes: np.ndarray) -> pd.DataFrame:
    """Per segment (index, best first): size, value, mean recency and frequency, rule, action.

    ``codes`` are the clients' :func:`segment_codes`: grouped by them as categories, not by
    hashing the segment names again."""
    g = clients.groupby(
        pd.Categorical.from_codes(codes, categories=pd.Index(SEGMENTS)), observed=False
    ).agg(
        clients=("customer_id", "size"),
        revenue=("monetary", "sum"),
        recency_days=("recency_days", "mean"),
        frequency=("frequency", "mean"),
    )
    g.index = pd.Index(SEGMENTS)
    total = clients["monetary"].sum()
    g["clients"] = g["clients"].astype(int)
    g["client_share"] = g["clients"] / len(clients)
    g["revenue_share"] = g["revenue"] / total if total else np.nan
    g["rule"] = [
        f"R {rs.start}-{rs.stop - 1}, FM {fms.start}-{fms.stop - 1}"
        for rs, fms, _ in RULES.values()
    ]
    g["action"] = [a for _, _, a in RULES.values()]
    cols = ["rule", "clients", "client_share", "revenue", "revenue_share", "recency_days"]
    return g[[*cols, "frequency", "action"]].rename_axis("segment")


def _figure(table: pd.DataFrame, period: Period) -> Figure:
    fig = Figure(figsize=(6.4, 4.2), dpi=100)
    ax = fig.subplots()
    y = np.arange(len(table))[::-1]
    ax.barh(y + 0.2, table["client_share"] * 100, 0.4, color="#1f5f8b", label="Clients")
    ax.barh(
        y - 0.2,
        table["revenue_share"].fillna(0) * 100,
        0.4,
        color="#e08e0b",
        label="Value (12 months)",
    )
    ax.set_yticks(y, list(table.index))
    ax.set_xlabel("Share (%)")
    ax.set_title(f"RFM segments, {period}")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


@hookimpl
def register_analyses(register: Any) -> None:
    register(Rfm())
