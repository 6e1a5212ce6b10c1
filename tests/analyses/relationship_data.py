"""Helpers for the relationship-analysis tests: hand-built data folders, one analysis run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from textwrap import dedent
from typing import Any

from segkit.config import Config
from segkit.data.load import load_dataset
from segkit.engine.analysis import Metric, Section
from segkit.engine.context import PeriodContext
from segkit.periods import parse_period


def write_folder(folder: Path, **tables: str) -> Path:
    """Write tables given as CSV texts (``transactions="..."``) into ``folder``; return it."""
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(dedent(text).strip() + "\n")
    return folder


def run_analysis(
    analysis: Any,
    data: Path,
    period: str,
    settings: Mapping[str, Any] | None = None,
    results: Mapping[str, Section] | None = None,
) -> Section:
    """Load ``data`` and run one analysis for ``period`` with optional settings and results."""
    dataset = load_dataset(data, Config())
    merged = {**analysis.defaults, **(settings or {})}
    ctx = PeriodContext(dataset, parse_period(period), merged, dict(results or {}))
    section: Section = analysis.run(ctx)
    return section


def metrics(section: Section) -> dict[str, Metric]:
    """A section's metrics by key."""
    return {m.key: m for m in section.metrics}
