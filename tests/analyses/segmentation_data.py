"""Helpers of the RFM, ABC-XYZ, quadrant, migration and stratification tests.

Each test writes its own small data folder (the hand arithmetic sits beside the rows) and runs
a chosen set of built-in analyses through the engine, exactly as a report would.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from segkit.api import open_data
from segkit.engine import plugins as plugins_module
from segkit.engine.analysis import Section
from segkit.engine.plugins import PluginManager
from segkit.engine.run import PeriodReport, run_period
from segkit.periods import parse_period

MINE = ("rfm", "abc_xyz", "quadrants", "migration", "stratification")


def monthly(customer: str, amounts: Iterable[float], year: int = 2024, day: int = 15) -> str:
    """CSV rows of one purchase per month from January of ``year``; 0 means no purchase."""
    return "".join(
        f"{customer},{year}-{m:02d}-{day:02d},{a}\n"
        for m, a in enumerate(amounts, start=1)
        if a != 0
    )


def write(
    folder: Path, transactions: str, customers: str = "", config: str = "", surveys: str = ""
) -> Path:
    """A data folder: ``transactions`` rows (customer_id,date,amount), optional other tables."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "transactions.csv").write_text("customer_id,date,amount\n" + transactions)
    if customers:
        (folder / "customers.csv").write_text(customers)
    if surveys:
        (folder / "surveys.csv").write_text(surveys)
    if config:
        (folder / "segkit.yaml").write_text(config)
    return folder


def run(
    folder: Path, period: str, monkeypatch: pytest.MonkeyPatch, analyses: Iterable[str] = MINE
) -> PeriodReport:
    """Run the named built-in analyses (and nothing else) for ``period``."""
    monkeypatch.setattr(
        plugins_module, "DEFAULT_PLUGINS", tuple(f"segkit.analyses.{a}" for a in analyses)
    )
    dataset = open_data(folder)
    return run_period(dataset, parse_period(period), PluginManager(None, entry_points=False))


def section(report: PeriodReport, name: str) -> Section:
    """The named section, failing the test with its error if it has one."""
    s = report.section(name)
    assert s.error is None, s.error
    return s
