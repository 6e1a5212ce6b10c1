"""The reference distributions shared by the segmentations, against numpy's searches."""

from __future__ import annotations

import numpy as np
import pytest

from segkit.analyses import _binning
from segkit.analyses._binning import Reference


def searched(ref: Reference, x: np.ndarray) -> tuple[list[int], list[int]]:
    """The counts below and equal of ``x`` by numpy's searches of the sorted values."""
    left = np.searchsorted(ref.values, x, "left")
    return left.tolist(), (np.searchsorted(ref.values, x, "right") - left).tolist()


@pytest.mark.parametrize("finite", [True, False])
@pytest.mark.parametrize("distinct", [4, 50_000])
def test_hashed_and_sorted_runs_count_alike(finite: bool, distinct: int) -> None:
    # Few distinct values are hashed, many sorted (_few_distinct): both give the searches'
    # counts, for NaN, infinities and signed zeros too.
    rng = np.random.default_rng(7)
    values = rng.integers(-distinct // 2, distinct // 2, 20_000).astype(float) / 4
    pick = rng.random(values.size)
    values[pick < 0.02] = np.nan
    values[(pick >= 0.02) & (pick < 0.03)] = np.inf
    values[(pick >= 0.03) & (pick < 0.04)] = -np.inf
    values[(pick >= 0.04) & (pick < 0.05)] = -0.0
    assert _binning._few_distinct(values) == (distinct == 4)
    ref = Reference(values, finite=finite)
    kept = values[np.isfinite(values)] if finite else values[~np.isnan(values)]
    assert ref.values.tolist() == np.sort(kept).tolist()
    assert ref.size == kept.size
    below, equal = ref.counts(values)
    assert (below.tolist(), equal.tolist()) == searched(ref, values)
    # Values of another reference, hashed or sorted, are placed from its runs.
    other = values[::-1].copy()
    for built in (Reference(other, finite=not finite), Reference(other[:100], finite=finite)):
        below, equal = ref.counts(built.source.copy())
        assert (below.tolist(), equal.tolist()) == searched(ref, built.source)
