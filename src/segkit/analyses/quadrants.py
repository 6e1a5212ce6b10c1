"""Loyalty x profitability quadrants I-IV (DOMAIN.md section 2).

Definitions (the *year* is the 12 months to the period end):

* Clients: everyone with a row in the year.
* **Profitability**: net margin in the year (``profitability: auto`` uses revenue when the data
  has no margin or cost; ``margin`` / ``revenue`` force one), returns netted in.
* **Loyalty**: a weighted mean of components, each rank-normalised to a mid-rank percentile in
  (0, 1) among the clients (ties share the average of their positions):

  - ``tenure``: days since signup (else the first purchase);
  - ``regularity``: share of the months of the year with a purchase (months since the first
    purchase for newer clients);
  - ``nps``: the client's last NPS answer (needs surveys);
  - ``referrals``: the customers table's ``referrals`` count (needs that column).

  ``weights`` (default 0.3 / 0.4 / 0.2 / 0.1) must be non-negative and sum to 1. A component
  the data lacks altogether is dropped and the remaining weights are rescaled to sum to 1; a
  client without a value (no NPS answer) is scored on the components they have, likewise.
* **Split**: loyalty is high when above the ``loyalty_split`` quantile of the loyalty scores
  (default 0.5, the median), profitability high when above the ``profitability_split``
  quantile; quantiles interpolate linearly (numpy's default).
* Quadrants: I low/low, II high loyalty/low profit, III high/high, IV low loyalty/high profit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segkit.analyses._binning import Reference, mid_percentile, reference
from segkit.analyses.abc_xyz import period_activity
from segkit.analyses.features import client_features
from segkit.analyses.segmenter import keep_labelled
from segkit.engine.analysis import Metric, Section, Table
from segkit.engine.context import PeriodContext
from segkit.engine.hookspecs import hookimpl
from segkit.errors import ConfigError
from segkit.periods import Period

COMPONENTS = ("tenure", "regularity", "nps", "referrals")
#: Best first: by profitability, then loyalty (so II -> IV counts as a move up).
QUADRANTS = ("III", "IV", "II", "I")
#: The quadrant labels as objects, I to IV, to index per client.
_QUADRANTS = np.array(["I", "II", "III", "IV"], dtype=object)
#: Quadrant -> (loyalty, profitability, what it is, goal, actions), from DOMAIN.md section 2.
PLAYBOOK: Mapping[str, tuple[str, str, str, str, str]] = {
    "I": (
        "low",
        "low",
        "The entry flow; many later loyal clients start here.",
        "Grow the inflow for later sales.",
        "Mass information, promotions, good but not lavish service; end relationships that "
        "only cause conflicts.",
    ),
    "II": (
        "high",
        "low",
        'The "golden reserve": love and recommend the brand, not yet rich.',
        "Raise purchase frequency and value, more referrals.",
        "Regular reasons to come back; cheap but regular purchases.",
    ),
    "III": (
        "high",
        "high",
        "The top 20 % by Pareto: most profitable and demanding.",
        "Retain; strategic win-win partnership.",
        'Best service and quality, pleasant surprises, loyalty programmes, "wow" moments; '
        "serve first when resources are short.",
    ),
    "IV": (
        "low",
        "high",
        "Rich but indifferent, or loyal to a competitor.",
        "Find out why; fix gaps, inform of better terms, make them regular buyers and fans.",
        "Study their needs, collect feedback, study competitors.",
    ),
}
#: Points drawn in the scatter plot at most (a random sample beyond that).
MAX_POINTS = 5000


@dataclass(frozen=True)
class Settings:
    """Validated settings of the quadrants section."""

    weights: Mapping[str, float]
    loyalty_split: float
    profitability_split: float
    profitability: str


def parse_settings(s: Mapping[str, Any]) -> Settings:
    """Check the settings; raise :class:`ConfigError` naming the key at fault."""
    where = "analyses.quadrants"
    weights = s["weights"]
    if not isinstance(weights, Mapping):
        raise ConfigError(f"{where}.weights must be a mapping of component to weight")
    unknown = sorted(set(weights) - set(COMPONENTS))
    if unknown:
        raise ConfigError(
            f"{where}.weights: unknown component(s) {', '.join(map(str, unknown))}; "
            f"components are {', '.join(COMPONENTS)}"
        )
    bad = [k for k, v in weights.items() if not isinstance(v, int | float) or v < 0]
    if bad:
        raise ConfigError(f"{where}.weights: {', '.join(bad)} must be non-negative numbers")
    total = float(sum(weights.values()))
    if abs(total - 1) > 1e-6:
        raise ConfigError(f"{where}.weights must sum to 1, they sum to {total:g}")
    for key in ("loyalty_split", "profitability_split"):
        v = s[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1:
            raise ConfigError(f"{where}.{key} must be a quantile between 0 and 1, got {v!r}")
    if s["profitability"] not in ("auto", "margin", "revenue"):
        raise ConfigError(
            f"{where}.profitability must be auto, margin or revenue, got {s['profitability']!r}"
        )
    return Settings(
        {k: float(v) for k, v in weights.items() if v > 0},
        float(s["loyalty_split"]),
        float(s["profitability_split"]),
        s["profitability"],
    )


class QuadrantSegmenter:
    """Quadrants with component references and split points learnt by :meth:`fit`."""

    name = "quadrants"
    levels: tuple[str, ...] = QUADRANTS

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.reference_: dict[str, Reference] | None = None
        self.weights_: dict[str, float] = {}
        self.splits_: tuple[float, float] | None = None

    def features(self, ctx: PeriodContext, period: Period) -> pd.DataFrame:
        """Loyalty components and profitability of every client with a row in the year."""
        col = "revenue" if self.profit_basis(ctx) == "revenue" else "margin"
        # Cached per run: the section, migration and stratification ask for the same periods.
        key = ("quadrants.features", period.start, period.end, col)
        return ctx.memo(key, lambda: _features(ctx, period, col)).copy(deep=False)

    def profit_basis(self, ctx: PeriodContext) -> str:
        """``margin`` or ``revenue``: what profitability is measured by on this data."""
        has_margin = "margin" in ctx.dataset.columns("transactions")
        if self.settings.profitability == "revenue" or not has_margin:
            return "revenue"
        return "margin"

    def fit(self, features: pd.DataFrame) -> Self:
        self.fit_classify(features)
        return self

    def fit_classify(self, features: pd.DataFrame) -> pd.DataFrame:
        """:meth:`fit` on ``features`` and return their :meth:`classify` (scored only once)."""
        # Built from the columns themselves: scoring these clients next needs no search.
        self.reference_ = reference_ = {c: Reference(features[c]) for c in self.settings.weights}
        # Components without any value in the data are dropped; the rest are rescaled.
        present = {c: w for c, w in self.settings.weights.items() if reference_[c].size}
        total = sum(present.values())
        self.weights_ = {c: w / total for c, w in present.items()} if total else {}
        loyalty = self.loyalty(features)
        profit = features["profitability"].to_numpy(dtype=float)
        self.splits_ = (
            float(np.quantile(loyalty, self.settings.loyalty_split)) if loyalty.size else 0.0,
            float(np.quantile(profit, self.settings.profitability_split)) if profit.size else 0.0,
        )
        return self._quadrants(features, loyalty)

    def loyalty(self, features: pd.DataFrame) -> np.ndarray:
        """Loyalty score in (0, 1) of each row: weighted mean of its component percentiles."""
        if self.reference_ is None:
            raise RuntimeError("fit the segmenter before predicting")
        num = np.zeros(len(features))
        den = np.zeros(len(features))
        # In place where it can: every new array of 740,000 values costs ~2 ms of page faults.
        for c, w in self.weights_.items():
            p = mid_percentile(self.reference_[c], features[c].to_numpy(dtype=float))
            has = ~np.isnan(p)
            np.add(num, np.multiply(p, w, out=p), out=num, where=has)
            np.add(den, w, out=den, where=has)
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(num, den, out=num)
        # A client without any component value sits at the middle.
        num[~(den > 0)] = 0.5
        return num

    def classify(self, features: pd.DataFrame) -> pd.DataFrame:
        """``loyalty`` score and ``quadrant`` for each row."""
        return self._quadrants(features, self.loyalty(features))

    def _quadrants(self, features: pd.DataFrame, loyalty: np.ndarray) -> pd.DataFrame:
        # Indices into shared label objects: an np.where of texts became one new Python string
        # per client once in the frame.
        quadrant = _QUADRANTS[self.codes(loyalty, features["profitability"])]
        return pd.DataFrame(
            {"loyalty": loyalty, "quadrant": quadrant},
            index=features.index,
        )

    def codes(self, loyalty: object, profitability: object) -> np.ndarray:
        """Each row's quadrant as 0-3 for I-IV, from its loyalty score and profitability."""
        if self.splits_ is None:
            raise RuntimeError("fit the segmenter before predicting")
        high_l = np.asarray(loyalty, dtype=float) > self.splits_[0]
        high_p = np.asarray(profitability, dtype=float) > self.splits_[1]
        # I (0) low/low, II (1) high loyalty only; high profit: III (2) if loyal, else IV (3).
        return np.bitwise_xor(high_l, 3 * high_p, dtype=np.intp)

    def predict(self, features: pd.DataFrame) -> pd.Series:
        return self.classify(features)["quadrant"]


class Quadrants:
    """The loyalty x profitability section: the four quadrants with their playbook."""

    name = "quadrants"
    title = "Loyalty x profitability quadrants"
    order = 30
    requires: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {
        "weights": {"tenure": 0.3, "regularity": 0.4, "nps": 0.2, "referrals": 0.1},
        "loyalty_split": 0.5,
        "profitability_split": 0.5,
        "profitability": "auto",
    }
    definitions: Mapping[str, str] = {
        "Profitability": "Net margin in the 12 months to the period end (revenue when the data "
        "has no margin).",
        "Loyalty": "Weighted mean of the mid-rank percentiles of tenure (0.3), regularity (0.4: "
        "share of months with a purchase), last NPS (0.2) and referrals (0.1); components the "
        "data lacks are left out and the other weights rescaled.",
        "High / low": "Above / at or below the median (configurable quantile) of the clients.",
        "Value share": "A quadrant's share of the total profitability of all clients.",
    }

    def run(self, ctx: PeriodContext) -> Section:
        settings = parse_settings(ctx.settings)
        seg = QuadrantSegmenter(settings)
        basis = seg.profit_basis(ctx)
        now = _classified(ctx, seg, ctx.period)
        dropped = [c for c in settings.weights if c not in seg.weights_]
        earlier = QuadrantSegmenter(settings)
        before = _classified(ctx, earlier, ctx.previous)
        data = {"segmenter": QuadrantSegmenter(settings), "clients": now}
        if now.empty:
            return Section(
                self.name,
                self.title,
                summary=f"No client has a transaction in the 12 months to the end of {ctx.period}.",
                data=data,
            )
        table = quadrant_table(now, seg)
        prev = quadrant_table(before, earlier) if len(before) else None

        def value(t: pd.DataFrame | None, q: str, col: str) -> float | None:
            return None if t is None else float(t.loc[q, col])

        metrics = [
            Metric(
                "iii_value_share",
                f"Share of {basis} from quadrant III",
                value(table, "III", "value_share"),
                "share",
                value(prev, "III", "value_share"),
                headline=True,
            ),
            Metric(
                "iii_clients",
                "Clients in quadrant III",
                value(table, "III", "clients"),
                "count",
                value(prev, "III", "clients"),
                True,
            ),
            Metric(
                "ii_clients",
                "Clients in quadrant II (golden reserve)",
                value(table, "II", "clients"),
                "count",
                value(prev, "II", "clients"),
                True,
            ),
            Metric(
                "iv_clients",
                "Clients in quadrant IV (rich, not loyal)",
                value(table, "IV", "clients"),
                "count",
                value(prev, "IV", "clients"),
            ),
        ]
        notes = [f"Profitability is net {basis} in the 12 months to the period end."]
        if dropped:
            notes.append(
                f"No data for loyalty component(s) {', '.join(dropped)}: left out, the other "
                f"weights rescaled ({_weights_text(seg.weights_)})."
            )
        fig, sampled = _figure(now, seg, basis, ctx.period)
        if sampled:
            notes.append(
                f"The scatter plot shows a random sample of {MAX_POINTS:,} of {len(now):,} clients."
            )
        summary = (
            f"Quadrant III ({int(table.loc['III', 'clients']):,} clients, "
            f"{table.loc['III', 'client_share']:.0%}) brings "
            f"{table.loc['III', 'value_share']:.0%} of net {basis}; quadrant IV holds "
            f"{int(table.loc['IV', 'clients']):,} profitable clients who are not yet loyal."
        )
        return Section(
            self.name,
            self.title,
            summary=summary,
            metrics=metrics,
            tables={
                "quadrants": Table(
                    table.reset_index(),
                    formats={
                        "clients": "count",
                        "client_share": "share",
                        "value": "money",
                        "value_share": "share",
                    },
                    caption="The quadrants with their goal and actions (DOMAIN.md section 2)",
                )
            },
            figures=[fig],
            notes=notes,
            data=data,
        )


def _features(ctx: PeriodContext, period: Period, col: str) -> pd.DataFrame:
    a = period_activity(ctx, period)
    f = client_features(ctx, period)
    in_f = a["features_row"].to_numpy()  # matched once, by the activity

    def column(name: str) -> pd.Series:
        # NaN where a client lacks features; the dtype kept when none does, as the merge did.
        return pd.Series(pd.api.extensions.take(f[name].to_numpy(), in_f, allow_fill=True))

    return pd.DataFrame(
        {
            "customer_id": a["customer_id"].to_numpy(),
            "tenure": column("tenure_days").astype(float),
            "regularity": (a["active"] / a["observed"].clip(lower=1)).to_numpy(),
            "nps": column("nps_last").astype(float) if "nps_last" in f else np.nan,
            "referrals": (
                pd.to_numeric(column("referrals"), errors="coerce") if "referrals" in f else np.nan
            ),
            "profitability": a[col].to_numpy(),
        }
    )


def _classified(ctx: PeriodContext, seg: QuadrantSegmenter, period: Period) -> pd.DataFrame:
    """Each client of ``period`` classified with cut-offs learnt on that period (kept for
    migration and stratification, so ``seg`` must not be fitted again)."""
    out = seg.features(ctx, period)  # a shallow copy: the columns are added to it alone
    for name, values in seg.fit_classify(out).items():
        # Added in place: concatenating copied and consolidated the 825,000-row frame.
        out[name] = values
    keep_labelled(ctx, Quadrants.name, period, seg, out, out["quadrant"])
    return out


def _weights_text(weights: Mapping[str, float]) -> str:
    return ", ".join(f"{c} {w:.2f}" for c, w in weights.items())


def quadrant_table(clients: pd.DataFrame, seg: QuadrantSegmenter) -> pd.DataFrame:
    """Per quadrant (index I-IV): size, value, shares, and the DOMAIN.md playbook, for
    ``clients`` classified by ``seg``."""
    order = ["I", "II", "III", "IV"]
    # Grouped by the quadrants' codes (categorical, every quadrant a group) rather than by
    # hashing the labels' texts (~0.02 s at 740,000 clients).
    quadrant = pd.Categorical.from_codes(
        seg.codes(clients["loyalty"], clients["profitability"]), order
    )
    g = clients["profitability"].groupby(quadrant, observed=False).agg(["size", "sum"])
    total = clients["profitability"].sum()
    return pd.DataFrame(
        {
            "loyalty": [PLAYBOOK[q][0] for q in order],
            "profitability": [PLAYBOOK[q][1] for q in order],
            "clients": g["size"].to_numpy().astype(int),
            "client_share": g["size"].to_numpy() / len(clients),
            "value": g["sum"].to_numpy(),
            "value_share": g["sum"].to_numpy() / total if total else np.nan,
            "what_it_is": [PLAYBOOK[q][2] for q in order],
            "goal": [PLAYBOOK[q][3] for q in order],
            "actions": [PLAYBOOK[q][4] for q in order],
        },
        index=pd.Index(order, name="quadrant"),
    )


def _figure(
    clients: pd.DataFrame, seg: QuadrantSegmenter, basis: str, period: Period
) -> tuple[Figure, bool]:
    """Loyalty score against profitability percentile, with the split lines."""
    assert seg.splits_ is not None
    pts = clients
    sampled = len(clients) > MAX_POINTS
    if sampled:
        pts = clients.sample(MAX_POINTS, random_state=0)
    # Percentiles keep the heavy-tailed money axis readable; the split maps onto it exactly.
    ref = reference(clients["profitability"])
    y = mid_percentile(ref, pts["profitability"]) * 100
    y_split = float(np.mean(ref <= seg.splits_[1])) * 100
    colors = {"I": "#9e9e9e", "II": "#2e86c1", "III": "#1e8449", "IV": "#d68910"}
    fig = Figure(figsize=(6.4, 4.8), dpi=100)
    ax = fig.subplots()
    for q in ("I", "II", "III", "IV"):
        sel = (pts["quadrant"] == q).to_numpy()
        ax.scatter(pts["loyalty"][sel], y[sel], s=6, alpha=0.5, color=colors[q], label=q)
    ax.axvline(seg.splits_[0], color="#555555", lw=1, ls="--")
    ax.axhline(y_split, color="#555555", lw=1, ls="--")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 100)
    ax.set_xlabel("Loyalty score (0-1)")
    ax.set_ylabel(f"Profitability: percentile of net {basis}")
    note = f" (sample of {MAX_POINTS:,})" if sampled else ""
    ax.set_title(f"Loyalty x profitability, {period}{note}")
    ax.legend(title="Quadrant", loc="upper left", markerscale=3)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig, sampled


@hookimpl
def register_analyses(register: Any) -> None:
    register(Quadrants())
