"""A cache of validated, typed tables in a DuckDB file, keyed by the input fingerprint.

Rendering many periods of the same data would load and validate the same files in every
notebook kernel; instead the first load writes the typed tables to
``<cache_dir>/<key>.duckdb`` and later loads attach that file read-only (DuckDB reads only what
a query touches). The key covers the data files' bytes, the config file, segkit's version and
the tables' layout, so any change to them makes a new entry; older entries are removed when a
new one is written, and so are temporary files an interrupted write left more than an hour ago.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from pathlib import Path

import duckdb

from segkit import __version__

_META = "_segkit_meta"
#: The loaded tables' layout; raised when it changes (a derived column added), so that entries
#: written by an earlier layout of the same version are not read.
_LAYOUT = 2


def cache_key(fingerprint: str) -> str:
    return hashlib.sha256(f"{fingerprint}:{__version__}:{_LAYOUT}".encode()).hexdigest()[:24]


def attach(
    con: duckdb.DuckDBPyConnection, cache_dir: Path, key: str
) -> dict[str, tuple[str, ...]] | None:
    """Expose the cached tables in ``con`` as views; return the provided columns, or None."""
    path = cache_dir / f"{key}.duckdb"
    if not path.is_file():
        return None
    created: list[str] = []
    try:
        con.execute(f"ATTACH '{_quote(path)}' AS segkit_cache (READ_ONLY)")
        (raw,) = con.execute(f"SELECT provided FROM segkit_cache.{_META}").fetchone() or ("",)
        provided = {t: tuple(cols) for t, cols in json.loads(raw).items()}
        for table in provided:
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM segkit_cache.{table}")
            created.append(table)
    except (duckdb.Error, ValueError, TypeError):
        # Unreadable or from an older layout: undo, and load from the files instead.
        for table in created:
            con.execute(f"DROP VIEW {table}")
        con.execute("DETACH DATABASE IF EXISTS segkit_cache")
        return None
    return provided


def store(
    con: duckdb.DuckDBPyConnection,
    cache_dir: Path,
    key: str,
    provided: dict[str, tuple[str, ...]],
) -> None:
    """Write the loaded tables of ``con`` to the cache (atomically) and drop older entries."""
    final = cache_dir / f"{key}.duckdb"
    if final.is_file():  # same inputs, same tables: nothing to write
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
    con.execute(f"ATTACH '{_quote(tmp)}' AS segkit_new")
    try:
        for table in provided:
            con.execute(f"CREATE TABLE segkit_new.{table} AS SELECT * FROM {table}")
        con.execute(
            f"CREATE TABLE segkit_new.{_META} AS SELECT ? AS provided", [json.dumps(provided)]
        )
    finally:
        con.execute("DETACH segkit_new")
    os.replace(tmp, final)
    for old in cache_dir.glob("*.duckdb"):
        if old != final:
            old.unlink(missing_ok=True)  # a run still reading it keeps its open file
    stale = time.time() - 3600
    for tmp_file in cache_dir.glob(".*.tmp"):  # left by a run killed while writing
        with contextlib.suppress(OSError):
            if tmp_file.stat().st_mtime < stale:
                tmp_file.unlink()


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
