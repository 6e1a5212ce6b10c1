"""Loading the contract tables into Apache Spark (``engine: spark`` in ``segkit.yaml``).

Each contract table comes from the Spark catalog (``spark.tables`` in the config) or else from
its Parquet file or folder of Parquet files in the data folder (as :func:`load_dataset` finds
files; CSV is not read here: convert it to Parquet, or use the DuckDB engine). It is renamed by
the config's column mapping, cast to the contract's kinds with Ibis, completed like the DuckDB
tables (:func:`segkit.data.load._final_columns`: the derived margin, typed NULLs for the
contract columns the data lacks) and registered as a Spark temporary view named like the
contract table, which the analyses query through :class:`~segkit.data.engine.Engine`. Nothing
is collected to the driver: the views are lazy and each query reads the sources again.

Row-level checks run on the cluster, one aggregation per table: values that fail to convert,
empty required values, numbers out of range or not finite, dates out of range, values outside
a column's choices, repeated keys. A failure raises :class:`~segkit.errors.DataError` with the
count and example values (Spark rows have no line numbers). The DuckDB loader checks more: CSV
line numbers, ids that differ only in case, repeated transaction rows, date order, and ids of
side tables unknown in transactions and customers.

Time: Ibis runs the Spark session in UTC, so a date column is stored as the local wall-clock
time of the config's ``timezone`` (the same values as DuckDB's naive local ``TIMESTAMP``).
Parquet timestamps without a time zone and text timestamps without an offset are taken as
local times; timestamps that are instants (Spark ``TIMESTAMP``, Parquet ``isAdjustedToUTC``,
text with an offset) are converted to the config's zone.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import ibis
import ibis.expr.types as ir
from py4j.protocol import Py4JError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as st

from segkit.config import Config
from segkit.data.checks import EARLIEST, EXAMPLES, FUTURE_DAYS, column_checks
from segkit.data.contract import SUFFIXES, TABLES, Column, Table
from segkit.data.engine import Engine
from segkit.data.files import fingerprint, first_line, regular_file, table_file
from segkit.data.load import _FALSE, _TRUE, Dataset, _final_columns
from segkit.errors import DataError, SegkitError

#: A text timestamp that ends in a UTC offset (``Z``, ``+02``, ``+0200``, ``-05:00``).
_OFFSET = r"\d:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)$"


@ibis.udf.scalar.builtin
def from_utc_timestamp(ts: datetime, tz: str) -> datetime:  # type: ignore[empty-body]
    """Spark's ``from_utc_timestamp``: the local time in zone ``tz`` of the instant ``ts``."""


def spark_session(config: Config) -> SparkSession:
    """The Spark session of ``config.spark`` (the running one, if a session exists already).

    Local masters get ``spark.sql.shuffle.partitions`` of twice their cores (Spark's default of
    200 is for clusters); ``spark.options`` override it and every other setting. The session's
    time zone is left to Ibis, which sets it to UTC (see the module's notes on time).
    """
    settings = config.spark
    builder = (
        SparkSession.builder.master(settings.master)
        .appName("segkit")
        .config("spark.ui.enabled", "false")
        # Reports and logs are not terminals: no progress bars on stderr.
        .config("spark.ui.showConsoleProgress", "false")
        # Results come back through Arrow: a per-client frame of a million rows in seconds.
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    cores = _local_cores(settings.master)
    if cores:
        builder = builder.config("spark.sql.shuffle.partitions", str(2 * cores))
    for key, value in settings.options.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except (PySparkException, Py4JError, OSError) as exc:
        raise SegkitError(
            f"cannot start Spark (master {settings.master}): {first_line(exc)}\n  -> Spark "
            "needs Java 17 (java on the PATH or JAVA_HOME; 'make java' installs it on Debian) "
            "and, for a cluster, a reachable master URL under 'spark: {master: ...}'"
        ) from None


def _local_cores(master: str) -> int | None:
    """Cores of a ``local``/``local[N]``/``local[*]`` master; None for a cluster."""
    match = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?", master.strip())
    if match is None:
        return None
    cores = match.group(1)
    if cores is None:
        return 1
    return os.cpu_count() or 1 if cores == "*" else int(cores)


@dataclass(frozen=True)
class _Source:
    """Where a table comes from: ``where`` names it in messages (a path, or the Spark table);
    ``catalog`` is the Spark table's name when it comes from the catalog."""

    where: Path
    catalog: str | None = None


def load_spark_dataset(
    folder: Path, config: Config, session: SparkSession | None = None
) -> Dataset:
    """Read, check and register every contract table on Spark (``session``, else the config's).

    The dataset's ``con`` is None; its ``engine`` runs Ibis expressions on the session.
    """
    sources = _sources(folder, config)
    engine = Engine.spark(session if session is not None else spark_session(config))
    provided: dict[str, tuple[str, ...]] = {}
    catalog_state: list[str] = []
    for name, source in sources.items():
        provided[name], state = _load_table(engine, TABLES[name], source, config)
        if source.catalog is not None:
            catalog_state.append(f"{name}={source.catalog}:{state}")
    files = [s.where for s in sources.values() if s.catalog is None]
    dataset = Dataset(
        folder,
        config,
        None,
        {name: s.where for name, s in sources.items()},
        _fingerprint(folder, files, catalog_state, config),
        provided,
    )
    dataset.engine = engine
    return dataset


def _sources(folder: Path, config: Config) -> dict[str, _Source]:
    """The source of each contract table present: its Spark table, or Parquet file or folder.

    Like :func:`segkit.data.files.find_files`, which this cannot use as it stands: that reads
    only single files, and needs the transactions file even when Spark has the table.
    """
    catalog = config.spark.tables
    found = {name: _Source(Path(f"Spark table {catalog[name]}"), catalog[name]) for name in catalog}
    if not folder.is_dir() and "transactions" not in catalog:
        raise DataError(
            "data folder not found",
            path=folder,
            hint="pass --data with the folder that holds transactions.parquet, or name Spark "
            "tables under 'spark: {tables: {transactions: ...}}' in segkit.yaml",
        )
    for name in TABLES:
        path = None if name in catalog or not folder.is_dir() else _table_path(folder, name, config)
        if path is not None:
            found[name] = _Source(path)
    if "transactions" not in found:
        raise DataError(
            "no transactions file",
            path=folder,
            hint="add transactions.parquet (a Parquet file or a folder of them), or name a "
            "Spark table under 'spark: {tables: {transactions: ...}}' in segkit.yaml",
        )
    return {name: found[name] for name in TABLES if name in found}


def _table_path(folder: Path, name: str, config: Config) -> Path | None:
    """The Parquet file or folder of table ``name`` in ``folder``, if there is one."""
    named = [folder / table_file(name, config)] if name in config.tables else []
    candidates = named or [folder / f"{name}{suffix}" for suffix in SUFFIXES]
    path = next((p for p in candidates if os.path.lexists(p)), None)
    if path is None:
        if named:
            raise DataError(
                f"file for table '{name}' not found (set in config 'tables')", path=named[0]
            )
        return None
    if path.is_dir():
        return path  # a folder of Parquet files, as Spark writes them
    path = regular_file(path)
    suffix = path.suffix.lower()
    if suffix != ".parquet":
        how = (
            f" (DuckDB converts it: COPY (FROM '{path.name}') TO '{name}.parquet')"
            if suffix in (".csv", ".tsv")
            else ""
        )
        raise DataError(
            "is not Parquet: the Spark engine reads Parquet files and folders only",
            path=path,
            hint=f"save the table as {name}.parquet{how}, or set 'engine: duckdb' in "
            "segkit.yaml to read this file as it is",
        )
    return path


def _read(engine: Engine, spec: Table, source: _Source) -> DataFrame:
    session: SparkSession = engine.backend._session
    try:
        if source.catalog is not None:
            return session.table(source.catalog)
        return session.read.parquet(str(source.where))
    except (PySparkException, Py4JError) as exc:
        if source.catalog is not None:
            raise DataError(
                f"cannot be read ({first_line(exc)})",
                path=source.where,
                hint=f"check the name under 'spark: {{tables: {{{spec.name}: ...}}}}' in "
                "segkit.yaml; SHOW TABLES in Spark SQL lists the tables",
            ) from None
        raise DataError(
            f"is not readable Parquet ({first_line(exc)})",
            path=source.where,
            hint="the file is cut off or damaged, or the folder holds other files: export it again",
        ) from None


def _load_table(
    engine: Engine, spec: Table, source: _Source, config: Config
) -> tuple[tuple[str, ...], str]:
    """Check table ``spec`` and register its typed view; return the columns the source provides
    and its state (row count and latest event date, for the fingerprint)."""
    frame = _read(engine, spec, source)
    renamed = config.mapped_columns(
        spec, frame.columns, source.where, "file" if source.catalog is None else "table"
    )
    raw_name = f"_segkit_source_{spec.name}"
    frame.createOrReplaceTempView(raw_name)
    raw = engine.table(raw_name)
    known = {c.name for c in spec.columns}
    columns: dict[str, ir.Value] = {}
    converts: dict[str, bool] = {}
    for target, name in renamed.items():
        if target not in known:
            columns[target] = raw[name]  # an attribute, kept as it is
            continue
        col = spec.column(target)
        columns[target], converts[target] = _typed(
            col, raw[name], frame.schema[name].dataType, config.timezone
        )
        columns[f"_src_{target}"] = raw[name]
    table = raw.select(**columns)
    checks = [
        pair
        for target, fails in converts.items()
        for pair in zip(
            _conditions(spec.column(target), table[target], table[f"_src_{target}"], fails),
            column_checks(spec.column(target), fails),
            strict=True,
        )
    ]
    event = spec.event if spec.event in renamed else None
    counts = engine.execute(
        table.aggregate(
            rows=table.count(),
            **({"last": table[event].max()} if event else {}),
            **{f"c{i}": table.count(where=cond) for i, (cond, _) in enumerate(checks)},
        )
    ).iloc[0]
    if counts["rows"] == 0 and spec.required:
        raise DataError(
            "has no rows", path=source.where, hint=f"export the {spec.name} table with its data"
        )
    for i, (cond, check) in enumerate(checks):
        if n_bad := int(counts[f"c{i}"]):
            src = f"_src_{check.column.name}"
            bad = engine.execute(table.filter(cond).select(src).order_by(src).limit(EXAMPLES))
            raise DataError(
                f"{check.problem} ({n_bad:,} row{'' if n_bad == 1 else 's'})",
                path=source.where,
                column=check.column.name,
                examples=bad[src].tolist(),
                n_bad=n_bad,
                hint=check.hint,
            )
    if spec.unique:
        _check_unique(engine, spec, table, source.where)
    select, provided = _final_columns(spec, list(renamed))
    typed_name = f"_segkit_typed_{spec.name}"
    final = table.alias(typed_name).sql(
        f"SELECT {', '.join(select)} FROM {typed_name}", dialect="duckdb"
    )
    engine.backend.create_view(spec.name, final, overwrite=True)
    last = counts["last"] if event else None
    return provided, f"rows={int(counts['rows'])};last={last}"


def _typed(col: Column, value: ir.Value, kind: st.DataType, timezone: str) -> tuple[ir.Value, bool]:
    """The source column ``value`` (Spark type ``kind``) cast to ``col``'s kind, and whether
    values may fail to convert (the source is text)."""
    text = _text(value)
    if col.kind in ("id", "text"):
        return text, False
    if col.kind == "number":
        if isinstance(kind, st.NumericType):
            return value.cast("float64"), False
        return text.try_cast("float64"), True
    if col.kind == "date":
        if isinstance(kind, st.TimestampNTZType):  # local times already
            return value, False
        if isinstance(kind, st.TimestampType):  # instants
            return from_utc_timestamp(value, timezone), False
        if isinstance(kind, st.DateType):
            return value.cast("timestamp"), False
        parsed = text.try_cast("timestamp")
        return ibis.ifelse(
            text.re_search(_OFFSET), from_utc_timestamp(parsed, timezone), parsed
        ), True
    if col.kind == "bool":
        if isinstance(kind, st.BooleanType):
            return value, False
        low = text.lower()
        typed = ibis.cases((low.isin(_TRUE), True), (low.isin(_FALSE), False), else_=None)
        return typed.cast("boolean"), True
    raise AssertionError(col.kind)


def _text(value: ir.Value) -> ir.StringValue:
    """A value as trimmed text, NULL when empty."""
    return value.cast("string").strip().nullif("")


def _conditions(
    col: Column, typed: ir.Value, source: ir.Value, converts: bool
) -> list[ir.BooleanValue]:
    """True for a bad row, one per check of :func:`segkit.data.checks.column_checks`, in its
    order. Where a value may fail to convert, a value is present when its source text is not
    empty; elsewhere when the typed value is not NULL."""
    present = (_text(source) if converts else typed).notnull()
    out: list[ir.BooleanValue] = []
    if converts:
        out.append(present & typed.isnull())
    if not col.nullable:
        out.append(~present)
    if col.kind == "number":
        out.append(typed.isnan() | typed.isinf())
        if col.minimum is not None:
            out.append(typed < col.minimum)
        if col.maximum is not None:
            out.append(typed > col.maximum)
    if col.kind == "date":
        latest = date.fromordinal(datetime.now().date().toordinal() + FUTURE_DAYS)
        out.append(
            (typed < ibis.timestamp(datetime.combine(EARLIEST, datetime.min.time())))
            | (typed > ibis.timestamp(datetime.combine(latest, datetime.min.time())))
        )
    if col.choices:
        out.append(typed.notnull() & ~typed.lower().isin(col.choices))
    return out


def _check_unique(engine: Engine, spec: Table, table: ir.Table, where: Path) -> None:
    keys = list(spec.unique)
    repeated = table.group_by(keys).aggregate(n=table.count()).filter(ibis._.n > 1)
    n_bad = int(engine.scalar(repeated.count()))
    if n_bad:
        examples = engine.execute(repeated.order_by(keys).limit(EXAMPLES))
        raise DataError(
            f"{', '.join(keys)} must be unique; {n_bad} value(s) repeat",
            path=where,
            column=keys[0],
            examples=examples[keys[0]].tolist(),
            hint="keep one row per key (white space around ids is ignored)",
        )


def _fingerprint(folder: Path, files: list[Path], catalog_state: list[str], config: Config) -> str:
    """As the DuckDB loader's for files (every file of a Parquet folder counts); Spark tables
    count by their name, rows and latest event date."""
    # Event re-ratings change the scorecard section, so their log is an input too.
    ratings = folder / "segkit-ratings.jsonl"
    paths = [
        f
        for p in files
        for f in (sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p])
    ]
    digest = fingerprint([*paths, *([ratings] if ratings.is_file() else [])], config)
    if not catalog_state:
        return digest
    return hashlib.sha256("\n".join([digest, *catalog_state]).encode()).hexdigest()
