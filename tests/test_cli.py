"""The command line: user errors exit 2 with a clear message, no traceback, nothing lost."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

CLI = Any  # the `segkit` fixture from conftest.py


HEADER = "customer_id,date,amount\n"


def assert_user_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.stderr


def test_missing_folder(tmp_path: Path, segkit: CLI) -> None:
    assert_user_error(segkit("validate", "--data", str(tmp_path / "nope")), "data folder not found")


def test_non_numeric_amount(tmp_path: Path, segkit: CLI) -> None:
    (tmp_path / "transactions.csv").write_text(HEADER + "A,2024-01-05,ten\n")
    result = segkit("validate", "--data", str(tmp_path))
    assert_user_error(result, "transactions.csv", "column 'amount'", "line 2", "'ten'")


def test_broken_yaml(tmp_path: Path, segkit: CLI) -> None:
    (tmp_path / "transactions.csv").write_text(HEADER + "A,2024-01-05,1\n")
    (tmp_path / "segkit.yaml").write_text("grain: [quarter\n")
    assert_user_error(segkit("validate", "--data", str(tmp_path)), "segkit.yaml", "line")


def test_unknown_analysis_setting(tmp_path: Path, segkit: CLI) -> None:
    (tmp_path / "transactions.csv").write_text(HEADER + "A,2024-01-05,1\n")
    (tmp_path / "segkit.yaml").write_text("analyses:\n  pareto: {top: 0.3}\n")
    assert_user_error(segkit("validate", "--data", str(tmp_path)), "analyses.pareto")


def test_validate_ok(tmp_path: Path, segkit: CLI) -> None:
    (tmp_path / "transactions.csv").write_text(HEADER + "A,2024-01-05,1\nB,2024-03-01,2\n")
    result = segkit("validate", "--data", str(tmp_path))
    assert result.returncode == 0
    assert "transactions from 2024-01-05 to 2024-03-01" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--period", "2024-Q9"), "is not a period"),
        (("--period", "2030-Q1"), "has no data"),
        (("--period", "2024-Q1", "--all"), "exactly one of"),
    ],
)
def test_report_bad_periods(
    tmp_path: Path, args: tuple[str, ...], message: str, segkit: CLI
) -> None:
    (tmp_path / "transactions.csv").write_text(HEADER + "A,2024-01-05,1\n")
    result = segkit("report", "--data", str(tmp_path), "--out", str(tmp_path / "r"), *args)
    assert_user_error(result, message)


def test_bad_data_leaves_existing_reports_untouched(tmp_path: Path, segkit: CLI) -> None:
    reports = tmp_path / "reports"
    (reports / "2024-Q1").mkdir(parents=True)
    (reports / "2024-Q1" / "report.html").write_text("<p>the good old report</p>")
    (reports / "index.html").write_text("<p>index</p>")
    before = {
        p: hashlib.sha256(p.read_bytes()).hexdigest() for p in reports.rglob("*") if p.is_file()
    }
    (tmp_path / "transactions.csv").write_text(HEADER + "A,2024-01-05,1\nB,someday,2\n")
    result = segkit("report", "--data", str(tmp_path), "--period", "2024-Q1", "--out", str(reports))
    assert_user_error(result, "column 'date'")
    after = {
        p: hashlib.sha256(p.read_bytes()).hexdigest() for p in reports.rglob("*") if p.is_file()
    }
    assert after == before


def test_plugins_lists_builtins(segkit: CLI) -> None:
    result = segkit("plugins")
    assert result.returncode == 0
    assert "segkit.analyses.pareto" in result.stdout
    assert "register_analyses" in result.stdout


def test_help_for_every_command(segkit: CLI) -> None:
    for command in ("demo", "validate", "report", "plugins"):
        result = segkit(command, "--help")
        assert result.returncode == 0 and "Usage:" in result.stdout


def test_default_demo_passes_validation(tmp_path: Path, segkit: CLI) -> None:
    """What `make demo` does first: the full-size demo company must satisfy the contract."""
    demo = segkit("demo", "--out", str(tmp_path / "demo"))
    assert demo.returncode == 0, demo.stderr
    assert "transactions 1,0" in demo.stdout  # about a million rows
    result = segkit("validate", "--data", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    assert "transactions from 2023-01-01 to 2025-12-31" in result.stdout
