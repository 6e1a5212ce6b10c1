"""Running every registered analysis for one period.

Each analysis runs under the config's ``plugin_timeout`` (seconds). In the main thread, where
the report notebook's kernel runs code, a ``SIGALRM`` timer interrupts it; elsewhere (a thread
of an analyst's own) it runs in a worker thread that is abandoned at the deadline, since Python
cannot stop a thread. A timer cannot interrupt a single long call into C (a DuckDB query): the
analysis is stopped when that call returns. What ``run`` returns is checked before it is used,
so a malformed section fails by name instead of breaking the report's HTML.
"""

from __future__ import annotations

import math
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import pandas as pd

from segkit.data.load import Dataset
from segkit.engine.analysis import Metric, Section, Table
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

    def metric_records(self) -> list[dict[str, Any]]:
        """Every metric as a plain record: section, key, label, unit, value, previous,
        headline (what run records and the index store)."""
        return [
            {
                "section": s.name,
                "key": m.key,
                "label": m.label,
                "unit": m.unit,
                "value": m.value,
                "previous": m.previous,
                "headline": m.headline,
            }
            for s in self.sections
            for m in s.metrics
        ]

    def metrics_frame(self) -> pd.DataFrame:
        """Every metric as a row, with its change from the previous period."""
        frame = pd.DataFrame(self.metric_records())
        if frame.empty:
            return frame
        frame.insert(6, "change", [m.change for m in self.metrics()])
        return frame


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
    timeout = dataset.config.plugin_timeout
    try:
        if failed:
            raise _SkippedError(f"skipped: needs {', '.join(failed)}, which did not run")
        settings = dataset.config.analysis_settings(analysis.name, analysis.defaults)
        ctx = PeriodContext(dataset, period, settings, results, plugins, cache)
        section = _within(timeout, lambda: analysis.run(ctx))
        _check_section(section)
    except (SegkitError, _SkippedError) as exc:  # the input's fault: the message says it all
        section = Section(name=analysis.name, title=analysis.title, error=str(exc))
    except _TimeoutError:
        message = (
            f"analysis '{analysis.name}' of plugin '{reg.plugin}' did not finish within "
            f"plugin_timeout = {timeout:g} s and was stopped; raise plugin_timeout in "
            "segkit.yaml if it needs longer"
        )
        section = Section(name=analysis.name, title=analysis.title, error=message)
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


class _TimeoutError(BaseException):
    """Raised into a running analysis at its deadline.

    A BaseException, so an analysis' own ``except Exception`` cannot swallow it.
    """


def _within(seconds: float, call: Callable[[], Any]) -> Any:
    """``call()``, stopped with :class:`_TimeoutError` after ``seconds``."""
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM"):
        with _alarm(seconds):
            return call()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed back to the caller's thread below
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="segkit-analysis", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise _TimeoutError
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """Raise :class:`_TimeoutError` in the main thread after ``seconds``."""

    def expire(signum: int, frame: object) -> None:
        raise _TimeoutError

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _check_section(section: object) -> None:
    """Reject what the report cannot show, naming the part that is wrong."""
    if not isinstance(section, Section):
        raise TypeError(f"run() returned {type(section).__name__}, not a Section")
    for attr in ("title", "summary"):
        if not isinstance(getattr(section, attr), str):
            raise TypeError(f"Section.{attr} is {type(getattr(section, attr)).__name__}, not text")
    if not all(isinstance(n, str) for n in section.notes):
        raise TypeError("Section.notes must be a list of texts")
    if not isinstance(section.definitions, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in section.definitions.items()
    ):
        raise TypeError("Section.definitions must map texts to texts")
    for metric in section.metrics:
        if not isinstance(metric, Metric):
            raise TypeError(f"Section.metrics holds a {type(metric).__name__}, not a Metric")
        for name in ("value", "previous"):
            value = getattr(metric, name)
            finite = isinstance(value, Real) and not isinstance(value, bool)
            if value is not None and not (finite and math.isfinite(float(value))):
                raise ValueError(
                    f"metric '{metric.key}' has {name} {value!r}; use a finite number, or None "
                    "when it is undefined"
                )
    if not isinstance(section.tables, Mapping):
        raise TypeError("Section.tables must be a dict of Table")
    for key, table in section.tables.items():
        if not isinstance(table, Table) or not isinstance(table.frame, pd.DataFrame):
            raise TypeError(f"table '{key}' is not a Table holding a pandas DataFrame")
    for figure in section.figures:
        if not hasattr(figure, "savefig"):
            raise TypeError(f"Section.figures holds a {type(figure).__name__}, not a Figure")
