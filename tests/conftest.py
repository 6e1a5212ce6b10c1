"""Shared fixtures: a small demo company, made once per test session."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from segkit.data.demo import generate


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1,500-customer demo company (read-only: copy it before changing anything)."""
    out = tmp_path_factory.mktemp("demo") / "data"
    generate(out, customers=1500, seed=11)
    return out


CLI = Callable[..., subprocess.CompletedProcess[str]]


def _segkit(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from segkit.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        check=False,
    )


@pytest.fixture
def segkit() -> CLI:
    """Run the segkit command line in a subprocess, as a user would, capturing its output."""
    return _segkit
