"""What an analysis sees: one period's data, as of the period's end, and its settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar, cast

import ibis.expr.types as ir
import pandas as pd

from segkit.config import Config
from segkit.data.engine import Engine
from segkit.data.load import Dataset
from segkit.engine.analysis import Section
from segkit.periods import Period

if TYPE_CHECKING:
    from segkit.engine.plugins import PluginManager

T = TypeVar("T")


@dataclass
class PeriodContext:
    """The inputs of one analysis for one period.

    Data access goes through :meth:`view` (an Ibis table, aggregated on the engine and run
    with :meth:`execute`) and :meth:`table` (small tables in pandas), which only show rows
    known before the cut-off (``period.end`` unless stated), so an analysis cannot look ahead
    by accident.
    Both show every column of the contract table: an optional column the data lacks is there,
    typed, with only NULLs, so an analysis can be written against the contract alone.
    """

    dataset: Dataset
    period: Period
    settings: Mapping[str, Any]
    results: Mapping[str, Section] = field(default_factory=dict)
    #: The run's plugins, for analyses that use what plugins register (e.g. fund rules).
    plugins: PluginManager | None = None
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def config(self) -> Config:
        return self.dataset.config

    @property
    def previous(self) -> Period:
        return self.period.previous()

    @property
    def engine(self) -> Engine:
        return self.dataset.engine

    def has(self, table: str) -> bool:
        return self.dataset.has(table)

    def table(self, name: str, cutoff: date | None = None) -> pd.DataFrame:
        """Rows of ``name`` known before ``cutoff`` (default: the period's end), in pandas.

        For the small tables (subscriptions, surveys, tickets ...); aggregate transactions with
        :meth:`view` and :meth:`execute` instead. Cached across the analyses of a run; each
        call returns a copy, so an analysis that changes its frame cannot change what the
        analyses after it see.
        """
        key = (name, cutoff or self.period.end)
        if key not in self._cache:
            self._cache[key] = self.execute(self.view(name, key[1]))
        return self._cache[key].copy()

    def memo(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """``compute()`` once per report run for ``key``; analyses share the result."""
        if key not in self._cache:
            self._cache[key] = compute()
        return cast(T, self._cache[key])

    def memo_periods(
        self,
        key: tuple[Any, ...],
        period: Period,
        compute: Callable[[tuple[Period, ...]], Sequence[T]],
    ) -> T:
        """``compute(periods)[i]`` for ``period`` (``periods[i]``), once per report run.

        The report's period and the one before it, which the segmentations compare it with,
        are computed together, so that one pass of the engine over the rows serves both;
        another period is computed alone. ``compute`` gets the periods latest first.
        """
        pair = (self.period, self.previous)
        if period in pair:
            return self.memo((*key, *pair), lambda: compute(pair))[pair.index(period)]
        return self.memo((*key, period), lambda: compute((period,)))[0]

    def view(self, name: str, cutoff: date | None = None) -> ir.Table:
        """The as-of rows of ``name`` as an Ibis table, to aggregate with :meth:`execute`."""
        return self.dataset.as_of(name, cutoff or self.period.end)

    def execute(self, expr: ir.Table) -> pd.DataFrame:
        """Run an Ibis expression on the dataset's engine (DuckDB or Spark); a DataFrame."""
        return self.engine.execute(expr)
