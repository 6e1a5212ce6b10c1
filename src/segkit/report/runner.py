"""Rendering period reports: papermill executes the notebook, nbconvert exports HTML.

Each period is rendered into a temporary folder inside the output folder and published by
rename, so a crash or a kill never leaves a half-written report and a failed run keeps the
previous one. A lock file per period stops two runs of the same period from colliding: the
second one does not wait, it reports the period as busy at once (exit 1) and leaves the first
run's status alone; the next run's :func:`recover` clears what a killed run left.

``SEGKIT_FAULT=<step>`` (tests only) kills the process with SIGKILL when a render reaches
``export`` (notebook executed, HTML not yet written), ``publish`` (report complete in its
temporary folder) or ``swap`` (old report moved aside, new one not yet in place).

Layout of the output folder::

    reports/index.html            every period, linked, with failures flagged
    reports/2025-Q3/report.html   the management report (no code)
    reports/2025-Q3/report.ipynb  the executed notebook (the audit record)
    reports/2025-Q3/run.json      parameters, data fingerprint, versions, timings, status
    reports/.status/2025-Q3.json  the latest attempt, successful or not
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from segkit import __version__
from segkit.errors import SegkitError

NOTEBOOK = Path(__file__).with_name("period_report.ipynb")
TEMPLATES = Path(__file__).with_name("templates")
FAULT_ENV = "SEGKIT_FAULT"


class PeriodBusyError(SegkitError):
    """Another run holds the period's lock."""


def _fault(step: str) -> None:
    """Die here, as a crash or ``kill -9`` would, when ``SEGKIT_FAULT`` names ``step``."""
    if os.environ.get(FAULT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class RunRecord:
    """The outcome of rendering one period (also what ``run.json`` holds)."""

    period: str
    status: str  # "ok", "failed" or "skipped"
    error: str = ""
    started: str = ""
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    inputs_key: str = ""
    fingerprint: str = ""
    segkit_version: str = __version__
    plugins: dict[str, str] = field(default_factory=dict)
    show_ids: bool = False
    headline: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Job:
    """What a worker needs to render one period (picklable)."""

    period: str
    data_dir: str
    config: str | None
    show_ids: bool
    out_dir: str
    notebook: str
    inputs_key: str
    cache_dir: str | None = None


def inputs_key(fingerprint: str, notebook: Path, plugins: dict[str, str], show_ids: bool) -> str:
    """Everything a report depends on; an unchanged key means the report need not be redone.

    segkit's own source is hashed rather than trusting its version number, so an upgrade or a
    local edit of an analysis (an editable install) renders the reports again.
    """
    digest = hashlib.sha256()
    for part in (
        fingerprint,
        notebook.read_bytes().hex(),
        __version__,
        _source_digest(),
        json.dumps(plugins, sort_keys=True),
        str(show_ids),
    ):
        digest.update(part.encode())
    return digest.hexdigest()


def _source_digest() -> str:
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def is_current(out_dir: Path, period: str, key: str) -> bool:
    """True when the published report of ``period`` was made from the same inputs."""
    record = out_dir / period / "run.json"
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(data.get("status") == "ok" and data.get("inputs_key") == key)


def render_all(
    jobs: list[Job], workers: int, on_done: Callable[[RunRecord], None]
) -> list[RunRecord]:
    """Render ``jobs`` with up to ``workers`` processes; ``on_done`` sees each record."""
    records: list[RunRecord] = []
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            records.append(render_one(job))
            on_done(records[-1])
        return records
    # spawn: workers start clean instead of inheriting the parent's DuckDB connection.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        for record in pool.map(render_one, jobs):
            records.append(record)
            on_done(record)
    return records


def render_one(job: Job) -> RunRecord:
    """Render one period; never raises for a failing notebook (the record says it failed)."""
    out_dir = Path(job.out_dir)
    started = time.perf_counter()
    record = RunRecord(
        period=job.period,
        status="failed",
        started=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        parameters={
            "data_dir": job.data_dir,
            "period": job.period,
            "config": job.config,
            "show_ids": job.show_ids,
        },
        inputs_key=job.inputs_key,
        show_ids=job.show_ids,
    )
    tmp = out_dir / f".tmp-{job.period}-{uuid.uuid4().hex[:8]}"
    try:
        with period_lock(out_dir, job.period):
            tmp.mkdir(parents=True)
            _execute(job, tmp, record)
            record.status = "ok"
            record.seconds = time.perf_counter() - started
            _write_json(tmp / "run.json", asdict(record))
            _fault("publish")
            publish(tmp, out_dir / job.period)
    except PeriodBusyError as exc:  # the other run owns the period and its status record
        record.status, record.error = "busy", str(exc)
        return record
    except Exception as exc:  # the record carries the failure; the old report stays
        record.error = _describe(exc)
        record.seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _write_json(out_dir / ".status" / f"{job.period}.json", asdict(record))
    return record


def _execute(job: Job, tmp: Path, record: RunRecord) -> None:
    import nbformat
    import papermill
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    metrics_path = tmp / "metrics.json"
    t0 = time.perf_counter()
    # A short private path: Unix socket paths are limited to about 100 characters.
    with tempfile.TemporaryDirectory(prefix="segkit-kernel-") as sockets:
        papermill.execute_notebook(
            job.notebook,
            str(tmp / "report.ipynb"),
            parameters={
                "data_dir": job.data_dir,
                "period": job.period,
                "config": job.config,
                "show_ids": job.show_ids,
                "metrics_path": str(metrics_path),
                "cache_dir": job.cache_dir,
            },
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
            kernel_manager_class=_ipc_kernel_manager(sockets),
        )
    t_exec = time.perf_counter() - t0
    _fault("export")
    nb = nbformat.read(tmp / "report.ipynb", as_version=4)
    cells = sum(c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0 for c in nb.cells)
    nb.metadata["title"] = f"Customer value report {job.period}"
    t1 = time.perf_counter()
    remove = TagRemovePreprocessor(
        remove_cell_tags={"remove_cell", "parameters", "injected-parameters"}, enabled=True
    )
    exporter = HTMLExporter(
        template_name="segkit",
        extra_template_basedirs=[str(TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    exporter.register_preprocessor(remove, enabled=True)
    body, _ = exporter.from_notebook_node(nb)
    (tmp / "report.html").write_text(body, encoding="utf-8")
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    record.fingerprint = metrics["fingerprint"]
    record.plugins = metrics["plugins"]
    record.headline = [m for m in metrics["metrics"] if m["headline"]]
    failed = [s["name"] for s in metrics["sections"] if s["error"]]
    if failed:
        record.error = f"section(s) failed: {', '.join(failed)}"
    record.timings = {
        "data": round(metrics["seconds_data"], 3),
        "kernel_start": round(max(t_exec - cells, 0.0), 3),
        "execute": round(cells, 3),
        "export": round(time.perf_counter() - t1, 3),
    }


def _ipc_kernel_manager(sockets: str) -> type:
    """A kernel manager talking to the kernel over local IPC sockets in ``sockets``, not TCP.

    The kernel is local anyway; IPC opens no port and spares every run ipykernel's warning
    about unencrypted TCP. Each kernel needs a folder of its own: by default the sockets are
    named ``kernel-ipc-N`` in the working directory, so kernels started side by side
    (``--jobs 2``) would take each other's sockets.
    """
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", os.path.join(sockets, "kernel"))
            super().__init__(**kwargs)

    return IPCKernelManager


def _describe(exc: BaseException) -> str:
    """A failure in words: the notebook's own error, without the kernel's traceback."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename and evalue is not None:
        return f"{ename}: {evalue}"
    if isinstance(exc, SegkitError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def period_lock(out_dir: Path, period: str) -> Iterator[None]:
    """Hold ``.locks/<period>.lock``; a second run of the same period fails at once."""
    lock_dir = out_dir / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / f"{period}.lock").open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PeriodBusyError(
                f"another segkit run is rendering {period} right now; wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def publish(tmp: Path, final: Path) -> None:
    """Replace ``final`` with ``tmp`` by renames; the old report survives a crash."""
    old = final.with_name(f".old-{final.name}")
    if old.exists() and not final.exists():  # a previous publish died between the renames
        old.rename(final)
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        _fault("swap")
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def recover(out_dir: Path) -> None:
    """Undo what an interrupted run left: restore half-published reports, drop temp files.

    A period whose lock is held is left alone: its run is alive and using them.
    """
    if not out_dir.is_dir():
        return
    for old in out_dir.glob(".old-*"):
        final = out_dir / old.name.removeprefix(".old-")
        try:
            with period_lock(out_dir, final.name):
                if final.exists():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    old.rename(final)
        except PeriodBusyError:
            continue
    for tmp in out_dir.glob(".tmp-*"):
        period = tmp.name.removeprefix(".tmp-").rsplit("-", 1)[0]
        try:
            with period_lock(out_dir, period):
                shutil.rmtree(tmp, ignore_errors=True)
        except PeriodBusyError:
            continue
    # Half-written files of dead processes: .<name>.<pid>.tmp (status records, the index).
    for part in [*(out_dir / ".status").glob(".*.tmp"), *out_dir.glob(".index.html.*.tmp")]:
        pid = part.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            part.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)
