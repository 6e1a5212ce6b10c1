"""ABC-XYZ on hand-built clients; every expected class is worked out in the comments.

Report period 2024-12 (end 2025-01-01): the default 12-month window is January-December 2024.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from segmentation_data import monthly, run, section, write

from segkit.analyses.abc_xyz import (
    CELLS,
    AbcXyz,
    AbcXyzSegmenter,
    abc_cutoffs,
    cell_table,
    coefficient_of_variation,
    parse_settings,
)
from segkit.errors import ConfigError


def classes(clients: pd.DataFrame, column: str) -> dict[str, str]:
    return dict(zip(clients["customer_id"], clients[column], strict=True))


def test_boundary_client_is_in_a(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Volumes (one purchase each in 2024): P 50, Q 30, R 10, S 6, T 4; total 100.
    # Volume strictly above each: P 0 %, Q 50 %, R 80 %, S 90 %, T 96 %.
    # A while above < 80 %: P, Q (Q's cumulative reaches exactly 80 %: the boundary client
    # is A). B while above < 95 %: R, S (S crosses 95 %: 96 %). C: T.
    # U has only a return (-5): net volume <= 0 -> C, no purchases -> Z.
    rows = "".join(
        f"{c},2024-06-01,{v}\n" for c, v in [("P", 50), ("Q", 30), ("R", 10), ("S", 6), ("T", 4)]
    )
    folder = write(tmp_path, rows + "U,2024-06-01,-5\n")
    clients = section(run(folder, "2024-12", monkeypatch, ["abc_xyz"]), "abc_xyz").data["clients"]
    assert classes(clients, "abc") == {"P": "A", "Q": "A", "R": "B", "S": "B", "T": "C", "U": "C"}
    assert classes(clients, "xyz_reason")["U"] == "no purchases"
    assert classes(clients, "cell")["U"] == "CZ"


def test_client_crossing_80_percent_is_a() -> None:
    # 60, 30, 10 (total 100): above 0, 60 %, 90 %. 30 crosses 80 % (60 -> 90): A.
    # 10: above 90 % < 95 % -> B. Cut-offs: smallest A 30, smallest A-or-B 10.
    assert abc_cutoffs(np.array([10.0, 60.0, 30.0]), (0.8, 0.15, 0.05)) == (30.0, 10.0)


def test_equal_volumes_share_a_class() -> None:
    # 70, 10, 10, 10 (total 100): each 10 has 70 % strictly above it (< 80 %), so all three
    # are A, although the third one's position in a sorted list starts at 90 %.
    a_min, b_min = abc_cutoffs(np.array([10.0, 70.0, 10.0, 10.0]), (0.8, 0.15, 0.05))
    assert (a_min, b_min) == (10.0, 10.0)
    # Negative and zero volumes are never ranked: no positive volume, no cut-off.
    assert abc_cutoffs(np.array([0.0, -3.0]), (0.8, 0.15, 0.05)) == (math.inf, math.inf)


def test_cv_counts_empty_months_as_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Over 12 months, population SD / mean:
    # X1: 100 every month -> CV 0 -> X.
    # X2: 100, 200 alternating: mean 150, mean of squares (6 x 1e4 + 6 x 4e4) / 12 = 25,000,
    #     variance 25,000 - 22,500 = 2,500, SD 50, CV 1/3 -> X.
    # Y1: 100 in every other month: mean 50, mean of squares 5,000, variance 2,500, SD 50,
    #     CV 1.0 -> Y (the threshold is inclusive: X <= 0.5 < Y <= 1.0 < Z).
    # Z1: 300 in four months: mean 100, mean of squares 30,000, variance 20,000, CV 1.414 -> Z.
    # Z2: one purchase (one-off): CV sqrt(11) = 3.317 -> Z.
    rows = (
        monthly("X1", [100] * 12)
        + monthly("X2", [100, 200] * 6)
        + monthly("Y1", [100, 0] * 6)
        + monthly("Z1", [300, 0, 0] * 4)
        + monthly("Z2", [0] * 5 + [500])
    )
    # The previous period's first purchases must not look "new": the clients bought in 2023.
    rows += "".join(f"{c},2023-01-10,1\n" for c in ("X1", "X2", "Y1", "Z1", "Z2"))
    clients = section(
        run(write(tmp_path, rows), "2024-12", monkeypatch, ["abc_xyz"]), "abc_xyz"
    ).data["clients"]
    cv = classes(clients, "cv")
    assert cv["X1"] == pytest.approx(0.0)
    assert cv["X2"] == pytest.approx(1 / 3)
    assert cv["Y1"] == pytest.approx(1.0)
    assert cv["Z1"] == pytest.approx(math.sqrt(2))
    assert cv["Z2"] == pytest.approx(math.sqrt(11))
    assert classes(clients, "xyz") == {"X1": "X", "X2": "X", "Y1": "Y", "Z1": "Z", "Z2": "Z"}


def test_new_clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # N2 first bought in November 2024: 2 observed months (Nov, Dec) < min_periods 3 -> Z,
    # reason "new", although its two months are equal (CV 0).
    # N4 first bought in September 2024 and every month since: 4 observed months, CV 0 -> X.
    # N4b bought in September and December only: months 80, 0, 0, 80 -> mean 40, mean of
    # squares 3,200, variance 1,600, SD 40, CV 1.0 -> Y.
    rows = (
        monthly("N2", [0] * 10 + [80, 80])
        + monthly("N4", [0] * 8 + [80] * 4)
        + monthly("N4b", [0] * 8 + [80, 0, 0, 80])
    )
    clients = section(
        run(write(tmp_path, rows), "2024-12", monkeypatch, ["abc_xyz"]), "abc_xyz"
    ).data["clients"]
    assert classes(clients, "observed") == {"N2": 2, "N4": 4, "N4b": 4}
    assert classes(clients, "xyz") == {"N2": "Z", "N4": "X", "N4b": "Y"}
    assert classes(clients, "xyz_reason")["N2"] == "new"
    assert classes(clients, "cv")["N4b"] == pytest.approx(1.0)


def test_matrix_counts_and_shares(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # H: 800 over 12 months (regular, AX); L: 200 once (one-off). Total 1,000: H above 0 -> A,
    # L above 80 % -> B (< 95 %) -> BZ. AX 80 % of revenue, BZ 20 %.
    rows = monthly("H", [800 / 12] * 12) + "L,2024-06-03,200\n" + "H,2023-05-01,1\nL,2023-05-01,1\n"
    s = section(run(write(tmp_path, rows), "2024-12", monkeypatch, ["abc_xyz"]), "abc_xyz")
    cells = s.tables["cells"].frame.set_index("cell")
    assert list(cells.index) == list(CELLS)
    assert cells.loc["AX", "clients"] == 1
    assert cells.loc["BZ", "clients"] == 1
    assert cells.loc["AX", "revenue_share"] == pytest.approx(0.8)
    assert cells.loc["BZ", "revenue_share"] == pytest.approx(0.2)
    assert cells["clients"].sum() == 2
    assert cells.loc["CZ", "price_terms"]  # every cell has its playbook
    headline = [m for m in s.metrics if m.headline]
    assert [m.key for m in headline] == ["a_revenue_share"]
    assert headline[0].value == pytest.approx(0.8)


def test_period_without_purchases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Purchases in 2022 only; the window of 2024-Q1 (April 2023 - March 2024) is empty.
    folder = write(tmp_path, "A,2022-03-01,10\nB,2022-05-01,20\n")
    s = section(run(folder, "2024-Q1", monkeypatch, ["abc_xyz"]), "abc_xyz")
    assert "No client has a transaction" in s.summary
    assert s.data["clients"].empty


def test_cell_codes_and_table() -> None:
    # predict_codes gives the positions of predict's cells; the cell table grouped by those
    # codes is the one grouped by the names.
    rng = np.random.default_rng(5)
    n = 400
    cv = rng.uniform(0.0, 2.0, n)
    cv[:20] = np.nan
    f = pd.DataFrame(
        {
            "customer_id": [f"c{i:03d}" for i in range(n)],
            "volume": rng.gamma(1.0, 100.0, n) * rng.choice([1, 0, -1], n, p=[0.9, 0.05, 0.05]),
            "cv": cv,
            "observed": rng.integers(1, 13, n),
            "active": rng.integers(0, 13, n),
        }
    )
    seg = AbcXyzSegmenter(parse_settings(AbcXyz.defaults)).fit(f)
    codes = seg.predict_codes(f)
    assert np.array(CELLS, dtype=object)[codes].tolist() == seg.predict(f).tolist()
    clients = pd.concat([f, seg.classify(f)], axis=1)
    table = cell_table(clients, codes)
    by_name = clients.groupby("cell")["volume"].agg(["size", "sum"])
    by_name = by_name.reindex(list(CELLS), fill_value=0)
    assert table["clients"].tolist() == by_name["size"].tolist()
    assert table["revenue"].tolist() == by_name["sum"].tolist()


def test_cv_from_sums() -> None:
    # Months 0, 0, 30 (n = 3): mean 10, mean of squares 300, variance 200 -> CV sqrt(2).
    cv = coefficient_of_variation(np.array([30.0, 0.0]), np.array([900.0, 0.0]), np.array([3, 3]))
    assert cv[0] == pytest.approx(math.sqrt(2))
    assert np.isnan(cv[1])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("abc_shares: [0.8, 0.15, 0.1]", "sum to 1"),
        ("abc_shares: [0.8, 0.2]", "list of 3 numbers"),
        ("xyz_thresholds: [1.0, 0.5]", "increasing"),
        ("xyz_grain: week", "month or quarter"),
        ("window_months: 10\n    xyz_grain: quarter", "whole number of quarters"),
        ("min_periods: 13", "min_periods"),
        ("colour: red", "unknown key"),
    ],
)
def test_bad_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str, message: str
) -> None:
    folder = write(tmp_path, "A,2024-03-01,10\n", config=f"analyses:\n  abc_xyz:\n    {config}\n")
    try:
        report = run(folder, "2024-Q1", monkeypatch, ["abc_xyz"])
    except ConfigError as exc:  # unknown keys are refused before anything runs
        assert message in str(exc)
        return
    error = report.section("abc_xyz").error
    assert error is not None and message in error


@pytest.fixture(scope="module")
def demo_8000(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 8,000-customer demo company (larger than the session's, for stable shares)."""
    from segkit.data.demo import generate

    out = tmp_path_factory.mktemp("demo8000") / "data"
    generate(out, customers=8000, seed=11)
    return out


def test_abc_recovers_the_demo_value_classes(
    demo_8000: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ABC of 2025 against the generator's latent value class (top 20 % / 30 % / 50 %).

    Measured (seed 11, 4,785 clients active in 2025): 67 % of the key customers are A and
    9 % C; 4 % of the small ones are A; 83 % of C clients are small. A holds 27 % of the active
    clients (one year of Poisson purchases blurs the latent value), so it also takes many
    middle customers. The bounds below leave room for that noise, not for a broken ranking.
    """
    s = section(run(demo_8000, "2025-Q4", monkeypatch, ["abc_xyz"]), "abc_xyz")
    truth = pd.read_parquet(demo_8000 / "truth" / "customers.parquet")
    m = s.data["clients"].merge(truth[["customer_id", "value_class"]], on="customer_id")
    by_truth = pd.crosstab(m["value_class"], m["abc"], normalize="index")
    by_class = pd.crosstab(m["value_class"], m["abc"], normalize="columns")
    assert by_truth.loc["key", "A"] > 0.6
    assert by_truth.loc["key", "C"] < 0.15
    assert by_truth.loc["small", "A"] < 0.08
    assert by_class.loc["small", "C"] > 0.75
