"""How the service answers errors: one JSON shape, a status per error class, no stack traces.

=============================== ======
error                           status
=============================== ======
invalid input (any field)       422, every field as ``body.rows.3.symbol`` + message
unreadable body (not JSON)      422, field ``body``
:class:`~earnest.service.auth.AuthError`  401
:class:`RateLimitedError`       429 with ``Retry-After``
:class:`~earnest.core.errors.NotFoundError`  404
:class:`TooManyRowsError`       422
:class:`ModelUnavailableError`, :class:`~earnest.core.errors.StoreError`  503
any other error                 500 ``internal error`` (details only in the server log)
=============================== ======
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from earnest.core.errors import DataError, EarnestError, NotFoundError, StoreError
from earnest.service.auth import AuthError
from earnest.service.models import ModelLoadError
from earnest.service.ratelimit import retry_after_header

log = logging.getLogger("earnest.service")


class ModelUnavailableError(EarnestError):
    """No model is loaded, so nothing can be scored."""

    exit_code = 9


class RateLimitedError(EarnestError):
    """The API key is over its rate limit (``details['retry_after_s']``: when to retry)."""

    exit_code = 9


class TooManyRowsError(DataError):
    """A batch holds more rows than the service accepts."""

    def __init__(self, rows: int, limit: int) -> None:
        super().__init__(
            f"the batch has {rows} rows, more than {limit}", remedy="split it", field="body.rows"
        )


def _body(exc: EarnestError) -> dict[str, Any]:
    return {"error": exc.message, "remedy": exc.remedy, "field": exc.field}


def _field_path(loc: Any) -> str:
    return ".".join(str(p) for p in loc)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"field": _field_path(e.get("loc", ())), "message": str(e.get("msg", ""))} for e in exc.errors()
    ]
    return JSONResponse({"error": "invalid request", "fields": fields}, status_code=422)


async def _earnest(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EarnestError)
    headers: dict[str, str] = {}
    if isinstance(exc, AuthError):
        status = 401
        headers["WWW-Authenticate"] = "ApiKey"
    elif isinstance(exc, RateLimitedError):
        status = 429
        headers["Retry-After"] = retry_after_header(float(exc.details.get("retry_after_s", 1.0)))
    elif isinstance(exc, NotFoundError):
        status = 404
    elif isinstance(exc, TooManyRowsError):
        fields = [{"field": exc.field or "body", "message": exc.message}]
        return JSONResponse({"error": "invalid request", "fields": fields}, status_code=422)
    elif isinstance(exc, ModelUnavailableError):
        status = 503
    elif isinstance(exc, StoreError | ModelLoadError):
        log.error("service dependency failed on %s: %s", request.url.path, exc)
        return JSONResponse(
            {"error": "a dependency of the service is unavailable", "remedy": "retry later", "field": None},
            status_code=503,
        )
    else:
        log.error("error on %s: %s", request.url.path, exc)
        return JSONResponse({"error": "internal error", "remedy": "", "field": None}, status_code=500)
    return JSONResponse(_body(exc), status_code=status, headers=headers)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400:  # FastAPI could not read the body (not JSON, not UTF-8)
        fields = [{"field": "body", "message": "the body is not valid JSON text (UTF-8)"}]
        return JSONResponse({"error": "invalid request", "fields": fields}, status_code=422)
    return JSONResponse(
        {"error": str(exc.detail), "remedy": "", "field": None},
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s", request.url.path)
    return JSONResponse({"error": "internal error", "remedy": "", "field": None}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers of the table above on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(EarnestError, _earnest)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)


__all__ = ["ModelUnavailableError", "RateLimitedError", "TooManyRowsError", "install_error_handlers"]
