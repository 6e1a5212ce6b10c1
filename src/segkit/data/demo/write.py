"""Byte-stable writers: Parquet through pyarrow (no pandas metadata), CSV through pandas."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from segkit.data.demo.clock import Floats, Ints, to_timestamp


def timestamps(days: Floats) -> pa.Array:
    """Clocked days -> naive ``timestamp[us]`` array; NaN becomes null."""
    missing = np.isnan(days)
    values = to_timestamp(np.where(missing, 0.0, days)).astype("datetime64[us]")
    return pa.array(values, type=pa.timestamp("us"), mask=missing)


def labels(names: Sequence[str] | np.ndarray, index: Ints) -> pa.Array:
    """Text column by index into a small vocabulary (one Python string per distinct value)."""
    return pc.take(pa.array(list(names), type=pa.string()), pa.array(index))


def parquet(columns: dict[str, pa.Array], path: Path) -> None:
    """Write a zstd-compressed Parquet file from Arrow columns."""
    pq.write_table(pa.table(columns), path, compression="zstd")


def csv(frame: pd.DataFrame, path: Path) -> None:
    """Write UTF-8 CSV with ``\\n`` line ends; empty strings stand for missing values."""
    frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")


def json_file(data: dict[str, Any], path: Path) -> None:
    """Pretty-printed JSON with sorted keys (stable across runs)."""
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
