"""What an analysis sees: one period's data, as of the period's end, and its settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from segkit.config import Config
from segkit.data.load import Dataset
from segkit.engine.analysis import Section
from segkit.periods import Period


@dataclass
class PeriodContext:
    """The inputs of one analysis for one period.

    Data access goes through :meth:`table` / :meth:`sql`, which only return rows known before
    the cut-off (``period.end`` unless stated), so an analysis cannot look ahead by accident.
    """

    dataset: Dataset
    period: Period
    settings: Mapping[str, Any]
    results: Mapping[str, Section] = field(default_factory=dict)
    _cache: dict[tuple[str, date], pd.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def config(self) -> Config:
        return self.dataset.config

    @property
    def previous(self) -> Period:
        return self.period.previous()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.dataset.con

    def has(self, table: str) -> bool:
        return self.dataset.has(table)

    def table(self, name: str, cutoff: date | None = None) -> pd.DataFrame:
        """Rows of ``name`` known before ``cutoff`` (default: the period's end). Cached."""
        key = (name, cutoff or self.period.end)
        if key not in self._cache:
            self._cache[key] = self.dataset.as_of(name, key[1])
        return self._cache[key]

    def view(self, name: str, cutoff: date | None = None) -> str:
        """SQL of the as-of rows of ``name``, to use as a sub-query in :meth:`sql`."""
        return f"({self.dataset.as_of_sql(name, cutoff or self.period.end)})"

    def sql(self, query: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run a DuckDB query; build its FROM clauses with :meth:`view`."""
        return self.con.execute(query, params or []).df()
