"""Scale benchmark: load, summary and one period's segmentations at 1 M, 10 M and 100 M rows.

Run: ``.venv/bin/python bench/bench_scale.py [--sizes 1,10,100] [--engines duckdb,spark]
[--repeat 1]``. Sizes are millions of transaction rows, with a tenth as many clients
(synthetic data of ``bench/_synth.py``, the same shape as bench_segmentation's: heavy-tailed
purchase rates, 3 % returns, customers and surveys), written once to
``$TMPDIR/segkit-bench-scale-<rows>`` by DuckDB (100 M: about 2 minutes, 2.3 GB).

Each (size, engine) runs in a fresh Python process, so memory figures are per run:

* load: ``open_data`` on the folder (DuckDB: read, type and validate every table into memory;
  Spark: also start the session and its JVM);
* summary: ``segkit.data.summarize.summarize`` of the as-of transactions at the period's end;
* segmentation: the segmentation sections of bench_segmentation (rfm, abc_xyz, quadrants,
  tiers, scorecard, migration, stratification) for the period through ``run_period``;
* peak memory: the Python process's peak resident set (``ru_maxrss``, exact), and, sampled every
  0.1 s with psutil, the resident set of its child processes (Spark's JVM) and of the whole
  tree, overall and after loading.

Times are the best of ``--repeat`` runs of the summary and of the segmentations (each run on a
fresh cache). Prints markdown tables for bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _synth import cached
from bench_segmentation import SEGMENTATIONS, _Only

#: Size label (millions of rows) -> (transaction rows, clients).
SIZES = {
    1: (1_000_000, 100_000),
    10: (10_000_000, 1_000_000),
    100: (100_000_000, 10_000_000),
}
GB = 1024**3


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


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure one (folder, engine) in this process; the result as a JSON-ready dict."""
    from segkit.api import open_data
    from segkit.data.summarize import summarize
    from segkit.engine.run import run_period
    from segkit.periods import parse_period

    peaks = Peaks()
    sampled = peaks.start()
    out: dict[str, Any] = {"loadavg": [round(x, 2) for x in os.getloadavg()]}
    started = time.perf_counter()
    dataset = open_data(spec["folder"], spec["config"])
    out["load"] = time.perf_counter() - started
    peaks.phase = "after load"
    period = parse_period(spec["period"])
    summary: list[float] = []
    try:
        for _ in range(spec["repeat"]):
            started = time.perf_counter()
            clients = len(summarize(dataset.as_of("transactions", period.end), period.end))
            summary.append(time.perf_counter() - started)
        out["summary"], out["summary_clients"] = min(summary), clients
    except Exception as exc:  # a failing step is reported in its cell, the others still run
        out["summary_error"] = f"{type(exc).__name__}: {exc}"
    sections: dict[str, float] = {}
    totals: list[float] = []
    for _ in range(spec["repeat"]):
        report = run_period(dataset, period, _Only(SEGMENTATIONS))
        failed = {s.name: s.error.splitlines()[0] for s in report.sections if s.error}
        if failed:
            out["segmentation_error"] = "; ".join(f"{k}: {v}" for k, v in failed.items())
            break
        totals.append(sum(s.seconds for s in report.sections))
        for s in report.sections:
            sections[s.name] = min(sections.get(s.name, float("inf")), s.seconds)
        del report  # not kept across repeats, so the peak is one run's
    if totals:
        out["segmentation"], out["sections"] = min(totals), sections
    peaks.stop()
    out["loadavg"] += [round(x, 2) for x in os.getloadavg()]
    out["ru_maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out["peaks"] = peaks.peaks if sampled else None
    return out


def run_one(folder: Path, engine: str, args: argparse.Namespace) -> dict[str, Any]:
    """Measure (folder, engine) in a fresh process; its result, or its error."""
    config = folder / f"segkit-bench-{engine}.yaml"
    lines = [f"threads: {args.threads}"]
    if engine == "spark":
        lines += ["engine: spark", "spark:", f"  master: {args.spark_master}", "  options:"]
        options = dict(o.split("=", 1) for o in args.spark_option)  # the last of a key wins
        lines += [f"    {k}: '{v}'" for k, v in options.items()]
    config.write_text("\n".join(lines) + "\n")
    spec = {"folder": str(folder), "config": str(config), "period": args.period}
    spec["repeat"] = args.repeat
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=args.timeout,
    )
    if done.returncode:
        # The exception's line (Spark may log after it), else the last line.
        lines = done.stderr.strip().splitlines() or ["failed"]
        raised = [line for line in lines if re.match(r"[\w.]+(Error|Exception)\b", line)]
        return {"error": (raised or lines)[-1]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _seconds(result: dict[str, Any], key: str) -> str:
    if key in result:
        return f"{result[key]:.2f}"
    return "failed" if f"{key}_error" in result or "error" in result else "n/a"


def _gb(value: float | None) -> str:
    return "n/a" if value is None else f"{value / GB:.2f}"


def table(results: list[tuple[int, str, dict[str, Any]]]) -> str:
    """Markdown: one row per (size, engine), then seconds per section, then the errors."""
    head = (
        "| rows | clients | engine | load (s) | summary (s) | segmentation (s) | "
        "peak Python (GB) | peak JVM (GB) | peak total (GB) | peak after load (GB) | "
        "load average |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    lines = [head]
    for size, engine, r in results:
        rows, clients = SIZES[size]
        peaks = r.get("peaks") or {}
        jvm = max((p["children"] for p in peaks.values()), default=None)
        jvm = jvm if engine == "spark" else None
        total = max((p["total"] for p in peaks.values()), default=None)
        after = peaks.get("after load", {}).get("total")
        loadavg = "-".join(f"{x:.1f}" for x in r.get("loadavg", [])[::3])
        lines.append(
            f"| {rows:,} | {clients:,} | {engine} | {_seconds(r, 'load')} | "
            f"{_seconds(r, 'summary')} | {_seconds(r, 'segmentation')} | "
            f"{_gb(r.get('ru_maxrss'))} | {_gb(jvm)} | {_gb(total)} | {_gb(after)} | {loadavg} |"
        )
    runs = [(size, engine, r) for size, engine, r in results if "sections" in r]
    if runs:
        lines += ["", "| section | " + " | ".join(f"{s} M {e} (s)" for s, e, _ in runs) + " |"]
        lines.append("|---|" + "---:|" * len(runs))
        for name in SEGMENTATIONS:
            cells = [
                f"{r['sections'][name]:.2f}" if name in r["sections"] else "-" for *_, r in runs
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    errors = [
        f"* {size} M {engine}, {key}: {r[key]}"
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
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB
    return f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100", help="millions of rows: 1, 10, 100")
    parser.add_argument("--engines", default="duckdb,spark")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--period", default="2025-Q3")
    parser.add_argument("--threads", type=int, default=1, help="DuckDB threads (config)")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument(
        "--spark-option",
        action="append",
        default=["spark.driver.memory=4g"],
        metavar="KEY=VALUE",
        help="a Spark setting of the session (repeatable; default spark.driver.memory=4g)",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows, clients = SIZES[size]
        started = time.perf_counter()
        folder = cached(rows, clients)
        made = json.loads((folder / "synth.json").read_text())["seconds"]
        print(f"{size} M: {folder} (generated in {made} s; ready in", end=" ", flush=True)
        print(f"{time.perf_counter() - started:.1f} s)", flush=True)
        for engine in args.engines.split(","):
            result = run_one(folder, engine, args)
            results.append((size, engine, result))
            print(f"  {engine}: {json.dumps(result)}", flush=True)
    print(f"\n{machine()}; period {args.period}, best of {args.repeat}, DuckDB threads")
    print(f"{args.threads}, Spark {args.spark_master} {' '.join(args.spark_option)}\n")
    print(table(results))


if __name__ == "__main__":
    main()
