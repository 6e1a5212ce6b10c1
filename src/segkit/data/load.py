"""Loading a data folder through DuckDB, validated against the contract.

Every table file is read by DuckDB (CSV/TSV in the dialect of its header line, or Parquet; see
:mod:`segkit.data.files`), renamed by
the config's column mapping, cast to the contract's kinds and checked (:mod:`segkit.data.checks`);
a violation raises
:class:`~segkit.errors.DataError` naming the file, column, line numbers and example values.
Valid tables are materialised, typed, in an in-memory DuckDB database that the analyses query.

Time: the DuckDB session runs in the config's ``timezone``. Text timestamps without an offset
are read as local times of that zone, timestamps with an offset (or Parquet ``TIMESTAMP WITH TIME
ZONE``) are converted to it, and every date column is stored as a naive local ``TIMESTAMP``.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from segkit.config import Config
from segkit.data import cache
from segkit.data.checks import (
    check_date_order,
    check_id_case,
    check_references,
    check_repeated_rows,
    check_unique,
    column_checks,
    run_checks,
    scalar,
)
from segkit.data.contract import TABLES, Column, Table
from segkit.data.engine import Engine
from segkit.data.files import (
    database_table,
    find_files,
    fingerprint,
    is_database,
    quote_name,
    read_error,
    reader,
    sql_text,
)
from segkit.errors import DataError, SegkitError

_TRUE = ("true", "t", "yes", "y", "1")


_FALSE = ("false", "f", "no", "n", "0")


@dataclass
class Dataset:
    """A validated set of contract tables, queried through an :class:`Engine`.

    With the DuckDB engine (the default) ``con`` is the in-memory DuckDB database holding one
    typed table per contract table present; with Spark it is None and the tables are the
    Spark session's. :meth:`as_of` gives the rows known before a cut-off, as an Ibis table.
    """

    folder: Path
    config: Config
    con: duckdb.DuckDBPyConnection | None
    files: dict[str, Path] = field(default_factory=dict)
    fingerprint: str = ""
    #: Per table, the columns the data provides; the loaded table also has the contract's other
    #: columns, empty.
    provided: dict[str, tuple[str, ...]] = field(default_factory=dict)
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        if self.con is not None:
            self.engine = Engine.duckdb(self.con)

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(self.provided)

    def has(self, table: str) -> bool:
        return table in self.provided

    def duckdb(self, what: str) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection, for ``what`` (a task only the embedded engine does)."""
        if self.con is None:
            raise SegkitError(
                f"{what} needs the DuckDB engine; this config runs on {self.engine.name}"
            )
        return self.con

    def count(self, table: str) -> int:
        """Number of rows of ``table``."""
        return int(self.engine.scalar(self.engine.table(table).count()))

    def date_range(self) -> tuple[date, date]:
        """First and last local date of the transactions."""
        tx = self.engine.table("transactions")
        span = self.engine.execute(
            tx.aggregate(first=tx.date.min().cast("date"), last=tx.date.max().cast("date"))
        )
        first, last = span["first"].iloc[0], span["last"].iloc[0]
        if pd.isna(first) or pd.isna(last):
            raise DataError(
                "has no rows",
                path=self.files.get("transactions", self.folder),
                hint="export at least one transaction",
            )
        return pd.Timestamp(first).date(), pd.Timestamp(last).date()

    def store_cache(self, cache_dir: Path) -> None:
        """Keep the validated tables in ``cache_dir`` for later loads of the same inputs."""
        if self.con is not None:
            cache.store(self.con, cache_dir, cache.cache_key(self.fingerprint), self.provided)

    def as_of(self, table: str, cutoff: date) -> ir.Table:
        """The rows of ``table`` known before ``cutoff`` (exclusive), as an Ibis table.

        A row is kept when its event date (see the contract) is before the cut-off; its other
        dates on or after the cut-off are blanked, because they were not known yet (an active
        subscription's future end, a ticket resolved later).
        """
        event, optional, later = _as_of_rule(table)
        t = self.engine.table(table)
        cut = ibis.timestamp(cutoff)
        blanked = {
            name: ibis.ifelse(t[name] < cut, t[name], ibis.null(t[name].type()))
            for name in t.columns
            if name in later
        }
        if blanked:
            t = t.mutate(**blanked)
        if event:
            known = t[event] < cut
            t = t.filter(t[event].isnull() | known if optional else known)
        return t

    def as_of_frame(self, table: str, frame: pd.DataFrame, cutoff: date) -> pd.DataFrame:
        """:meth:`as_of` applied to ``frame``, rows of ``table`` as of a later cut-off (or all
        of them) already in pandas: a cheaper way to an earlier cut-off's rows."""
        _, _, later = _as_of_rule(table)
        kept = self.as_of_kept(table, frame, cutoff)
        if kept is not None:
            out = frame[kept]
            out.index = pd.RangeIndex(len(out))  # reset_index() would copy the rows again
        else:
            out = frame.copy()
        cut = pd.Timestamp(cutoff)
        for name in later & set(out.columns):
            out[name] = out[name].where(out[name] < cut)
        return out

    def as_of_kept(self, table: str, frame: pd.DataFrame, cutoff: date) -> np.ndarray | None:
        """Which rows of ``frame`` :meth:`as_of_frame` keeps (None: all of them)."""
        event, optional, _ = _as_of_rule(table)
        if not event:
            return None
        known = frame[event] < pd.Timestamp(cutoff)
        return (known | frame[event].isna() if optional else known).to_numpy()

    def columns(self, table: str) -> list[str]:
        """The columns the data provides for ``table`` (contract columns it lacks are NULL)."""
        return list(self.provided[table])


def _as_of_rule(table: str) -> tuple[str | None, bool, set[str]]:
    """Of a contract table: its event date, whether that may be empty, and its other dates."""
    spec = TABLES[table]
    later = {c.name for c in spec.columns if c.kind == "date" and c.name != spec.event}
    return spec.event, bool(spec.event and not spec.column(spec.event).required), later


def load_dataset(folder: Path, config: Config, cache_dir: Path | None = None) -> Dataset:
    """Read, validate and load every contract table found in ``folder``.

    With ``cache_dir``, typed tables already validated from the same inputs are reused (see
    :mod:`segkit.data.cache`); :meth:`Dataset.store_cache` fills it once a run has checked
    everything else.
    """
    files = find_files(folder, config)
    # Event re-ratings change the scorecard section, so their log is an input too.
    ratings = folder / "segkit-ratings.jsonl"
    inputs = [*files.values(), *([ratings] if ratings.is_file() else [])]
    digest = fingerprint(inputs, config)
    con = duckdb.connect()
    # The tables live in a compressed in-memory database (DuckDB compresses it at a checkpoint,
    # as it does a database file): 10 M transactions take ~165 MiB instead of ~980 MiB, for
    # ~2.5 s more loading; queries on them ran as fast.
    con.execute("ATTACH ':memory:' AS segkit (COMPRESS); USE segkit")
    con.execute(f"SET TimeZone = '{config.timezone}'")
    # DuckDB uses every core unless told otherwise. Reports do not depend on it: money is summed
    # exactly (segkit.data.engine.money_sum) and results are ordered.
    if config.threads:
        con.execute(f"SET threads = {config.threads}")
    if config.memory_limit:
        # Past the limit DuckDB spills to disk: a folder of this process, removed at exit.
        spill = tempfile.mkdtemp(prefix="segkit-spill-")
        atexit.register(shutil.rmtree, spill, ignore_errors=True)
        con.execute(f"SET memory_limit = '{config.memory_limit}'")
        con.execute(f"SET temp_directory = {sql_text(spill)}")
    with contextlib.suppress(duckdb.Error):
        # Reports and logs are not terminals. (In a notebook kernel DuckDB refuses the setting
        # without ipywidgets, and shows no bar there anyway.)
        con.execute("SET enable_progress_bar = false")
    key = cache.cache_key(digest)
    cached = cache.attach(con, cache_dir, key) if cache_dir else None
    if cached is not None:
        return Dataset(folder, config, con, files, digest, cached)
    provided: dict[str, tuple[str, ...]] = {}
    for name, path in files.items():
        provided[name] = _load_table(con, TABLES[name], path, config)
    check_references(con, files)
    con.execute("CHECKPOINT segkit")
    return Dataset(folder, config, con, files, digest, provided)


def _load_table(
    con: duckdb.DuckDBPyConnection, spec: Table, path: Path, config: Config
) -> tuple[str, ...]:
    """Load one table; return the columns the file provides (after mapping)."""
    try:
        if path.stat().st_size == 0:
            raise DataError(
                "the file is empty",
                path=path,
                hint=f"export the {spec.name} table with a header row and data",
            )
        if is_database(path):
            con.execute(f"ATTACH {sql_text(str(path))} AS _source (READ_ONLY)")
            inner = database_table(spec.name, config)
            names = {n for (n,) in con.execute("SHOW TABLES FROM _source").fetchall()}
            if inner not in names:
                raise DataError(
                    f"has no table '{inner}' for the {spec.name} table",
                    path=path,
                    hint=f"its tables are {', '.join(sorted(names)) or '(none)'}; name the one "
                    f"to read as 'tables: {{{spec.name}: {path.name}:<table>}}' in segkit.yaml",
                )
            table = whole = f"_source.{quote_name(inner)}"
        else:
            whole = reader(path)
        raw = con.sql(f"SELECT * FROM {whole}")
        source_columns = raw.columns
        source_types = {c: str(t) for c, t in zip(raw.columns, raw.dtypes, strict=True)}
    except duckdb.Error as exc:
        raise read_error(exc, path) from None
    except OSError as exc:  # unreadable (permissions) or gone since it was found
        raise DataError(
            f"cannot be opened ({exc.strerror or exc})",
            path=path,
            hint="check that segkit may read the file",
        ) from None
    renamed = config.mapped_columns(spec, list(source_columns), path)
    if is_database(path):  # rows of a table are numbered from 1, like a Parquet file's
        line, source = "rowid + 1 AS _line, *", table
    elif path.suffix.lower() == ".parquet":  # row numbers from the file: no window needed
        line = "file_row_number + 1 AS _line, * EXCLUDE (file_row_number)"
        source = reader(path, row_numbers=True)
    else:  # file lines: the header is line 1
        line, source = "row_number() OVER () + 1 AS _line, *", reader(path)
    con.execute(f"CREATE OR REPLACE TEMP VIEW _raw AS SELECT {line} FROM {source}")
    select = []
    known = {c.name for c in spec.columns}
    for target, source in renamed.items():
        if target in known:
            col = spec.column(target)
            select.append(f'{_cast(col, source, source_types[source])} AS "{target}"')
            select.append(f'"{source}" AS "_src_{target}"')
        else:
            select.append(f'"{source}" AS "{target}"')
    try:
        # Materialised once: the checks below each scan it.
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _typed AS SELECT _line, {', '.join(select)} FROM _raw"
        )
        n_rows = scalar(con, "SELECT count(*) FROM _typed")
    except duckdb.Error as exc:
        raise read_error(exc, path) from None
    if n_rows == 0 and spec.required:
        raise DataError(
            "has a header but no rows",
            path=path,
            hint=f"export the {spec.name} table with its data",
        )
    checks = [
        check
        for target, source in renamed.items()
        if target in known
        for check in column_checks(
            spec.column(target), not _native(spec.column(target).kind, source_types[source])
        )
    ]
    run_checks(con, checks, path)
    if spec.unique:
        check_unique(con, spec, path)
    check_date_order(con, spec, path, set(renamed))
    if not config.case_sensitive_ids:
        check_id_case(con, spec, path, set(renamed))
    if spec.name == "transactions" and "order_id" in renamed:
        check_repeated_rows(con, path, [t for t in renamed if t in known])
    select, provided = _final_columns(spec, list(renamed))
    # DuckDB keeps insertion order. Transactions are stored by client (then date, then file
    # order): the per-client aggregations then find each client's rows together. At 10 M rows
    # the segmentations' queries took ~0.4 s less (of ~4.5 s) for ~0.5 s more loading.
    # Other tables keep file order.
    order = " ORDER BY customer_id, date, _line" if spec.name == "transactions" else ""
    con.execute(f"CREATE TABLE {spec.name} AS SELECT {', '.join(select)} FROM _typed{order}")
    con.execute("DROP TABLE _typed; DROP VIEW _raw; DETACH DATABASE IF EXISTS _source")
    return provided


#: DuckDB types that convert to DOUBLE without failing.
_NUMBERS = frozenset(
    [
        "DOUBLE",
        "FLOAT",
        "BIGINT",
        "INTEGER",
        "SMALLINT",
        "TINYINT",
        "HUGEINT",
        "UBIGINT",
        "UINTEGER",
        "USMALLINT",
        "UTINYINT",
        "UHUGEINT",
    ]
)


def _native(kind: str, source_type: str) -> bool:
    """True when a column stored as ``source_type`` converts to ``kind`` without failing."""
    if kind in ("id", "text"):
        return True
    if kind == "number":
        return source_type in _NUMBERS or source_type.startswith("DECIMAL")
    if kind == "date":
        return source_type.startswith("TIMESTAMP") or source_type == "DATE"
    return source_type == "BOOLEAN"


def _cast(col: Column, source: str, source_type: str) -> str:
    s = f'"{source}"'
    text = f"NULLIF(trim(CAST({s} AS VARCHAR)), '')"
    if col.kind == "id" or col.kind == "text":
        return text
    native = _native(col.kind, source_type)
    if col.kind == "number":
        return f"CAST({s} AS DOUBLE)" if native else f"TRY_CAST({text} AS DOUBLE)"
    if col.kind == "date":
        # TIMESTAMP WITH TIME ZONE converts to the session's zone, the config's.
        return (
            f"CAST({s} AS TIMESTAMP)"
            if native
            else (f"CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP)")
        )
    if col.kind == "bool":
        if native:
            return s
        return (
            f"CASE WHEN lower({text}) IN {_TRUE} THEN true "
            f"WHEN lower({text}) IN {_FALSE} THEN false END"
        )
    raise AssertionError(col.kind)


#: DuckDB type of each contract kind, as loaded.
SQL_TYPES: dict[str, str] = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "number": "DOUBLE",
    "date": "TIMESTAMP",
    "bool": "BOOLEAN",
}


def _final_columns(spec: Table, columns: list[str]) -> tuple[list[str], tuple[str, ...]]:
    """The loaded table's SELECT list, and the columns the data provides.

    transactions.margin is derived as amount - cost where the data gives cost but no margin.
    Contract columns the data lacks are added as typed NULLs, so SQL may name any contract
    column; :meth:`Dataset.columns` still tells which ones the data really provides.
    """
    select = [f'"{c}"' for c in columns if not (spec.name == "transactions" and c == "margin")]
    provided = list(columns)
    if spec.name == "transactions":
        if "cost" in columns:
            margin = "coalesce(margin, amount - cost)" if "margin" in columns else "amount - cost"
            select.append(f"{margin} AS margin")
            provided = [*provided, "margin"] if "margin" not in provided else provided
        elif "margin" in columns:
            select.append('"margin"')
    missing = [c for c in spec.columns if c.name not in provided]
    select += [f'CAST(NULL AS {SQL_TYPES[c.kind]}) AS "{c.name}"' for c in missing]
    if spec.name == "transactions":
        select.append(_order_prev("order_id" in columns))
    return select, tuple(provided)


#: Of a purchase row (amount > 0) of the transactions: the date of the previous purchase row
#: of the same purchase (order id, else day; ties in date in any order), empty for its first.
#: A purchase then has a row in a window ``[start, end)`` exactly when one of its rows there
#: has no previous row or one before ``start``, so purchases are counted per window by a
#: filtered count, with no aggregation per order (~0.7 s a period at 10 M rows, for ~2 s more
#: loading). Not a contract column: :meth:`Dataset.columns` does not list it.
ORDER_PREV = "_order_prev"


def _order_prev(has_order_id: bool) -> str:
    """The SELECT item of :data:`ORDER_PREV` (rows without an order id are grouped by day)."""
    day = "CAST(date AS DATE)"
    key = f"coalesce(order_id, CAST({day} AS VARCHAR))" if has_order_id else day
    return (
        f"CASE WHEN amount > 0 THEN lag(date) OVER "
        f"(PARTITION BY customer_id, amount > 0, {key} ORDER BY date) END AS {ORDER_PREV}"
    )
