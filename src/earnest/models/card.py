"""What a registered model is and where it came from: :class:`Lineage`, :class:`ModelCard` and the
records the registry hands back (:class:`RegisteredModel`, :class:`ModelInfo`, :class:`LoadedModel`).

:class:`Lineage` is the model's receipt (data snapshot hash, features with their versions, label
spec, config hash, code version, seed, training window and rows, the research question). It is
stored with every registered model version, as tags and as ``lineage.json``, and comes back intact
from :meth:`earnest.models.registry.Registry.show` and ``load``.

:class:`ModelCard` is the human-readable summary: intended use, data window, features, label, the
out-of-sample metrics next to the baselines', the promotion gate's result, caveats and lineage.
:meth:`ModelCard.to_markdown` renders it; the registry stores it as ``MODEL_CARD.md``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from earnest.core.errors import DataError
from earnest.core.receipt import Receipt
from earnest.models.estimators import score
from earnest.models.gate import GateResult

__all__ = ["Lineage", "LoadedModel", "ModelCard", "ModelInfo", "RegisteredModel", "metrics_from_table"]

_WHERE_LOADED = "earnest.models.registry"


def _date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise DataError(
            f"not an ISO date: {value!r}", remedy="pass YYYY-MM-DD", field="train window"
        ) from exc


@dataclass(frozen=True)
class Lineage:
    """Where a model came from, enough to rebuild it.

    ``data_hash`` is the hash of the training data snapshot (e.g. :func:`earnest.core.receipt.frame_hash`);
    ``features`` maps each feature name, in the model's column order, to its version; ``label_spec``
    names the label (``fwd_ret_3d_lag1``, or a triple-barrier spec); ``config_hash`` hashes the
    training configuration; ``code_version`` is :func:`earnest.core.receipt.code_version`; ``seed``
    seeds every random source. ``train_start`` / ``train_end`` bound the training window (inclusive),
    ``n_rows`` counts training rows and ``hypothesis`` names the research question, if any.
    """

    data_hash: str
    features: Mapping[str, str]
    label_spec: str
    config_hash: str
    code_version: str
    seed: int
    train_start: dt.date | None = None
    train_end: dt.date | None = None
    n_rows: int = 0
    hypothesis: str | None = None

    def __post_init__(self) -> None:
        if not self.features:
            raise DataError("a model's lineage needs at least one feature", field="features")
        if self.n_rows < 0:
            raise DataError(f"n_rows must be >= 0, got {self.n_rows}", field="n_rows")
        if self.train_start and self.train_end and self.train_start > self.train_end:
            raise DataError(
                f"train window starts {self.train_start} after it ends {self.train_end}",
                remedy="swap the dates",
                field="train_start",
            )

    @property
    def feature_names(self) -> list[str]:
        """The feature names in the model's column order."""
        return list(self.features)

    @classmethod
    def from_receipt(
        cls,
        receipt: Receipt,
        *,
        features: Mapping[str, str],
        label_spec: str,
        train_start: dt.date | None = None,
        train_end: dt.date | None = None,
        n_rows: int = 0,
        hypothesis: str | None = None,
    ) -> Lineage:
        """A lineage taking data hash, config hash, code version and seed from ``receipt``."""
        return cls(
            data_hash=receipt.data_hash,
            features=dict(features),
            label_spec=label_spec,
            config_hash=receipt.config_hash,
            code_version=receipt.code_version,
            seed=receipt.seed,
            train_start=train_start,
            train_end=train_end,
            n_rows=n_rows,
            hypothesis=hypothesis,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (dates as ISO strings, features as an ordered mapping)."""
        return {
            "data_hash": self.data_hash,
            "features": dict(self.features),
            "label_spec": self.label_spec,
            "config_hash": self.config_hash,
            "code_version": self.code_version,
            "seed": self.seed,
            "train_start": self.train_start.isoformat() if self.train_start else None,
            "train_end": self.train_end.isoformat() if self.train_end else None,
            "n_rows": self.n_rows,
            "hypothesis": self.hypothesis,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lineage:
        """The lineage :meth:`to_dict` produced."""
        missing = [
            k
            for k in ("data_hash", "features", "label_spec", "config_hash", "code_version", "seed")
            if k not in data
        ]
        if missing:
            raise DataError(
                f"lineage lacks {', '.join(missing)}", remedy="re-register the model", field=missing[0]
            )
        return cls(
            data_hash=str(data["data_hash"]),
            features={str(k): str(v) for k, v in dict(data["features"]).items()},
            label_spec=str(data["label_spec"]),
            config_hash=str(data["config_hash"]),
            code_version=str(data["code_version"]),
            seed=int(data["seed"]),
            train_start=_date(data.get("train_start")),
            train_end=_date(data.get("train_end")),
            n_rows=int(data.get("n_rows") or 0),
            hypothesis=None if data.get("hypothesis") is None else str(data["hypothesis"]),
        )


def metrics_from_table(
    table: pl.DataFrame, *, model: str = "model"
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Split a :func:`earnest.models.metrics.baseline_table` (one row per ``scorer``) into the
    model's metrics and each baseline's, ready for :class:`ModelCard` (numeric columns only)."""
    if "scorer" not in table.columns:
        raise DataError(
            "the metrics table has no scorer column", remedy="pass baseline_table(...)", field="scorer"
        )
    numeric = [c for c, t in table.schema.items() if t.is_numeric()]
    rows = {
        str(r["scorer"]): {c: float(r[c]) for c in numeric if r[c] is not None}
        for r in table.iter_rows(named=True)
    }
    if model not in rows:
        raise DataError(
            f"the metrics table has no {model!r} row", remedy="name the model's row", field="scorer"
        )
    return rows.pop(model), rows


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.4g}"


@dataclass(frozen=True)
class ModelCard:
    """A model card: what the model is for, on what data, how well it does against the baselines.

    ``oos_metrics`` are the model's out-of-sample metrics; ``baselines`` maps each baseline's name
    (``logistic``, ``prevalence``, ...) to its metrics on the same rows, so the card shows them side
    by side. ``gate`` is the promotion gate's result, if it was run; ``caveats`` are the known limits.
    """

    name: str
    intended_use: str
    lineage: Lineage
    oos_metrics: Mapping[str, float] = field(default_factory=dict)
    baselines: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    gate: GateResult | None = None
    caveats: Sequence[str] = ()
    estimator: str = ""

    def _metrics_table(self) -> list[str]:
        if not self.oos_metrics:
            return ["No out-of-sample metrics were recorded."]
        names = list(self.baselines)
        lines = [
            "| metric | model | " + " | ".join(names) + (" |" if names else "|"),
            "| --- | --- |" + " --- |" * len(names),
        ]
        for metric, value in self.oos_metrics.items():
            cells = [_fmt(self.baselines[b].get(metric)) for b in names]
            lines.append(f"| {metric} | {_fmt(value)} | " + " | ".join(cells) + (" |" if cells else "|"))
        return lines

    def _gate_lines(self) -> list[str]:
        g = self.gate
        if g is None:
            return ["The promotion gate has not been run: this model cannot be promoted yet."]
        lines = [
            f"**{'PASSED' if g.passed else 'FAILED'}** ({g.metric}, alpha {g.alpha}).",
            "",
            f"- mean per-date rank IC difference vs baseline: {_fmt(g.effect)} (Newey-West t {_fmt(g.t_stat)}, "
            f"{g.lags} lags)",
            f"- model rank IC: {_fmt(g.rank_ic)} (t {_fmt(g.rank_ic_t)}); baseline: {_fmt(g.baseline_rank_ic)}",
            f"- one-sided p {_fmt(g.p)}; Benjamini-Hochberg adjusted over {g.n_trials} tests: {_fmt(g.p_adjusted)}",
            f"- dates: {g.n_dates}",
        ]
        lines += [f"- {reason}" for reason in g.reasons]
        return lines

    def to_markdown(self) -> str:
        """The card as Markdown: one section per topic, metrics as a table."""
        lin = self.lineage
        window = f"{lin.train_start or '?'} to {lin.train_end or '?'} ({lin.n_rows} rows)"
        lines = [
            f"# Model card: {self.name}",
            "",
            "## Intended use",
            "",
            self.intended_use,
            "",
            "## Data",
            "",
            f"- training window: {window}",
            f"- label: `{lin.label_spec}`",
            f"- research question: {lin.hypothesis or 'n/a'}",
            f"- estimator: {self.estimator or 'n/a'}",
            "",
            "## Features",
            "",
            *[f"- `{name}` (version {version})" for name, version in lin.features.items()],
            "",
            "## Out-of-sample metrics",
            "",
            *self._metrics_table(),
            "",
            "## Promotion gate",
            "",
            *self._gate_lines(),
            "",
            "## Caveats",
            "",
            *([f"- {c}" for c in self.caveats] or ["- none recorded"]),
            "",
            "## Lineage",
            "",
            f"- data snapshot hash: `{lin.data_hash}`",
            f"- config hash: `{lin.config_hash}`",
            f"- code version: `{lin.code_version}`",
            f"- seed: {lin.seed}",
            "",
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class RegisteredModel:
    """A version just registered: model ``name``, ``version`` number, the MLflow ``run_id`` and
    ``source`` (the model artefact's URI)."""

    name: str
    version: int
    run_id: str
    source: str


@dataclass(frozen=True)
class ModelInfo:
    """Everything the registry knows about one model version (what ``earnest models show`` prints).

    ``aliases`` are those pointing at this version; ``card`` is the ``MODEL_CARD.md`` text; ``gate``
    the latest gate result recorded for the version (at promotion, else at registration), or None;
    ``promoted_by`` / ``promoted_at`` say who moved ``production`` to it and when (UTC, ISO);
    ``tags`` are the run's ``earnest.*`` tags (lineage) and the version's tags (gate, promotion).
    """

    name: str
    version: int
    aliases: tuple[str, ...]
    created: dt.datetime
    run_id: str
    lineage: Lineage
    metrics: Mapping[str, float]
    params: Mapping[str, str]
    card: str
    gate: GateResult | None
    promoted_by: str | None = None
    promoted_at: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        """Feature names in the model's column order."""
        return self.lineage.feature_names


@dataclass(frozen=True)
class LoadedModel:
    """A registered version loaded back: the fitted ``estimator`` with its ``features`` and ``lineage``.

    :meth:`predict_scores` gives exactly what the estimator gave in memory before registration.
    """

    name: str
    version: int
    features: tuple[str, ...]
    lineage: Lineage
    estimator: Any
    run_id: str

    def predict_scores(self, data: pl.DataFrame | npt.ArrayLike) -> npt.NDArray[np.float64]:
        """P(positive) (classifiers) or the prediction (regressors) for each row of ``data``.

        A polars frame must hold every column of :attr:`features` (extra columns are ignored; the
        features are taken in the model's order). An array must be 2-d with the features as its
        columns, in that order. The matrix is made C-contiguous float64 first: BLAS may round a
        Fortran-ordered matrix differently in the last bit, and the scores must not depend on layout.
        """
        if isinstance(data, pl.DataFrame):
            missing = [f for f in self.features if f not in data.columns]
            if missing:
                raise DataError(
                    f"model {self.name} v{self.version} needs feature column(s) {', '.join(missing)}",
                    remedy=f"build the features {', '.join(self.features)} for the rows to score",
                    field=missing[0],
                    file=_WHERE_LOADED,
                )
            matrix = np.ascontiguousarray(data.select(self.features).to_numpy(), dtype=np.float64)
        else:
            matrix = np.ascontiguousarray(data, dtype=np.float64)
            if matrix.ndim != 2 or matrix.shape[1] != len(self.features):
                raise DataError(
                    f"model {self.name} v{self.version} needs a 2-d array with {len(self.features)} "
                    f"columns, got shape {matrix.shape}",
                    remedy=f"pass the columns {', '.join(self.features)} in that order",
                    file=_WHERE_LOADED,
                )
        return np.asarray(score(self.estimator, matrix), dtype=np.float64)
