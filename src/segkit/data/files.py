"""Finding and reading the files of a data folder.

Which file holds each table, whether it is a readable regular file, its CSV dialect (taken from
the header line, not guessed), the DuckDB table function that reads it, DuckDB's reading errors
turned into segkit messages, and the fingerprint of the inputs.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from segkit.config import Config
from segkit.data.contract import SUFFIXES, TABLES
from segkit.errors import DataError


def fingerprint(paths: Iterable[Path], config: Config) -> str:
    """SHA-256 over the data files' bytes and the config file: same inputs, same fingerprint."""
    digest = hashlib.sha256()
    extra = [config.source] if config.source else []
    for path in sorted({*paths, *extra}):  # a database file may hold several tables
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


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
            path = folder / table_file(name, config)
            if not os.path.lexists(path):
                raise DataError(
                    f"file for table '{name}' not found (set in config 'tables')", path=path
                )
            found[name] = regular_file(path)
            continue
        for suffix in SUFFIXES:
            path = folder / f"{name}{suffix}"
            if os.path.lexists(path):
                found[name] = regular_file(path)
                break
    if "transactions" not in found:
        raise DataError(
            "no transactions file",
            path=folder,
            hint="add transactions.csv or transactions.parquet, or name the file under "
            "'tables: {transactions: ...}' in segkit.yaml",
        )
    return found


def regular_file(path: Path) -> Path:
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


#: Delimiters a CSV file may use: the one found most often in the header line is taken.
DELIMITERS = (",", ";", "\t", "|")


_UTF8_HINT = "save it as UTF-8 (in Excel: Save As > CSV UTF-8)"


_HEAD_BYTES = 1 << 16


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def quote_name(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def csv_header(path: Path) -> tuple[str, list[str]]:
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
    check_header(names, path)
    return delimiter, names


def check_header(names: list[str], path: Path) -> None:
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


#: Files that are DuckDB databases: ``tables: {transactions: shop.duckdb}`` reads the table of
#: that name in it, ``shop.duckdb:sales`` the table ``sales``.
DATABASE_SUFFIXES = (".duckdb", ".db")


def is_database(path: Path) -> bool:
    return path.suffix.lower() in DATABASE_SUFFIXES


def table_file(table: str, config: Config) -> str:
    """The file named under ``tables:`` for contract table ``table`` (without ``:<table>``)."""
    return config.tables[table].partition(":")[0]


def database_table(table: str, config: Config) -> str:
    """The table inside the database file that holds contract table ``table``."""
    return config.tables.get(table, "").partition(":")[2] or table


def reader(path: Path, row_numbers: bool = False) -> str:
    """The DuckDB table function that reads ``path`` (every CSV column as text)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            names = pq.read_schema(path).names
        except (pa.ArrowException, OSError):
            names = []  # DuckDB's own read below says what is wrong with the file
        check_header(names, path)
        rows = ", file_row_number = true" if row_numbers else ""
        return f"read_parquet({sql_text(str(path))}{rows})"
    if suffix in (".csv", ".tsv"):
        delimiter, names = csv_header(path)
        columns = ", ".join(f"{sql_text(n)}: 'VARCHAR'" for n in names)
        return (
            f"read_csv({sql_text(str(path))}, auto_detect = false, header = true, "
            f"delim = {sql_text(delimiter)}, quote = '\"', escape = '\"', columns = {{{columns}}})"
        )
    raise DataError(
        "this file type is not supported",
        path=path,
        hint="save the table as CSV (UTF-8) or Parquet",
    )


_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")


_FIELDS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def read_error(exc: duckdb.Error, path: Path) -> DataError:
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
            f"is not a complete Parquet file ({first_line(exc)})",
            path=path,
            hint="the file is cut off or damaged: export or copy it again",
        )
    return DataError(
        f"cannot be read as a table ({first_line(exc)})",
        path=path,
        hint="check that it is a UTF-8 CSV with a header row, or a Parquet file",
    )


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300]
