"""``make demo``: the main job end to end on the embedded default (DuckDB, no server, no network).

Without ``data`` it simulates an NSE-like market and writes it in NSE's real file formats (and
says so on screen); with ``data`` it runs the same pipeline on a folder of real exchange files.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from earnest.config import load_settings
from earnest.core.calendar import IST, SESSION_CLOSE, SESSION_OPEN
from earnest.events import load_events
from earnest.marketdata.adjust import adjusted_bars
from earnest.quality.report import quality_report
from earnest.store import SqlStore, open_store
from earnest.workflows.events import event_table
from earnest.workflows.features import build as build_features
from earnest.workflows.features import read as read_features
from earnest.workflows.ingest import IngestReport, ingest_paths
from earnest.workflows.render import render_ingest, render_quality, table_of


def _simulate(console: Console, folder: Path, seed: int) -> tuple[list[dict[str, object]], str]:
    from earnest.simulate.market import SimConfig, simulate_market, write_market

    started = time.perf_counter()
    config = SimConfig(seed=seed)
    market = simulate_market(config)
    files = write_market(market, folder)
    took = time.perf_counter() - started
    console.print(
        f"simulated {market.bars.get_column('instrument_id').n_unique()} stocks over "
        f"{market.bars.get_column('date').n_unique()} sessions ({market.bars.height:,} bars) and wrote "
        f"{len(files)} files in NSE formats to {folder} in {took:.1f}s"
    )
    planted = [dict(e) if isinstance(e, dict) else e.__dict__ for e in market.planted_errors]
    return planted, f"seed {seed}"


def _ingest(console: Console, store: SqlStore, folder: Path) -> IngestReport:
    settings = load_settings()
    with Progress(
        TextColumn("[bold]ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def update(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=name[-40:])

        return ingest_paths(store, [folder], settings=settings.quality, progress=update)


def _planted_check(console: Console, store: SqlStore, planted: list[dict[str, object]]) -> None:
    if not planted:
        return
    q = store.read("quarantine").select("source_file", "source_row", "rule")
    rows = []
    for err in planted:
        name = str(err.get("file", ""))
        line = err.get("line")
        hit = q.filter(pl.col("source_file").str.ends_with(name) & (pl.col("source_row") == line))
        rows.append(
            {
                "planted error": str(err.get("rule", "")),
                "file": name,
                "line": line,
                "caught as": ", ".join(hit.get_column("rule").to_list()) or "NOT CAUGHT",
            }
        )
    console.print(table_of(rows, title="planted data errors vs. what the gate caught"))


def _actions(console: Console, store: SqlStore) -> None:
    acts = store.read("corporate_actions", order_by=["ex_date", "symbol"])
    splits = acts.filter(pl.col("action_type").is_in(["split", "bonus", "split_bonus", "consolidation"]))
    if splits.is_empty():
        console.print("no splits or bonuses in the data")
        return
    show = splits.select("symbol", "ex_date", "action_type", "price_factor", "source", "status").head(12)
    console.print(
        table_of(show.to_dicts(), title=f"splits and bonuses ({splits.height}: recorded and inferred)")
    )
    pick = splits.sort(pl.col("source") == "inferred", descending=True).row(0, named=True)
    start = pick["ex_date"] - __import__("datetime").timedelta(days=6)
    end = pick["ex_date"] + __import__("datetime").timedelta(days=6)
    adj = adjusted_bars(store, instrument_ids=[pick["instrument_id"]], start=start, end=end)
    if adj.height:
        view = adj.select("date", "close", "adj_close", "adj_factor")
        console.print(
            table_of(
                view.to_dicts(),
                title=f"{pick['symbol']} around its {pick['action_type']} of {pick['ex_date']}: raw vs adjusted",
            )
        )


def _events(console: Console, store: SqlStore) -> None:
    """Results events built from the ingested listings: how many, how they are timed, and the
    latest filings of one company as ``earnest show events`` prints them."""
    events = load_events(store)
    if events.is_empty():
        return
    local = pl.col("event_time").dt.convert_time_zone(str(IST)).dt.time()
    timing = events.filter(pl.col("version") == 1).select(
        (local < SESSION_OPEN).sum().alias("pre-open"),
        ((local >= SESSION_OPEN) & (local < SESSION_CLOSE)).sum().alias("in session"),
        (local >= SESSION_CLOSE).sum().alias("after the close"),
        (pl.col("version") == 1).sum().alias("first releases"),
    )
    revised = int(events.filter(pl.col("version") > 1).height)
    console.print(
        f"[bold]results events[/]: {events.height:,} filings, {revised} revisions kept as new versions; "
        f"first releases by broadcast time: {timing.to_dicts()[0]}"
    )
    symbol = events.sort("knowledge_time").get_column("symbol")[-1]
    cols = [
        "period_end",
        "consolidated",
        "version",
        "broadcast_ist",
        "first_session",
        "first_fill",
        "eps_basic",
        "sue",
    ]
    table = event_table(store, symbols=[symbol]).tail(4).select(cols)
    console.print(
        table_of(table.to_dicts(), title=f"{symbol}: latest results, as `earnest show events` prints them")
    )


def _features(console: Console, store: SqlStore) -> None:
    """Build every registered feature on the demo universe and show one company's latest values."""
    started = time.perf_counter()
    report = build_features(store)
    console.print(
        f"[bold]features[/]: {report.total_rows:,} point-in-time values from {len(report.rows_written)} specs "
        f"in {time.perf_counter() - started:.1f}s"
        + (f"; skipped: {report.skipped}" if report.skipped else "")
    )
    shown = [
        "ret_20d",
        "rsi_14",
        "vol_20d",
        "rel_ret_20d",
        "eps_yoy",
        "sue",
        "days_to_expiry",
    ]
    wide = read_features(store, features=shown, wide=True)
    if wide.is_empty():
        return
    cols = ["instrument_id", *(c for c in shown if c in wide.columns)]
    last = wide.filter(pl.col("date") == pl.col("date").max()).head(5).select(cols)
    console.print(table_of(last.to_dicts(), title="features on the last session (first 5 instruments)"))


DEMO_HYPOTHESES: tuple[dict[str, object], ...] = (
    {
        "name": "every results announcement",
        "question": "demo-every-announcement",
        "description": "The baseline as a hypothesis: buy at the first open after any results announcement.",
        "event": {"type": "results"},
    },
    {
        "name": "positive earnings surprise drifts",
        "question": "demo-surprise-drift",
        "description": "After a standardised earnings surprise above 1, the price keeps drifting up for days.",
        "event": {"type": "results", "selector": "sue > 1"},
    },
    {
        "name": "blockbuster results",
        "question": "demo-blockbuster",
        "description": "PAT up more than 50 % and revenue more than 20 % year on year: the origin story's idea.",
        "event": {"type": "results", "selector": "pat_yoy > 0.5 and revenue_yoy > 0.2"},
    },
)
"""The hypotheses the demo puts to the lab (horizons 1, 3, 5 and 10 sessions, abnormal return vs
NIFTY 50 net of costs, over the whole simulated period)."""


def _lab(console: Console, store: SqlStore, home: Path) -> None:
    """Run the demo hypotheses through the lab: verdicts, and an HTML report for each."""
    from earnest.lab.spec import hypothesis_from_dict
    from earnest.reports.lab import summary_rows
    from earnest.workflows.lab import run_hypothesis

    period = _period(store)
    if period is None:
        return
    for spec in DEMO_HYPOTHESES:
        h = hypothesis_from_dict({**spec, "horizons": [1, 3, 5, 10], "period": period}, source="demo")
        started = time.perf_counter()
        run = run_hypothesis(store, h, out_dir=home / "reports" / str(spec["question"]))
        c = run.study.counts
        rows = [{k: r[k] for k in ("horizon", "n", "mean", "95% CI", "p adj.", "MDE", "verdict")}
                for r in summary_rows(run.study)]  # fmt: skip
        console.print(
            table_of(
                rows,
                title=f"lab: {h.name} ({c.selected:,} of {c.in_scope:,} events; "
                f"{time.perf_counter() - started:.1f}s) -> {run.html_path}",
            )
        )


def _period(store: SqlStore) -> dict[str, dt.date] | None:
    span = store.query("SELECT min(date) AS lo, max(date) AS hi FROM bars").to_dicts()[0]
    if span["lo"] is None:
        return None
    return {"start": span["lo"] + dt.timedelta(days=200), "end": span["hi"] - dt.timedelta(days=20)}


def _model(console: Console, store: SqlStore, home: Path) -> None:
    """Train the surprise-drift model (walk-forward, Optuna trials in the ledger), register it in the
    local MLflow registry with its gate result, and show its out-of-sample table next to the baselines."""
    from earnest.core.errors import EarnestError
    from earnest.models.registry import Registry
    from earnest.workflows.models import register_training
    from earnest.workflows.train import demo_train_config, render_training, run_training

    period = _period(store)
    if period is None:
        return
    shutil.rmtree(home / "mlflow", ignore_errors=True)
    started = time.perf_counter()
    try:
        result = run_training(store, demo_train_config(**period))
        reg = register_training(store, Registry.local(home), result)
    except EarnestError as exc:
        console.print(f"model: skipped: {exc}")
        return
    except ImportError as exc:  # a bare `pip install earnest`: the model extras are missing
        console.print(f"model: skipped: {exc.name} is not installed (pip install 'earnest[ml,registry]')")
        return
    render_training(console, result)
    g = reg.gate
    console.print(
        f"model: registered {reg.model.name} v{reg.model.version} in {home / 'mlflow'} "
        f"({time.perf_counter() - started:.1f}s); promotion gate {'PASSES' if g.passed else 'does not pass'}: "
        + "; ".join(g.reasons)
    )


def _backtest(console: Console, store: SqlStore, home: Path) -> None:
    """Backtest the surprise-drift events as a portfolio with Indian costs, bands and T+1."""
    from earnest.backtest.spec import backtest_spec_from_dict
    from earnest.core.errors import EarnestError
    from earnest.workflows.backtest import render_backtest, run_backtest_spec

    period = _period(store)
    if period is None:
        return
    surprise = next(h for h in DEMO_HYPOTHESES if h["question"] == "demo-surprise-drift")
    spec = backtest_spec_from_dict(
        {
            "name": "surprise drift portfolio",
            "hypothesis": {**surprise, "horizons": [5], "period": period},
            "signal": {"hold_sessions": 5},
            "portfolio": {"max_positions": 10, "max_weight": 0.1},
        },
        source="demo",
    )
    started = time.perf_counter()
    try:
        outcome = run_backtest_spec(store, spec, out_dir=home / "reports" / "backtest")
    except EarnestError as exc:
        console.print(f"backtest: skipped: {exc}")
        return
    render_backtest(console, outcome)
    console.print(f"backtest: {time.perf_counter() - started:.1f}s")


def run_demo(console: Console, *, home: Path, data: Path | None = None, seed: int = 7) -> None:
    """Simulate (or take ``data``), ingest into a fresh DuckDB store under ``home``, and report."""
    home.mkdir(parents=True, exist_ok=True)
    home = home.resolve()  # a relative home would read as an absolute path in the store URL
    db = home / "earnest.duckdb"
    for stale in (db, home / "earnest.duckdb.wal"):
        stale.unlink(missing_ok=True)
    planted: list[dict[str, object]] = []
    if data is None:
        console.print(
            Panel(
                "[bold yellow]SIMULATED DATA[/]: no real Indian prices can ship inside earnest, so this demo generates a "
                "realistic NSE-like market and writes it in NSE's real file formats (legacy and UDiFF bhavcopy, "
                "full bhavcopy with delivery, index closes, price bands, corporate actions, masters, results listings and XBRL filings). "
                "Run `make demo DATA=folder` on real exchange files.",
                title="earnest demo",
            )
        )
        folder = home / "sim-data"
        shutil.rmtree(folder, ignore_errors=True)
        planted, _ = _simulate(console, folder, seed)
    else:
        console.print(Panel(f"real exchange files from [bold]{data}[/]", title="earnest demo"))
        folder = data
    store = open_store(f"duckdb:///{db}")
    try:
        report = _ingest(console, store, folder)
        render_ingest(console, report)
        render_quality(console, quality_report(store, limit=10))
        _planted_check(console, store, planted)
        _actions(console, store)
        _events(console, store)
        _features(console, store)
        _lab(console, store, home)
        _model(console, store, home)
        _backtest(console, store, home)
    finally:
        store.close()
    console.print(f"store: duckdb:///{db}  (try: earnest --home {home} show bars -s <SYMBOL> --adjusted)")


__all__ = ["run_demo"]
