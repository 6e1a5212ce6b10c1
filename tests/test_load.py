"""Loading and validating data folders: good files load typed, bad files fail clearly."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from segkit.config import Config, parse_config
from segkit.data.load import load_dataset
from segkit.errors import DataError

HEADER = "customer_id,date,amount\n"


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load(folder: Path, config: Config | None = None):
    return load_dataset(folder, config or Config())


def error_of(folder: Path, config: Config | None = None) -> DataError:
    with pytest.raises(DataError) as info:
        load(folder, config)
    return info.value


def test_good_csv_is_typed_and_trimmed(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", HEADER + " A ,2024-01-05,10.5\nB,2024-02-05 13:30,-2\n")
    ds = load(tmp_path)
    df = ds.con.execute("SELECT * FROM transactions ORDER BY customer_id").df()
    assert df["customer_id"].tolist() == ["A", "B"]
    assert df["amount"].tolist() == [10.5, -2.0]
    assert df["date"].tolist() == [datetime(2024, 1, 5), datetime(2024, 2, 5, 13, 30)]


def test_parquet_is_read(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"customer_id": ["A"], "date": [pd.Timestamp("2024-01-05")], "amount": [3.0]}
    )
    frame.to_parquet(tmp_path / "transactions.parquet")
    ds = load(tmp_path)
    assert ds.date_range() == (datetime(2024, 1, 5).date(), datetime(2024, 1, 5).date())


def test_timestamps_with_offsets_are_converted_to_the_config_zone(tmp_path: Path) -> None:
    write(
        tmp_path,
        "transactions.csv",
        HEADER + "A,2024-03-31T23:30:00+00:00,1\nB,2024-03-31 23:30,1\n",
    )
    ds = load(tmp_path, parse_config({"timezone": "Europe/Kyiv"}))
    got = ds.con.execute("SELECT customer_id, date FROM transactions ORDER BY 1").fetchall()
    # 23:30 UTC on 31 March is 02:30 on 1 April in Kyiv (UTC+3 in summer time);
    # a time without offset is already local.
    assert got == [("A", datetime(2024, 4, 1, 2, 30)), ("B", datetime(2024, 3, 31, 23, 30))]


def test_column_mapping_from_config(tmp_path: Path) -> None:
    write(tmp_path, "sales.csv", "Client;Day;Total\nA;2024-01-05;7\n")
    config = parse_config(
        {
            "tables": {"transactions": "sales.csv"},
            "columns": {
                "transactions": {"Client": "customer_id", "Day": "date", "Total": "amount"}
            },
        }
    )
    ds = load(tmp_path, config)
    assert ds.con.execute("SELECT customer_id, amount FROM transactions").fetchall() == [("A", 7.0)]


def test_missing_folder(tmp_path: Path) -> None:
    err = error_of(tmp_path / "nope")
    assert "data folder not found" in str(err)


def test_no_transactions_file(tmp_path: Path) -> None:
    write(tmp_path, "customers.csv", "customer_id\nA\n")
    err = error_of(tmp_path)
    assert "no transactions file" in str(err) and "transactions.csv" in err.hint


def test_missing_column_names_file_and_what_to_do(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", "customer_id,day,amount\nA,2024-01-05,1\n")
    err = error_of(tmp_path)
    assert err.path == tmp_path / "transactions.csv"
    assert "missing required column(s) date" in str(err)
    assert "day" in err.hint and "segkit.yaml" in err.hint


def test_non_numeric_amount_names_lines_and_values(tmp_path: Path) -> None:
    write(
        tmp_path,
        "transactions.csv",
        HEADER + "A,2024-01-05,10\nB,2024-01-06,1 234\nC,2024-01-07,€5\nD,2024-01-08,3\n",
    )
    err = error_of(tmp_path)
    assert err.column == "amount"
    assert err.rows == [3, 4]  # file lines: the header is line 1
    assert err.examples == ["1 234", "€5"]
    assert err.n_bad == 2
    assert "currency" in err.hint


def test_unparseable_date(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", HEADER + "A,2024-01-05,1\nB,05/13/2024,2\n")
    err = error_of(tmp_path)
    assert (err.column, err.rows, err.examples) == ("date", [3], ["05/13/2024"])


def test_empty_required_value(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", HEADER + "A,2024-01-05,1\n,2024-01-06,2\n")
    err = error_of(tmp_path)
    assert (err.column, err.rows) == ("customer_id", [3])
    assert "is empty" in str(err)


def test_empty_file(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", "")
    assert "the file is empty" in str(error_of(tmp_path))


def test_header_only(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", HEADER)
    assert "header but no rows" in str(error_of(tmp_path))


def test_nan_and_infinity(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", HEADER + "A,2024-01-05,nan\nB,2024-01-05,inf\n")
    err = error_of(tmp_path)
    assert err.column == "amount" and err.rows == [2, 3]


def test_placeholder_dates_rejected(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", HEADER + "A,1899-12-31,1\nB,2024-01-01,1\n")
    err = error_of(tmp_path)
    assert err.column == "date" and err.rows == [2]


def test_survey_score_out_of_range(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", HEADER + "A,2024-01-05,1\n")
    write(tmp_path, "surveys.csv", "customer_id,date,nps,csat\nA,2024-01-06,11,\nA,2024-01-07,,4\n")
    err = error_of(tmp_path)
    assert (err.path.name, err.column, err.rows) == ("surveys.csv", "nps", [2])
    assert "maximum 10" in str(err)


def test_duplicate_customers(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", HEADER + "A,2024-01-05,1\n")
    write(tmp_path, "customers.csv", "customer_id,region\nA,north\nB,south\nA,west\n")
    err = error_of(tmp_path)
    assert err.path.name == "customers.csv" and err.rows == [2, 4]


def test_side_table_customer_unknown(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", HEADER + "A,2024-01-05,1\n")
    write(tmp_path, "surveys.csv", "customer_id,date,nps,csat\na,2024-01-06,9,\n")
    err = error_of(tmp_path)
    assert err.path.name == "surveys.csv" and err.examples == ["a (known as A)"]
    assert "case" in err.hint


def test_not_utf8(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", (HEADER + "Jos\xe9,2024-01-05,1\n").encode("latin-1"))
    err = error_of(tmp_path)
    assert err.path.name == "transactions.csv"
    assert "UTF-8" in str(err)


def test_unsupported_file_type(tmp_path: Path) -> None:
    write(tmp_path, "transactions.xlsx", b"PK\x03\x04 not really")
    err = error_of(tmp_path)
    assert "not supported" in str(err) and "CSV" in err.hint


def test_margin_derived_from_cost(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", "customer_id,date,amount,cost\nA,2024-01-05,10,6\n")
    ds = load(tmp_path)
    assert ds.con.execute("SELECT margin FROM transactions").fetchone() == (4.0,)


def test_as_of_blanks_later_dates(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", HEADER + "A,2024-01-05,1\n")
    write(
        tmp_path,
        "subscriptions.csv",
        "customer_id,plan,start_date,end_date,monthly_value\n"
        "A,pro,2023-01-01,2024-06-30,10\nA,basic,2024-05-01,,5\n",
    )
    ds = load(tmp_path)
    rows = ds.engine.execute(ds.as_of("subscriptions", datetime(2024, 4, 1).date()))
    # The later subscription is not known yet; the first one's end is in the future.
    assert rows["plan"].tolist() == ["pro"]
    assert rows["end_date"].isna().all()


def test_fingerprint_changes_with_content(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", HEADER + "A,2024-01-05,1\n")
    first = load(tmp_path).fingerprint
    assert load(tmp_path).fingerprint == first
    write(tmp_path, "transactions.csv", HEADER + "A,2024-01-05,2\n")
    assert load(tmp_path).fingerprint != first


# -- a DuckDB database as the source ----------------------------------------------------------
def _database(folder: Path) -> None:
    import duckdb

    with duckdb.connect(str(folder / "shop.duckdb")) as con:
        con.execute(
            "CREATE TABLE transactions AS SELECT * FROM (VALUES "
            "('A', TIMESTAMP '2024-01-05 10:00', 10.5), ('B', TIMESTAMP '2024-02-05', -2.0)) "
            "t(customer_id, date, amount)"
        )
        con.execute(
            "CREATE TABLE clients AS SELECT * FROM (VALUES ('A', 'North'), ('B', NULL)) "
            "t(customer_id, region)"
        )
        con.execute(
            "CREATE TABLE bad AS SELECT * FROM (VALUES ('A', 'x'), ('B', '2024-01-01'), "
            "('C', 'never')) t(customer_id, signup_date)"
        )


def test_tables_read_from_a_duckdb_database(tmp_path: Path) -> None:
    _database(tmp_path)
    config = parse_config(
        {"tables": {"transactions": "shop.duckdb", "customers": "shop.duckdb:clients"}}
    )
    ds = load(tmp_path, config)
    tx = ds.con.execute("SELECT customer_id, amount FROM transactions ORDER BY 1").fetchall()
    assert tx == [("A", 10.5), ("B", -2.0)]
    regions = ds.con.execute("SELECT customer_id, region FROM customers ORDER BY 1").fetchall()
    assert regions == [("A", "North"), ("B", None)]
    # The database file is an input: its bytes are in the fingerprint (once).
    assert ds.fingerprint and ds.files["customers"] == ds.files["transactions"]


def test_database_errors_name_the_table_and_its_rows(tmp_path: Path) -> None:
    _database(tmp_path)
    missing = error_of(tmp_path, parse_config({"tables": {"transactions": "shop.duckdb:sales"}}))
    assert "has no table 'sales'" in str(missing) and "bad, clients, transactions" in str(missing)
    config = parse_config(
        {"tables": {"transactions": "shop.duckdb", "customers": "shop.duckdb:bad"}}
    )
    err = error_of(tmp_path, config)
    # Rows of a table are numbered from 1: 'x' and 'never' are rows 1 and 3.
    assert (err.column, err.rows, err.examples) == ("signup_date", [1, 3], ["x", "never"])


def test_memory_limit_caps_duckdb_and_spills_to_a_private_folder(tmp_path: Path) -> None:
    write(tmp_path, "transactions.csv", HEADER + "A,2024-01-05,1\n")
    ds = load(tmp_path, parse_config({"memory_limit": "256MB"}))
    assert ds.con is not None
    limit, spill = ds.con.execute(
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    ).fetchone() or ("", "")
    assert limit.replace(" ", "") in ("256.0MB", "244.1MiB")
    assert Path(spill).name.startswith("segkit-spill-") and Path(spill).is_dir()


@pytest.mark.parametrize("cutoff", ["2021-01-01", "2024-04-01", "2025-07-01"])
def test_as_of_frame_applies_the_as_of_rule_in_pandas(small_demo: Path, cutoff: str) -> None:
    # The rows known at a later cut-off, cut down in pandas, are those the engine's as-of gives.
    ds = load_dataset(small_demo, Config())
    cut = datetime.fromisoformat(cutoff).date()
    for table in ds.tables:
        later = ds.engine.execute(ds.as_of(table, datetime(2030, 1, 1).date()))
        expected = ds.engine.execute(ds.as_of(table, cut))
        got = ds.as_of_frame(table, later, cut)
        key = list(expected.columns)
        pd.testing.assert_frame_equal(
            got.sort_values(key, ignore_index=True),
            expected.sort_values(key, ignore_index=True),
            obj=table,
        )
        assert len(got) < len(later) or table == "customers"  # the cut-off cuts something


def test_loaded_tables_are_stored_compressed(small_demo: Path) -> None:
    # Compressed in memory as in a database file (checkpointed after loading): without the
    # checkpoint, every segment of an in-memory table is 'Uncompressed'.
    ds = load_dataset(small_demo, Config())
    assert ds.con is not None
    rows = ds.con.execute(
        "SELECT column_name, list(DISTINCT compression) FROM pragma_storage_info('transactions') "
        "WHERE segment_type <> 'VALIDITY' GROUP BY column_name"
    ).fetchall()
    methods = dict(rows)
    assert {"customer_id", "date", "amount"} <= set(methods)
    for column in ("customer_id", "date", "amount"):
        assert "Uncompressed" not in methods[column], (column, methods[column])
