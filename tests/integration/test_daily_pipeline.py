"""The daily pipeline, killed at each stage and re-run, ends in the same state as one clean run.

A small simulated market is written in NSE's file formats; everything but its last session goes
into the store first; the last session's files are the day's inbox. Each faulty run is a real
process killed with ``os._exit`` at a stage boundary (just after the stage started, or after its
work but before the stage log says done); the run that follows is a normal one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from earnest.core.calendar import nse_calendar
from earnest.simulate import naming
from earnest.simulate.market import SimConfig, simulate_market, write_market
from earnest.store import SqlStore, open_store
from earnest.workflows.daily import STAGES, DailyContext, run_daily, stage_log
from earnest.workflows.ingest import ingest_paths

# When and how often a row was written, and what the last attempt of a stage saw (a re-run of an
# ingest finds the files already stored): the log, not the state.
_VOLATILE = {"attempts", "code_version", "detail_json"}


def _day_names(day: dt.date) -> set[str]:
    return {
        naming.legacy_csv(day),
        naming.udiff_csv(day),
        naming.full_csv(day),
        naming.index_csv(day),
        naming.bands_csv(day),
        naming.actions_csv(day),
    }


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dt.date]:
    """(store file with the history, inbox of the last session, that session)."""
    root = tmp_path_factory.mktemp("daily")
    sim = simulate_market(
        SimConfig(seed=3, n_symbols=40, start=dt.date(2024, 1, 1), end=dt.date(2024, 4, 30))
    )
    folder = root / "market"
    write_market(sim, folder)
    day = max(sim.bars.get_column("date").to_list())
    inbox = root / "inbox"
    inbox.mkdir()
    names = _day_names(day)
    for path in list(folder.rglob("*")):
        if path.is_file() and path.name in names:
            shutil.move(str(path), inbox / path.name)
    assert len(list(inbox.iterdir())) >= 2
    store_path = root / "history.duckdb"
    store = open_store(f"duckdb:///{store_path}")
    ingest_paths(store, [folder])
    store.close()
    return store_path, inbox, day


def _snapshot(store: SqlStore) -> dict[str, str]:
    """A content hash per table, without the columns that say when (or how often) a row was written."""
    tables = store.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_name NOT IN ('schema_migrations')"
    ).get_column("table_name")
    out = {}
    for name in sorted(tables.to_list()):
        frame = store.query(f"SELECT * FROM {name}")
        keep = [
            c
            for c, t in frame.schema.items()
            if not (isinstance(t, pl.Datetime) and c.endswith("_at")) and c not in _VOLATILE
        ]
        frame = frame.select(keep)
        frame = frame.sort(frame.columns, nulls_last=True) if frame.height else frame
        out[name] = hashlib.sha256(frame.write_csv().encode()).hexdigest()
    return out


def _run(store_path: Path, inbox: Path, day: dt.date) -> None:
    store = open_store(f"duckdb:///{store_path}")
    try:
        ctx = DailyContext(
            store=store, day=day, calendar=nse_calendar(), cache_dir=store_path.parent, inbox=[inbox]
        )
        report = run_daily(ctx)
        assert report.ok
    finally:
        store.close()


_KILLER = textwrap.dedent(
    """
    import datetime as dt, os, sys
    from pathlib import Path
    from earnest.core.calendar import nse_calendar
    from earnest.store import open_store
    from earnest.workflows.daily import DailyContext, run_daily

    store_path, inbox, day, stage, point = sys.argv[1:6]
    store = open_store(f"duckdb:///{store_path}")

    def hook(name, where):
        if name == stage and where == point:
            os._exit(9)

    ctx = DailyContext(store=store, day=dt.date.fromisoformat(day), calendar=nse_calendar(),
                       cache_dir=Path(store_path).parent, inbox=[Path(inbox)])
    run_daily(ctx, hook=hook)
    sys.exit(3)  # the hook should have killed the process first
    """
)


@pytest.fixture(scope="module")
def clean(market: tuple[Path, Path, dt.date], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    store_path, inbox, day = market
    copy = tmp_path_factory.mktemp("clean") / "store.duckdb"
    shutil.copy(store_path, copy)
    _run(copy, inbox, day)
    store = open_store(f"duckdb:///{copy}")
    try:
        log = stage_log(store, day)
        assert log.get_column("status").to_list() == [
            "skipped" if s in {"score", "alerts"} else "done" for s in sorted(STAGES)
        ]
        assert store.query("SELECT count(*) AS n FROM bars WHERE date = ?", (day,)).item(0, 0) > 0
        return _snapshot(store)
    finally:
        store.close()


@pytest.mark.parametrize("point", ["started", "finished"])
@pytest.mark.parametrize("stage", [s for s in STAGES if s not in {"score", "alerts"}])
def test_killed_and_rerun_gives_the_clean_state(
    market: tuple[Path, Path, dt.date], clean: dict[str, str], tmp_path: Path, stage: str, point: str
) -> None:
    store_path, inbox, day = market
    copy = tmp_path / "store.duckdb"
    shutil.copy(store_path, copy)
    killed = subprocess.run(
        [sys.executable, "-c", _KILLER, str(copy), str(inbox), day.isoformat(), stage, point],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == 9, killed.stderr[-2000:]
    store = open_store(f"duckdb:///{copy}")
    try:
        row = stage_log(store, day).filter(pl.col("stage") == stage).to_dicts()
        assert len(row) == 1
        assert row[0]["status"] == "running"  # the crash left the stage unfinished
    finally:
        store.close()
    _run(copy, inbox, day)
    store = open_store(f"duckdb:///{copy}")
    try:
        assert _snapshot(store) == clean
    finally:
        store.close()


def test_a_holiday_is_not_run(market: tuple[Path, Path, dt.date], tmp_path: Path) -> None:
    store_path, inbox, _ = market
    copy = tmp_path / "store.duckdb"
    shutil.copy(store_path, copy)
    store = open_store(f"duckdb:///{copy}")
    try:
        ctx = DailyContext(
            store=store, day=dt.date(2024, 1, 26), calendar=nse_calendar(), cache_dir=tmp_path, inbox=[inbox]
        )
        report = run_daily(ctx)  # Republic Day
        assert not report.trading_day
        assert report.stages == []
        assert stage_log(store).height == 0
    finally:
        store.close()


def test_a_second_run_does_nothing(market: tuple[Path, Path, dt.date], tmp_path: Path) -> None:
    store_path, inbox, day = market
    copy = tmp_path / "store.duckdb"
    shutil.copy(store_path, copy)
    _run(copy, inbox, day)
    store = open_store(f"duckdb:///{copy}")
    try:
        ctx = DailyContext(store=store, day=day, calendar=nse_calendar(), cache_dir=tmp_path, inbox=[inbox])
        report = run_daily(ctx)
        ran = {s["stage"]: s["ran"] for s in report.stages}
        assert ran == {s: s in {"score", "alerts"} for s in STAGES}
    finally:
        store.close()
