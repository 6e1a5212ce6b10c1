"""`segkit score` and `segkit rate`, run in-process through the console entry point."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from segkit.cli import main
from segkit.engine.plugins import ENV_LOAD


def _value_clients_writer() -> object:
    # The hand-built data of tests/analyses (the suite imports with --import-mode=importlib).
    path = Path(__file__).parent / "analyses" / "value_clients.py"
    spec = importlib.util.spec_from_file_location("value_clients_cli", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write


write_data = _value_clients_writer()

# The hand-computed scorecard of tests/analyses/test_scorecard.py and a fixed service fund.
CONFIG = """
analyses:
  scorecard:
    indicators:
      profitability: {weight: 0.6, sub_indicators: {revenue_year: 1.0}}
      relationship: {weight: 0.4, sub_indicators: {tenure_days: 0.5, nps_last: 0.5}}
  service_fund: {budget: 1000}
"""


# Other built-in analyses are not under test here: a failure of theirs on this tiny data must
# not hide the columns of tiers, service fund and scorecard (checked by hand below).
SCORE = ("score", "--period", "2024-Q4", "--skip-failed")


@pytest.fixture(autouse=True)
def _built_ins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_LOAD, "")


def segkit(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """Run ``segkit *args`` in this process; the exit status (0 when main returns)."""
    monkeypatch.setattr(sys, "argv", ["segkit", *args])
    try:
        main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder: Path = write_data(tmp_path / "data", CONFIG)  # type: ignore[operator]
    return folder


def test_score_writes_one_row_per_client(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "clients.csv"
    assert segkit(monkeypatch, *SCORE, "--data", str(data), "--out", str(out)) == 0
    assert "Wrote" in capsys.readouterr().out
    table = pd.read_csv(out).set_index("customer_id")
    assert table.index.is_unique
    # Identifiers in full, and the tiers / grades / fund worked out in tests/analyses.
    tiered = table["tiers.tier"].dropna().to_dict()
    assert tiered == {"A": "vip", "B": "medium", "C": "medium", "D": "basic", "E": "basic"}
    grades = table["scorecard.grade"].dropna().to_dict()
    assert grades == {"A": "A", "B": "B", "C": "B", "D": "C", "E": "D"}
    assert table["service_fund.fund"].sum() == pytest.approx(1000)
    assert table.loc["A", "service_fund.fund"] == pytest.approx(455.70)


def test_score_to_parquet(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "clients.parquet"
    assert segkit(monkeypatch, *SCORE, "--data", str(data), "--out", str(out)) == 0
    table = pd.read_parquet(out)
    assert {"tiers.reasons", "scorecard.score", "service_fund.fund"} <= set(table.columns)
    assert list(tmp_path.glob(".clients.parquet.tmp-*")) == []


@pytest.mark.parametrize(
    ("config", "period", "out_name", "message"),
    [
        (
            CONFIG.replace("weight: 0.4", "weight: 0.3"),
            "2024-Q4",
            "clients.csv",
            "weights sum to 0.9, not 1",
        ),
        (CONFIG.replace("tenure_days", "tenure_dayz"), "2024-Q4", "clients.csv", "tenure_dayz"),
        (
            CONFIG + "  tiers: {tier_cuts: [0.8, 0.4]}\n",
            "2024-Q4",
            "clients.csv",
            "out of order",
        ),
        (CONFIG, "2030-Q1", "clients.csv", "has no data"),
        (CONFIG, "2024-Q4", "clients.xlsx", "must end in .csv or .parquet"),
    ],
)
def test_score_errors_exit_2_and_overwrite_nothing(
    data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    config: str,
    period: str,
    out_name: str,
    message: str,
) -> None:
    (data / "segkit.yaml").write_text(config)
    out = tmp_path / out_name
    out.write_text("the previous export\n")
    assert (
        segkit(monkeypatch, "score", "--data", str(data), "--period", period, "--out", str(out))
        == 2
    )
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert out.read_text() == "the previous export\n"


def test_rate_records_the_event(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["rate", "--data", str(data), "--customer", "E", "--event", "deal"]
    args += ["--amount", "5000", "--date", "2024-12-20", "--reason", "framework contract"]
    assert segkit(monkeypatch, *args) == 0
    # By hand in tests/analyses/test_scorecard.py: 27.333 (D) -> 81.333 (A).
    assert "E: D (score 27.3) -> A (score 81.3) after deal of 5,000.00" in capsys.readouterr().out
    assert segkit(monkeypatch, *args) == 0  # appended, not overwritten
    lines = (data / "segkit-ratings.jsonl").read_text().splitlines()
    assert [json.loads(x)["new_grade"] for x in lines] == ["A", "A"]


def test_rate_errors(
    data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["rate", "--data", str(data), "--customer", "nobody", "--event", "deal"]
    args += ["--amount", "1", "--date", "2024-12-20", "--reason", "x"]
    assert segkit(monkeypatch, *args) == 2
    assert "'nobody' is not in the data" in capsys.readouterr().err
    assert not (data / "segkit-ratings.jsonl").exists()
