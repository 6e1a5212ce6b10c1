"""Running every registered analysis for one period."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from segkit.data.load import Dataset
from segkit.engine.analysis import Metric, Section
from segkit.engine.context import PeriodContext
from segkit.engine.plugins import PluginManager, Registered
from segkit.errors import SegkitError
from segkit.periods import Period


@dataclass
class PeriodReport:
    """The sections of one period, in report order, with the failures kept apart."""

    period: Period
    sections: list[Section]
    data_through: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[Section]:
        return [s for s in self.sections if s.error]

    def section(self, name: str) -> Section:
        for s in self.sections:
            if s.name == name:
                return s
        raise KeyError(name)

    def metrics(self) -> list[Metric]:
        return [m for s in self.sections for m in s.metrics]

    def metrics_frame(self) -> pd.DataFrame:
        """Every metric as a row: section, key, label, unit, value, previous, change."""
        rows = [
            {
                "section": s.name,
                "key": m.key,
                "label": m.label,
                "unit": m.unit,
                "value": m.value,
                "previous": m.previous,
                "change": m.change,
                "headline": m.headline,
            }
            for s in self.sections
            for m in s.metrics
        ]
        return pd.DataFrame(rows)


def run_period(dataset: Dataset, period: Period, plugins: PluginManager) -> PeriodReport:
    """Run every analysis for ``period``; a failing analysis becomes a section with its error.

    Analyses run in an order that respects ``requires``; one whose requirement failed is
    skipped with a note naming it.
    """
    cache: dict[Any, Any] = {}
    results: dict[str, Section] = {}
    for reg in plugins.ordered_analyses():
        results[reg.analysis.name] = _run_one(reg, dataset, period, results, plugins, cache)
    # Plugins that failed to load or register are shown too, so their absence is never silent.
    broken = [
        Section(name=f"plugin:{name}", title=f"Plugin {name}", error=error, plugin=name, order=999)
        for name, error in sorted(plugins.errors.items())
    ]
    sections = sorted([*results.values(), *broken], key=lambda s: (s.order, s.name))
    _, last = dataset.date_range()
    return PeriodReport(period, sections, data_through=last.isoformat())


def _run_one(
    reg: Registered,
    dataset: Dataset,
    period: Period,
    results: dict[str, Section],
    plugins: PluginManager,
    cache: dict[Any, Any],
) -> Section:
    analysis = reg.analysis
    started = time.perf_counter()
    failed = [r for r in analysis.requires if r not in results or results[r].error]
    try:
        if failed:
            raise _SkippedError(f"skipped: needs {', '.join(failed)}, which did not run")
        settings = dataset.config.analysis_settings(analysis.name, analysis.defaults)
        ctx = PeriodContext(dataset, period, settings, results, plugins, cache)
        section = analysis.run(ctx)
        if not isinstance(section, Section):
            raise TypeError(f"run() returned {type(section).__name__}, not a Section")
    except (SegkitError, _SkippedError) as exc:  # the input's fault: the message says it all
        section = Section(name=analysis.name, title=analysis.title, error=str(exc))
    except Exception as exc:  # a plugin's fault: report it by name, keep the other sections
        message = (
            f"analysis '{analysis.name}' of plugin '{reg.plugin}' failed: "
            f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}"
        )
        section = Section(name=analysis.name, title=analysis.title, error=message)
    section.name, section.order, section.plugin = analysis.name, analysis.order, reg.plugin
    section.definitions = section.definitions or analysis.definitions
    section.seconds = time.perf_counter() - started
    return section


class _SkippedError(Exception):
    pass
