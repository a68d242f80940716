"""Pure array statistics of the hypothesis lab: event-study tests, a mean robust to clustered dates and
overlapping holding windows, the exact binomial test and Benjamini-Hochberg adjustment.

Array convention (shared by the lab): axis 0 = events, axis 1 = days in event time, float64, NaN =
missing. ``ar_est`` (N, L1) holds abnormal returns over the estimation window, oldest first (OLS
residuals of the market model, or market-adjusted returns); ``ar_evt`` (N, L2) over the event window,
column 0 = the entry session; the CAR over horizon h is ``ar_evt[:, :h].sum(1)``. ``mkt_est`` and
``mkt_evt`` are the index returns on the same days: passing them says "the ARs are market-model
residuals" and switches on the prediction-error variance correction. ``event_day`` (N,) is the
session ordinal of each event's entry session; every event's windows sit at the same session offsets
from it, so equal ``event_day`` means the same calendar days and a difference d means windows shifted
by d sessions.

Per-event variance: sigma2_i = SSR_i / (L1_i - 2) for the market model (two OLS parameters), and the
sample variance around the estimation-window mean, SS_i / (L1_i - 1), for market-adjusted returns
(nothing is estimated from the window but its mean). L1_i counts the event's non-NaN estimation days.
Var(CAR_i) = sigma2_i [h + h^2/L1_i + (sum_tau (Rm_tau - mean Rm))^2 / sum_est (Rm - mean Rm)^2] for the
market model (gamma' V gamma with V = sigma2 (I + X*(X'X)^-1 X*'), MacKinlay 1997), h sigma2_i otherwise.
SCAR_i = CAR_i / sqrt(Var(CAR_i)) is treated as a t with dof_i = L1_i - k (k = 2 or 1) degrees of freedom,
variance dof_i / (dof_i - 2).

The rows of :class:`TestTable` (all two-sided; N = events in the test):

- ``clustered_t``: :func:`clustered_mean` of the CARs (the primary test; see its docstring).
- ``cross_sectional_t``: mean CAR / (sd / sqrt N), t with N - 1 df.
- ``j1``: mean CAR / (sqrt(sum Var(CAR_i)) / N), normal.
- ``j2``: sum_i SCAR_i / sqrt(dof_i/(dof_i - 2)) / sqrt N, normal; with one L1 for all events and the
  market model this is sqrt(N (L1 - 4)/(L1 - 2)) * mean SCAR.
- ``patell_z``: sum_i CSAR_i / sqrt(h dof_i/(dof_i - 2)) / sqrt N, normal, with CSAR_i the sum of the
  daily standardized ARs (each day's own prediction-error corrected sd).
- ``bmp_t``: mean SCAR / (sd(SCAR) / sqrt N), t with N - 1 df.
- ``kolari_pynnonen_t``: bmp_t * sqrt((1 - r̄) / (1 + (N - 1) r̄)); r̄ as in :func:`event_study_tests`.
- ``brown_warner_t``: mean CAR / (sqrt h * sd of the estimation-window daily average AR), t with
  (estimation days - 1) df.
- ``corrado_rank``: Cowan (1992) multi-day rank statistic with Corrado-Zivney (1992) standardized ranks
  over the estimation and event windows, normal.
- ``sign_z`` / ``sign_exact``: positive CARs among the non-zero ones against 1/2, normal / exact binomial.
- ``generalized_sign_z``: (positive CARs - N p) / sqrt(N p (1 - p)), p = mean share of positive
  estimation-window ARs (Cowan 1992), normal.
- ``bootstrap_dates``: the mean CAR; p and percentile CI from resampling event dates with all their
  events. It ignores overlap between nearby dates, so it is too narrow for multi-day CARs then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from earnest.core.errors import ConfigError, DataError, NotFoundError
from earnest.lab.clustered import (
    MeanEstimate,
    as_days,
    check_alpha,
    check_horizon,
    clustered_mean,
    div,
    iid_mean,
    kernel_sum,
    p_t,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Names of the rows of :class:`TestTable`, in order. ``clustered_t`` is the primary test.
TEST_NAMES: tuple[str, ...] = (
    "clustered_t",
    "cross_sectional_t",
    "j1",
    "j2",
    "patell_z",
    "bmp_t",
    "kolari_pynnonen_t",
    "brown_warner_t",
    "corrado_rank",
    "sign_z",
    "sign_exact",
    "generalized_sign_z",
    "bootstrap_dates",
)
PRIMARY_TEST = "clustered_t"
MIN_EST_DAYS = 30

_REFS = {
    "clustered_t": "overlap- and date-robust mean: Hansen & Hodrick (1980) kernel, Bell & McCaffrey (2002) df",
    "cross_sectional_t": "cross-sectional t (Campbell, Lo & MacKinlay 1997 ch. 4)",
    "j1": "MacKinlay (1997) J1",
    "j2": "MacKinlay (1997) J2",
    "patell_z": "Patell (1976) Z via CSAR",
    "bmp_t": "Boehmer, Musumeci & Poulsen (1991)",
    "kolari_pynnonen_t": "Kolari & Pynnönen (2010) adjusted BMP",
    "brown_warner_t": "Brown & Warner (1985) crude dependence adjustment",
    "corrado_rank": "Corrado (1989) rank test; multi-day form of Cowan (1992), ranks of Corrado & Zivney (1992)",
    "sign_z": "sign test, normal approximation",
    "sign_exact": "sign test, exact binomial",
    "generalized_sign_z": "Cowan (1992) generalized sign test",
    "bootstrap_dates": "bootstrap over event dates (clusters), percentile CI",
}


@dataclass(frozen=True, slots=True)
class BinomialResult:
    """Exact binomial test of a win rate against ``p0`` with two 1 - alpha confidence intervals."""

    wins: int
    n: int
    p0: float
    alpha: float
    win_rate: float
    p_two_sided: float
    p_less: float
    p_greater: float
    clopper_pearson: tuple[float, float]
    wilson: tuple[float, float]


@dataclass(frozen=True, slots=True)
class TestResult:
    """One row of a :class:`TestTable`: a statistic, its two-sided p-value, its degrees of freedom
    (None for a normal reference distribution) and where the test comes from."""

    __test__ = False  # not a pytest test class
    test: str
    statistic: float
    p_value: float
    df: float | None
    reference: str
    note: str


@dataclass(frozen=True)
class TestTable:
    """The event-study tests of one CAR horizon.

    ``frame`` has the columns test, statistic, p_value, df (nullable), reference, note, one row per
    name in :data:`TEST_NAMES`; ``primary`` is the test the verdict uses. ``n_events`` counts events
    with a complete CAR; ``n_standardized`` those that also had enough estimation days for the
    standardized tests (J1, J2, Patell, BMP, Kolari-Pynnönen, Brown-Warner, Corrado, generalized sign).
    """

    frame: pl.DataFrame
    primary: str
    horizon: int
    n_events: int
    n_standardized: int
    car_mean: float
    bootstrap_ci: tuple[float, float]
    r_bar: float
    clustered: MeanEstimate
    __test__ = False  # not a pytest test class

    def get(self, name: str) -> TestResult:
        """The row named ``name`` (one of :data:`TEST_NAMES`)."""
        rows = self.frame.filter(pl.col("test") == name).to_dicts()
        if not rows:
            raise NotFoundError(f"no test named {name!r}", remedy=f"use one of {', '.join(TEST_NAMES)}")
        return TestResult(**rows[0])

    @property
    def primary_result(self) -> TestResult:
        """The row of the primary test."""
        return self.get(self.primary)


# --------------------------------------------------------------------------- small helpers


def _p_norm(z: float) -> float:
    return float(2.0 * sps.norm.sf(abs(z))) if math.isfinite(z) else math.nan


_p_t = p_t
_div = div


def _as_2d(a: Any, name: str) -> FloatArray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2:
        raise DataError(f"{name} must be a 2-d array (events x days), got shape {arr.shape}", field=name)
    return arr


# --------------------------------------------------------------------------- binomial / BH


def binomial(wins: int, n: int, *, p0: float = 0.5, alpha: float = 0.05) -> BinomialResult:
    """Exact binomial test of ``wins`` out of ``n`` against win probability ``p0`` (scipy binomtest:
    two-sided p sums the outcomes no more likely than the observed one) with Clopper-Pearson and
    Wilson 1 - alpha intervals (statsmodels proportion_confint)."""
    check_alpha(alpha)
    if not (
        isinstance(n, int | np.integer) and isinstance(wins, int | np.integer) and 0 <= wins <= n and n > 0
    ):
        raise ConfigError(
            f"need whole numbers 0 <= wins <= n and n > 0, got wins={wins!r}, n={n!r}", field="wins"
        )
    if not 0.0 < p0 < 1.0:
        raise ConfigError(f"p0 must be in (0, 1), got {p0!r}", field="p0")
    k, m = int(wins), int(n)
    cp = proportion_confint(k, m, alpha=alpha, method="beta")
    wi = proportion_confint(k, m, alpha=alpha, method="wilson")
    return BinomialResult(
        wins=k,
        n=m,
        p0=p0,
        alpha=alpha,
        win_rate=k / m,
        p_two_sided=float(sps.binomtest(k, m, p0).pvalue),
        p_less=float(sps.binomtest(k, m, p0, alternative="less").pvalue),
        p_greater=float(sps.binomtest(k, m, p0, alternative="greater").pvalue),
        clopper_pearson=(float(cp[0]), float(cp[1])),
        wilson=(float(wi[0]), float(wi[1])),
    )


def benjamini_hochberg(p_values: Any) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (statsmodels multipletests ``fdr_bh``), in input order.
    NaN p-values stay NaN and do not count as tests."""
    p = np.asarray(p_values, dtype=np.float64).ravel()
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        if ((p[ok] < 0) | (p[ok] > 1)).any():
            raise DataError("p-values must lie in [0, 1]", field="p_values")
        out[ok] = multipletests(p[ok], method="fdr_bh")[1]
    return out


# --------------------------------------------------------------------------- event-study tests


@dataclass(frozen=True)
class _Std:
    """Per-event standardization from the estimation window (one row per event)."""

    dof: FloatArray  # L1_i - k
    car_var: FloatArray  # variance of CAR_i, prediction-error corrected for the market model
    day_sd: FloatArray  # (N, days) sd of each event-window AR
    z_est: FloatArray  # (N, L1) standardized estimation residuals, NaN off the window
    pos_share: FloatArray  # share of estimation days with AR > 0
    usable: npt.NDArray[np.bool_]  # enough estimation days and a positive variance

    def take(self, rows: npt.NDArray[np.bool_]) -> _Std:
        return _Std(
            dof=self.dof[rows],
            car_var=self.car_var[rows],
            day_sd=self.day_sd[rows],
            z_est=self.z_est[rows],
            pos_share=self.pos_share[rows],
            usable=self.usable[rows],
        )


def _standardize(
    ar_est: FloatArray, mkt_est: FloatArray | None, mkt_evt_h: FloatArray | None, horizon: int, min_days: int
) -> _Std:
    mask = ~np.isnan(ar_est)
    if mkt_est is not None:
        mask &= ~np.isnan(mkt_est)
    k = 1 if mkt_est is None else 2
    l1 = mask.sum(1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(mask, ar_est, 0.0).sum(1) / l1
        resid = np.where(mask, ar_est - mean[:, None], 0.0)
        ss = (resid**2).sum(1)
        dof = l1 - k
        sigma2 = ss / dof
        usable = (l1 >= min_days) & (sigma2 > 0) & np.isfinite(sigma2)
        if mkt_est is None or mkt_evt_h is None:
            day_var = np.repeat(sigma2[:, None], horizon, axis=1)
            car_var = horizon * sigma2
        else:
            mu = np.where(mask, mkt_est, 0.0).sum(1) / l1
            sxx = (np.where(mask, mkt_est - mu[:, None], 0.0) ** 2).sum(1)
            dev = mkt_evt_h - mu[:, None]
            day_var = sigma2[:, None] * (1.0 + 1.0 / l1[:, None] + dev**2 / sxx[:, None])
            car_var = sigma2 * (horizon + horizon**2 / l1 + dev.sum(1) ** 2 / sxx)
            usable &= sxx > 0
        z_est = np.where(mask, resid / np.sqrt(ss / l1)[:, None], np.nan)
        pos_share = np.where(mask, ar_est > 0, False).sum(1) / l1
    return _Std(dof, car_var, np.sqrt(day_var), z_est, pos_share, usable)


def _rho_calendar(z_est: FloatArray, day: IntArray) -> float:
    """Pooled daily cross-correlation of standardized estimation residuals over every pair of events
    observed on the same calendar session: (sum_p S_p^2 - sum_p Q_p) / (sum_p n_p^2 - n_p), with S_p,
    Q_p and n_p the sum, sum of squares and count of z on session p. O(N * L1), no pairs formed;
    equal to the average pairwise correlation when all events share one date (Kolari-Pynnönen r̄)."""
    rows, cols = np.nonzero(~np.isnan(z_est))
    if rows.size == 0:
        return 0.0
    pos = day[rows] - day.min() + cols
    z = z_est[rows, cols]
    s = np.bincount(pos, weights=z)
    q = np.bincount(pos, weights=z * z)
    c = np.bincount(pos).astype(np.float64)
    pairs = float(c @ c - c.sum())
    return float((s @ s - q.sum()) / pairs) if pairs > 0 else 0.0


def _overlap_share(day: IntArray, horizon: int) -> float:
    """Average over ordered pairs i != j of the share of CAR days they share, max(0, 1 - |d_i - d_j|/h)."""
    n = day.size
    if n < 2:
        return 0.0
    days, counts = np.unique(day, return_counts=True)
    total = kernel_sum(days, counts.astype(np.float64), horizon, "bartlett")
    return (total - n) / (n * (n - 1))


def rank_scores(ar_est: Any, ar_evt: Any) -> FloatArray:
    """Corrado-Zivney standardized ranks U_it = K_it/(M_i + 1) - 1/2 of each event's abnormal returns
    over its estimation and event days (K_it: average rank of day t among the M_i non-missing days;
    NaN where missing). Rows are independent, so they can be computed once and passed to
    :func:`event_study_tests` for every horizon (``rank_u``)."""
    full = np.concatenate(
        [np.asarray(ar_est, dtype=np.float64), np.asarray(ar_evt, dtype=np.float64)], axis=1
    )
    ok = ~np.isnan(full)
    ranks = sps.rankdata(full, axis=1, nan_policy="omit")
    return np.asarray(np.where(ok, ranks / (ok.sum(1, keepdims=True) + 1.0) - 0.5, np.nan))


def _corrado(ar_est: FloatArray, ar_evt: FloatArray, horizon: int, u_all: FloatArray | None = None) -> float:
    """Cowan (1992) multi-day rank statistic: sum over the CAR days of the mean standardized rank
    U_it (:func:`rank_scores`), divided by sqrt(h) times the sd of the daily mean rank over all days."""
    if u_all is None:
        u_all = rank_scores(ar_est, ar_evt)
    ok = ~np.isnan(u_all)
    u = np.where(ok, u_all, 0.0)
    cnt = ok.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ubar = u.sum(0) / cnt
    s = math.sqrt(float(np.mean(ubar[cnt > 0] ** 2)))
    l1 = ar_est.shape[1]
    return _div(float(ubar[l1 : l1 + horizon].sum()), math.sqrt(horizon) * s)


def _standardized_rows(
    car: FloatArray,
    std: _Std,
    ar_est: FloatArray,
    ar_evt: FloatArray,
    day: IntArray,
    horizon: int,
    rank_u: FloatArray | None = None,
) -> tuple[dict[str, tuple[float, float, float | None]], float]:
    """J1, J2, Patell, BMP, Kolari-Pynnönen, Brown-Warner, Corrado, generalized sign on usable events."""
    n = car.size
    scar = car / np.sqrt(std.car_var)
    t_var = std.dof / (std.dof - 2.0)  # variance of a t with dof degrees of freedom
    j1 = _div(float(car.mean()), math.sqrt(float(std.car_var.sum())) / n) if n else math.nan
    j2 = _div(float((scar / np.sqrt(t_var)).sum()), math.sqrt(n))
    csar = (ar_evt[:, :horizon] / std.day_sd).sum(1)
    patell = _div(float((csar / np.sqrt(horizon * t_var)).sum()), math.sqrt(n))
    bmp = _div(float(scar.mean()), float(scar.std(ddof=1)) / math.sqrt(n)) if n > 1 else math.nan
    rho = _rho_calendar(std.z_est, day) if n > 1 else 0.0
    r_bar = max(0.0, rho * _overlap_share(day, horizon))
    kp = bmp * math.sqrt((1.0 - r_bar) / (1.0 + (n - 1) * r_bar))
    est_ok = ~np.isnan(ar_est)
    days_seen = est_ok.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        aar = np.where(est_ok, ar_est, 0.0).sum(0) / days_seen
    aar = aar[days_seen > 0]
    bw_df = float(aar.size - 1)
    bw = _div(float(car.mean()), math.sqrt(horizon) * float(aar.std(ddof=1))) if aar.size > 1 else math.nan
    p_hat = float(std.pos_share.mean()) if n else math.nan
    wins = float((car > 0).sum())
    gsign = _div(wins - n * p_hat, math.sqrt(n * p_hat * (1.0 - p_hat)))
    rank = _corrado(ar_est, ar_evt, horizon, rank_u) if n else math.nan
    rows: dict[str, tuple[float, float, float | None]] = {
        "j1": (j1, _p_norm(j1), None),
        "j2": (j2, _p_norm(j2), None),
        "patell_z": (patell, _p_norm(patell), None),
        "bmp_t": (bmp, _p_t(bmp, n - 1), float(n - 1)),
        "kolari_pynnonen_t": (kp, _p_t(kp, n - 1), float(n - 1)),
        "brown_warner_t": (bw, _p_t(bw, bw_df), bw_df),
        "corrado_rank": (rank, _p_norm(rank), None),
        "generalized_sign_z": (gsign, _p_norm(gsign), None),
    }
    return rows, r_bar


def _bootstrap_dates(
    car: FloatArray, day: IntArray, *, n_boot: int, seed: int, alpha: float
) -> tuple[float, tuple[float, float]]:
    """Resample event dates with replacement (all events of a drawn date come along): two-sided p
    (share of centred resampled means at least as far from the estimate as it is from 0, with +1
    smoothing) and the percentile CI of the mean CAR."""
    if car.size == 0 or n_boot < 1:
        return math.nan, (math.nan, math.nan)
    _, inv = np.unique(day, return_inverse=True)
    sums = np.bincount(inv, weights=car)
    counts = np.bincount(inv).astype(np.float64)
    rng = np.random.default_rng(seed)
    draw = rng.integers(0, sums.size, size=(n_boot, sums.size))
    means = sums[draw].sum(1) / counts[draw].sum(1)
    est = float(car.mean())
    p = (1.0 + float((np.abs(means - est) >= abs(est)).sum())) / (n_boot + 1.0)
    lo, hi = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0])
    return min(p, 1.0), (float(lo), float(hi))


def _validate_inputs(
    ar_evt: Any, ar_est: Any, mkt_evt: Any, mkt_est: Any, horizon: int
) -> tuple[FloatArray, FloatArray, FloatArray | None, FloatArray | None]:
    evt, est = _as_2d(ar_evt, "ar_evt"), _as_2d(ar_est, "ar_est")
    if evt.shape[0] != est.shape[0]:
        raise DataError(f"ar_evt has {evt.shape[0]} events but ar_est {est.shape[0]}", field="ar_est")
    check_horizon(horizon)
    if horizon > evt.shape[1]:
        raise ConfigError(
            f"horizon {horizon} exceeds the event window of {evt.shape[1]} days", field="horizon"
        )
    if (mkt_evt is None) != (mkt_est is None):
        raise ConfigError("pass both mkt_evt and mkt_est (market model) or neither", field="mkt_est")
    if mkt_evt is None:
        return evt, est, None, None
    m_evt, m_est = _as_2d(mkt_evt, "mkt_evt"), _as_2d(mkt_est, "mkt_est")
    if m_evt.shape != evt.shape or m_est.shape != est.shape:
        raise DataError("mkt_evt/mkt_est must have the shapes of ar_evt/ar_est", field="mkt_est")
    return evt, est, m_evt, m_est


_SCHEMA = {
    "test": pl.String,
    "statistic": pl.Float64,
    "p_value": pl.Float64,
    "df": pl.Float64,
    "reference": pl.String,
    "note": pl.String,
}


def _plain_rows(
    car: FloatArray, day: IntArray, *, horizon: int, n_boot: int, seed: int, alpha: float
) -> tuple[dict[str, tuple[float, float, float | None, str]], MeanEstimate, tuple[float, float]]:
    """Rows that need only the CARs: clustered t, cross-sectional t, sign tests, date bootstrap."""
    clustered = clustered_mean(car, event_day=day, horizon=horizon, alpha=alpha)
    plain = iid_mean(car, alpha=alpha)
    nz = car[car != 0]
    wins = int((nz > 0).sum())
    sign_z = _div(2.0 * wins - nz.size, math.sqrt(nz.size))
    sign_p = float(sps.binomtest(wins, nz.size).pvalue) if nz.size else math.nan
    boot_p, ci = _bootstrap_dates(car, day, n_boot=n_boot, seed=seed, alpha=alpha)
    wins_note = f"{wins} of {nz.size} non-zero CARs positive"
    rows: dict[str, tuple[float, float, float | None, str]] = {
        "clustered_t": (
            clustered.t,
            clustered.p_value,
            clustered.df,
            f"{clustered.n_clusters} dates; overlap kernel, Satterthwaite df",
        ),
        "cross_sectional_t": (plain.t, plain.p_value, plain.df, "ignores shared dates and overlap"),
        "sign_z": (sign_z, _p_norm(sign_z), None, wins_note),
        "sign_exact": (float(wins), sign_p, None, wins_note),
        "bootstrap_dates": (
            plain.mean,
            boot_p,
            None,
            f"{1 - alpha:.0%} CI [{ci[0]:.6g}, {ci[1]:.6g}]; {n_boot} resamples of dates, seed {seed}"
            + (
                "; ignores overlap between nearby dates (too narrow then: see clustered_t)"
                if horizon > 1
                else ""
            ),
        ),
    }
    return rows, clustered, ci


def event_study_tests(
    ar_evt: Any,
    ar_est: Any,
    *,
    horizon: int,
    event_day: Any,
    mkt_evt: Any = None,
    mkt_est: Any = None,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    min_est_days: int = MIN_EST_DAYS,
    rank_u: Any = None,
) -> TestTable:
    """Every event-study test of mean CAR = 0 over ``horizon`` sessions (two-sided p-values).

    ``rank_u`` (optional): :func:`rank_scores` of the same ``ar_est``/``ar_evt``, so that several
    horizons share one ranking (the slowest step on large samples).

    Events with a missing AR (or market return) among the first ``horizon`` event days are dropped from
    all tests; events with fewer than ``min_est_days`` usable estimation days (or zero variance) are
    dropped from the standardized tests only. Both counts are in the ``note`` column. ``alpha`` sets the
    level of the clustered and bootstrap intervals. See the module docstring for the variance
    conventions. The Kolari-Pynnönen r̄ is the pooled calendar-time cross-correlation of the
    standardized estimation residuals times the average share of CAR days two events have in common
    (so it covers same-date clusters and nearby overlapping windows), floored at 0 so the adjustment
    never inflates the BMP statistic.
    """
    evt, est, m_evt, m_est = _validate_inputs(ar_evt, ar_est, mkt_evt, mkt_est, horizon)
    check_alpha(alpha)
    k = 1 if m_est is None else 2
    if min_est_days < k + 3:
        raise ConfigError(f"min_est_days must be >= {k + 3} (J2 needs L1 - {k} > 2)", field="min_est_days")
    day = as_days(event_day, evt.shape[0])
    keep = ~np.isnan(evt[:, :horizon]).any(1)
    if m_evt is not None and m_est is not None:
        keep &= ~np.isnan(m_evt[:, :horizon]).any(1)
        m_evt, m_est = m_evt[keep, :horizon], m_est[keep]
    evt, est, day = evt[keep], est[keep], day[keep]
    ranks = None if rank_u is None else np.asarray(rank_u, dtype=np.float64)[keep]
    car = evt[:, :horizon].sum(1)
    table, clustered, ci = _plain_rows(car, day, horizon=horizon, n_boot=n_boot, seed=seed, alpha=alpha)
    std = _standardize(est, m_est, m_evt, horizon, min_est_days)
    ok = std.usable
    n, n_std = int(car.size), int(ok.sum())
    rows, r_bar = _standardized_rows(
        car[ok], std.take(ok), est[ok], evt[ok], day[ok], horizon, None if ranks is None else ranks[ok]
    )
    std_note = f"{n - n_std} events with < {min_est_days} estimation days left out"
    for name, (stat, p, df) in rows.items():
        table[name] = (stat, p, df, std_note + (f"; r̄={r_bar:.4g}" if name == "kolari_pynnonen_t" else ""))
    head = f"N={n}; {int((~keep).sum())} events without a complete {horizon}-day CAR left out"
    frame = pl.DataFrame(
        {
            "test": list(TEST_NAMES),
            "statistic": [table[t][0] for t in TEST_NAMES],
            "p_value": [table[t][1] for t in TEST_NAMES],
            "df": [table[t][2] for t in TEST_NAMES],
            "reference": [_REFS[t] for t in TEST_NAMES],
            "note": [f"{head}; {table[t][3]}" for t in TEST_NAMES],
        },
        schema=_SCHEMA,
    )
    return TestTable(
        frame, PRIMARY_TEST, horizon, n, n_std, float(car.mean()) if n else math.nan, ci, r_bar, clustered
    )


def patell_by_day(
    ar_evt: Any, ar_est: Any, *, mkt_evt: Any = None, mkt_est: Any = None, min_est_days: int = MIN_EST_DAYS
) -> FloatArray:
    """Patell (1976) Z of each event-window day: sum_i SAR_it / sqrt(sum_i dof_i/(dof_i - 2)), with
    SAR_it = AR_it / s_it (prediction-error corrected s for the market model); events with a missing
    AR on a day are left out of that day."""
    evt, est, m_evt, m_est = _validate_inputs(ar_evt, ar_est, mkt_evt, mkt_est, 1)
    std = _standardize(est, m_est, m_evt, evt.shape[1], min_est_days)
    with np.errstate(invalid="ignore", divide="ignore"):
        sar = evt[std.usable] / std.day_sd[std.usable]
    t_var = (std.dof / (std.dof - 2.0))[std.usable]
    ok = ~np.isnan(sar)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.where(ok, sar, 0.0).sum(0) / np.sqrt(np.where(ok, t_var[:, None], 0.0).sum(0))
    return out


__all__ = [
    "MIN_EST_DAYS",
    "PRIMARY_TEST",
    "TEST_NAMES",
    "BinomialResult",
    "MeanEstimate",
    "TestResult",
    "TestTable",
    "benjamini_hochberg",
    "binomial",
    "clustered_mean",
    "event_study_tests",
    "iid_mean",
    "patell_by_day",
    "rank_scores",
]
