"""The segmenter interface: learn cut-offs on one period, label clients with them.

Segmentations (ABC-XYZ, quadrants, tiers, grades ...) follow scikit-learn's shape so that
migration between periods can freeze the thresholds: ``fit`` on the earlier period's features,
then ``predict`` both periods with the same fitted cut-offs, so a move means the client changed,
not the thresholds.

An analysis that supports migration puts an *unfitted* segmenter, configured with its settings,
in ``section.data["segmenter"]``; the migration analysis (which runs after it) does the rest.
An analysis' per-client results go in ``section.data["clients"]``: a DataFrame with a
``customer_id`` column, exported by ``segkit score``.
"""

from __future__ import annotations

from typing import Protocol, Self, runtime_checkable

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
