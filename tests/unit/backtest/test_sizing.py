"""Position sizing on hand-computed rows."""

from __future__ import annotations

import numpy as np
import pytest

from earnest.backtest import sizing
from earnest.backtest.sizing import (
    apply_caps,
    capped_kelly,
    equal_weight,
    rank_top_k,
    rebalance_on,
    vol_target,
    weights_from_signals,
)
from earnest.core.errors import ConfigError, DataError

NAN = np.nan


def test_equal_weight() -> None:
    w = equal_weight(np.array([[1, 0, 1, 1], [0, 0, 0, 0]]), gross=0.9)
    np.testing.assert_allclose(w, [[0.3, 0, 0.3, 0.3], [0, 0, 0, 0]])


def test_vol_target_inverse_vol_then_gross_limit() -> None:
    sel = np.array([[1, 1, 0], [1, 1, 1]])
    vol = np.array([[0.01, 0.02, 0.01], [0.001, 0.002, NAN]])
    w = vol_target(sel, vol, target_vol=0.01)
    # row 0: 0.01 / (2 * 0.01) = 0.5, 0.01 / (2 * 0.02) = 0.25
    np.testing.assert_allclose(w[0], [0.5, 0.25, 0.0])
    # row 1: NaN vol drops the third; 5 and 2.5 scaled down to sum 1
    np.testing.assert_allclose(w[1], [2 / 3, 1 / 3, 0.0])


def test_capped_kelly() -> None:
    mu = np.array([[0.001, 0.004, -0.002, 0.001]])
    var = np.array([[0.0004, 0.0004, 0.0004, 0.0]])
    w = capped_kelly(mu, var, fraction=0.5, cap=0.3)
    # 0.5 * 0.001 / 0.0004 = 1.25 -> cap 0.3; 5.0 -> 0.3; negative -> 0; zero variance -> 0
    np.testing.assert_allclose(w, [[0.3, 0.3, 0.0, 0.0]])
    small = capped_kelly(np.array([[0.0001]]), np.array([[0.001]]), fraction=1.0, cap=1.0)
    assert small[0, 0] == pytest.approx(0.1)
    many = capped_kelly(np.full((1, 5), 0.01), np.full((1, 5), 0.01), cap=0.5)
    np.testing.assert_allclose(many, np.full((1, 5), 0.2))  # 5 x 0.5 scaled to gross 1


def test_rank_top_k_equal_and_rank() -> None:
    score = np.array([[3.0, NAN, 1.0, 2.0, 0.5], [NAN, NAN, NAN, 1.0, NAN]])
    eq = rank_top_k(score, k=2)
    np.testing.assert_allclose(eq, [[0.5, 0, 0, 0.5, 0], [0, 0, 0, 1.0, 0]])
    rk = rank_top_k(score, k=3, weighting="rank")
    np.testing.assert_allclose(rk[0], [3 / 6, 0, 1 / 6, 2 / 6, 0])
    assert rank_top_k(np.full((1, 3), NAN), k=2).sum() == 0
    with pytest.raises(ConfigError):
        rank_top_k(score, k=0)


def test_caps_per_stock_and_sector_leave_cash() -> None:
    w = np.array([[0.5, 0.3, 0.2], [NAN, 0.1, 0.1]])
    out = apply_caps(w, per_stock=0.4, sector_of=np.array([0, 0, -1]), per_sector=0.35)
    # stock cap: 0.4, 0.3 -> sector 0 total 0.7 scaled to 0.35; symbol 2 has no sector
    np.testing.assert_allclose(out[0], [0.2, 0.15, 0.2])
    assert np.isnan(out[1, 0])
    assert out[1, 1] == pytest.approx(0.1)
    with pytest.raises(ConfigError):
        apply_caps(w, per_sector=0.3)


def test_rebalance_on_and_signals() -> None:
    w = rebalance_on(np.ones((3, 2)) * 0.5, np.array([True, False, True]))
    assert np.isnan(w[1]).all()
    assert (w[0] == 0.5).all()
    with pytest.raises(DataError):
        rebalance_on(np.ones((3, 2)), np.array([True]))
    entries = np.array([[1, 0], [0, 1], [0, 0], [1, 0], [0, 0]])
    exits = np.array([[0, 0], [0, 0], [1, 0], [1, 0], [0, 0]])
    got = weights_from_signals(entries, exits)
    # held: {0}, {0,1}, {1}, {1} (exit wins on day 3), {1}
    np.testing.assert_allclose(got[:3], [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    assert np.isnan(got[3:]).all()


def test_public_surface() -> None:
    assert sorted(sizing.__all__) == sorted(
        ["apply_caps", "capped_kelly", "equal_weight", "rank_top_k", "rebalance_on", "vol_target",
         "weights_from_signals"]
    )  # fmt: skip
