"""Stratification by customer attributes, worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from segmentation_data import monthly, run, section, write

from segkit.analyses.stratification import _factorized

# Period 2024-12; year = 2024. East: A (10 x 12 months, 10 in December), B (600 once in
# December). West: C (50 in June; nothing in December). D has no region -> (unknown), bought
# 40 in December.
ROWS = monthly("A", [10] * 12) + "B,2024-12-03,600\n" + "C,2024-06-01,50\nD,2024-12-20,40\n"
CUSTOMERS = "customer_id,region,industry\nA,east,it\nB,east,retail\nC,west,it\nD,,it\n"


def test_groups_by_hand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = run(write(tmp_path, ROWS, CUSTOMERS), "2024-12", monkeypatch)
    s = section(report, "stratification")
    region = s.tables["region"].frame.set_index("region")
    # Clients: east 2, west 1, (unknown) 1 of 4. December revenue: east 10 + 600 = 610,
    # west 0, unknown 40; total 650. Active in December: east 2, west 0, unknown 1.
    assert region["clients"].to_dict() == {"east": 2, "west": 1, "(unknown)": 1}
    assert region.loc["east", "client_share"] == pytest.approx(0.5)
    assert region.loc["east", "revenue"] == pytest.approx(610)
    assert region.loc["east", "revenue_share"] == pytest.approx(610 / 650)
    assert region.loc["east", "revenue_per_client"] == pytest.approx(305)
    assert region["active"].to_dict() == {"east": 2, "west": 0, "(unknown)": 1}
    # Quadrant mix: shares of each group's clients sum to 1.
    mix = region[[c for c in region.columns if c.startswith("quadrants: ")]]
    assert mix.sum(axis=1).tolist() == pytest.approx([1.0, 1.0, 1.0])
    # income_band and acquisition_source are not in the data; tiers were not run here.
    assert any("acquisition_source, income_band" in n for n in s.notes)
    assert any("No tiers segmentation" in n for n in s.notes)
    assert set(s.tables) == {"region", "industry"}


def test_tier_mix_when_tiers_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = run(
        write(tmp_path, ROWS, CUSTOMERS), "2024-12", monkeypatch, ["tiers", "stratification"]
    )
    region = section(report, "stratification").tables["region"].frame
    tiers = [c for c in region.columns if c.startswith("tiers: ")]
    assert tiers
    assert region[tiers].fillna(0).sum(axis=1).max() == pytest.approx(1.0)


def test_bad_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = "analyses:\n  stratification:\n    attributes: region\n"
    report = run(write(tmp_path, ROWS, CUSTOMERS, config), "2024-12", monkeypatch)
    error = report.section("stratification").error
    assert error is not None and "list of names" in error


def test_factorized_as_pandas() -> None:
    """Texts told apart by their objects first give pandas' codes and uniques: equal texts in
    separate objects, missing values, first appearance order, a text column of another dtype."""
    east = "east"
    other_east = "".join(["ea", "st"])  # an equal text in another object
    assert other_east is not east
    values = [None, "west", east, other_east, float("nan"), "west", " east", east, None]
    for series in (
        pd.Series(values, dtype=object),
        pd.Series(values, dtype=object)[::2],  # not contiguous
        pd.Series(values, dtype="string"),
        pd.Series([3, 1, 3, 2]),
    ):
        codes, uniques = _factorized(series)
        expected_codes, expected_uniques = pd.factorize(series)
        np.testing.assert_array_equal(codes, expected_codes)
        assert list(uniques) == list(expected_uniques)
