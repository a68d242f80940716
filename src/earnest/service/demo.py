"""A small synthetic market and a real fitted model to run the service on without exchange data:
used by the service's tests, its HTTP tests and ``benchmarks/serve.py``.

:func:`fill_demo_store` writes random-walk daily bars (and the instruments) for ``n_symbols``
symbols over ``n_sessions`` NSE sessions; :func:`fit_demo_model` computes :data:`DEMO_FEATURES`
for every (symbol, session) of a training window with the research feature code and fits
earnest's logistic baseline (scikit-learn) to "the next session's close is higher".
The data is simulated: the model has no edge, it only exercises the machinery.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import polars as pl

from earnest.core.calendar import IST, eod_known_utc, nse_calendar
from earnest.features.loading import store_features_at
from earnest.features.registry import default_registry
from earnest.models.estimators import make_estimator
from earnest.service.drift import reference_from_values
from earnest.service.models import ServedModel
from earnest.store.base import Store

DEMO_FEATURES: tuple[str, ...] = ("ret_1d", "ret_5d", "ret_20d", "vol_20d", "gap")
"""Output columns of shipped features (``returns``, ``vol_20d``, ``gap``) the demo model reads."""


def demo_symbols(n: int) -> list[str]:
    return [f"SYM{i:03d}" for i in range(n)]


def demo_isin(i: int) -> str:
    return f"INE{i:05d}A01{i % 10}"


def demo_sessions(n_sessions: int, *, end: dt.date = dt.date(2024, 6, 28)) -> list[dt.date]:
    """The last ``n_sessions`` NSE sessions up to ``end``."""
    sessions = nse_calendar().sessions_between(end - dt.timedelta(days=3 * n_sessions), end)
    return sessions[-n_sessions:]


def fill_demo_store(
    store: Store, *, n_symbols: int = 10, n_sessions: int = 260, seed: int = 0
) -> list[dt.date]:
    """Write bars and instruments of ``n_symbols`` simulated symbols; returns the sessions."""
    days = demo_sessions(n_sessions)
    rng = np.random.default_rng(seed)
    parts = []
    for i, symbol in enumerate(demo_symbols(n_symbols)):
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, len(days))))
        opn = close * np.exp(rng.normal(0, 0.005, len(days)))
        volume = rng.integers(1_000, 9_000, len(days))
        parts.append(
            pl.DataFrame(
                {
                    "exchange": "NSE",
                    "instrument_id": demo_isin(i),
                    "isin": demo_isin(i),
                    "symbol": symbol,
                    "series": "EQ",
                    "date": days,
                    "open": opn,
                    "high": np.maximum(opn, close) * 1.01,
                    "low": np.minimum(opn, close) * 0.99,
                    "close": close,
                    "volume": volume,
                    "delivery_qty": volume // 2,
                    "knowledge_time": [eod_known_utc(d) for d in days],
                    "source_file": "earnest.service.demo",
                }
            )
        )
    bars = pl.concat(parts)
    store.upsert("bars", bars)
    instruments = bars.group_by("instrument_id", "isin", "exchange", "symbol", "series").agg(
        pl.col("date").min().alias("first_seen"), pl.col("date").max().alias("last_seen")
    )
    store.upsert("instruments", instruments.with_columns(status=pl.lit("listed"), source=pl.lit("demo")))
    return days


def training_frame(
    store: Store, days: Sequence[dt.date], features: Sequence[str] = DEMO_FEATURES
) -> pl.DataFrame:
    """Features at the end of each of ``days`` for every stored instrument, with ``label`` (the
    next stored close is higher) and without rows that miss a value."""
    ids = store.query("SELECT DISTINCT instrument_id FROM bars").get_column("instrument_id").sort().to_list()
    pairs = pl.DataFrame(
        {
            "instrument_id": [i for i in ids for _ in days],
            "as_of": [dt.datetime.combine(d, dt.time(23, 59), tzinfo=IST) for _ in ids for d in days],
        },
        schema={"instrument_id": pl.Utf8, "as_of": pl.Datetime("us", "UTC")},
    )
    specs = default_registry().select(list(features))
    values = store_features_at(store, specs, pairs).with_columns(
        pl.col("as_of").dt.convert_time_zone("Asia/Kolkata").dt.date().alias("date")
    )
    closes = store.query("SELECT instrument_id, date, close FROM bars ORDER BY instrument_id, date")
    closes = closes.with_columns(
        (pl.col("close").shift(-1).over("instrument_id") > pl.col("close")).cast(pl.Int64).alias("label")
    )
    frame = values.join(closes.select("instrument_id", "date", "label"), on=["instrument_id", "date"])
    return frame.drop_nulls([*features, "label"]).filter(
        pl.all_horizontal(pl.col(f).is_finite() for f in features)
    )


def fit_demo_model(
    store: Store,
    days: Sequence[dt.date],
    *,
    name: str = "demo",
    version: str = "1",
    c: float = 1.0,
    features: Sequence[str] = DEMO_FEATURES,
) -> ServedModel:
    """Earnest's logistic baseline fitted on :func:`training_frame` over ``days``, with the
    training window's feature distributions as its drift reference."""
    frame = training_frame(store, days, features)
    estimator = make_estimator("logistic", "classification", params={"C": c})
    estimator.fit(frame.select(features).to_numpy(), frame.get_column("label").to_numpy())
    reference = {f: reference_from_values(frame.get_column(f).to_list()) for f in features}
    return ServedModel(
        name=name,
        version=version,
        features=tuple(features),
        estimator=estimator,
        kind="probability",
        reference=reference,
        lineage={"train_start": str(min(days)), "train_end": str(max(days)), "n_rows": frame.height},
    )


@contextmanager
def serve_in_thread(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` with uvicorn in a background thread on ``host:port`` (0: a free port); yields
    its base URL once it accepts connections, stops it on exit."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start (see the log above)")
            time.sleep(0.01)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


__all__ = [
    "DEMO_FEATURES",
    "demo_isin",
    "demo_sessions",
    "demo_symbols",
    "fill_demo_store",
    "fit_demo_model",
    "serve_in_thread",
    "training_frame",
]
