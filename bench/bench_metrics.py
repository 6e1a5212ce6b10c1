"""Benchmark of the relationship-metric analyses on one period of the default demo company.

Run: ``.venv/bin/python bench/bench_metrics.py [DATA_DIR] [PERIOD]``. Without DATA_DIR the default
demo (50,000 customers, seed 7) is generated into a temporary folder first (about 5 s, not
timed). PERIOD defaults to 2025-Q3.

Each repeat runs the six analyses in report order on a fresh context (so the as-of tables are
read again, as in a real run), with a ``tiers`` section of synthetic tiers present so that the
tier breakdowns are included; figures are built. Prints a markdown table: best and median of
5 repeats per analysis, and for the total.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from segkit.analyses.cohorts import Cohorts
from segkit.analyses.funnel import Funnel
from segkit.analyses.retention import Retention
from segkit.analyses.satisfaction import Satisfaction
from segkit.analyses.service import Service
from segkit.analyses.sources import Sources
from segkit.api import open_data
from segkit.data.demo import generate
from segkit.engine.analysis import Section
from segkit.engine.context import PeriodContext
from segkit.periods import parse_period

REPEATS = 5
ANALYSES = (Satisfaction(), Service(), Retention(), Funnel(), Sources(), Cohorts())


def main() -> None:
    period = parse_period(sys.argv[2] if len(sys.argv) > 2 else "2025-Q3")
    with tempfile.TemporaryDirectory() as tmp:
        if len(sys.argv) > 1:
            folder = Path(sys.argv[1])
        else:
            folder = Path(tmp) / "demo"
            generate(folder)
        started = time.perf_counter()
        dataset = open_data(folder)
        load_seconds = time.perf_counter() - started
        customers = dataset.engine.table("customers")
        ids = dataset.engine.execute(customers.select("customer_id"))["customer_id"]
        tiers = Section(
            "tiers",
            "Tiers",
            data={
                "clients": pd.DataFrame(
                    {
                        "customer_id": ids,
                        "tier": np.random.default_rng(0).choice(
                            ["basic", "medium", "vip"], len(ids)
                        ),
                    }
                )
            },
        )
        times: dict[str, list[float]] = {a.name: [] for a in ANALYSES}
        totals: list[float] = []
        for _ in range(REPEATS):
            cache: dict = {}
            total = 0.0
            for a in ANALYSES:
                settings = dataset.config.analysis_settings(a.name, a.defaults)
                ctx = PeriodContext(dataset, period, settings, {"tiers": tiers}, _cache=cache)
                t0 = time.perf_counter()
                section = a.run(ctx)
                dt = time.perf_counter() - t0
                assert section.error is None, section.error
                times[a.name].append(dt)
                total += dt
            totals.append(total)
    print(f"Data: {folder} ({len(ids):,} customers), period {period}; load {load_seconds:.1f} s")
    print()
    print("| analysis | best (s) | median (s) |")
    print("|---|---:|---:|")
    for name, ts in times.items():
        print(f"| {name} | {min(ts):.2f} | {statistics.median(ts):.2f} |")
    print(f"| **all six** | **{min(totals):.2f}** | **{statistics.median(totals):.2f}** |")


if __name__ == "__main__":
    main()
