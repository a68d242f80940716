"""Position sizing: signals, scores and forecasts -> target weights for the engine.

Every function takes and returns (session x symbol) float64 matrices (the axis convention of
:mod:`earnest.backtest.panel`). A weight is the share of the portfolio's equity a symbol should
hold after the next session's orders; a NaN row means "no decision that day" (positions drift).
Weights are long-only and a row never sums to more than ``max_gross`` (default 1: no leverage);
what is not invested stays in cash. Caps never redistribute: weight cut by a cap stays in cash.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from earnest.core.errors import ConfigError, DataError

__all__ = [
    "apply_caps",
    "capped_kelly",
    "equal_weight",
    "rank_top_k",
    "rebalance_on",
    "vol_target",
    "weights_from_signals",
]


def _matrix(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise DataError(f"{name} must be 2-D (sessions x symbols), got shape {arr.shape}", field=name)
    return arr


def _positive(value: float, name: str) -> None:
    if not value > 0.0:
        raise ConfigError(f"{name} = {value!r} must be positive", remedy=f"pass {name} > 0", field=name)


def _limit_gross(w: np.ndarray, max_gross: float) -> np.ndarray:
    """Rows scaled down (never up) so that their sum is at most ``max_gross``."""
    total = np.nansum(w, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(total > max_gross, max_gross / np.where(total > 0, total, 1.0), 1.0)
    return w * factor


def equal_weight(selected: np.ndarray, *, gross: float = 1.0) -> np.ndarray:
    """``gross / k`` on each of a row's ``k`` selected symbols, 0 elsewhere (all 0 when none)."""
    _positive(gross, "gross")
    mask = _matrix(selected, "selected") > 0
    k = mask.sum(axis=1, keepdims=True)
    return np.where(mask, gross / np.maximum(k, 1), 0.0)


def vol_target(
    selected: np.ndarray, vol: np.ndarray, *, target_vol: float, max_gross: float = 1.0
) -> np.ndarray:
    """Inverse-volatility weights: each of the ``k`` selected symbols gets
    ``target_vol / (k * vol)``, so each contributes ``target_vol / k`` of volatility (correlations
    ignored); rows are then scaled down to ``max_gross``. ``vol`` and ``target_vol`` share a
    horizon (e.g. daily). A symbol without a positive finite ``vol`` gets 0."""
    _positive(target_vol, "target_vol")
    _positive(max_gross, "max_gross")
    v = _matrix(vol, "vol")
    mask = (_matrix(selected, "selected") > 0) & np.isfinite(v) & (v > 0)
    k = np.maximum(mask.sum(axis=1, keepdims=True), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(mask, target_vol / (k * v), 0.0)
    return _limit_gross(w, max_gross)


def capped_kelly(
    mu: np.ndarray, var: np.ndarray, *, fraction: float = 0.5, cap: float = 0.1, max_gross: float = 1.0
) -> np.ndarray:
    """Fractional Kelly weights ``fraction * mu / var`` (expected excess return over its
    variance, same horizon), clipped to ``[0, cap]`` per symbol (long only), rows scaled down
    to ``max_gross``. Missing or non-positive variance gives 0."""
    for value, name in ((fraction, "fraction"), (cap, "cap"), (max_gross, "max_gross")):
        _positive(value, name)
    m, v = _matrix(mu, "mu"), _matrix(var, "var")
    ok = np.isfinite(m) & np.isfinite(v) & (v > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(ok, fraction * m / np.where(ok, v, 1.0), 0.0)
    return _limit_gross(np.clip(raw, 0.0, cap), max_gross)


def rank_top_k(
    score: np.ndarray, *, k: int, weighting: Literal["equal", "rank"] = "equal", gross: float = 1.0
) -> np.ndarray:
    """The ``k`` highest scores of each row (NaN scores never chosen; ties by column order)
    get weight: equal (``gross / k``), or by rank (``k`` for the best down to 1, normalised to
    ``gross``). Rows with fewer than ``k`` scores spread ``gross`` over those they have."""
    if k < 1:
        raise ConfigError(f"k = {k} must be at least 1", remedy="pass k >= 1", field="k")
    if weighting not in ("equal", "rank"):
        raise ConfigError(f"unknown weighting {weighting!r}", remedy="use equal or rank", field="weighting")
    _positive(gross, "gross")
    s = _matrix(score, "score")
    finite = np.isfinite(s)
    order = np.argsort(np.where(finite, -s, np.inf), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(s.shape[1])[None, :].repeat(s.shape[0], axis=0), axis=1)
    chosen = finite & (rank < k)
    raw = np.where(chosen, 1.0 if weighting == "equal" else (k - rank).astype(np.float64), 0.0)
    total = raw.sum(axis=1, keepdims=True)
    return np.where(total > 0, raw * gross / np.where(total > 0, total, 1.0), 0.0)


def apply_caps(
    weights: np.ndarray,
    *,
    per_stock: float | None = None,
    sector_of: np.ndarray | None = None,
    per_sector: float | None = None,
) -> np.ndarray:
    """``weights`` with each symbol clipped at ``per_stock`` and each sector's total scaled down
    to ``per_sector`` (``sector_of``: one integer per symbol, negative = no sector, uncapped).
    NaN weights stay NaN; what a cap removes stays in cash."""
    w = _matrix(weights, "weights").copy()
    if per_stock is not None:
        _positive(per_stock, "per_stock")
        w = np.minimum(w, per_stock)
    if per_sector is None:
        return w
    _positive(per_sector, "per_sector")
    if sector_of is None or len(sector_of) != w.shape[1]:
        raise ConfigError(
            "per_sector needs sector_of with one sector number per symbol",
            remedy="pass sector_of (negative for unknown)",
            field="sector_of",
        )
    groups = np.asarray(sector_of)
    for g in np.unique(groups[groups >= 0]):
        cols = groups == g
        total = np.nansum(w[:, cols], axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = np.where(total > per_sector, per_sector / np.where(total > 0, total, 1.0), 1.0)
        w[:, cols] *= factor
    return w


def rebalance_on(weights: np.ndarray, days: np.ndarray) -> np.ndarray:
    """``weights`` with every row where ``days`` (bool, one per session) is false set to NaN:
    decisions only on those sessions (e.g. month ends)."""
    w = _matrix(weights, "weights").copy()
    keep = np.asarray(days, dtype=bool)
    if keep.shape != (w.shape[0],):
        raise DataError(f"days has shape {keep.shape}, expected ({w.shape[0]},)", field="days")
    w[~keep] = np.nan
    return w


def weights_from_signals(entries: np.ndarray, exits: np.ndarray, *, gross: float = 1.0) -> np.ndarray:
    """Entry/exit signals -> equal weights over the symbols held.

    A symbol is held from a session with an entry until a later session with an exit (an exit
    on the same session as an entry wins: the symbol is not held). Each session where the held
    set changes gets a row of ``gross / held`` weights (0 for the rest); other rows are NaN, so
    positions drift between signals.
    """
    _positive(gross, "gross")
    ent, ext = _matrix(entries, "entries") > 0, _matrix(exits, "exits") > 0
    if ent.shape != ext.shape:
        raise DataError(f"entries {ent.shape} and exits {ext.shape} differ in shape", field="exits")
    held = np.zeros(ent.shape, dtype=bool)
    state = np.zeros(ent.shape[1], dtype=bool)
    for t in range(ent.shape[0]):
        state = (state | ent[t]) & ~ext[t]
        held[t] = state
    prev = np.vstack([np.zeros((1, ent.shape[1]), dtype=bool), held[:-1]])
    changed = (held != prev).any(axis=1)
    w = equal_weight(held, gross=gross)
    w[~changed] = np.nan
    return w
