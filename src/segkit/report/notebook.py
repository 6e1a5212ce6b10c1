"""What the report notebook calls: run a period and display it as escaped HTML.

The notebook stays thin: one call renders the whole report, and the returned
:class:`~segkit.engine.run.PeriodReport` is there for an analyst to dig into in JupyterLab.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path

from IPython.display import HTML, display

from segkit import __version__
from segkit.api import run
from segkit.engine.run import PeriodReport
from segkit.report import html


def render(
    data_dir: str,
    period: str,
    config: str | None = None,
    show_ids: bool = False,
    metrics_path: str | None = None,
    cache_dir: str | None = None,
) -> PeriodReport:
    """Run ``period`` on ``data_dir``, display the report, and write its figures to
    ``metrics_path`` (JSON) for the run record and the index when given. ``cache_dir`` holds
    validated tables shared by the runs of many periods (see :mod:`segkit.data.cache`)."""
    report = run(data_dir, period, config, cache_dir)
    meta = report.meta
    opts = html.RenderOptions(
        currency=meta["currency"],
        personal=tuple(meta["personal_columns"]),
        show_ids=bool(show_ids or meta["show_ids"]),
        language=meta["language"],
    )
    provenance = {
        "data fingerprint (SHA-256)": meta["fingerprint"],
        "config": str(config or Path(data_dir) / "segkit.yaml"),
        "segkit": __version__,
        "plugins": ", ".join(f"{k} {v}" for k, v in sorted(meta["plugins"].items())),
        "python": platform.python_version(),
        "generated (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
    }
    summary = html.summary_html(report, opts, meta["summary"])
    display(HTML(html.STYLE + html.header_html(report, opts) + summary))
    for section in report.sections:
        display(HTML(html.section_html(section, opts)))
    display(HTML(html.appendix_html(report, provenance, opts)))
    if metrics_path:
        write_metrics(report, Path(metrics_path), opts.show_ids)
    return report


def write_metrics(report: PeriodReport, path: Path, show_ids: bool) -> None:
    """The report's figures and section statuses as JSON (no customer data); the executive
    summary's figures are marked ``headline`` for the index."""
    key = {id(m) for m in html.key_metrics(report, report.meta["summary"])}
    record = {
        "period": str(report.period),
        "data_through": report.data_through,
        "fingerprint": report.meta["fingerprint"],
        "plugins": report.meta["plugins"],
        "show_ids": show_ids,
        "seconds_data": report.meta["seconds_data"],
        "sections": [
            {"name": s.name, "plugin": s.plugin, "error": s.error, "seconds": s.seconds}
            for s in report.sections
        ],
        "metrics": [
            {**record, "headline": id(metric) in key}
            for record, metric in zip(report.metric_records(), report.metrics(), strict=True)
        ],
    }
    path.write_text(json.dumps(record, indent=2, allow_nan=False), encoding="utf-8")
