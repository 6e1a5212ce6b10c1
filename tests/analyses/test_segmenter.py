"""Matching client ids: positions and joins checked against a dictionary lookup."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segkit.analyses.segmenter import match_ids, positions, with_results


def _ids(rng: np.random.Generator, n: int, sort: bool) -> pd.Index:
    values = rng.choice([f"c{i:03d}" for i in range(60)], size=n, replace=False)
    return pd.Index(np.sort(values) if sort else values, dtype=object)


@pytest.mark.parametrize("sort_ids", [True, False])
@pytest.mark.parametrize("sort_among", [True, False])
def test_positions_are_those_of_a_lookup(sort_ids: bool, sort_among: bool) -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        ids = _ids(rng, 25, sort_ids)
        among = _ids(rng, 30, sort_among)
        where = {v: i for i, v in enumerate(among)}
        expected = [where.get(v, -1) for v in ids]
        assert positions(ids, among).tolist() == expected
        assert (positions(ids, among) == -1).any()  # some absent, as the draws make likely


def test_positions_of_the_same_and_of_no_ids() -> None:
    ids = pd.Index(["a", "b", "c"])
    assert positions(ids, ids).tolist() == [0, 1, 2]
    assert positions(pd.Index([], dtype=object), ids).tolist() == []
    assert positions(ids, pd.Index([], dtype=object)).tolist() == [-1, -1, -1]


def test_match_ids_outer_is_the_sorted_union() -> None:
    a, b = pd.Index(["d", "a", "c"]), pd.Index(["b", "c"])
    joined, (at_a, at_b) = match_ids(a, b)
    assert joined.tolist() == ["a", "b", "c", "d"]
    assert at_a.tolist() == [1, -1, 2, 0] and at_b.tolist() == [-1, 0, 1, -1]


def test_with_results_owns_the_features_columns() -> None:
    features = pd.DataFrame({"customer_id": ["a", "b"], "x": [1.0, 2.0]}, index=[3, 5])
    results = pd.DataFrame({"label": np.array(["hi", "lo"], dtype=object)}, index=[3, 5])
    out = with_results(features, results)
    assert out.equals(pd.concat([features, results], axis=1))
    for c in features.columns:
        assert not np.shares_memory(out[c].to_numpy(), features[c].to_numpy())
