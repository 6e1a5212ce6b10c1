"""Scale benchmark: load, summary and one period's segmentations at 1 M, 10 M and 100 M rows.

Run: ``.venv/bin/python bench/bench_scale.py [--sizes 1,10,100] [--engines duckdb,spark]
[--repeat 1]``. A size is millions of transaction rows with a tenth as many clients, or
``ROWS:CLIENTS`` in millions (``100:1``). The data is synthetic (``bench/_synth.py``, the same
shape as bench_segmentation's: heavy-tailed purchase rates, 3 % returns, customers and surveys),
written once to ``$TMPDIR/segkit-bench-scale-<rows>`` by DuckDB (100 M rows: 2.3 GB, 1-4
minutes).

Each (size, engine) runs in a fresh Python process, so memory figures are per run:

* load: ``open_data`` on the folder (DuckDB: read, type and validate every table into memory;
  Spark: also start the session and its JVM, type and check the tables, which stay lazy views
  of the Parquet files);
* summary: ``segkit.data.summarize.summarize`` of the as-of transactions at the period's end;
* segmentation: the segmentation sections of bench_segmentation (rfm, abc_xyz, quadrants,
  tiers, scorecard, migration, stratification) for the period through ``run_period``;
* peak memory: the Python process's peak resident set (``ru_maxrss``, exact); sampled with
  psutil every 0.1 s in the process, the resident set of its children (Spark's JVM: its peak
  is not in any rusage, as nobody waits for it) and of both, overall and after loading; and
  sampled every 0.2 s by this parent, the whole process tree, which stops the run when it passes
  ``--max-memory`` (the machine is shared) or ``--timeout``. A stopped or failed run still
  reports the steps it finished.

Times are the best of ``--repeat`` runs of the summary and of the segmentations (each run on a
fresh cache), wall clock and CPU (this process and its children: with Spark mostly the JVM's);
on a shared machine the CPU seconds vary less than the wall clock. Prints markdown tables for
bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _synth import cached
from bench_segmentation import SEGMENTATIONS, _Only


@dataclass(frozen=True)
class Size:
    """Transaction rows and clients of one synthetic dataset."""

    rows: int
    clients: int

    @classmethod
    def parse(cls, text: str) -> Size:
        """``"10"``: 10 M rows and a tenth as many clients; ``"100:1"``: 100 M rows, 1 M clients."""
        rows, _, clients = text.partition(":")
        n = round(float(rows) * 1e6)
        return cls(n, round(float(clients) * 1e6) if clients else n // 10)

    @property
    def label(self) -> str:
        return f"{self.rows / 1e6:g} M / {self.clients / 1e6:g} M"


GIB = 1024**3


@dataclass
class Peaks:
    """Peak resident bytes of this process, its children and both, per phase, sampled."""

    every: float = 0.1
    phase: str = "load"
    peaks: dict[str, dict[str, int]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> bool:
        """Start sampling; False when psutil is not installed (only ``ru_maxrss`` then)."""
        try:
            import psutil
        except ImportError:
            return False
        me = psutil.Process()

        def sample() -> None:
            while not self._stop.is_set():
                own, kids = me.memory_info().rss, 0
                for child in me.children(recursive=True):
                    with contextlib.suppress(psutil.Error):  # ended since it was listed
                        kids += child.memory_info().rss
                peak = self.peaks.setdefault(self.phase, {"python": 0, "children": 0, "total": 0})
                for key, value in (("python", own), ("children", kids), ("total", own + kids)):
                    peak[key] = max(peak[key], value)
                self._stop.wait(self.every)

        threading.Thread(target=sample, daemon=True).start()
        return True

    def stop(self) -> None:
        self._stop.set()


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its live children (Spark's JVM).

    Less sensitive than wall time to other work on a shared machine.
    """
    total = time.process_time()
    try:
        import psutil
    except ImportError:
        return total
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            times = child.cpu_times()
            total += times.user + times.system
    return total


def emit(**values: Any) -> None:
    """Hand results to the parent as they come (one JSON line each), so a run that is stopped
    or fails still reports its earlier steps."""
    print(json.dumps(values), flush=True)


def worker(spec: dict[str, Any]) -> None:
    """Measure one (folder, engine) in this process, emitting each step's result."""
    from segkit.api import open_data
    from segkit.data.summarize import summarize
    from segkit.engine.run import run_period
    from segkit.periods import parse_period

    peaks = Peaks()
    sampled = peaks.start()
    emit(loadavg_start=os.getloadavg()[0], step="load")
    started = time.perf_counter()
    dataset = open_data(spec["folder"], spec["config"])
    emit(load=time.perf_counter() - started, step="summary")
    peaks.phase = "after load"
    period = parse_period(spec["period"])
    summary: list[float] = []
    summary_cpu: list[float] = []
    try:
        for _ in range(spec["repeat"]):
            started, cpu = time.perf_counter(), cpu_seconds()
            clients = len(summarize(dataset.as_of("transactions", period.end), period.end))
            summary.append(time.perf_counter() - started)
            summary_cpu.append(cpu_seconds() - cpu)
        emit(summary=min(summary), summary_cpu=min(summary_cpu), summary_clients=clients)
    except Exception as exc:  # a failing step is reported in its cell, the others still run
        emit(summary_error=f"{type(exc).__name__}: {exc}")
    emit(step="segmentation")
    sections: dict[str, float] = {}
    totals: list[float] = []
    totals_cpu: list[float] = []
    for _ in range(spec["repeat"]):
        cpu = cpu_seconds()
        report = run_period(dataset, period, _Only(SEGMENTATIONS))
        totals_cpu.append(cpu_seconds() - cpu)
        failed = {s.name: (s.error or "").splitlines()[0] for s in report.sections if s.error}
        if failed:
            emit(segmentation_error="; ".join(f"{k}: {v}" for k, v in failed.items()))
            break
        totals.append(sum(s.seconds for s in report.sections))
        for s in report.sections:
            sections[s.name] = min(sections.get(s.name, float("inf")), s.seconds)
        del report  # not kept across repeats, so the peak is one run's
    if totals:
        emit(segmentation=min(totals), segmentation_cpu=min(totals_cpu), sections=sections)
    peaks.stop()
    emit(
        step="done",
        loadavg_end=os.getloadavg()[0],
        ru_maxrss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        peaks=peaks.peaks if sampled else None,
    )


def run_one(folder: Path, engine: str, args: argparse.Namespace) -> dict[str, Any]:
    """Measure (folder, engine) in a fresh process; what it reported, and how it ended."""
    config = folder / f"segkit-bench-{engine}.yaml"
    lines = [f"threads: {args.threads}"] if args.threads else []
    if args.memory_limit and engine == "duckdb":
        lines.append(f"memory_limit: {args.memory_limit}")
    if engine == "spark":
        lines += ["engine: spark", "spark:", f"  master: {args.spark_master}", "  options:"]
        options = dict(o.split("=", 1) for o in args.spark_option)  # the last of a key wins
        lines += [f"    {k}: '{v}'" for k, v in options.items()]
    config.write_text("\n".join(lines) + "\n")
    spec = {"folder": str(folder), "config": str(config), "period": args.period}
    spec["repeat"] = args.repeat
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(spec)],
            stdout=out,
            stderr=err,
            text=True,
            start_new_session=True,  # its own process group, with Spark's JVM
        )
        stopped, peak = watch(proc, args.max_memory * GIB, args.timeout)
        out.seek(0)
        err.seek(0)
        result: dict[str, Any] = {"watched_peak": peak}
        for line in out.read().splitlines():
            if line.startswith("{"):
                result.update(json.loads(line))
        if stopped:
            result["error"] = f"{stopped} during {result.get('step', 'start')}"
        elif proc.returncode:
            # The exception's line (Spark may log after it), else the last line.
            lines = err.read().strip().splitlines() or [f"exit status {proc.returncode}"]
            raised = [line for line in lines if re.match(r"[\w.]+(Error|Exception)\b", line)]
            result["error"] = f"{(raised or lines)[-1]} (during {result.get('step', 'start')})"
    return result


def watch(proc: subprocess.Popen[str], cap: float, timeout: float) -> tuple[str | None, int | None]:
    """Wait for ``proc``; stop its process group when the resident memory of its process tree
    passes ``cap`` bytes or it runs longer than ``timeout`` seconds (the machine is shared).

    Returns why it was stopped (None if it ended by itself) and the tree's peak resident bytes,
    sampled every 0.2 s (None without psutil; then there is no memory cap either).
    """
    try:
        import psutil
    except ImportError:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return f"stopped after {timeout:.0f} s", None
        return None, None
    tree, peak, deadline = psutil.Process(proc.pid), 0, time.monotonic() + timeout
    while proc.poll() is None:
        rss = 0
        with contextlib.suppress(psutil.Error):  # ended since it was listed
            for p in [tree, *tree.children(recursive=True)]:
                rss += p.memory_info().rss
        peak = max(peak, rss)
        why = None
        if rss > cap:
            why = f"stopped at {rss / GIB:.1f} GiB resident (cap {cap / GIB:g} GiB)"
        elif time.monotonic() > deadline:
            why = f"stopped after {timeout:.0f} s"
        if why:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return why, peak
        time.sleep(0.2)
    return None, peak


def _seconds(result: dict[str, Any], key: str) -> str:
    if key in result:
        return f"{result[key]:.2f}"
    step = key.removesuffix("_cpu")
    return "failed" if f"{step}_error" in result or "error" in result else "n/a"


def _gib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / GIB:.2f}"


def table(results: list[tuple[Size, str, dict[str, Any]]]) -> str:
    """Markdown: one row per (size, engine), then seconds per section, then the errors."""
    head = (
        "| rows | clients | engine | load (s) | summary (s) | summary CPU (s) | "
        "segmentation (s) | segmentation CPU (s) | peak Python (GiB) | peak JVM (GiB) | "
        "peak total (GiB) | peak after load (GiB) | load average |\n"
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    lines = [head]
    for size, engine, r in results:
        phases = (r.get("peaks") or {}).values()
        jvm = max((p["children"] for p in phases), default=None) if engine == "spark" else None
        total = max([p["total"] for p in phases] + [r["watched_peak"] or 0]) or None
        after = (r.get("peaks") or {}).get("after load", {}).get("total")
        loadavg = "-".join(f"{r[k]:.1f}" for k in ("loadavg_start", "loadavg_end") if k in r)
        lines.append(
            f"| {size.rows:,} | {size.clients:,} | {engine} | {_seconds(r, 'load')} | "
            f"{_seconds(r, 'summary')} | {_seconds(r, 'summary_cpu')} | "
            f"{_seconds(r, 'segmentation')} | {_seconds(r, 'segmentation_cpu')} | "
            f"{_gib(r.get('ru_maxrss'))} | {_gib(jvm)} | {_gib(total)} | {_gib(after)} | "
            f"{loadavg} |"
        )
    runs = [(size, engine, r) for size, engine, r in results if "sections" in r]
    if runs:
        columns = " | ".join(f"{s.label} {e} (s)" for s, e, _ in runs)
        lines += ["", f"| section | {columns} |", "|---|" + "---:|" * len(runs)]
        for name in SEGMENTATIONS:
            cells = [
                f"{r['sections'][name]:.2f}" if name in r["sections"] else "-" for *_, r in runs
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    errors = [
        f"* {size.label} {engine}, {key}: {r[key]}"
        for size, engine, r in results
        for key in ("error", "summary_error", "segmentation_error")
        if key in r
    ]
    return "\n".join(lines + (["", *errors] if errors else []))


def machine() -> str:
    """Cores, memory and CPU model of this machine."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    return f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="1,10,100",
        help="millions of rows, each with a tenth as many clients, or ROWS:CLIENTS in millions",
    )
    parser.add_argument("--engines", default="duckdb,spark")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--period", default="2025-Q3")
    parser.add_argument(
        "--threads", type=int, help="DuckDB threads (default: the config's, every core)"
    )
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument(
        "--spark-option",
        action="append",
        default=["spark.driver.memory=4g"],
        metavar="KEY=VALUE",
        help="a Spark setting of the session (repeatable; default spark.driver.memory=4g)",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument(
        "--memory-limit", help="DuckDB's memory_limit in the config (e.g. 2GB; default none)"
    )
    parser.add_argument(
        "--max-memory",
        type=float,
        default=16,
        help="GiB of resident memory (the run's processes together) at which a run is stopped",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    results = []
    for size in (Size.parse(s) for s in args.sizes.split(",")):
        started = time.perf_counter()
        folder = cached(size.rows, size.clients)
        made = json.loads((folder / "synth.json").read_text())["seconds"]
        print(f"{size.label}: {folder} (generated in {made} s; ready in", end=" ", flush=True)
        print(f"{time.perf_counter() - started:.1f} s)", flush=True)
        for engine in args.engines.split(","):
            result = run_one(folder, engine, args)
            results.append((size, engine, result))
            print(f"  {engine}: {json.dumps(result)}", flush=True)
    threads = args.threads or f"default ({os.cpu_count()})"
    print(f"\n{machine()}; period {args.period}, best of {args.repeat}; DuckDB threads")
    print(f"{threads}; Spark {args.spark_master} {' '.join(args.spark_option)}\n")
    print(table(results))


if __name__ == "__main__":
    main()
