"""The report's HTML building blocks: formatting, readings, masking, languages."""

from __future__ import annotations

import pandas as pd
import pytest

from segkit.config import LANGUAGES as CONFIG_LANGUAGES
from segkit.engine.analysis import Metric, Table
from segkit.report.html import (
    RenderOptions,
    format_change,
    format_value,
    mask_frame,
    mask_id,
    metric_reading,
    table_html,
)
from segkit.report.i18n import LANGUAGES, TEXTS


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1234567.891, "money", "1,234,568 EUR"),
        (12.5, "money", "12.50 EUR"),
        (0.6547, "share", "65.5 %"),
        (15586, "count", "15,586"),
        (37.46, "hours", "37.5 h"),
        (0.61234, "ratio", "0.61"),
        (None, "money", "–"),
        (float("nan"), "share", "–"),
    ],
)
def test_format_value(value: float | None, unit: str, expected: str) -> None:
    assert format_value(value, unit, "EUR") == expected  # type: ignore[arg-type]


def test_change_of_a_share_is_in_points() -> None:
    m = Metric("churn", "Churn rate", 0.373, "share", previous=0.364, higher_is_better=False)
    assert format_change(m, "EUR") == "+0.9 pp"


def test_readings_in_plain_words() -> None:
    en = RenderOptions()
    churn = Metric("churn", "Churn rate", 0.373, "share", previous=0.364, higher_is_better=False)
    assert metric_reading(churn, en, "2025-Q3") == "Churn rate rose 0.9 pp to 37.3 % (worse)."
    revenue = Metric("rev", "Net revenue", 900.0, "money", previous=1000.0, higher_is_better=True)
    # 100 of 1000 is 10.0 %; amounts of 100 and more are shown without cents.
    assert (
        metric_reading(revenue, en, "2025-Q3") == "Net revenue fell 100 EUR (10.0%) to "
        "900 EUR (worse)."
    )
    new = Metric("vip", "VIP clients", 12, "count")
    assert (
        metric_reading(new, en, "2025-Q3") == "VIP clients is 12; 2025-Q3 has no comparable figure."
    )
    same = Metric("nps", "NPS", 50.0, "number", previous=50.0, higher_is_better=True)
    assert metric_reading(same, en, "2025-Q3") == "NPS is unchanged at 50.00."
    ru = RenderOptions(language="ru")
    assert metric_reading(churn, ru, "2025-Q3") == "Churn rate: рост на 0.9 п.п., до 37.3 % (хуже)."


def test_every_language_has_every_text() -> None:
    assert set(LANGUAGES) == set(CONFIG_LANGUAGES)
    for language, texts in TEXTS.items():
        assert set(texts) == set(TEXTS["en"]), language


def test_masking_is_stable_and_hides_personal_columns() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C1"],
            "name": ["Ann", None, "Ann"],
            "revenue": [1.0, 2.0, 3.0],
        }
    )
    masked = mask_frame(frame, ("name",), show_ids=False)
    assert masked["customer_id"][0] == masked["customer_id"][2] == mask_id("C1")
    assert masked["customer_id"][0] != masked["customer_id"][1]
    assert masked["customer_id"][0].startswith("#") and "C1" not in masked["customer_id"][0]
    assert masked["name"].tolist() == ["•••", "", "•••"]
    assert masked["revenue"].tolist() == [1.0, 2.0, 3.0]
    assert mask_frame(frame, ("name",), show_ids=True).equals(frame)


def test_table_cells_are_escaped_and_long_tables_cut() -> None:
    frame = pd.DataFrame({"label": ['<b>"x"</b>'] * 30, "value": range(30)})
    html = table_html(Table(frame, formats={"value": "count"}, max_rows=5), RenderOptions())
    assert "<b>" not in html and "&lt;b&gt;&quot;x&quot;&lt;/b&gt;" in html
    assert html.count("<tr>") == 6  # header + 5 rows
    assert "Showing 5 of 30 rows" in html
    assert '<td class="num">4</td>' in html


def test_key_metrics_default_config_and_fallback() -> None:
    from segkit.engine.analysis import Section
    from segkit.engine.run import PeriodReport
    from segkit.periods import parse_period
    from segkit.report.html import key_metrics

    net = Metric("net_value", "Net revenue", 1.0, "money")
    gini = Metric("gini", "Gini", 0.5, "ratio", headline=True)
    nps = Metric("nps", "NPS", 40.0)
    report = PeriodReport(
        parse_period("2025-Q1"),
        [
            Section("pareto", "Pareto", metrics=[net, gini]),
            Section("satisfaction", "S", metrics=[nps]),
        ],
    )
    # Default list, in its order: pareto.net_value comes before satisfaction.nps.
    assert key_metrics(report) == [net, nps]
    assert key_metrics(report, ["satisfaction.nps", "pareto.gini", "no.such"]) == [nps, gini]
    only_gini = PeriodReport(parse_period("2025-Q1"), [Section("x", "X", metrics=[gini])])
    assert key_metrics(only_gini) == [gini]  # none of the defaults ran: the headline flags
