"""Benchmark of the segmentation sections of one period report.

Run: ``.venv/bin/python bench/bench_segmentation.py`` for the synthetic 10 M transaction /
1 M customer file (written once to ``$TMPDIR/segkit-bench-seg-<rows>``, about a minute), or
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
import pyarrow as pa
import pyarrow.parquet as pq

from segkit.api import open_data
from segkit.engine.plugins import PluginManager, Registered
from segkit.engine.run import run_period
from segkit.periods import Period, parse_period

#: The segmentation sections, timed when registered (tiers and scorecard by another module).
SEGMENTATIONS = ("rfm", "abc_xyz", "quadrants", "tiers", "scorecard", "migration", "stratification")
DAY0 = np.datetime64("2023-01-01")
DAYS = 3 * 365
REGIONS = np.array(["north", "south", "east", "west", "central"])
SOURCES = np.array(["search", "social", "referral", "email", "partner", "events"])
BANDS = np.array(["low", "lower-middle", "middle", "upper-middle", "high"])
INDUSTRIES = np.array(["retail", "it", "manufacturing", "services", "finance", "health"])


def synthetic(folder: Path, rows: int, customers: int, seed: int = 1) -> None:
    """Write transactions, customers and surveys for ``customers`` clients and ``rows`` rows.

    Heavy-tailed purchase rates (LogNormal, sigma 1.2), each client active from a uniform
    signup day; amounts LogNormal(4, 1); 3 % of rows are returns. Ids are integers (the loader
    reads ids as text).
    """
    rng = np.random.default_rng(seed)
    rate = rng.lognormal(0.0, 1.2, customers)
    counts = rng.multinomial(rows, rate / rate.sum())
    cust = np.repeat(np.arange(customers), counts)
    signup = rng.integers(-365, DAYS - 30, customers)
    start = np.maximum(signup, 0)[cust]
    day = start + (rng.random(rows) * (DAYS - start)).astype(np.int64)
    seconds = day * 86400 + rng.integers(8 * 3600, 20 * 3600, rows)
    amount = np.round(rng.lognormal(4.0, 1.0, rows), 2)
    amount = np.where(rng.random(rows) < 0.03, -amount, amount)
    when = (DAY0.astype("datetime64[s]") + seconds).astype("datetime64[us]")
    pq.write_table(
        pa.table(
            {
                "customer_id": cust,
                "date": pa.array(when),
                "amount": amount,
                "order_id": np.arange(rows),
                "margin": np.round(amount * rng.uniform(0.1, 0.6, rows), 2),
            }
        ),
        folder / "transactions.parquet",
    )
    pick = lambda values: values[rng.integers(0, len(values), customers)]  # noqa: E731
    pq.write_table(
        pa.table(
            {
                "customer_id": np.arange(customers),
                "signup_date": pa.array((DAY0 + signup).astype("datetime64[us]")),
                "region": pick(REGIONS),
                "acquisition_source": pick(SOURCES),
                "income_band": pick(BANDS),
                "industry": pick(INDUSTRIES),
                "referrals": rng.poisson(0.3, customers),
            }
        ),
        folder / "customers.parquet",
    )
    n_surveys = rows // 20
    who = cust[rng.integers(0, rows, n_surveys)]
    pq.write_table(
        pa.table(
            {
                "customer_id": who,
                "date": pa.array(
                    (DAY0 + rng.integers(0, DAYS, n_surveys)).astype("datetime64[us]")
                ),
                "nps": rng.integers(0, 11, n_surveys).astype(float),
                "csat": rng.integers(1, 6, n_surveys).astype(float),
            }
        ),
        folder / "surveys.parquet",
    )


def bench(folder: Path, period: Period, repeat: int) -> tuple[dict[str, float], float, float]:
    """Best-of-``repeat`` seconds per segmentation section, load seconds, peak RSS in GB."""
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
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return best, load, peak_gb


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
        folder = Path(tempfile.gettempdir()) / f"segkit-bench-seg-{args.rows}"
        if not (folder / "transactions.parquet").is_file():
            folder.mkdir(parents=True, exist_ok=True)
            synthetic(folder, args.rows, args.customers)
        label = f"synthetic ({args.rows:,} rows, {args.customers:,} customers)"
    seconds, load, peak = bench(folder, parse_period(args.period), args.repeat)
    print(f"\n{label}, period {args.period}, load {load:.1f} s (not included)\n")
    print("| section | seconds |\n|---|---:|")
    for name, s in seconds.items():
        print(f"| {name} | {s:.2f} |")
    print(f"| **total** | **{sum(seconds.values()):.2f}** |")
    print(f"\nPeak resident memory of the process (loading included): {peak:.2f} GB")


if __name__ == "__main__":
    main()
