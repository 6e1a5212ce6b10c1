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

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from segkit.config import Config
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
            if not path.is_file():
                raise DataError(
                    f"file for table '{name}' not found (set in config 'tables')", path=path
                )
            found[name] = path
            continue
        for suffix in SUFFIXES:
            path = folder / f"{name}{suffix}"
            if path.is_file():
                found[name] = path
                break
    if "transactions" not in found:
        raise DataError(
            "no transactions file",
            path=folder,
            hint="add transactions.csv or transactions.parquet, or name the file under "
            "'tables: {transactions: ...}' in segkit.yaml",
        )
    return found


def load_dataset(folder: Path, config: Config) -> Dataset:
    """Read, validate and load every contract table found in ``folder``."""
    files = find_files(folder, config)
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{config.timezone}'")
    provided: dict[str, tuple[str, ...]] = {}
    for name, path in files.items():
        provided[name] = _load_table(con, TABLES[name], path, config.columns.get(name, {}))
    _check_references(con, files)
    # Event re-ratings change the scorecard section, so their log is an input too.
    ratings = folder / "segkit-ratings.jsonl"
    inputs = [*files.values(), *([ratings] if ratings.is_file() else [])]
    return Dataset(folder, config, con, files, fingerprint(inputs, config), provided)


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


def _reader(path: Path) -> str:
    suffix = path.suffix.lower()
    quoted = "'" + str(path).replace("'", "''") + "'"
    if suffix == ".parquet":
        return f"read_parquet({quoted})"
    if suffix in (".csv", ".tsv"):
        return f"read_csv({quoted}, all_varchar = true, header = true)"
    raise DataError(
        "this file type is not supported",
        path=path,
        hint="save the table as CSV (UTF-8) or Parquet",
    )


def _load_table(
    con: duckdb.DuckDBPyConnection, spec: Table, path: Path, mapping: Mapping[str, str]
) -> tuple[str, ...]:
    """Load one table; return the columns the file provides (after mapping)."""
    if path.stat().st_size == 0:
        raise DataError(
            "the file is empty",
            path=path,
            hint=f"export the {spec.name} table with a header row and data",
        )
    try:
        raw = con.sql(f"SELECT * FROM {_reader(path)}")
        source_columns = raw.columns
        source_types = {c: str(t) for c, t in zip(raw.columns, raw.dtypes, strict=True)}
    except duckdb.Error as exc:
        raise DataError(
            f"cannot be read as a table ({_first_line(exc)})",
            path=path,
            hint="check that it is a UTF-8 CSV with a header row, or a Parquet file",
        ) from None
    renamed = {mapping.get(c, c): c for c in source_columns}
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
        source = _reader(path).replace(")", ", file_row_number = true)", 1)
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
        raise DataError(
            f"cannot be read ({_first_line(exc)})",
            path=path,
            hint="save it as UTF-8 CSV or Parquet",
        ) from None
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
        for check in _checks(spec.column(target), source_types[source] == "VARCHAR")
    ]
    _run_checks(con, checks, path)
    if spec.unique:
        _check_unique(con, spec, path)
    _check_date_order(con, spec, path, set(renamed))
    select, provided = _final_columns(spec, list(renamed))
    # _typed was filled in file order and DuckDB keeps insertion order: no sort needed.
    con.execute(f"CREATE TABLE {spec.name} AS SELECT {', '.join(select)} FROM _typed")
    con.execute("DROP TABLE _typed; DROP VIEW _raw")
    return provided


def _cast(col: Column, source: str, source_type: str) -> str:
    s = f'"{source}"'
    text = f"NULLIF(trim(CAST({s} AS VARCHAR)), '')"
    if col.kind == "id" or col.kind == "text":
        return text
    if col.kind == "number":
        if source_type in (
            "DOUBLE",
            "FLOAT",
            "BIGINT",
            "INTEGER",
            "SMALLINT",
            "TINYINT",
            "HUGEINT",
            "UBIGINT",
            "UINTEGER",
        ) or source_type.startswith("DECIMAL"):
            return f"CAST({s} AS DOUBLE)"
        return f"TRY_CAST({text} AS DOUBLE)"
    if col.kind == "date":
        if source_type == "TIMESTAMP WITH TIME ZONE":
            return f"CAST({s} AS TIMESTAMP)"
        if source_type.startswith("TIMESTAMP") or source_type == "DATE":
            return f"CAST({s} AS TIMESTAMP)"
        return f"CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP)"
    if col.kind == "bool":
        if source_type == "BOOLEAN":
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


def _checks(col: Column, text_source: bool) -> list[_Check]:
    """The contract's checks of one column, in the order their failures are reported.

    ``text_source``: the file stores the column as text, so a value may fail to convert.
    """
    name, src = f'"{col.name}"', f'"_src_{col.name}"'
    converts = text_source and col.kind in ("number", "date", "bool")
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
            "date": "write dates as YYYY-MM-DD or timestamps as YYYY-MM-DD HH:MM[:SS][+HH:MM]",
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
    dupes = con.execute(
        f"SELECT {keys}, list(_line ORDER BY _line) FROM _typed GROUP BY {keys} "
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
            hint="keep one row per key",
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
        orphans = con.execute(
            f"SELECT DISTINCT customer_id FROM {name} WHERE customer_id NOT IN ({known}) "
            f"ORDER BY 1 LIMIT {_EXAMPLES}"
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
                examples=[o[0] for o in orphans],
                hint="check that the ids are written the same way in every file (case, "
                "spaces, leading zeros), or add the customers to customers.csv",
            )


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300]
