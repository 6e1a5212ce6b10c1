"""Properties of loading: valid tables load back equal in every layout; garbage only fails clearly.

Expected values come from the generated rows themselves, never from the loader.
"""

from __future__ import annotations

import contextlib
import csv
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segkit.config import Config
from segkit.data.files import DELIMITERS
from segkit.data.load import load_dataset
from segkit.errors import DataError

# Upper case only: ids that differ only in case are rejected by design (see the contract).
IDS = st.text(alphabet="ABCXYZ0189ЖЯÉ-_", min_size=1, max_size=8)
DATES = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2025, 12, 31)).map(
    lambda d: d.replace(microsecond=0)
)
AMOUNTS = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
# Free text with delimiters, quotes and non-ASCII letters; no line breaks, which would shift the
# file lines the loader reports (they load, but are not what this property is about).
TEXTS = st.text(alphabet=st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=12)
ROWS = st.lists(st.tuples(IDS, DATES, AMOUNTS, TEXTS), min_size=1, max_size=15)
COLUMNS = ["customer_id", "date", "amount", "product"]

PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def expected(rows: list[tuple[str, datetime, float, str]]) -> pd.DataFrame:
    """What the contract says the rows load as: text trimmed, empty text missing."""
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "date": [r[1] for r in rows],
            "amount": [r[2] for r in rows],
            "product": [r[3].strip() or None for r in rows],
        }
    )


def stored(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows in the order the table keeps them: by client, then date, then file order.
    (Python orders text by code point, as DuckDB orders it by UTF-8 bytes.)"""
    ordered = frame.sort_values(["customer_id", "date"], kind="stable")
    return ordered.reset_index(drop=True).astype(object)


def loaded(folder: Path) -> pd.DataFrame:
    ds = load_dataset(folder, Config())
    frame = ds.con.execute(f"SELECT {', '.join(COLUMNS)} FROM transactions").df()
    frame["date"] = [d.to_pydatetime() for d in frame["date"]]
    return frame.astype(object).where(frame.notna(), None)


@PROPERTY
@given(
    rows=ROWS,
    delimiter=st.sampled_from(DELIMITERS),
    order=st.permutations(COLUMNS),
    bom=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_valid_csv_loads_back_equal(
    tmp_path: Path,
    rows: list[tuple[str, datetime, float, str]],
    delimiter: str,
    order: list[str],
    bom: bool,
    newline: str,
) -> None:
    frame = expected(rows)
    path = tmp_path / "transactions.csv"
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator=newline)
        writer.writerow(order)
        for _, row in frame[order].iterrows():
            writer.writerow(
                [
                    repr(v) if isinstance(v, float) else v.isoformat(" ") if k == "date" else v
                    for k, v in row.items()
                ]
            )
    pd.testing.assert_frame_equal(loaded(tmp_path), stored(frame), check_dtype=False)


@PROPERTY
@given(rows=ROWS)
def test_valid_parquet_loads_back_equal(
    tmp_path: Path, rows: list[tuple[str, datetime, float, str]]
) -> None:
    frame = expected(rows)
    frame.to_parquet(tmp_path / "transactions.parquet")
    pd.testing.assert_frame_equal(loaded(tmp_path), stored(frame), check_dtype=False)


CELLS = st.text(max_size=10)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cells=st.lists(st.lists(CELLS, min_size=1, max_size=5), min_size=1, max_size=6))
def test_garbage_cells_fail_only_with_a_data_error(tmp_path: Path, cells: list[list[str]]) -> None:
    lines = ["customer_id,date,amount", *(",".join(row) for row in cells)]
    (tmp_path / "transactions.csv").write_text("\n".join(lines), encoding="utf-8")
    try:
        load_dataset(tmp_path, Config())
    except DataError as exc:
        assert str(exc).startswith(str(tmp_path / "transactions.csv"))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary(max_size=200), suffix=st.sampled_from([".csv", ".tsv", ".parquet"]))
def test_garbage_files_fail_only_with_a_data_error(
    tmp_path: Path, content: bytes, suffix: str
) -> None:
    for old in tmp_path.glob("transactions.*"):
        old.unlink()
    (tmp_path / f"transactions{suffix}").write_bytes(b"customer_id,date,amount\n" + content)
    with contextlib.suppress(DataError):
        load_dataset(tmp_path, Config())


@pytest.mark.parametrize("delimiter", DELIMITERS)
def test_each_delimiter_is_taken_from_the_header(tmp_path: Path, delimiter: str) -> None:
    # The other candidates inside values must not confuse it.
    text = delimiter.join(COLUMNS) + "\n" + delimiter.join(["A", "2024-01-05", "2.5", '"a,b;c|d"'])
    (tmp_path / "transactions.csv").write_text(text + "\n", encoding="utf-8")
    assert loaded(tmp_path).iloc[0].tolist() == ["A", datetime(2024, 1, 5), 2.5, "a,b;c|d"]
