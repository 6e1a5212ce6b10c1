"""DuckDB results in pandas: ``duckdb_frame`` against DuckDB's own ``df()``, the reference."""

from __future__ import annotations

import warnings

import duckdb
import pandas as pd
import pytest

from segkit.data.engine import _shared_texts, duckdb_frame

#: One column of each type the engine can return, each with and without NULLs.
_COLUMNS = {
    "bigint": "i",
    "integer": "i::INTEGER",
    "smallint": "i::SMALLINT",
    "ubigint": "i::UBIGINT",
    "hugeint": "i::HUGEINT",
    "double": "i / 7",
    "float": "(i / 7)::FLOAT",
    "decimal": "(i * 1.5)::DECIMAL(18, 3)",
    "decimal38": "(i * 1.5)::DECIMAL(38, 6)",
    "boolean": "i % 2 = 0",
    "varchar": "'c' || i",
    "date": "DATE '2024-02-27' + i::INTEGER",
    "timestamp": "TIMESTAMP '2024-03-31 01:30:00' + to_hours(i)",
    "timestamp_ns": "TIMESTAMP_NS '2024-01-01 00:00:00.000000001'",
    "timestamp_s": "TIMESTAMP_S '2024-01-01 10:00:00'",
    "interval": "to_days(i::INTEGER)",
    "tinyint": "i::TINYINT",
    "utinyint": "i::UTINYINT",
    # Types that ``df()`` converts beyond NumPy's arrays, which go through it.
    "timestamptz": "TIMESTAMPTZ '2024-03-31 00:30:00+00' + to_hours(i)",
    "time": "TIME '10:00:00'",
    "list": "[i, i + 1]",
    "struct": "{'a': i}",
    "blob": "'a'::BLOB",
    "enum": "(CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END)::mood",
}


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Europe/Berlin'")
    con.execute("CREATE TYPE mood AS ENUM ('a', 'b')")
    return con


@pytest.mark.parametrize("name", list(_COLUMNS))
@pytest.mark.parametrize("nulls", [False, True])
@pytest.mark.parametrize("texts", [0, 2], ids=["numpy", "arrow"])
def test_each_type_comes_as_df_gives_it(
    con: duckdb.DuckDBPyConnection, name: str, nulls: bool, texts: int
) -> None:
    value = _COLUMNS[name]
    if nulls:
        value = f"CASE WHEN i % 3 = 0 THEN NULL ELSE {value} END"
    # With two more text columns the result takes the Arrow route.
    more = "".join(f", 't' || (i % 2) AS text{k}" for k in range(texts))
    query = f"SELECT i AS id, {value} AS {name}{more} FROM range(7) t(i)"
    expected = con.sql(query).df()
    got = duckdb_frame(con.sql(query), con)
    with warnings.catch_warnings():
        # Fail where pandas only warns (None against pd.NA for a missing value).
        warnings.simplefilter("error")
        pd.testing.assert_frame_equal(got, expected)
    # The reference really has the NULLs, in pandas' nullable types where it uses them.
    assert got[name].isna().sum() == (3 if nulls else 0)


def test_all_null_and_empty_results(con: duckdb.DuckDBPyConnection) -> None:
    for query in (
        "SELECT NULL AS a, NULL::INTEGER AS b, NULL::VARCHAR AS c FROM range(3)",
        "SELECT 1 AS a, 'x' AS b, NULL::DOUBLE AS c FROM range(0)",
    ):
        pd.testing.assert_frame_equal(duckdb_frame(con.sql(query), con), con.sql(query).df())


def test_columns_are_not_consolidated(con: duckdb.DuckDBPyConnection) -> None:
    frame = duckdb_frame(con.sql("SELECT i / 2 AS a, i / 3 AS b FROM range(5) t(i)"), con)
    assert frame._mgr.nblocks == 2  # one array per column; df() makes one 2-D block


def test_repeated_texts_are_one_string_each(con: duckdb.DuckDBPyConnection) -> None:
    query = (
        "SELECT 'c' || i AS customer_id, CASE WHEN i % 2 = 0 THEN 'north' ELSE 'south' END"
        " AS region FROM range(9) t(i)"
    )
    frame = duckdb_frame(con.sql(query), con)
    assert frame["region"].tolist() == ["north", "south"] * 4 + ["north"]
    assert len({id(v) for v in frame["region"]}) == 2


def test_spark_results_share_repeated_texts_too() -> None:
    region = ["".join(["no", "rth"]) for _ in range(15)] + [None] + ["south"] * 4
    frame = pd.DataFrame({"customer_id": [f"c{i}" for i in range(20)], "region": region})
    out = _shared_texts(frame.copy())
    assert out["region"].tolist() == region and out["region"].dtype == object
    assert out.loc[0, "region"] is out.loc[14, "region"]  # built apart, now one object
    assert out.loc[15, "region"] is None
    assert out["customer_id"].tolist() == frame["customer_id"].tolist()  # all distinct: as is


def test_distinct_texts_are_kept_as_they_are(con: duckdb.DuckDBPyConnection) -> None:
    # Ids are all distinct in the first 1,000 rows, so they are not hashed; a region repeats
    # from the start, so it is shared. Values as df() gives them either way.
    query = (
        "SELECT 'c' || i AS customer_id, CASE WHEN i % 2 = 0 THEN 'north' END AS region"
        " FROM range(3000) t(i)"
    )
    frame = duckdb_frame(con.sql(query), con)
    pd.testing.assert_frame_equal(frame, con.sql(query).df())
    assert len({id(v) for v in frame["region"]}) == 2  # 'north' and None
