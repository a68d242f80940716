"""The whole daily pipeline, scoring and alerting included, killed at every stage and run again:
the store ends as after one clean run and every alert reaches the webhook exactly once.

The day is the simulated market's busiest results day (so there is something to score); its
price files are the day's inbox. The production model comes from a real local MLflow registry and
the alerts go to a real local webhook receiver. Each faulty run is a separate process killed with
``os._exit`` just after a stage started or just after its work, before the log says done.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from integration_helpers import Receiver, promoted_registry
from test_daily_pipeline import _day_names, _snapshot

from earnest.alerts import WebhookChannel
from earnest.core.calendar import nse_calendar
from earnest.models.registry import Registry
from earnest.simulate.market import SimConfig, simulate_market, write_market
from earnest.store import open_store
from earnest.workflows.daily import STAGES, DailyContext, run_daily
from earnest.workflows.ingest import ingest_paths
from earnest.workflows.lab import results_events
from earnest.workflows.scoring import alert_stage, score_stage

pytestmark = [pytest.mark.slow, pytest.mark.network]
pytest.importorskip("mlflow")

CONFIG: dict[str, Any] = {
    "name": "killed model",
    "hypothesis": {
        "name": "every results announcement",
        "question": "daily-killed",
        "horizons": [5],
        "period": {"start": "2024-01-01", "end": "2024-06-30"},
        "event": {"type": "results"},
    },
    "dataset": {"features": ["revenue_yoy", "ret_20d"], "label": "win", "horizon": 5},
    "model": {"kind": "logistic", "seed": 0},
    "register": {"name": "daily-killed"},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dt.date, Path]:
    """(store with the history, the day's inbox, the day, the registry's home)."""
    root = tmp_path_factory.mktemp("killed")
    sim = simulate_market(
        SimConfig(seed=5, n_symbols=40, start=dt.date(2023, 6, 1), end=dt.date(2024, 6, 28))
    )
    folder = root / "market"
    write_market(sim, folder)
    store_path = root / "history.duckdb"
    probe = open_store(f"duckdb:///{root / 'probe.duckdb'}")
    ingest_paths(probe, [folder / "results"] if (folder / "results").exists() else [folder])
    kt = results_events(probe).get_column("knowledge_time").dt.convert_time_zone("Asia/Kolkata").dt.date()
    probe.close()
    cal = nse_calendar()
    sessions = pl.Series([cal.next_session(d, inclusive=True) for d in kt.to_list()])
    day: dt.date = sessions.value_counts(sort=True).item(0, 0)
    inbox = root / "inbox"
    inbox.mkdir()
    names = _day_names(day)
    for path in list(folder.rglob("*")):
        if path.is_file() and path.name in names:
            shutil.move(str(path), inbox / path.name)
    store = open_store(f"duckdb:///{store_path}")
    ingest_paths(store, [folder])
    store.close()
    promoted_registry(root / "registry", CONFIG)
    return store_path, inbox, day, root / "registry"


_KILLER = textwrap.dedent(
    """
    import datetime as dt, os, sys
    from pathlib import Path
    from earnest.alerts import WebhookChannel
    from earnest.core.calendar import nse_calendar
    from earnest.models.registry import Registry
    from earnest.store import open_store
    from earnest.workflows.daily import DailyContext, run_daily
    from earnest.workflows.scoring import alert_stage, score_stage

    store_path, inbox, day, registry_home, url, stage, point = sys.argv[1:8]
    store = open_store(f"duckdb:///{store_path}")

    def hook(name, where):
        if name == stage and where == point:
            os._exit(9)

    ctx = DailyContext(store=store, day=dt.date.fromisoformat(day), calendar=nse_calendar(),
                       cache_dir=Path(store_path).parent, inbox=[Path(inbox)])
    registry = Registry.local(Path(registry_home))
    run_daily(ctx, hook=hook, score=score_stage(registry=registry, model_name="daily-killed"),
              alerts=alert_stage(model_name="daily-killed", threshold=0.0, channels=[WebhookChannel(url=url)]))
    sys.exit(3)  # the hook should have killed the process first
    """
)


def _run(store_path: Path, inbox: Path, day: dt.date, registry_home: Path, url: str) -> None:
    store = open_store(f"duckdb:///{store_path}")
    hook = WebhookChannel(url=url)
    try:
        ctx = DailyContext(
            store=store, day=day, calendar=nse_calendar(), cache_dir=store_path.parent, inbox=[inbox]
        )
        registry = Registry.local(registry_home)
        report = run_daily(
            ctx,
            score=score_stage(registry=registry, model_name="daily-killed"),
            alerts=alert_stage(model_name="daily-killed", threshold=0.0, channels=[hook]),
        )
        assert report.ok
    finally:
        hook.close()
        store.close()


@pytest.fixture(scope="module")
def clean(
    world: tuple[Path, Path, dt.date, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The clean run's table hashes and how many alerts it sent."""
    store_path, inbox, day, registry_home = world
    copy = tmp_path_factory.mktemp("clean") / "store.duckdb"
    shutil.copy(store_path, copy)
    import threading
    from http.server import ThreadingHTTPServer

    Receiver.got = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _run(copy, inbox, day, registry_home, f"http://127.0.0.1:{server.server_address[1]}/hook")
    finally:
        server.shutdown()
    store = open_store(f"duckdb:///{copy}")
    try:
        n_signals = store.query("SELECT count(*) AS n FROM signals").item(0, 0)
        assert n_signals >= 2
        assert len(Receiver.got) == n_signals  # threshold 0: every signal went out as an alert
        return {"tables": _snapshot(store), "sent": len(Receiver.got)}
    finally:
        store.close()


@pytest.mark.parametrize("point", ["started", "finished"])
@pytest.mark.parametrize("stage", STAGES)
def test_killed_and_rerun_gives_the_clean_state_and_sends_each_alert_once(
    world: tuple[Path, Path, dt.date, Path],
    clean: dict[str, Any],
    webhook: tuple[str, list[dict[str, Any]]],
    tmp_path: Path,
    stage: str,
    point: str,
) -> None:
    store_path, inbox, day, registry_home = world
    url, received = webhook
    copy = tmp_path / "store.duckdb"
    shutil.copy(store_path, copy)
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            _KILLER,
            str(copy),
            str(inbox),
            day.isoformat(),
            str(registry_home),
            url,
            stage,
            point,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == 9, killed.stderr[-2000:]
    _run(copy, inbox, day, registry_home, url)
    store = open_store(f"duckdb:///{copy}")
    try:
        assert _snapshot(store) == clean["tables"]
    finally:
        store.close()
    keys = [g["key"] for g in received]
    assert len(keys) == clean["sent"]  # every alert delivered ...
    assert len(set(keys)) == len(keys)  # ... exactly once across the killed run and the re-run


def test_registry_fixture_is_a_real_mlflow_registry(world: tuple[Path, Path, dt.date, Path]) -> None:
    loaded = Registry.local(world[3]).production("daily-killed")
    assert loaded is not None
    assert list(loaded.features) == CONFIG["dataset"]["features"]
