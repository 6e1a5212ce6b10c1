"""The Spark engine: the same report as DuckDB's on the same data, and the loader's errors.

The demo company is loaded with DuckDB, its typed tables are written to Parquet, and one
period is run on both engines; every section must agree (numbers to 1e-9 relative, since
Spark adds floats in another order; texts exactly). Needs Java 17 (``make java``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from segkit.api import open_data, plugin_manager
from segkit.config import Config, parse_config
from segkit.data.demo import generate
from segkit.data.load import Dataset, load_dataset
from segkit.data.spark import load_spark_dataset, spark_session
from segkit.engine.analysis import Section
from segkit.engine.plugins import PluginManager
from segkit.engine.run import PeriodReport, run_period
from segkit.errors import DataError, SegkitError
from segkit.periods import parse_period

pytestmark = pytest.mark.spark

PERIOD = parse_period("2025-Q3")
SECTIONS = [r.analysis.name for r in PluginManager(None).ordered_analyses()]
RTOL = 1e-9


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    """One local Spark session (two cores) for the module: starting one takes seconds."""
    session = spark_session(parse_config({"engine": "spark"}))
    yield session
    session.stop()


def _to_parquet(dataset: Dataset, out: Path) -> None:
    """Write the typed tables, with only the columns the data provides, as Parquet."""
    out.mkdir(parents=True)
    con = dataset.duckdb("writing Parquet")
    for name in dataset.tables:
        columns = ", ".join(f'"{c}"' for c in dataset.columns(name))
        con.execute(f"COPY (SELECT {columns} FROM {name}) TO '{out / name}.parquet'")


@pytest.fixture(scope="module")
def reports(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, PeriodReport]:
    """The period's report from DuckDB and from Spark, on the same 2,000-customer demo."""
    root = tmp_path_factory.mktemp("spark")
    generate(root / "csv", customers=2000, seed=11)
    duck = load_dataset(root / "csv", Config())
    _to_parquet(duck, root / "parquet")
    (root / "parquet" / "segkit.yaml").write_text("engine: spark\nspark:\n  master: local[2]\n")
    started = time.perf_counter()
    on_spark = open_data(root / "parquet")  # through the config's engine, as the CLI does
    loaded = time.perf_counter()
    out = {
        "duckdb": run_period(duck, PERIOD, plugin_manager(duck)),
        "spark": run_period(on_spark, PERIOD, plugin_manager(on_spark)),
    }
    ran = time.perf_counter()
    print(f"Spark: load {loaded - started:.1f} s, run {ran - loaded:.1f} s")
    for s in out["spark"].sections:
        print(f"  {s.name:<16} {s.seconds:6.1f} s{'  ERROR' if s.error else ''}")
    return out


def test_spark_dataset_matches_duckdb(reports: dict[str, PeriodReport]) -> None:
    duck, spark = reports["duckdb"], reports["spark"]
    assert [s.name for s in spark.sections] == [s.name for s in duck.sections]
    assert spark.data_through == duck.data_through


@pytest.mark.parametrize("name", SECTIONS)
def test_section_matches_duckdb(reports: dict[str, PeriodReport], name: str) -> None:
    duck, spark = reports["duckdb"].section(name), reports["spark"].section(name)
    assert duck.error is None, duck.error
    assert spark.error is None, spark.error
    _same_section(duck, spark)


def _same_section(duck: Section, spark: Section) -> None:
    assert spark.summary == duck.summary
    assert spark.notes == duck.notes
    assert [m.key for m in spark.metrics] == [m.key for m in duck.metrics]
    for a, b in zip(duck.metrics, spark.metrics, strict=True):
        for attr in ("value", "previous"):
            _same_value(getattr(a, attr), getattr(b, attr), f"{a.key}.{attr}")
    assert list(spark.tables) == list(duck.tables)
    for key, table in duck.tables.items():
        _same_frame(table.frame, spark.tables[key].frame, key)


def _same_value(a: Any, b: Any, where: str) -> None:
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-12) or (
            math.isnan(a) and math.isnan(b)
        ), f"{where}: {a!r} != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _same_frame(a: pd.DataFrame, b: pd.DataFrame, where: str) -> None:
    assert list(b.columns) == list(a.columns), where
    assert list(b.index) == list(a.index), where
    for column in a.columns:
        x, y = a[column], b[column]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            np.testing.assert_allclose(
                y.to_numpy(float), x.to_numpy(float), rtol=RTOL, atol=1e-12, err_msg=where
            )
        else:
            assert x.isna().tolist() == y.isna().tolist(), f"{where}.{column}: empty cells"
            assert x[x.notna()].tolist() == y[y.notna()].tolist(), f"{where}.{column}"


# The loader's errors, on small hand-made tables.


def _write(folder: Path, **tables: pd.DataFrame) -> Path:
    folder.mkdir()
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


SPARK = parse_config({"engine": "spark"})
TX = pd.DataFrame(
    {
        "customer_id": ["A", "B", "B"],
        "date": ["2025-01-02", "2025-02-03 10:00:00", "2025-03-04T10:00:00+00:00"],
        "amount": [10.0, 20.0, -5.0],
    }
)


def test_missing_required_column_names_it(spark: SparkSession, tmp_path: Path) -> None:
    folder = _write(tmp_path / "d", transactions=TX.drop(columns="amount"))
    with pytest.raises(DataError, match=r"missing required column\(s\) amount") as err:
        load_spark_dataset(folder, SPARK, spark)
    assert "transactions.parquet" in str(err.value)
    assert "columns: {transactions: {your_name: amount}}" in str(err.value)


def test_csv_needs_converting_under_spark(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    TX.to_csv(tmp_path / "d" / "transactions.csv", index=False)
    with pytest.raises(DataError, match="is not Parquet") as err:
        load_spark_dataset(tmp_path / "d", SPARK, spark)
    assert "engine: duckdb" in str(err.value)


def test_values_that_fail_to_convert_are_counted(spark: SparkSession, tmp_path: Path) -> None:
    bad = TX.assign(amount=["10", "12,50", "n/a"])
    folder = _write(tmp_path / "d", transactions=bad)
    with pytest.raises(DataError, match=r"column 'amount': not a number \(2 rows\)") as err:
        load_spark_dataset(folder, SPARK, spark)
    assert err.value.examples == ["12,50", "n/a"]


def test_empty_required_values_are_counted(spark: SparkSession, tmp_path: Path) -> None:
    folder = _write(tmp_path / "d", transactions=TX.assign(customer_id=["A", " ", None]))
    with pytest.raises(DataError, match=r"column 'customer_id': is empty \(2 rows\)"):
        load_spark_dataset(folder, SPARK, spark)


def test_catalog_tables_and_local_times(spark: SparkSession, tmp_path: Path) -> None:
    """A Spark table by name; instants and offsets become local times of the config's zone,
    times without an offset are local already; margin is derived from cost."""
    spark.createDataFrame(
        pd.DataFrame(
            {
                "Client": ["A", "B"],
                "joined": pd.to_datetime(["2025-01-01 10:00", "2025-07-01 10:00"], utc=True),
            }
        )
    ).createOrReplaceTempView("crm_customers")
    folder = _write(tmp_path / "d", transactions=TX.assign(cost=[4.0, 5.0, -1.0]))
    config = parse_config(
        {
            "engine": "spark",
            "timezone": "Europe/Kyiv",
            "columns": {"customers": {"Client": "customer_id", "joined": "signup_date"}},
            "spark": {"tables": {"customers": "crm_customers"}},
        }
    )
    ds = load_spark_dataset(folder, config, spark)
    assert ds.con is None and ds.engine.name == "spark"
    assert ds.provided["transactions"] == ("customer_id", "date", "amount", "cost", "margin")
    tx = ds.engine.execute(ds.engine.table("transactions").order_by("date"))
    assert tx["date"].astype(str).tolist() == [
        "2025-01-02 00:00:00",
        "2025-02-03 10:00:00",
        "2025-03-04 12:00:00",  # 10:00 UTC is noon in Kyiv (winter time, +02:00)
    ]
    assert tx["margin"].tolist() == [6.0, 15.0, -4.0]
    assert tx["order_id"].isna().all()
    customers = ds.engine.execute(ds.engine.table("customers").order_by("signup_date"))
    assert customers["signup_date"].astype(str).tolist() == [
        "2025-01-01 12:00:00",
        "2025-07-01 13:00:00",  # summer time, +03:00
    ]
    assert ds.files["customers"] == Path("Spark table crm_customers")
    assert ds.count("customers") == 2


def test_parquet_folder_and_fingerprint(spark: SparkSession, tmp_path: Path) -> None:
    """A folder of Parquet files is one table; same files, same fingerprint as DuckDB's."""
    folder = _write(tmp_path / "d", transactions=TX)
    duck = load_dataset(folder, Config())
    assert load_spark_dataset(folder, SPARK, spark).fingerprint == duck.fingerprint
    parts = tmp_path / "parts"
    (parts / "transactions.parquet").mkdir(parents=True)
    for i in range(2):
        TX.iloc[i::2].to_parquet(parts / "transactions.parquet" / f"part-{i}.parquet")
    assert load_spark_dataset(parts, SPARK, spark).count("transactions") == 3


def test_duckdb_only_tasks_say_so(spark: SparkSession, tmp_path: Path) -> None:
    ds = load_spark_dataset(_write(tmp_path / "d", transactions=TX), SPARK, spark)
    with pytest.raises(SegkitError, match="the cache needs the DuckDB engine"):
        ds.duckdb("the cache")
