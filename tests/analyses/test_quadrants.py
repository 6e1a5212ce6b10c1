"""Loyalty x profitability quadrants, worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from segmentation_data import monthly, run, section, write

from segkit.analyses.quadrants import Quadrants, QuadrantSegmenter, parse_settings


def segmenter(**weights: float) -> QuadrantSegmenter:
    settings = dict(Quadrants.defaults)
    if weights:
        settings["weights"] = weights
    return QuadrantSegmenter(parse_settings(settings))


def test_quadrants_by_hand() -> None:
    # No NPS and no referrals in the data: those components are dropped and tenure 0.3,
    # regularity 0.4 rescale to 3/7 and 4/7.
    # Mid-rank percentiles of 4 distinct values: (rank - 0.5) / 4 = .125, .375, .625, .875.
    #   tenure      a 100 .125, b 200 .375, c 300 .625, d 400 .875
    #   regularity  a .25 .125, b .5 .375,  c 1.0 .875, d .75 .625
    # loyalty: a .125, b .375, c (3 x .625 + 4 x .875) / 7 = .767857,
    #          d (3 x .875 + 4 x .625) / 7 = .732143
    # median loyalty (.375 + .732143) / 2 = .553571: high c, d.
    # profitability 400, 10, 50, 300: median (50 + 300) / 2 = 175: high a, d.
    # a low/high IV, b low/low I, c high/low II, d high/high III.
    f = pd.DataFrame(
        {
            "customer_id": list("abcd"),
            "tenure": [100.0, 200, 300, 400],
            "regularity": [0.25, 0.5, 1.0, 0.75],
            "nps": np.nan,
            "referrals": np.nan,
            "profitability": [400.0, 10, 50, 300],
        }
    )
    seg = segmenter().fit(f)
    assert seg.weights_ == pytest.approx({"tenure": 3 / 7, "regularity": 4 / 7})
    out = seg.classify(f)
    assert out["loyalty"].tolist() == pytest.approx([0.125, 0.375, 5.375 / 7, 5.125 / 7])
    assert seg.splits_ == pytest.approx(((0.375 + 5.125 / 7) / 2, 175.0))
    assert out["quadrant"].tolist() == ["IV", "I", "II", "III"]


def test_client_without_nps_is_scored_on_what_they_have() -> None:
    # Weights tenure 0.5, nps 0.5. x has no NPS answer: loyalty = its tenure percentile.
    # tenure 10, 20, 30 -> 1/6, 1/2, 5/6; nps (y 6, z 10) -> 1/4, 3/4.
    # x 1/6; y (1/2 + 1/4) / 2 = 3/8; z (5/6 + 3/4) / 2 = 19/24.
    f = pd.DataFrame(
        {
            "customer_id": list("xyz"),
            "tenure": [10.0, 20, 30],
            "regularity": [1.0, 1, 1],
            "nps": [np.nan, 6, 10],
            "referrals": np.nan,
            "profitability": [1.0, 2, 3],
        }
    )
    out = segmenter(tenure=0.5, nps=0.5).fit(f).classify(f)
    assert out["loyalty"].tolist() == pytest.approx([1 / 6, 3 / 8, 19 / 24])


def test_section_on_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Period 2024-12, year = 2024. Margin is absent: profitability is revenue.
    # Signups 2020 (O, old), 2024-01-01 (N, new): tenure O > N.
    # O buys 10 every month (regularity 12/12), N buys 500 once in March (1/10 observed months:
    # from March to December). Two clients: splits are the midpoints; O loyal, N profitable.
    rows = monthly("O", [10] * 12) + "N,2024-03-05,500\n"
    customers = "customer_id,signup_date,region\nO,2020-01-01,east\nN,2024-01-01,west\n"
    s = section(
        run(write(tmp_path, rows, customers), "2024-12", monkeypatch, ["quadrants"]), "quadrants"
    )
    clients = s.data["clients"].set_index("customer_id")
    assert clients.loc["O", "regularity"] == pytest.approx(1.0)
    assert clients.loc["N", "regularity"] == pytest.approx(0.1)
    assert clients["quadrant"].to_dict() == {"N": "IV", "O": "II"}
    table = s.tables["quadrants"].frame.set_index("quadrant")
    # value share of IV: 500 / (500 + 120)
    assert table.loc["IV", "value_share"] == pytest.approx(500 / 620)
    assert table.loc["III", "goal"] == "Retain; strategic win-win partnership."
    assert any("nps, referrals" in n for n in s.notes)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("weights: {tenure: 0.5, regularity: 0.4}", "sum to 1"),
        ("weights: {tenure: 0.5, loudness: 0.5}", "unknown component"),
        ("weights: {tenure: 1.5, regularity: -0.5}", "non-negative"),
        ("loyalty_split: 1.0", "between 0 and 1"),
        ("profitability: profit", "auto, margin or revenue"),
    ],
)
def test_bad_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str, message: str
) -> None:
    folder = write(tmp_path, "A,2024-03-01,10\n", config=f"analyses:\n  quadrants:\n    {config}\n")
    error = run(folder, "2024-Q1", monkeypatch, ["quadrants"]).section("quadrants").error
    assert error is not None and message in error
