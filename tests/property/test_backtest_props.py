"""Properties of the portfolio engine on random small panels with random bands, gaps, locks and
weights (hypothesis): the numba kernel equals the plain loop to 1e-9; zero signal means zero PnL
and zero cost; raising any cost never raises net PnL; equity is cash plus positions, rebuilt from
the fills; no fill outside its day's band or on a locked side; no sale proceeds spent before T+1."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from earnest.backtest.costs import CostModel, DailyRates
from earnest.backtest.engine import BacktestConfig, RawRun, run_raw
from earnest.backtest.panel import BacktestInputs
from earnest.backtest.verify import verify_raw

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEFAULT = CostModel.default()


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _panel(rng: np.random.Generator, n_t: int, n: int, max_gross: float, sparse: bool) -> BacktestInputs:
    """Prices that move at most 10% a day, bands of 2-20% (or none), some locked opens and closes,
    some missing bars, random ADV and random weight rows (or none)."""
    close = np.empty((n_t, n))
    prev = rng.uniform(20, 500, n)
    band = rng.choice([2.0, 5.0, 10.0, 20.0, np.nan], n)
    lower, upper, opn = np.empty((n_t, n)), np.empty((n_t, n)), np.empty((n_t, n))
    for t in range(n_t):
        lo, up = prev * (1 - band / 100), prev * (1 + band / 100)
        lower[t], upper[t] = lo, up
        o = prev * np.exp(rng.normal(0, 0.04, n))
        c = o * np.exp(rng.normal(0, 0.03, n))
        lock = rng.random(n)
        o = np.where(lock < 0.1, up, np.where(lock > 0.9, lo, o))
        finite = np.isfinite(band)
        opn[t] = np.where(finite, np.clip(o, lo, up), np.clip(o, prev * 0.9, prev * 1.1))
        close[t] = np.where(finite, np.clip(c, lo, up), np.clip(c, prev * 0.9, prev * 1.1))
        prev = close[t]
    gap = rng.random((n_t, n)) < 0.05
    opn[gap], close[gap] = np.nan, np.nan
    adv = np.where(rng.random((n_t, n)) < 0.2, np.nan, rng.uniform(1e4, 1e7, (n_t, n)))
    weights = np.full((n_t, n), np.nan)
    rows = rng.random(n_t) < (0.3 if sparse else 0.6)
    raw = rng.dirichlet(np.ones(n), n_t) * rng.uniform(0, max_gross, (n_t, 1))
    raw[rng.random((n_t, n)) < 0.2] = 0.0
    weights[rows] = raw[rows]
    weights[rows[:, None] & (rng.random((n_t, n)) < 0.1)] = np.nan
    return BacktestInputs(
        dates=np.datetime64("2024-04-01") + np.arange(n_t),
        symbols=tuple(f"S{j}" for j in range(n)),
        open=opn,
        close=close,
        lower=lower,
        upper=upper,
        adv=adv,
        weights=weights,
    )


@st.composite
def cases(draw: st.DrawFn, max_gross: float = 1.0) -> tuple[BacktestInputs, BacktestConfig]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    inp = _panel(rng, draw(st.integers(2, 20)), draw(st.integers(1, 4)), max_gross, draw(st.booleans()))
    cfg = BacktestConfig(
        initial_cash=draw(st.sampled_from([1e4, 1e5, 1e6])),
        execution=draw(st.sampled_from(["next_open", "next_close"])),
        blocked=draw(st.sampled_from(["carry", "cancel"])),
        liquidity_cap=draw(st.sampled_from([0.01, 0.1, np.inf])),
        slippage_bps=draw(st.sampled_from([0.0, 5.0, 30.0])),
        impact_bps=draw(st.sampled_from([0.0, 10.0])),
        lot_size=draw(st.sampled_from([1, 1, 5])),
        integer_shares=draw(st.booleans()),
        costs=draw(st.sampled_from([DEFAULT, CostModel.zero()])),
    )
    return inp, cfg


@SETTINGS
@given(cases())
def test_kernel_equals_the_plain_loop(case: tuple[BacktestInputs, BacktestConfig]) -> None:
    inp, cfg = case
    fast, slow = run_raw(inp, cfg), verify_raw(inp, cfg)
    for name in RawRun._fields:
        np.testing.assert_allclose(
            getattr(fast, name), getattr(slow, name), rtol=1e-12, atol=1e-9, err_msg=name
        )


@SETTINGS
@given(cases())
def test_zero_signal_zero_pnl_zero_cost(case: tuple[BacktestInputs, BacktestConfig]) -> None:
    inp, cfg = case
    zero = np.where(np.isnan(inp.weights), np.nan, 0.0)
    run = run_raw(_with_weights(inp, zero), cfg)
    assert not run.qty.any()
    assert (run.cash == cfg.initial_cash).all()
    assert (run.positions == 0).all()
    assert (run.fees == 0).all()
    assert (run.slippage == 0).all()


def _with_weights(inp: BacktestInputs, w: np.ndarray) -> BacktestInputs:
    return BacktestInputs(
        dates=inp.dates, symbols=inp.symbols, open=inp.open, close=inp.close, lower=inp.lower,
        upper=inp.upper, adv=inp.adv, weights=w,
    )  # fmt: skip


def _raised(rates: DailyRates, rng: np.random.Generator) -> DailyRates:
    """Every rate multiplied by its own random factor >= 1 (some exactly 1)."""
    up = {k: v * rng.choice([1.0, 1.5, 3.0]) for k, v in rates._asdict().items() if k != "stt_round"}
    return rates._replace(**up)


@SETTINGS
@given(cases(max_gross=0.5), st.integers(0, 2**32 - 1), st.sampled_from([0.0, 20.0]))
def test_raising_any_cost_never_raises_net_pnl(
    case: tuple[BacktestInputs, BacktestConfig], seed: int, more_slip: float
) -> None:
    """Strategy whose orders do not depend on past costs: one entry (at most half the equity, so
    cash never binds), one exit to cash. Then higher costs change only what is paid."""
    inp, cfg = case
    w = np.full(inp.weights.shape, np.nan)
    first = np.nansum(inp.weights, axis=1) > 0
    assume(first.any())
    t0 = int(np.flatnonzero(first)[0])
    w[t0] = np.nan_to_num(inp.weights[t0])
    if t0 + 3 < w.shape[0]:
        w[t0 + 3] = 0.0
    entry_exit = _with_weights(inp, w)
    rates = cfg.costs.daily_rates(inp.dates)
    low = run_raw(entry_exit, cfg, rates)
    dearer = BacktestConfig(**{**cfg.__dict__, "slippage_bps": cfg.slippage_bps + more_slip})
    high = run_raw(entry_exit, dearer, _raised(rates, np.random.default_rng(seed)))
    assume(np.array_equal(low.qty, high.qty))
    final_low = low.cash[-1] + low.positions[-1]
    final_high = high.cash[-1] + high.positions[-1]
    assert final_high <= final_low + 1e-9
    assert high.fees.sum() >= low.fees.sum() - 1e-9


@SETTINGS
@given(cases())
def test_accounting_bands_and_settlement(case: tuple[BacktestInputs, BacktestConfig]) -> None:
    inp, cfg = case
    run = run_raw(inp, cfg)
    filled = run.qty != 0
    ref = inp.close if cfg.execution == "next_close" else inp.open
    px = np.where(filled, run.price, np.nan)
    # every fill inside its day's band; no buy at the upper lock, no sell at the lower lock
    with np.errstate(invalid="ignore"):
        assert not (px < inp.lower - 1e-9).any()
        assert not (px > inp.upper + 1e-9).any()
        assert not ((run.qty > 0) & (ref >= inp.upper)).any()
        assert not ((run.qty < 0) & (ref <= inp.lower)).any()
    assert np.isfinite(ref[filled]).all()
    # equity = cash + positions, each rebuilt from the fills alone
    flows = np.where(filled, -run.qty * run.price, 0.0) - run.cost
    cash = cfg.initial_cash + np.cumsum(flows.sum(axis=1))
    np.testing.assert_allclose(run.cash, cash, rtol=1e-12, atol=1e-6)
    held = np.cumsum(run.qty, axis=0)
    assert (held >= -1e-9).all()
    mark = _last_mark(inp.close, px)
    np.testing.assert_allclose(run.positions, np.nansum(held * mark, axis=1), rtol=1e-12, atol=1e-6)
    # T+1: a session's buys (with their costs) never exceed the cash held at the previous close
    buys = np.where(run.qty > 0, run.qty * run.price + run.cost, 0.0).sum(axis=1)
    before = np.concatenate([[cfg.initial_cash], run.cash[:-1]])
    assert (buys <= before + 1e-6).all()
    assert (run.cash - run.unsettled >= -1e-6).all()


def _last_mark(close: np.ndarray, fill_px: np.ndarray) -> np.ndarray:
    """Last known close, or the first fill price before any close is known."""
    out = np.full(close.shape, np.nan)
    last = np.full(close.shape[1], np.nan)
    for t in range(close.shape[0]):
        first_fill = np.isnan(last) & np.isfinite(fill_px[t])
        last = np.where(first_fill, fill_px[t], last)
        last = np.where(np.isfinite(close[t]), close[t], last)
        out[t] = last
    return np.where(np.isnan(out), 0.0, out)
