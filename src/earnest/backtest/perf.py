"""Performance metrics of a return series, and how much of a Sharpe ratio survives the search for it.

Inputs are simple (not log) per-period returns of a strategy, *net* of costs unless said otherwise,
as a 1-d numpy array, a polars Series or a sequence, oldest first. ``periods_per_year`` (252 for
daily NSE sessions) annualises. Conventions (REFERENCES.md section 6):

- :func:`sharpe` = mean / sd (ddof=1) x sqrt(periods_per_year); no risk-free rate is subtracted
  (pass excess returns for an excess-return Sharpe).
- :func:`sortino` = mean / downside deviation x sqrt(periods_per_year), where the downside deviation
  is sqrt(mean(min(r - target, 0)^2)) over *all* observations (not only the losing ones).
- :func:`max_drawdown` counts the initial capital as a peak: a first return of -10 % gives -10 %.
  It lies in [-1, 0].
- :func:`cagr` compounds: (prod(1 + r))^(periods_per_year / n) - 1.
- :func:`calmar` = CAGR / |max drawdown| (NaN without a drawdown).
- :func:`hit_rate` = share of positive returns among the non-zero ones (flat periods, with no
  position, are neither hits nor misses).
- :func:`turnover` and :func:`exposure` average per-period arrays the backtest produces
  (traded value / capital, and gross position value / capital).

The Sharpe statistics of Bailey & Lopez de Prado (REFERENCES.md section 4) take the *per-period*
(not annualised) Sharpe ratio and the *Pearson* kurtosis (3 for a normal distribution):

- :func:`psr` — probabilistic Sharpe ratio, P[true SR > ``sr_star``] given T observations, skew
  and kurtosis (Bailey & Lopez de Prado 2012, J. Risk 15(2)).
- :func:`expected_max_sharpe` — expected maximum Sharpe ratio of N independent trials with zero
  true Sharpe and variance V across trials (the False Strategy Theorem approximation).
- :func:`deflated_sharpe` — PSR against that expected maximum: the probability that the best of
  ``n_trials`` is more than luck (Bailey & Lopez de Prado 2014, JPM 40(5)). The number of trials
  is the research question's count in the lab's trial ledger
  (:attr:`earnest.lab.ledger.LedgerView.n_trials`).
- :func:`min_trl` — minimum track record length (observations) for PSR to reach ``prob``.
- :func:`min_btl` — minimum backtest length (years) so that ``n_trials`` trials of a worthless
  strategy are not expected to show an annualised Sharpe of ``sr``.

From returns, skewness and kurtosis are ``scipy.stats.skew(bias=False)`` and
``scipy.stats.kurtosis(fisher=False, bias=False)`` (the adjusted sample moments pandas, and hence
pypbo, use). :func:`summarise` computes everything in one call as a JSON-ready
:class:`PerformanceSummary`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import special, stats

from earnest.core.errors import DataError

__all__ = [
    "MinBTL",
    "PerformanceSummary",
    "annual_volatility",
    "as_returns",
    "cagr",
    "calmar",
    "deflated_sharpe",
    "drawdown",
    "expected_max_sharpe",
    "exposure",
    "hit_rate",
    "is_constant",
    "max_drawdown",
    "min_btl",
    "min_trl",
    "moments",
    "psr",
    "sharpe",
    "sortino",
    "summarise",
    "turnover",
]

FloatArray = npt.NDArray[np.float64]
Returns = npt.ArrayLike | pl.Series | Sequence[float]
_REMEDY = "pass a non-empty 1-d series of finite simple returns, each >= -1"


def as_returns(values: Returns, *, name: str = "returns") -> FloatArray:
    """``values`` as a validated 1-d float array of simple returns (finite, >= -1, non-empty)."""
    raw = values.to_numpy() if isinstance(values, pl.Series) else values
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric: {exc}", _REMEDY, field=name) from exc
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"{name} must be a non-empty 1-d array, got shape {arr.shape}", _REMEDY, field=name)
    if not np.isfinite(arr).all():
        raise DataError(f"{name} must be finite (no NaN or inf)", _REMEDY, field=name)
    if (arr < -1.0).any():
        raise DataError(
            f"{name} must be >= -1 (a simple return cannot lose more than all)", _REMEDY, field=name
        )
    return arr


def is_constant(values: FloatArray) -> bool:
    """True when every value is the same (so no dispersion statistic is defined)."""
    return bool(values.size == 0 or np.max(values) == np.min(values))


def _positive_int(value: int, name: str) -> int:
    if int(value) != value or value < 1:
        raise DataError(f"{name} must be a positive integer, got {value}", f"pass {name} >= 1", field=name)
    return int(value)


def _finite_arr(values: Returns, name: str, n: int) -> FloatArray:
    raw = values.to_numpy() if isinstance(values, pl.Series) else values
    arr = np.asarray(raw, dtype=np.float64)
    if arr.shape != (n,) or not np.isfinite(arr).all():
        raise DataError(
            f"{name} must be a finite 1-d array of {n} values, got shape {arr.shape}",
            "pass one value per return",
            field=name,
        )
    return arr


# ----------------------------------------------------------------------------------------------
# classic metrics


def cagr(returns: Returns, *, periods_per_year: int = 252) -> float:
    """Compound annual growth rate: (prod(1 + r))^(periods_per_year / n) - 1; -1 after a total loss."""
    r = as_returns(returns)
    growth = float(np.prod(1.0 + r))
    if growth <= 0.0:
        return -1.0
    return float(growth ** (periods_per_year / r.size) - 1.0)


def annual_volatility(returns: Returns, *, periods_per_year: int = 252) -> float:
    """Sample standard deviation (ddof=1) x sqrt(periods_per_year); NaN with fewer than 2 returns."""
    r = as_returns(returns)
    if r.size < 2:
        return math.nan
    if is_constant(r):
        return 0.0
    return float(np.std(r, ddof=1) * math.sqrt(periods_per_year))


def sharpe(returns: Returns, *, periods_per_year: int = 252) -> float:
    """Annualised Sharpe ratio mean / sd(ddof=1) x sqrt(periods_per_year); NaN when sd is 0 or n < 2.

    ``periods_per_year=1`` gives the per-period ratio the Bailey & Lopez de Prado statistics take.
    """
    r = as_returns(returns)
    if r.size < 2:
        return math.nan
    if is_constant(r):  # np.std of identical values can be 1e-19, not 0
        return math.nan
    sd = float(np.std(r, ddof=1))
    return float(np.mean(r)) / sd * math.sqrt(periods_per_year)


def sortino(returns: Returns, *, periods_per_year: int = 252, target: float = 0.0) -> float:
    """Annualised Sortino ratio: mean(r - target) / sqrt(mean(min(r - target, 0)^2)) x sqrt(ppy).

    The downside deviation averages over *all* observations. NaN when there is no downside.
    """
    excess = as_returns(returns) - target
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    if downside == 0.0:
        return math.nan
    return float(np.mean(excess)) / downside * math.sqrt(periods_per_year)


def drawdown(returns: Returns) -> FloatArray:
    """Drawdown after each period: wealth / running peak - 1, the initial capital (1) being a peak."""
    wealth = np.cumprod(1.0 + as_returns(returns))
    peak = np.maximum.accumulate(np.maximum(wealth, 1.0))
    out: FloatArray = wealth / peak - 1.0
    return out


def max_drawdown(returns: Returns) -> float:
    """Deepest drawdown, in [-1, 0]; the initial capital is a peak (first return -10 % gives -0.10)."""
    return float(min(np.min(drawdown(returns)), 0.0))


def calmar(returns: Returns, *, periods_per_year: int = 252) -> float:
    """CAGR / |max drawdown|; NaN when there is no drawdown."""
    mdd = max_drawdown(returns)
    if mdd == 0.0:
        return math.nan
    return cagr(returns, periods_per_year=periods_per_year) / abs(mdd)


def hit_rate(returns: Returns) -> float:
    """Share of positive returns among the non-zero ones; NaN when every return is zero."""
    r = as_returns(returns)
    active = r[r != 0.0]
    if active.size == 0:
        return math.nan
    return float(np.mean(active > 0.0))


def turnover(values: Returns, *, periods_per_year: int = 252) -> float:
    """Annual turnover: mean per-period traded value / capital x periods_per_year (1.0 = 100 %/yr)."""
    t = _finite_arr(values, "turnover", np.asarray(values).size)
    if t.size == 0 or (t < 0).any():
        raise DataError(
            "turnover must be non-empty and >= 0", "pass traded value / capital", field="turnover"
        )
    return float(np.mean(t) * periods_per_year)


def exposure(values: Returns) -> tuple[float, float]:
    """(mean gross exposure, share of periods with a position) of per-period |positions| / capital."""
    e = np.abs(_finite_arr(values, "exposure", np.asarray(values).size))
    if e.size == 0:
        raise DataError("exposure must be non-empty", "pass gross position value / capital", field="exposure")
    return float(np.mean(e)), float(np.mean(e > 0.0))


# ----------------------------------------------------------------------------------------------
# Bailey & Lopez de Prado


def moments(returns: Returns) -> tuple[float, float, float, int]:
    """(per-period Sharpe, skewness, Pearson kurtosis, n) of a return series (adjusted sample moments)."""
    r = as_returns(returns)
    if r.size < 4:
        raise DataError(
            f"need at least 4 returns for skewness and kurtosis, got {r.size}", _REMEDY, field="returns"
        )
    if is_constant(r):
        raise DataError(
            "returns are constant: Sharpe, skewness and kurtosis are undefined", _REMEDY, field="returns"
        )
    skew = float(stats.skew(r, bias=False))
    kurt = float(stats.kurtosis(r, fisher=False, bias=False))
    return sharpe(r, periods_per_year=1), skew, kurt, int(r.size)


def _sr_variance_factor(sr: float, skew: float, kurt: float) -> float:
    factor = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if not factor > 0.0:
        raise DataError(
            f"1 - skew*SR + (kurt-1)/4*SR^2 = {factor:.6g} is not positive (SR {sr}, skew {skew}, kurt {kurt})",
            "pass the per-period SR and the Pearson kurtosis (normal = 3), not the excess kurtosis",
            field="kurt",
        )
    return factor


def psr(
    sr: float, sr_star: float = 0.0, *, n_obs: int, skew: float = 0.0, kurt: float = 3.0, ddof: int = 1
) -> float:
    """Probabilistic Sharpe ratio: Phi((SR - SR*) sqrt(T - ddof) / sqrt(1 - g3 SR + (g4 - 1)/4 SR^2)).

    ``sr`` and ``sr_star`` are per period, ``kurt`` is Pearson (3 = normal). ``ddof=1`` is the paper's
    sqrt(T - 1); ``ddof=0`` the sqrt(T) variant some implementations use.
    """
    n = _positive_int(n_obs, "n_obs")
    if n - ddof < 1:
        raise DataError(f"n_obs {n} too small for ddof {ddof}", "pass more observations", field="n_obs")
    z = (sr - sr_star) * math.sqrt(n - ddof) / math.sqrt(_sr_variance_factor(sr, skew, kurt))
    return float(stats.norm.cdf(z))


def expected_max_sharpe(n_trials: int, var: float = 1.0) -> float:
    """E[max SR] of ``n_trials`` trials with zero true SR and variance ``var`` of their SRs:
    sqrt(V) [(1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e))], gamma = Euler-Mascheroni.

    One trial has no selection: E[max] = 0. Units follow ``var`` (per-period or annualised).
    """
    n = _positive_int(n_trials, "n_trials")
    if not var >= 0.0 or not math.isfinite(var):
        raise DataError(
            f"var must be finite and >= 0, got {var}", "pass the trials' SR variance", field="var"
        )
    if n == 1:
        return 0.0
    g = float(np.euler_gamma)
    z = (1.0 - g) * special.ndtri(1.0 - 1.0 / n) + g * special.ndtri(1.0 - 1.0 / (n * math.e))
    return math.sqrt(var) * float(z)


def deflated_sharpe(
    sr_or_returns: float | Returns,
    *,
    n_trials: int,
    var_trials_sr: float,
    n_obs: int | None = None,
    skew: float | None = None,
    kurt: float | None = None,
    ddof: int = 1,
) -> float:
    """Deflated Sharpe ratio: PSR against SR0 = expected_max_sharpe(n_trials, var_trials_sr).

    Pass either a return series (SR, T, skew and kurtosis are estimated from it) or a per-period SR
    with ``n_obs`` (and ``skew``/``kurt``, normal by default). ``var_trials_sr`` is the variance of
    the trials' *per-period* Sharpe ratios (an annualised variance divided by periods_per_year).
    """
    if isinstance(sr_or_returns, int | float):
        if n_obs is None:
            raise DataError(
                "n_obs is required with a Sharpe ratio", "pass n_obs= or the returns", field="n_obs"
            )
        sr, g3, g4, n = (
            float(sr_or_returns),
            0.0 if skew is None else skew,
            3.0 if kurt is None else kurt,
            n_obs,
        )
    else:
        sr, g3, g4, n = moments(sr_or_returns)
    sr0 = expected_max_sharpe(n_trials, var_trials_sr)
    return psr(sr, sr0, n_obs=n, skew=g3, kurt=g4, ddof=ddof)


def min_trl(
    sr: float, sr_star: float = 0.0, *, skew: float = 0.0, kurt: float = 3.0, prob: float = 0.95
) -> float:
    """Minimum track record length, in observations, for PSR(sr_star) to reach ``prob``:
    1 + (1 - g3 SR + (g4 - 1)/4 SR^2) (Phi^-1(prob) / (SR - SR*))^2. Per-period SRs, Pearson kurtosis.

    Infinite when SR <= SR* (no track record is long enough). Divide by periods_per_year for years.
    """
    if not 0.0 < prob < 1.0:
        raise DataError(f"prob must lie in (0, 1), got {prob}", "pass e.g. 0.95", field="prob")
    if sr <= sr_star:
        return math.inf
    factor = _sr_variance_factor(sr, skew, kurt)
    return 1.0 + factor * (float(special.ndtri(prob)) / (sr - sr_star)) ** 2


class MinBTL(NamedTuple):
    """Minimum backtest length in years, and its upper bound 2 ln(N) / SR^2."""

    years: float
    upper_bound_years: float


def min_btl(n_trials: int, *, sr: float) -> MinBTL:
    """Years of data needed so that the best of ``n_trials`` worthless strategies is not expected to
    reach the annualised Sharpe ``sr``: (E[max_N] / SR)^2 with unit-variance trials."""
    if not sr > 0.0:
        raise DataError(f"sr must be > 0, got {sr}", "pass the annualised in-sample Sharpe", field="sr")
    n = _positive_int(n_trials, "n_trials")
    return MinBTL((expected_max_sharpe(n) / sr) ** 2, 2.0 * math.log(n) / sr**2)


# ----------------------------------------------------------------------------------------------
# summary


@dataclass(frozen=True)
class PerformanceSummary:
    """Every metric of one strategy's return series. Annualised unless named ``per_period``.

    ``psr`` is P[true SR > 0]; ``dsr`` the deflated Sharpe ratio (None without ``n_trials`` and
    ``var_trials_sr``); ``min_trl_years`` the track record needed for PSR(0) >= 95 % (None when the
    Sharpe is not positive). ``gross_*`` and ``cost_drag`` (annualised mean gross minus net return)
    need gross returns; ``turnover`` and ``exposure`` their arrays. ``to_dict`` gives JSON-ready
    values (NaN and inf become None).
    """

    n_obs: int
    periods_per_year: int
    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    calmar: float
    hit_rate: float
    sharpe_per_period: float
    skew: float | None
    kurtosis: float | None
    psr: float | None
    dsr: float | None
    n_trials: int | None
    expected_max_sharpe: float | None
    min_trl_years: float | None
    gross_cagr: float | None = None
    gross_sharpe: float | None = None
    cost_drag: float | None = None
    turnover: float | None = None
    exposure: float | None = None
    time_in_market: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Fields as a JSON-serialisable dict; non-finite floats become None."""
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()
        }


def _sharpe_stats(
    net: FloatArray, *, periods_per_year: int, n_trials: int | None, var_trials_sr: float | None
) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(
        ("skew", "kurtosis", "psr", "dsr", "expected_max_sharpe", "min_trl_years")
    )
    if net.size < 4 or is_constant(net):
        return out
    sr, g3, g4, n = moments(net)
    out.update(skew=g3, kurtosis=g4)
    try:
        out["psr"] = psr(sr, 0.0, n_obs=n, skew=g3, kurt=g4)
        trl = min_trl(sr, 0.0, skew=g3, kurt=g4)
        out["min_trl_years"] = trl / periods_per_year if math.isfinite(trl) else None
        if n_trials is not None and var_trials_sr is not None:
            sr0 = expected_max_sharpe(n_trials, var_trials_sr)
            out["expected_max_sharpe"] = sr0 * math.sqrt(periods_per_year)
            out["dsr"] = psr(sr, sr0, n_obs=n, skew=g3, kurt=g4)
    except DataError:  # moments outside the PSR formula's domain: leave the statistics undefined
        return out
    return out


def summarise(
    net: Returns,
    *,
    gross: Returns | None = None,
    turnover: Returns | None = None,
    exposure: Returns | None = None,
    periods_per_year: int = 252,
    n_trials: int | None = None,
    var_trials_sr: float | None = None,
) -> PerformanceSummary:
    """All metrics of the net return series (and gross, turnover, exposure when given).

    ``n_trials`` is the number of variants tried for this research question (the ledger's count)
    and ``var_trials_sr`` the variance of their per-period Sharpe ratios; with both, the summary
    carries the deflated Sharpe ratio and the expected maximum Sharpe (annualised).
    """
    r = as_returns(net, name="net")
    ppy = _positive_int(periods_per_year, "periods_per_year")
    extra: dict[str, Any] = {}
    if gross is not None:
        g = as_returns(gross, name="gross")
        if g.size != r.size:
            raise DataError(f"gross has {g.size} values, net {r.size}", "pass aligned series", field="gross")
        extra.update(
            gross_cagr=cagr(g, periods_per_year=ppy),
            gross_sharpe=sharpe(g, periods_per_year=ppy),
            cost_drag=float(np.mean(g) - np.mean(r)) * ppy,
        )
    if turnover is not None:
        extra["turnover"] = _turnover(_finite_arr(turnover, "turnover", r.size), periods_per_year=ppy)
    if exposure is not None:
        extra["exposure"], extra["time_in_market"] = _exposure(_finite_arr(exposure, "exposure", r.size))
    return PerformanceSummary(
        n_obs=int(r.size),
        periods_per_year=ppy,
        total_return=float(np.prod(1.0 + r) - 1.0),
        cagr=cagr(r, periods_per_year=ppy),
        volatility=annual_volatility(r, periods_per_year=ppy),
        sharpe=sharpe(r, periods_per_year=ppy),
        sortino=sortino(r, periods_per_year=ppy),
        max_drawdown=max_drawdown(r),
        calmar=calmar(r, periods_per_year=ppy),
        hit_rate=hit_rate(r),
        sharpe_per_period=sharpe(r, periods_per_year=1),
        n_trials=n_trials,
        **_sharpe_stats(r, periods_per_year=ppy, n_trials=n_trials, var_trials_sr=var_trials_sr),
        **extra,
    )


_turnover = turnover
_exposure = exposure
