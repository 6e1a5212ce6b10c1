"""Client lists for the CRM: every section's per-client results, one row per client.

:func:`client_table` merges the ``data["clients"]`` frame of every section of a period report
on ``customer_id`` (an outer join: a client is listed when any section lists them), naming each
column ``<section>.<column>`` so that sections cannot clash. Identifiers are written in full:
the file is meant for the CRM, not for sharing (the HTML reports mask them).
:func:`write_table` writes CSV (UTF-8) or Parquet atomically: to a temporary file beside the
target, renamed over it only when complete, so a failure never leaves a half-written or
overwritten list.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from segkit.api import check_period, open_data, plugin_manager
from segkit.engine.run import PeriodReport, run_period
from segkit.errors import SegkitError
from segkit.periods import parse_period

FORMATS = (".csv", ".parquet")


@dataclass(frozen=True)
class Export:
    """What :func:`export` wrote."""

    path: Path
    clients: int
    columns: int
    sections: tuple[str, ...]
    skipped: tuple[str, ...]
    seconds: float


def client_table(report: PeriodReport, skip_failed: bool = False) -> pd.DataFrame:
    """One row per client with every section's client columns, sorted by ``customer_id``.

    A failed section raises :class:`SegkitError` (nothing would tell the CRM that its columns
    are missing) unless ``skip_failed``.
    """
    failed = report.failed
    if failed and not skip_failed:
        lines = "\n".join(f"  {s.name}: {(s.error or '').splitlines()[0]}" for s in failed)
        raise SegkitError(
            f"{len(failed)} section(s) failed for {report.period}, nothing was written:\n{lines}"
            "\n  -> fix the cause, or pass --skip-failed to export without their columns"
        )
    parts = []
    for section in report.sections:
        frame = section.data.get("clients")
        if section.error or not isinstance(frame, pd.DataFrame) or "customer_id" not in frame:
            continue
        ids = frame["customer_id"]
        if ids.duplicated().any():
            raise SegkitError(
                f"section '{section.name}' lists {int(ids.duplicated().sum())} client(s) more "
                "than once; a client list needs one row per client"
            )
        part = frame.set_index("customer_id")
        part.columns = [f"{section.name}.{c}" for c in part.columns]
        parts.append(part)
    if not parts:
        raise SegkitError(f"no section lists clients for {report.period}")
    table = pd.concat(parts, axis=1, join="outer").sort_index()
    table.index.name = "customer_id"
    return table.reset_index()


def write_table(frame: pd.DataFrame, out: Path) -> None:
    """Write ``frame`` to ``out`` (.csv or .parquet) atomically."""
    suffix = check_out(out)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False, encoding="utf-8")
        else:
            _arrow_safe(frame).to_parquet(tmp, index=False)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def check_out(out: Path) -> str:
    """The output's suffix; raises :class:`SegkitError` for a format or folder we cannot use."""
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise SegkitError(f"{out}: the client list must end in .csv or .parquet")
    if not out.parent.is_dir():
        raise SegkitError(f"{out.parent}: folder not found; create it first")
    return suffix


def _arrow_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns Arrow cannot type (mixed Python objects) become text."""
    out = frame.copy()
    for col in out.select_dtypes(include="object").columns:
        try:
            pa.array(out[col], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            out[col] = out[col].map(lambda v: None if v is None or v is pd.NA else str(v))
    return out


def export(
    data_dir: str | Path,
    period: str,
    out: str | Path,
    config: str | Path | None = None,
    skip_failed: bool = False,
) -> Export:
    """Run every analysis on ``data_dir`` for ``period`` and write the client list to ``out``."""
    started = time.perf_counter()
    target = Path(out)
    check_out(target)
    dataset = open_data(data_dir, config)
    p = parse_period(period)
    check_period(dataset, p)
    report = run_period(dataset, p, plugin_manager(dataset))
    table = client_table(report, skip_failed)
    write_table(table, target)
    used = tuple(dict.fromkeys(c.split(".", 1)[0] for c in table.columns[1:]))
    return Export(
        path=target,
        clients=len(table),
        columns=table.shape[1],
        sections=used,
        skipped=tuple(s.name for s in report.failed),
        seconds=time.perf_counter() - started,
    )
