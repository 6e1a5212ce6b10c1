"""Benchmark of the CLV fitters and summarize(), side by side with lifetimes.

Run: ``.venv/bin/python bench/bench_models.py`` (about two minutes). lifetimes is timed in a
separate virtualenv (default /tmp/ltvenv, override with LIFETIMES_PYTHON), because it is not a
segkit dependency; its rows are skipped if that interpreter is missing.

Prints a markdown table: best of 3 wall-clock runs for segkit, one run for lifetimes.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from segkit.data.summarize import summarize
from segkit.models import BetaGeo, GammaGamma, ParetoNBD

N_CUSTOMERS = 1_000_000
N_TRANSACTIONS = 10_000_000
LIFETIMES_PYTHON = os.environ.get("LIFETIMES_PYTHON", "/tmp/ltvenv/bin/python")
LIFETIMES_TIMEOUT = 300  # seconds per lifetimes job

# Run inside the lifetimes venv; reads the .npz written below, prints {label: seconds}.
LIFETIMES_SCRIPT = """
import json, sys, time
import numpy as np, pandas as pd
from lifetimes import BetaGeoFitter, ParetoNBDFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data
job, path = sys.argv[1], sys.argv[2]
d = np.load(path)
t0 = time.perf_counter()
if job == "bg_rows":
    BetaGeoFitter().fit(d["x"], d["t_x"], d["T"])
elif job == "bg_unique":
    BetaGeoFitter().fit(d["ux"], d["ut_x"], d["uT"], weights=d["uw"])
elif job == "pnbd_unique":
    ParetoNBDFitter().fit(d["ux"], d["ut_x"], d["uT"], weights=d["uw"])
elif job == "gg_rows":
    rep = d["x"] > 0
    GammaGammaFitter().fit(d["x"][rep], d["m"][rep])
elif job == "summary":
    tx = pd.DataFrame({"customer_id": d["cust"], "date": pd.to_datetime(d["day"], unit="D"),
                       "amount": d["amount"]})
    summary_data_from_transaction_data(tx, "customer_id", "date", "amount", freq="W",
                                       observation_period_end=pd.Timestamp(int(d["end"]), unit="D"))
print(json.dumps(time.perf_counter() - t0))
"""


def simulate_customers(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Pareto/NBD-type customers (CDNOW-like rates), times in whole days expressed in weeks."""
    big_t = rng.integers(1, 365, n).astype(float)
    lam = rng.gamma(0.55, 1 / 10.0, n) / 7  # per day
    mu = rng.gamma(0.6, 1 / 12.0, n) / 7
    active = np.minimum(rng.exponential(1 / mu), big_t)
    x = rng.poisson(lam * active).astype(float)
    t_x = np.where(x > 0, np.floor(active * rng.random(n) ** (1 / np.maximum(x, 1))), 0.0)
    # Gamma-Gamma spend: nu ~ Gamma(q=3.7, rate v=15); mean of x Gamma(p=6, nu) spends.
    nu = rng.gamma(3.7, 1 / 15.0, n)
    spend = np.where(x > 0, rng.gamma(6.0 * np.maximum(x, 1)) / (nu * np.maximum(x, 1)), 0.0)
    return {"x": x, "t_x": t_x / 7, "T": big_t / 7, "m": spend}


def simulate_transactions(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """n rows: 1M customers, two years of days, 5 % returns (negative amounts)."""
    amount = rng.gamma(2.0, 20.0, n).round(2)
    amount[rng.random(n) < 0.05] *= -0.5
    return pd.DataFrame(
        {
            "customer_id": rng.integers(0, 1_000_000, n),
            "date": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 730, n), "D"),
            "amount": amount,
        }
    )


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def lifetimes_time(job: str, path: str) -> float | None:
    if not Path(LIFETIMES_PYTHON).exists():
        return None
    try:
        out = subprocess.run(
            [LIFETIMES_PYTHON, "-c", LIFETIMES_SCRIPT, job, path],
            capture_output=True,
            text=True,
            timeout=LIFETIMES_TIMEOUT,
            check=True,
        )
    except (subprocess.TimeoutExpired, subprocess.CalledProcessError) as err:
        print(f"lifetimes job {job} failed: {type(err).__name__}")
        return None
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    rng = np.random.default_rng(2024)
    c = simulate_customers(rng, N_CUSTOMERS)
    tx = simulate_transactions(rng, N_TRANSACTIONS)
    rows = np.unique(np.column_stack([c["x"], c["t_x"], c["T"]]), axis=0, return_counts=True)
    unique, counts = rows
    rep = c["x"] > 0

    results: list[tuple[str, float, float | None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "data.npz")
        np.savez(
            path,
            **c,
            ux=unique[:, 0],
            ut_x=unique[:, 1],
            uT=unique[:, 2],
            uw=counts.astype(float),
            cust=tx["customer_id"].to_numpy(),
            day=(tx["date"] - pd.Timestamp(0)).dt.days.to_numpy(),
            amount=tx["amount"].to_numpy(),
            end=np.int64((pd.Timestamp("2025-01-01") - pd.Timestamp(0)).days - 1),
        )
        results.append(
            (
                f"BG/NBD fit, {N_CUSTOMERS:,} customers ({len(unique):,} unique rows)",
                best_of(lambda: BetaGeo().fit(c["x"], c["t_x"], c["T"])),
                lifetimes_time("bg_rows", path),
            )
        )
        results.append(
            (
                "BG/NBD fit, same, lifetimes given the unique rows + weights",
                best_of(lambda: BetaGeo().fit(c["x"], c["t_x"], c["T"])),
                lifetimes_time("bg_unique", path),
            )
        )
        results.append(
            (
                "Pareto/NBD fit, same (lifetimes given the unique rows + weights)",
                best_of(lambda: ParetoNBD().fit(c["x"], c["t_x"], c["T"])),
                lifetimes_time("pnbd_unique", path),
            )
        )
        results.append(
            (
                f"Gamma-Gamma fit, {int(rep.sum()):,} repeat customers",
                best_of(lambda: GammaGamma().fit(c["x"], c["m"])),
                lifetimes_time("gg_rows", path),
            )
        )
        results.append(
            (
                f"summarize, {N_TRANSACTIONS:,} transactions (int ids)",
                best_of(lambda: summarize(tx, as_of="2025-01-01")),
                lifetimes_time("summary", path),
            )
        )
    tx["customer_id"] = tx["customer_id"].astype(str).astype("string[pyarrow]")
    results.append(
        (
            f"summarize, {N_TRANSACTIONS:,} transactions (string ids, pyarrow)",
            best_of(lambda: summarize(tx, as_of="2025-01-01")),
            None,
        )
    )

    print("| task | segkit (s) | lifetimes (s) | lifetimes / segkit |")
    print("|---|---:|---:|---:|")
    for label, ours, theirs in results:
        other = "n/a" if theirs is None else f"{theirs:.2f}"
        ratio = "n/a" if theirs is None else f"{theirs / ours:.0f}x"
        print(f"| {label} | {ours:.2f} | {other} | {ratio} |")


if __name__ == "__main__":
    main()
