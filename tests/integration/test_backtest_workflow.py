"""`earnest backtest` on a small simulated store: a hypothesis's events traded as slots through the
engine, every backtest a trial of its question (so the deflated Sharpe ratio counts them), and a
model signal that trades only the events the model picked out of sample."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from test_cli_ingest import run

from earnest.backtest.spec import BacktestSpecError, backtest_spec_from_dict, parse_backtest_spec
from earnest.lab.ledger import ledger
from earnest.simulate.market import SimConfig, simulate_market, write_market
from earnest.store import SqlStore, open_store
from earnest.workflows.backtest import run_backtest_spec
from earnest.workflows.ingest import ingest_paths

HYPOTHESIS: dict[str, Any] = {
    "name": "every results announcement",
    "question": "backtest-test",
    "horizons": [5],
    "period": {"start": "2023-09-01", "end": "2024-05-31"},
    "event": {"type": "results"},
}


def _spec(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "every announcement portfolio",
        "hypothesis": HYPOTHESIS,
        "signal": {"hold_sessions": 5},
        "portfolio": {"max_positions": 5, "max_weight": 0.2},
        "risk": {"n_paths": 500},
    }
    return base | changes


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("backtest")
    sim = simulate_market(
        SimConfig(seed=11, n_symbols=40, start=dt.date(2023, 1, 2), end=dt.date(2024, 6, 28))
    )
    write_market(sim, root / "market")
    store = open_store(f"duckdb:///{root / 'earnest.duckdb'}")
    ingest_paths(store, [root / "market"])
    store.close()
    return root


@pytest.fixture
def store(home: Path) -> Iterator[SqlStore]:
    s = open_store(f"duckdb:///{home / 'earnest.duckdb'}")
    yield s
    s.close()


def test_a_hypothesis_backtest_trades_its_events_and_counts_as_a_trial(
    store: SqlStore, tmp_path: Path
) -> None:
    spec = backtest_spec_from_dict(_spec(), source="test")
    out = run_backtest_spec(store, spec, out_dir=tmp_path)
    run, c = out.run, out.run.counts
    assert c["events_traded"] > 10
    assert (
        c["events_traded"] + c["events_no_slot"] + c["events_already_held"] + c["events_no_session"]
        == c["events_selected"]
    )
    fills = run.result.fills
    buys = fills.filter(pl.col("side") == "buy")
    planned = out.plan.trades.filter(pl.col("status") == "planned")
    # every buy is on an event's entry session (or later, when a band blocked it), never before the news
    entries: dict[str, list[dt.date]] = {}
    for symbol, entry in planned.select("symbol", "entry_date").iter_rows():
        entries.setdefault(symbol, []).append(entry)
    for symbol, day in buys.select("symbol", pl.col("date").cast(pl.Date)).iter_rows():
        assert any(e <= day for e in entries[symbol])
    known = planned.get_column("knowledge_time").dt.convert_time_zone("Asia/Kolkata").dt.date()
    assert (planned.get_column("entry_date") >= known).all()
    # costs are on by default and every component is reported
    totals = run.cost_totals()
    assert totals["stt"] > 0
    assert totals["stamp"] > 0
    daily = run.result.daily
    assert float(daily.get_column("costs").sum()) == pytest.approx(
        sum(v for k, v in totals.items() if k != "slippage")
    )
    # the report and its receipt
    assert out.html_path is not None
    assert out.json_path is not None
    data = json.loads(out.json_path.read_text())
    assert data["receipt"]["config_hash"] == run.receipt["config_hash"]
    assert run.perf.n_trials == ledger(store, "backtest-test").height
    kinds = ledger(store, "backtest-test").get_column("kind").to_list()
    assert "backtest" in kinds


def test_a_new_setting_is_a_new_trial_and_the_same_one_is_not(store: SqlStore) -> None:
    before = ledger(store, "backtest-test").height
    run_backtest_spec(store, backtest_spec_from_dict(_spec(), source="test"))
    assert ledger(store, "backtest-test").height == before  # same spec again: a run, not a trial
    changed = _spec(portfolio={"max_positions": 3, "max_weight": 0.3})
    out = run_backtest_spec(store, backtest_spec_from_dict(changed, source="test"))
    assert ledger(store, "backtest-test").height == before + 1
    assert out.run.perf.n_trials == before + 1
    assert any("variance of 2 recorded backtests" in a for a in out.run.assumptions)


def test_costs_off_raise_net_returns_and_say_so(store: SqlStore) -> None:
    on = run_backtest_spec(store, backtest_spec_from_dict(_spec(), source="test")).run
    off = run_backtest_spec(
        store, backtest_spec_from_dict(_spec(costs={"enabled": False}), source="test")
    ).run
    assert off.perf.total_return > on.perf.total_return
    assert any("costs are OFF" in a for a in off.assumptions)


class _Registry:
    """What the backtest asks of the registry for a model signal: the out-of-sample predictions."""

    def __init__(self, oos: pl.DataFrame) -> None:
        self.frame = oos

    def oos(self, name: str, version: int | None = None, alias: str | None = None) -> pl.DataFrame:
        return self.frame


def test_a_model_signal_trades_only_the_top_scored_events(store: SqlStore) -> None:
    base = run_backtest_spec(store, backtest_spec_from_dict(_spec(), source="test"))
    events = base.plan.trades.select("symbol", "entry_date")
    rng = np.random.default_rng(0)
    oos = events.with_columns(pl.Series("score", rng.random(events.height)))
    spec = backtest_spec_from_dict(
        _spec(signal={"source": "model", "model": "m", "top_k": 1, "hold_sessions": 5}), source="test"
    )
    out = run_backtest_spec(store, spec, registry=_Registry(oos))
    traded = out.plan.trades
    assert traded.group_by("entry_date").len().get_column("len").max() == 1
    best = oos.sort("score", descending=True).unique("entry_date", keep="first")
    assert set(traded.select("symbol", "entry_date").rows()) == set(
        best.select("symbol", "entry_date").rows()
    )


def test_config_errors_name_the_line_and_field() -> None:
    text = 'name = "x"\nhypothesis = "h.toml"\n[portfolio]\nmax_positons = 3\n'
    with pytest.raises(Exception, match="does not exist"):
        parse_backtest_spec(text, source="bt.toml", base=Path("/nonexistent"))
    inline = (
        'name = "x"\n[hypothesis]\nname = "h"\n[hypothesis.period]\nstart = 2020-01-01\nend = 2021-01-01\n'
    )
    with pytest.raises(BacktestSpecError) as err:
        parse_backtest_spec(inline + "[portfolio]\nmax_positons = 3\n", source="bt.toml")
    assert err.value.field == "portfolio.max_positons"
    assert err.value.row == 8
    assert "max_positions" in (err.value.remedy or "")


def test_cli_prints_the_headline_and_writes_the_report(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "bt.toml"
    config.write_text(
        'name = "cli portfolio"\n[hypothesis]\nname = "every results announcement"\nquestion = "backtest-cli"\n'
        "horizons = [5]\n[hypothesis.period]\nstart = 2023-09-01\nend = 2024-05-31\n"
        "[risk]\nn_paths = 500\n"
    )
    out = run(home, "backtest", str(config), "--out", str(tmp_path / "r"))
    assert "DSR" in out.stdout
    assert (tmp_path / "r" / "backtest.html").exists()
