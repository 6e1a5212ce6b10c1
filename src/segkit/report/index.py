"""``reports/index.html``: every period's report linked, its key figures over time, failures."""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from segkit.report.html import STYLE, RenderOptions, figure_html, format_value


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def collect(out_dir: Path) -> list[dict[str, Any]]:
    """One entry per period: the published run, and the latest attempt if that failed."""
    periods: dict[str, dict[str, Any]] = {}
    for run_json in out_dir.glob("*/run.json"):
        if (data := _read(run_json)) is not None:
            periods[data["period"]] = {"published": data, "latest": data}
    for status in (out_dir / ".status").glob("*.json"):
        if (data := _read(status)) is not None:
            periods.setdefault(data["period"], {"published": None})["latest"] = data
    return [periods[k] | {"period": k} for k in sorted(periods)]


def write_index(out_dir: Path, opts: RenderOptions | None = None) -> Path:
    """Write the index atomically and return its path."""
    opts = opts or RenderOptions()
    currency = opts.currency
    entries = collect(out_dir)
    labels: dict[str, str] = {}
    for e in entries:
        for m in (e["published"] or {}).get("headline", []):
            labels.setdefault(f"{m['section']}.{m['key']}", m["label"])
    head = "".join(f"<th>{escape(label)}</th>" for label in labels.values())
    rows = []
    for e in entries:
        pub, latest = e["published"], e["latest"]
        period = escape(e["period"])
        link = f'<a href="{period}/report.html">{period}</a>' if pub else period
        values = {f"{m['section']}.{m['key']}": m for m in (pub or {}).get("headline", [])}
        cells = "".join(
            f'<td class="num">{escape(_fmt(values[k], currency))}</td>'
            if k in values
            else "<td>–</td>"
            for k in labels
        )
        if latest.get("status") == "failed":
            last_good = f"; {opts.t('last_good')}" if pub else ""
            state = (
                f'<td class="sk-bad">{escape(opts.t("failed"))} '
                f"{escape(latest.get('started', ''))}: {escape(latest.get('error', ''))}"
                f"{escape(last_good)}</td>"
            )
        elif latest.get("error"):
            state = (
                f'<td class="sk-bad">{escape(opts.t("ok_with_errors"))}: '
                f"{escape(latest['error'])}</td>"
            )
        else:
            state = (
                f'<td class="sk-good">{escape(opts.t("ok"))} '
                f"{escape(latest.get('started', ''))}</td>"
            )
        rows.append(f"<tr><td>{link}</td>{cells}{state}</tr>")
    trend = _trend(entries, labels, opts.t("trend"))
    title = escape(opts.t("reports"))
    html = (
        f"<!DOCTYPE html><html lang='{escape(opts.language)}'><head><meta charset='utf-8'/>"
        f"<title>{title}</title>{STYLE}</head><body><main class='sk-section'><h1>{title}</h1>"
        f"{trend}<table class='sk-metrics'><thead><tr><th>{escape(opts.t('period'))}</th>"
        f"{head}<th>{escape(opts.t('status'))}</th></tr></thead><tbody>{''.join(rows)}</tbody>"
        "</table></main></body></html>"
    )
    path = out_dir / "index.html"
    # Per process: runs of different periods may write the index at the same moment.
    tmp = out_dir / f".index.html.{os.getpid()}.tmp"
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path


def _fmt(metric: dict[str, Any], currency: str) -> str:
    return format_value(metric["value"], metric["unit"], currency)


def _trend(entries: list[dict[str, Any]], labels: dict[str, str], alt: str) -> str:
    """Small multiples of every headline figure over the published periods."""
    series: dict[str, tuple[list[str], list[float]]] = {k: ([], []) for k in labels}
    for e in entries:
        for m in (e["published"] or {}).get("headline", []):
            key = f"{m['section']}.{m['key']}"
            if m["value"] is not None:
                series[key][0].append(e["period"])
                series[key][1].append(m["value"] * (100 if m["unit"] == "share" else 1))
    series = {k: v for k, v in series.items() if len(v[0]) > 1}
    if not series:
        return ""
    fig = Figure(figsize=(6.4, 2.4 * len(series)), dpi=100)
    axes = fig.subplots(len(series), 1, squeeze=False)[:, 0]
    for ax, (key, (x, y)) in zip(axes, series.items(), strict=True):
        ax.plot(x, y, marker="o", color="#1f5f8b")
        ax.set_title(labels[key], fontsize=10)
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    fig.tight_layout()
    return figure_html(fig, alt)
