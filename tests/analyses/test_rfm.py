"""RFM scores and segments, worked out by hand."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from segmentation_data import run, section, write

from segkit.analyses._binning import Reference, mid_percentile, rank_scores, reference
from segkit.analyses.rfm import RULES, SEGMENTS, RfmSegmenter, segment_codes, segment_table


def test_ties_share_the_score_of_their_lowest_position() -> None:
    # Ten frequencies: six clients with 1 order, two with 2, one with 3, one with 5.
    # Score = 1 + floor(5 x share strictly below): 1 -> 0/10 -> 1; 2 -> 6/10 -> 4;
    # 3 -> 8/10 -> 5; 5 -> 9/10 -> 1 + floor(4.5) = 5. No client scores 2 or 3.
    f = np.array([1, 1, 1, 1, 1, 1, 2, 2, 3, 5])
    assert rank_scores(reference(f), f).tolist() == [1] * 6 + [4, 4, 5, 5]


def test_order_does_not_change_scores() -> None:
    f = np.array([3, 1, 2, 1, 5, 1, 1, 2, 1, 1])
    scores = dict(zip(f.tolist(), rank_scores(reference(f), f).tolist(), strict=False))
    assert scores == {1: 1, 2: 4, 3: 5, 5: 5}


def test_mid_percentile_of_ties() -> None:
    # Reference 10, 20, 20, 40: 20 occupies positions 2 and 3 -> (1 below + 3 at or below)
    # / (2 x 4) = 0.5; 10 -> (0 + 1) / 8; a value not in the reference, 30 -> (3 + 3) / 8.
    ref = reference([10, 20, 20, 40])
    assert mid_percentile(ref, [10, 20, 30]).tolist() == [0.125, 0.5, 0.75]


@pytest.mark.parametrize("finite", [True, False])
def test_reference_places_the_values_of_another_reference(finite: bool) -> None:
    # Values another reference was built from are placed from its sort (its distinct values
    # searched in order): the counts are those of numpy's searches, for the left-out values too.
    ref = Reference([2, 2, 5, -np.inf, 7, np.inf], finite=finite)
    values = np.array([3, 1, np.nan, 2, 2, np.inf, -np.inf, 7, 5, 2])
    built = Reference(values, finite=not finite)
    assert built.source is not values
    below, equal = ref.counts(values.copy())
    left = np.searchsorted(ref.values, values, "left")
    assert below.tolist() == left.tolist()
    assert equal.tolist() == (np.searchsorted(ref.values, values, "right") - left).tolist()


def test_segment_rules_partition_the_grid() -> None:
    for r, fm in itertools.product(range(1, 6), repeat=2):
        hits = [n for n, (rs, fms, _) in RULES.items() if r in rs and fm in fms]
        assert len(hits) == 1, (r, fm, hits)
    codes = segment_codes(np.array([5, 1, 3]), np.array([5, 5, 3]))
    assert [SEGMENTS[c] for c in codes] == [
        "Champions",
        "Can't lose them",
        "Need attention",
    ]


def test_scores_and_segments_by_hand() -> None:
    # Five clients (recency days, orders, money):
    #   a (10, 6, 900), b (10, 1, 50), c (40, 3, 300), d (200, 1, 20), e (400, 0, 0)
    # R (fewer days better), share of clients strictly worse: a, b 3/5 -> 4; c 2/5 -> 3;
    #   d 1/5 -> 2; e 0 -> 1. The two tied 10-day clients share 4; nobody scores 5.
    # F: share strictly below: e 0 -> 1; b, d 1/5 -> 2; c 3/5 -> 4; a 4/5 -> 5.
    # M: e 0 -> 1; d 1/5 -> 2; b 2/5 -> 3; c 3/5 -> 4; a 4/5 -> 5.
    # FM = ceil((F + M) / 2): a 5, b 3 (2+3=5 -> 3), c 4, d 2, e 1.
    # Segments: a R4 FM5 Loyal; b R4 FM3 Potential loyalists; c R3 FM4 Loyal;
    #   d R2 FM2 Hibernating; e R1 FM1 Hibernating.
    f = pd.DataFrame(
        {
            "customer_id": list("abcde"),
            "recency_days": [10, 10, 40, 200, 400],
            "frequency": [6, 1, 3, 1, 0],
            "monetary": [900.0, 50.0, 300.0, 20.0, 0.0],
        }
    )
    s = RfmSegmenter().fit(f).score(f)
    assert s["r"].tolist() == [4, 4, 3, 2, 1]
    assert s["f"].tolist() == [5, 2, 4, 2, 1]
    assert s["m"].tolist() == [5, 3, 4, 2, 1]
    assert s["fm"].tolist() == [5, 3, 4, 2, 1]
    assert s["segment"].tolist() == [
        "Loyal",
        "Potential loyalists",
        "Loyal",
        "Hibernating",
        "Hibernating",
    ]


def test_segment_codes_and_table() -> None:
    # predict_codes gives the positions of predict's segments; the segment table grouped by
    # those codes is the one grouped by the names.
    rng = np.random.default_rng(3)
    f = pd.DataFrame(
        {
            "customer_id": [f"c{i:03d}" for i in range(300)],
            "recency_days": rng.integers(0, 400, 300),
            "frequency": rng.integers(0, 12, 300),
            "monetary": rng.gamma(2.0, 100.0, 300).round(2),
        }
    )
    seg = RfmSegmenter().fit(f)
    codes = seg.predict_codes(f)
    assert np.array(SEGMENTS, dtype=object)[codes].tolist() == seg.predict(f).tolist()
    clients = pd.concat([f, seg.score(f)], axis=1)
    by_name = clients.groupby("segment").agg(
        clients=("customer_id", "size"),
        revenue=("monetary", "sum"),
        recency_days=("recency_days", "mean"),
        frequency=("frequency", "mean"),
    )
    by_name = by_name.reindex(list(SEGMENTS)).fillna({"clients": 0, "revenue": 0.0})
    table = segment_table(clients, codes)
    assert list(table.index) == list(SEGMENTS)
    assert table["clients"].tolist() == by_name["clients"].astype(int).tolist()
    for col in ("revenue", "recency_days", "frequency"):
        assert table[col].equals(by_name[col].rename_axis("segment")), col


def test_only_returns_are_not_scored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Period 2024-Q4 (end 2025-01-01). A bought 2024-12-01 (31 days), B 2024-06-01 (214 days)
    # then returned 20 of 100; R only returned (-30): not a client for RFM, counted in a note.
    # Monetary is net: B 100 - 20 = 80.
    rows = (
        "A,2024-12-01,50\nB,2024-06-01,100\nB,2024-07-01,-20\nR,2024-11-01,-30\nA,2023-12-01,10\n"
    )
    s = section(run(write(tmp_path, rows), "2024-Q4", monkeypatch, ["rfm"]), "rfm")
    clients = s.data["clients"].set_index("customer_id")
    assert sorted(clients.index) == ["A", "B"]
    assert clients.loc["A", "recency_days"] == 31
    assert clients.loc["B", "recency_days"] == 214
    assert clients.loc["B", "monetary"] == pytest.approx(80.0)
    assert any("1 client(s) with only returns" in n for n in s.notes)
    # Previous period (2024-Q3): A (2023-12-01) and B had bought before 2024-10-01: 2 scored.
    assert [m.previous for m in s.metrics if m.key == "clients"] == [2]
    # The grid counts each client in its (R, FM) cell: R 5 to 1 down, FM 1 to 5 across.
    grid = s.tables["grid"].frame.set_index("R")
    assert grid.index.tolist() == [5, 4, 3, 2, 1]
    assert grid.columns.tolist() == [f"FM {c}" for c in range(1, 6)]
    cells = clients.groupby(["r", "fm"]).size()
    assert {(r, int(c[3:])): n for r, row in grid.iterrows() for c, n in row.items() if n} == (
        cells.to_dict()
    )


def test_period_with_no_purchase_still_scores_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing bought in 2024-Q4; A (2024-03-01) and B (2024-05-01) are scored from history:
    # recency 306 and 245 days to 2025-01-01; B is more recent: half the clients are worse,
    # R = 1 + floor(5 x 1/2) = 3; A: none worse, R = 1.
    rows = "A,2024-03-01,50\nB,2024-05-01,70\n"
    s = section(run(write(tmp_path, rows), "2024-Q4", monkeypatch, ["rfm"]), "rfm")
    clients = s.data["clients"].set_index("customer_id")
    assert clients["recency_days"].to_dict() == {"A": 306, "B": 245}
    assert clients["r"].to_dict() == {"A": 1, "B": 3}


def test_bad_basis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write(tmp_path, "A,2024-03-01,10\n", config="analyses:\n  rfm:\n    basis: profit\n")
    error = run(folder, "2024-Q1", monkeypatch, ["rfm"]).section("rfm").error
    assert error is not None and "revenue or margin" in error
