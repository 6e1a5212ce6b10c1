"""Synthetic customer data for the benchmarks, written by DuckDB straight to Parquet.

:func:`cached` gives a folder with ``transactions``, ``customers`` and ``surveys`` for
``customers`` clients and ``rows`` transaction rows, written once under
``$TMPDIR/segkit-bench-scale-<rows>`` and reused while its parameters match. Nothing passes
through pandas or numpy, so 100 M rows take a couple of minutes and a few GB of memory (DuckDB
spills to the folder beyond ``memory_limit``).

Random numbers are hashes of (row or client number, stream), so the files are the same whatever
the number of threads.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

#: Bumped when the generator changes, so cached folders are written again.
VERSION = 1
DAY0 = "2023-01-01"
DAYS = 3 * 365
REGIONS = ("north", "south", "east", "west", "central")
SOURCES = ("search", "social", "referral", "email", "partner", "events")
BANDS = ("low", "lower-middle", "middle", "upper-middle", "high")
INDUSTRIES = ("retail", "it", "manufacturing", "services", "finance", "health")


def cached(rows: int, customers: int, seed: int = 1) -> Path:
    """The folder for these parameters, generated first unless a complete one is there.

    ``$TMPDIR/segkit-bench-scale-<rows>`` with a tenth as many clients as rows, else
    ``...-<rows>-<customers>``.
    """
    name = f"segkit-bench-scale-{rows}" + ("" if customers * 10 == rows else f"-{customers}")
    folder = Path(tempfile.gettempdir()) / name
    params = {"version": VERSION, "rows": rows, "customers": customers, "seed": seed}
    manifest = folder / "synth.json"
    if manifest.is_file() and json.loads(manifest.read_text())["params"] == params:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    synthetic(folder, rows, customers, seed)
    seconds = round(time.perf_counter() - started, 1)
    manifest.write_text(json.dumps({"params": params, "seconds": seconds}))
    return folder


def synthetic(
    folder: Path, rows: int, customers: int, seed: int = 1, memory_limit: str = "4GB"
) -> None:
    """Write transactions, customers and surveys for ``customers`` clients and ``rows`` rows.

    Heavy-tailed purchase rates (LogNormal, sigma 1.2): each row goes to a client drawn with
    probability proportional to its rate (so the counts are multinomial); each client is active
    from a uniform signup day (up to a year before the first day, at least 30 days before the
    last) and a row's day is uniform over the client's active days, at a uniform time between
    08:00 and 20:00; amounts LogNormal(4, 1) rounded to cents, 3 % of rows are returns (negative),
    margin a uniform 10-60 % of the amount; one order per row. Rows are in date order (as an
    export would be), order ids are not. Clients have a region, source, income band and
    industry drawn uniformly and Poisson(0.3) referrals. ``rows // 20`` surveys, each of the
    client of a uniformly drawn transaction row, on a uniform day, NPS 0-10, CSAT 1-5.
    Ids are integers (the loader reads ids as text).
    """
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{folder / '.spill'}'")
    con.execute("SET enable_progress_bar = false")

    def uniform(key: str, stream: int) -> str:
        """SQL for a uniform number in (0, 1), one per value of ``key`` and ``stream``."""
        bits = f"hash({key} * 64 + {stream}, {seed}) >> 11"
        return f"(({bits})::DOUBLE + 0.5) / {2.0**53}"

    def normal(key: str, stream: int) -> str:
        """SQL for a standard normal number (Box-Muller on streams ``stream``, ``stream + 1``)."""
        u1, u2 = uniform(key, stream), uniform(key, stream + 1)
        return f"(sqrt(-2 * ln({u1})) * cos(2 * pi() * {u2}))"

    def pick(values: tuple[str, ...], stream: int) -> str:
        listed = ", ".join(f"'{v}'" for v in values)
        return f"[{listed}][1 + floor({uniform('id', stream)} * {len(values)})::BIGINT]"

    # Clients: rate, signup day, and the slice [lo, hi) of the cumulative rate they own.
    con.execute(f"""
        CREATE TEMP TABLE clients AS
        SELECT id, signup, coalesce(lag(hi) OVER (ORDER BY id), 0) AS lo, hi
        FROM (
            SELECT id, signup, sum(rate) OVER (ORDER BY id ROWS UNBOUNDED PRECEDING) AS hi
            FROM (
                SELECT range AS id, exp(1.2 * {normal("range", 0)}) AS rate,
                       -365 + floor({uniform("range", 2)} * {DAYS - 30 + 365})::BIGINT AS signup
                FROM range({customers})
            )
        )
    """)
    row = con.execute("SELECT max(hi) FROM clients").fetchone()
    assert row is not None
    total = row[0]
    # A row draws x uniform in [0, total) and belongs to the client whose slice holds x. To find
    # it with an equi-join, [0, total) is cut into one bucket per client and each client listed
    # under every bucket its slice touches; the last slice is open-ended against rounding.
    buckets = customers
    bucket = f"least(floor({{x}} / {total} * {buckets})::BIGINT, {buckets - 1})"
    con.execute(f"""
        CREATE TEMP TABLE slices AS
        SELECT unnest(range({bucket.format(x="lo")}, {bucket.format(x="hi")} + 1)) AS bucket,
               id, greatest(signup, 0) AS start, lo,
               CASE WHEN id = {customers - 1} THEN 'infinity'::DOUBLE ELSE hi END AS hi
        FROM clients
    """)
    amount = (
        f"round(exp(4 + {normal('i', 10)}), 2)"
        f" * CASE WHEN {uniform('i', 12)} < 0.03 THEN -1 ELSE 1 END"
    )
    seconds = (
        f"(start + floor({uniform('i', 13)} * ({DAYS} - start))::BIGINT) * 86400"
        f" + 28800 + floor({uniform('i', 14)} * 43200)::BIGINT"
    )
    con.execute(f"""
        COPY (
            SELECT customer_id, date, amount, order_id,
                   round(amount * (0.1 + 0.5 * share), 2) AS margin
            FROM (
                SELECT s.id AS customer_id, r.i AS order_id,
                       TIMESTAMP '{DAY0}' + to_seconds({seconds}) AS date,
                       {amount} AS amount, {uniform("i", 15)} AS share
                FROM (SELECT range AS i, {uniform("range", 4)} * {total} AS x
                      FROM range({rows})) r
                JOIN slices s
                  ON s.bucket = {bucket.format(x="r.x")} AND r.x >= s.lo AND r.x < s.hi
            )
            ORDER BY date, order_id
        ) TO '{folder / "transactions.parquet"}' (FORMAT parquet)
    """)
    written = con.execute(
        f"SELECT count(*) FROM read_parquet('{folder / 'transactions.parquet'}')"
    ).fetchone()
    assert written is not None and written[0] == rows, (written, rows)
    # Poisson(0.3) referrals by inverse CDF (P(k > 9) is about 1e-13).
    cdf = [sum(math.exp(-0.3) * 0.3**j / math.factorial(j) for j in range(k + 1)) for k in range(9)]
    referrals = " + ".join(f"({uniform('id', 9)} > {p!r})::BIGINT" for p in cdf)
    con.execute(f"""
        COPY (
            SELECT id AS customer_id,
                   TIMESTAMP '{DAY0}' + to_days(signup::INTEGER) AS signup_date,
                   {pick(REGIONS, 5)} AS region, {pick(SOURCES, 6)} AS acquisition_source,
                   {pick(BANDS, 7)} AS income_band, {pick(INDUSTRIES, 8)} AS industry,
                   {referrals} AS referrals
            FROM clients ORDER BY id
        ) TO '{folder / "customers.parquet"}' (FORMAT parquet)
    """)
    con.execute(f"""
        COPY (
            SELECT t.customer_id,
                   TIMESTAMP '{DAY0}' + to_days(floor({uniform("j", 21)} * {DAYS})::INTEGER)
                       AS date,
                   floor({uniform("j", 22)} * 11) AS nps,
                   1 + floor({uniform("j", 23)} * 5) AS csat
            FROM (SELECT range AS j, floor({uniform("range", 20)} * {rows})::BIGINT AS pick
                  FROM range({rows // 20})) s
            JOIN read_parquet('{folder / "transactions.parquet"}') t ON t.order_id = s.pick
            ORDER BY j
        ) TO '{folder / "surveys.parquet"}' (FORMAT parquet)
    """)
    con.close()
    shutil.rmtree(folder / ".spill", ignore_errors=True)
