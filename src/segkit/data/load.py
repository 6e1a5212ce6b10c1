"""Loading a data folder through DuckDB, validated against the contract.

Every table file is read by DuckDB (CSV/TSV with the delimiter sniffed, or Parquet), renamed by
the config's column mapping, cast to the contract's kinds and checked; a violation raises
:class:`~segkit.errors.DataError` naming the file, column, line numbers and example values.
Valid tables are materialised, typed, in an in-memory DuckDB database that the analyses query.

Time: the DuckDB session runs in the config's ``timezone``. Text timestamps without an offset
are read as local times of that zone, timestamps with an offset (or Parquet ``TIMESTAMP WITH TIME
ZONE``) are converted to it, and every date column is stored as a naive local ``TIMESTAMP``.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from segkit.config import Config
from segkit.data import cache
from segkit.data.contract import SUFFIXES, TABLES, Column, Table
from segkit.errors import DataError

#: Dates outside this range are almost always typos or placeholder values (1900-01-01, 9999-...).
EARLIEST = date(1900, 1, 1)
#: How far past today a date may lie before it is rejected as a typo.
FUTURE_DAYS = 366

_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_EXAMPLES = 5


@dataclass
class Dataset:
    """A validated data folder, loaded into an in-memory DuckDB database.

    ``con`` holds one typed table per contract table present; :meth:`as_of` gives the rows known
    before a cut-off.
    """

    folder: Path
    config: Config
    con: duckdb.DuckDBPyConnection
    files: dict[str, Path] = field(default_factory=dict)
    fingerprint: str = ""
    #: Per table, the columns the data provides; the loaded table also has the contract's other
    #: columns, empty.
    provided: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(self.files)

    def has(self, table: str) -> bool:
        return table in self.files

    def date_range(self) -> tuple[date, date]:
        """First and last local date of the transactions."""
        first, last = self.con.execute(
            "SELECT min(date)::DATE, max(date)::DATE FROM transactions"
        ).fetchone() or (None, None)
        if first is None or last is None:
            raise DataError(
                "has no rows",
                path=self.files["transactions"],
                hint="export at least one transaction",
            )
        return first, last

    def store_cache(self, cache_dir: Path) -> None:
        """Keep the validated tables in ``cache_dir`` for later loads of the same inputs."""
        cache.store(self.con, cache_dir, cache.cache_key(self.fingerprint), self.provided)

    def as_of_sql(self, table: str, cutoff: date) -> str:
        """SQL for the rows of ``table`` known before ``cutoff`` (exclusive).

        A row is kept when its event date (see the contract) is before the cut-off; its other
        dates on or after the cut-off are blanked, because they were not known yet (an active
        subscription's future end, a ticket resolved later).
        """
        spec = TABLES[table]
        cut = f"TIMESTAMP '{cutoff.isoformat()}'"
        cols = []
        for (name,) in self.con.execute(
            f"SELECT name FROM pragma_table_info('{table}')"
        ).fetchall():
            col = spec.column(name) if name in {c.name for c in spec.columns} else None
            if col is not None and col.kind == "date" and name != spec.event:
                cols.append(f'CASE WHEN "{name}" < {cut} THEN "{name}" END AS "{name}"')
            else:
                cols.append(f'"{name}"')
        where = f'WHERE "{spec.event}" < {cut}' if spec.event else ""
        if spec.event and not spec.column(spec.event).required:
            where = f'WHERE "{spec.event}" IS NULL OR "{spec.event}" < {cut}'
        return f"SELECT {', '.join(cols)} FROM {table} {where}"

    def as_of(self, table: str, cutoff: date) -> pd.DataFrame:
        """The rows of ``table`` known before ``cutoff``, as a DataFrame."""
        return self.con.execute(self.as_of_sql(table, cutoff)).df()

    def columns(self, table: str) -> list[str]:
        """The columns the data provides for ``table`` (contract columns it lacks are NULL)."""
        return list(self.provided[table])


def find_files(folder: Path, config: Config) -> dict[str, Path]:
    """The file of each contract table present in ``folder``."""
    if not folder.is_dir():
        raise DataError(
            "data folder not found",
            path=folder,
            hint="pass --data with the folder that holds transactions.csv/.parquet",
        )
    found: dict[str, Path] = {}
    for name in TABLES:
        if name in config.tables:
            path = folder / config.tables[name]
            if not os.path.lexists(path):
                raise DataError(
                    f"file for table '{name}' not found (set in config 'tables')", path=path
                )
            found[name] = _regular_file(path)
            continue
        for suffix in SUFFIXES:
            path = folder / f"{name}{suffix}"
            if os.path.lexists(path):
                found[name] = _regular_file(path)
                break
    if "transactions" not in found:
        raise DataError(
            "no transactions file",
            path=folder,
            hint="add transactions.csv or transactions.parquet, or name the file under "
            "'tables: {transactions: ...}' in segkit.yaml",
        )
    return found


def _regular_file(path: Path) -> Path:
    """``path`` if it is a readable file; a clear error for folders, dangling links, pipes."""
    if path.is_symlink() and not path.exists():  # exists() follows links: dangling or a loop
        raise DataError(
            "is a symbolic link that leads nowhere (its target is missing, or links loop)",
            path=path,
            hint="point the link at the data file, or put the file itself here",
        )
    if path.is_dir():
        raise DataError(
            "is a folder, not a file",
            path=path,
            hint="put the table's file here, not a folder of that name",
        )
    if not path.is_file():
        raise DataError(
            "is not a regular file (a pipe or a device)",
            path=path,
            hint="export the table to a file and put that here",
        )
    return path


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
    con.execute(f"SET TimeZone = '{config.timezone}'")
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
    _check_references(con, files)
    return Dataset(folder, config, con, files, digest, provided)


def fingerprint(paths: Iterable[Path], config: Config) -> str:
    """SHA-256 over the data files' bytes and the config file: same inputs, same fingerprint."""
    digest = hashlib.sha256()
    extra = [config.source] if config.source else []
    for path in sorted([*paths, *extra]):
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


#: Delimiters a CSV file may use: the one found most often in the header line is taken.
DELIMITERS = (",", ";", "\t", "|")
_UTF8_HINT = "save it as UTF-8 (in Excel: Save As > CSV UTF-8)"
_HEAD_BYTES = 1 << 16


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _csv_header(path: Path) -> tuple[str, list[str]]:
    """The delimiter and column names of a CSV file, read from its header line.

    The dialect is fixed here rather than sniffed by DuckDB, so a ragged or cut-off line is
    reported with its line number instead of making the sniffer guess another dialect.
    """
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        raise DataError("is UTF-16 or binary, not UTF-8 text", path=path, hint=_UTF8_HINT)
    head = head.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark is fine
    if not head.strip():
        raise DataError("the file is empty", path=path, hint="export the table with a header row")
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError("is not UTF-8 text", path=path, rows=[1], hint=_UTF8_HINT) from None
    delimiter = max(DELIMITERS, key=text.count)
    names = [
        n.strip() or f"column{i}"
        for i, n in enumerate(next(csv.reader([text], delimiter=delimiter)), 1)
    ]
    _check_header(names, path)
    return delimiter, names


def _check_header(names: list[str], path: Path) -> None:
    """Reject a header that names a column twice (DuckDB would rename one, e.g. amount_1)."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names, 1):
        first = seen.setdefault(name.lower(), i)  # DuckDB's column names ignore case
        if first != i:
            raise DataError(
                f"the header names this column twice (columns {first} and {i})",
                path=path,
                column=name,
                hint="remove or rename one of them; segkit cannot tell which one holds the data",
            )


def _reader(path: Path, row_numbers: bool = False) -> str:
    """The DuckDB table function that reads ``path`` (every CSV column as text)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            names = pq.read_schema(path).names
        except (pa.ArrowException, OSError):
            names = []  # DuckDB's own read below says what is wrong with the file
        _check_header(names, path)
        rows = ", file_row_number = true" if row_numbers else ""
        return f"read_parquet({_sql_text(str(path))}{rows})"
    if suffix in (".csv", ".tsv"):
        delimiter, names = _csv_header(path)
        columns = ", ".join(f"{_sql_text(n)}: 'VARCHAR'" for n in names)
        return (
            f"read_csv({_sql_text(str(path))}, auto_detect = false, header = true, "
            f"delim = {_sql_text(delimiter)}, quote = '\"', escape = '\"', columns = {{{columns}}})"
        )
    raise DataError(
        "this file type is not supported",
        path=path,
        hint="save the table as CSV (UTF-8) or Parquet",
    )


_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_FIELDS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def _read_error(exc: duckdb.Error, path: Path) -> DataError:
    """DuckDB's reading error as a segkit message: what is wrong, on which line, what to do."""
    text = str(exc)
    line = _CSV_LINE.search(text)
    rows = [int(line.group(1))] if line else []
    if "not utf-8 encoded" in text or "Invalid unicode" in text:
        return DataError("is not UTF-8 text", path=path, rows=rows, hint=_UTF8_HINT)
    if "unterminated quote" in text:
        return DataError(
            "has a quoted value that is never closed (is the file cut off?)",
            path=path,
            rows=rows,
            hint="export or copy the file again and check it arrived whole; inside a quoted "
            'value write a quote as two quotes ("")',
        )
    if fields := _FIELDS.search(text):
        expected, found = fields.groups()
        return DataError(
            f"has {found} fields on a line where the header has {expected}",
            path=path,
            rows=rows,
            hint="quote values that contain the delimiter, or fix the line",
        )
    if path.suffix.lower() == ".parquet":
        return DataError(
            f"is not a complete Parquet file ({_first_line(exc)})",
            path=path,
            hint="the file is cut off or damaged: export or copy it again",
        )
    return DataError(
        f"cannot be read as a table ({_first_line(exc)})",
        path=path,
        hint="check that it is a UTF-8 CSV with a header row, or a Parquet file",
    )


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
        raw = con.sql(f"SELECT * FROM {_reader(path)}")
        source_columns = raw.columns
        source_types = {c: str(t) for c, t in zip(raw.columns, raw.dtypes, strict=True)}
    except duckdb.Error as exc:
        raise _read_error(exc, path) from None
    except OSError as exc:  # unreadable (permissions) or gone since it was found
        raise DataError(
            f"cannot be opened ({exc.strerror or exc})",
            path=path,
            hint="check that segkit may read the file",
        ) from None
    mapping = config.columns.get(spec.name, {})
    renamed: dict[str, str] = {}
    for c in source_columns:
        target = mapping.get(c, c)
        if target in renamed:
            raise DataError(
                f"columns '{renamed[target]}' and '{c}' would both become '{target}'",
                path=path,
                column=target,
                hint="the column mapping in segkit.yaml renames one onto the other; map only "
                "one of them to this contract column",
            )
        renamed[target] = c
    missing = [c for c in spec.required_columns if c not in renamed]
    if missing:
        raise DataError(
            f"missing required column(s) {', '.join(missing)}",
            path=path,
            hint=f"the file has {', '.join(source_columns)}; rename the columns or map them "
            f"under 'columns: {{{spec.name}: {{your_name: {missing[0]}}}}}' in segkit.yaml",
        )
    if path.suffix.lower() == ".parquet":  # row numbers from the file: no window needed
        line = "file_row_number + 1 AS _line, * EXCLUDE (file_row_number)"
        source = _reader(path, row_numbers=True)
    else:  # file lines: the header is line 1
        line, source = "row_number() OVER () + 1 AS _line, *", _reader(path)
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
        n_rows = _scalar(con, "SELECT count(*) FROM _typed")
    except duckdb.Error as exc:
        raise _read_error(exc, path) from None
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
        for check in _checks(
            spec.column(target), not _native(spec.column(target).kind, source_types[source])
        )
    ]
    _run_checks(con, checks, path)
    if spec.unique:
        _check_unique(con, spec, path)
    _check_date_order(con, spec, path, set(renamed))
    if not config.case_sensitive_ids:
        _check_id_case(con, spec, path, set(renamed))
    if spec.name == "transactions" and "order_id" in renamed:
        _check_repeated_rows(con, path, [t for t in renamed if t in known])
    select, provided = _final_columns(spec, list(renamed))
    # _typed was filled in file order and DuckDB keeps insertion order: no sort needed.
    con.execute(f"CREATE TABLE {spec.name} AS SELECT {', '.join(select)} FROM _typed")
    con.execute("DROP TABLE _typed; DROP VIEW _raw")
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


@dataclass(frozen=True)
class _Check:
    column: Column
    condition: str  # SQL over _typed, true for a bad row
    problem: str
    hint: str


def _checks(col: Column, converts: bool) -> list[_Check]:
    """The contract's checks of one column, in the order their failures are reported.

    ``converts``: the file stores the column as another type (text, or a number for a date),
    so a value may fail to convert.
    """
    name, src = f'"{col.name}"', f'"_src_{col.name}"'
    # Where nothing can fail to convert, an empty typed value means an empty cell.
    present = (
        f"NULLIF(trim(CAST({src} AS VARCHAR)), '') IS NOT NULL"
        if converts
        else (f"{name} IS NOT NULL")
    )
    checks: list[_Check] = []
    if converts:
        what = {"number": "not a number", "date": "not a date", "bool": "not true/false"}[col.kind]
        hint = {
            "number": "write plain numbers with a dot for decimals, without currency signs or "
            "thousands separators (1234.50)",
            "date": "write dates as YYYY-MM-DD or timestamps as YYYY-MM-DD HH:MM[:SS][+HH:MM]; "
            "day-first dates (13/05/2024) and Excel day numbers (45123) are not read: format "
            "the column as yyyy-mm-dd before exporting",
            "bool": "write true/false, yes/no or 1/0",
        }[col.kind]
        checks.append(_Check(col, f"{present} AND {name} IS NULL", what, hint))
    if not col.nullable:
        checks.append(
            _Check(col, f"NOT ({present})", "is empty", "fill in every row of this column")
        )
    if col.kind == "number":
        checks.append(
            _Check(
                col,
                f"NOT isfinite({name})",
                "holds NaN or infinity",
                "replace them with real numbers or remove the rows",
            )
        )
        if col.minimum is not None:
            checks.append(
                _Check(
                    col,
                    f"{name} < {col.minimum}",
                    f"is below the minimum {col.minimum:g}",
                    "fix the values or remove the rows",
                )
            )
        if col.maximum is not None:
            checks.append(
                _Check(
                    col,
                    f"{name} > {col.maximum}",
                    f"is above the maximum {col.maximum:g}",
                    "fix the values or remove the rows",
                )
            )
    if col.kind == "date":
        latest = date.fromordinal(datetime.now().date().toordinal() + FUTURE_DAYS)
        checks.append(
            _Check(
                col,
                f"{name} < TIMESTAMP '{EARLIEST}' OR {name} > TIMESTAMP '{latest}'",
                f"has dates before {EARLIEST} or after {latest}",
                "fix the dates; placeholder dates such as 1900-01-01 or 9999-12-31 are "
                "not allowed, leave the cell empty where the column allows it",
            )
        )
    if col.choices:
        allowed = ", ".join(f"'{c}'" for c in col.choices)
        checks.append(
            _Check(
                col,
                f"{name} IS NOT NULL AND lower({name}) NOT IN ({allowed})",
                f"must be one of {', '.join(col.choices)}",
                "fix the values",
            )
        )
    return checks


def _run_checks(con: duckdb.DuckDBPyConnection, checks: list[_Check], path: Path) -> None:
    """Count every check's failures in one pass; report the first failing one in detail."""
    if not checks:
        return
    counts = (
        con.execute(
            "SELECT "
            + ", ".join(f"count(*) FILTER (WHERE {c.condition})" for c in checks)
            + " FROM _typed"
        ).fetchone()
        or ()
    )
    for check, n_bad in zip(checks, counts, strict=True):
        if n_bad:
            rows = con.execute(
                f'SELECT _line, "_src_{check.column.name}" FROM _typed WHERE {check.condition} '
                f"ORDER BY _line LIMIT {_EXAMPLES}"
            ).fetchall()
            raise DataError(
                check.problem,
                path=path,
                column=check.column.name,
                rows=[r[0] for r in rows],
                examples=[r[1] for r in rows],
                n_bad=n_bad,
                hint=check.hint,
            )


def _check_unique(con: duckdb.DuckDBPyConnection, spec: Table, path: Path) -> None:
    keys = ", ".join(f'"{k}"' for k in spec.unique)
    # The values as written (with their spaces), so the user sees why two rows are one key.
    written = f'list("_src_{spec.unique[0]}" ORDER BY _line)'
    dupes = con.execute(
        f"SELECT {written}, list(_line ORDER BY _line) FROM _typed GROUP BY {keys} "
        f"HAVING count(*) > 1 ORDER BY min(_line) LIMIT {_EXAMPLES}"
    ).fetchall()
    if dupes:
        n_bad = _scalar(
            con,
            f"SELECT count(*) FROM (SELECT {keys} FROM _typed GROUP BY {keys} HAVING count(*) > 1)",
        )
        raise DataError(
            f"{', '.join(spec.unique)} must be unique; {n_bad} value(s) repeat",
            path=path,
            column=spec.unique[0],
            rows=[ln for d in dupes for ln in d[-1]][:8],
            examples=[d[0] for d in dupes],
            hint="keep one row per key (white space around ids is ignored)",
        )


#: Id columns where two spellings that differ only in case mean one customer or lead.
_CASE_IDS = ("customer_id", "lead_id")


def _check_id_case(
    con: duckdb.DuckDBPyConnection, spec: Table, path: Path, columns: set[str]
) -> None:
    """Reject ids that differ only in case (``A`` and ``a``): one customer written two ways."""
    for name in _CASE_IDS:
        if name not in columns:
            continue
        # Distinct ids first: cheap even on millions of rows, and nearly always empty.
        clashes = con.execute(
            f'SELECT list(id ORDER BY id) FROM (SELECT DISTINCT "{name}" AS id FROM _typed '
            f"WHERE id IS NOT NULL) GROUP BY lower(id) HAVING count(*) > 1 "
            f"ORDER BY min(id) LIMIT {_EXAMPLES}"
        ).fetchall()
        if not clashes:
            continue
        ids = [i for (group,) in clashes for i in group]
        rows = con.execute(
            f'SELECT min(_line) FROM _typed WHERE "{name}" IN ({", ".join("?" * len(ids))}) '
            f'GROUP BY "{name}" ORDER BY 1',
            ids,
        ).fetchall()
        raise DataError(
            "has ids that differ only in case, which segkit would count as different: "
            + "; ".join(" = ".join(repr(i) for i in group) for (group,) in clashes),
            path=path,
            column=name,
            rows=[r[0] for r in rows],
            hint="write each id the same way everywhere (the export mixes spellings), "
            "or set 'case_sensitive_ids: true' in segkit.yaml if your system really "
            "tells them apart",
        )


def _check_repeated_rows(con: duckdb.DuckDBPyConnection, path: Path, columns: list[str]) -> None:
    """Reject transaction rows repeated in full, order id included: a doubled export.

    Without an order id two equal rows may be two real purchases, so they are kept.
    """
    cols = ", ".join(f'"{c}"' for c in columns)
    dupes = con.execute(
        f"SELECT list(_line ORDER BY _line), any_value(order_id) FROM _typed GROUP BY {cols} "
        f"HAVING count(*) > 1 ORDER BY min(_line) LIMIT {_EXAMPLES}"
    ).fetchall()
    if dupes:
        n_bad = _scalar(
            con,
            f"SELECT sum(n) FROM (SELECT count(*) AS n FROM _typed GROUP BY {cols} "
            "HAVING count(*) > 1)",
        )
        raise DataError(
            "has rows repeated in full, order id included",
            path=path,
            column="order_id",
            rows=[ln for d in dupes for ln in d[0]][:8],
            examples=[d[1] for d in dupes],
            n_bad=n_bad,
            hint="the export probably holds some rows twice: export it again; if they are "
            "really separate purchase lines, merge them (summing amount and quantity) or "
            "tell them apart (a line number or product column)",
        )


#: Dates of one row that must not come before another date of the row: (later, earlier).
_DATE_ORDER: dict[str, tuple[tuple[str, str], ...]] = {
    "tickets": (("first_response_at", "opened_at"), ("resolved_at", "opened_at")),
    "subscriptions": (("end_date", "start_date"),),
}


def _check_date_order(
    con: duckdb.DuckDBPyConnection, spec: Table, path: Path, columns: set[str]
) -> None:
    """Reject rows where a date precedes the one it follows (a ticket resolved before opened)."""
    for later, earlier in _DATE_ORDER.get(spec.name, ()):
        if later not in columns or earlier not in columns:
            continue
        cond = f'"{later}" < "{earlier}"'
        n_bad = _scalar(con, f"SELECT count(*) FROM _typed WHERE {cond}")
        if n_bad:
            rows = con.execute(
                f'SELECT _line, "_src_{earlier}", "_src_{later}" FROM _typed WHERE {cond} '
                f"ORDER BY _line LIMIT {_EXAMPLES}"
            ).fetchall()
            raise DataError(
                f"is before {earlier}",
                path=path,
                column=later,
                rows=[r[0] for r in rows],
                examples=[f"{earlier} {r[1]}, {later} {r[2]}" for r in rows],
                n_bad=n_bad,
                hint=f"{later} cannot come before {earlier}; fix the dates or leave {later} "
                "empty if it is unknown",
            )


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
    return select, tuple(provided)


def _check_references(con: duckdb.DuckDBPyConnection, files: dict[str, Path]) -> None:
    """Rows of side tables must name customers that exist in transactions or customers."""
    known = "SELECT customer_id FROM transactions"
    if "customers" in files:
        known += " UNION SELECT customer_id FROM customers"
    for name in ("subscriptions", "surveys", "tickets", "offers"):
        if name not in files:
            continue
        # With the known id it most likely means, when they differ only in case.
        orphans = con.execute(
            f"SELECT o.id, min(k.customer_id) FROM (SELECT DISTINCT customer_id AS id FROM "
            f"{name} WHERE customer_id NOT IN ({known})) o LEFT JOIN ({known}) k "
            f"ON lower(k.customer_id) = lower(o.id) GROUP BY o.id ORDER BY o.id LIMIT {_EXAMPLES}"
        ).fetchall()
        if orphans:
            n_bad = _scalar(
                con,
                f"SELECT count(DISTINCT customer_id) FROM {name} "
                f"WHERE customer_id NOT IN ({known})",
            )
            raise DataError(
                f"{n_bad} customer id(s) appear in no transaction and no customer row",
                path=files[name],
                column="customer_id",
                examples=[o[0] if o[1] is None else f"{o[0]} (known as {o[1]})" for o in orphans],
                hint="check that the ids are written the same way in every file (case, "
                "spaces, leading zeros), or add the customers to customers.csv",
            )


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300]
