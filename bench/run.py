"""Foundation benchmark: the demo generator, loading, and period reports, end to end.

Each step runs as its own process, as a user would run it, and is measured for wall time and
peak resident memory (the largest process of the step, kernels included).

    .venv/bin/python bench/run.py [--customers 50000] [--repeat 3]

Prints a Markdown table for bench/README.md. Timings are medians over ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SEGKIT = [sys.executable, "-c", "from segkit.cli import main; main()"]


def measure(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command, run in a fresh child process."""
    probe = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run(json.loads(sys.argv[1]), capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t\n"
        "if r.returncode: sys.exit(r.stderr[-2000:])\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps([wall, rss]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(args)], capture_output=True, text=True, check=True
    )
    wall, rss = json.loads(out.stdout)
    return wall, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--period", default="2025-Q4")
    opts = parser.parse_args()
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data, reports = Path(tmp) / "demo", Path(tmp) / "reports"
        steps = [
            (
                "segkit demo",
                [*SEGKIT, "demo", "--out", str(data), "--customers", str(opts.customers)],
            ),
            (
                "segkit validate (load + validate every table)",
                [*SEGKIT, "validate", "--data", str(data)],
            ),
            (
                f"segkit report, one period ({opts.period})",
                [
                    *SEGKIT,
                    "report",
                    "--data",
                    str(data),
                    "--period",
                    opts.period,
                    "--out",
                    str(reports),
                    "--force",
                ],
            ),
        ]
        for name, args in steps:
            runs = [measure(args) for _ in range(opts.repeat)]
            rows.append((name, statistics.median(r[0] for r in runs), max(r[1] for r in runs)))
        record = json.loads((reports / opts.period / "run.json").read_text())
        all_runs = measure(
            [
                *SEGKIT,
                "report",
                "--data",
                str(data),
                "--all",
                "--jobs",
                "2",
                "--out",
                str(reports),
                "--force",
            ]
        )
        rows.append(("segkit report --all --jobs 2 (every quarter)", *all_runs))
    print(
        f"Machine: {os.cpu_count()} cores; {opts.customers:,} customers; "
        f"median of {opts.repeat} runs (the --all row: one run).\n"
    )
    print("| step | wall (s) | peak memory (MB) |\n|---|---:|---:|")
    for name, wall, rss in rows:
        print(f"| {name} | {wall:.1f} | {rss:,.0f} |")
    split = ", ".join(f"{k} {v:.1f} s" for k, v in record["timings"].items())
    print(f"\nOne period's report, split (last run): {split}.")


if __name__ == "__main__":
    main()
