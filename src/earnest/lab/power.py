"""Statistical power, minimum detectable effects and the number of events needed.

Two families:

- SE-based (what the lab uses): given the standard error ``se`` of a mean estimated from ``n`` events,
  the power to detect a true ``effect``, the minimum detectable effect (MDE) and the number of events
  needed, assuming se scales as 1/sqrt(events). A normal reference when ``df`` is None, otherwise a
  noncentral t with ``df`` degrees of freedom (scaled in proportion to the number of events, df * m / n,
  when extrapolating to m events).
- Textbook helpers for a win rate and a standardized mean (Cohen's d), which reproduce the published
  figures in REFERENCES.md section 7 (exact binomial power, normal and arcsine sample sizes, one- and
  two-sample designs). They use scipy and statsmodels' power classes.

``two_sided`` tests reject in both tails at alpha/2 each, and power counts both rejection regions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import optimize
from scipy import stats as sps
from statsmodels.stats.power import NormalIndPower, TTestPower
from statsmodels.stats.proportion import proportion_effectsize

from earnest.core.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
Alternative = Literal["two-sided", "greater", "less"]
_SM_ALT = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}


def _check(alpha: float, power: float | None = None) -> None:
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}", field="alpha")
    if power is not None and not alpha < power < 1.0:
        raise ConfigError(f"power must be in (alpha, 1), got {power!r}", field="power")


def _check_se(se: float) -> None:
    if not (math.isfinite(se) and se > 0):
        raise ConfigError(f"se must be a positive number, got {se!r}", field="se")


def _power_array(ncp: FloatArray, df: FloatArray | None, alpha: float, two_sided: bool) -> FloatArray:
    """Power of a z (df None) or t test for noncentrality ``ncp`` = effect / se, elementwise."""
    a = alpha / 2.0 if two_sided else alpha
    if df is None:
        crit = float(sps.norm.isf(a))
        upper = sps.norm.sf(crit - ncp)
        lower = sps.norm.cdf(-crit - ncp) if two_sided else 0.0
    else:
        crit_t = sps.t.isf(a, df)
        # scipy's noncentral t returns NaN for some vanishing far-tail probabilities: read them as 0
        upper = sps.nct.sf(crit_t, df, ncp)
        upper = np.where(np.isnan(upper) & (ncp > crit_t), 1.0, upper)
        lower = sps.nct.cdf(-crit_t, df, ncp) if two_sided else 0.0
        lower = np.where(np.isnan(lower) & (ncp > 0), 0.0, lower)
    out: FloatArray = np.asarray(upper + lower, dtype=np.float64)
    return out


def power_from_se(
    effect: float, se: float, *, df: float | None = None, alpha: float = 0.05, two_sided: bool = True
) -> float:
    """Probability that a level-``alpha`` test of mean = 0 rejects when the true mean is ``effect`` and
    the estimate has standard error ``se``: a normal test when ``df`` is None, else a t test with a
    noncentral t (noncentrality effect/se). One-sided tests look in the direction of a positive effect."""
    _check(alpha)
    _check_se(se)
    ncp = np.asarray([abs(effect) / se if two_sided else effect / se], dtype=np.float64)
    dfa = None if df is None else np.asarray([df], dtype=np.float64)
    return float(_power_array(ncp, dfa, alpha, two_sided)[0])


def mde_from_se(
    se: float, *, df: float | None = None, alpha: float = 0.05, power: float = 0.8, two_sided: bool = True
) -> float:
    """The smallest true effect (> 0) detected with probability ``power``: (z_{1-a} + z_power) * se for a
    normal reference (a = alpha/2 two-sided; the far tail is included, so it is a hair smaller), solved
    with the noncentral t when ``df`` is given."""
    _check(alpha, power)
    _check_se(se)
    a = alpha / 2.0 if two_sided else alpha
    guess = (float(sps.norm.isf(a)) + float(sps.norm.ppf(power))) * se

    def gap(effect: float) -> float:
        return power_from_se(effect, se, df=df, alpha=alpha, two_sided=two_sided) - power

    hi = guess
    while gap(hi) < 0:
        hi *= 2.0
    return float(optimize.brentq(gap, 1e-12 * se, hi, xtol=1e-12 * se, rtol=1e-12))


def _powers_at(
    effect: float, se: float, n: int, ms: FloatArray, df: float | None, alpha: float, two_sided: bool
) -> FloatArray:
    ncp = abs(effect) / (se * np.sqrt(n / ms)) if two_sided else effect / (se * np.sqrt(n / ms))
    dfs = None if df is None else df * ms / n
    return _power_array(np.asarray(ncp, dtype=np.float64), dfs, alpha, two_sided)


def events_needed(
    effect: float,
    se: float,
    n: int,
    *,
    df: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    two_sided: bool = True,
) -> float:
    """The smallest whole number of events m whose power to detect ``effect`` reaches ``power``, when
    ``se`` was measured with ``n`` events and se scales as sqrt(n/m) (df, if given, as df * m / n).
    Returned as a float; ``math.inf`` when ``effect`` is 0 (or has the wrong sign one-sided)."""
    _check(alpha, power)
    _check_se(se)
    if n < 1:
        raise ConfigError(f"n must be >= 1 event, got {n!r}", field="n")
    if effect == 0 or (not two_sided and effect < 0):
        return math.inf
    a = alpha / 2.0 if two_sided else alpha
    z_sum = float(sps.norm.isf(a)) + float(sps.norm.ppf(power))
    start = max(2, math.floor(0.9 * n * (se * z_sum / effect) ** 2))
    while True:
        ms = np.arange(start, 2 * start + 64, dtype=np.float64)
        hit = np.nonzero(_powers_at(effect, se, n, ms, df, alpha, two_sided) >= power)[0]
        if hit.size:
            return float(ms[hit[0]])
        start = 2 * start + 64


def power_curve(
    se: float,
    n: int,
    *,
    effects: Sequence[float],
    ns: Sequence[int] | None = None,
    df: float | None = None,
    alpha: float = 0.05,
    two_sided: bool = True,
) -> pl.DataFrame:
    """Power over a grid of true effects and event counts (default: the ``n`` measured), with se scaled
    as sqrt(n/m) and df (if given) as df * m / n. Columns: events, effect, se, power; one row per
    (events, effect) pair, events outermost."""
    _check(alpha)
    _check_se(se)
    counts = np.asarray(list(ns) if ns is not None else [n], dtype=np.float64)
    eff = np.asarray(list(effects), dtype=np.float64)
    if (counts < 1).any():
        raise ConfigError("event counts in ns must be >= 1", field="ns")
    m = np.repeat(counts, eff.size)
    e = np.tile(eff, counts.size)
    se_m = se * np.sqrt(n / m)
    ncp = np.abs(e) / se_m if two_sided else e / se_m
    dfs = None if df is None else df * m / n
    return pl.DataFrame(
        {
            "events": m.astype(np.int64),
            "effect": e,
            "se": se_m,
            "power": _power_array(ncp, dfs, alpha, two_sided),
        }
    )


# --------------------------------------------------------------------------- win rates


def _exact_pvalues(n: int, p0: float, alternative: Alternative) -> FloatArray:
    """Exact binomial p-value of every outcome k = 0..n (scipy binomtest's definitions: two-sided sums
    the outcomes no more likely than k, with a relative tolerance of 1e-7)."""
    k = np.arange(n + 1)
    if alternative == "greater":
        return np.asarray(sps.binom.sf(k - 1, n, p0), dtype=np.float64)
    if alternative == "less":
        return np.asarray(sps.binom.cdf(k, n, p0), dtype=np.float64)
    pmf = sps.binom.pmf(k, n, p0)
    order = np.sort(pmf)
    cum = np.cumsum(order)
    idx = np.searchsorted(order, pmf * (1.0 + 1e-7), side="right")
    out: FloatArray = np.minimum(1.0, cum[idx - 1])
    return out


def exact_binomial_power(
    p1: float, n: int, *, p0: float = 0.5, alpha: float = 0.05, alternative: Alternative = "two-sided"
) -> float:
    """Power of the exact binomial test of ``p0`` (reject when binomtest's p <= alpha) with ``n``
    events when the true win rate is ``p1``."""
    _check(alpha)
    if n < 1:
        raise ConfigError(f"n must be >= 1 event, got {n!r}", field="n")
    reject = _exact_pvalues(n, p0, alternative) <= alpha
    return float(sps.binom.pmf(np.arange(n + 1), n, p1)[reject].sum())


@dataclass(frozen=True, slots=True)
class ExactSampleSize:
    """Exact binomial power is a saw-tooth in n: ``first`` is the smallest n reaching the target power,
    ``stable`` the smallest n from which every n up to ``checked_to`` reaches it."""

    first: int
    stable: int
    checked_to: int


def n_for_proportion_exact(
    p1: float,
    *,
    p0: float = 0.5,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "two-sided",
    n_max: int | None = None,
) -> ExactSampleSize:
    """Scan n = 1..n_max (default: twice the normal-approximation n, plus 100) for the exact binomial
    test's power against ``p1``."""
    _check(alpha, power)
    approx = n_for_proportion(p1, p0=p0, alpha=alpha, power=power, two_sided=alternative == "two-sided")
    top = n_max if n_max is not None else int(2 * approx) + 100
    ns = np.arange(1, top + 1)
    ok = np.array(
        [exact_binomial_power(p1, int(m), p0=p0, alpha=alpha, alternative=alternative) >= power for m in ns]
    )
    if not ok.any() or not ok[-1]:
        raise ConfigError(
            f"power {power} not reached and held by n = {top}", remedy="raise n_max", field="n_max"
        )
    below = np.nonzero(~ok)[0]
    stable = int(ns[below[-1] + 1]) if below.size else 1
    return ExactSampleSize(first=int(ns[np.argmax(ok)]), stable=stable, checked_to=top)


def n_for_proportion(
    p1: float,
    *,
    p0: float = 0.5,
    alpha: float = 0.05,
    power: float = 0.8,
    two_sided: bool = True,
    method: Literal["normal", "arcsine"] = "normal",
) -> float:
    """Events needed (fractional; round up) for a one-sample test of win rate p0 against p1.

    ``normal``: ((z_a sqrt(p0 q0) + z_power sqrt(p1 q1)) / |p1 - p0|)^2 with a = alpha/2 two-sided;
    ``arcsine``: statsmodels NormalIndPower (one sample) on Cohen's h = 2 asin sqrt(p1) - 2 asin sqrt(p0).
    """
    _check(alpha, power)
    if method == "arcsine":
        h = abs(float(proportion_effectsize(p1, p0)))
        alt = "two-sided" if two_sided else "larger"
        return float(
            NormalIndPower().solve_power(h, nobs1=None, alpha=alpha, power=power, ratio=0, alternative=alt)
        )
    za = float(sps.norm.isf(alpha / 2.0 if two_sided else alpha))
    zb = float(sps.norm.ppf(power))
    return ((za * math.sqrt(p0 * (1 - p0)) + zb * math.sqrt(p1 * (1 - p1))) / abs(p1 - p0)) ** 2


def mde_proportion(
    n: int,
    *,
    p0: float = 0.5,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "two-sided",
) -> float:
    """The smallest true win rate above ``p0`` that the exact binomial test with ``n`` events detects
    with probability ``power`` (1.0 is returned when even a sure win is not detected that often)."""
    _check(alpha, power)

    def gap(p: float) -> float:
        return exact_binomial_power(p, n, p0=p0, alpha=alpha, alternative=alternative) - power

    if gap(1.0 - 1e-12) < 0:
        return 1.0
    return float(optimize.brentq(gap, p0, 1.0 - 1e-12, xtol=1e-10))


def n_two_proportions(
    p1: float, p2: float, *, alpha: float = 0.05, power: float = 0.8, two_sided: bool = True
) -> float:
    """Events per group (fractional; round up) to tell win rate p1 from p2 in two equal independent
    groups: statsmodels NormalIndPower on Cohen's h."""
    _check(alpha, power)
    h = abs(float(proportion_effectsize(p1, p2)))
    alt = "two-sided" if two_sided else "larger"
    return float(
        NormalIndPower().solve_power(h, nobs1=None, alpha=alpha, power=power, ratio=1, alternative=alt)
    )


# --------------------------------------------------------------------------- standardized means


def n_for_mean(
    d: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    two_sided: bool = True,
    dist: Literal["t", "z"] = "t",
) -> float:
    """Events needed (fractional; round up) to detect a mean of ``d`` standard deviations (Cohen's d,
    e.g. 1% mean / 5% sd = 0.2) with a one-sample t test (statsmodels TTestPower) or z test."""
    _check(alpha, power)
    alt = "two-sided" if two_sided else "larger"
    if dist == "z":
        return float(
            NormalIndPower().solve_power(
                abs(d), nobs1=None, alpha=alpha, power=power, ratio=0, alternative=alt
            )
        )
    return float(TTestPower().solve_power(abs(d), nobs=None, alpha=alpha, power=power, alternative=alt))


def power_mean(
    d: float, n: int, *, alpha: float = 0.05, two_sided: bool = True, dist: Literal["t", "z"] = "t"
) -> float:
    """Power of a one-sample t (or z) test with ``n`` events against a true mean of ``d`` sd."""
    return power_from_se(
        d, 1.0 / math.sqrt(n), df=n - 1 if dist == "t" else None, alpha=alpha, two_sided=two_sided
    )


def mde_mean(
    n: int, *, alpha: float = 0.05, power: float = 0.8, two_sided: bool = True, dist: Literal["t", "z"] = "t"
) -> float:
    """The smallest mean (in sd units, Cohen's d) a one-sample t (or z) test with ``n`` events detects
    with probability ``power``."""
    return mde_from_se(
        1.0 / math.sqrt(n), df=n - 1 if dist == "t" else None, alpha=alpha, power=power, two_sided=two_sided
    )


__all__ = [
    "ExactSampleSize",
    "events_needed",
    "exact_binomial_power",
    "mde_from_se",
    "mde_mean",
    "mde_proportion",
    "n_for_mean",
    "n_for_proportion",
    "n_for_proportion_exact",
    "n_two_proportions",
    "power_curve",
    "power_from_se",
    "power_mean",
]
