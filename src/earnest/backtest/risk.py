"""Risk of a return series: VaR and CVaR by named methods, VaR coverage tests, stress windows.

Sign convention: VaR and CVaR are *losses* as positive fractions of capital (a 95 % VaR of 0.02
means a 2 % loss is exceeded on 5 % of days); CVaR (expected shortfall) >= VaR always. A negative
VaR means the quantile is a gain. Every figure carries its ``method``:

- ``historical`` — the empirical quantile ``np.quantile(r, 1 - confidence)`` (linear interpolation,
  as empyrical's ``value_at_risk``) and CVaR = minus the mean of the returns at or below it. Over an
  ``h``-day horizon it uses the overlapping compounded ``h``-day returns. (quantstats reports a
  parametric-normal VaR instead; earnest does not.)
- ``stationary_bootstrap`` / ``circular_block_bootstrap`` — Monte Carlo: ``n_paths`` simulated
  ``h``-day compounded returns built from resamples of the series by :mod:`arch.bootstrap`
  (``StationaryBootstrap``, Politis & Romano 1994, geometric blocks of mean ``block_size``; or
  ``CircularBlockBootstrap``, fixed blocks), seeded, so a seed gives the same figures. Each resample
  is cut into consecutive non-overlapping ``h``-day paths. The default block size is Politis & White's
  (2004, corrected 2009) automatic choice, ``arch.bootstrap.optimal_block_length``.

Coverage tests of a VaR model on a 0/1 series of exceedances (loss beyond that day's VaR):

- :func:`kupiec_pof` — Kupiec (1995) proportion of failures: LR_uc ~ chi2(1), is the exceedance
  rate 1 - confidence?
- :func:`christoffersen` — Christoffersen (1998): independence LR_ind ~ chi2(1) from the first-order
  Markov transition counts (do exceedances cluster?) and conditional coverage
  LR_cc = LR_uc + LR_ind ~ chi2(2).
- :func:`rolling_var_backtest` — historical VaR fitted on the trailing ``window`` returns only, the
  next return compared with it, the exceedances fed to both tests.

:func:`stress_test` reports return, max drawdown and worst day inside named crisis windows
(:data:`STRESS_WINDOWS`), only when the series covers the window. :func:`risk_report` runs it all.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from arch.bootstrap import CircularBlockBootstrap, StationaryBootstrap, optimal_block_length
from scipy import special, stats

from earnest.backtest.perf import FloatArray, Returns, as_returns, is_constant, max_drawdown
from earnest.core.errors import DataError

__all__ = [
    "STRESS_WINDOWS",
    "CoverageTest",
    "RiskReport",
    "StressResult",
    "StressWindow",
    "VaRBacktest",
    "VaRResult",
    "bootstrap_var",
    "christoffersen",
    "historical_var",
    "kupiec_pof",
    "risk_report",
    "rolling_var_backtest",
    "stress_test",
]

Bootstrap = Literal["stationary", "circular"]
_METHOD = {"stationary": "stationary_bootstrap", "circular": "circular_block_bootstrap"}


def _json(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


@dataclass(frozen=True)
class VaRResult:
    """VaR and CVaR (losses, positive) at ``confidence`` over ``horizon_days``, with how they were got.

    ``n_paths``, ``block_size`` and ``seed`` are None for the historical method.
    """

    method: str
    confidence: float
    horizon_days: int
    var: float
    cvar: float
    n_obs: int
    n_paths: int | None = None
    block_size: float | None = None
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return _json(asdict(self))


def _check_confidence(confidence: float) -> float:
    if not 0.5 <= confidence < 1.0:
        raise DataError(
            f"confidence must lie in [0.5, 1), got {confidence}", "pass 0.95 or 0.99", field="confidence"
        )
    return float(confidence)


def _check_horizon(horizon_days: int, n: int) -> int:
    if int(horizon_days) != horizon_days or not 1 <= horizon_days <= n:
        raise DataError(
            f"horizon_days must be an integer in [1, {n}], got {horizon_days}",
            "pass a horizon no longer than the series",
            field="horizon_days",
        )
    return int(horizon_days)


def _var_cvar(samples: FloatArray, confidence: float) -> tuple[float, float]:
    q = float(np.quantile(samples, 1.0 - confidence))
    return -q, -float(np.mean(samples[samples <= q]))


def _horizon_returns(r: FloatArray, horizon: int) -> FloatArray:
    if horizon == 1:
        return r
    windows = np.lib.stride_tricks.sliding_window_view(1.0 + r, horizon)
    out: FloatArray = np.prod(windows, axis=1) - 1.0
    return out


def historical_var(returns: Returns, *, confidence: float = 0.95, horizon_days: int = 1) -> VaRResult:
    """Historical VaR/CVaR: empirical quantile of the (overlapping, compounded) ``horizon_days`` returns."""
    r = as_returns(returns)
    c, h = _check_confidence(confidence), _check_horizon(horizon_days, r.size)
    var, cvar = _var_cvar(_horizon_returns(r, h), c)
    return VaRResult("historical", c, h, var, cvar, int(r.size))


def _block_size(r: FloatArray, kind: Bootstrap, block_size: float | None) -> float:
    if block_size is None:
        if r.size < 10 or is_constant(r):  # no dependence to measure: single-day blocks
            return 1.0
        auto = float(optimal_block_length(r)[kind].iloc[0])
        block_size = max(1.0, auto if math.isfinite(auto) else 1.0)
    if not block_size >= 1.0:
        raise DataError(
            f"block_size must be >= 1, got {block_size}", "pass a block size in days", field="block_size"
        )
    return float(block_size) if kind == "stationary" else float(math.ceil(block_size))


def _bootstrap_paths(
    r: FloatArray, *, horizon: int, n_paths: int, kind: Bootstrap, block: float, seed: int
) -> FloatArray:
    per = r.size // horizon
    reps = math.ceil(n_paths / per)
    if kind == "stationary":
        bs: StationaryBootstrap | CircularBlockBootstrap = StationaryBootstrap(block, r, seed=seed)  # type: ignore[arg-type]
    else:
        bs = CircularBlockBootstrap(int(block), r, seed=seed)
    out = np.empty(reps * per, dtype=np.float64)
    for i, (pos, _) in enumerate(bs.bootstrap(reps)):
        sample = np.asarray(pos[0], dtype=np.float64)[: per * horizon].reshape(per, horizon)
        out[i * per : (i + 1) * per] = np.prod(1.0 + sample, axis=1) - 1.0
    return out[:n_paths]


def bootstrap_var(
    returns: Returns,
    *,
    confidence: float | Sequence[float] = 0.95,
    horizon_days: int = 1,
    n_paths: int = 10_000,
    method: Bootstrap = "stationary",
    block_size: float | None = None,
    seed: int = 0,
) -> list[VaRResult]:
    """Monte Carlo VaR/CVaR from ``n_paths`` bootstrapped ``horizon_days`` paths, one result per
    confidence level (the same paths serve every level). ``block_size=None``: Politis-White."""
    r = as_returns(returns)
    h = _check_horizon(horizon_days, r.size)
    levels = [
        _check_confidence(c) for c in ([confidence] if isinstance(confidence, float | int) else confidence)
    ]
    if method not in _METHOD:
        raise DataError(f"unknown bootstrap {method!r}", "pass 'stationary' or 'circular'", field="method")
    if int(n_paths) != n_paths or n_paths < 100:
        raise DataError(
            f"n_paths must be an integer >= 100, got {n_paths}", "pass e.g. 10_000", field="n_paths"
        )
    block = _block_size(r, method, block_size)
    paths = _bootstrap_paths(r, horizon=h, n_paths=int(n_paths), kind=method, block=block, seed=seed)
    results = []
    for c in levels:
        var, cvar = _var_cvar(paths, c)
        results.append(VaRResult(_METHOD[method], c, h, var, cvar, int(r.size), int(n_paths), block, seed))
    return results


# ----------------------------------------------------------------------------------------------
# coverage tests


@dataclass(frozen=True)
class CoverageTest:
    """A likelihood-ratio test of VaR exceedances: statistic ~ chi2(df) under a correct model."""

    name: str
    statistic: float
    df: int
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return _json(asdict(self))


def _exceedances(values: npt.ArrayLike | pl.Series) -> npt.NDArray[np.int64]:
    raw = values.to_numpy() if isinstance(values, pl.Series) else values
    arr = np.asarray(raw)
    if arr.ndim != 1 or arr.size < 2 or not np.isin(arr, (0, 1)).all():
        raise DataError(
            "exceedances must be a 1-d series of at least 2 values, each 0/1 or bool",
            "pass returns < -VaR, one per day",
            field="exceedances",
        )
    return arr.astype(np.int64)


def _test(name: str, lr: float, df: int) -> CoverageTest:
    lr = max(0.0, lr)  # rounding can give -1e-15 (or -0.0)
    return CoverageTest(name, lr, df, float(stats.chi2.sf(lr, df)))


def _bernoulli_loglik(failures: float, successes: float, p: float) -> float:
    return float(special.xlogy(successes, p) + special.xlog1py(failures, -p))


def kupiec_pof(exceedances: npt.ArrayLike | pl.Series, *, confidence: float) -> CoverageTest:
    """Kupiec POF: LR = -2 ln[(1-p)^(n-x) p^x] + 2 ln[(1-x/n)^(n-x) (x/n)^x], p = 1 - confidence."""
    e = _exceedances(exceedances)
    p = 1.0 - _check_confidence(confidence)
    n, x = int(e.size), int(e.sum())
    lr = -2.0 * (_bernoulli_loglik(n - x, x, p) - _bernoulli_loglik(n - x, x, x / n))
    return _test("kupiec_pof", lr, 1)


def _transitions(e: npt.NDArray[np.int64]) -> tuple[int, int, int, int]:
    prev, cur = e[:-1], e[1:]
    n01 = int(np.sum((prev == 0) & (cur == 1)))
    n00 = int(np.sum((prev == 0) & (cur == 0)))
    n11 = int(np.sum((prev == 1) & (cur == 1)))
    n10 = int(np.sum((prev == 1) & (cur == 0)))
    return n00, n01, n10, n11


def christoffersen(
    exceedances: npt.ArrayLike | pl.Series, *, confidence: float
) -> tuple[CoverageTest, CoverageTest]:
    """(independence, conditional coverage) tests of Christoffersen (1998).

    From the transitions n_ij (state i yesterday, j today): pi01 = n01/(n00+n01),
    pi11 = n11/(n10+n11), pi = (n01+n11)/(n-1); LR_ind = -2 ln L(pi) + 2 ln L(pi01, pi11) ~ chi2(1);
    LR_cc = LR_uc (Kupiec, whole series) + LR_ind ~ chi2(2).
    """
    e = _exceedances(exceedances)
    n00, n01, n10, n11 = _transitions(e)
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    restricted = _bernoulli_loglik(n00 + n10, n01 + n11, pi)
    free = _bernoulli_loglik(n00, n01, pi01) + _bernoulli_loglik(n10, n11, pi11)
    ind = _test("christoffersen_independence", -2.0 * (restricted - free), 1)
    uc = kupiec_pof(e, confidence=confidence)
    return ind, _test("christoffersen_conditional_coverage", uc.statistic + ind.statistic, 2)


@dataclass(frozen=True)
class VaRBacktest:
    """Out-of-sample check of a rolling historical VaR: day t's VaR uses returns t-window..t-1 only.

    ``var`` and ``exceedances`` are aligned with the returns from index ``window`` on.
    """

    confidence: float
    window: int
    n_days: int
    n_exceedances: int
    expected_exceedances: float
    var: FloatArray
    exceedances: npt.NDArray[np.bool_]
    kupiec: CoverageTest
    independence: CoverageTest
    conditional_coverage: CoverageTest

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the daily arrays)."""
        return {
            "method": "historical",
            "confidence": self.confidence,
            "window": self.window,
            "n_days": self.n_days,
            "n_exceedances": self.n_exceedances,
            "expected_exceedances": self.expected_exceedances,
            "kupiec": self.kupiec.to_dict(),
            "independence": self.independence.to_dict(),
            "conditional_coverage": self.conditional_coverage.to_dict(),
        }


def rolling_var_backtest(returns: Returns, *, window: int = 250, confidence: float = 0.99) -> VaRBacktest:
    """Fit historical VaR on each trailing ``window`` of returns, count next-day losses beyond it."""
    r = as_returns(returns)
    c = _check_confidence(confidence)
    if int(window) != window or window < 20 or r.size < window + 2:
        raise DataError(
            f"need window >= 20 and at least window + 2 returns, got window {window} and {r.size} returns",
            "pass a longer series or a shorter window",
            field="window",
        )
    past = np.lib.stride_tricks.sliding_window_view(r[:-1], window)  # row k: r[k .. k+window-1]
    var = -np.quantile(past, 1.0 - c, axis=1)
    exceed = r[window:] < -var
    ind, cc = christoffersen(exceed, confidence=c)
    return VaRBacktest(
        confidence=c,
        window=int(window),
        n_days=int(exceed.size),
        n_exceedances=int(exceed.sum()),
        expected_exceedances=float(exceed.size * (1.0 - c)),
        var=var,
        exceedances=exceed,
        kupiec=kupiec_pof(exceed, confidence=c),
        independence=ind,
        conditional_coverage=cc,
    )


# ----------------------------------------------------------------------------------------------
# stress windows


@dataclass(frozen=True)
class StressWindow:
    """A named crisis window, both ends inclusive, with where its dates come from."""

    name: str
    start: dt.date
    end: dt.date
    definition: str


STRESS_WINDOWS: tuple[StressWindow, ...] = (
    StressWindow(
        "GFC 2008",
        dt.date(2008, 1, 1),
        dt.date(2009, 3, 31),
        "global financial crisis: calendar 2008 (Nifty 50's January 2008 peak, Lehman's failure on "
        "15 Sep 2008) to the end of March 2009, after the global equity low of 9 March 2009",
    ),
    StressWindow(
        "Demonetisation 2016",
        dt.date(2016, 11, 9),
        dt.date(2016, 12, 30),
        "withdrawal of the Rs 500 and Rs 1000 notes, announced 8 Nov 2016 at 20:00 IST after the "
        "close (first session affected: 9 Nov) until 30 Dec 2016, the last day to deposit old notes",
    ),
    StressWindow(
        "COVID crash 2020",
        dt.date(2020, 2, 19),
        dt.date(2020, 3, 23),
        "S&P 500 peak of 19 Feb 2020 to the global low of 23 Mar 2020 (also the Nifty 50's lowest "
        "close of the crash); the US-dated definition, so the window is the same for every market",
    ),
)


@dataclass(frozen=True)
class StressResult:
    """A stress window's figures; the figures are None when the series does not cover the window."""

    name: str
    start: dt.date
    end: dt.date
    covered: bool
    n_obs: int = 0
    total_return: float | None = None
    max_drawdown: float | None = None
    worst_day: dt.date | None = None
    worst_day_return: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (dates as ISO strings)."""
        d = asdict(self)
        for k in ("start", "end", "worst_day"):
            d[k] = None if d[k] is None else d[k].isoformat()
        return _json(d)


def _dates(dates: Sequence[dt.date] | pl.Series | npt.NDArray[Any], n: int) -> npt.NDArray[np.datetime64]:
    raw = dates.to_numpy() if isinstance(dates, pl.Series) else dates
    try:
        arr = np.asarray(raw, dtype="datetime64[D]")
    except (TypeError, ValueError) as exc:
        raise DataError(f"dates are not dates: {exc}", "pass datetime.date values", field="dates") from exc
    if arr.shape != (n,) or np.isnat(arr).any() or (np.diff(arr) <= np.timedelta64(0, "D")).any():
        raise DataError(
            f"dates must be {n} strictly increasing dates, one per return",
            "pass the session date of each return, oldest first",
            field="dates",
        )
    return arr


def stress_test(
    returns: Returns,
    dates: Sequence[dt.date] | pl.Series | npt.NDArray[Any],
    *,
    windows: Sequence[StressWindow] = STRESS_WINDOWS,
) -> list[StressResult]:
    """Return, max drawdown (capital at the window's start is the first peak) and worst day in
    each window. A window is covered when the first date is on or before its start and the last on
    or after its end; otherwise it is listed with ``covered=False`` and no figures."""
    r = as_returns(returns)
    d = _dates(dates, r.size)
    out = []
    for w in windows:
        start, end = np.datetime64(w.start, "D"), np.datetime64(w.end, "D")
        inside = (d >= start) & (d <= end)
        if not (d[0] <= start and d[-1] >= end and inside.any()):
            out.append(StressResult(w.name, w.start, w.end, covered=False))
            continue
        rw, dw = r[inside], d[inside]
        worst = int(np.argmin(rw))
        out.append(
            StressResult(
                w.name,
                w.start,
                w.end,
                covered=True,
                n_obs=int(rw.size),
                total_return=float(np.prod(1.0 + rw) - 1.0),
                max_drawdown=max_drawdown(rw),
                worst_day=dw[worst].astype(dt.date),
                worst_day_return=float(rw[worst]),
            )
        )
    return out


# ----------------------------------------------------------------------------------------------
# one call


@dataclass(frozen=True)
class RiskReport:
    """VaR/CVaR by every method, the rolling-VaR coverage tests per level (when the series is long
    enough) and the stress windows (when dates were given)."""

    var: list[VaRResult]
    backtests: list[VaRBacktest]
    stress: list[StressResult]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready nested dict."""
        return {
            "var": [v.to_dict() for v in self.var],
            "backtests": [b.to_dict() for b in self.backtests],
            "stress": [s.to_dict() for s in self.stress],
        }


def risk_report(
    returns: Returns,
    *,
    dates: Sequence[dt.date] | pl.Series | npt.NDArray[Any] | None = None,
    confidences: Sequence[float] = (0.95, 0.99),
    horizon_days: int = 1,
    n_paths: int = 10_000,
    seed: int = 0,
    backtest_window: int = 250,
) -> RiskReport:
    """Historical, stationary- and circular-block-bootstrap VaR/CVaR at each confidence, rolling
    historical-VaR coverage tests (skipped when the series is shorter than ``backtest_window`` + 2)
    and the stress windows (skipped without ``dates``)."""
    r = as_returns(returns)
    var = [historical_var(r, confidence=c, horizon_days=horizon_days) for c in confidences]
    for kind in ("stationary", "circular"):
        var += bootstrap_var(
            r, confidence=confidences, horizon_days=horizon_days, n_paths=n_paths, method=kind, seed=seed
        )
    backtests = (
        [rolling_var_backtest(r, window=backtest_window, confidence=c) for c in confidences]
        if r.size >= backtest_window + 2
        else []
    )
    stress = stress_test(r, dates) if dates is not None else []
    return RiskReport(var, backtests, stress)
