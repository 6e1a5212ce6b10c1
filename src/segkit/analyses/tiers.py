"""Client tiers basic / medium / VIP from the handbook's four families of evidence.

Who is tiered: **rated clients**, those with a purchase (a row with amount > 0) in the
``window_months`` (default 12) before the period's end; lapsed clients and clients with only
returns are not tiered (they are counted in the notes). Features are those of
:func:`segkit.analyses.features.client_features` as of the period's end.

Each family gives a client 0, 1 or 2 points, by two cut-offs ``[c1, c2]`` (1 point at
``>= c1``, 2 points at ``>= c2``):

* **Financial capacity**: the client's position on the ordinal ``capacity_scales`` of the
  customers table (default ``income_band`` low ... high and ``company_size`` 1-9 ... 1000+):
  a label's position is ``index / (levels - 1)`` (0 lowest, 1 highest), averaged over the
  scales on which the client has a known label; cut-offs ``capacity_cuts`` (default 0.5 / 0.75).
  A client with no known label is read from **spend readiness** instead: average order value in
  the year against its ``spend_cuts`` quantiles among rated clients (default 0.5 / 0.8).
* **Satisfaction**: the last NPS answer (0-10) against ``nps_cuts`` (default 7 / 9: passive,
  promoter), else the mean CSAT (1-5) against ``csat_cuts`` (default 3.5 / 4.5); a client with
  no survey answer has no satisfaction evidence (the family is left out, not scored 0).
* **Purchase volume**: net revenue in the twelve months to the period end against its
  ``volume_cuts`` quantiles among rated clients (default 0.5 / 0.8, so the top 20 % get 2).
* **Tenure**: days since signup (else the first purchase) against ``tenure_cuts`` (default
  180 / 730 days).

Quantile cut-offs are learnt (``fit``) on one period with numpy's linear interpolation and then
kept fixed when predicting (so migration compares clients against frozen thresholds).

**Points share** = points / (2 x the number of families with evidence for the client). The tier
is **VIP** when the share is at least ``tier_cuts[1]`` (default 0.75) and every family named
in ``vip_requires`` has at least the points given (default tenure >= 1 and volume >= 1: a VIP
has some history and buys more than half of the clients); **medium** when the share is at least
``tier_cuts[0]`` (default 0.4); else **basic**. Each client's ``reasons`` spell this out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Self

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from segkit.analyses.charts import paired_share_bars
from segkit.analyses.features import client_features
from segkit.analyses.segmenter import column_values, keep_labelled
from segkit.engine.analysis import Metric, Section, Table
from segkit.engine.context import PeriodContext
from segkit.engine.hookspecs import hookimpl
from segkit.errors import ConfigError, SegkitError
from segkit.periods import Period, add_months

#: Tier labels, best first.
TIERS: tuple[str, ...] = ("vip", "medium", "basic")
_TIER_NAMES = np.array(TIERS, dtype=object)
#: How tiers are written in reports.
LABELS: Mapping[str, str] = {"vip": "VIP", "medium": "medium", "basic": "basic"}
FAMILIES: tuple[str, ...] = ("capacity", "satisfaction", "volume", "tenure")
#: Ordinal scales of the demo company's customers table, lowest level first.
DEFAULT_SCALES: Mapping[str, tuple[str, ...]] = {
    "income_band": ("low", "lower-middle", "middle", "upper-middle", "high"),
    "company_size": ("1-9", "10-49", "50-249", "250-999", "1000+"),
}
#: The columns of :func:`segkit.analyses.features.client_features` the tier rule and section
#: read (``nps_last`` and ``csat_mean`` exist only with a surveys table).
READS: tuple[str, ...] = (
    "customer_id",
    "avg_order_value",
    "nps_last",
    "csat_mean",
    "revenue_year",
    "margin_year",
    "revenue_period",
    "margin_period",
    "tenure_days",
)


# -- shared by the tier, fund and scorecard analyses -----------------------------------------
def rated_rows(features: pd.DataFrame, period: Period, months: int) -> np.ndarray:
    """Positions in ``features`` of the clients with a purchase (amount > 0) in the ``months``
    before ``period.end``: the **rated clients**."""
    since = pd.Timestamp(add_months(period.end, -months))
    # Without the cache of distinct dates (~0.025 s at 825,000 clients, for typed dates).
    last = pd.to_datetime(features["last_purchase"], cache=False)
    return np.flatnonzero((last >= since).to_numpy())


class RatedClients:
    """The rated clients of one period (:func:`rated_rows`): each column of the features is
    taken at their rows once, on first use, and shared by the frames of :meth:`frame`.

    Taking all ~26 columns of 740,000 rated clients up front cost ~0.1 s per period (more on
    first touch of the memory) while the tiers read 10 of them.
    """

    def __init__(self, features: pd.DataFrame, rows: np.ndarray) -> None:
        self.features = features
        self.rows = rows
        self.index = pd.RangeIndex(rows.size)
        self._taken: dict[str, pd.Series] = {}

    def frame(self, columns: Iterable[str] | None = None) -> pd.DataFrame:
        """The rated clients' ``columns`` of the features (all when None; in the features'
        order; names the features lack are left out), indexed 0..n-1. Its columns are shared
        with the other frames made here, so they must not be written into."""
        wanted = None if columns is None else set(columns)
        names = [c for c in self.features.columns if wanted is None or c in wanted]
        for name in names:
            if name not in self._taken:
                taken = column_values(self.features[name])[self.rows]
                self._taken[name] = pd.Series(taken, self.index, name=name, copy=False)
        return pd.DataFrame({c: self._taken[c] for c in names}, self.index, copy=False)


def rated_with_capacity(
    ctx: PeriodContext,
    period: Period,
    months: int,
    scales: Mapping[str, Sequence[str]],
    columns: Iterable[str] | None = None,
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """The rated clients of ``period`` (:func:`rated_rows`) with their features ``columns``
    (all when None, see :meth:`RatedClients.frame`), and their :func:`capacity_position` on
    ``scales``.

    Cached per report run: the tiers, the scorecard, migration and stratification all start
    from these. The frame's columns are shared, so callers must not modify them.
    """
    key = ("tiers.rated", period.start, period.end, months, tuple(map(tuple, scales.items())))

    def compute() -> tuple[RatedClients, pd.Series, pd.Series]:
        features = client_features(ctx, period)
        rated = RatedClients(features, rated_rows(features, period, months))
        return (rated, *capacity_position(rated.frame(scales), scales))

    rated, position, basis = ctx.memo(key, compute)
    return rated.frame(columns), position, basis


def with_columns(frame: pd.DataFrame, **columns: pd.Series) -> pd.DataFrame:
    """``frame.assign(**columns)`` without copying ``frame``'s data: the new frame's columns are
    views of the shared, cached one (so neither may be written into). ``assign`` copied the
    ~25 columns of 740,000 rated clients at every call (~0.3 s)."""
    return pd.DataFrame({**{c: frame[c] for c in frame.columns}, **columns}, copy=False)


def capacity_position(
    frame: pd.DataFrame, scales: Mapping[str, Sequence[str]]
) -> tuple[pd.Series, pd.Series]:
    """Mean position (0-1) of each row's known labels on ``scales``, and its text basis (a
    categorical of the distinct texts).

    Labels are compared stripped and lower-cased; a label not on its scale counts as unknown.
    Rows with no known label get NaN and an empty basis.
    """
    positions, all_codes, all_texts = [], [], []
    for column, levels in scales.items():
        if column not in frame:
            continue
        lookup = {str(v).strip().lower(): i / (len(levels) - 1) for i, v in enumerate(levels)}
        # The text work is done once per distinct label (a handful), then spread over the rows.
        codes, labels = pd.factorize(frame[column])
        raw = pd.Series(labels, dtype=object).astype("string").str.strip()
        label_pos = raw.str.lower().map(lookup).astype(float)
        label_text = (column + " " + raw.fillna("")).where(label_pos.notna(), "")
        known = codes >= 0
        pos = np.full(len(frame), np.nan)
        pos[known] = label_pos.to_numpy()[codes[known]]
        positions.append(pos)
        all_codes.append(codes)
        all_texts.append(np.append(label_text.to_numpy(dtype=object), ""))  # code -1: ""
    if not positions:
        return pd.Series(np.nan, index=frame.index), pd.Series("", frame.index, "category")
    # The mean of the known positions, summed column after column as DataFrame.mean(axis=1)
    # sums them (which took ~0.04 s at 740,000 rows).
    total, count = np.zeros(len(frame)), np.zeros(len(frame))
    for pos in positions:
        known = ~np.isnan(pos)
        total += np.where(known, pos, 0.0)
        count += known
    position = pd.Series(np.where(count > 0, total / np.maximum(count, 1), np.nan), frame.index)
    # The basis is joined once per distinct combination of labels, then spread over the rows
    # (joined per row it was a new string per client, ~90 MB at 740,000 rated clients).
    if np.prod([float(t.size) for t in all_texts]) < 2.0**62:
        key = np.zeros(len(frame), dtype=np.int64)
        for codes, table in zip(all_codes, all_texts, strict=True):
            key = key * table.size + np.where(codes >= 0, codes, table.size - 1)
        rows, inverse = _distinct(key)
    else:  # too many label combinations for one integer key: join per row
        rows, inverse = np.arange(len(frame)), np.arange(len(frame))
    texts = [pd.Series(t[c[rows]], dtype=object) for c, t in zip(all_codes, all_texts, strict=True)]
    basis = texts[0]
    for text in texts[1:]:
        joined = basis.where(text == "", basis + ", " + text)
        basis = joined.where(basis != "", text)
    # Categorical: the tiers' evidence takes its codes (factorizing the texts of 740,000 rows
    # again took ~0.035 s).
    codes, uniques = pd.factorize(basis.to_numpy(dtype=object))
    return position, pd.Series(pd.Categorical.from_codes(codes[inverse], uniques), frame.index)


def check_scales(value: Any, where: str) -> dict[str, tuple[str, ...]]:
    """Validate ``{column: [lowest, ..., highest]}`` (at least two distinct labels each)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must map a customers column to its levels, lowest first")
    out: dict[str, tuple[str, ...]] = {}
    for column, levels in value.items():
        if not isinstance(levels, list | tuple) or len(levels) < 2:
            raise ConfigError(f"{where}.{column} must list at least two levels, lowest first")
        labels = tuple(str(v) for v in levels)
        if len({v.strip().lower() for v in labels}) != len(labels):
            raise ConfigError(f"{where}.{column} repeats a level: {list(labels)}")
        out[str(column)] = labels
    return out


def check_cuts(
    value: Any, where: str, low: float | None = None, high: float | None = None
) -> tuple[float, float]:
    """Validate a pair of cut-offs ``[c1, c2]`` with ``c1 < c2`` inside ``[low, high]``."""
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise ConfigError(f"{where} must be two numbers [lower, upper], got {value!r}")
    c1, c2 = float(value[0]), float(value[1])
    if not c1 < c2:
        raise ConfigError(f"{where}: thresholds out of order, {c1:g} must be below {c2:g}")
    if (low is not None and c1 < low) or (high is not None and c2 > high):
        raise ConfigError(f"{where} must lie between {low:g} and {high:g}, got {value!r}")
    return c1, c2


def check_window(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where} must be a whole number of months >= 1, got {value!r}")
    return value


def points(values: object, cuts: tuple[float, float]) -> np.ndarray:
    """0, 1 or 2 points: 1 at ``>= cuts[0]``, 2 at ``>= cuts[1]``; NaN stays NaN."""
    v = np.asarray(values, dtype=float)
    out = (v >= cuts[0]).astype(float)  # in place: fewer 740,000-row temporaries
    out += v >= cuts[1]
    out[np.isnan(v)] = np.nan
    return out


def _distinct(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One row per distinct value of the integer array ``key`` (any row that has it) and each
    row's index into those rows. Hashed (``pd.factorize``): sorting was ~3x slower."""
    inverse, uniques = pd.factorize(key)
    rows = np.empty(len(uniques), dtype=np.intp)
    rows[inverse] = np.arange(key.size)
    return rows, inverse


class _Coded(NamedTuple):
    """One text per row, kept as its distinct ``texts`` and each row's index into them.

    Texts are written once per distinct value or combination and shared by the rows: made
    row by row they took most of the tiers' time at 1 M clients, and kept a new string per
    client (~80 MB at 740,000 rated clients) for a few dozen distinct texts.
    """

    texts: np.ndarray  # object array of str
    codes: np.ndarray

    @classmethod
    def of(cls, texts: pd.Series) -> _Coded:
        """The texts of a Series (of a categorical, its codes are taken, not hashed again)."""
        codes, uniques = pd.factorize(texts, use_na_sentinel=False)
        return cls(np.asarray(uniques, dtype=object), codes)

    def rows(self) -> np.ndarray:
        return self.texts[self.codes]


def _joined(*parts: _Coded | str) -> _Coded:
    """The concatenation of ``parts`` on every row (a str part is the same on every row),
    written once per distinct combination of the coded parts (at least one)."""
    coded = [p for p in parts if isinstance(p, _Coded)]
    key, size = np.zeros(len(coded[0].codes), dtype=np.int64), 1
    for part in coded:
        if size * len(part.texts) >= 2**62:  # renumber the combinations seen so far
            key = _distinct(key)[1].astype(np.int64)
            size = int(key.max(initial=0)) + 1
        key = key * len(part.texts) + part.codes
        size *= len(part.texts)
    rows, codes = _distinct(key)
    columns = [
        [p] * len(rows) if isinstance(p, str) else p.texts[p.codes[rows]].tolist() for p in parts
    ]
    return _Coded(np.array(list(map("".join, zip(*columns, strict=True))), dtype=object), codes)


def _either(
    use: np.ndarray, yes: Callable[[np.ndarray], _Coded], no: Callable[[np.ndarray], _Coded]
) -> _Coded:
    """``yes(use)`` on the rows where the mask ``use`` holds, ``no(~use)`` on the others: each
    text is made only for the rows that show it (the unused alternative, e.g. average order
    value for clients with a capacity label, was most of the formatting at 1 M clients)."""
    first, other = yes(use), no(~use)
    codes = np.empty(use.size, dtype=np.intp)
    codes[use] = first.codes
    codes[~use] = other.codes + len(first.texts)
    return _Coded(np.concatenate([first.texts, other.texts]), codes)


def _basis(label: str, values: object, cuts: tuple[float, float], fmt: str) -> _Coded:
    """ "<label> <value> >= c2" style text: the value and the cut-off it reached or missed;
    "" for a missing value.

    Written once per distinct value (told apart bit for bit, so -0.0 keeps its own text).
    """
    c1, c2 = format(cuts[0], fmt), format(cuts[1], fmt)
    tails = (f" < {c1}", f" >= {c1}, < {c2}", f" >= {c2}")
    x = np.asarray(values, dtype=float)
    rows, codes = _distinct(x.view(np.int64))
    distinct = x[rows]
    level = ((distinct >= cuts[0]).astype(np.intp) + (distinct >= cuts[1])).tolist()
    texts = [
        "" if math.isnan(v) else f"{label} {v:{fmt}}{tails[k]}"
        for v, k in zip(distinct.tolist(), level, strict=True)
    ]
    return _Coded(np.array(texts, dtype=object), codes)


# -- the rule ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TierSettings:
    """Validated settings of the tier rule (see the module docstring)."""

    window_months: int = 12
    capacity_scales: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_SCALES)
    )
    capacity_cuts: tuple[float, float] = (0.5, 0.75)
    spend_cuts: tuple[float, float] = (0.5, 0.8)
    nps_cuts: tuple[float, float] = (7.0, 9.0)
    csat_cuts: tuple[float, float] = (3.5, 4.5)
    volume_cuts: tuple[float, float] = (0.5, 0.8)
    tenure_cuts: tuple[float, float] = (180.0, 730.0)
    tier_cuts: tuple[float, float] = (0.4, 0.75)
    vip_requires: Mapping[str, int] = field(default_factory=lambda: {"tenure": 1, "volume": 1})

    @classmethod
    def parse(cls, s: Mapping[str, Any], where: str = "analyses.tiers") -> TierSettings:
        requires = s["vip_requires"] or {}
        if not isinstance(requires, Mapping):
            raise ConfigError(f"{where}.vip_requires must map a family to its minimum points")
        for family, pts in requires.items():
            if family not in FAMILIES:
                raise ConfigError(
                    f"{where}.vip_requires: unknown family {family!r}; families are "
                    f"{', '.join(FAMILIES)}"
                )
            if pts not in (0, 1, 2) or isinstance(pts, bool):
                raise ConfigError(f"{where}.vip_requires.{family} must be 0, 1 or 2")
        return cls(
            window_months=check_window(s["window_months"], f"{where}.window_months"),
            capacity_scales=check_scales(s["capacity_scales"], f"{where}.capacity_scales"),
            capacity_cuts=check_cuts(s["capacity_cuts"], f"{where}.capacity_cuts", 0, 1),
            spend_cuts=check_cuts(s["spend_cuts"], f"{where}.spend_cuts", 0, 1),
            nps_cuts=check_cuts(s["nps_cuts"], f"{where}.nps_cuts", 0, 10),
            csat_cuts=check_cuts(s["csat_cuts"], f"{where}.csat_cuts", 1, 5),
            volume_cuts=check_cuts(s["volume_cuts"], f"{where}.volume_cuts", 0, 1),
            tenure_cuts=check_cuts(s["tenure_cuts"], f"{where}.tenure_cuts", 0),
            tier_cuts=check_cuts(s["tier_cuts"], f"{where}.tier_cuts", 0, 1),
            vip_requires={str(k): int(v) for k, v in requires.items()},
        )


class TierRule:
    """The tier segmenter: quantile cut-offs learnt by :meth:`fit`, tiers by :meth:`predict`.

    Fitted attributes: ``volume_cuts_`` and ``spend_cuts_`` (money, net revenue in the year and
    average order value at the configured quantiles).
    """

    name = "tiers"
    levels = TIERS

    def __init__(self, settings: TierSettings | None = None) -> None:
        self.settings = settings or TierSettings()
        self.volume_cuts_: tuple[float, float] | None = None
        self.spend_cuts_: tuple[float, float] | None = None

    def features(self, ctx: PeriodContext, period: Period) -> pd.DataFrame:
        """Rated clients' features as of ``period.end`` that the tiers read (:data:`READS`),
        with ``capacity_position`` and ``capacity_labels`` added."""
        s = self.settings
        frame, position, basis = rated_with_capacity(
            ctx, period, s.window_months, s.capacity_scales, READS
        )
        return with_columns(frame, capacity_position=position, capacity_labels=basis)

    def fit(self, features: pd.DataFrame) -> Self:
        if features.empty:
            raise SegkitError("no rated client to learn the tier cut-offs from")
        s = self.settings
        self.volume_cuts_ = _quantiles(features["revenue_year"].to_numpy(float), s.volume_cuts)
        spend = features["avg_order_value"].to_numpy(float)
        spend = spend[~np.isnan(spend)]  # dropna() also took the index (~0.003 s)
        # Without any order value (no purchase in the year) the fallback can never apply.
        self.spend_cuts_ = _quantiles(spend, s.spend_cuts) if len(spend) else (np.inf, np.inf)
        return self

    def predict(self, features: pd.DataFrame) -> pd.Series:
        return self.classify(features)["tier"]

    def classify(self, features: pd.DataFrame) -> pd.DataFrame:
        """Per client: each family's points, the points share, ``tier`` and ``vip_blocked``."""
        return self._classify(features)[0]

    def _classify(self, features: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """:meth:`classify` and each client's tier as its index in :data:`TIERS`."""
        if self.volume_cuts_ is None or self.spend_cuts_ is None:
            raise RuntimeError("TierRule.fit() must be called before predicting")
        s, f = self.settings, features
        # On numpy arrays, built into one frame at the end: pandas' column by column
        # where/fillna/insert took ~0.2 s at 740,000 clients.
        position = f["capacity_position"].to_numpy(dtype=float)
        nps, csat = (v.to_numpy(dtype=float) for v in _satisfaction(f))
        each = {
            "capacity": np.where(
                np.isnan(position),
                points(f["avg_order_value"], self.spend_cuts_),
                points(position, s.capacity_cuts),
            ),
            "satisfaction": np.where(
                np.isnan(nps), points(csat, s.csat_cuts), points(nps, s.nps_cuts)
            ),
            "volume": points(f["revenue_year"], self.volume_cuts_),
            "tenure": points(f["tenure_days"], s.tenure_cuts),
        }
        # Points are whole numbers, so their sums are exact in any order: added family by
        # family in place (a DataFrame row sum took ~0.3 s at 740,000 clients, np.nansum on
        # the stacked columns ~0.05 s).
        total, most = np.zeros(len(f)), np.zeros(len(f), dtype=np.int64)
        for pts in each.values():
            have = ~np.isnan(pts)
            np.add(total, pts, out=total, where=have)
            most += have
        most *= 2
        share = total / np.where(most > 0, most, np.nan)
        gates = np.ones(len(f), dtype=bool)
        for family, need in s.vip_requires.items():
            gates &= each[family] >= need  # False where NaN: no evidence
        # 6/8 must reach 0.75 however it is summed
        rounded = np.where(np.isnan(share), 0.0, share).round(12)
        vip_share = rounded >= s.tier_cuts[1]
        tier = np.where(vip_share & gates, 0, np.where(rounded >= s.tier_cuts[0], 1, 2))
        columns = {
            "customer_id": f["customer_id"],
            **{f"{fam}_points": pts for fam, pts in each.items()},
            "points": total,
            "max_points": most,
            "share": share,
            # Indices into shared label objects (an np.where of texts made a string per client).
            "tier": _TIER_NAMES[tier],
            "vip_blocked": vip_share & ~gates,
        }
        return pd.DataFrame(columns, index=f.index, copy=False), tier

    def evidence(self, features: pd.DataFrame) -> pd.DataFrame:
        """:meth:`classify` with each family's basis and the client's reasons, as text.

        A family's basis is "" exactly where the family has no points (no evidence).
        """
        return self._evidence(features)[0]

    def _evidence(self, features: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """:meth:`evidence` and each client's tier as its index in :data:`TIERS`."""
        s, f = self.settings, features
        out, tier = self._classify(f)
        assert self.spend_cuts_ is not None and self.volume_cuts_ is not None
        spend_cuts = self.spend_cuts_
        position = f["capacity_position"].to_numpy(dtype=float)
        labels = _Coded.of(f["capacity_labels"])
        spend = f["avg_order_value"].to_numpy(dtype=float)
        nps, csat = (v.to_numpy(dtype=float) for v in _satisfaction(f))
        bases = {
            "capacity": _either(
                ~np.isnan(position),
                lambda rows: _joined(
                    _Coded(labels.texts, labels.codes[rows]),
                    ": ",
                    _basis("position", position[rows], s.capacity_cuts, ".2f"),
                ),
                lambda rows: _basis("avg order", spend[rows], spend_cuts, ",.2f"),
            ),
            "satisfaction": _either(
                ~np.isnan(nps),
                lambda rows: _basis("NPS", nps[rows], s.nps_cuts, "g"),
                lambda rows: _basis("CSAT", csat[rows], s.csat_cuts, ".2f"),
            ),
            "volume": _basis("revenue 12m", f["revenue_year"], self.volume_cuts_, ",.2f"),
            "tenure": _basis("tenure days", f["tenure_days"], s.tenure_cuts, ".0f"),
        }
        columns: dict[str, Any] = {}
        for name in out.columns:  # each basis right after its family's points
            columns[name] = out[name]
            family = name.removesuffix("_points")
            if family in bases:
                columns[f"{family}_basis"] = pd.Series(
                    bases[family].rows(), index=out.index, dtype=object
                )
        reasons = self._reasons(out, bases)
        columns["reasons"] = pd.Series(reasons, index=out.index, dtype=object)
        return pd.DataFrame(columns, index=out.index, copy=False), tier

    def _reasons(self, out: pd.DataFrame, bases: Mapping[str, _Coded]) -> np.ndarray:
        """Each client's reasons: "<tier>: <points> of <max> points (<share>; <rule>)", then
        per family "; <family> <points> (<basis>)" or "; <family> - (no data)".

        All but the bases depend on the four families' points only (at most 4^4
        combinations): those texts are written once per combination. (Joined row by row from
        its pieces it took ~1 s at 740,000 clients; pyarrow's binary_join_element_wise ~1.5 s
        in a fresh process, most of it first touching the memory of its ~450 MB of
        intermediate and result strings.)
        """
        s = self.settings
        need = ", ".join(f"{k} >= {v}" for k, v in s.vip_requires.items())
        rule = f"; medium >= {s.tier_cuts[0]:.0%}, VIP >= {s.tier_cuts[1]:.0%}" + (
            f" with {need}" if need else ""
        )
        each = np.column_stack([out[f"{fam}_points"].to_numpy(dtype=float) for fam in FAMILIES])
        codes = np.where(np.isnan(each), 3, each).astype(np.int64)  # 3: no data
        rows, inverse = _distinct(codes @ 4 ** np.arange(len(FAMILIES)))
        glue: list[list[str]] = [[] for _ in range(len(FAMILIES))]
        for tier, total, most, share, blocked, fam_codes in zip(
            out["tier"].to_numpy()[rows].tolist(),
            out["points"].to_numpy(dtype=float)[rows].tolist(),
            out["max_points"].to_numpy(dtype=float)[rows].tolist(),
            out["share"].to_numpy(dtype=float)[rows].tolist(),
            out["vip_blocked"].to_numpy()[rows].tolist(),
            codes[rows].tolist(),
            strict=True,
        ):
            labels = [
                f"; {fam} - (no data" if code == 3 else f"; {fam} {code:g} ("
                for fam, code in zip(FAMILIES, fam_codes, strict=True)
            ]
            glue[0].append(
                f"{LABELS[tier]}: {total:g} of {most:g} points "
                f"({0.0 if math.isnan(share) else share:.0%}{rule})"
                + (f" - not VIP: {need} not met" if blocked else "")
                + labels[0]
            )
            for i, label in enumerate(labels[1:], 1):
                glue[i].append(")" + label)
        glue_of = [_Coded(np.array(texts, dtype=object), inverse) for texts in glue]
        # The volume basis (a money amount) differs for nearly every client: the pieces
        # before and after it are joined first, per distinct combination (a few hundred,
        # a few ten thousand), so that only the last join is made row by row.
        before = _joined(
            glue_of[0], bases["capacity"], glue_of[1], bases["satisfaction"], glue_of[2]
        )
        after = _joined(glue_of[3], bases["tenure"], ")")
        pieces = (part.rows().tolist() for part in (before, bases["volume"], after))
        joined = map("".join, zip(*pieces, strict=True))
        return np.fromiter(joined, dtype=object, count=len(before.codes))  # no list between


def _satisfaction(f: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The last NPS and mean CSAT columns, all missing when the data has no surveys."""
    missing = pd.Series(np.nan, index=f.index)
    return f.get("nps_last", missing), f.get("csat_mean", missing)


def _quantiles(values: np.ndarray, qs: tuple[float, float]) -> tuple[float, float]:
    v = np.quantile(values, qs)
    return float(v[0]), float(v[1])


# -- the section ------------------------------------------------------------------------------
class Tiers:
    """The client tiers section."""

    name = "tiers"
    title = "Client tiers: basic, medium, VIP"
    order = 40
    requires: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = {
        "window_months": 12,
        "capacity_scales": {k: list(v) for k, v in DEFAULT_SCALES.items()},
        "capacity_cuts": [0.5, 0.75],
        "spend_cuts": [0.5, 0.8],
        "nps_cuts": [7, 9],
        "csat_cuts": [3.5, 4.5],
        "volume_cuts": [0.5, 0.8],
        "tenure_cuts": [180, 730],
        "tier_cuts": [0.4, 0.75],
        "vip_requires": {"tenure": 1, "volume": 1},
    }
    definitions: Mapping[str, str] = {
        "Rated client": "A client with a purchase (amount > 0) in the 12 months (window_months) "
        "before the period end.",
        "Financial capacity": "Mean position (0 lowest, 1 highest) of the client's labels on the "
        "ordinal capacity scales (income band, company size); without any, average order value "
        "in the year against its quantiles.",
        "Satisfaction": "Last NPS answer (0-10), else mean CSAT (1-5).",
        "Purchase volume": "Net revenue in the twelve months to the period end, against its "
        "quantiles among rated clients.",
        "Tenure": "Days from signup (else the first purchase) to the period end.",
        "Points share": "Family points (0, 1 or 2 each) / (2 x families with evidence).",
        "Tier": "VIP at a points share >= 75 % with tenure and volume points >= 1; medium at "
        ">= 40 %; else basic (defaults; see the settings).",
    }

    def run(self, ctx: PeriodContext) -> Section:
        settings = TierSettings.parse(ctx.settings)
        now = _tier_clients(ctx, ctx.period, settings)
        if now is None:
            raise SegkitError(
                f"no client has a purchase in the {settings.window_months} months before "
                f"{ctx.period.end}: period {ctx.period} cannot be tiered"
            )
        clients, rule, tier = now.clients, now.rule, now.tier
        # Taken out in place: drop() copied the ~20 columns of every rated client.
        blocked = int(clients.pop("vip_blocked").sum())
        prev = _tier_clients(ctx, ctx.previous, settings, detail=False)
        before = prev.clients if prev else None
        by_tier = _by_tier(clients, tier)
        prev_by = _by_tier(prev.clients, prev.tier, detail=False) if prev else None

        def prev_value(tier: str, col: str) -> float | None:
            return float(prev_by.loc[tier, col]) if prev_by is not None else None

        metrics = [
            Metric(
                "rated_clients",
                "Rated clients",
                len(clients),
                "count",
                len(before) if before is not None else None,
                True,
            ),
            Metric(
                "vip_clients",
                "VIP clients",
                float(by_tier.loc["vip", "clients"]),
                "count",
                prev_value("vip", "clients"),
                True,
                headline=True,
            ),
            Metric(
                "vip_revenue_share",
                "VIP share of revenue (12 months)",
                float(by_tier.loc["vip", "revenue_share"]),
                "share",
                prev_value("vip", "revenue_share"),
                None,
            ),
            Metric(
                "medium_clients",
                "Medium clients",
                float(by_tier.loc["medium", "clients"]),
                "count",
                prev_value("medium", "clients"),
                True,
            ),
        ]
        vip = by_tier.loc["vip"]
        summary = (
            f"{int(vip['clients']):,} of {len(clients):,} rated clients are VIP "
            f"({vip['client_share']:.0%}); they bring {vip['revenue_share']:.0%} of the "
            f"twelve months' net revenue. {int(by_tier.loc['medium', 'clients']):,} are medium "
            f"and {int(by_tier.loc['basic', 'clients']):,} basic."
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
                        "client_share": "share",
                        "revenue_year": "money",
                        "revenue_share": "share",
                        "margin_year": "money",
                        "mean_share": "share",
                        "median_tenure_days": "days",
                    },
                    caption=f"Tiers as of the end of {ctx.period}",
                ),
                "evidence": Table(
                    _evidence_table(clients, rule),
                    formats={"clients_with_evidence": "count", "coverage": "share"},
                    caption="Evidence families: coverage and cut-offs (1 point / 2 points)",
                ),
                "vip": Table(
                    _taken(
                        clients,
                        np.flatnonzero(tier == TIERS.index("vip")),
                        ["customer_id", "revenue_year", "reasons"],
                    ).sort_values("revenue_year", ascending=False),
                    formats={"revenue_year": "money"},
                    caption="VIP clients and why",
                ),
            },
            figures=[_figure(by_tier, ctx.period)],
            notes=_notes(ctx, clients, now.spend_fallback, blocked, settings),
            data={
                "clients": clients,
                "segmenter": TierRule(settings),
                "fitted": rule,
            },
        )


class _Tiered(NamedTuple):
    """What :func:`_tier_clients` gives of one period."""

    clients: pd.DataFrame
    rule: TierRule
    #: Each client's tier as its index in :data:`TIERS`.
    tier: np.ndarray
    #: Clients whose financial capacity is read from average order value (no known label).
    spend_fallback: int


def _tier_clients(
    ctx: PeriodContext, period: Period, settings: TierSettings, detail: bool = True
) -> _Tiered | None:
    """Tiered clients of ``period`` with revenue and margin, and the rule fitted on them.

    Without ``detail`` (the previous period, of which only counts and revenue are read), the
    texts (bases and reasons: the slow part) and the margin, period and tenure columns are
    left out. The rule and its tiers are kept for migration and stratification (see
    :func:`segkit.analyses.segmenter.keep_labelled`).
    """
    rule = TierRule(settings)
    features = rule.features(ctx, period)
    if features.empty:
        return None
    rule.fit(features)
    clients, tier = rule._evidence(features) if detail else rule._classify(features)
    keep_labelled(ctx, Tiers.name, period, rule, features, clients["tier"])
    columns = ("revenue_year", "margin_year", "revenue_period", "margin_period", "tenure_days")
    for col in columns if detail else columns[:1]:
        clients[col] = features[col]
    # Counted here on numbers: from the capacity basis texts it was a value_counts of 740,000
    # objects (~0.024 s).
    fallback = np.isnan(features["capacity_position"].to_numpy(dtype=float))
    fallback &= features["avg_order_value"].notna().to_numpy()
    return _Tiered(clients, rule, tier, int(np.count_nonzero(fallback)))


def _taken(frame: pd.DataFrame, rows: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """``frame.loc`` of the positions ``rows`` and ``columns``, each column taken on its own:
    ``.loc`` with a boolean mask took ~0.037 s for the VIPs of 740,000 clients, this ~0.007."""
    return pd.DataFrame(
        {c: column_values(frame[c])[rows] for c in columns}, index=frame.index[rows], copy=False
    )


def _by_tier(clients: pd.DataFrame, tier: np.ndarray, detail: bool = True) -> pd.DataFrame:
    """Per tier of ``clients``: counts, shares, sums, mean share and median tenure (without
    ``detail``, only the counts, revenue and their shares). ``tier`` is each client's index in
    :data:`TIERS`, grouped on as categorical codes: grouped by the texts, the 740,000 objects
    were hashed for ~0.05 s."""
    g = clients.groupby(pd.Categorical.from_codes(tier, TIERS), observed=False)
    columns = {"revenue_year": g["revenue_year"].sum()}
    if detail:
        columns["margin_year"] = g["margin_year"].sum()
        columns["mean_share"] = g["share"].mean()
        columns["median_tenure_days"] = g["tenure_days"].median()
    frame = pd.DataFrame(columns)
    frame.index = pd.Index(TIERS, name="tier")  # a tier without clients has 0 and 0.0 sums
    frame["clients"] = np.bincount(tier, minlength=len(TIERS))  # g.size() took ~0.005 s
    frame["client_share"] = frame["clients"] / max(len(clients), 1)
    total = clients["revenue_year"].sum()
    frame["revenue_share"] = frame["revenue_year"] / total if total > 0 else np.nan
    order = ["clients", "client_share", "revenue_year", "revenue_share"]
    return frame[[*order, "margin_year", "mean_share", "median_tenure_days"] if detail else order]


def _evidence_table(clients: pd.DataFrame, rule: TierRule) -> pd.DataFrame:
    s = rule.settings
    assert rule.volume_cuts_ is not None and rule.spend_cuts_ is not None
    cut_text = {
        "capacity": f"position {s.capacity_cuts[0]:.2f} / {s.capacity_cuts[1]:.2f} "
        f"(fallback avg order {rule.spend_cuts_[0]:,.2f} / {rule.spend_cuts_[1]:,.2f})",
        "satisfaction": f"NPS {s.nps_cuts[0]:g} / {s.nps_cuts[1]:g}, "
        f"else CSAT {s.csat_cuts[0]:g} / {s.csat_cuts[1]:g}",
        "volume": f"revenue 12m {rule.volume_cuts_[0]:,.2f} / {rule.volume_cuts_[1]:,.2f} "
        f"(quantiles {s.volume_cuts[0]:g} / {s.volume_cuts[1]:g})",
        "tenure": f"{s.tenure_cuts[0]:g} / {s.tenure_cuts[1]:g} days",
    }
    rows = []
    for fam in FAMILIES:
        have = int(clients[f"{fam}_points"].notna().sum())
        rows.append(
            {
                "family": fam,
                "clients_with_evidence": have,
                "coverage": have / len(clients),
                "cut_offs": cut_text[fam],
            }
        )
    return pd.DataFrame(rows)


def _notes(
    ctx: PeriodContext, clients: pd.DataFrame, spend: int, blocked: int, s: TierSettings
) -> list[str]:
    """``spend``: clients whose capacity is read from average order value; ``blocked``: clients
    held back from VIP by its requirements."""
    notes = []
    columns: list[str] = []
    if ctx.has("customers"):
        # The as-of table's columns (contract columns included), without loading its rows.
        columns = list(ctx.view("customers").columns)
    scales = [c for c in s.capacity_scales if c in columns]
    if not scales:
        notes.append(
            f"No capacity scale column ({', '.join(s.capacity_scales)}) in the customers data: "
            "financial capacity is read from average order value for every client."
        )
    elif spend:
        notes.append(
            f"{spend:,} client(s) have no known {' / '.join(scales)} label: their financial "
            "capacity is read from average order value."
        )
    if not ctx.has("surveys"):
        notes.append(
            "No surveys table: satisfaction is not scored; points shares use the other families."
        )
    else:
        missing = int(clients["satisfaction_points"].isna().sum())
        if missing:
            notes.append(
                f"{missing:,} client(s) have no survey answer: their points share uses the "
                "other three families."
            )
    if blocked:
        notes.append(
            f"{blocked:,} client(s) reached the VIP points share but not the VIP requirements "
            "and are medium."
        )
    return notes


def _figure(by_tier: pd.DataFrame, period: Period) -> Figure:
    """Share of clients vs share of twelve months' revenue per tier."""
    return paired_share_bars(
        [LABELS[t] for t in by_tier.index],
        {
            "Clients": (by_tier["client_share"], "#7f8c8d"),
            "Revenue": (by_tier["revenue_share"], "#1f5f8b"),
        },
        f"Tiers: clients vs revenue (12 months), {period}",
    )


@hookimpl
def register_analyses(register: Any) -> None:
    register(Tiers())
