"""The notebook-friendly entry point: load a data folder and run every analysis for a period."""

from __future__ import annotations

import time
from pathlib import Path

from segkit.config import load_config
from segkit.data.load import Dataset, load_dataset
from segkit.engine.plugins import PluginManager
from segkit.engine.run import PeriodReport, run_period
from segkit.errors import ConfigError, PeriodError
from segkit.periods import Period, parse_period


def open_data(
    data_dir: str | Path, config: str | Path | None = None, cache_dir: str | Path | None = None
) -> Dataset:
    """Load and validate ``data_dir`` with its ``segkit.yaml`` (or ``config``), on the config's
    engine.

    DuckDB reuses the typed tables cached in ``cache_dir`` when given (see
    :mod:`segkit.data.cache`); Spark ignores ``cache_dir`` and registers the tables in its
    session (see :mod:`segkit.data.spark`).
    """
    folder = Path(data_dir)
    cfg = load_config(Path(config) if config else None, folder)
    if cfg.engine == "spark":
        try:
            from segkit.data.spark import load_spark_dataset
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"{cfg.source or 'config'}: engine spark needs PySpark ({exc.name} is not "
                "installed): pip install 'segkit[spark]', and Java 17"
            ) from None
        return load_spark_dataset(folder, cfg)
    return load_dataset(folder, cfg, Path(cache_dir) if cache_dir else None)


def plugin_manager(dataset: Dataset) -> PluginManager:
    """The plugins for this dataset's config, with its analysis settings checked."""
    plugins = PluginManager(dataset.config.plugins_dir)
    plugins.check_settings(dataset.config.analyses)
    for reg in plugins.analyses():
        dataset.config.analysis_settings(reg.analysis.name, reg.analysis.defaults)
    return plugins


def check_period(dataset: Dataset, period: Period) -> None:
    """Raise :class:`PeriodError` when the period starts after the data ends."""
    first, last = dataset.date_range()
    if period.start > last or period.end <= first:
        raise PeriodError(
            f"period {period} has no data: the transactions run from {first} to {last}"
        )


def run(
    data_dir: str | Path,
    period: str | Period,
    config: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> PeriodReport:
    """Run every analysis on ``data_dir`` for ``period`` (e.g. ``"2025-Q3"``).

    ``report.meta["seconds_data"]`` holds the time spent loading and analysing.
    """
    started = time.perf_counter()
    dataset = open_data(data_dir, config, cache_dir)
    p = parse_period(period) if isinstance(period, str) else period
    check_period(dataset, p)
    plugins = plugin_manager(dataset)
    report = run_period(dataset, p, plugins)
    report.meta.update(
        fingerprint=dataset.fingerprint,
        plugins={i.name: i.version for i in plugins.info()},
        seconds_data=time.perf_counter() - started,
        currency=dataset.config.currency,
        personal_columns=list(dataset.config.personal_columns),
        show_ids=dataset.config.show_ids,
        summary=list(dataset.config.summary),
        language=dataset.config.language,
    )
    return report
