"""The statistical promotion gate: a model reaches ``production`` only on out-of-sample evidence.

:func:`promotion_gate` takes the out-of-sample rows of a candidate model (``date``, ``label``,
``score``) with the logistic baseline's scores on the *same* rows (``baseline_score``) and asks
three questions, all of which must be answered yes:

1. **Enough dates.** At least ``min_dates`` dates on which both the model's and the baseline's rank
   IC are defined (two or more rows, non-constant scores and labels).
2. **Better than the baseline, significantly, after multiple testing.** Per date ``t``,
   ``d_t = rank IC(score, label)_t - rank IC(baseline_score, label)_t``. The mean of ``d_t`` gets a
   Newey-West (HAC) t-statistic (:func:`earnest.models.metrics.newey_west_mean`) and a *one-sided*
   p-value ``P(Z > t)`` for "the model ranks better than the baseline". That p-value joins the
   research question's ledger family (the p-values of every trial already tried, e.g. the
   ``p_value`` column of :func:`earnest.lab.ledger.adjusted_p`) and is Benjamini-Hochberg adjusted
   over the whole family (:func:`earnest.lab.stats.benjamini_hochberg`). Pass iff the adjusted
   p-value is below ``alpha`` and the mean difference is positive.
3. **Skilful on its own.** The model's own mean rank IC is positive (its Newey-West t is reported).

Why the rank IC difference is the primary statistic: a model's score is used to *rank* the events
or symbols of a date, so the question that matters is whether it orders each date's cross-section
better than the baseline. The rank IC answers it for 0/1 labels and for returns alike (one gate for
both tasks), is insensitive to calibration (a well-ranked but miscalibrated score is still useful;
calibration is reported on the model card) and is computed per date, so dates are the independent-ish
units and overlapping labels are handled by the Newey-West lags (pass ``lags >= horizon - 1``).
Per-date log-loss or Brier differences would also test calibration, but they are undefined for
return labels and dominated by a few confident mistakes.

:class:`GateResult` is JSON-serialisable (:meth:`GateResult.to_dict` / :meth:`GateResult.from_dict`)
so the registry can store it next to the model version.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy import stats as sps

from earnest.core.errors import DataError
from earnest.lab.stats import benjamini_hochberg
from earnest.models.metrics import NeweyWestMean, ic_by_date, newey_west_mean

__all__ = ["GATE_COLUMNS", "GateResult", "LedgerP", "promotion_gate"]

GATE_COLUMNS: tuple[str, ...] = ("date", "label", "score", "baseline_score")
"""Columns :func:`promotion_gate` reads from the out-of-sample frame."""

_WHERE = "earnest.models.gate"


def _clean(x: float) -> float | None:
    """``x`` as a JSON-safe value: None for NaN or infinities."""
    return float(x) if math.isfinite(x) else None


def _float(x: Any) -> float:
    return math.nan if x is None else float(x)


@dataclass(frozen=True)
class GateResult:
    """The promotion gate's verdict and the figures behind it.

    ``passed`` is True only when every criterion holds; ``reasons`` says, one sentence each, which
    criteria failed (or that all held). ``p`` is the one-sided Newey-West p-value that the model's
    mean per-date rank IC beats the baseline's; ``p_adjusted`` is that p-value after the
    Benjamini-Hochberg adjustment over ``n_trials`` p-values (the ledger family plus this test).
    ``effect`` is the mean per-date rank IC difference (model - baseline), ``t_stat`` its NW t;
    ``rank_ic`` and ``rank_ic_t`` are the model's own mean rank IC and its NW t; ``baseline_rank_ic``
    the baseline's. ``n_dates`` counts the dates used, ``lags`` the Newey-West lags. ``criteria``
    maps each criterion name to ``{"passed": bool, "observed": ..., "required": ...}``.
    """

    passed: bool
    reasons: tuple[str, ...]
    p: float
    p_adjusted: float
    n_trials: int
    effect: float
    t_stat: float
    rank_ic: float
    rank_ic_t: float
    baseline_rank_ic: float
    n_dates: int
    lags: int
    alpha: float
    metric: str = "rank_ic_difference"
    criteria: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def failed(self) -> tuple[str, ...]:
        """Names of the criteria that did not hold (empty when the gate passed)."""
        return tuple(name for name, c in self.criteria.items() if not c.get("passed", False))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN becomes None); :meth:`from_dict` reverses it."""
        out = asdict(self)
        out["reasons"] = list(self.reasons)
        out["criteria"] = {name: dict(c) for name, c in self.criteria.items()}
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = _clean(value)
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as strict JSON."""
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        """The result :meth:`to_dict` produced (None figures become NaN)."""
        floats = ("p", "p_adjusted", "effect", "t_stat", "rank_ic", "rank_ic_t", "baseline_rank_ic", "alpha")
        return cls(
            passed=bool(data["passed"]),
            reasons=tuple(str(r) for r in data.get("reasons", ())),
            n_trials=int(data["n_trials"]),
            n_dates=int(data["n_dates"]),
            lags=int(data["lags"]),
            metric=str(data.get("metric", "rank_ic_difference")),
            criteria=dict(data.get("criteria", {})),
            **{k: _float(data.get(k)) for k in floats},
        )


def _frame(oos: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in GATE_COLUMNS if c not in oos.columns]
    if missing:
        raise DataError(
            f"the out-of-sample frame lacks column(s) {', '.join(missing)}",
            remedy="pass one row per out-of-sample prediction with date, label, score and baseline_score",
            field=missing[0],
            file=_WHERE,
        )
    frame = oos.select(GATE_COLUMNS).drop_nulls()
    if frame.height == 0:
        raise DataError(
            "the out-of-sample frame has no complete rows", remedy="pass predictions", file=_WHERE
        )
    return frame


LedgerP = Iterable[float | None] | pl.Series | pl.DataFrame | None
"""The ledger family: raw p-values, or a ledger frame with a ``p_value`` column."""


def _family(ledger_p: LedgerP) -> np.ndarray[Any, np.dtype[np.float64]]:
    if ledger_p is None:
        return np.empty(0)
    if isinstance(ledger_p, pl.DataFrame):
        if "p_value" not in ledger_p.columns:
            raise DataError(
                "the ledger frame has no p_value column",
                remedy="pass earnest.lab.ledger.adjusted_p(store, question) or a list of p-values",
                field="ledger_p",
                file=_WHERE,
            )
        ledger_p = ledger_p.get_column("p_value")
    values = ledger_p.to_list() if isinstance(ledger_p, pl.Series) else list(ledger_p)
    arr = np.asarray([math.nan if v is None else float(v) for v in values], dtype=np.float64)
    return arr[np.isfinite(arr)]


def _adjust(p: float, family: np.ndarray[Any, np.dtype[np.float64]]) -> tuple[float, int]:
    """BH-adjusted ``p`` within ``family`` + ``p``, and the family size counting ``p``."""
    if not math.isfinite(p):
        return math.nan, int(family.size) + 1
    adjusted = benjamini_hochberg(np.append(family, p))
    return float(adjusted[-1]), int(family.size) + 1


def _criteria(
    *, n_dates: int, min_dates: int, effect: float, rank_ic: float, p_adjusted: float, alpha: float
) -> dict[str, dict[str, Any]]:
    return {
        "min_dates": {"passed": n_dates >= min_dates, "observed": n_dates, "required": min_dates},
        "beats_baseline": {"passed": effect > 0, "observed": _clean(effect), "required": "> 0"},
        "own_rank_ic": {"passed": rank_ic > 0, "observed": _clean(rank_ic), "required": "> 0"},
        "significance": {
            "passed": p_adjusted < alpha,
            "observed": _clean(p_adjusted),
            "required": f"< {alpha}",
        },
    }


def _reasons(result: Mapping[str, Any], criteria: Mapping[str, Mapping[str, Any]]) -> tuple[str, ...]:
    text = {
        "min_dates": (
            f"only {result['n_dates']} dates with a defined rank IC, {result['min_dates']} needed: "
            "score more out-of-sample dates"
        ),
        "beats_baseline": (
            f"mean per-date rank IC does not beat the baseline's (difference {result['effect']:.4f})"
        ),
        "own_rank_ic": f"the model's own mean rank IC is not positive ({result['rank_ic']:.4f})",
        "significance": (
            f"not significant after multiple testing: BH-adjusted p {result['p_adjusted']:.4g} >= alpha "
            f"{result['alpha']} (raw one-sided p {result['p']:.4g}, {result['n_trials']} tests in the family)"
        ),
    }
    failed = tuple(text[name] for name, c in criteria.items() if not c["passed"])
    if failed:
        return failed
    return (
        f"beats the baseline by {result['effect']:.4f} rank IC per date over {result['n_dates']} dates, "
        f"BH-adjusted p {result['p_adjusted']:.4g} < {result['alpha']} across {result['n_trials']} tests",
    )


def _one_sided_p(nw: NeweyWestMean) -> float:
    """P(Z > t) for "mean > 0"; a constant difference has no variance: 0 if positive, else 1."""
    if math.isfinite(nw.t_stat):
        return float(sps.norm.sf(nw.t_stat))
    if nw.n < 2:
        return math.nan
    return 0.0 if nw.mean > 0 else 1.0


def promotion_gate(
    oos: pl.DataFrame,
    *,
    ledger_p: LedgerP = None,
    alpha: float = 0.05,
    min_dates: int = 20,
    lags: int | None = None,
) -> GateResult:
    """Decide whether the model whose out-of-sample rows are ``oos`` may be promoted.

    ``oos`` has one row per out-of-sample prediction with columns :data:`GATE_COLUMNS` (rows with a
    null are dropped). ``ledger_p`` holds the raw p-values of the research question's other trials
    (None or NaN entries are ignored), or is the ledger frame itself
    (:func:`earnest.lab.ledger.adjusted_p`; its raw ``p_value`` column is used); the gate's own p-value is added to them before the
    Benjamini-Hochberg adjustment. ``lags`` are the Newey-West lags (default: the Newey-West rule
    for the number of dates; pass at least ``horizon - 1`` for labels spanning ``horizon`` dates).
    See the module docstring for the criteria.
    """
    if not 0.0 < alpha < 1.0:
        raise DataError(f"alpha must lie in (0, 1), got {alpha}", remedy="pass e.g. 0.05", field="alpha")
    if min_dates < 2:
        raise DataError(f"min_dates must be >= 2, got {min_dates}", remedy="pass e.g. 20", field="min_dates")
    frame = _frame(oos)
    label, dates = frame["label"], frame["date"]
    model = ic_by_date(label, frame["score"], dates, method="spearman")
    base = ic_by_date(label, frame["baseline_score"], dates, method="spearman")
    both = model.join(base, on="date", suffix="_base").filter(
        pl.col("ic").is_not_nan() & pl.col("ic_base").is_not_nan()
    )
    diff = (both["ic"] - both["ic_base"]).to_numpy()
    nw_diff = newey_west_mean(diff, lags=lags)
    nw_ic = newey_west_mean(both["ic"].to_numpy(), lags=lags)
    p = _one_sided_p(nw_diff)
    p_adjusted, n_trials = _adjust(p, _family(ledger_p))
    figures: dict[str, Any] = {
        "p": p,
        "p_adjusted": p_adjusted,
        "n_trials": n_trials,
        "effect": nw_diff.mean,
        "rank_ic": nw_ic.mean,
        "n_dates": both.height,
        "min_dates": min_dates,
        "alpha": alpha,
    }
    criteria = _criteria(
        n_dates=both.height,
        min_dates=min_dates,
        effect=nw_diff.mean,
        rank_ic=nw_ic.mean,
        p_adjusted=p_adjusted if math.isfinite(p_adjusted) else 1.0,
        alpha=alpha,
    )
    return GateResult(
        passed=all(c["passed"] for c in criteria.values()),
        reasons=_reasons(figures, criteria),
        p=p,
        p_adjusted=p_adjusted,
        n_trials=n_trials,
        effect=nw_diff.mean,
        t_stat=nw_diff.t_stat,
        rank_ic=nw_ic.mean,
        rank_ic_t=nw_ic.t_stat,
        baseline_rank_ic=float(np.mean(both["ic_base"].to_numpy())) if both.height else math.nan,
        n_dates=both.height,
        lags=nw_diff.lags,
        alpha=alpha,
        criteria=criteria,
    )
