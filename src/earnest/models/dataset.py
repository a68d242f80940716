"""The training set: one row per event a hypothesis selects, with features known at its knowledge
time, the label over the horizon and the realised net return.

:func:`build_dataset` is pure (frames in, :class:`TrainingSet` out). It takes the lab's
:class:`~earnest.lab.samples.StudyData` whose ``events`` already carry the feature columns, each
computed as known at the event's knowledge time (the workflow adds them with
:func:`earnest.workflows.lab.with_feature_fields`, the lab's point-in-time feature path: there is no
second feature implementation here). Selection, entry and costs are the lab's own:

- the events are :func:`earnest.lab.samples.select_events` of the hypothesis;
- the entry is the hypothesis's ``[entry]`` (``lag_sessions``-th tradable session after the knowledge
  time, at its open or close) and the holding period is ``horizon`` sessions
  (:func:`earnest.lab.windows.event_windows`);
- ``net_return`` is the compounded return from the entry fill over the horizon minus the
  hypothesis's round-trip cost (:func:`earnest.lab.samples.outcome_values`, outcome ``raw``);
- the label is ``win`` (``net_return > 0``, as 1.0/0.0), ``fwd_return`` (``net_return``) or
  ``abnormal`` (the net abnormal return against the hypothesis's benchmark model).

Columns of :attr:`TrainingSet.frame`, sorted by ``entry_date``, ``knowledge_time``, ``symbol``:
the event keys present (``event_id``, ``symbol``, ``period_end``, ``period_kind``,
``consolidated``, ``version``), ``knowledge_time``, ``entry_date`` (the entry session: the date
used for splitting, per-date metrics and purging), ``span_end`` (the session whose close completes
the label: entry + horizon - 1 sessions for an open entry, + horizon for a close entry), each
feature (Float64, nulls kept), ``label`` and ``net_return``.

Events whose entry auction was at the upper band (a buyer could not be filled) are left out, as in
the lab; events whose label is null (no entry bar, a missing bar in the holding period, the horizon
past the data) are dropped. Both are counted in :attr:`TrainingSet.counts`, never silently.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from earnest.core.errors import DataError
from earnest.core.receipt import frame_hash
from earnest.features import default_registry
from earnest.lab.samples import StudyData, outcome_values, select_events
from earnest.lab.spec import Hypothesis
from earnest.lab.windows import EventWindows, WindowSpec, event_windows, market_adjusted, market_model
from earnest.labels.barriers import triple_barrier
from earnest.models.config import Dataset

__all__ = [
    "EVENT_KEYS",
    "DatasetCounts",
    "TrainingSet",
    "build_dataset",
    "check_feature_names",
    "registered_outputs",
]

EVENT_KEYS: tuple[str, ...] = ("event_id", "symbol", "period_end", "period_kind", "consolidated", "version")
"""Event columns carried into the training set when present (with ``knowledge_time``)."""

_WHERE = "earnest.models.dataset"


@dataclass(frozen=True)
class DatasetCounts:
    """What each step kept: events the hypothesis selects, entries blocked at the upper band, rows
    dropped for a null label, and the rows of the training set."""

    selected: int
    entry_blocked: int
    null_label: int
    rows: int


@dataclass(frozen=True)
class TrainingSet:
    """The rows a model trains and is validated on (see the module docstring for the columns)."""

    frame: pl.DataFrame
    features: tuple[str, ...]
    label: str
    horizon: int
    counts: DatasetCounts
    data_hash: str

    @property
    def n(self) -> int:
        """Number of rows."""
        return self.frame.height

    def x(self) -> npt.NDArray[np.float64]:
        """The feature matrix (rows x features), nulls as NaN."""
        return (
            self.frame.select(pl.col(f).cast(pl.Float64) for f in self.features).to_numpy().astype(np.float64)
        )

    def y(self) -> npt.NDArray[np.float64]:
        """The label vector."""
        return self.frame.get_column("label").to_numpy().astype(np.float64)

    def spec(self) -> dict[str, Any]:
        """The dataset's definition as JSON-ready data (features, label, horizon)."""
        return {"features": list(self.features), "label": self.label, "horizon": self.horizon}


def registered_outputs() -> set[str]:
    """Every output name of the registered features (what ``earnest features list`` shows)."""
    return {out for spec in default_registry().specs for out in spec.outputs}


def check_feature_names(names: tuple[str, ...], event_columns: list[str]) -> None:
    """Raise :class:`DataError` for a feature that is neither an event field nor a registered output,
    naming ``dataset.features[i]`` and the closest known names."""
    known = registered_outputs() | set(event_columns)
    for i, name in enumerate(names):
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3)
            raise DataError(
                f"unknown feature {name!r}",
                remedy=(f"did you mean {', '.join(close)}? " if close else "")
                + "use a registered feature output (earnest features list) or an event field",
                field=f"dataset.features[{i}]",
            )


def _window_spec(h: Hypothesis, horizon: int) -> WindowSpec:
    return WindowSpec(
        lag_sessions=h.entry.lag_sessions,
        at=h.entry.at,
        estimation_sessions=h.benchmark.estimation_sessions,
        gap_sessions=h.benchmark.gap_sessions,
        event_sessions=horizon,
        min_estimation_sessions=h.benchmark.min_estimation_sessions,
    )


def _modelled(h: Hypothesis, w: EventWindows) -> EventWindows:
    if h.benchmark.model == "market_model":
        return market_model(w)
    if h.benchmark.model == "sector":
        raise DataError(
            "label 'abnormal' with benchmark.model = 'sector' is not supported for training",
            remedy="use benchmark.model = 'market' or 'market_model', or label 'fwd_return'",
            field="hypothesis.benchmark.model",
        )
    return market_adjusted(w)


def _span_end(w: EventWindows, sessions: list[Any], horizon: int, at: str) -> pl.Series:
    """The session whose close completes each event's label (null past the calendar)."""
    days = np.asarray(sessions, dtype="datetime64[D]")
    last = np.asarray(w.event_day, dtype=np.int64) + horizon - 1 + (1 if at == "close" else 0)
    inside = (np.asarray(w.event_day) >= 0) & (last < days.size)
    ends = np.where(inside, days[np.clip(last, 0, days.size - 1)], np.datetime64("NaT"))
    return pl.Series("span_end", ends).cast(pl.Date)


def _barrier_labels(h: Hypothesis, data: StudyData, events: pl.DataFrame, horizon: int) -> npt.NDArray[Any]:
    """1.0 where the upper barrier is touched first, 0.0 for the lower or the vertical barrier, NaN
    without a label (:func:`earnest.labels.barriers.triple_barrier`, the lab's entry rule)."""
    signals = events.select("symbol", "knowledge_time")
    got = triple_barrier(
        data.bars,
        signals,
        horizon=horizon,
        lag=h.entry.lag_sessions - 1,
        fill=h.entry.at,
        calendar=data.calendar,
    )
    tb = got.get_column(next(c for c in got.columns if c.startswith("tb_label_")))
    return np.asarray((tb == 1).cast(pl.Float64).to_numpy(), dtype=np.float64)


def _labels(
    h: Hypothesis, w: EventWindows, spec: Dataset, data: StudyData, events: pl.DataFrame
) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    net = np.asarray(outcome_values(h, w, horizon=spec.horizon, outcome="raw"), dtype=np.float64)
    if spec.label == "win":
        label = np.where(np.isnan(net), np.nan, (net > 0).astype(np.float64))
    elif spec.label == "upper_circuit":
        label = np.asarray(
            outcome_values(h, w, horizon=spec.horizon, outcome="upper_circuit"), dtype=np.float64
        )
    elif spec.label == "triple_barrier":
        label = _barrier_labels(h, data, events, spec.horizon)
    elif spec.label == "fwd_return":
        label = net
    else:
        modelled = _modelled(h, w)
        label = np.asarray(outcome_values(h, modelled, horizon=spec.horizon, outcome="abnormal"))
    return label, net


def _feature_columns(events: pl.DataFrame, features: tuple[str, ...]) -> list[pl.Series]:
    out = []
    for i, name in enumerate(features):
        if name not in events.columns:
            raise DataError(
                f"the events carry no column {name!r}",
                remedy="add the feature with with_feature_fields(..., extra=features) before building",
                field=f"dataset.features[{i}]",
                file=_WHERE,
            )
        col = events.get_column(name)
        if not (col.dtype.is_numeric() or col.dtype in (pl.Boolean, pl.Null)):
            raise DataError(
                f"feature {name!r} is {col.dtype}, not a number",
                remedy="use numeric features (booleans count as 0/1)",
                field=f"dataset.features[{i}]",
                file=_WHERE,
            )
        out.append(col.cast(pl.Float64).alias(name))
    return out


def build_dataset(h: Hypothesis, data: StudyData, spec: Dataset) -> TrainingSet:
    """One row per event ``h`` selects from ``data.events`` (which must carry ``spec.features``), with
    the label over ``spec.horizon`` sessions from the lab's entry, net of the lab's costs."""
    scope, chosen = select_events(h, data.events)
    features = _feature_columns(chosen, spec.features)  # checked before the windows' work
    w = event_windows(
        chosen,
        data.bars,
        data.index_bars,
        spec=_window_spec(h, spec.horizon),
        calendar=data.calendar,
        exclude_from_estimation=scope,
    )
    label, net = _labels(h, w, spec, data, chosen)
    blocked = np.zeros(w.n, dtype=bool) if w.entry_blocked is None else np.asarray(w.entry_blocked, bool)
    keys = [k for k in EVENT_KEYS if k in chosen.columns]
    frame = pl.DataFrame(
        [
            *(chosen.get_column(k) for k in keys),
            chosen.get_column("knowledge_time"),
            pl.Series("entry_date", np.asarray(w.entry_date, dtype="datetime64[D]")).cast(pl.Date),
            _span_end(w, data.calendar.sessions, spec.horizon, h.entry.at),
            *features,
            pl.Series("label", label, dtype=pl.Float64).fill_nan(None),
            pl.Series("net_return", net, dtype=pl.Float64).fill_nan(None),
            pl.Series("_blocked", blocked),
        ]
    )
    tradable = frame.filter(~pl.col("_blocked")).drop("_blocked")
    usable = tradable.filter(
        pl.col("label").is_not_null() & pl.col("entry_date").is_not_null() & pl.col("span_end").is_not_null()
    )
    usable = usable.sort("entry_date", "knowledge_time", "symbol", maintain_order=True)
    counts = DatasetCounts(
        selected=chosen.height,
        entry_blocked=int(blocked.sum()),
        null_label=tradable.height - usable.height,
        rows=usable.height,
    )
    return TrainingSet(
        frame=usable,
        features=spec.features,
        label=spec.label,
        horizon=spec.horizon,
        counts=counts,
        data_hash=frame_hash(usable),
    )
