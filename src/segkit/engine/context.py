"""What an analysis sees: one period's data, as of the period's end, and its settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar, cast

import duckdb
import pandas as pd

from segkit.config import Config
from segkit.data.contract import TABLES, Kind
from segkit.data.load import Dataset
from segkit.engine.analysis import Section
from segkit.periods import Period

T = TypeVar("T")

#: DuckDB type of each contract kind, as loaded (see :mod:`segkit.data.load`).
_SQL_TYPES: dict[Kind, str] = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "number": "DOUBLE",
    "date": "TIMESTAMP",
    "bool": "BOOLEAN",
}


@dataclass
class PeriodContext:
    """The inputs of one analysis for one period.

    Data access goes through :meth:`table` / :meth:`sql`, which only return rows known before
    the cut-off (``period.end`` unless stated), so an analysis cannot look ahead by accident.
    Both show every column of the contract table: an optional column the data lacks is there,
    typed, with only NULLs, so an analysis can be written against the contract alone.
    """

    dataset: Dataset
    period: Period
    settings: Mapping[str, Any]
    results: Mapping[str, Section] = field(default_factory=dict)
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

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
        """Rows of ``name`` known before ``cutoff`` (default: the period's end).

        Cached across the analyses of a run; each call returns a copy, so an analysis that
        changes its frame cannot change what the analyses after it see.
        """
        key = (name, cutoff or self.period.end)
        if key not in self._cache:
            self._cache[key] = self.sql(f"SELECT * FROM {self.view(name, key[1])} AS t")
        return self._cache[key].copy()

    def memo(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """``compute()`` once per report run for ``key``; analyses share the result."""
        if key not in self._cache:
            self._cache[key] = compute()
        return cast(T, self._cache[key])

    def view(self, name: str, cutoff: date | None = None) -> str:
        """SQL of the as-of rows of ``name``, to use as a sub-query in :meth:`sql`."""
        as_of = self.dataset.as_of_sql(name, cutoff or self.period.end)
        spec, present = TABLES[name], set(self.dataset.columns(name))
        # Optional columns absent from the data are added as typed NULLs, so a query that
        # names them (coalesce(order_id, ...)) runs on any valid data folder.
        missing = [c for c in spec.columns if c.name not in present]
        if not missing:
            return f"({as_of})"
        if spec.event is not None and spec.event not in present:
            # The as-of filter names the event column (customers.signup_date is optional):
            # without it no row has an event date, which the filter reads as "known". A CTE
            # of the table's name with the column, NULL, lets the filter run as written.
            event = spec.column(spec.event)
            as_of = (
                f'WITH "{name}" AS (SELECT *, CAST(NULL AS {_SQL_TYPES[event.kind]}) '
                f'AS "{event.name}" FROM main."{name}") {as_of}'
            )
        nulls = ", ".join(f'CAST(NULL AS {_SQL_TYPES[c.kind]}) AS "{c.name}"' for c in missing)
        return f"(SELECT *, {nulls} FROM ({as_of}))"

    def sql(self, query: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run a DuckDB query; build its FROM clauses with :meth:`view`."""
        return self.con.execute(query, params or []).df()
