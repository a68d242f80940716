"""What the live alerts should be compared with, and the report that compares them.

The expectation is the served model's own out-of-sample (walk-forward) record: among its OOS rows
the ones it would have alerted on (score at or above the alert threshold, or each entry date's top
share), their mean net return, its standard deviation and the win rate (:func:`expectation_from_oos`).
It is the record at the model's label horizon, so it applies only to live outcomes at that horizon
and in the raw measure (:func:`alerts_report` says so where it does not apply).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import polars as pl

from earnest.alerts.outcomes import HORIZONS, Expectation, performance
from earnest.core.errors import ConfigError, DataError
from earnest.store.base import Store

# --------------------------------------------------------------------------- the backtest's expectation

OOS_COLUMNS = ("entry_date", "score", "net_return")
"""The columns of a model's out-of-sample predictions :func:`expectation_from_oos` reads."""

_HORIZON_IN_LABEL = re.compile(r"_(\d+)(?:s_at_|d_lag|d$|s$)")


def expectation_from_oos(
    oos: pl.DataFrame, *, threshold: float | None = None, top_fraction: float | None = None
) -> Expectation:
    """What a model's walk-forward (out-of-sample) record expects of one of its alerts.

    The rows the model would have alerted on are those with ``score >= threshold``, or the
    ``ceil(top_fraction * n)`` highest-scored of each ``entry_date`` (ties in row order, as the
    training strategy picks them; give exactly one rule). Over them: the mean and standard
    deviation (ddof 1) of ``net_return`` and the win rate (share > 0). ``net_return`` is the raw
    return from the entry fill over the model's own label horizon, net of the training run's
    round-trip costs: the expectation applies to the live ``raw`` outcome at that same horizon only
    (live outcomes are gross of costs, so they beat it by about one round-trip cost on average).
    ``sd`` is None with fewer than two rows or no spread; ``win_rate`` is None when every row won
    or none did (no binomial test against a certainty)."""
    missing = [c for c in OOS_COLUMNS if c not in oos.columns]
    if missing:
        raise DataError(
            f"the out-of-sample predictions lack {', '.join(missing)}",
            remedy="pass the frame Registry.oos returns (entry_date, score, net_return, ...)",
            field=missing[0],
        )
    if (threshold is None) == (top_fraction is None):
        raise ConfigError("give exactly one of threshold and top_fraction", field="threshold")
    if top_fraction is not None and not 0.0 < top_fraction <= 1.0:
        raise ConfigError(f"top_fraction must be in (0, 1], got {top_fraction}", field="top_fraction")
    rows = oos.select(
        "entry_date", pl.col("score").cast(pl.Float64), pl.col("net_return").cast(pl.Float64)
    ).filter(pl.col("score").is_not_null() & pl.col("score").is_not_nan())
    if threshold is not None:
        picked = rows.filter(pl.col("score") >= threshold)
    else:
        rank = pl.col("score").rank("ordinal", descending=True).over("entry_date")
        picked = rows.filter(rank <= (pl.len().over("entry_date") * top_fraction).ceil())
    values = picked.get_column("net_return").drop_nulls().drop_nans()
    if values.is_empty():
        rule = f"score >= {threshold}" if threshold is not None else f"top {top_fraction} per date"
        raise DataError(
            f"no out-of-sample prediction with a net return is selected by {rule} ({oos.height} rows)",
            remedy="check the model's registered OOS predictions, or loosen the rule",
            field="oos",
        )
    n = values.len()
    mean = float(values.mean())  # type: ignore[arg-type]
    sd = float(values.std(ddof=1)) if n >= 2 else 0.0  # type: ignore[arg-type]
    win = float((values > 0).mean())  # type: ignore[arg-type]
    return Expectation(mean=mean, sd=sd if sd > 0 else None, win_rate=win if 0.0 < win < 1.0 else None)


def label_horizon(label_spec: str) -> int | None:
    """The horizon in sessions a model's label spec names (``win_5s_at_open`` -> 5,
    ``fwd_ret_3d_lag1`` -> 3), or None when it names none."""
    found = _HORIZON_IN_LABEL.search(label_spec)
    return int(found.group(1)) if found else None


@dataclass(frozen=True)
class ModelExpectation:
    """A model's out-of-sample expectation (:func:`expectation_from_oos`) and where it applies: the
    live ``raw`` outcomes at ``horizon`` sessions (the model's label horizon) of alerts of
    ``model_name``. ``rule`` says which OOS rows were taken, ``n_oos`` how many predictions there were."""

    model_name: str
    model_version: str
    horizon: int
    expectation: Expectation
    rule: str
    n_oos: int

    @classmethod
    def from_oos(
        cls,
        oos: pl.DataFrame,
        *,
        model_name: str,
        model_version: str,
        label_spec: str,
        threshold: float | None = None,
        top_fraction: float | None = None,
    ) -> ModelExpectation | None:
        """The expectation of ``oos`` at the horizon of ``label_spec`` (None when it names none)."""
        horizon = label_horizon(label_spec)
        if horizon is None:
            return None
        exp = expectation_from_oos(oos, threshold=threshold, top_fraction=top_fraction)
        rule = f"score >= {threshold}" if threshold is not None else f"top {top_fraction} of each entry date"
        return cls(model_name, model_version, horizon, exp, rule, oos.height)


ExpectationProvider = Callable[[], ModelExpectation | None]
"""Gives the expectation to compare with (called once per report), or None when there is none."""


class OosRegistry(Protocol):
    """What :func:`registry_expectation` needs of :class:`earnest.models.registry.Registry`."""

    def show(self, name: str, version: int | None = None, alias: str | None = None) -> Any: ...
    def oos(self, name: str, version: int | None = None, alias: str | None = None) -> pl.DataFrame | None: ...


def registry_expectation(
    registry: OosRegistry,
    name: str,
    *,
    alias: str = "production",
    threshold: float | None = None,
    top_fraction: float | None = None,
) -> ModelExpectation | None:
    """:meth:`ModelExpectation.from_oos` of the version of ``name`` carrying ``alias``, from its
    registered OOS predictions and lineage; None when it has no OOS predictions or its label spec
    names no horizon."""
    info = registry.show(name, alias=alias)
    oos = registry.oos(name, version=int(info.version))
    if oos is None or oos.is_empty():
        return None
    return ModelExpectation.from_oos(
        oos,
        model_name=name,
        model_version=str(info.version),
        label_spec=str(info.lineage.label_spec),
        threshold=threshold,
        top_fraction=top_fraction,
    )


def _note(got: ModelExpectation | None, horizon: int, measure: str, model_name: str | None) -> str:
    """Why the expectation applies at this horizon, or why it does not (empty: it applies)."""
    if got is None:
        return "no out-of-sample expectation is available for the model"
    if model_name is not None and model_name != got.model_name:
        return f"the expectation is model {got.model_name!r}'s, not {model_name!r}'s"
    if measure != "raw":
        return "the out-of-sample expectation is a raw return net of costs: compare measure=raw"
    if horizon != got.horizon:
        return f"the model's out-of-sample record is at horizon {got.horizon} only"
    return ""


def alerts_report(
    store: Store,
    *,
    expectation: ExpectationProvider | ModelExpectation | None = None,
    model_name: str | None = None,
    horizons: Sequence[int] = HORIZONS,
    measure: str = "raw",
    alpha: float = 0.05,
) -> list[dict[str, Any]]:
    """Live performance of the sent alerts (of ``model_name``, or all) at each of ``horizons``,
    JSON-ready (:meth:`Performance.to_dict`), next to the model's out-of-sample expectation where it
    applies (measure ``raw`` at the model's own horizon, for that model's alerts or all alerts). Each
    dict adds ``expectation_note`` (empty when the expectation applies, else why not; then
    ``expectation`` is null) and ``expectation_source`` (model, version, horizon, rule, n_oos, or
    null). Reads only: run :func:`fill_outcomes` first. ``earnest alerts report`` and
    ``GET /v1/alerts/performance`` both print this."""
    got = expectation() if callable(expectation) else expectation
    source = None
    if got is not None:
        source = {"model_name": got.model_name, "model_version": got.model_version,
                  "horizon": got.horizon, "rule": got.rule, "n_oos": got.n_oos}  # fmt: skip
    out = []
    for h in sorted(set(horizons)):
        note = _note(got, h, measure, model_name)
        applied = got.expectation if got is not None and not note else Expectation()
        perf = performance(
            store, expectation=applied, horizon=h, measure=measure, alpha=alpha, model_name=model_name
        )
        row = perf.to_dict()
        row["expectation"] = None if note else row["expectation"]
        row["expectation_note"] = note
        row["expectation_source"] = source
        out.append(row)
    return out


__all__ = [
    "OOS_COLUMNS",
    "ExpectationProvider",
    "ModelExpectation",
    "OosRegistry",
    "alerts_report",
    "expectation_from_oos",
    "label_horizon",
    "registry_expectation",
]
