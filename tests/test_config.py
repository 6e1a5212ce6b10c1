"""segkit.yaml: defaults, mapping, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from segkit.config import Config, load_config, parse_config
from segkit.errors import ConfigError


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


def test_threads_default_to_one_and_must_be_positive() -> None:
    assert parse_config({}).threads == 1
    assert parse_config({"threads": 2}).threads == 2
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ConfigError, match="threads must be a whole number"):
            parse_config({"threads": bad})
