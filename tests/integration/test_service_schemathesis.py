"""Schemathesis against the running service's ``/openapi.json``: generated requests (valid and
invalid) to every operation find no 5xx, no undocumented status code, content type or response
body that violates the published schema."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from earnest.config import ServiceSettings, Settings
from earnest.service.app import create_app
from earnest.service.auth import apikey_create
from earnest.service.demo import fill_demo_store, fit_demo_model, serve_in_thread
from earnest.service.models import InMemoryModelSource
from earnest.store import open_store

pytestmark = [pytest.mark.network, pytest.mark.slow]

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("schemathesis is not installed (pip install 'earnest[dev]')")
    store = open_store(f"duckdb:///{tmp_path / 'earnest.duckdb'}")
    try:
        days = fill_demo_store(store, n_symbols=4, n_sessions=120)
        model = fit_demo_model(store, days[40:100])
        _, key = apikey_create(store, name="schemathesis")
        # the demo market ends in 2024: accept its age so /readyz answers 200, not its by-design 503
        service = ServiceSettings(rate_limit_per_s=100_000, reload_poll_s=1.0, max_data_age_days=100_000)
        settings = Settings(home=tmp_path, service=service)
        app = create_app(settings, store=store, model_source=InMemoryModelSource(model))
        with serve_in_thread(app) as url:
            run = subprocess.run(
                [exe, "run", f"{url}/openapi.json", "--header", f"X-API-Key: {key}", "--checks", CHECKS,
                 "--max-examples", "30", "--seed", "1", "--workers", "1", "--no-color",
                 "--phases", "examples,coverage,fuzzing", "--request-timeout", "20"],
                capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
    finally:
        store.close()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
