"""The weighted scorecard and event re-rating, against points and grades worked out by hand."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from segkit.analyses.scorecard import (
    Rerating,
    Scorecard,
    ScoreRule,
    ScoreSettings,
    append_rating,
    rate,
    read_ratings,
    rerate,
)
from segkit.api import open_data
from segkit.data.engine import Engine
from segkit.engine.analysis import Section
from segkit.engine.context import PeriodContext
from segkit.errors import ConfigError, SegkitError
from segkit.periods import parse_period

# Score = 100 x (0.6 x pr(revenue_year) + 0.4 x (0.5 pr(tenure_days) + 0.5 pr(nps_last))).
CONFIG = """
analyses:
  scorecard:
    indicators:
      profitability: {weight: 0.6, sub_indicators: {revenue_year: 1.0}}
      relationship: {weight: 0.4, sub_indicators: {tenure_days: 0.5, nps_last: 0.5}}
"""
# Percentile ranks (#below + 0.5 #equal) / n among the rated clients A-E (value_clients):
# revenue_year 1000, 1000, 300, 200, 100 -> A, B (3 + 1) / 5 = 0.8; C 0.5; D 0.3; E 0.1.
# tenure_days 1096, 92, 580, 31, 1461 -> A 0.7, B 0.3, C 0.5, D 0.1, E 0.9.
# nps_last 9, 10, -, -, 3 (n = 3) -> A 1.5/3 = 0.5, B 2.5/3, E 0.5/3; C, D missing: 0.5.
# Scores: A 48 + 14 + 10 = 72; B 48 + 6 + 50/3 = 70.667; C 30 + 10 + 10 = 50;
# D 18 + 2 + 10 = 30; E 6 + 18 + 10/3 = 27.333.
SCORES = {"A": 72.0, "B": 70 + 2 / 3, "C": 50.0, "D": 30.0, "E": 27 + 1 / 3}
# Grades, n = 5: A cut at position ceil(0.2 x 5) = 1 (72), B at ceil(2.5) = 3 (50),
# C at ceil(4) = 4 (30); below that D.
GRADES = {"A": "A", "B": "B", "C": "B", "D": "C", "E": "D"}


def run_scorecard(folder: Path, period: str = "2024-Q4") -> Section:
    dataset = open_data(folder)
    settings = dataset.config.analysis_settings("scorecard", Scorecard.defaults)
    return Scorecard().run(PeriodContext(dataset, parse_period(period), settings))


def settings(**changes: Any) -> ScoreSettings:
    return ScoreSettings.parse({**Scorecard.defaults, **changes})


def test_points_ranks_and_grades_by_hand(value_data: Callable[..., Path]) -> None:
    section = run_scorecard(value_data(CONFIG))
    clients = section.data["clients"].set_index("customer_id")
    assert clients["score"].to_dict() == pytest.approx(SCORES)
    assert clients["grade"].to_dict() == GRADES
    assert clients["rank"].to_dict() == {"A": 1, "B": 2, "C": 3, "D": 4, "E": 5}
    # Points per indicator: A's profitability 60 x 0.8 = 48, relationship 14 + 10 = 24.
    assert clients.loc["A", "points_profitability"] == pytest.approx(48)
    assert clients.loc["A", "points_relationship_nps_last"] == pytest.approx(10)
    assert any("2 client(s) have no nps_last" in n for n in section.notes)
    # F (returns only) and G (lapsed) are not rated.
    assert sorted(clients.index) == ["A", "B", "C", "D", "E"]


def test_tied_clients_share_the_better_grade() -> None:
    # Values 10, 20, 20, 30, 40, 50 -> percentile ranks 0.5/6, 2/6, 2/6, 3.5/6, 4.5/6, 5.5/6.
    # n = 6: A cut at ceil(1.2) = 2 (40), B at ceil(3) = 3 (30), C at ceil(4.8) = 5: the
    # fifth score is a 20, tied with the sixth, so both 20s are C and only 10 is D.
    rule = ScoreRule(
        settings(indicators={"value": {"weight": 1, "sub_indicators": {"revenue_year": 1}}})
    )
    features = pd.DataFrame(
        {"customer_id": list("uvwxyz"), "revenue_year": [10.0, 20, 20, 30, 40, 50]}
    )
    rated = rate(rule.fit(features), features)
    assert rated["score"].tolist() == pytest.approx(
        [100 * v / 6 for v in (0.5, 2, 2, 3.5, 4.5, 5.5)]
    )
    assert rated["grade"].tolist() == ["D", "C", "C", "B", "A", "A"]
    assert rated["rank"].tolist() == [6, 4, 4, 3, 2, 1]


def test_minmax_with_winsorising() -> None:
    # Quantiles 25 % / 75 % of 0, 10, 20, 30, 1000 (linear): 10 and 30. (x - 10) / 20 clipped:
    # 0 -> 0, 10 -> 0, 20 -> 0.5, 30 -> 1, 1000 -> 1. recency_days is reversed (lower better).
    rule = ScoreRule(
        settings(
            indicators={"value": {"weight": 1, "sub_indicators": {"recency_days": 1}}},
            normalise="minmax",
            winsorise=0.25,
        )
    )
    features = pd.DataFrame({"customer_id": list("abcde"), "recency_days": [0.0, 10, 20, 30, 1000]})
    assert rule.fit(features).points(features)["score"].tolist() == [100, 100, 50, 0, 0]


def test_rerate_after_a_deal(value_data: Callable[..., Path], tmp_path: Path) -> None:
    folder = value_data(CONFIG)
    dataset = open_data(folder)
    log = tmp_path / "ratings.jsonl"
    # E (27.333, D) signs a deal of 5000 on 2024-12-20, inside 2024-Q4: revenue_year 5100 is
    # above all five frozen values: rank 5/5 = 1 -> 60 + 18 + 10/3 = 81.333 >= 72: grade A.
    r = rerate(dataset, "E", "deal", date(2024, 12, 20), 5000, "framework contract", log=log)
    assert (r.old_grade, r.new_grade) == ("D", "A")
    assert r.old_score == pytest.approx(27 + 1 / 3)
    assert r.new_score == pytest.approx(81 + 1 / 3)
    assert (r.period, r.rated_clients) == ("2024-Q4", 5)
    # The deal was never written to the data: E's revenue is back to 100.
    tx = dataset.engine.table("transactions")
    assert dataset.engine.scalar(tx.filter(tx.customer_id == "E").amount.sum()) == 100.0
    record = json.loads(log.read_text().splitlines()[0])
    assert record["reason"] == "framework contract"
    assert (record["old_grade"], record["new_grade"]) == ("D", "A")


def test_section_shows_the_re_ratings_of_its_period(value_data: Callable[..., Path]) -> None:
    folder = value_data(CONFIG)
    rerate(open_data(folder), "E", "deal", date(2024, 12, 20), 5000, "framework contract")
    rerate(open_data(folder), "A", "project", date(2024, 9, 1), 0, "earlier period")
    section = run_scorecard(folder)
    events = section.tables["events"].frame
    assert events["customer_id"].tolist() == ["E"]
    clients = section.data["clients"].set_index("customer_id")
    assert clients.loc["E", "event_grade"] == "A"
    assert clients.loc["E", "grade"] == "D"  # the periodic grade, on the data as loaded


def test_rerate_of_an_unknown_customer(value_data: Callable[..., Path]) -> None:
    with pytest.raises(SegkitError, match="'Z' is not in the data"):
        rerate(open_data(value_data()), "Z", "deal", date(2024, 12, 1), 10, "x")


def test_rerate_needs_the_duckdb_engine(value_data: Callable[..., Path], tmp_path: Path) -> None:
    # A dataset as the Spark loader gives it: no DuckDB connection, the tables on another engine.
    dataset = open_data(value_data())
    on_spark = dataclasses.replace(dataset, con=None)
    on_spark.engine = Engine("spark", dataset.engine.backend)
    with pytest.raises(SegkitError, match="re-rating a client .* needs the DuckDB engine"):
        rerate(on_spark, "E", "deal", date(2024, 12, 20), 10, "x", log=tmp_path / "log")
    assert not (tmp_path / "log").exists()


def test_ratings_log_skips_a_torn_line(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    record = Rerating(
        "A", "deal", "2024-12-01", 1.0, None, "r", "2024-Q4", "B", "A", 1.0, 2.0, 5, "now"
    )
    append_rating(log, record)
    with log.open("a") as fh:
        fh.write('{"customer_id": "B", "ev')  # a crash in the middle of a line
    frame, bad = read_ratings(log)
    assert frame["customer_id"].tolist() == ["A"]
    assert bad == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {
                "indicators": {
                    "p": {"weight": 0.6, "sub_indicators": {"revenue_year": 1}},
                    "r": {"weight": 0.3, "sub_indicators": {"tenure_days": 1}},
                }
            },
            "weights sum to 0.9, not 1",
        ),
        (
            {"indicators": {"p": {"weight": 1, "sub_indicators": {"a": 0.5, "b": 0.6}}}},
            r"indicators.p.sub_indicators: weights sum to 1.1",
        ),
        ({"indicators": {"p": {"weight": 1}}}, "exactly the keys weight and sub_indicators"),
        ({"grades": {"A": 0.5, "B": 0.3}}, "weights sum to 0.8"),
        ({"grades": {"A": 1.0}}, "at least two grades"),
        ({"normalise": "zscore"}, "percentile or minmax"),
    ],
)
def test_bad_settings(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(**changes)


def test_unknown_sub_indicator(value_data: Callable[..., Path]) -> None:
    config = CONFIG.replace("revenue_year: 1.0", "revenue_yaer: 1.0")
    with pytest.raises(ConfigError, match="unknown sub-indicator.*revenue_yaer"):
        run_scorecard(value_data(config))


def test_customers_column_as_a_sub_indicator(value_data: Callable[..., Path]) -> None:
    folder = value_data(CONFIG.replace("revenue_year: 1.0", "employees: 1.0"))
    customers = folder / "customers.csv"
    lines = customers.read_text().splitlines()
    # employees 5 for A ... 1 for E: the ranks of revenue_year are replaced by E 0.1 ... A 0.9.
    sizes = {"A": 5, "B": 4, "C": 3, "D": 2, "E": 1, "F": 0, "G": 0}
    rows = [lines[0] + ",employees"] + [f"{ln},{sizes[ln[0]]}" for ln in lines[1:]]
    customers.write_text("\n".join(rows) + "\n")
    clients = run_scorecard(folder).data["clients"].set_index("customer_id")
    # A: 60 x 0.9 + 14 + 10 = 78.
    assert clients.loc["A", "score"] == pytest.approx(78)


def test_period_without_rated_clients(value_data: Callable[..., Path]) -> None:
    with pytest.raises(SegkitError, match="cannot be graded"):
        run_scorecard(value_data(), "2026-Q1")
