"""Prefetched engine work (PeriodContext.prefetch) and queries from several threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from segkit.api import open_data
from segkit.data.load import Dataset
from segkit.engine.context import PeriodContext
from segkit.periods import parse_period

TRANSACTIONS = "customer_id,date,amount\n" + "".join(
    f"c{i % 50},2024-0{1 + i % 9}-1{i % 10} 10:00,{i + 1}\n" for i in range(400)
)


@pytest.fixture
def dataset(tmp_path: Path) -> Dataset:
    (tmp_path / "transactions.csv").write_text(TRANSACTIONS)
    (tmp_path / "segkit.yaml").write_text("timezone: America/New_York\n")
    return open_data(tmp_path)


def context(dataset: Dataset, background: ThreadPoolExecutor | None) -> PeriodContext:
    return PeriodContext(dataset, parse_period("2024-Q3"), {}, background=background)


def test_without_a_background_executor_memo_computes(dataset: Dataset) -> None:
    ctx = context(dataset, None)
    ctx.prefetch(("k",), lambda: 1 / 0)  # nothing runs
    assert ctx.memo(("k",), lambda: 7) == 7


def test_a_prefetch_waiting_for_a_later_one_does_not_deadlock(dataset: Dataset) -> None:
    # One background thread: the first job needs the second, which is queued behind it.
    pool = ThreadPoolExecutor(1)
    ctx = context(dataset, pool)
    started, queued = threading.Event(), threading.Event()

    def first() -> int:
        started.set()
        queued.wait(5)
        return ctx.memo(("second",), lambda: 2) + 1

    try:
        ctx.prefetch(("first",), first)
        started.wait(5)
        ctx.prefetch(("second",), lambda: 2)
        second = ctx._cache[("second",)]
        queued.set()
        assert pool.submit(lambda: ctx.memo(("first",), first)).result(timeout=10) == 3
    finally:  # on a deadlock, free the waiting thread so that the suite can go on
        second.cancel()
        pool.shutdown(cancel_futures=True)


def test_a_prefetch_error_is_raised_where_the_result_is_used(dataset: Dataset) -> None:
    with ThreadPoolExecutor(1) as pool:
        ctx = context(dataset, pool)
        started = threading.Event()

        def fails() -> int:
            started.set()
            raise ValueError("bad data")

        ctx.prefetch(("k",), fails)
        started.wait(5)
        with pytest.raises(ValueError, match="bad data"):
            ctx.memo(("k",), lambda: 0)


def test_queries_from_another_thread_run_beside_the_main_one(dataset: Dataset) -> None:
    tx = dataset.as_of("transactions", parse_period("2024-Q3").end)
    expr = tx.group_by("customer_id").aggregate(total=tx.amount.sum()).order_by("customer_id")
    expected = dataset.engine.execute(expr)
    with ThreadPoolExecutor(2) as pool:
        frames = list(pool.map(lambda _: dataset.engine.execute(expr), range(4)))
    for frame in frames:
        assert frame.equals(expected)
    assert expected["total"].sum() == sum(range(1, 401))


def test_the_session_keeps_the_configured_time_zone(dataset: Dataset) -> None:
    # Ibis sets a connection's session to UTC; the loader's zone is put back.
    assert dataset.con is not None
    zone = dataset.con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0]
    assert zone == "America/New_York"
