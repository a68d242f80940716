"""The prediction service: :func:`create_app` builds the FastAPI app, :func:`serve` runs it.

Endpoints (``/v1`` needs an ``X-API-Key``; the probes and ``/metrics`` do not):

- ``POST /v1/predict``: a symbol or ISIN as of a date -> score, feature values, model, receipt;
- ``POST /v1/predict/batch``: up to 5,000 such rows in one request;
- ``GET /v1/signals?date=``: the day's scored universe (table ``signals``);
- ``GET /v1/models``: the served model and this process's swaps;
- ``GET /v1/alerts?date=``: the alerts of a signal date (the alert outbox, :mod:`earnest.alerts`);
- ``GET /v1/alerts/performance?horizon=&measure=&model=``: live win rate and mean return of the sent
  alerts with confidence intervals, next to the served model's out-of-sample expectation, flagged
  when outside it (:func:`earnest.alerts.expectation.alerts_report`; reads only);
- ``GET /healthz`` (the process answers), ``GET /readyz`` (store reachable, model loaded, data
  fresh), ``GET /metrics`` (Prometheus, :mod:`earnest.service.metrics`).

A watcher thread polls the model source, the API keys and the data freshness every
``reload_poll_s`` seconds; a promoted model is swapped in without a restart (:class:`ModelHolder`).
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import math
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
import polars as pl
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST

from earnest.alerts.expectation import ModelExpectation, alerts_report
from earnest.alerts.outcomes import HORIZONS
from earnest.config import ServiceSettings, Settings
from earnest.core.errors import EarnestError
from earnest.core.hashing import sha256_json
from earnest.core.receipt import Receipt, code_version
from earnest.features.registry import Registry
from earnest.service import schemas as dto
from earnest.service.auth import ApiKey, KeyRing
from earnest.service.drift import DriftMonitor
from earnest.service.errors import (
    ModelUnavailableError,
    RateLimitedError,
    TooManyRowsError,
    install_error_handlers,
)
from earnest.service.features import (
    FeatureRow,
    Instrument,
    InstrumentIndex,
    OnlineFeatures,
    newest_bar_known_at,
    training_reference,
)
from earnest.service.metrics import ServiceMetrics, ServiceMiddleware
from earnest.service.models import ModelHolder, ModelSource, ServedModel
from earnest.service.ratelimit import RateLimiter
from earnest.service.signals import latest_alert_date, latest_signal_date, read_alerts, read_signals
from earnest.store.base import Store

log = logging.getLogger(__name__)

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": dto.ErrorResponse, "description": "missing, invalid or revoked API key"},
    404: {"model": dto.ErrorResponse, "description": "unknown symbol or ISIN"},
    413: {"model": dto.ErrorResponse, "description": "request body too large"},
    422: {"model": dto.ValidationErrorResponse, "description": "invalid input, by field"},
    429: {"model": dto.ErrorResponse, "description": "rate limit exceeded (see Retry-After)"},
    503: {"model": dto.ErrorResponse, "description": "no model loaded or store unavailable"},
}


OosProvider = Callable[[ServedModel], pl.DataFrame | None]
"""The out-of-sample predictions registered with a served model (None: it has none)."""

DEFAULT_TOP_FRACTION = 0.2
"""The OOS rows taken as "alerted" when a request names no rule: the top fifth of each entry date,
the training strategy's default (``[validation] top_fraction``)."""


@dataclass
class Runtime:
    """What a served model needs per request: its online features and drift monitor."""

    features: OnlineFeatures
    drift: DriftMonitor


@dataclass
class ServiceState:
    """Everything the endpoints share (one per app)."""

    settings: ServiceSettings
    store: Store
    holder: ModelHolder
    keys: KeyRing
    limiter: RateLimiter
    metrics: ServiceMetrics
    instruments: InstrumentIndex
    newest_bar: dt.datetime | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    oos_provider: OosProvider | None = None
    alert_threshold: float | None = None
    _oos: dict[tuple[str, str], pl.DataFrame | None] = field(default_factory=dict)

    def expectation(self, *, threshold: float | None, top_fraction: float | None) -> ModelExpectation | None:
        """The served model's out-of-sample expectation under the rule (None when no model is
        loaded, it has no OOS predictions or its label names no horizon). The OOS frame is fetched
        once per model version."""
        model = self.holder.model
        if model is None or self.oos_provider is None:
            return None
        try:
            oos = self._served_oos(model, self.oos_provider)
            if oos is None or oos.is_empty():
                return None
            return ModelExpectation.from_oos(
                oos,
                model_name=model.name,
                model_version=model.version,
                label_spec=str(model.lineage.get("label_spec", "")),
                threshold=threshold,
                top_fraction=top_fraction,
            )
        except EarnestError as exc:
            log.warning("no out-of-sample expectation for %s %s: %s", model.name, model.version, exc)
            return None

    def active(self) -> tuple[ServedModel, Runtime]:
        """The (model, runtime) to use for this whole request; 503 when none is loaded."""
        active = self.holder.active
        if active is None:
            raise ModelUnavailableError(
                "no model is loaded",
                remedy=f"promote a version of model {self.settings.model_name!r} in the registry",
            )
        return active[0], active[1]

    def _served_oos(self, model: ServedModel, provider: OosProvider) -> pl.DataFrame | None:
        """``model``'s out-of-sample predictions, fetched once per version (the latest kept)."""
        key = (model.name, model.version)
        if key in self._oos:
            return self._oos.get(key)
        got = provider(model)
        self._oos.clear()
        self._oos[key] = got
        return got

    def watch_once(self) -> None:
        """One watcher step: model, keys, data freshness. Errors are logged, never raised."""
        try:
            if self.holder.poll():
                model = self.holder.model
                self.metrics.set_model(model.name if model else None, model.version if model else None)
                log.info("serving model %s", f"{model.name} {model.version}" if model else "none")
            self.keys.refresh()
            self.newest_bar = newest_bar_known_at(self.store)
        except EarnestError as exc:
            log.warning("service watcher: %s", exc)

    def watch(self) -> None:
        while not self.stop.wait(self.settings.reload_poll_s):
            self.watch_once()


def _prepare(settings: ServiceSettings, store: Store, registry: Registry | None) -> Any:
    """The holder's ``prepare``: a model's runtime. Models reading the same features share one
    :class:`OnlineFeatures` (its cache is keyed by feature version), so a promotion starts warm."""
    shared: dict[tuple[str, ...], OnlineFeatures] = {}

    def prepare(model: ServedModel) -> Runtime:
        online = shared.get(model.features)
        if online is None:
            online = OnlineFeatures(
                store,
                model.features,
                registry=registry,
                cache_size=settings.feature_cache_size,
                ttl_s=settings.feature_cache_ttl_s,
            )
            shared.clear()  # keep the latest feature set only
            shared[model.features] = online
        reference = dict(model.reference)
        window = _train_window(model.lineage)
        if not reference and window is not None:
            reference = training_reference(store, model.features, start=window[0], end=window[1])
        return Runtime(online, DriftMonitor(reference))

    return prepare


def _train_window(lineage: Mapping[str, Any]) -> tuple[dt.date, dt.date] | None:
    """(train_start, train_end) of a model's lineage, when both are there."""
    try:
        start, end = (dt.date.fromisoformat(str(lineage[k])) for k in ("train_start", "train_end"))
    except (KeyError, ValueError):
        return None
    return start, end


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="key from `earnest apikey create`")


def require_key(request: Request, token: Annotated[str | None, Depends(_key_header)]) -> ApiKey:
    """The request's valid API key within its rate limit (401 or 429 otherwise)."""
    state = _state(request)
    key = state.keys.check(token)
    wait = state.limiter.acquire(key.key_id, key.rate_limit or state.settings.rate_limit_per_s)
    if wait > 0:
        raise RateLimitedError("rate limit exceeded", remedy="slow down", details={"retry_after_s": wait})
    return key


Key = Annotated[ApiKey, Depends(require_key)]


def score_rows(model: ServedModel, rows: Sequence[FeatureRow]) -> tuple[list[float | None], list[list[str]]]:
    """Scores of ``rows`` (null where a feature is unknown) and the unknown features of each."""
    columns = {f: [row.get(f) for row in rows] for f in model.features}
    missing = [[f for f in model.features if columns[f][i] is None] for i in range(len(rows))]
    complete = [i for i, m in enumerate(missing) if not m]
    scores: list[float | None] = [None] * len(rows)
    if complete:
        frame = pl.DataFrame(
            {f: [values[i] for i in complete] for f, values in columns.items()},
            schema=dict.fromkeys(model.features, pl.Float64),
        )
        got = np.asarray(model.predict_scores(frame), dtype=np.float64)
        for i, value in zip(complete, got.tolist(), strict=True):
            scores[i] = value if math.isfinite(value) else None
    return scores, missing


def _receipt(
    model: ServedModel, runtime: Runtime, pairs: Sequence[tuple[str, dt.date]], rows: Any
) -> dto.ReceiptOut:
    config = {
        "model": model.name,
        "version": model.version,
        "feature_version": runtime.features.version,
        "pairs": [(iid, day.isoformat()) for iid, day in pairs],
    }
    receipt = Receipt.make(data_hash=sha256_json(rows), config=config, seed=0)
    return dto.ReceiptOut(**receipt.to_dict())


def _prediction(
    model: ServedModel,
    inst: Instrument,
    day: dt.date,
    row: FeatureRow,
    score: float | None,
    missing: list[str],
) -> dto.Prediction:
    return dto.Prediction.model_construct(  # built from checked values: no second validation
        symbol=inst.symbol,
        isin=inst.isin,
        instrument_id=inst.instrument_id,
        as_of=day,
        score=score,
        kind=model.kind,
        features={f: row.get(f) for f in model.features},
        missing=missing,
    )


def _predict_one(
    state: ServiceState, req: dto.PredictRequest, *, cached_only: bool
) -> dto.PredictResponse | None:
    model, runtime = state.active()
    inst = state.instruments.resolve(symbol=req.symbol, isin=req.isin)
    pair = (inst.instrument_id, req.as_of)
    row = runtime.features.cached(*pair)
    if row is None:
        if cached_only:
            return None
        row = runtime.features.values([pair])[0]
    scores, missing = score_rows(model, [row])
    runtime.drift.observe([row])
    state.metrics.predictions.labels(model=model.name, version=model.version, endpoint="predict").inc()
    pred = _prediction(model, inst, req.as_of, row, scores[0], missing[0])
    return dto.PredictResponse.model_construct(  # built from checked values: no second validation
        **dict(pred),
        model=dto.ModelRef(name=model.name, version=model.version),
        receipt=_receipt(model, runtime, [pair], row),
    )


def _predict_batch(state: ServiceState, rows: Sequence[dto.PredictRequest]) -> dto.BatchResponse:
    model, runtime = state.active()
    items: list[dto.BatchItem] = []
    resolved: list[tuple[int, Instrument, dt.date]] = []
    for i, req in enumerate(rows):
        try:
            resolved.append((i, state.instruments.resolve(symbol=req.symbol, isin=req.isin), req.as_of))
        except EarnestError as exc:
            items.append(dto.BatchItem(index=i, error=str(exc)))
    pairs = [(inst.instrument_id, day) for _, inst, day in resolved]
    values = runtime.features.values(pairs)
    scores, missing = score_rows(model, values)
    runtime.drift.observe(values)
    for (i, inst, day), row, score, miss in zip(resolved, values, scores, missing, strict=True):
        items.append(dto.BatchItem(index=i, prediction=_prediction(model, inst, day, row, score, miss)))
    items.sort(key=lambda item: item.index)
    state.metrics.predictions.labels(model=model.name, version=model.version, endpoint="batch").inc(
        len(values)
    )
    return dto.BatchResponse(
        model=dto.ModelRef(name=model.name, version=model.version),
        receipt=_receipt(model, runtime, pairs, values),
        items=items,
    )


def _v1_router() -> APIRouter:
    """The ``/v1`` endpoints (all need a key)."""
    router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
    _prediction_routes(router)
    _data_routes(router)
    _performance_route(router)
    return router


def _prediction_routes(router: APIRouter) -> None:
    @router.post("/predict", response_model=dto.PredictResponse)
    async def predict(body: dto.PredictRequest, request: Request, _key: Key) -> dto.PredictResponse:
        """Score one instrument as of a date."""
        state = _state(request)
        fast = _predict_one(state, body, cached_only=True)  # cache hit: no thread hop
        if fast is not None:
            return fast
        got = await run_in_threadpool(_predict_one, state, body, cached_only=False)
        assert got is not None
        return got

    @router.post("/predict/batch", response_model=dto.BatchResponse)
    async def predict_batch(body: dto.BatchRequest, request: Request, _key: Key) -> dto.BatchResponse:
        """Score up to 5,000 (instrument, as-of) rows; an unknown instrument fails only its row."""
        state = _state(request)
        if len(body.rows) > state.settings.max_batch_rows:
            raise TooManyRowsError(len(body.rows), state.settings.max_batch_rows)
        return await run_in_threadpool(_predict_batch, state, body.rows)


def _data_routes(router: APIRouter) -> None:
    @router.get("/signals", response_model=dto.SignalsResponse)
    def signals(
        request: Request,
        _key: Key,
        date: Annotated[
            dt.date | None, Query(description="the day (default: the latest with signals)")
        ] = None,
        model_name: Annotated[str | None, Query(max_length=200)] = None,
    ) -> dto.SignalsResponse:
        """The day's scored universe, best score first."""
        store = _state(request).store
        day = date or latest_signal_date(store, model_name=model_name)
        rows = read_signals(store, day, model_name=model_name) if day else []
        return dto.SignalsResponse(
            date=day, model_name=model_name, count=len(rows), signals=[dto.Signal(**r) for r in rows]
        )

    @router.get("/alerts", response_model=dto.AlertsResponse)
    def alerts(
        request: Request,
        _key: Key,
        date: Annotated[dt.date | None, Query(description="the signal date (default: the latest)")] = None,
    ) -> dto.AlertsResponse:
        """The alerts of a signal date from the alert outbox, most probable first."""
        store = _state(request).store
        day = date or latest_alert_date(store)
        rows = read_alerts(store, day) if day else []
        return dto.AlertsResponse(date=day, count=len(rows), alerts=[dto.AlertOut(**r) for r in rows])

    @router.get("/models", response_model=dto.ModelsResponse)
    def models(request: Request, _key: Key) -> dto.ModelsResponse:
        """The model being served, and the swaps this process made."""
        holder = _state(request).holder
        active = holder.active
        serving = None
        if active is not None:
            model, runtime = active
            serving = dto.ModelInfo(
                name=model.name,
                version=model.version,
                kind=model.kind,
                features=list(model.features),
                feature_version=runtime.features.version,
                lineage={k: _jsonable(v) for k, v in model.lineage.items()},
            )
        swaps = [
            dto.SwapOut(at=s.at, from_version=s.from_version, to_version=s.to_version) for s in holder.swaps
        ]
        return dto.ModelsResponse(serving=serving, last_error=holder.last_error, swaps=swaps)


def _performance_route(router: APIRouter) -> None:
    @router.get("/alerts/performance", response_model=dto.PerformanceResponse)
    def alerts_performance(
        request: Request,
        _key: Key,
        horizon: Annotated[
            int | None, Query(ge=1, le=250, description="sessions after entry (default: 1, 3 and 5)")
        ] = None,
        measure: Annotated[
            Literal["raw", "excess"], Query(description="raw return, or in excess of NIFTY 50")
        ] = "raw",
        model: Annotated[
            str | None, Query(max_length=200, description="only this model's alerts (default: all)")
        ] = None,
        threshold: Annotated[
            float | None,
            Query(allow_inf_nan=False, description="expectation from OOS rows with score >= this"),
        ] = None,
        top_fraction: Annotated[
            float | None,
            Query(
                gt=0,
                le=1,
                description="expectation from each entry date's top share of OOS rows "
                "(default: OOS rows scored at or above daily.alert_threshold, the rule alerts are sent by)",
            ),
        ] = None,
        alpha: Annotated[float, Query(gt=0, lt=1, description="test level of the flags")] = 0.05,
    ) -> dto.PerformanceResponse:
        """Live win rate and mean return of the sent alerts, with confidence intervals, next to
        the served model's out-of-sample expectation at its own horizon (measure raw), flagged when
        outside it. Reads only (outcomes are written by :func:`earnest.alerts.outcomes.fill_outcomes`)."""
        if threshold is not None and top_fraction is not None:
            msg = "give at most one of threshold and top_fraction"
            raise RequestValidationError([{"loc": ("query", "threshold"), "msg": msg, "type": "value_error"}])
        state = _state(request)
        if threshold is None and top_fraction is None:  # the rule the daily pipeline alerts with
            threshold = state.alert_threshold
        share = top_fraction if threshold is not None or top_fraction is not None else DEFAULT_TOP_FRACTION
        rows = alerts_report(
            state.store,
            expectation=lambda: state.expectation(threshold=threshold, top_fraction=share),
            model_name=model,
            horizons=[horizon] if horizon is not None else HORIZONS,
            measure=measure,
            alpha=alpha,
        )
        source = rows[0]["expectation_source"] if rows else None
        return dto.PerformanceResponse(
            model_name=model,
            measure=measure,
            expectation_source=source,
            horizons=[
                dto.HorizonPerformance(**{k: v for k, v in r.items() if k != "expectation_source"})
                for r in rows
            ],
        )


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None) | list | dict) else str(value)


def _probes(app: FastAPI) -> None:
    @app.get("/healthz", response_model=dto.HealthResponse)
    async def healthz() -> dto.HealthResponse:
        """The process is up."""
        return dto.HealthResponse(status="ok")

    @app.get("/readyz", response_model=dto.ReadyResponse, responses={503: {"model": dto.ReadyResponse}})
    def readyz(request: Request) -> Any:
        """Ready to serve: store reachable, a model loaded, the newest bar at most
        ``max_data_age_days`` old."""
        state = _state(request)
        checks = {}
        try:
            state.store.query("SELECT 1 AS one")
            newest = newest_bar_known_at(state.store)
            checks["store"] = dto.Check(ok=True, detail=state.store.url.split("://")[0])
        except EarnestError:
            newest = None
            checks["store"] = dto.Check(ok=False, detail="the store cannot be queried")
        model = state.holder.model
        checks["model"] = dto.Check(
            ok=model is not None,
            detail=f"{model.name} {model.version}"
            if model
            else (state.holder.last_error or "no model loaded"),
        )
        age = dt.datetime.now(dt.UTC) - newest if newest else None
        fresh = age is not None and age <= dt.timedelta(days=state.settings.max_data_age_days)
        detail = f"newest bar known {age.total_seconds() / 3600:.1f} h ago" if age else "no bars stored"
        checks["data"] = dto.Check(ok=fresh, detail=detail)
        body = dto.ReadyResponse(ready=all(c.ok for c in checks.values()), checks=checks)
        return JSONResponse(body.model_dump(mode="json"), status_code=200 if body.ready else 503)

    @app.get("/metrics", response_class=Response)
    def metrics(request: Request) -> Response:
        """Prometheus metrics (text exposition format)."""
        state = _state(request)
        if state.newest_bar is not None:
            state.metrics.freshness.set((dt.datetime.now(dt.UTC) - state.newest_bar).total_seconds())
        active = state.holder.active
        if active is not None:
            state.metrics.set_psi(active[1].drift.psi())
            state.metrics.cache_hits.set(active[1].features.hits)
            state.metrics.cache_misses.set(active[1].features.misses)
        return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    model_source: ModelSource | None = None,
    feature_registry: Registry | None = None,
    oos_provider: OosProvider | None = None,
) -> FastAPI:
    """The service app for ``settings``. ``store`` defaults to opening ``settings.store_url`` at
    startup (closed at shutdown); ``model_source`` to the model registry under ``settings.home``
    (:func:`earnest.service.models.registry_source`); ``feature_registry`` to the shipped features;
    ``oos_provider`` (the served model's out-of-sample predictions, for the expectation of
    ``/v1/alerts/performance``) to the model source's ``oos`` when it has one (the registry source)."""
    svc = settings.service
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from earnest.store import open_store

        own = store is None
        the_store = open_store(settings.store_url) if store is None else store
        source = model_source
        if source is None:
            from earnest.service.models import registry_source

            source = registry_source(settings.registry, home=settings.home, name=svc.model_name)
        state = ServiceState(
            settings=svc,
            store=the_store,
            holder=ModelHolder(source, prepare=_prepare(svc, the_store, feature_registry)),
            keys=KeyRing(the_store, refresh_s=svc.reload_poll_s),
            limiter=RateLimiter(burst_s=svc.rate_burst_s),
            metrics=metrics,
            instruments=InstrumentIndex(the_store),
            oos_provider=oos_provider or getattr(source, "oos", None),
            alert_threshold=settings.daily.alert_threshold,
        )
        code_version()  # warm the cached git lookup before the first receipt
        state.keys.refresh(force=True)
        state.watch_once()
        app.state.service = state
        gc.collect()
        gc.freeze()  # startup objects (model, caches, modules) leave the collector's young generations
        watcher = threading.Thread(target=state.watch, name="earnest-service-watcher", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            state.stop.set()
            watcher.join(timeout=10)
            if own:
                the_store.close()

    app = FastAPI(
        title="earnest prediction service",
        version="1",
        lifespan=lifespan,
        description="Point-in-time scores for NSE/BSE instruments from the production model.",
    )
    app.include_router(_v1_router())
    _probes(app)
    install_error_handlers(app)
    app.add_middleware(ServiceMiddleware, metrics=metrics, max_body_bytes=svc.max_body_bytes)
    return app


def serve(settings: Settings) -> None:
    """Run the service with uvicorn on ``settings.service.host:port`` (blocks until stopped)."""
    import uvicorn

    svc = settings.service
    uvicorn.run(
        create_app(settings),
        host=svc.host,
        port=svc.port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


__all__ = [
    "DEFAULT_TOP_FRACTION",
    "ERROR_RESPONSES",
    "OosProvider",
    "Runtime",
    "ServiceState",
    "create_app",
    "score_rows",
    "serve",
]
