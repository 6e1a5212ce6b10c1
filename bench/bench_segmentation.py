"""Benchmark of the segmentation sections of one period report.

Run: ``.venv/bin/python bench/bench_segmentation.py`` for the synthetic 10 M transaction /
1 M customer file (``bench/_synth.py``, written once to ``$TMPDIR/segkit-bench-scale-<rows>``,
about 10 s), or
``--demo`` for the default demo company (50,000 customers, about 1 M transactions).

The data is loaded first (not timed as segmentation: loading validates the contract); then the
segmentation sections registered among the built-ins run for one quarter through the engine
(``run_period``), best of ``--repeat`` runs, each on a fresh cache so nothing is shared between
runs. Prints a markdown table: seconds per section, their total, and the process's peak resident
memory (loading included, so an upper bound for the sections).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from _synth import cached

from segkit.api import open_data
from segkit.engine.plugins import PluginManager, Registered
from segkit.engine.run import run_period
from segkit.periods import Period, parse_period

#: The segmentation sections, timed when registered (tiers and scorecard by another module).
SEGMENTATIONS = ("rfm", "abc_xyz", "quadrants", "tiers", "scorecard", "migration", "stratification")


def bench(folder: Path, period: Period, repeat: int) -> tuple[dict[str, float], float, float]:
    """Best-of-``repeat`` seconds per segmentation section, load seconds, peak RSS in GiB."""
    started = time.perf_counter()
    dataset = open_data(folder)
    load = time.perf_counter() - started
    plugins = _Only(SEGMENTATIONS)
    best: dict[str, float] = {}
    for _ in range(repeat):
        report = run_period(dataset, period, plugins)
        for s in report.sections:
            if s.error:
                raise SystemExit(f"{s.name} failed: {s.error}")
            best[s.name] = min(best.get(s.name, np.inf), s.seconds)
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    return best, load, peak_gib


class _Only(PluginManager):
    """The built-in plugins, narrowed to the named analyses (so no other section warms a cache)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__(None, entry_points=False)
        self.names = names

    def ordered_analyses(self) -> list[Registered]:
        return [r for r in super().ordered_analyses() if r.analysis.name in self.names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="the default demo company instead")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--period", default="2025-Q3")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if args.demo:
        from segkit.data.demo import generate

        folder = Path(tempfile.gettempdir()) / "segkit-bench-seg-demo"
        if not (folder / "transactions.parquet").is_file():
            generate(folder)
        label = "demo (50,000 customers)"
    else:
        folder = cached(args.rows, args.customers)
        label = f"synthetic ({args.rows:,} rows, {args.customers:,} customers)"
    seconds, load, peak = bench(folder, parse_period(args.period), args.repeat)
    print(f"\n{label}, period {args.period}, load {load:.1f} s (not included)\n")
    print("| section | seconds |\n|---|---:|")
    for name, s in seconds.items():
        print(f"| {name} | {s:.2f} |")
    print(f"| **total** | **{sum(seconds.values()):.2f}** |")
    print(
        f"\nPeak resident memory of the process (loading included): {peak:.2f} GiB "
        f"({peak * 1024**3 / 1e9:.2f} GB)"
    )


if __name__ == "__main__":
    main()
