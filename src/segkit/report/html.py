"""HTML for a period report: escaped, masked, self-contained.

Every value from the data or a plugin passes through :func:`html.escape` (tables through
``DataFrame.to_html(escape=True)``); figures are embedded as PNG data URIs, so a report needs no
network. Customer identifiers and the config's personal columns are masked here, at the last
step, unless ids are shown on purpose, so no analysis can leak them by forgetting to mask.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

import pandas as pd
from matplotlib.figure import Figure

from segkit.engine.analysis import Metric, Section, Table, Unit
from segkit.engine.run import PeriodReport
from segkit.report.i18n import text

#: Columns treated as customer identifiers wherever they appear.
ID_COLUMNS = ("customer_id", "lead_id")
#: Key of the masking hash; set it to a secret so masked ids cannot be reversed by trying ids.
MASK_KEY_ENV = "SEGKIT_MASK_KEY"


def mask_id(value: object) -> str:
    """A stable pseudonym for an identifier: the same id always gives the same mask."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    key = os.environ.get(MASK_KEY_ENV, "segkit").encode()[:64]
    digest = hashlib.blake2b(str(value).encode(), key=key, digest_size=4).hexdigest()
    return f"#{digest}"


def mask_frame(frame: pd.DataFrame, personal: Iterable[str], show_ids: bool) -> pd.DataFrame:
    """Mask id columns and personal columns unless ``show_ids``."""
    if show_ids:
        return frame
    out = frame.copy()
    for col in out.columns:
        if col in ID_COLUMNS:
            out[col] = out[col].map(mask_id)
        elif col in personal:
            out[col] = out[col].map(lambda v: "" if pd.isna(v) else "•••")
    return out


def format_value(value: float | None, unit: Unit, currency: str) -> str:
    """A number as the report shows it: thousands separators, currency, percentages."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if unit == "money":
        return f"{value:,.0f} {currency}" if abs(value) >= 100 else f"{value:,.2f} {currency}"
    if unit == "share":
        return f"{value * 100:.1f} %"
    if unit == "count":
        return f"{value:,.0f}"
    if unit in ("days", "hours"):
        return f"{value:,.1f} {unit[0]}"
    if unit == "ratio":
        return f"{value:.2f}"
    return f"{value:,.2f}"


def format_change(metric: Metric, currency: str, pp: str = "pp") -> str:
    """The change from the previous period, e.g. ``+2.1 pp`` for shares."""
    change = metric.change
    if change is None:
        return ""
    sign = "+" if change > 0 else ""
    if metric.unit == "share":
        return f"{sign}{change * 100:.1f} {pp}"
    return sign + format_value(change, metric.unit, currency)


def _tone(metric: Metric) -> str:
    change = metric.change
    if change is None or metric.higher_is_better is None or change == 0:
        return "flat"
    good = (change > 0) == metric.higher_is_better
    return "good" if good else "bad"


def figure_html(fig: Figure, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="sk-figure" alt="{escape(alt)}" src="data:image/png;base64,{data}"/>'


@dataclass(frozen=True)
class RenderOptions:
    """How a report is shown: currency, masking and the language of segkit's own words."""

    currency: str = "EUR"
    personal: tuple[str, ...] = ("name",)
    show_ids: bool = False
    language: str = "en"

    def t(self, key: str, **values: object) -> str:
        return text(self.language, key, **values)


def table_html(table: Table, opts: RenderOptions) -> str:
    """A table, masked, formatted and escaped cell by cell (quotes included); numbers right."""
    frame = mask_frame(table.frame, opts.personal, opts.show_ids)
    total = len(frame)
    shown = frame.head(table.max_rows)
    head, columns = [], []
    for col in shown.columns:
        unit = table.formats.get(str(col))
        numeric = unit is not None or pd.api.types.is_numeric_dtype(shown[col].dtype)
        cells = [
            format_value(_num(v), unit, opts.currency) if unit else ("–" if _missing(v) else str(v))
            for v in shown[col]
        ]
        cls = ' class="num"' if numeric else ""
        head.append(f"<th{cls}>{escape(str(col).replace('_', ' '))}</th>")
        columns.append([f"<td{cls}>{escape(c)}</td>" for c in cells])
    rows = "".join(f"<tr>{''.join(cells)}</tr>" for cells in zip(*columns, strict=True))
    body = (
        f'<table class="sk-table"><thead><tr>{"".join(head)}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )
    caption = f'<p class="sk-caption">{escape(table.caption)}</p>' if table.caption else ""
    more = ""
    if total > len(shown):
        note = opts.t("showing", shown=f"{len(shown):,}", total=f"{total:,}")
        more = f'<p class="sk-more">{escape(note)}</p>'
    return caption + body + more


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT or v is pd.NA


def _num(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def metrics_html(metrics: list[Metric], opts: RenderOptions) -> str:
    cur = opts.currency
    rows = "".join(
        f'<tr><td>{escape(m.label)}</td><td class="num">'
        f"{escape(format_value(m.value, m.unit, cur))}</td>"
        f'<td class="num sk-{_tone(m)}">{escape(format_change(m, cur, opts.t("pp")))}</td>'
        f'<td class="num sk-prev">{escape(format_value(m.previous, m.unit, cur))}</td></tr>'
        for m in metrics
    )
    return (
        f'<table class="sk-metrics"><thead><tr><th>{escape(opts.t("figure"))}</th>'
        f'<th class="num">{escape(opts.t("this_period"))}</th>'
        f'<th class="num">{escape(opts.t("change"))}</th>'
        f'<th class="num">{escape(opts.t("previous"))}</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def section_html(section: Section, opts: RenderOptions) -> str:
    """One section: title, reading, metrics, figures, tables, notes; or its error."""
    head = (
        f'<section class="sk-section" id="{escape(section.name)}"><h2>{escape(section.title)}</h2>'
    )
    if section.error:
        failed = opts.t("failed_box", plugin=section.plugin, name=section.name)
        return (
            f'{head}<div class="sk-error"><strong>{escape(failed)}</strong>'
            f"<pre>{escape(section.error)}</pre></div></section>"
        )
    parts = [head]
    if section.summary:
        parts.append(f'<p class="sk-reading">{escape(section.summary)}</p>')
    if section.metrics:
        parts.append(metrics_html(section.metrics, opts))
    parts.extend(figure_html(f, f"{section.title}: chart") for f in section.figures)
    parts.extend(table_html(t, opts) for t in section.tables.values())
    parts.extend(f'<p class="sk-note">{escape(n)}</p>' for n in section.notes)
    parts.append("</section>")
    return "".join(parts)


def metric_reading(metric: Metric, opts: RenderOptions, previous_period: str) -> str:
    """One plain sentence from the numbers, e.g. "Churn rate rose 0.9 pp to 37.3 % (worse)."."""
    now = format_value(metric.value, metric.unit, opts.currency)
    if metric.value is None:
        return opts.t("no_data", label=metric.label)
    if metric.previous is None or metric.change is None:
        return opts.t("no_previous", label=metric.label, now=now, previous=previous_period)
    change = metric.change
    if change == 0:
        return opts.t("unchanged", label=metric.label, now=now)
    if metric.unit == "share":
        by = f"{abs(change) * 100:.1f} {opts.t('pp')}"
    else:
        by = format_value(abs(change), metric.unit, opts.currency)
        if metric.previous:
            by += f" ({abs(change) / abs(metric.previous):.1%})"
    verdict = ""
    if metric.higher_is_better is not None:
        verdict = opts.t("better" if (change > 0) == metric.higher_is_better else "worse")
    key = "rose" if change > 0 else "fell"
    return opts.t(key, label=metric.label, by=by, now=now, verdict=verdict)


#: The executive summary by default: revenue and its top-20 % share, VIP clients and the service
#: fund, churn, CLV, NPS and the VIP clients at risk (``summary:`` in segkit.yaml overrides it).
DEFAULT_SUMMARY: tuple[str, ...] = (
    "pareto.net_value",
    "pareto.top_share",
    "tiers.vip_clients",
    "service_fund.budget",
    "retention.churn_rate",
    "clv.clv_total",
    "satisfaction.nps",
    "clv.vip_at_risk",
)


def key_metrics(report: PeriodReport, wanted: Sequence[str] = ()) -> list[Metric]:
    """The executive summary's figures: ``wanted`` ("section.key", in order), else
    :data:`DEFAULT_SUMMARY`; where none of those ran, every metric marked as a headline."""
    by_key = {f"{s.name}.{m.key}": m for s in report.sections for m in s.metrics}
    found = [by_key[k] for k in (wanted or DEFAULT_SUMMARY) if k in by_key]
    return found or [m for m in report.metrics() if m.headline]


def summary_html(report: PeriodReport, opts: RenderOptions, wanted: Sequence[str] = ()) -> str:
    """The executive summary: the key figures with their change and a reading in plain words,
    then each section's one-line reading."""
    previous = str(report.period.previous())
    rows = "".join(
        f'<tr><td>{escape(m.label)}</td><td class="num">'
        f"{escape(format_value(m.value, m.unit, opts.currency))}</td>"
        f'<td class="num sk-{_tone(m)}">'
        f"{escape(format_change(m, opts.currency, opts.t('pp')))}</td>"
        f'<td class="sk-reading">{escape(metric_reading(m, opts, previous))}</td></tr>'
        for m in key_metrics(report, wanted)
    )
    readings = "".join(
        f"<li><strong>{escape(s.title)}.</strong> {escape(s.summary)}</li>"
        for s in report.sections
        if s.summary and not s.error
    )
    failed = "".join(
        f"<li class='sk-bad'>{escape(opts.t('section_failed', name=s.name))}</li>"
        for s in report.failed
    )
    return (
        '<section class="sk-section sk-summary">'
        f"<h2>{escape(opts.t('summary', period=report.period))}</h2>"
        f'<table class="sk-metrics"><thead><tr><th>{escape(opts.t("figure"))}</th>'
        f'<th class="num">{escape(opts.t("this_period"))}</th>'
        f'<th class="num">{escape(opts.t("change_vs", previous=previous))}</th>'
        f"<th>{escape(opts.t('reading'))}</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<h3>{escape(opts.t('at_a_glance'))}</h3><ul>{failed}{readings}</ul></section>"
    )


def header_html(report: PeriodReport, opts: RenderOptions) -> str:
    p = report.period
    line = opts.t(
        "header",
        grain=opts.t(p.grain),
        start=p.start.isoformat(),
        end=p.end.isoformat(),
        last=report.data_through,
        previous=p.previous(),
        ids=opts.t("ids_shown" if opts.show_ids else "ids_masked"),
    )
    return (
        f"<header class='sk-header'><h1>{escape(opts.t('title', period=p))}</h1>"
        f"<p>{escape(line)}</p></header>"
    )


def appendix_html(report: PeriodReport, provenance: dict[str, str], opts: RenderOptions) -> str:
    rows = "".join(
        f"<tr><td>{escape(s.title)}</td><td>{escape(term)}</td><td>{escape(definition)}</td></tr>"
        for s in report.sections
        for term, definition in s.definitions.items()
    )
    prov = "".join(
        f"<tr><td>{escape(k)}</td><td><code>{escape(v)}</code></td></tr>"
        for k, v in provenance.items()
    )
    return (
        f'<section class="sk-section sk-appendix"><h2>{escape(opts.t("appendix"))}</h2>'
        f'<table class="sk-table"><thead><tr><th>{escape(opts.t("section"))}</th>'
        f"<th>{escape(opts.t('figure'))}</th><th>{escape(opts.t('definition'))}</th>"
        f"</tr></thead><tbody>{rows}</tbody></table><h2>{escape(opts.t('provenance'))}</h2>"
        f'<table class="sk-table"><tbody>{prov}</tbody></table></section>'
    )


STYLE = """
<style>
/* .sk-section prefixes outrank JupyterLab's right-aligned table cells. */
.sk-header h1 {font-size: 1.6em; margin-bottom: .2em}
.sk-section {margin: 1.5em 0 2em; max-width: 72em}
.sk-section h2 {border-bottom: 2px solid #1f5f8b; padding-bottom: .2em}
.sk-reading {font-size: 1.05em}
table.sk-metrics, table.sk-table {border-collapse: collapse; margin: .6em 0; font-size: .92em}
.sk-section table.sk-metrics td, .sk-section table.sk-metrics th,
.sk-section table.sk-table td, .sk-section table.sk-table th {
  padding: .25em .7em; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top}
.sk-section table.sk-metrics .num, .sk-section table.sk-table .num {text-align: right;
  font-variant-numeric: tabular-nums; white-space: nowrap}
table.sk-metrics td.sk-reading {max-width: 34em}
.sk-good {color: #1e7b34} .sk-bad {color: #b3261e} .sk-prev {color: #666}
.sk-error {background: #fdecea; border-left: 4px solid #b3261e; padding: .5em 1em}
.sk-error pre {white-space: pre-wrap; font-size: .85em}
.sk-note, .sk-more, .sk-caption {color: #555; font-size: .9em}
.sk-figure {max-width: 100%; height: auto; display: block; margin: .5em 0}
@media print {.sk-section {page-break-inside: avoid}}
</style>
"""
