"""Shared by the analysis tests: helper modules importable, built-in analyses only.

The suite runs with ``--import-mode=importlib``, which leaves ``sys.path`` alone; this folder
is put on it so that tests can import their data helpers (``value_clients``,
``relationship_data``) by name.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from segkit.engine.plugins import ENV_LOAD

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import value_clients  # noqa: E402 (needs the path above)


@pytest.fixture(autouse=True)
def _built_ins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed plugins stay out unless a test loads one on purpose."""
    monkeypatch.setenv(ENV_LOAD, "")


@pytest.fixture
def value_data(tmp_path: Path) -> Callable[..., Path]:
    """Write the data of :mod:`value_clients` (and a segkit.yaml) and return its folder."""

    def write(config: str = "") -> Path:
        return value_clients.write(tmp_path / "data", config)

    return write
