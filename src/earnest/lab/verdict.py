"""The verdict: EDGE, NO EDGE or INCONCLUSIVE, with the reasons that decided it.

- **EDGE**: the effect is significant after the multiple-testing adjustment across every trial of
  the research question (Benjamini-Hochberg), its estimate is at least the smallest effect worth
  trading (``min_effect``), and it beats the best baseline net of costs: the lower end of the confidence interval of (hypothesis mean
  minus best baseline mean) is above zero.
- **NO EDGE**: the confidence interval of the effect lies wholly below the smallest effect worth
  trading (``min_effect``), or the confidence interval of its gain over the best baseline lies wholly
  below the smallest gain worth trading (``min_effect`` minus the null value): even the optimistic
  end is not worth trading.
- **INCONCLUSIVE**: neither. The reasons say how many events would be needed to detect the smallest
  effect worth trading at the stated power, and roughly how many years of data that is.

The difference to a baseline uses ``se = sqrt(se_h² + se_b²)``, which ignores the positive
covariance between a hypothesis and a baseline built from overlapping events: the interval is wider
than the exact one, so "beats the baseline" errs on the side of caution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as sps

from earnest.lab.spec import Hypothesis
from earnest.lab.stats import MeanEstimate

EDGE = "EDGE"
NO_EDGE = "NO EDGE"
INCONCLUSIVE = "INCONCLUSIVE"


@dataclass(frozen=True)
class Verdict:
    """The label and the sentences that justify it (in the order they were checked)."""

    label: str
    reasons: tuple[str, ...]
    best_baseline: str | None = None
    diff_vs_best: float = math.nan
    diff_ci_low: float = math.nan
    diff_ci_high: float = math.nan


def _fmt(x: float, pct: bool) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:+.2%}" if pct else f"{x:.3f}"


def _vs_best(
    est: MeanEstimate, baselines: Sequence[tuple[str, MeanEstimate]], alpha: float
) -> tuple[str | None, float, float, float]:
    usable = [(n, b) for n, b in baselines if math.isfinite(b.mean) and math.isfinite(b.se)]
    if not usable or not math.isfinite(est.se):
        return None, math.nan, math.nan, math.nan
    name, best = max(usable, key=lambda nb: nb[1].mean)
    diff = est.mean - best.mean
    se = math.hypot(est.se, best.se)
    z = float(sps.norm.ppf(1 - alpha / 2))
    return name, diff, diff - z * se, diff + z * se


def decide(
    h: Hypothesis,
    *,
    estimate: MeanEstimate,
    null_value: float,
    baselines: Sequence[tuple[str, MeanEstimate]],
    power: float,
    events_needed: float,
    years_needed: float | None,
    p_adjusted: float,
    n_trials: int,
) -> Verdict:
    """The verdict for one variant (see the module docstring for the rules)."""
    alpha, floor = h.stats.alpha, h.stats.min_effect
    pct = abs(floor) < 0.2 and null_value == 0.0
    best, diff, lo, hi = _vs_best(estimate, baselines, alpha)

    def verdict(label: str, reasons: list[str] | tuple[str, ...]) -> Verdict:
        return Verdict(label, tuple(reasons), best, diff, lo, hi)

    n = estimate.n
    if n < 2 or not math.isfinite(estimate.mean):
        return verdict(INCONCLUSIVE, (f"only {n} priced events: nothing to test",))
    ci = f"[{_fmt(estimate.ci_low, pct)}, {_fmt(estimate.ci_high, pct)}]"
    reasons = [
        f"{n} events, mean {_fmt(estimate.mean, pct)} with {1 - alpha:.0%} CI {ci} "
        f"({estimate.method}); p = {estimate.p_value:.4g}, BH-adjusted over {n_trials} trial(s) "
        f"p = {p_adjusted:.4g}"
    ]
    significant = math.isfinite(p_adjusted) and p_adjusted < alpha and estimate.mean > null_value
    beats = best is not None and math.isfinite(lo) and lo > 0
    if best is not None:
        reasons.append(
            f"vs best baseline {best}: difference {_fmt(diff, pct)} CI [{_fmt(lo, pct)}, {_fmt(hi, pct)}]"
        )
    if significant and beats and estimate.mean >= floor:
        reasons.append("significant after multiple-testing control and beats the best baseline net of costs")
        return verdict(EDGE, tuple(reasons))
    if estimate.ci_high < floor:
        reasons.append(
            f"the CI lies below the smallest effect worth trading ({_fmt(floor, pct)}): no edge worth trading"
        )
        return verdict(NO_EDGE, reasons)
    gain = floor - null_value
    if best is not None and math.isfinite(hi) and hi < gain:
        reasons.append(
            f"even the top of the CI of the gain over {best} is below the smallest gain worth trading "
            f"({_fmt(gain, pct)}): no edge beyond the baseline"
        )
        return verdict(NO_EDGE, reasons)
    if significant and not beats:
        reasons.append("significant, but it does not yet beat the best baseline")
    elif significant:
        reasons.append(f"significant and beats the baseline, but the estimate is below {_fmt(floor, pct)}")
    if not math.isfinite(events_needed):
        reasons.append("power cannot be estimated (no variance)")
    elif power >= h.stats.power and significant:
        reasons.append(
            f"power {power:.0%} to detect {_fmt(floor, pct)} against the null; the gain over the best "
            "baseline is what remains uncertain"
        )
    elif power >= h.stats.power:
        reasons.append(
            f"not significant after adjustment although the study has power {power:.0%} to detect "
            f"{_fmt(floor, pct)}: the effect is probably smaller than that, but the CI still reaches it"
        )
    else:
        years = f", about {years_needed:.1f} years of data at this event rate" if years_needed else ""
        reasons.append(
            f"underpowered: power {power:.0%} to detect {_fmt(floor, pct)}; about "
            f"{math.ceil(events_needed):,} events needed for {h.stats.power:.0%} power{years}"
        )
    return verdict(INCONCLUSIVE, tuple(reasons))


__all__ = ["EDGE", "INCONCLUSIVE", "NO_EDGE", "Verdict", "decide"]
