"""Run a hypothesis: select events, measure their outcomes against baselines, test, estimate power.

:func:`run_study` is pure: it takes frames (:class:`StudyData`) and a :class:`Hypothesis` and
returns a :class:`Study` whose variants (one per horizon and outcome) carry the estimate, the
event-study tests, the baselines, the power figures and a verdict. The trial ledger's
Benjamini-Hochberg adjustment across a research question is applied afterwards with
:func:`with_adjusted_p` (the workflow reads the ledger from the store); without it the variants of
this run are adjusted among themselves. What is sampled and how outcomes are measured (net of
costs by default) is in :mod:`earnest.lab.samples`.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from earnest.core.receipt import Receipt
from earnest.lab.power import events_needed, mde_from_se, power_from_se
from earnest.lab.samples import (
    Clock,
    Counts,
    Samples,
    StudyData,
    build_samples,
    outcome_values,
    select_events,
)
from earnest.lab.spec import Hypothesis
from earnest.lab.stats import (
    BinomialResult,
    MeanEstimate,
    TestTable,
    benjamini_hochberg,
    binomial,
    clustered_mean,
    event_study_tests,
)
from earnest.lab.verdict import Verdict, decide
from earnest.lab.windows import (
    EventWindows,
)

Arr = np.ndarray
PROPORTIONS = ("win", "upper_circuit")


@dataclass(frozen=True)
class BaselineResult:
    """One baseline's outcome over the same horizon: name, events and the mean with its CI."""

    name: str
    description: str
    estimate: MeanEstimate


@dataclass(frozen=True)
class PowerResult:
    """Power figures for the variant's smallest effect worth trading."""

    effect: float
    power: float
    mde: float
    events_needed: float
    years_of_data_needed: float | None
    curve: pl.DataFrame


@dataclass(frozen=True)
class VariantResult:
    """One trial: a horizon and an outcome, with everything the verdict rests on."""

    key: str
    horizon: int
    outcome: str
    null_value: float
    estimate: MeanEstimate
    binomial: BinomialResult | None
    tests: TestTable | None
    baselines: tuple[BaselineResult, ...]
    power: PowerResult
    p_adjusted: float
    n_trials: int
    verdict: Verdict


@dataclass(frozen=True)
class Study:
    """A hypothesis's result: counts, per-variant results, the average abnormal-return path by event
    day (with baselines) for the chart, and the receipt."""

    hypothesis: Hypothesis
    counts: Counts
    variants: tuple[VariantResult, ...]
    caar: pl.DataFrame
    receipt: Receipt
    warnings: tuple[str, ...] = field(default=())

    def summary(self) -> pl.DataFrame:
        """One row per variant: horizon, outcome, n, mean, CI, p, adjusted p, power, verdict."""
        return pl.DataFrame(
            [
                {
                    "horizon": v.horizon,
                    "outcome": v.outcome,
                    "n": v.estimate.n,
                    "mean": v.estimate.mean,
                    "ci_low": v.estimate.ci_low,
                    "ci_high": v.estimate.ci_high,
                    "p_value": v.estimate.p_value,
                    "p_adjusted": v.p_adjusted,
                    "best_baseline": _best(v).name if v.baselines else None,
                    "power": v.power.power,
                    "mde": v.power.mde,
                    "events_needed": v.power.events_needed,
                    "verdict": v.verdict.label,
                }
                for v in self.variants
            ]
        )


def _best(v: VariantResult) -> BaselineResult:
    return max(v.baselines, key=lambda b: b.estimate.mean if math.isfinite(b.estimate.mean) else -math.inf)


def _estimate(values: Arr, w: EventWindows, horizon: int, alpha: float) -> MeanEstimate:
    ok = ~np.isnan(values)
    return clustered_mean(values[ok], event_day=w.event_day[ok], horizon=horizon, alpha=alpha)


# --------------------------------------------------------------------------------------------- #
# the study


def _years(w: EventWindows) -> float | None:
    dates = getattr(w, "entry_date", None)
    if dates is None or len(dates) < 2:
        return None
    lo, hi = np.min(dates), np.max(dates)
    span = (hi - lo) / np.timedelta64(1, "D") if isinstance(lo, np.datetime64) else (hi - lo).days
    return float(span) / 365.25 if span > 0 else None


def _power(h: Hypothesis, est: MeanEstimate, null_value: float, w: EventWindows) -> PowerResult:
    effect = h.stats.min_effect - null_value
    se, n = est.se, est.n
    df = est.df if est.df else None
    if not (math.isfinite(se) and se > 0 and n > 1):
        empty = pl.DataFrame({"events": [], "power": []}, schema={"events": pl.Int64, "power": pl.Float64})
        return PowerResult(effect, math.nan, math.nan, math.nan, None, empty)
    power = power_from_se(effect, se, df=df, alpha=h.stats.alpha)
    mde = mde_from_se(se, df=df, alpha=h.stats.alpha, power=h.stats.power)
    need = events_needed(effect, se, n, alpha=h.stats.alpha, power=h.stats.power)
    years = _years(w)
    per_year = n / years if years else None
    sizes = np.unique(np.geomspace(max(10, n // 10), max(need, n) * 2, 40).astype(int))
    curve = pl.DataFrame(
        {
            "events": sizes,
            "power": [
                power_from_se(effect, se * math.sqrt(n / m), df=None, alpha=h.stats.alpha) for m in sizes
            ],
        }
    )
    return PowerResult(effect, power, mde, need, need / per_year if per_year else None, curve)


def _null_value(outcome: str, rnd: MeanEstimate | None) -> float:
    if outcome == "win":
        return 0.5
    if outcome == "upper_circuit":
        return rnd.mean if rnd is not None and math.isfinite(rnd.mean) else 0.0
    return 0.0


def _variant(h: Hypothesis, s: Samples, horizon: int, outcome: str, key: str) -> VariantResult:
    alpha = h.stats.alpha
    values = outcome_values(h, s.selected, horizon=horizon, outcome=outcome)
    baselines: list[BaselineResult] = []
    for name, text, w in s.baselines:
        if name == "index" and outcome in ("abnormal", "upper_circuit"):
            continue  # the index's abnormal return is zero by construction; it has no circuit
        vals = outcome_values(h, w, horizon=horizon, outcome=outcome)
        baselines.append(BaselineResult(name, text, _estimate(vals, w, horizon, alpha)))
    rnd = next((b.estimate for b in baselines if b.name == "random_dates"), None)
    null_value = _null_value(outcome, rnd)
    est = _estimate(values - null_value, s.selected, horizon, alpha)
    est = dataclasses.replace(
        est, mean=est.mean + null_value, ci_low=est.ci_low + null_value, ci_high=est.ci_high + null_value
    )
    ok = ~np.isnan(values)
    binom = None
    if outcome in PROPORTIONS and ok.any():
        binom = binomial(
            int(values[ok].sum()), int(ok.sum()), p0=null_value if outcome == "win" else 0.5, alpha=alpha
        )
    tests = None
    if outcome in ("abnormal", "raw") and ok.sum() >= 3:
        w = s.selected
        mm = h.benchmark.model == "market_model"  # residuals: the prediction-error correction applies
        tests = event_study_tests(
            w.ar_evt,
            w.ar_est,
            horizon=horizon,
            event_day=w.event_day,
            mkt_evt=w.mkt_evt if mm else None,
            mkt_est=w.mkt_est if mm else None,
            n_boot=h.stats.n_boot,
            seed=h.stats.seed,
            alpha=alpha,
            rank_u=s.rank_u,
        )
    power = _power(h, est, null_value, s.selected)
    p = est.p_value
    verdict = decide(
        h,
        estimate=est,
        null_value=null_value,
        baselines=[(b.name, b.estimate) for b in baselines],
        power=power.power,
        events_needed=power.events_needed,
        years_needed=power.years_of_data_needed,
        p_adjusted=p,
        n_trials=1,
    )
    if binom is not None:
        verdict = _with_binomial(verdict, binom)
    return VariantResult(
        key, horizon, outcome, null_value, est, binom, tests, tuple(baselines), power, p, 1, verdict
    )


def _with_binomial(verdict: Verdict, b: BinomialResult) -> Verdict:
    lo, hi = b.clopper_pearson
    line = (
        f"{b.wins}/{b.n} hits ({b.win_rate:.1%}); exact binomial vs {b.p0:.0%}: p = {b.p_two_sided:.4g} "
        f"two-sided, Clopper-Pearson {1 - b.alpha:.0%} CI [{lo:.1%}, {hi:.1%}] (assumes independent events)"
    )
    return dataclasses.replace(verdict, reasons=(*verdict.reasons, line))


def _caar(s: Samples) -> pl.DataFrame:
    """Mean abnormal return by event day (1 = entry session) and its cumulative sum, for the
    hypothesis and each event baseline, with a ±1.96 cross-sectional standard error band."""
    rows = []
    sources = [("hypothesis", s.selected), *[(n, w) for n, _, w in s.baselines if n != "index"]]
    for name, w in sources:
        ar = w.ar_evt
        if ar.shape[0] == 0:
            continue
        mean = np.nanmean(ar, axis=0)
        n = np.sum(~np.isnan(ar), axis=0)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a day with one event has no spread
            se = np.nanstd(ar, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1))
        cum = np.cumsum(mean)
        cum_se = np.sqrt(np.cumsum(se**2))
        for d in range(ar.shape[1]):
            rows.append(
                {
                    "sample": name,
                    "day": d + 1,
                    "aar": float(mean[d]),
                    "caar": float(cum[d]),
                    "caar_low": float(cum[d] - 1.96 * cum_se[d]),
                    "caar_high": float(cum[d] + 1.96 * cum_se[d]),
                    "n": int(n[d]),
                }
            )
    return pl.DataFrame(rows)


def run_study(h: Hypothesis, data: StudyData, *, timings: dict[str, float] | None = None) -> Study:
    """Evaluate every variant of ``h`` on ``data`` (pure: no store access). Variants are adjusted
    among themselves (Benjamini-Hochberg); call :func:`with_adjusted_p` with the ledger's figures
    to adjust across the whole research question. ``timings``, when given, receives the seconds
    each stage took."""
    clock = Clock(timings)
    s = build_samples(h, data, clock)
    variants = [_variant(h, s, v.horizon, v.outcome, v.key()) for v in h.variants()]
    clock.lap("tests, baselines, power")
    receipt = Receipt.make(data_hash=data.data_hash, config=h.model_dump(mode="json"), seed=h.stats.seed)
    study = Study(h, s.counts, tuple(variants), _caar(s), receipt, s.warnings)
    clock.lap("paths + receipt")
    p = np.array([v.estimate.p_value for v in variants], dtype=float)
    adjusted = _adjust(p)
    return with_adjusted_p(
        study, {v.key: float(a) for v, a in zip(variants, adjusted, strict=True)}, len(variants)
    )


def _adjust(p: Arr) -> Arr:
    out = np.full(len(p), np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = benjamini_hochberg(p[ok])
    return out


def with_adjusted_p(study: Study, adjusted: Mapping[str, float], n_trials: int) -> Study:
    """``study`` with each variant's p-value adjusted across ``n_trials`` trials of its research
    question (``adjusted`` maps variant key to BH-adjusted p) and its verdict decided again."""
    h = study.hypothesis
    out: list[VariantResult] = []
    for v in study.variants:
        p_adj = adjusted.get(v.key, math.nan)
        verdict = decide(
            h,
            estimate=v.estimate,
            null_value=v.null_value,
            baselines=[(b.name, b.estimate) for b in v.baselines],
            power=v.power.power,
            events_needed=v.power.events_needed,
            years_needed=v.power.years_of_data_needed,
            p_adjusted=p_adj,
            n_trials=n_trials,
        )
        if v.binomial is not None:
            verdict = _with_binomial(verdict, v.binomial)
        out.append(dataclasses.replace(v, p_adjusted=p_adj, n_trials=n_trials, verdict=verdict))
    return dataclasses.replace(study, variants=tuple(out))


def trial_rows(study: Study) -> list[dict[str, object]]:
    """The ledger rows of ``study``'s variants (one trial per variant key)."""
    h = study.hypothesis
    variants = {v.key(): v for v in h.variants()}
    return [
        {
            "trial_key": v.key,
            "question": h.question,
            "hypothesis_name": h.name,
            "variant_json": variants[v.key].model_dump_json() if v.key in variants else "{}",
            "horizon": v.horizon,
            "outcome": v.outcome,
            "n_events": v.estimate.n,
            "effect": v.estimate.mean,
            "p_value": v.estimate.p_value,
            "receipt": study.receipt.to_dict(),
        }
        for v in study.variants
    ]


__all__ = [
    "BaselineResult",
    "Counts",
    "PowerResult",
    "Study",
    "StudyData",
    "VariantResult",
    "outcome_values",
    "run_study",
    "select_events",
    "trial_rows",
    "with_adjusted_p",
]
