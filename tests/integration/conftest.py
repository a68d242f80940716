"""Shared fixtures of the integration tests: a headless Chromium page for the HTML reports."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest


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


class _Receiver(BaseHTTPRequestHandler):
    """A webhook receiver: records each POST's Idempotency-Key and JSON body, answers 200."""

    got: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append({"key": self.headers.get("Idempotency-Key"), "body": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(URL of a real local webhook receiver, the list of what it received)."""
    _Receiver.got = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.got
    finally:
        server.shutdown()


def promoted_registry(home: Path, config: dict[str, Any]) -> Any:
    """A local MLflow registry under ``home`` holding a logistic model on ``config``'s features,
    registered with ``config`` and promoted to production (its gate is tested elsewhere)."""
    import numpy as np

    from earnest.models.card import Lineage, ModelCard
    from earnest.models.estimators import make_estimator
    from earnest.models.gate import GateResult
    from earnest.models.registry import Registry

    features = list(config["dataset"]["features"])
    name = config["register"]["name"]
    registry = Registry.local(home)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(features)))
    model = make_estimator("logistic", "classification", seed=0).fit(x, (x[:, 0] > 0).astype(int))
    lineage = Lineage(
        data_hash="d" * 64,
        features=dict.fromkeys(features, "1"),
        label_spec="win_5s_at_open",
        config_hash="c" * 64,
        code_version="test",
        seed=0,
        hypothesis=config["hypothesis"]["question"],
    )
    card = ModelCard(name=name, intended_use="test", lineage=lineage)
    out = registry.register(
        name,
        model,
        features=features,
        lineage=lineage,
        metrics={},
        oos=None,
        card=card,
        gate=None,
        config=config,
    )
    passed = GateResult.from_dict(
        {"passed": True, "reasons": ["test"], "p": 0.001, "p_adjusted": 0.002, "n_trials": 1, "effect": 0.1,
         "t_stat": 4.0, "rank_ic": 0.1, "rank_ic_t": 3.0, "baseline_rank_ic": 0.0, "n_dates": 30, "lags": 2,
         "alpha": 0.05, "criteria": {}}
    )  # fmt: skip
    registry.promote(name, out.version, gate=passed)
    return registry
