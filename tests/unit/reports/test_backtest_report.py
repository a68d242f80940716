"""The backtest report: JSON fields and round trip, cost attribution consistent with the engine's
frames (and hand-checked on a one-fill run), and an HTML page with five charts, the headline,
risk, assumptions and receipt, with every piece of user text escaped."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from backtest_builders import N_SESSIONS, synthetic_run

from earnest.backtest.costs import COMPONENTS, CostModel
from earnest.backtest.engine import BacktestConfig, run_backtest
from earnest.backtest.panel import BacktestInputs
from earnest.backtest.perf import summarise
from earnest.backtest.risk import risk_report
from earnest.backtest.run import BacktestRun
from earnest.reports import backtest as report
from earnest.reports.backtest import backtest_html, backtest_json, cost_attribution, write_backtest

EVIL = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def run() -> BacktestRun:
    return synthetic_run()


def test_public_api() -> None:
    assert sorted(report.__all__) == [
        "backtest_html",
        "backtest_json",
        "cost_attribution",
        "headline_rows",
        "write_backtest",
    ]


def test_json_has_every_field_and_round_trips(run: BacktestRun) -> None:
    data = backtest_json(run)
    assert set(data) == {
        "name",
        "description",
        "config",
        "benchmark_name",
        "counts",
        "perf",
        "benchmark_perf",
        "risk",
        "costs",
        "assumptions",
        "receipt",
        "daily",
        "monthly",
    }
    text = json.dumps(data, allow_nan=False)  # raises on NaN or inf, and on any non-JSON type
    assert json.loads(text) == data
    assert data["config"]["start"] == "2020-01-01"  # a numpy date became an ISO string
    assert data["perf"]["dsr"] is None
    assert data["perf"]["n_trials"] is None
    assert data["receipt"]["data_hash"] == "sim"
    assert data["assumptions"] == ["cost rates carried back before 2021"]
    assert data["counts"]["sessions"] == N_SESSIONS
    assert data["counts"]["fills"] == run.result.fills.height > 0
    assert data["counts"]["signals"] == 33  # 11 rebalances x 3 symbols
    assert [v["method"] for v in data["risk"]["var"]] == [
        "historical",
        "historical",
        "stationary_bootstrap",
        "stationary_bootstrap",
        "circular_block_bootstrap",
        "circular_block_bootstrap",
    ]


def test_daily_and_monthly_series_match_the_frames(run: BacktestRun) -> None:
    data = backtest_json(run)
    daily = run.result.daily
    assert len(data["daily"]) == N_SESSIONS
    first = data["daily"][0]
    assert set(first) == {"date", "equity", "net_return", "gross_return", "exposure", "turnover"}
    assert first["date"] == "2020-01-01"
    assert data["daily"][-1]["equity"] == pytest.approx(daily["equity"][-1])
    # 220 business days from 1 Jan 2020 end on 3 Nov 2020: 11 months
    months = data["monthly"]
    assert [(m["year"], m["month"]) for m in months] == [(2020, m) for m in range(1, 12)]
    jan = daily.filter(pl.col("date").cast(pl.Date).dt.month() == 1)["net_return"].to_numpy()
    assert months[0]["return"] == pytest.approx(np.prod(1.0 + jan) - 1.0)


def test_cost_totals_agree_with_the_engine_frames(run: BacktestRun) -> None:
    costs = cost_attribution(run)
    daily = run.result.daily
    names = [c["name"] for c in costs["components"]]
    assert names == [*COMPONENTS, "slippage"]
    by = {c["name"]: c for c in costs["components"]}
    fees = sum(by[c]["rupees"] for c in COMPONENTS)
    assert fees == pytest.approx(daily["costs"].sum(), rel=1e-9)
    assert costs["fees"]["rupees"] == pytest.approx(fees, rel=1e-12)
    assert by["slippage"]["rupees"] == pytest.approx(daily["slippage"].sum(), rel=1e-12)
    assert costs["total"]["rupees"] == pytest.approx(fees + by["slippage"]["rupees"], rel=1e-12)
    assert costs["initial_capital"] == pytest.approx(1_000_000.0, rel=1e-12)
    # traded value: the fills' values, which is also 2 x one-way turnover x previous equity
    prev = np.concatenate([[1_000_000.0], daily["equity"].to_numpy()[:-1]])
    assert costs["traded_value"] == pytest.approx(float((2.0 * daily["turnover"].to_numpy() * prev).sum()))
    stt = by["stt"]
    assert stt["bps_of_traded_value"] == pytest.approx(stt["rupees"] / costs["traded_value"] * 1e4)
    assert stt["pct_of_initial_capital"] == pytest.approx(stt["rupees"] / 1e4)  # of Rs 10 lakh, in %
    # delivery STT is 0.1 % of each leg, rounded to the rupee per cell: about 10 bps of traded value
    assert stt["bps_of_traded_value"] == pytest.approx(10.0, abs=0.05)


def _one_fill_run() -> BacktestRun:
    """Rs 1,000, one scrip at 100, no fees, 10 bps slippage: 9 shares bought at 100.10."""
    nan = [[np.nan]] * 5
    inputs = BacktestInputs(
        dates=np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-06")),
        symbols=("A",),
        open=np.full((5, 1), 100.0),
        close=np.full((5, 1), 100.0),
        lower=np.array(nan),
        upper=np.array(nan),
        adv=np.array(nan),
        weights=np.array([[1.0], [np.nan], [np.nan], [np.nan], [np.nan]]),
    )
    cfg = BacktestConfig(initial_cash=1000.0, costs=CostModel.zero(), slippage_bps=10.0, liquidity_cap=np.inf)
    result = run_backtest(inputs, cfg)
    _ = result.costs  # built on first access
    net = result.daily["net_return"].to_numpy()
    return BacktestRun(
        name="one fill",
        description="",
        config={},
        result=result,
        benchmark_name="",
        benchmark=pl.DataFrame({"date": [], "close": []}),
        perf=summarise(net),
        benchmark_perf=None,
        risk=risk_report(net, n_paths=100),
        counts={},
        receipt={},
    )


def test_cost_attribution_by_hand_on_one_fill() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = _one_fill_run()
    costs = cost_attribution(one)
    # target 10 shares; at 100.10 they cost 1001 > 1000, so 9 shares: value 900.90, slippage 9 x 0.10
    assert costs["traded_value"] == pytest.approx(900.9)
    assert costs["initial_capital"] == pytest.approx(1000.0)
    slip = costs["components"][-1]
    assert slip["name"] == "slippage"
    assert slip["kind"] == "slippage"
    assert slip["rupees"] == pytest.approx(0.9)
    assert slip["bps_of_traded_value"] == pytest.approx(0.9 / 900.9 * 1e4)  # 9.99 bps
    assert slip["pct_of_traded_value"] == pytest.approx(0.9 / 900.9 * 100)
    assert slip["pct_of_initial_capital"] == pytest.approx(0.09)
    assert costs["fees"]["rupees"] == 0.0
    assert costs["total"]["rupees"] == pytest.approx(0.9)
    # no benchmark: still five charts, the benchmark column says n/a, the name is absent
    page = backtest_html(one)
    assert page.count('class="plotly-graph-div"') == 5
    assert "<td>n/a</td>" in page
    assert "Benchmark: <b>(none)</b>" in page
    assert backtest_json(one)["benchmark_perf"] is None


def test_html_has_five_charts_the_tables_and_the_receipt(run: BacktestRun) -> None:
    page = backtest_html(run)
    assert page.startswith("<!doctype html>")
    assert page.count('class="plotly-graph-div"') == 5
    assert page.count("Plotly.newPlot(") == 5
    assert page.count("* plotly.js v") == 1  # inlined once
    for title in (
        "Equity: net vs gross vs benchmark",
        "Drawdown of the net equity",
        "Monthly net returns (%)",
        "Cost attribution per component (slippage separate)",
        "Exposure and daily turnover",
    ):
        assert title in page
    assert '"type":"heatmap"' in page
    assert '"zmid":0.0' in page
    assert '"colorscale":' in page
    assert "DSR: not computed: no trial count" in page
    assert "<th>NIFTY 50</th>" in page
    for method in ("historical", "stationary_bootstrap", "circular_block_bootstrap"):
        assert f"<td>{method}</td>" in page
    assert "<td>500</td>" in page  # bootstrap paths
    assert "Kupiec POF" in page
    assert "p = " in page
    assert page.count("<td>not covered</td>") == 2  # GFC and demonetisation; COVID is covered
    assert "COVID crash 2020" in page
    assert '<div class="assumptions">' in page
    assert "cost rates carried back before 2021" in page
    assert "&quot;data_hash&quot;: &quot;sim&quot;" in page


def test_dsr_with_a_trial_count_is_shown_with_it() -> None:
    searched = synthetic_run(n_trials=5)
    page = backtest_html(searched)
    dsr = backtest_json(searched)["perf"]["dsr"]
    assert 0.0 < dsr < searched.perf.psr  # deflating for 5 trials lowers the PSR
    assert f"<td>DSR: deflated Sharpe ratio</td><td>{dsr:.1%} (5 trials)</td>" in page
    assert "DSR with 5 trials" in page
    assert "DSR: not computed" not in page


def test_user_text_is_escaped() -> None:
    evil = synthetic_run(
        name=EVIL,
        description="R&D <b>bold</b>",
        benchmark_name="<img src=x onerror=alert(1)>",
        assumptions=["<iframe src=x></iframe>"],
    )
    page = backtest_html(evil)
    assert EVIL not in page
    assert "<img src=x" not in page
    assert "<iframe" not in page
    assert "<b>bold</b>" not in page
    assert "<h1>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;</h1>" in page
    assert "R&amp;D &lt;b&gt;bold&lt;/b&gt;" in page
    assert "<li>&lt;iframe src=x&gt;&lt;/iframe&gt;</li>" in page
    assert backtest_json(evil)["name"] == EVIL  # the JSON keeps the text as it is


def test_write_backtest_writes_both_files(run: BacktestRun, tmp_path: Path) -> None:
    js, page = write_backtest(run, tmp_path / "out")
    assert (js.name, page.name) == ("backtest.json", "backtest.html")
    assert json.loads(js.read_text(encoding="utf-8")) == backtest_json(run)
    assert page.read_text(encoding="utf-8").count('class="plotly-graph-div"') == 5
