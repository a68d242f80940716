"""The mean of per-event outcomes with a standard error robust to events clustered on the same dates
and to holding windows that overlap in calendar time (the lab's primary test), and the plain iid mean
for comparison. Re-exported by :mod:`earnest.lab.stats`.

Events are dated by ``event_day``, the session ordinal of the entry session; an outcome over
``horizon`` sessions covers sessions event_day .. event_day + horizon - 1, so two outcomes share
max(0, horizon - |d_i - d_j|) sessions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy import stats as sps

from earnest.core.errors import ConfigError, DataError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Kernel = Literal["uniform", "bartlett"]
_Weighting = Literal["uniform", "bartlett", "overlap", "overlap2"]


@dataclass(frozen=True, slots=True)
class MeanEstimate:
    """The mean of per-event outcomes with its standard error, a two-sided (1 - alpha) t interval and
    the t-test of mean = 0 (two-sided p). ``n`` counts events, ``n_clusters`` distinct event dates,
    ``df`` the degrees of freedom of the t reference, ``method`` names the standard error (``iid``,
    ``overlap-uniform``, ``overlap-bartlett``)."""

    mean: float
    se: float
    ci_low: float
    ci_high: float
    t: float
    df: float
    p_value: float
    n: int
    n_clusters: int
    method: str


def p_t(t: float, df: float) -> float:
    """Two-sided p-value of ``t`` under Student's t with ``df`` degrees of freedom (NaN if undefined)."""
    return float(2.0 * sps.t.sf(abs(t), df)) if math.isfinite(t) and df > 0 else math.nan


def div(a: float, b: float) -> float:
    """a / b, or NaN when b is not a positive finite number."""
    return a / b if b > 0 and math.isfinite(b) else math.nan


def as_days(event_day: Any, n: int) -> IntArray:
    """``event_day`` checked to be ``n`` integer session ordinals."""
    day = np.asarray(event_day)
    if day.shape != (n,) or not np.issubdtype(day.dtype, np.integer):
        raise DataError(
            f"event_day must be {n} integer session ordinals, got shape {day.shape} dtype {day.dtype}",
            remedy="pass the position of each event's entry session in the trading calendar",
            field="event_day",
        )
    return day.astype(np.int64)


def check_horizon(horizon: int) -> None:
    """Raise ConfigError unless ``horizon`` is a whole number of sessions >= 1."""
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ConfigError(
            f"horizon must be a whole number of sessions >= 1, got {horizon!r}", field="horizon"
        )


def check_alpha(alpha: float) -> None:
    """Raise ConfigError unless 0 < alpha < 1."""
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}", field="alpha")


def _t_interval(mean: float, se: float, df: float, alpha: float) -> tuple[float, float, float, float]:
    """(t, p, ci_low, ci_high) of a mean with standard error ``se`` and ``df`` degrees of freedom."""
    t = div(mean, se)
    if not (math.isfinite(se) and df > 0):
        return t, math.nan, math.nan, math.nan
    q = float(sps.t.ppf(1.0 - alpha / 2.0, df))
    return t, p_t(t, df), mean - q * se, mean + q * se


def iid_mean(x: Any, *, alpha: float = 0.05) -> MeanEstimate:
    """The plain mean with the iid standard error sd/sqrt(n) and df = n - 1; NaNs are dropped.

    Wrong when outcomes share dates or overlap in time (shown for comparison only)."""
    check_alpha(alpha)
    v = np.asarray(x, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    n = int(v.size)
    mean = float(v.mean()) if n else math.nan
    se = float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    t, p, lo, hi = _t_interval(mean, se, n - 1, alpha)
    return MeanEstimate(mean, se, lo, hi, t, float(n - 1), p, n, n, "iid")


def _weights(horizon: int, kernel: _Weighting) -> FloatArray:
    """Kernel weights for session lags 0 .. horizon - 1: uniform 1; Bartlett and overlap 1 - lag/h;
    overlap2 its square."""
    lag = np.arange(horizon, dtype=np.float64)
    if kernel == "uniform":
        return np.ones(horizon)
    share = 1.0 - lag / horizon
    return share**2 if kernel == "overlap2" else share


def kernel_sum(days: IntArray, u: FloatArray, horizon: int, kernel: _Weighting) -> float:
    """sum_{d,d'} w(|d - d'|) u_d u_d' over values ``u`` dated by sorted distinct session ``days``;
    dates with no value are zeros of a dense session grid, so gaps count as session lags."""
    grid = np.zeros(int(days[-1] - days[0]) + 1)
    grid[days - days[0]] = u
    w = _weights(horizon, kernel)
    total = float(grid @ grid) * float(w[0])
    for lag in range(1, min(horizon, grid.size)):
        total += 2.0 * float(w[lag]) * float(grid[:-lag] @ grid[lag:])
    return total


def _band(span: int, horizon: int, kernel: _Weighting) -> sparse.csr_matrix:
    """The span x span symmetric banded matrix of kernel weights over session lags."""
    w = _weights(horizon, kernel)
    lags = range(-min(horizon, span) + 1, min(horizon, span))
    return sparse.diags([w[abs(k)] for k in lags], list(lags), shape=(span, span), format="csr")


def _working_model(
    idx: IntArray, counts: FloatArray, u: FloatArray, ee: float, horizon: int, kernel: Kernel
) -> tuple[float, float, float]:
    """Bias factor, Satterthwaite df and rho of the variance estimator V = u'Wu under the working model
    Cov(x_i, x_j) = sigma^2 [(1 - rho) 1{i=j} + rho * share_ij], share_ij = max(0, 1 - |d_i - d_j|/h)
    (a daily cross-correlation rho spread over the sessions two outcomes share).

    With P = Z'M Sigma M Z (Z: events -> dates, M: demeaning), E[V] = sigma^2 tr(WP) and, for Gaussian
    outcomes, Var[V] = 2 sigma^4 tr(WPWP), while the variance of the sum is sigma^2 q, q = 1'Sigma 1. So
    q / tr(WP) removes the bias and df = tr(WP)^2 / tr(WPWP) (Satterthwaite; Bell & McCaffrey 2002).
    rho is the moment estimate sum_{i!=j} share_ij e_i e_j / (s^2 sum_{i!=j} share_ij^2) with
    s^2 = sum e^2 / (n - 1), clipped to [0, 0.99]. Matrices live on the dense session grid (``idx`` =
    date positions) and are banded; the rank-two demeaning part is kept apart: O(span * horizon).
    """
    n = float(counts.sum())
    span = int(idx[-1]) + 1
    c = np.zeros(span)
    c[idx] = counts
    ug = np.zeros(span)
    ug[idx] = u
    share = _band(span, horizon, "overlap")
    cs = share @ c
    pairs2 = float(c @ (_band(span, horizon, "overlap2") @ c)) - n
    s2 = ee / (n - 1.0)
    cross = float(ug @ (share @ ug)) - ee
    rho = float(np.clip(cross / (s2 * pairs2), 0.0, 0.99)) if pairs2 > 0 and s2 > 0 else 0.0
    dc = sparse.diags(c, format="csr")
    pb = (1.0 - rho) * dc + rho * (dc @ share @ dc)
    s = (1.0 - rho) * c + rho * c * cs
    q = (1.0 - rho) * n + rho * float(c @ cs)
    left = np.column_stack([s, c])
    right = np.column_stack([-c / n, (q * c / n - s) / n])
    w = _band(span, horizon, kernel)
    wl = w @ left
    wpb = (w @ pb).tocsr()
    small = right.T @ wl
    tr1 = float(w.multiply(pb).sum()) + float(np.trace(small))
    tr2 = (
        float(wpb.multiply(wpb.T).sum())
        + 2.0 * float(np.trace(right.T @ (wpb @ wl)))
        + float(np.trace(small @ small))
    )
    if not (tr1 > 0 and tr2 > 0):
        return math.nan, math.nan, rho
    return q / tr1, tr1 * tr1 / tr2, rho


def clustered_mean(
    x: Any, *, event_day: Any, horizon: int, alpha: float = 0.05, kernel: Kernel = "uniform"
) -> MeanEstimate:
    """The mean of per-event outcomes (e.g. CARs over ``horizon`` sessions) with a standard error robust
    to events clustered on the same dates and to holding windows that overlap in calendar time.

    The estimate is the plain event mean: a calendar-time portfolio with each date weighted by its
    event count. Its variance is (1/N^2) V with V = sum_{d,d'} w(|d - d'|) u_d u_d', where u_d sums the
    demeaned outcomes of the events entered on session d and w is a kernel over session gaps (dates
    without events contribute nothing; gaps count in sessions). Outcomes whose windows do not overlap
    (|d - d'| >= horizon) are uncorrelated when daily abnormal returns are serially uncorrelated, so the
    default uniform kernel (w = 1 up to lag horizon - 1; Hansen & Hodrick 1980) counts every overlapping
    pair in full. The Bartlett kernel (Newey-West, lag horizon - 1) is offered for comparison: it
    down-weights overlaps whose covariances are already triangular, so its raw V is too small (by about a
    third at horizon 20 in dense samples); the bias factor below repairs most of that.

    Small-sample care, which keeps the test near its nominal size with few independent dates: V is
    multiplied by the bias factor q / tr(WP) of a working model (a daily cross-correlation rho, estimated
    from the data, spread over shared sessions; see ``_working_model``), and the t reference has the
    Satterthwaite df = tr(WP)^2 / tr(WPWP). With every event on its own date and horizon 1 this is the
    iid t-test exactly (factor N/(N - 1), df N - 1). A non-positive V (possible with the uniform kernel)
    falls back to the same-date cluster sum sum_d u_d^2. One date alone gives no standard error (NaN).
    """
    check_horizon(horizon)
    check_alpha(alpha)
    v = np.asarray(x, dtype=np.float64).ravel()
    day = as_days(event_day, v.size)
    keep = np.isfinite(v)
    v, day = v[keep], day[keep]
    n = int(v.size)
    method = f"overlap-{kernel}"
    nan = math.nan
    if n == 0:
        return MeanEstimate(nan, nan, nan, nan, nan, nan, nan, 0, 0, method)
    mean = float(v.mean())
    e = v - mean
    days, inv, counts = np.unique(day, return_inverse=True, return_counts=True)
    u: FloatArray = np.bincount(inv, weights=e).astype(np.float64)
    if days.size < 2:
        return MeanEstimate(mean, nan, nan, nan, nan, nan, nan, n, 1, method)
    raw = kernel_sum(days, u, horizon, kernel)
    raw = raw if raw > 0 else float(u @ u)
    factor, df, _ = _working_model(
        days - days[0], counts.astype(np.float64), u, float(e @ e), horizon, kernel
    )
    se = math.sqrt(raw * factor) / n if math.isfinite(factor) else nan
    t, p, lo, hi = _t_interval(mean, se, df, alpha)
    return MeanEstimate(mean, se, lo, hi, t, df, p, n, int(days.size), method)


__all__ = ["MeanEstimate", "clustered_mean", "iid_mean"]
