"""Tie-safe ranking against a frozen reference distribution, shared by the segmentations.

Every function takes the *reference* values (the distribution the cut-offs were learnt on,
e.g. the earlier period in a migration) and the values to place. On the reference itself
they give the usual rank statistics; on other values they answer "where would this value
have fallen in the reference", so thresholds stay frozen. Equal values always get equal
results, whatever their order in the input.
"""

from __future__ import annotations

import numpy as np

#: A value array as numpy sees it.
Array = np.ndarray


def reference(values: object) -> Array:
    """The sorted, finite float copy of ``values`` that the functions below expect."""
    x = np.asarray(values, dtype=float)
    return np.sort(x[np.isfinite(x)])


def share_below(ref: Array, x: object) -> Array:
    """Share of reference values strictly below each ``x`` (0 when ``ref`` is empty)."""
    xs = np.asarray(x, dtype=float)
    if ref.size == 0:
        return np.zeros(xs.shape)
    return np.searchsorted(ref, xs, side="left") / ref.size


def mid_percentile(ref: Array, x: object) -> Array:
    """Mid-rank percentile in (0, 1): (share below + share at or below) / 2.

    Ties share the average of the positions they occupy; 0.5 when ``ref`` is empty. Missing
    ``x`` stay NaN.
    """
    xs = np.asarray(x, dtype=float)
    if ref.size == 0:
        return np.where(np.isnan(xs), np.nan, 0.5)
    below = np.searchsorted(ref, xs, side="left")
    at_or_below = np.searchsorted(ref, xs, side="right")
    return np.where(np.isnan(xs), np.nan, (below + at_or_below) / (2 * ref.size))


def rank_scores(ref: Array, x: object, bins: int = 5) -> Array:
    """Scores 1..``bins``: ``1 + floor(bins x share of reference values strictly below x)``.

    The lowest value scores 1 and ties share the score of the lowest position they occupy, so
    a mass of equal values (60 % of clients with one purchase) all score 1 and the next value
    up scores by its true position (4 here), rather than being split arbitrarily.
    """
    # The tiny tolerance keeps an exact boundary (a share of 0.4 x 5 = 2.0000000001) on its bin.
    scores = 1 + np.floor(bins * share_below(ref, x) + 1e-9)
    return np.clip(scores, 1, bins).astype(int)
