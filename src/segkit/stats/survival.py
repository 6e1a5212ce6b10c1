"""Kaplan-Meier estimates for durations with right-censoring (e.g. tickets still open).

Durations are non-negative numbers in any unit; ``observed`` is False for a censored duration
(the event had not happened when observation stopped). Ties: events at a time are counted
before censorings at the same time, the usual convention (and lifelines').
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KaplanMeier:
    """The Kaplan-Meier survival curve: ``survival[i]`` is S(t) just after ``times[i]``."""

    times: np.ndarray
    survival: np.ndarray
    n: int
    events: int

    def quantile(self, q: float) -> float | None:
        """Smallest time t with S(t) <= 1 - q, i.e. the q-quantile of the duration.

        None when the curve never falls that low (too many censored, e.g. "median not reached").
        """
        if not 0 < q < 1:
            raise ValueError(f"q must be between 0 and 1, got {q}")
        # A small tolerance keeps S = 0.5 exactly (2 of 4 resolved) from being missed.
        hit = np.flatnonzero(self.survival <= 1 - q + 1e-12)
        return float(self.times[hit[0]]) if hit.size else None

    def share_by(self, t: float) -> float | None:
        """Estimated share of events by time ``t`` inclusive: 1 - S(t). None when n = 0."""
        if self.n == 0:
            return None
        upto = np.searchsorted(self.times, t, side="right")
        return 1.0 - (float(self.survival[upto - 1]) if upto else 1.0)


def kaplan_meier(durations: np.ndarray, observed: np.ndarray) -> KaplanMeier:
    """Fit S(t) = prod over event times t_i <= t of (1 - d_i / n_i).

    ``d_i`` events at ``t_i`` among ``n_i`` still at risk just before ``t_i``.
    """
    t = np.asarray(durations, dtype=float)
    e = np.asarray(observed, dtype=bool)
    if t.shape != e.shape:
        raise ValueError("durations and observed must have the same shape")
    if np.any(t < 0) or not np.all(np.isfinite(t)):
        raise ValueError("durations must be finite and non-negative")
    if t.size == 0:
        return KaplanMeier(np.empty(0), np.empty(0), 0, 0)
    times, inverse = np.unique(t, return_inverse=True)
    deaths = np.bincount(inverse, weights=e, minlength=times.size)
    leaving = np.bincount(inverse, minlength=times.size)
    # At risk just before t_i: everyone whose duration is >= t_i.
    at_risk = t.size - np.concatenate([[0], np.cumsum(leaving)[:-1]])
    survival = np.cumprod(1.0 - deaths / at_risk)
    return KaplanMeier(times, survival, int(t.size), int(e.sum()))
