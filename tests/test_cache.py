"""The typed-table cache: same tables as a fresh load, invalidated by any change of input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from segkit.config import Config
from segkit.data.load import load_dataset

ROWS = "customer_id,date,amount,order_id\nA,2024-01-05,10.5,1\nB,2024-02-05,-2,\n"


def test_cached_load_equals_fresh_load(tmp_path: Path) -> None:
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    (data / "transactions.csv").write_text(ROWS)
    (data / "customers.csv").write_text("customer_id,region\nA,north\n")
    fresh = load_dataset(data, Config(), cache)
    assert not cache.exists()  # loading alone writes nothing
    fresh.store_cache(cache)
    assert len(list(cache.glob("*.duckdb"))) == 1
    cached = load_dataset(data, Config(), cache)
    for table in ("transactions", "customers"):
        expected = fresh.con.execute(f"SELECT * FROM {table}").df()
        pd.testing.assert_frame_equal(cached.con.execute(f"SELECT * FROM {table}").df(), expected)
        assert cached.columns(table) == fresh.columns(table)
    assert cached.columns("transactions") == ["customer_id", "date", "amount", "order_id"]
    assert cached.fingerprint == fresh.fingerprint


def test_changed_data_is_loaded_again_and_old_entry_dropped(tmp_path: Path) -> None:
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    (data / "transactions.csv").write_text(ROWS)
    load_dataset(data, Config(), cache).store_cache(cache)
    first = set(cache.glob("*.duckdb"))
    (data / "transactions.csv").write_text(ROWS.replace("10.5", "11.5"))
    again = load_dataset(data, Config(), cache)
    assert again.con.execute("SELECT max(amount) FROM transactions").fetchone() == (11.5,)
    again.store_cache(cache)
    second = set(cache.glob("*.duckdb"))
    assert len(second) == 1 and second != first


def test_a_damaged_cache_entry_falls_back_to_the_files(tmp_path: Path) -> None:
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    (data / "transactions.csv").write_text(ROWS)
    load_dataset(data, Config(), cache).store_cache(cache)
    (entry,) = cache.glob("*.duckdb")
    entry.write_bytes(b"not a database")
    ds = load_dataset(data, Config(), cache)
    assert ds.con.execute("SELECT count(*) FROM transactions").fetchone() == (2,)
