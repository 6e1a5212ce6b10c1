"""The run configuration, read from ``segkit.yaml`` beside the data (defaults when absent).

Top-level keys (all optional)::

    currency: EUR            # shown in reports
    timezone: UTC            # local calendar of the period boundaries (IANA name)
    grain: quarter           # month | quarter | year: the cycle of `segkit report --all`
    language: en             # report language
    tables:                  # file name per table, when it is not <table>.csv/.parquet/...
      transactions: sales_export.csv
    columns:                 # CRM export column -> contract column, per table
      transactions: {Client: customer_id, OrderDate: date, Total: amount}
    personal_columns: [name] # customer columns masked in reports unless ids are shown
    show_ids: false          # show customer identifiers in full in HTML reports
    case_sensitive_ids: false  # true: ids that differ only in case (A, a) are two customers
    plugin_timeout: 300      # seconds an analysis may run before it is stopped and reported
    threads: 2               # DuckDB threads per run (default: every core); the report is the
                             # same with any number: money is summed exactly, results ordered
    memory_limit: 2GB        # DuckDB's memory per run (default: 80 % of RAM); beyond it, tables
                             # and aggregations spill to a private temporary folder on disk
    engine: duckdb           # duckdb (embedded, the default) | spark: where the queries run
    spark:                   # only with engine: spark (see docs/scale.md)
      master: local[2]       # Spark master URL: local[N], spark://host:7077, yarn, k8s://...
      options:               # Spark settings (spark.* keys) of the session; the time zone
        spark.driver.memory: 8g  # is the top-level timezone, not spark.sql.session.timeZone
      tables:                # contract table -> Spark catalog table; a table not named here
        transactions: sales.transactions  # is read from its Parquet file or folder
    summary: [pareto.net_value, retention.churn_rate]  # executive summary figures, in order
                             # (section.metric); default: segkit.report.html.DEFAULT_SUMMARY
    plugins_dir: plugins     # folder of single-file plugins, relative to this file
    analyses:                # per-analysis settings; each analysis documents its own keys
      pareto: {top_share: 0.2}

Unknown keys are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from segkit.data.contract import TABLES, Table
from segkit.errors import ConfigError, DataError
from segkit.periods import GRAINS, Grain

CONFIG_NAME = "segkit.yaml"
LANGUAGES = ("en", "ru", "uk")
ENGINES = ("duckdb", "spark")
EngineName = Literal["duckdb", "spark"]


@dataclass(frozen=True)
class SparkSettings:
    """The ``spark:`` section: where the Spark session runs and where its tables come from.

    ``options`` are Spark settings (``spark.*`` keys, values as text) for the session;
    ``tables`` names, per contract table, a table of the Spark catalog to read instead of
    the table's file in the data folder.
    """

    master: str = "local[2]"
    options: Mapping[str, str] = field(default_factory=dict)
    tables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    """Validated configuration. ``source`` is the file it came from, if any."""

    currency: str = "EUR"
    timezone: str = "UTC"
    grain: Grain = "quarter"
    language: str = "en"
    tables: Mapping[str, str] = field(default_factory=dict)
    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    personal_columns: tuple[str, ...] = ("name",)
    show_ids: bool = False
    case_sensitive_ids: bool = False
    plugin_timeout: float = 300.0
    threads: int | None = None
    memory_limit: str | None = None
    plugins_dir: Path | None = None
    summary: tuple[str, ...] = ()
    analyses: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    engine: EngineName = "duckdb"
    spark: SparkSettings = field(default_factory=SparkSettings)
    source: Path | None = None

    def analysis_settings(self, name: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
        """Settings of analysis ``name``: its defaults overridden by the config's section.

        Raises :class:`ConfigError` for keys the analysis does not know.
        """
        given = self.analyses.get(name, {})
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise ConfigError(
                f"{self._where()}: analyses.{name} has unknown key(s) {', '.join(unknown)}; "
                f"known keys: {', '.join(sorted(defaults)) or '(none)'}"
            )
        return {**defaults, **given}

    def mapped_columns(
        self, spec: Table, source_columns: list[str], path: Path, source: str = "file"
    ) -> dict[str, str]:
        """Name in the loaded table -> column of the ``source`` at ``path``, by the column
        mapping (columns it does not map keep their names).

        Raises :class:`DataError` when two columns would get one name or a required column of
        ``spec`` is missing.
        """
        mapping = self.columns.get(spec.name, {})
        renamed: dict[str, str] = {}
        for c in source_columns:
            target = mapping.get(c, c)
            if target in renamed:
                raise DataError(
                    f"columns '{renamed[target]}' and '{c}' would both become '{target}'",
                    path=path,
                    column=target,
                    hint="the column mapping in segkit.yaml renames one onto the other; map "
                    "only one of them to this contract column",
                )
            renamed[target] = c
        missing = [c for c in spec.required_columns if c not in renamed]
        if missing:
            raise DataError(
                f"missing required column(s) {', '.join(missing)}",
                path=path,
                hint=f"the {source} has {', '.join(source_columns)}; rename the columns or map "
                f"them under 'columns: {{{spec.name}: {{your_name: {missing[0]}}}}}' in "
                "segkit.yaml",
            )
        return renamed

    def _where(self) -> str:
        return str(self.source) if self.source else "config"


_KEYS = {
    "currency",
    "timezone",
    "grain",
    "language",
    "tables",
    "columns",
    "personal_columns",
    "show_ids",
    "case_sensitive_ids",
    "plugin_timeout",
    "threads",
    "memory_limit",
    "plugins_dir",
    "summary",
    "analyses",
    "engine",
    "spark",
}


def load_config(path: Path | None = None, data_dir: Path | None = None) -> Config:
    """Read the config from ``path``, else ``data_dir/segkit.yaml`` if present, else defaults."""
    if path is None and data_dir is not None and (data_dir / CONFIG_NAME).is_file():
        path = data_dir / CONFIG_NAME
    if path is None:
        return Config()
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: cannot parse YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    return parse_config(raw if raw is not None else {}, source=path)


def parse_config(raw: object, source: Path | None = None) -> Config:
    """Validate a parsed YAML document into a :class:`Config`."""
    where = str(source) if source else "config"

    def fail(message: str) -> ConfigError:
        return ConfigError(f"{where}: {message}")

    if not isinstance(raw, dict):
        raise fail("the top level must be a mapping of keys to values")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise fail(
            f"unknown key(s) {', '.join(map(str, unknown))}; known: {', '.join(sorted(_KEYS))}"
        )

    def text(key: str, default: str) -> str:
        value = raw.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise fail(f"'{key}' must be a non-empty text, got {value!r}")
        return value.strip()

    timezone = text("timezone", "UTC")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise fail(f"timezone '{timezone}' is not an IANA zone name such as Europe/Kyiv") from None
    grain = text("grain", "quarter")
    if grain not in GRAINS:
        raise fail(f"grain must be one of {', '.join(GRAINS)}, got '{grain}'")
    language = text("language", "en")
    if language not in LANGUAGES:
        raise fail(f"language must be one of {', '.join(LANGUAGES)}, got '{language}'")

    tables = _mapping(raw.get("tables", {}), "tables", fail)
    for table, filename in tables.items():
        if table not in TABLES:
            raise fail(f"tables: unknown table '{table}'; tables are {', '.join(TABLES)}")
        if not isinstance(filename, str):
            raise fail(f"tables.{table} must be a file name")
    columns: dict[str, dict[str, str]] = {}
    for table, mapping in _mapping(raw.get("columns", {}), "columns", fail).items():
        if table not in TABLES:
            raise fail(f"columns: unknown table '{table}'; tables are {', '.join(TABLES)}")
        m = _mapping(mapping, f"columns.{table}", fail)
        known = {c.name for c in TABLES[table].columns}
        for source_name, contract_name in m.items():
            if contract_name not in known and table != "customers":
                raise fail(
                    f"columns.{table}: '{source_name}' maps to '{contract_name}', which is not a "
                    f"column of {table}; columns are {', '.join(sorted(known))}"
                )
        columns[table] = {str(k): str(v) for k, v in m.items()}

    personal = raw.get("personal_columns", ["name"])
    if not isinstance(personal, list) or not all(isinstance(p, str) for p in personal):
        raise fail("personal_columns must be a list of column names")
    show_ids = raw.get("show_ids", False)
    if not isinstance(show_ids, bool):
        raise fail(f"show_ids must be true or false, got {show_ids!r}")
    case_sensitive_ids = raw.get("case_sensitive_ids", False)
    if not isinstance(case_sensitive_ids, bool):
        raise fail(f"case_sensitive_ids must be true or false, got {case_sensitive_ids!r}")
    timeout = raw.get("plugin_timeout", 300)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise fail(f"plugin_timeout must be a number of seconds above 0, got {timeout!r}")
    threads = raw.get("threads")
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise fail(f"threads must be a whole number of at least 1, got {threads!r}")
    memory_limit = raw.get("memory_limit")
    if memory_limit is not None and (
        not isinstance(memory_limit, str)
        or not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", memory_limit.strip())
    ):
        raise fail(f"memory_limit must be an amount such as 2GB or 512MB, got {memory_limit!r}")
    plugins_dir = raw.get("plugins_dir")
    if plugins_dir is not None and not isinstance(plugins_dir, str):
        raise fail("plugins_dir must be a folder path")
    summary = raw.get("summary", [])
    if not isinstance(summary, list) or not all(
        isinstance(k, str) and k.count(".") == 1 for k in summary
    ):
        raise fail("summary must be a list of section.metric names, e.g. pareto.top_share")
    base = source.parent if source else Path.cwd()
    analyses = {
        str(name): dict(_mapping(settings or {}, f"analyses.{name}", fail))
        for name, settings in _mapping(raw.get("analyses", {}), "analyses", fail).items()
    }
    engine = text("engine", "duckdb")
    if engine not in ENGINES:
        raise fail(f"engine must be one of {', '.join(ENGINES)}, got '{engine}'")
    if "spark" in raw and engine != "spark":
        raise fail("the 'spark' section needs 'engine: spark' (the engine is duckdb)")
    spark = _spark_settings(_or_empty(raw.get("spark")), tables, fail)
    return Config(
        currency=text("currency", "EUR"),
        timezone=timezone,
        grain=cast(Grain, grain),
        language=language,
        tables={str(k): str(v) for k, v in tables.items()},
        columns=columns,
        personal_columns=tuple(personal),
        show_ids=show_ids,
        case_sensitive_ids=case_sensitive_ids,
        plugin_timeout=float(timeout),
        threads=threads,
        memory_limit=memory_limit.strip() if memory_limit else None,
        plugins_dir=(base / plugins_dir) if plugins_dir else None,
        summary=tuple(summary),
        analyses=analyses,
        engine=cast(EngineName, engine),
        spark=spark,
        source=source,
    )


_SPARK_KEYS = ("master", "options", "tables")


def _spark_settings(raw: object, files: Mapping[str, object], fail: Any) -> SparkSettings:
    """Validate the ``spark:`` section; ``files`` is the top-level ``tables`` mapping."""
    section = _mapping(raw, "spark", fail)
    unknown = sorted(set(section) - set(_SPARK_KEYS))
    if unknown:
        raise fail(
            f"spark: unknown key(s) {', '.join(map(str, unknown))}; known: {', '.join(_SPARK_KEYS)}"
        )
    master = section.get("master", SparkSettings.master)
    if not isinstance(master, str) or not master.strip():
        raise fail(
            f"spark.master must be a Spark master URL such as local[2] or spark://host:7077, "
            f"got {master!r}"
        )
    options: dict[str, str] = {}
    for key, value in _mapping(_or_empty(section.get("options")), "spark.options", fail).items():
        if not isinstance(key, str) or not key.startswith("spark."):
            raise fail(f"spark.options: '{key}' is not a Spark setting (they start with 'spark.')")
        if key == "spark.sql.session.timeZone":
            raise fail("spark.options: set the time zone with the top-level 'timezone' key")
        if isinstance(value, bool):
            value = str(value).lower()
        if not isinstance(value, str | int | float) or not str(value).strip():
            raise fail(f"spark.options.{key} must be a text or a number, got {value!r}")
        options[key] = str(value).strip()
    tables: dict[str, str] = {}
    for table, name in _mapping(_or_empty(section.get("tables")), "spark.tables", fail).items():
        if table not in TABLES:
            raise fail(f"spark.tables: unknown table '{table}'; tables are {', '.join(TABLES)}")
        if not isinstance(name, str) or not name.strip():
            raise fail(f"spark.tables.{table} must be a Spark table name such as sales.{table}")
        if table in files:
            raise fail(
                f"{table} is named both under 'tables' (a file) and under 'spark.tables' "
                "(a Spark table); keep one"
            )
        tables[str(table)] = name.strip()
    return SparkSettings(master.strip(), options, tables)


def _or_empty(value: object) -> object:
    """A key given with nothing after it (``options:``) is an empty mapping."""
    return {} if value is None else value


def _mapping(value: object, key: str, fail: Any) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise fail(f"'{key}' must be a mapping")
    return value
