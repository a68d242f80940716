"""Shared fixtures of the integration tests: a headless Chromium page for the HTML reports."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from integration_helpers import Receiver


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    if os.environ.get("EARNEST_REQUIRE_BROWSER"):
        pytest.fail("EARNEST_REQUIRE_BROWSER is set but no Chromium is installed (apt-get install chromium)")
    pytest.skip("no Chromium on this machine: install Debian's chromium package to run the browser tests")


PageOpener = Callable[[Path], Any]


@pytest.fixture
def open_page() -> PageOpener:
    """``with open_page(html_file) as (page, errors):`` a 1200x900 headless Chromium page at the
    file, waited until Plotly drew; ``errors`` collects page errors and console errors."""
    exe = _chromium()
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright

    @contextmanager
    def opened(path: Path) -> Iterator[tuple[Any, list[str]]]:
        errors: list[str] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
                page.goto(path.resolve().as_uri())
                page.wait_for_selector(".js-plotly-plot .main-svg", timeout=15_000)
                yield page, errors
            finally:
                browser.close()

    return opened


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(URL of a real local webhook receiver, the list of what it received)."""
    Receiver.got = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", Receiver.got
    finally:
        server.shutdown()
