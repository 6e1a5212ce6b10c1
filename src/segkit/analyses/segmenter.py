"""The segmenter interface: learn cut-offs on one period, label clients with them.

Segmentations (ABC-XYZ, quadrants, tiers, grades ...) follow scikit-learn's shape so that
migration between periods can freeze the thresholds: ``fit`` on the earlier period's features,
then ``predict`` both periods with the same fitted cut-offs, so a move means the client changed,
not the thresholds.

An analysis that supports migration puts an *unfitted* segmenter, configured with its settings,
in ``section.data["segmenter"]``; the migration analysis (which runs after it) does the rest.
A segmenter may also have ``predict_codes(features)``: each row's position in ``levels`` (-1
where unclassed), what ``predict`` labels it, without the labels (see :func:`level_codes`).
An analysis' per-client results go in ``section.data["clients"]``: a DataFrame with a
``customer_id`` column, exported by ``segkit score``.

:func:`labelled` gives a segmenter fitted on a period with that period's labels, cached per
report run: migration needs the previous period's (fitted there, labelled there), stratification
this period's, and the analysis itself has usually computed both already, so it hands them
over with :func:`keep_labelled` instead of migration and stratification fitting and labelling
the same clients again. :func:`match_ids` lines up two frames' clients by merging their sorted
ids rather than hashing them.
"""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass
from typing import Any, Literal, Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd

from segkit.engine.context import PeriodContext
from segkit.periods import Period


@runtime_checkable
class Segmenter(Protocol):
    """Labels clients with one of ``levels`` (best first, so moves can be called up or down)."""

    name: str
    levels: tuple[str, ...]

    def features(self, ctx: PeriodContext, period: Period) -> pd.DataFrame:
        """The inputs for ``period`` (as of its end): one row per client, with ``customer_id``."""
        ...

    def fit(self, features: pd.DataFrame) -> Self:
        """Learn the cut-offs from ``features``; return self."""
        ...

    def predict(self, features: pd.DataFrame) -> pd.Series:
        """A label from ``levels`` for each row of ``features`` (same index)."""
        ...


@dataclass(frozen=True)
class Labelled:
    """A segmenter fitted on one period's features, and the labels it gives those clients."""

    segmenter: Segmenter
    #: The clients' ids, in the features' order (see :func:`client_ids`).
    ids: pd.Index
    #: The label of each client (an object array, NaN where unclassed).
    labels: np.ndarray
    #: The position of each label in the segmenter's ``levels`` (-1: NaN or not a level).
    codes: np.ndarray


def labelled(ctx: PeriodContext, name: str, proto: Segmenter, period: Period) -> Labelled:
    """Section ``name``'s segmenter ``proto`` (a copy) fitted on ``period``, with its labels.

    Cached per report run under the section's name; the section may have kept its own
    (:func:`keep_labelled`). The fitted segmenter is shared: callers must not fit it again.
    """

    def compute() -> Labelled:
        seg = copy.deepcopy(proto)  # the section keeps its unfitted segmenter
        features = seg.features(ctx, period)
        labels = _labels(seg.fit(features).predict(features))
        return Labelled(seg, client_ids(features), labels, level_codes(seg, labels))

    return ctx.memo(("segmenter.labelled", name, period.start, period.end), compute)


def keep_labelled(
    ctx: PeriodContext,
    name: str,
    period: Period,
    fitted: Segmenter,
    features: pd.DataFrame,
    labels: pd.Series,
    codes: np.ndarray | None = None,
) -> None:
    """Record what :func:`labelled` would compute: ``fitted`` (fitted on ``features`` of
    ``period`` and not fitted again afterwards) and the labels it gives them.

    For the analysis ``name`` that has fitted and labelled ``period`` anyway; ``labels`` must be
    ``fitted.predict(features)``; ``codes``, their :func:`level_codes`, when the analysis has
    them (looking the labels up took ~15 ms at 825,000 clients). The features' ids are
    :func:`client_ids`: checked once per ids array, so features that share the arrays of
    frames checked before (the client features, ABC-XYZ's activity) are not checked again.
    """
    key = ("segmenter.labelled", name, period.start, period.end)

    def compute() -> Labelled:
        texts = _labels(labels)
        found = level_codes(fitted, texts) if codes is None else codes
        return Labelled(fitted, client_ids(features), texts, found)

    ctx.memo(key, compute)


def _labels(labels: pd.Series) -> np.ndarray:
    return np.asarray(labels, dtype=object)


def level_codes(segmenter: Segmenter, labels: np.ndarray) -> np.ndarray:
    """The position of each of ``labels`` in ``segmenter.levels`` (-1: NaN or not a level)."""
    return pd.Index(segmenter.levels).get_indexer(labels)


def predict_codes(
    segmenter: Segmenter, features: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray | None]:
    """The :func:`level_codes` of ``segmenter.predict(features)`` and those labels; by the
    segmenter's ``predict_codes`` when it has one, without the labels (None: -1 is unclassed).

    Making the labels and looking them up again took ~15 ms at 825,000 clients."""
    by_codes = getattr(segmenter, "predict_codes", None)
    if by_codes is not None:
        return np.asarray(by_codes(features)), None
    labels = _labels(segmenter.predict(features))
    return level_codes(segmenter, labels), labels


def column_values(column: pd.Series) -> Any:
    """The column's array without a copy: NumPy's, or pandas' extension array (to index with
    positions or a mask). A ``NumpyExtensionArray`` (``.array`` of a NumPy column) made into a
    frame or a Series is scanned again: every text checked for NaN, ~0.2 s at 1 M clients."""
    if isinstance(column.dtype, np.dtype):
        return column.to_numpy()
    return column.array


def with_results(features: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """``features`` and the new columns of ``results`` (same index), as an analysis' own frame
    of its clients: the features' columns copied (they may be the cached features' arrays,
    which its ``data["clients"]`` must not share), ``results``' taken as they are. Not
    consolidated: ``pd.concat`` copied both into blocks (~10-30 ms per 825,000 clients)."""
    columns = {c: features[c].copy() for c in features.columns}
    return pd.DataFrame({**columns, **{c: results[c] for c in results.columns}}, copy=False)


def client_ids(frame: pd.DataFrame) -> pd.Index:
    """The ``customer_id`` column of ``frame`` as an index; an error if an id repeats.

    The index made from the same ids array (the same frame, which is not changed in place) is
    returned again while it is in use: several sections label one features frame (tiers and
    scorecard), migration matches it again, and checking 825,000 text ids took ~15 ms a time.
    """
    key, root, ids = _made(frame)
    if ids is not None:
        return ids
    ids = pd.Index(frame["customer_id"])
    # Checked first: strictly increasing ids (the usual case) are then known unique without
    # building a hash table of them.
    _ = ids.is_monotonic_increasing
    if not ids.is_unique:
        raise ValueError("the segmenter's features have several rows for one client")
    for k in [k for k, (r, i) in _checked.items() if r() is None or i() is None]:
        del _checked[k]
    _checked[key] = (weakref.ref(root), weakref.ref(ids))
    return ids


def made_ids(frame: pd.DataFrame) -> pd.Index | None:
    """:func:`client_ids` of ``frame`` if that index is in use already, else None (unchecked)."""
    return _made(frame)[2]


def _made(frame: pd.DataFrame) -> tuple[tuple[object, ...], np.ndarray, pd.Index | None]:
    """The key of ``frame``'s ids among :data:`_checked`, the array they are part of, and the
    index made from them if it is in use."""
    values = frame["customer_id"].to_numpy()
    root: np.ndarray = values
    while isinstance(root.base, np.ndarray):
        root = root.base
    # The root array is alive (held here), so its id is its own; the view's place in it and
    # the dtype tell the same ids.
    key = (id(root), values.ctypes.data, values.shape, values.strides, values.dtype.str)
    seen = _checked.get(key)
    if seen is not None and seen[0]() is root and (ids := seen[1]()) is not None:
        return key, root, ids
    return key, root, None


#: Indexes made by :func:`client_ids`, by the array of their ids, held weakly (the arrays'
#: lifetime is their frames', the indexes' their callers').
_checked: dict[tuple[object, ...], tuple[weakref.ref[np.ndarray], weakref.ref[pd.Index]]] = {}


def match_ids(
    a: pd.Index, b: pd.Index, how: Literal["outer", "left"] = "outer"
) -> tuple[pd.Index, tuple[np.ndarray, np.ndarray]]:
    """The sorted union of the unique ``a`` and ``b`` (or ``a`` sorted, ``how="left"``) and,
    for each of its ids, its position in ``a`` and in ``b`` (-1 where absent).

    Sorted indexes are joined by one linear merge (pandas' monotonic join), ~0.15 s for 1 M
    text ids against ~0.5 s to hash them; an unsorted one is sorted first.
    """
    sorted_a, order_a = _increasing(a)
    sorted_b, order_b = _increasing(b)
    joined, at_a, at_b = sorted_a.join(sorted_b, how=how, return_indexers=True)
    found = []
    for at, order in ((at_a, order_a), (at_b, order_b)):
        at = np.arange(len(joined)) if at is None else at
        found.append(np.append(order, -1)[at])
    return joined, (found[0], found[1])


def positions(ids: pd.Index, among: pd.Index) -> np.ndarray:
    """The position of each of ``ids`` in ``among`` (-1 where absent), in ``ids``' order; both
    unique. By :func:`match_ids`, so sorted ids are not hashed."""
    if ids.is_monotonic_increasing and among.is_monotonic_increasing:
        # The join's own indexer, in ids' order already (the usual case: ids come sorted).
        _, _, at = ids.join(among, how="left", return_indexers=True)
        return np.arange(len(ids)) if at is None else at
    _, (row, at) = match_ids(ids, among, how="left")
    out = np.empty(len(ids), dtype=np.intp)
    out[row] = at
    return out


def _increasing(ids: pd.Index) -> tuple[pd.Index, np.ndarray]:
    """``ids`` in increasing order and, for each, its position in ``ids``."""
    if ids.is_monotonic_increasing:
        return ids, np.arange(len(ids))
    order = np.argsort(ids.to_numpy(), kind="stable")
    return ids[order], order
