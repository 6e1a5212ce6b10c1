"""What an analysis is and what it returns.

An analysis turns one period's data into a :class:`Section` of the report. Plugins register
objects that satisfy :class:`Analysis` through the ``register_analyses`` hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from segkit.engine.context import PeriodContext

#: How a number is shown: money in the config currency, a share as a percentage, ...
Unit = Literal["count", "money", "share", "ratio", "number", "days", "hours", "score"]


@dataclass(frozen=True)
class Metric:
    """A headline number of a section, compared with the previous period.

    ``value`` and ``previous`` are None when undefined (no data), never NaN.
    """

    key: str
    label: str
    value: float | None
    unit: Unit = "number"
    previous: float | None = None
    #: True when a rise is good news, False when bad, None when neither.
    higher_is_better: bool | None = None
    #: A key metric is shown in the executive summary and the trend index.
    headline: bool = False

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


@dataclass(frozen=True)
class Table:
    """A table to show, with per-column formats (:data:`Unit`) and an optional caption."""

    frame: pd.DataFrame
    formats: Mapping[str, Unit] = field(default_factory=dict)
    caption: str = ""
    #: Show at most this many rows; the total is stated under the table.
    max_rows: int = 25


@dataclass
class Section:
    """One analysis' part of a period report."""

    name: str
    title: str
    summary: str = ""
    metrics: list[Metric] = field(default_factory=list)
    tables: dict[str, Table] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    definitions: Mapping[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Per-client or other full results, for analysts and for analyses that build on this one.
    data: dict[str, Any] = field(default_factory=dict)
    order: int = 0
    plugin: str = ""
    error: str | None = None
    seconds: float = 0.0


@runtime_checkable
class Analysis(Protocol):
    """The interface a registered analysis satisfies.

    ``name`` keys the section and its settings (``analyses.<name>`` in segkit.yaml);
    ``defaults`` lists every setting with its default; ``order`` places the section in the
    report (lower first); ``requires`` names analyses whose sections ``run`` reads from
    ``ctx.results``; ``definitions`` maps each reported figure to its definition for the
    appendix.
    """

    name: str
    title: str
    order: int
    defaults: Mapping[str, Any]
    requires: tuple[str, ...]
    definitions: Mapping[str, str]

    def run(self, ctx: PeriodContext) -> Section:
        """Compute this analysis for ``ctx.period``."""
        ...
