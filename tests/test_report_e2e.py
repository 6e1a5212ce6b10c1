"""End to end: a small demo company through papermill and nbconvert to shareable HTML."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
from browser import visit

CLI = Any  # the `segkit` fixture from conftest.py


@pytest.fixture(scope="module")
def rendered(small_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("reports")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from segkit.cli import main; main()",
            "report",
            "--data",
            str(small_demo),
            "--period",
            "2025-Q4",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert f"Reports: {out / 'index.html'}" in result.stdout
    return out


def test_report_has_chart_and_no_code(rendered: Path) -> None:
    html = (rendered / "2025-Q4" / "report.html").read_text()
    figures = re.findall(r"<img [^>]*>", html)
    assert figures and all('class="sk-figure"' in f for f in figures)
    assert all('src="data:image/png;base64,' in f for f in figures)
    assert "Executive summary, 2025-Q4" in html
    for code in ("from segkit", "render(", "metrics_path", "data_dir ="):
        assert code not in html
    assert "<script" not in html


def test_report_fetches_nothing(rendered: Path) -> None:
    html = (rendered / "2025-Q4" / "report.html").read_text()
    # CSS comments may mention URLs; no attribute or CSS url() may point at the network.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert "@import" not in html


def test_identifiers_are_masked(rendered: Path, small_demo: Path) -> None:
    html = (rendered / "2025-Q4" / "report.html").read_text()
    ids = pd.read_csv(small_demo / "customers.csv")["customer_id"]
    words = set(re.findall(r"[\w-]+", html))
    leaked = sorted(set(ids) & words)
    assert leaked == []
    assert "#" in html  # masked ids look like #1a2b3c4d


def test_run_record(rendered: Path) -> None:
    record = json.loads((rendered / "2025-Q4" / "run.json").read_text())
    assert record["status"] == "ok"
    assert record["period"] == "2025-Q4"
    assert len(record["fingerprint"]) == 64
    assert set(record["timings"]) == {"data", "kernel_start", "execute", "export"}
    assert record["show_ids"] is False
    assert {m["key"] for m in record["headline"]} >= {"top_share"}
    nb = nbformat.read(rendered / "2025-Q4" / "report.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)


def test_index_links_the_period(rendered: Path) -> None:
    index = (rendered / "index.html").read_text()
    assert '<a href="2025-Q4/report.html">2025-Q4</a>' in index
    assert not list(rendered.glob(".tmp-*"))


def test_unchanged_period_is_skipped(rendered: Path, small_demo: Path, segkit: CLI) -> None:
    before = (rendered / "2025-Q4" / "run.json").read_text()
    result = segkit(
        "report", "--data", str(small_demo), "--period", "2025-Q4", "--out", str(rendered)
    )
    assert result.returncode == 0
    assert "skipped: 2025-Q4" in result.stderr
    assert (rendered / "2025-Q4" / "run.json").read_text() == before


def test_failed_run_keeps_previous_report(
    rendered: Path, small_demo: Path, tmp_path: Path, segkit: CLI
) -> None:
    out = tmp_path / "reports"
    shutil.copytree(rendered, out)
    before = (out / "2025-Q4" / "report.html").read_bytes()
    broken = nbformat.v4.new_notebook()
    broken.cells = [
        nbformat.v4.new_code_cell('period = "x"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("raise RuntimeError('the kernel fell over')"),
    ]
    broken.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(broken, tmp_path / "broken.ipynb")
    result = segkit(
        "report",
        "--data",
        str(small_demo),
        "--period",
        "2025-Q4",
        "--out",
        str(out),
        "--notebook",
        str(tmp_path / "broken.ipynb"),
    )
    assert result.returncode == 1
    assert "2025-Q4 failed" in result.stderr and "the kernel fell over" in result.stderr
    assert (out / "2025-Q4" / "report.html").read_bytes() == before
    index = (out / "index.html").read_text()
    assert "failed" in index and "the kernel fell over" in index
    assert "the report shown is the last good one" in index
    assert not list(out.glob(".tmp-*")) and not list(out.glob(".old-*"))


def test_customer_names_are_escaped_when_shown(tmp_path: Path, segkit: CLI) -> None:
    data = tmp_path / "data"
    data.mkdir()
    payload = "<script>alert('x')</script>\"onerror=\"alert(1)"
    (data / "transactions.csv").write_text(
        "customer_id,date,amount\nevil,2024-01-05,500\nnice,2024-01-06,10\n"
    )
    pd.DataFrame({"customer_id": ["evil", "nice"], "name": [payload, "Nice Ltd"]}).to_csv(
        data / "customers.csv", index=False
    )
    out = tmp_path / "reports"
    result = segkit(
        "report", "--data", str(data), "--period", "2024-Q1", "--out", str(out), "--show-ids"
    )
    assert result.returncode == 0, result.stderr
    html = (out / "2024-Q1" / "report.html").read_text()
    # The payload is text: no script element, no attribute injected into any tag.
    assert "<script" not in html
    assert not re.search(r"<[^>]*onerror", html)
    assert re.search(r"&lt;script&gt;alert\((&#x27;|')x(&#x27;|')\)&lt;/script&gt;", html)
    assert "evil" in html  # --show-ids shows the identifier itself
    assert json.loads((out / "2024-Q1" / "run.json").read_text())["show_ids"] is True
    page = visit(out / "2024-Q1" / "report.html")
    assert page.scripts == 0 and page.blocked == []
    assert payload in page.text  # shown as the text it is


def test_report_in_a_browser_offline(rendered: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    page = visit(rendered / "2025-Q4" / "report.html", screenshot=shot)
    assert page.blocked == []
    assert page.images and all(page.images), "a chart did not render"
    assert page.scripts == 0 and page.code_cells == 0
    assert "Executive summary, 2025-Q4" in page.text
    assert shot.stat().st_size > 10_000


def test_index_in_a_browser_offline(rendered: Path) -> None:
    page = visit(rendered / "index.html")
    assert page.blocked == [] and page.scripts == 0
    assert "2025-Q4" in page.text


def test_parallel_periods_do_not_share_kernels(
    small_demo: Path, tmp_path: Path, segkit: CLI
) -> None:
    """Two kernels at once (--jobs 2): each must talk over sockets of its own, left nowhere."""
    out = tmp_path / "reports"
    result = segkit(
        "report",
        "--data",
        str(small_demo),
        "--periods",
        "2025-Q3..2025-Q4",
        "--jobs",
        "2",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    for period in ("2025-Q3", "2025-Q4"):
        assert json.loads((out / period / "run.json").read_text())["status"] == "ok"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("kernel")]
