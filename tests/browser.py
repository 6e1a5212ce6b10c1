"""Open a page in headless Chromium with the network blocked, as a manager's mail client would."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Route, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# The flags this sandbox needs (root, no GPU) and no background traffic of Chromium's own.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class PageVisit:
    """What a page did when opened offline."""

    blocked: list[str] = field(default_factory=list)  # requests that would leave the machine
    images: list[bool] = field(default_factory=list)  # per <img>: decoded with a real size
    scripts: int = 0
    code_cells: int = 0
    text: str = ""


def visit(page_path: Path, screenshot: Path | None = None) -> PageVisit:
    """Open ``page_path`` in Chromium; every request other than file: or data: is blocked."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} not found: run `make browser` (Debian chromium)"
    result = PageVisit()

    def guard(route: Route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            result.blocked.append(url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.route("**/*", guard)
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            result.images = page.evaluate(
                "Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"
            )
            result.scripts = page.evaluate("document.scripts.length")
            result.code_cells = page.evaluate(
                "document.querySelectorAll('.jp-InputArea, .jp-CodeCell .jp-Editor').length"
            )
            result.text = page.inner_text("body")
            if screenshot is not None:
                page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    return result
