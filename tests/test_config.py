"""segkit.yaml: defaults, mapping, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from segkit.config import Config, SparkSettings, load_config, parse_config
from segkit.data.contract import TABLES
from segkit.errors import ConfigError, DataError


def test_defaults_when_absent(tmp_path: Path) -> None:
    config = load_config(None, tmp_path)
    assert config == Config()
    assert (config.currency, config.timezone, config.grain) == ("EUR", "UTC", "quarter")


def test_read_from_data_folder(tmp_path: Path) -> None:
    (tmp_path / "segkit.yaml").write_text("currency: UAH\ngrain: month\nplugins_dir: extra\n")
    config = load_config(None, tmp_path)
    assert (config.currency, config.grain) == ("UAH", "month")
    assert config.plugins_dir == tmp_path / "extra"
    assert config.source == tmp_path / "segkit.yaml"


def test_broken_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "segkit.yaml"
    path.write_text("currency: EUR\ncolumns: {transactions: [\n")
    with pytest.raises(ConfigError, match=r"segkit.yaml: cannot parse YAML at line \d+"):
        load_config(path)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"curency": "EUR"}, "unknown key.*curency"),
        ({"grain": "week"}, "grain must be one of month, quarter, year"),
        ({"timezone": "Mars/Olympus"}, "not an IANA zone"),
        ({"columns": {"transactions": {"Client": "client_id"}}}, "not a column of transactions"),
        ({"tables": {"sales": "x.csv"}}, "unknown table 'sales'"),
        ({"show_ids": "yes"}, "show_ids must be true or false"),
        ([1, 2], "top level must be a mapping"),
    ],
)
def test_invalid_configs(raw: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_analysis_settings_merge_and_reject_unknown_keys() -> None:
    config = parse_config({"analyses": {"pareto": {"top_share": 0.1}}})
    defaults = {"top_share": 0.2, "target_share": 0.8}
    assert config.analysis_settings("pareto", defaults) == {"top_share": 0.1, "target_share": 0.8}
    bad = parse_config({"analyses": {"pareto": {"top": 0.1}}})
    with pytest.raises(ConfigError, match="analyses.pareto has unknown key"):
        bad.analysis_settings("pareto", defaults)


def test_threads_default_to_every_core_and_must_be_positive() -> None:
    assert parse_config({}).threads is None
    assert parse_config({"threads": 2}).threads == 2
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ConfigError, match="threads must be a whole number"):
            parse_config({"threads": bad})


def test_engine_defaults_to_duckdb_and_spark_settings_to_local() -> None:
    assert parse_config({}).engine == "duckdb"
    config = parse_config({"engine": "spark"})
    assert (config.engine, config.spark) == ("spark", SparkSettings())
    assert config.spark.master == "local[2]"


def test_spark_section() -> None:
    config = parse_config(
        {
            "engine": "spark",
            "spark": {
                "master": "spark://head:7077",
                "options": {"spark.driver.memory": "8g", "spark.sql.shuffle.partitions": 64},
                "tables": {"transactions": "sales.transactions"},
            },
        }
    )
    assert config.spark == SparkSettings(
        "spark://head:7077",
        {"spark.driver.memory": "8g", "spark.sql.shuffle.partitions": "64"},
        {"transactions": "sales.transactions"},
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"engine": "flink"}, "engine must be one of duckdb, spark, got 'flink'"),
        ({"spark": {"master": "local[4]"}}, "the 'spark' section needs 'engine: spark'"),
        ({"engine": "spark", "spark": {"cluster": "x"}}, r"spark: unknown key\(s\) cluster"),
        ({"engine": "spark", "spark": {"master": ""}}, "spark.master must be a Spark master URL"),
        ({"engine": "spark", "spark": {"options": ["a"]}}, "'spark.options' must be a mapping"),
        (
            {"engine": "spark", "spark": {"options": {"driver.memory": "8g"}}},
            "'driver.memory' is not a Spark setting",
        ),
        (
            {"engine": "spark", "spark": {"options": {"spark.driver.memory": None}}},
            "spark.options.spark.driver.memory must be a text or a number",
        ),
        (
            {"engine": "spark", "spark": {"options": {"spark.sql.session.timeZone": "UTC"}}},
            "set the time zone with the top-level 'timezone' key",
        ),
        (
            {"engine": "spark", "spark": {"tables": {"sales": "db.sales"}}},
            "spark.tables: unknown table 'sales'",
        ),
        (
            {"engine": "spark", "spark": {"tables": {"transactions": 3}}},
            "spark.tables.transactions must be a Spark table name",
        ),
        (
            {
                "engine": "spark",
                "tables": {"transactions": "tx.parquet"},
                "spark": {"tables": {"transactions": "db.tx"}},
            },
            "transactions is named both under 'tables'",
        ),
    ],
)
def test_invalid_spark_configs(raw: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_mapped_columns_rename_and_name_what_is_missing() -> None:
    config = parse_config(
        {"columns": {"transactions": {"Client": "customer_id", "Total": "amount"}}}
    )
    spec = TABLES["transactions"]
    renamed = config.mapped_columns(spec, ["Client", "date", "Total", "note"], Path("tx.parquet"))
    assert renamed == {"customer_id": "Client", "date": "date", "amount": "Total", "note": "note"}
    with pytest.raises(DataError, match="columns 'amount' and 'Total' would both become 'amount'"):
        config.mapped_columns(spec, ["Client", "date", "amount", "Total"], Path("tx.parquet"))
    with pytest.raises(DataError, match=r"missing required column\(s\) date") as err:
        config.mapped_columns(spec, ["Client", "Total"], Path("db.tx"), "table")
    assert "the table has Client, Total" in str(err.value)


def test_memory_limit_is_an_amount() -> None:
    assert parse_config({}).memory_limit is None
    assert parse_config({"memory_limit": "2GB"}).memory_limit == "2GB"
    for bad in ["lots", 2, "2 parsecs", "-1GB"]:
        with pytest.raises(ConfigError, match="memory_limit must be an amount"):
            parse_config({"memory_limit": bad})
