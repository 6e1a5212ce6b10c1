"""The contract's checks on a table being loaded.

Each runs on the staging table ``_typed`` (typed columns, their source text as ``_src_<name>``
and the file line as ``_line``) and raises :class:`~segkit.errors.DataError` naming the file,
column, lines and example values, with what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from segkit.data.contract import Column, Table
from segkit.errors import DataError

#: Dates outside this range are almost always typos or placeholder values (1900-01-01, 9999-...).
EARLIEST = date(1900, 1, 1)


#: How far past today a date may lie before it is rejected as a typo.
FUTURE_DAYS = 366


EXAMPLES = 5


@dataclass(frozen=True)
class Check:
    column: Column
    condition: str  # SQL over _typed, true for a bad row
    problem: str
    hint: str


def column_checks(col: Column, converts: bool) -> list[Check]:
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
    checks: list[Check] = []
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
        checks.append(Check(col, f"{present} AND {name} IS NULL", what, hint))
    if not col.nullable:
        checks.append(
            Check(col, f"NOT ({present})", "is empty", "fill in every row of this column")
        )
    if col.kind == "number":
        checks.append(
            Check(
                col,
                f"NOT isfinite({name})",
                "holds NaN or infinity",
                "replace them with real numbers or remove the rows",
            )
        )
        if col.minimum is not None:
            checks.append(
                Check(
                    col,
                    f"{name} < {col.minimum}",
                    f"is below the minimum {col.minimum:g}",
                    "fix the values or remove the rows",
                )
            )
        if col.maximum is not None:
            checks.append(
                Check(
                    col,
                    f"{name} > {col.maximum}",
                    f"is above the maximum {col.maximum:g}",
                    "fix the values or remove the rows",
                )
            )
    if col.kind == "date":
        latest = date.fromordinal(datetime.now().date().toordinal() + FUTURE_DAYS)
        checks.append(
            Check(
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
            Check(
                col,
                f"{name} IS NOT NULL AND lower({name}) NOT IN ({allowed})",
                f"must be one of {', '.join(col.choices)}",
                "fix the values",
            )
        )
    return checks


def run_checks(con: duckdb.DuckDBPyConnection, checks: list[Check], path: Path) -> None:
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
                f"ORDER BY _line LIMIT {EXAMPLES}"
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


def check_unique(con: duckdb.DuckDBPyConnection, spec: Table, path: Path) -> None:
    keys = ", ".join(f'"{k}"' for k in spec.unique)
    # The values as written (with their spaces), so the user sees why two rows are one key.
    written = f'list("_src_{spec.unique[0]}" ORDER BY _line)'
    dupes = con.execute(
        f"SELECT {written}, list(_line ORDER BY _line) FROM _typed GROUP BY {keys} "
        f"HAVING count(*) > 1 ORDER BY min(_line) LIMIT {EXAMPLES}"
    ).fetchall()
    if dupes:
        n_bad = scalar(
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


def check_id_case(
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
            f"ORDER BY min(id) LIMIT {EXAMPLES}"
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


def check_repeated_rows(con: duckdb.DuckDBPyConnection, path: Path, columns: list[str]) -> None:
    """Reject transaction rows repeated in full, order id included: a doubled export.

    Without an order id two equal rows may be two real purchases, so they are kept.
    """
    cols = ", ".join(f'"{c}"' for c in columns)
    # Counted first, without the rows' lines: listing the lines of every group took ~2.2 s and
    # ~1.4 GiB at 10 M rows (counting ~0.9 s), for the usual answer "none".
    groups = f"SELECT count(*) AS n FROM _typed GROUP BY {cols} HAVING count(*) > 1"
    n_bad = scalar(con, f"SELECT coalesce(sum(n), 0) FROM ({groups})")
    if not n_bad:
        return
    dupes = con.execute(
        f"SELECT list(_line ORDER BY _line), any_value(order_id) FROM _typed GROUP BY {cols} "
        f"HAVING count(*) > 1 ORDER BY min(_line) LIMIT {EXAMPLES}"
    ).fetchall()
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


def check_date_order(
    con: duckdb.DuckDBPyConnection, spec: Table, path: Path, columns: set[str]
) -> None:
    """Reject rows where a date precedes the one it follows (a ticket resolved before opened)."""
    for later, earlier in _DATE_ORDER.get(spec.name, ()):
        if later not in columns or earlier not in columns:
            continue
        cond = f'"{later}" < "{earlier}"'
        n_bad = scalar(con, f"SELECT count(*) FROM _typed WHERE {cond}")
        if n_bad:
            rows = con.execute(
                f'SELECT _line, "_src_{earlier}", "_src_{later}" FROM _typed WHERE {cond} '
                f"ORDER BY _line LIMIT {EXAMPLES}"
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


def check_references(con: duckdb.DuckDBPyConnection, files: dict[str, Path]) -> None:
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
            f"ON lower(k.customer_id) = lower(o.id) GROUP BY o.id ORDER BY o.id LIMIT {EXAMPLES}"
        ).fetchall()
        if orphans:
            n_bad = scalar(
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


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0
