"""Properties of the performance and risk metrics that hold for any return series."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from earnest.backtest.perf import deflated_sharpe, drawdown, max_drawdown, sharpe, sortino
from earnest.backtest.risk import bootstrap_var, historical_var

returns = arrays(
    np.float64,
    st.integers(min_value=5, max_value=120),
    elements=st.floats(min_value=-0.2, max_value=0.2, allow_nan=False, width=64),
)
confidences = st.sampled_from([0.9, 0.95, 0.975, 0.99])


@settings(max_examples=150, deadline=None)
@given(r=returns, k=st.floats(min_value=0.05, max_value=4.0))
def test_scaling_returns_leaves_sharpe_and_sortino_unchanged(r: np.ndarray, k: float) -> None:
    assume(np.std(r) > 1e-6 and r.min() < -1e-6)
    assert sharpe(k * r) == pytest.approx(sharpe(r), rel=1e-9, abs=1e-9)
    assert sortino(k * r) == pytest.approx(sortino(r), rel=1e-9, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(r=returns)
def test_max_drawdown_lies_in_minus_one_zero(r: np.ndarray) -> None:
    mdd = max_drawdown(r)
    assert -1.0 <= mdd <= 0.0
    dd = drawdown(r)
    assert (dd <= 0.0).all()
    assert mdd == pytest.approx(min(float(dd.min()), 0.0))
    assert mdd <= min(float(r[0]), 0.0) + 1e-12  # the initial capital is a peak


@settings(max_examples=100, deadline=None)
@given(r=returns, c=confidences, h=st.integers(min_value=1, max_value=5))
def test_cvar_loss_at_least_var_loss_historical(r: np.ndarray, c: float, h: int) -> None:
    v = historical_var(r, confidence=c, horizon_days=h)
    assert v.cvar >= v.var - 1e-12


@settings(max_examples=30, deadline=None)
@given(
    r=returns,
    c=confidences,
    seed=st.integers(min_value=0, max_value=2**31),
    kind=st.sampled_from(["stationary", "circular"]),
)
def test_cvar_loss_at_least_var_loss_bootstrap(r: np.ndarray, c: float, seed: int, kind: str) -> None:
    for v in bootstrap_var(r, confidence=[c], n_paths=200, method=kind, block_size=2, seed=seed):  # type: ignore[arg-type]
        assert v.cvar >= v.var - 1e-12


@settings(max_examples=100, deadline=None)
@given(
    sr=st.floats(min_value=-0.3, max_value=0.3),
    var=st.floats(min_value=1e-5, max_value=0.05),
    n_obs=st.integers(min_value=20, max_value=3000),
    n=st.integers(min_value=1, max_value=500),
    extra=st.integers(min_value=1, max_value=500),
)
def test_dsr_decreases_in_the_number_of_trials(sr: float, var: float, n_obs: int, n: int, extra: int) -> None:
    fewer = deflated_sharpe(sr, n_trials=n, var_trials_sr=var, n_obs=n_obs)
    more = deflated_sharpe(sr, n_trials=n + extra, var_trials_sr=var, n_obs=n_obs)
    assert more <= fewer
    assert 0.0 <= more <= 1.0
