"""The query engine: Ibis expressions, executed by DuckDB (embedded, the default) or Apache Spark.

Every aggregation an analysis needs is written once, as an Ibis expression over the as-of tables
(:meth:`segkit.engine.context.PeriodContext.view`); :meth:`Engine.execute` runs it where the
data lives and brings back only the result (one row per client, or per group) as a pandas
DataFrame. The same expression compiles to DuckDB SQL or to Spark SQL, so there is one code
path from a laptop to a cluster; model fits then run in-process on those compact results.

Functions both engines have but Ibis does not expose are declared here as builtins
(:func:`bit_or`, :func:`bit_count`, :func:`min_by`), so analyses never write engine-specific SQL.

Money is added with :func:`money_sum`: exactly, in integer micro-units, so a total does not
depend on the order in which the engine adds the rows (threads, Spark partitions). Float sums
differed in their last bits between DuckDB and Spark, and a client whose revenue equals a
frozen cut-off fell on either side of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from segkit.config import EngineName

#: Money is added in whole micro-units (1e-6 of the currency unit) as 64-bit integers; the
#: contract bounds amounts to 1e12 (segkit.data.contract.MONEY_LIMIT), far inside that range.
MICRO = 1_000_000

#: Exact type for sums of larger numbers (squares of money): 32 integer digits, 6 decimals.
EXACT = dt.Decimal(38, 6)


@ibis.udf.agg.builtin
def bit_or(x: int) -> int:  # type: ignore[empty-body]
    """Bitwise OR of an integer column (DuckDB ``bit_or``, Spark ``bit_or``)."""


@ibis.udf.agg.builtin
def min_by(value: float, key: date) -> float:  # type: ignore[empty-body]
    """``value`` of the row with the smallest ``key`` (DuckDB ``arg_min``, Spark ``min_by``).

    Ibis's ``value.argmin(key)`` compiles to ``first(value ORDER BY key)`` on DuckDB, an
    ordered aggregate that doubles the time of :func:`summarize` at 10 M rows.
    """


@ibis.udf.scalar.builtin
def bit_count(x: int) -> int:  # type: ignore[empty-body]
    """Number of set bits of an integer (DuckDB and Spark ``bit_count``)."""


def money_sum(value: ir.NumericColumn, where: ir.BooleanValue | None = None) -> ir.FloatingScalar:
    """The exact sum of money ``value`` (rows where ``where`` holds), as a float; NULL when no
    row. Each amount is rounded to a micro-unit of the currency and the integers are added."""
    micro = (value * MICRO).round().cast("int64")
    return micro.sum(where=where).cast("float64") / MICRO


def exact_sum(value: ir.NumericColumn, where: ir.BooleanValue | None = None) -> ir.FloatingScalar:
    """The exact sum of ``value`` rounded to 1e-6, for numbers beyond money's bound (squares
    of amounts); slower than :func:`money_sum` (128-bit decimals)."""
    return value.cast(EXACT).sum(where=where).cast("float64")


@dataclass
class Engine:
    """Where the tables live and what runs the queries.

    ``backend`` is an Ibis backend holding one table per contract table (named as in the
    contract): an in-process DuckDB connection, or a Spark session's catalog.
    """

    name: EngineName
    backend: BaseBackend

    @classmethod
    def duckdb(cls, con: Any) -> Engine:
        """The engine on an open ``duckdb`` connection (shared: its tables and transactions)."""
        # Ibis sets its connections' session time zone to UTC; the loader's (the config's) is
        # put back, so SQL on the connection keeps reading and writing local times.
        zone = con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0]
        backend = ibis.duckdb.from_connection(con)
        con.execute("SET TimeZone = $zone", {"zone": zone}).fetchall()
        return cls("duckdb", backend)

    @classmethod
    def spark(cls, session: Any) -> Engine:
        """The engine on a ``pyspark.sql.SparkSession``."""
        return cls("spark", ibis.pyspark.connect(session))

    def table(self, name: str) -> ir.Table:
        return self.backend.table(name)

    def execute(self, expr: ir.Table) -> pd.DataFrame:
        """Run ``expr`` and return its rows as a DataFrame.

        Date and time columns come back as ``datetime64[us]`` whatever the engine, so results
        from DuckDB and Spark compare equal. In a result with several text columns (a
        customers table) a value repeated in a column is one Python string.
        """
        if self.name == "duckdb":
            # DuckDB's own conversion: Ibis' generic one turns every column with a NULL into
            # Python objects first, which tripled the time of a 1 M-client frame.
            frame = duckdb_frame(self.backend._to_duckdb_relation(expr), self.backend.con)
        else:
            frame = _shared_texts(self.backend.execute(expr))
        for column in frame.columns:
            dtype = frame[column].dtype
            if pd.api.types.is_datetime64_any_dtype(dtype) and dtype != _MICROSECONDS:
                frame[column] = frame[column].astype(_MICROSECONDS)
        return frame

    def scalar(self, expr: ir.Scalar) -> Any:
        """The value of a scalar expression (e.g. ``table.count()``)."""
        return self.backend.execute(expr)


_MICROSECONDS = np.dtype("datetime64[us]")


def _shared_texts(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each text column whose values repeat (:func:`_repeats`: region, band
    ...) holding one string object per value when it has several text columns, as
    :func:`duckdb_frame` makes them; values and types unchanged."""
    texts = frame.select_dtypes(include="object").columns
    for name in texts if len(texts) > 1 else []:
        values = frame[name].to_numpy()
        if _repeats(values[:_SAMPLE].tolist()):
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            shared = np.array([*uniques, None], dtype=object)
            frame[name] = shared[codes]  # -1, a missing value, takes the None at the end
    return frame


#: Leading values of a text column looked at by :func:`_repeats`.
_SAMPLE = 1_000


def _repeats(sample: list[Any]) -> bool:
    """Whether a text column's leading values (missing ones included) repeat, so that one
    string object per value is worth making; a column of distinct values (an id) is not worth
    hashing (~0.2 s per 1 M)."""
    return 2 * len(set(sample)) <= len(sample)


#: DuckDB types whose NumPy arrays ``df()`` takes as they are (tested against it).
_PLAIN = frozenset(
    {
        *("tinyint", "smallint", "integer", "bigint", "hugeint", "float", "double", "decimal"),
        *("utinyint", "usmallint", "uinteger", "ubigint", "boolean", "varchar", "null"),
        *("date", "timestamp", "timestamp_s", "timestamp_ms", "timestamp_ns", "interval"),
    }
)


def duckdb_frame(relation: Any, con: Any) -> pd.DataFrame:
    """The rows of a DuckDB relation (of connection ``con``) as its ``df()`` gives them (same
    values and dtypes), with each column kept as its own array.

    ``df()`` consolidates the columns into 2-D blocks, a copy of the whole result: ~0.4 s of a
    1 M-client, 70-column frame. Columns come as NumPy (masked) arrays, typed as ``df()`` types
    them: pandas' nullable integers and booleans, NaN, NaT or None for NULL. A result with
    several text columns (a customers table) has them converted by Arrow instead, which makes
    one Python string per value of a column whose values repeat (at 1 M customers: 0.7 s ->
    0.2 s, ~250 MB less); through Arrow, the other columns would take twice as long. Results
    with other types (time zones, ENUMs, nested values ...), which ``df()`` converts further,
    go through it.
    """
    if any(t.id not in _PLAIN for t in relation.types):
        return relation.df()
    texts = [n for n, t in zip(relation.columns, relation.types, strict=True) if t.id == "varchar"]
    if len(texts) > 1:
        table = relation.to_arrow_table()
        arrays = {n: _text_values(table.column(n)) for n in texts}
        rest = table.drop_columns(texts)
        if rest.num_columns:
            arrays |= con.from_arrow(rest).fetchnumpy()
        names = table.column_names
    else:
        arrays = relation.fetchnumpy()
        names = list(arrays)
    return pd.DataFrame({name: _unmasked(arrays[name]) for name in names}, copy=False)


def _text_values(column: Any) -> np.ndarray:
    """An Arrow text column as an object array, None for NULL (as ``df()`` has it), with one
    string object per value when its values repeat (:func:`_repeats`)."""
    repeats = _repeats(column.slice(0, _SAMPLE).to_pylist())
    return column.to_pandas(deduplicate_objects=repeats).to_numpy()


def _unmasked(values: Any) -> Any:
    """A column of :func:`duckdb_frame`, NULLs (masked) in the dtype ``df()`` gives them."""
    if not isinstance(values, np.ma.MaskedArray):
        return values
    mask, values = np.ma.getmaskarray(values), values.data
    if values.dtype.kind in "iu":
        return pd.arrays.IntegerArray(values, mask)
    if values.dtype.kind == "b":
        return pd.arrays.BooleanArray(values, mask)
    values[mask] = None  # NaN, NaT or None, as the dtype has it
    return values
