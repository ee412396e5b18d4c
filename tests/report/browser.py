"""A headless Chromium from the system's packages (never a downloaded browser), driven
by Playwright, for tests of the report page."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("VP_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A browser context with a fresh profile; every request that is not a file of the
    page's own folder is recorded in `context.outside` (and aborted)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"{CHROMIUM} not found: install Debian's chromium (tools/install-cpu.sh does)"
        )
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="vp-chromium-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=FLAGS,
                viewport={"width": 1280, "height": 900},
            )
            ctx.outside = []

            def guard(route: Any) -> None:
                if route.request.url.startswith("file://"):
                    route.continue_()
                else:
                    ctx.outside.append(route.request.url)
                    route.abort()

            ctx.route("**/*", guard)
            try:
                yield ctx
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def open_report(ctx: Any, index_html: Path) -> Any:
    """The report page, loaded, with console errors and dialogs recorded on it."""
    page = ctx.new_page()
    page.problems = []
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on(
        "console",
        lambda m: (
            page.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        ),
    )
    page.goto(index_html.resolve().as_uri())
    wait_ready(page)
    return page


def wait_ready(page: Any) -> None:
    page.wait_for_selector("#rows[data-ready='1']", timeout=15000)
    page.wait_for_function("[...document.images].every(i => i.complete)", timeout=15000)


def shown_keys(page: Any) -> list[str]:
    return page.eval_on_selector_all(".card .key", "els => els.map(e => e.textContent)")


def all_keys(page: Any) -> list[str]:
    """Every key of the current filter, page by page through the pager."""
    keys = shown_keys(page)
    while not page.is_disabled("#next"):
        page.click("#next")
        wait_ready(page)
        keys += shown_keys(page)
    return keys


def broken_images(page: Any) -> list[str]:
    return page.evaluate("[...document.images].filter(i => !(i.naturalWidth > 0)).map(i => i.src)")


def select(page: Any, control: str, label: str) -> None:
    page.select_option(control, label=label)
    wait_ready(page)
