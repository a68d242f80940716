"""The portfolio engine on hand-built panels: fills at the next open or close, band locks (carry
and cancel), T+1 settlement, the liquidity cap, slippage, costs, and the frames at the edge."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import polars as pl
import pytest

from earnest.backtest import engine, rules
from earnest.backtest.costs import CostModel, cell_costs
from earnest.backtest.engine import BacktestConfig, run_backtest
from earnest.backtest.panel import BacktestInputs, dense, inputs_from_bars
from earnest.backtest.verify import verify_backtest, verify_raw
from earnest.core.errors import ConfigError, DataError

NAN = np.nan
FREE = {"costs": CostModel.zero(), "slippage_bps": 0.0, "liquidity_cap": np.inf}


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore")  # the default cost schedule warns about its assumed rates


def make(
    close: list[list[float]],
    weights: list[list[float]],
    *,
    open_: list[list[float]] | None = None,
    lower: list[list[float]] | None = None,
    upper: list[list[float]] | None = None,
    adv: list[list[float]] | None = None,
) -> BacktestInputs:
    c = np.array(close, dtype=float)
    shape = c.shape

    def arr(x: list[list[float]] | None) -> np.ndarray:
        return np.full(shape, NAN) if x is None else np.array(x, dtype=float)

    return BacktestInputs(
        dates=np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-01") + shape[0]),
        symbols=tuple("ABCDEFG"[: shape[1]]),
        open=c.copy() if open_ is None else arr(open_),
        close=c,
        lower=arr(lower),
        upper=arr(upper),
        adv=arr(adv),
        weights=arr(weights),
    )


def fills(inp: BacktestInputs, cfg: BacktestConfig) -> list[tuple[int, str, float, float]]:
    """(day index, symbol, signed qty, price) of every fill, checked against the plain loop."""
    r = run_backtest(inp, cfg)
    v = verify_raw(inp, cfg)
    np.testing.assert_allclose(r.raw.qty, v.qty, rtol=0, atol=1e-9)
    np.testing.assert_allclose(r.raw.cash, v.cash, rtol=0, atol=1e-9)
    t, j = np.nonzero(r.raw.qty)
    return [
        (int(a), inp.symbols[b], float(r.raw.qty[a, b]), float(r.raw.price[a, b]))
        for a, b in zip(t, j, strict=False)
    ]


def test_buys_at_next_open_whole_shares_within_cash() -> None:
    inp = make([[100.0], [110.0], [120.0]], [[1.0], [NAN], [NAN]], open_=[[100.0], [101.0], [120.0]])
    r = run_backtest(inp, BacktestConfig(initial_cash=1000.0, **FREE))
    # target floor(1000 / 100) = 10 shares; at 101 they cost 1010 > 1000: shrink to 9 shares
    assert fills(inp, BacktestConfig(initial_cash=1000.0, **FREE)) == [(1, "A", 9.0, 101.0)]
    assert r.daily["cash"].to_list() == pytest.approx([1000.0, 91.0, 91.0])
    assert r.daily["equity"].to_list() == pytest.approx([1000.0, 91.0 + 990.0, 91.0 + 1080.0])
    assert r.daily["net_return"][1] == pytest.approx(1081.0 / 1000.0 - 1.0)
    # the last share of the order carries; cash never suffices, so it never fills
    assert r.fills.height == 1


def test_next_close_execution_uses_the_close() -> None:
    inp = make([[100.0], [105.0], [120.0]], [[0.5], [NAN], [NAN]], open_=[[1.0], [1.0], [1.0]])
    cfg = BacktestConfig(initial_cash=1000.0, execution="next_close", **FREE)
    assert fills(inp, cfg) == [(1, "A", 5.0, 105.0)]


def test_upper_circuit_blocks_buys_carry_and_cancel() -> None:
    close = [[100.0], [105.0], [106.0], [107.0]]
    upper = [[NAN], [105.0], [NAN], [NAN]]
    opn = [[100.0], [105.0], [104.0], [107.0]]
    inp = make(close, [[0.5], [NAN], [NAN], [NAN]], open_=opn, upper=upper)
    carry = BacktestConfig(initial_cash=1000.0, **FREE)
    assert fills(inp, carry) == [(2, "A", 5.0, 104.0)]
    assert run_backtest(inp, carry).blocked_orders == 1
    cancel = BacktestConfig(initial_cash=1000.0, blocked="cancel", **FREE)
    assert fills(inp, cancel) == []
    res = run_backtest(inp, cancel)
    assert (res.blocked_orders, res.cancelled_orders) == (1, 1)
    assert res.daily["blocked"].to_list() == [0, 1, 0, 0]


def test_lower_circuit_blocks_sells() -> None:
    close = [[100.0], [100.0], [90.0], [91.0], [92.0]]
    lower = [[NAN], [NAN], [NAN], [90.0], [NAN]]
    opn = [[100.0], [100.0], [95.0], [90.0], [92.0]]
    inp = make(close, [[0.5], [NAN], [0.0], [NAN], [NAN]], open_=opn, lower=lower)
    got = fills(inp, BacktestConfig(initial_cash=1000.0, **FREE))
    assert got == [(1, "A", 5.0, 100.0), (4, "A", -5.0, 92.0)]


def test_missing_bar_blocks_like_a_lock() -> None:
    inp = make([[100.0], [NAN], [102.0]], [[0.5], [NAN], [NAN]], open_=[[100.0], [NAN], [102.0]])
    # the order keeps the quantity decided on day 0 (5 shares), not a new sizing
    assert fills(inp, BacktestConfig(initial_cash=1000.0, **FREE)) == [(2, "A", 5.0, 102.0)]


def test_sale_proceeds_settle_t_plus_1() -> None:
    # all in A; on day 2 switch to B: A sells at day 3's open, B can only buy on day 4
    close = [[100.0, 50.0]] * 6
    w = [[1.0, 0.0], [NAN, NAN], [0.0, 1.0], [NAN, NAN], [NAN, NAN], [NAN, NAN]]
    inp = make(close, w)
    cfg = BacktestConfig(initial_cash=1000.0, **FREE)
    assert fills(inp, cfg) == [(1, "A", 10.0, 100.0), (3, "A", -10.0, 100.0), (4, "B", 20.0, 50.0)]
    r = run_backtest(inp, cfg)
    assert r.daily["settled_cash"].to_list() == pytest.approx([1000.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert r.daily["cash"][3] == pytest.approx(1000.0)


def test_liquidity_cap_spreads_an_order_over_sessions() -> None:
    close = [[100.0]] * 4
    adv = [[1000.0]] * 4
    inp = make(close, [[1.0], [NAN], [NAN], [NAN]], adv=adv)
    cfg = BacktestConfig(initial_cash=1000.0, liquidity_cap=0.5, slippage_bps=0.0, costs=CostModel.zero())
    # at most 0.5 * 1000 rupees a session: 5 shares, then the other 5
    assert fills(inp, cfg) == [(1, "A", 5.0, 100.0), (2, "A", 5.0, 100.0)]


def test_slippage_moves_the_price_and_stays_in_the_band() -> None:
    inp = make(
        [[100.0], [100.0], [100.0]], [[0.5], [NAN], [NAN]], open_=[[100.0], [100.0], [100.0]],
        upper=[[NAN], [100.05], [NAN]],
    )  # fmt: skip
    cfg = BacktestConfig(initial_cash=1000.0, slippage_bps=10.0, liquidity_cap=np.inf, costs=CostModel.zero())
    got = fills(inp, cfg)
    assert got == [(1, "A", 5.0, pytest.approx(100.05))]  # 100 * 1.001 = 100.1, clamped to 100.05
    r = run_backtest(inp, cfg)
    assert r.daily["slippage"][1] == pytest.approx(5 * 0.05)
    assert r.daily["gross_return"][1] == pytest.approx(0.0)


def test_costs_match_the_cost_model_and_its_breakdown() -> None:
    close = [[100.0, 200.0], [101.0, 199.0], [102.0, 198.0], [103.0, 197.0]]
    w = [[0.4, 0.4], [NAN, NAN], [0.0, 0.8], [NAN, NAN]]
    inp = make(close, w)
    cfg = BacktestConfig(initial_cash=1_000_000.0)
    r = run_backtest(inp, cfg)
    rates = cfg.costs.daily_rates(inp.dates)
    for row in r.fills.iter_rows(named=True):
        t = int(np.flatnonzero(inp.dates == np.datetime64(row["date"]))[0])
        buy = row["value"] if row["side"] == "buy" else 0.0
        assert row["cost"] == pytest.approx(cell_costs(rates, t, buy, row["value"] - buy))
    parts = r.costs.drop("date", "slippage").to_numpy().sum(axis=1)
    np.testing.assert_allclose(parts, r.daily["costs"].to_numpy(), atol=1e-6)
    assert r.daily["costs"].sum() > 0
    assert r.daily["net_return"][1] < r.daily["gross_return"][1]


def test_result_frames_and_identity() -> None:
    inp = make([[100.0, 50.0], [102.0, 49.0], [104.0, 51.0]], [[0.3, 0.3], [NAN, NAN], [NAN, NAN]])
    r = run_backtest(inp, BacktestConfig(initial_cash=100_000.0))
    d = r.daily
    np.testing.assert_allclose(d["equity"], d["cash"] + d["positions_value"])
    assert r.fills.columns == ["date", "symbol", "side", "qty", "price", "value", "cost"]
    assert r.fills["date"].dtype == pl.Date
    assert d["turnover"][1] == pytest.approx(r.fills["value"].sum() / 2 / 100_000.0)
    assert d["exposure"][2] == pytest.approx(d["positions_value"][2] / d["equity"][2])
    same = verify_backtest(inp, BacktestConfig(initial_cash=100_000.0))
    np.testing.assert_allclose(same.daily["equity"], d["equity"], rtol=0, atol=1e-9)


def test_rules_are_the_documented_ones() -> None:
    assert rules.buy_blocked(105.0, 105.0)
    assert not rules.buy_blocked(104.95, 105.0)
    assert rules.sell_blocked(95.0, 95.0)
    assert not rules.sell_blocked(95.05, 95.0)
    assert rules.buy_blocked(NAN, NAN)
    assert not rules.buy_blocked(1.0, NAN)
    assert rules.apply_lot(17.0, 5.0, True) == 15.0
    assert rules.apply_lot(17.5, 5.0, False) == 17.5
    assert rules.liquidity_qty(100.0, 10.0, 1000.0, 0.1, 1.0, True) == 10.0
    assert rules.liquidity_qty(100.0, 10.0, NAN, 0.1, 1.0, True) == 100.0
    assert rules.slippage_fraction(250.0, 1000.0, 10.0, 20.0) == pytest.approx(0.001 + 0.002 * 0.5)
    assert rules.settle(100.0, 30.0) == 70.0
    assert rules.settle(10.0, 30.0) == 0.0
    assert rules.buy_scale(200.0, 50.0) == 0.25
    assert rules.buy_scale(10.0, 50.0) == 1.0


def test_lots_round_down() -> None:
    inp = make([[100.0], [100.0]], [[1.0], [NAN]])
    cfg = BacktestConfig(initial_cash=1799.0, lot_size=5, **FREE)
    assert fills(inp, cfg) == [(1, "A", 15.0, 100.0)]


@pytest.mark.parametrize(
    ("field", "value"),
    [("initial_cash", 0.0), ("execution", "open"), ("blocked", "keep"), ("liquidity_cap", 0.0),
     ("slippage_bps", -1.0), ("lot_size", 0)],
)  # fmt: skip
def test_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as err:
        BacktestConfig(**{field: value})  # type: ignore[arg-type]
    assert err.value.field == field


def test_inputs_reject_bad_weights_and_shapes() -> None:
    with pytest.raises(DataError, match="negative"):
        make([[100.0, 1.0]], [[-0.1, 0.0]])
    with pytest.raises(DataError, match="sum to"):
        make([[100.0, 1.0]], [[0.7, 0.7]])
    good = make([[100.0]], [[0.5]])
    with pytest.raises(DataError) as err:
        BacktestInputs(
            dates=good.dates, symbols=("A",), open=good.open, close=good.close, lower=good.lower,
            upper=good.upper, adv=np.zeros((2, 1)), weights=good.weights,
        )  # fmt: skip
    assert err.value.field == "adv"


def test_inputs_from_bars_bands_and_adv() -> None:
    d = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(3)]
    bars = pl.DataFrame(
        {
            "symbol": ["X", "X", "X", "Y", "Y"],
            "date": [d[0], d[1], d[2], d[0], d[2]],
            "open": [100.0, 101.0, 102.0, 10.0, 11.0],
            "close": [100.0, 101.0, 102.0, 10.0, 11.0],
            "prev_close": [99.0, 100.0, 101.0, 9.9, 10.0],
            "turnover": [1000.0, 3000.0, 5000.0, 10.0, 20.0],
            "band_pct": [5.0, 5.0, 5.0, None, 2.0],
        }
    )
    weights = pl.DataFrame({"date": [d[0]], "symbol": ["Y"], "weight": [0.5]})
    inp = inputs_from_bars(bars, weights)
    assert inp.symbols == ("X", "Y")
    assert inp.upper[:, 0] == pytest.approx([103.95, 105.0, 106.05])
    assert inp.lower[1, 0] == pytest.approx(95.0)
    assert np.isnan(inp.upper[0, 1])
    assert np.isnan(inp.close[1, 1])
    assert inp.upper[2, 1] == pytest.approx(10.2)
    assert inp.lower[2, 1] == pytest.approx(9.8)
    # ADV: mean of earlier sessions only (NaN before any is known)
    assert np.isnan(inp.adv[0, 0])
    assert inp.adv[1, 0] == 1000.0
    assert inp.adv[2, 0] == 2000.0
    assert inp.adv[2, 1] == 10.0
    assert np.isnan(inp.weights[0, 0])
    assert inp.weights[0, 1] == 0.5
    with pytest.raises(DataError):
        inputs_from_bars(bars.drop("turnover"), weights)


def test_inputs_from_bars_reads_price_band_rows() -> None:
    d = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(3)]
    bars = pl.DataFrame(
        {
            "symbol": ["X"] * 3,
            "series": ["EQ"] * 3,
            "date": d,
            "open": [100.0] * 3,
            "close": [100.0] * 3,
            "prev_close": [100.0] * 3,
            "turnover": [1.0] * 3,
        }
    )
    bands = pl.DataFrame(
        {
            "symbol": ["X", "X"],
            "series": ["EQ", "EQ"],
            "band_pct": [20.0, 5.0],
            "effective_date": [d[0], d[2]],
        }
    )
    inp = inputs_from_bars(bars, pl.DataFrame({"date": [], "symbol": [], "weight": []}), bands=bands)
    assert inp.upper[:, 0] == pytest.approx([120.0, 120.0, 105.0])
    assert np.isnan(inp.weights).all()
    with pytest.raises(DataError) as err:
        inputs_from_bars(
            bars.drop("series"), pl.DataFrame({"date": [], "symbol": [], "weight": []}), bands=bands
        )
    assert err.value.field == "series"


def test_dense_ignores_rows_off_the_grid() -> None:
    frame = pl.DataFrame(
        {"date": [dt.date(2024, 1, 2), dt.date(2030, 1, 1)], "symbol": ["A", "A"], "v": [1.0, 2.0]}
    )
    out = dense(frame, "v", np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]"), ("A", "B"))
    assert out[1, 0] == 1.0
    assert np.isnan(out).sum() == 3


def test_public_surface() -> None:
    assert set(engine.__all__) == {
        "BacktestConfig",
        "BacktestResult",
        "RawRun",
        "result_from_raw",
        "run_backtest",
        "run_raw",
    }


def test_sized_weights_drive_the_engine() -> None:
    """rank_top_k + rebalance_on -> engine: each rebalance ends up holding the best scorer only."""
    from earnest.backtest.sizing import rank_top_k, rebalance_on

    close = [[100.0, 50.0, 20.0]] * 6
    score = np.array([[1.0, 3.0, 2.0]] * 3 + [[3.0, 1.0, 2.0]] * 3)
    w = rebalance_on(rank_top_k(score, k=1, gross=0.9), np.array([True, False, False, True, False, False]))
    inp = make(close, w.tolist())
    got = fills(inp, BacktestConfig(initial_cash=10_000.0, **FREE))
    # day 0: 90 % in B (180 shares at 50). Day 3 wants 90 A: on day 4 B is sold and the 1,000
    # rupees of settled cash buy 10 A; the sale's 9,000 settle for day 5, which buys the other 80
    assert got == [
        (1, "B", 180.0, 50.0),
        (4, "A", 10.0, 100.0),
        (4, "B", -180.0, 50.0),
        (5, "A", 80.0, 100.0),
    ]
