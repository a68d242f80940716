"""Prometheus metrics of the service, and the ASGI middleware that times requests and caps bodies.

Metrics (one :class:`prometheus_client.CollectorRegistry` per app, so two apps in one process do
not share counters):

- ``earnest_http_request_duration_seconds{route,method,status}``: latency histogram by route
  template (``/v1/predict``; ``unmatched`` for unknown paths, so random URLs cannot blow up the
  label set);
- ``earnest_predictions_total{model,version,endpoint}``: scored rows;
- ``earnest_model_info{name,version}``: 1 for the served model;
- ``earnest_data_freshness_age_seconds``: seconds since the newest stored bar became known;
- ``earnest_feature_psi{feature}``: drift of served feature values against the training window
  (:mod:`earnest.service.drift`);
- ``earnest_feature_cache_{hits,misses}``: online feature cache counts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class ServiceMetrics:
    """The service's Prometheus metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.latency = Histogram(
            "earnest_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "earnest_predictions", "Rows scored", ["model", "version", "endpoint"], registry=r
        )
        self.model_info = Gauge(
            "earnest_model_info", "The served model (value 1)", ["name", "version"], registry=r
        )
        self.freshness = Gauge(
            "earnest_data_freshness_age_seconds",
            "Seconds since the newest stored bar became known",
            registry=r,
        )
        self.psi = Gauge(
            "earnest_feature_psi", "PSI of served values vs training window", ["feature"], registry=r
        )
        self.cache_hits = Gauge("earnest_feature_cache_hits", "Online feature cache hits", registry=r)
        self.cache_misses = Gauge("earnest_feature_cache_misses", "Online feature cache misses", registry=r)

    def set_model(self, name: str | None, version: str | None) -> None:
        """Mark ``name``/``version`` as the served model (none: no model)."""
        self.model_info.clear()
        if name is not None and version is not None:
            self.model_info.labels(name=name, version=version).set(1)

    def set_psi(self, values: dict[str, float]) -> None:
        self.psi.clear()
        for feature, value in values.items():
            self.psi.labels(feature=feature).set(value)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class BodyTooLargeError(HTTPException):
    """Raised while a body streams in past the limit (FastAPI turns it into a 413 response)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body too large: send at most {limit} bytes")


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class ServiceMiddleware:
    """Times every HTTP request into ``metrics.latency`` and answers 413 to a body over
    ``max_body_bytes`` (by its Content-Length, or while it streams in)."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]
        started = [False]
        too_large = {"error": "request body too large", "remedy": f"send at most {self.max_body_bytes} bytes"}
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await _send_json(send, 413, too_large)
            self._observe(scope, 413, start)
            return
        seen = [0]

        async def receive_capped() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > self.max_body_bytes:
                    raise BodyTooLargeError(self.max_body_bytes)
            return message

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                started[0] = True
            await send(message)

        try:
            await self.app(scope, receive_capped, send_status)
        except BodyTooLargeError:
            if not started[0]:
                await _send_json(send, 413, too_large)
            status[0] = 413
        finally:
            self._observe(scope, status[0], start)

    def _observe(self, scope: Scope, status: int, start: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        self.metrics.latency.labels(
            route=template, method=scope.get("method", ""), status=str(status)
        ).observe(time.perf_counter() - start)


__all__ = ["LATENCY_BUCKETS", "BodyTooLargeError", "ServiceMetrics", "ServiceMiddleware"]
