"""Hostile and malformed inputs: every case in ``tests/corpus`` gets one clear message.

Each folder holds the input files and ``expected.yaml``:

* ``why``: what the case is;
* ``exit``: 2 (a user error), or 0 for the few inputs segkit accepts on purpose (their ``why``
  starts with ACCEPTED; only ``validate`` runs on them, which prints rows and date range);
* ``message``: fragments the message must contain (file, column, lines, what to do);
* ``period``: the ``--period`` given to ``segkit report`` (default 2024-Q1);
* ``validate``: overrides of ``exit``/``message`` for ``segkit validate`` (period cases pass it).

Both commands run through segkit's console entry point (``segkit.cli.main``, which maps user
errors to exit 2) inside this process: 60 cases as subprocesses would take over a minute, and
``tests/test_cli.py`` already covers the subprocess path. Each case runs on a copy of its folder
with a previous report in the output folder, which must come through byte for byte.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml

from segkit.cli import main

CORPUS = Path(__file__).with_name("corpus")
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.yaml").is_file())


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run ``segkit *args`` as the console script does: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    argv, sys.argv = sys.argv, ["segkit", *args]
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` with the SHA-256 of its bytes ('' for folders)."""
    paths = sorted(folder.rglob("*"))
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        )
        for p in paths
    }


def previous_reports(out: Path) -> None:
    """An output folder as a previous good run left it."""
    (out / "2024-Q1").mkdir(parents=True)
    (out / "2024-Q1" / "report.html").write_text("<p>the good old report</p>")
    (out / "2024-Q1" / "run.json").write_text('{"period": "2024-Q1", "status": "ok"}')
    (out / ".status").mkdir()
    (out / ".status" / "2024-Q1.json").write_text('{"period": "2024-Q1", "status": "ok"}')
    (out / "index.html").write_text("<p>index</p>")


def check(command: str, result: tuple[int, str, str], exit: int, message: list[str]) -> None:
    code, stdout, stderr = result
    assert "Traceback" not in stderr + stdout, f"{command}: {stderr}"
    assert code == exit, f"{command}: exit {code}, expected {exit}: {stderr}"
    text = stderr if exit else stdout
    if exit:
        # One message: "error: <file, column: problem; rows; values>." and one "-> what to do".
        assert stderr.startswith("error: "), stderr
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("  -> ")), stderr
    missing = [f for f in message if f not in text]
    assert not missing, f"{command}: {missing} not in:\n{text}"


@pytest.mark.parametrize("case", CASES)
def test_corpus_case(case: str, tmp_path: Path) -> None:
    expected: dict[str, Any] = yaml.safe_load((CORPUS / case / "expected.yaml").read_text("utf-8"))
    data = tmp_path / "data"
    shutil.copytree(CORPUS / case, data, symlinks=True, ignore=shutil.ignore_patterns("expected.*"))
    validate = {"exit": expected["exit"], "message": expected["message"]}
    validate.update(expected.get("validate", {}))
    check("validate", run_cli("validate", "--data", str(data)), **validate)
    if expected["exit"] == 0:
        assert expected["why"].startswith("ACCEPTED")
        return
    out = tmp_path / "reports"
    previous_reports(out)
    before = snapshot(out)
    period = str(expected.get("period", "2024-Q1"))
    result = run_cli("report", "--data", str(data), "--period", period, "--out", str(out))
    check("report", result, expected["exit"], expected["message"])
    assert snapshot(out) == before


def test_corpus_is_large_and_mostly_rejections() -> None:
    accepted = [
        c
        for c in CASES
        if yaml.safe_load((CORPUS / c / "expected.yaml").read_text("utf-8"))["exit"] == 0
    ]
    assert len(CASES) - len(accepted) >= 40
    assert len(accepted) <= 6
