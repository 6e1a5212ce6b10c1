"""The ``segkit`` command line.

Exit codes: 0 success; 1 a report failed to render (the others were still produced);
2 a user error (bad data, config, period or option), printed without a traceback.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import time
import uuid
from pathlib import Path

import click

from segkit import __version__
from segkit.errors import SegkitError

_DATA = click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder with transactions.csv/.parquet and the other tables.",
)
_CONFIG = click.option(
    "--config",
    type=click.Path(path_type=Path),
    default=None,
    help="segkit.yaml to use (default: the one in the data folder, if any).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="segkit")
def cli() -> None:
    """segkit: per-period customer-value reports from your customer data."""


@cli.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("demo-data"),
    show_default=True,
    help="Folder to write the demo company into.",
)
@click.option("--customers", type=click.IntRange(min=100), default=50_000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
def demo(out: Path, customers: int, seed: int) -> None:
    """Write the synthetic demo company (every table, plus its true parameters)."""
    from segkit.data.demo import generate

    click.echo(f"Generating a demo company of {customers:,} customers (seed {seed}) ...", err=True)
    started = time.perf_counter()
    # Written beside the target and renamed: an existing demo is never half-overwritten.
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        info = generate(tmp, customers=customers, seed=seed)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = ", ".join(f"{name} {n:,}" for name, n in info.rows.items())
    click.echo(f"Wrote {out} in {time.perf_counter() - started:.1f} s: {rows}.")


@cli.command()
@_DATA
@_CONFIG
def validate(data_dir: Path, config: Path | None) -> None:
    """Check a data folder against the data contract and summarise it."""
    from segkit.api import open_data, plugin_manager

    dataset = open_data(data_dir, config)
    plugin_manager(dataset)  # also checks the analysis settings in the config
    first, last = dataset.date_range()
    for name, path in dataset.files.items():
        click.echo(f"  {name:<14} {dataset.count(name):>12,} rows  {path.name}")
    click.echo(f"OK: {data_dir} follows the data contract; transactions from {first} to {last}.")


@cli.command()
@_DATA
@_CONFIG
@click.option("--period", help="One period: 2025-07, 2025-Q3 or 2025.")
@click.option("--periods", "period_range", help="A range of periods, e.g. 2025-01..2025-06.")
@click.option(
    "--all",
    "all_periods",
    is_flag=True,
    help="Every period of the config's grain (default quarter) in the data.",
)
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports"), show_default=True)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Periods rendered in parallel.",
)
@click.option("--force", is_flag=True, help="Render periods whose inputs have not changed.")
@click.option(
    "--show-ids",
    is_flag=True,
    help="Show customer identifiers and personal columns in full (recorded).",
)
@click.option(
    "--notebook",
    type=click.Path(path_type=Path),
    default=None,
    help="Report notebook (default: segkit's period_report.ipynb).",
)
def report(
    data_dir: Path,
    config: Path | None,
    period: str | None,
    period_range: str | None,
    all_periods: bool,
    out: Path,
    jobs: int,
    force: bool,
    show_ids: bool,
    notebook: Path | None,
) -> None:
    """Render the HTML report of one or more periods, and the index over all of them."""
    from segkit.api import check_period, open_data, plugin_manager
    from segkit.periods import parse_periods, periods_between
    from segkit.report import runner
    from segkit.report.html import RenderOptions
    from segkit.report.index import write_index

    if sum(x is not None and x is not False for x in (period, period_range, all_periods)) != 1:
        raise SegkitError("give exactly one of --period, --periods or --all")
    nb = notebook or runner.NOTEBOOK
    if not nb.is_file():
        raise SegkitError(f"{nb}: notebook not found")
    # Everything is validated here, before any kernel starts (papermill accepts anything).
    cache_dir = out / ".cache"
    dataset = open_data(data_dir, config, cache_dir)
    plugins = plugin_manager(dataset)
    if all_periods:
        first, last = dataset.date_range()
        periods = periods_between(first, last + dt.timedelta(days=1), dataset.config.grain)
    else:
        periods = parse_periods(period or period_range or "")
    for p in periods:
        check_period(dataset, p)
    # Only now that data, config and periods are known good does the run write anything.
    dataset.store_cache(cache_dir)
    versions = {i.name: i.version for i in plugins.info()}
    key = runner.inputs_key(dataset.fingerprint, nb, versions, show_ids)
    out.mkdir(parents=True, exist_ok=True)
    runner.recover(out)
    jobs_list, skipped = [], []
    for p in periods:
        if not force and runner.is_current(out, p.label, key):
            skipped.append(p.label)
            continue
        jobs_list.append(
            runner.Job(
                p.label,
                str(data_dir.resolve()),
                str(config.resolve()) if config else None,
                show_ids,
                str(out.resolve()),
                str(nb.resolve()),
                key,
                str(cache_dir.resolve()),
            )
        )
    if skipped:
        click.echo(
            f"Unchanged since the last run, skipped: {', '.join(skipped)} "
            "(--force renders them again).",
            err=True,
        )
    total, done = len(jobs_list), [0]

    def progress(record: runner.RunRecord) -> None:
        done[0] += 1
        state = "ok" if record.status == "ok" and not record.error else record.status
        detail = f": {record.error.splitlines()[0]}" if record.error else ""
        click.echo(
            f"[{done[0]}/{total}] {record.period} {state} in {record.seconds:.1f} s{detail}",
            err=True,
        )

    if total:
        click.echo(f"Rendering {total} period(s) with {min(jobs, total)} job(s) ...", err=True)
    records = runner.render_all(jobs_list, jobs, progress)
    cfg = dataset.config
    index = write_index(out, RenderOptions(cfg.currency, language=cfg.language))
    failed = [r.period for r in records if r.status != "ok"]
    click.echo(f"Reports: {index.resolve()}")
    if failed:
        click.echo(
            f"Failed: {', '.join(failed)} (their previous reports, if any, are kept).", err=True
        )
        sys.exit(1)


@cli.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data folder whose segkit.yaml names a plugins folder.",
)
@_CONFIG
def plugins(data_dir: Path | None, config: Path | None) -> None:
    """List the loaded plugins: name, version, hooks and where they come from."""
    from segkit.config import load_config
    from segkit.engine.plugins import PluginManager

    cfg = load_config(config, data_dir)
    pm = PluginManager(cfg.plugins_dir)
    by_plugin: dict[str, list[str]] = {}
    for reg in pm.analyses():
        by_plugin.setdefault(reg.plugin, []).append(reg.analysis.name)
    for info in pm.info():
        analyses = ", ".join(by_plugin.get(info.name, [])) or "-"
        click.echo(
            f"{info.name:<28} {info.version:<10} {info.source:<12} "
            f"hooks: {', '.join(info.hooks)}; analyses: {analyses}"
        )
    for name, error in pm.errors.items():
        click.echo(f"{name:<28} ERROR {error}", err=True)


@cli.command()
@_DATA
@_CONFIG
@click.option("--period", required=True, help="One period: 2025-07, 2025-Q3 or 2025.")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Client list to write: a .csv or .parquet file (identifiers in full, for the CRM).",
)
@click.option(
    "--skip-failed",
    is_flag=True,
    help="Write the list without the columns of sections that failed (named on stderr).",
)
def score(data_dir: Path, config: Path | None, period: str, out: Path, skip_failed: bool) -> None:
    """Export one row per client with every score, segment, tier, grade and service fund."""
    from segkit.score import export

    result = export(data_dir, period, out, config, skip_failed)
    if result.skipped:
        click.echo(f"Left out failed section(s): {', '.join(result.skipped)}.", err=True)
    click.echo(
        f"Wrote {result.clients:,} clients x {result.columns} columns from "
        f"{len(result.sections)} sections ({', '.join(result.sections)}) to {result.path} "
        f"in {result.seconds:.1f} s."
    )


@cli.command()
@_DATA
@_CONFIG
@click.option("--customer", required=True, help="The client's customer_id, as in the data.")
@click.option("--event", required=True, help='What happened, e.g. "deal" or "project".')
@click.option(
    "--amount",
    type=float,
    default=0.0,
    show_default=True,
    help="Net amount of the deal in the report currency (0: re-grade on the data as is).",
)
@click.option("--margin", type=float, default=None, help="Margin of the deal, if known.")
@click.option(
    "--date",
    "when",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Date of the event, YYYY-MM-DD.",
)
@click.option("--reason", required=True, help="Why the client is re-rated (recorded).")
@click.option(
    "--log",
    type=click.Path(path_type=Path),
    default=None,
    help="Ratings log to append to (default: the scorecard's ratings_log, "
    "segkit-ratings.jsonl in the data folder).",
)
def rate(
    data_dir: Path,
    config: Path | None,
    customer: str,
    event: str,
    amount: float,
    margin: float | None,
    when: dt.datetime,
    reason: str,
    log: Path | None,
) -> None:
    """Re-grade one client at once after an event such as a large deal, and record it."""
    from segkit.analyses.scorecard import dataset_settings, log_path, rerate
    from segkit.api import open_data, plugin_manager

    dataset = open_data(data_dir, config)
    plugin_manager(dataset)  # checks the analysis settings in the config
    log = log or log_path(dataset, dataset_settings(dataset))
    r = rerate(dataset, customer, event, when.date(), amount, reason, margin, log)

    def grade(g: str | None, score: float | None) -> str:
        return "unrated" if g is None or score is None else f"{g} (score {score:.1f})"

    click.echo(
        f"{r.customer_id}: {grade(r.old_grade, r.old_score)} -> {grade(r.new_grade, r.new_score)}"
        f" after {r.event} of {r.amount:,.2f} on {r.date}, against the {r.rated_clients:,} "
        f"clients rated in {r.period}."
    )
    click.echo(f"Recorded in {log} with the reason: {r.reason}")


def main() -> None:
    """Console-script entry point: user errors exit 2 with a message and no traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SegkitError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
