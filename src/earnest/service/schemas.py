"""The service's request and response bodies (DTOs), separate from the frames inside earnest.

Request models forbid unknown fields and check shapes (symbol and ISIN patterns, as-of date range,
batch size), so bad input gets a 422 naming each field before any work is done.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

MAX_BATCH_ROWS = 5000
"""The most rows one ``POST /v1/predict/batch`` may carry."""

_EARLIEST = dt.date(1990, 1, 1)
_LATEST = dt.date(2100, 12, 31)

_SYMBOL_PATTERN = r"^[A-Za-z0-9&._-]{1,32}$"
_ISIN_PATTERN = r"^[A-Za-z]{2}[A-Za-z0-9]{9}[0-9]$"
_SYMBOL_SCHEMA = {
    "type": "string",
    "pattern": _SYMBOL_PATTERN,
    "description": "NSE trading symbol, e.g. INFY or M&M",
}
_ISIN_SCHEMA = {"type": "string", "pattern": _ISIN_PATTERN, "description": "12-character ISIN"}
Symbol = Annotated[str, Field(pattern=_SYMBOL_PATTERN)]
Isin = Annotated[str, Field(pattern=_ISIN_PATTERN)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PredictRequest(_Request):
    """One prediction: an instrument (``symbol`` or ``isin``, exactly one) as of a date. The
    features are the values known at the end of ``as_of`` (IST)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"oneOf": [{"required": ["symbol"]}, {"required": ["isin"]}]},
    )

    # nullable for validation; the schema documents strings only (``oneOf`` above says which one)
    symbol: Annotated[Symbol | None, WithJsonSchema(_SYMBOL_SCHEMA)] = None
    isin: Annotated[Isin | None, WithJsonSchema(_ISIN_SCHEMA)] = None
    as_of: dt.date = Field(
        description="the as-of date (YYYY-MM-DD, 1990 to 2100); values known by its end, IST"
    )

    @model_validator(mode="after")
    def _one_name(self) -> PredictRequest:
        if (self.symbol is None) == (self.isin is None):
            raise ValueError("give exactly one of symbol and isin")
        if not _EARLIEST <= self.as_of <= _LATEST:
            raise ValueError(f"as_of must be between {_EARLIEST} and {_LATEST}")
        return self


class BatchRequest(_Request):
    """Up to :data:`MAX_BATCH_ROWS` predictions scored by the same model."""

    rows: list[PredictRequest] = Field(min_length=1, max_length=MAX_BATCH_ROWS)


class ModelRef(BaseModel):
    """Which model made a prediction."""

    name: str
    version: str


class ReceiptOut(BaseModel):
    """Where a prediction came from: a hash of the feature values it used (``data_hash``), a hash
    of the model and request (``config_hash``), the code version, the seed, when it was made."""

    data_hash: str
    config_hash: str
    code_version: str
    seed: int
    created_at: str


class Prediction(BaseModel):
    """A score for an instrument as of a date, with the feature values it used. ``score`` is null
    when a feature was unknown at the as-of instant (``missing`` names them)."""

    symbol: str
    isin: str | None
    instrument_id: str
    as_of: dt.date
    score: float | None
    kind: Literal["probability", "score"]
    features: dict[str, float | None]
    missing: list[str]


class PredictResponse(Prediction):
    """``POST /v1/predict``: one prediction, its model and receipt."""

    model: ModelRef
    receipt: ReceiptOut


class BatchItem(BaseModel):
    """One row of a batch: the prediction, or ``error`` (e.g. an unknown symbol) without failing
    the other rows."""

    index: int
    prediction: Prediction | None = None
    error: str | None = None


class BatchResponse(BaseModel):
    """``POST /v1/predict/batch``: one item per request row, in order."""

    model: ModelRef
    receipt: ReceiptOut
    items: list[BatchItem]


class Signal(BaseModel):
    """One stored signal: a model's score for a symbol on a date."""

    date: dt.date
    symbol: str
    isin: str | None
    model_name: str
    model_version: str
    score: float | None
    features: dict[str, Any]
    receipt: dict[str, Any]


class SignalsResponse(BaseModel):
    """``GET /v1/signals``: the day's scored universe (null date: no signals are stored)."""

    date: dt.date | None
    model_name: str | None
    count: int
    signals: list[Signal]


class AlertOut(BaseModel):
    """An alert of the outbox (:mod:`earnest.alerts`): a model's signal for a symbol on a date."""

    alert_id: str
    model_name: str
    model_version: str
    symbol: str
    signal_date: dt.date
    event_id: str
    signal: str
    probability: float | None
    knowledge_time: dt.datetime
    created_at: dt.datetime


class AlertsResponse(BaseModel):
    """``GET /v1/alerts``: the alerts of the latest (or given) signal date; null date: none stored."""

    date: dt.date | None
    count: int
    alerts: list[AlertOut]


class ExpectationOut(BaseModel):
    """What the model's out-of-sample (walk-forward) record expects of one alert at its own horizon:
    mean and standard deviation of the raw return net of costs, and the win rate (share > 0)."""

    mean: float | None
    sd: float | None
    win_rate: float | None


class ExpectationSourceOut(BaseModel):
    """Where the expectation comes from: the served model's version, its label horizon (the only
    horizon the expectation applies to), which OOS rows were taken, how many OOS predictions exist."""

    model_name: str
    model_version: str
    horizon: int
    rule: str
    n_oos: int


class HorizonPerformance(BaseModel):
    """Live results of the sent alerts at one horizon next to the expectation (``earnest.alerts.outcomes``).

    ``n`` outcomes, ``wins`` of them > 0; ``win_rate`` with its Clopper-Pearson interval
    ``win_rate_ci``; ``mean`` return with its t interval ``mean_ci`` (needs n >= 2) and ``sd``; at
    level ``alpha``. ``expectation`` is null where it does not apply (``expectation_note`` says
    why; empty when it applies). ``expected_mean_range``: where the live mean of n draws from the
    expectation falls with probability 1 - alpha; ``win_rate_p``: exact binomial test of the live
    wins against the expected win rate. ``mean_outside`` / ``win_rate_outside`` (null without an
    expectation or outcomes) and ``flagged`` (either is true) say the live results fall outside
    it. ``benchmarks`` counts outcomes per benchmark (``NIFTY 50`` or the ``EQUAL_WEIGHT`` stand-in).
    Nulls stand for values that cannot be computed (no outcomes yet)."""

    horizon: int
    measure: Literal["raw", "excess"]
    n: int
    wins: int
    win_rate: float | None
    win_rate_ci: list[float | None]
    mean: float | None
    mean_ci: list[float | None]
    sd: float | None
    alpha: float
    expectation: ExpectationOut | None
    expectation_note: str
    expected_mean_range: list[float] | None
    win_rate_p: float | None
    mean_outside: bool | None
    win_rate_outside: bool | None
    flagged: bool
    benchmarks: dict[str, int]


class PerformanceResponse(BaseModel):
    """``GET /v1/alerts/performance``: live performance of the sent alerts (of ``model_name``, or
    all), one entry per horizon, and the source of the expectation (null when the served model
    has no out-of-sample record)."""

    model_name: str | None
    measure: Literal["raw", "excess"]
    expectation_source: ExpectationSourceOut | None
    horizons: list[HorizonPerformance]


class SwapOut(BaseModel):
    """A model change the running service made."""

    at: dt.datetime
    from_version: str | None
    to_version: str | None


class ModelInfo(BaseModel):
    """The model being served."""

    name: str
    version: str
    kind: Literal["probability", "score"]
    features: list[str]
    feature_version: str
    lineage: dict[str, Any]


class ModelsResponse(BaseModel):
    """``GET /v1/models``: the served model (null when none is loaded) and this process's swaps."""

    serving: ModelInfo | None
    last_error: str | None
    swaps: list[SwapOut]


class Check(BaseModel):
    ok: bool
    detail: str


class ReadyResponse(BaseModel):
    """``GET /readyz``: ready when every check is ok (store reachable, model loaded, data fresh)."""

    ready: bool
    checks: dict[str, Check]


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ErrorResponse(BaseModel):
    """An error: what went wrong and what to do. Never a stack trace."""

    error: str
    remedy: str = ""
    field: str | None = None


class FieldError(BaseModel):
    field: str
    message: str


class ValidationErrorResponse(BaseModel):
    """422: every invalid field, as a dotted path (``body.rows.3.symbol``) and a message."""

    error: str
    fields: list[FieldError]


__all__ = [
    "MAX_BATCH_ROWS",
    "AlertOut",
    "AlertsResponse",
    "BatchItem",
    "BatchRequest",
    "BatchResponse",
    "Check",
    "ErrorResponse",
    "ExpectationOut",
    "ExpectationSourceOut",
    "FieldError",
    "HealthResponse",
    "HorizonPerformance",
    "ModelInfo",
    "ModelRef",
    "ModelsResponse",
    "PerformanceResponse",
    "PredictRequest",
    "PredictResponse",
    "Prediction",
    "ReadyResponse",
    "ReceiptOut",
    "Signal",
    "SignalsResponse",
    "SwapOut",
    "ValidationErrorResponse",
]
