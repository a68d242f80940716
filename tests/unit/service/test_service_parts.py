"""The service's parts without HTTP: keys, rate limits, drift, model swaps, signals, online features."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from earnest.core.errors import NotFoundError
from earnest.service.auth import AuthError, KeyRing, apikey_create, apikey_revoke, hash_secret, split_key
from earnest.service.demo import DEMO_FEATURES, demo_isin, fill_demo_store, fit_demo_model
from earnest.service.drift import DriftMonitor, Reference, bin_shares, psi, reference_from_values
from earnest.service.features import InstrumentIndex, OnlineFeatures, as_of_instant
from earnest.service.models import InMemoryModelSource, ModelHolder, ServedModel
from earnest.service.ratelimit import RateLimiter, retry_after_header
from earnest.service.signals import latest_signal_date, read_signals, write_signals
from earnest.store import SqlStore, open_store


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SqlStore, list[dt.date]]]:
    path = tmp_path_factory.mktemp("svc") / "earnest.duckdb"
    with open_store(f"duckdb:///{path}") as store:
        days = fill_demo_store(store, n_symbols=4, n_sessions=120)
        yield store, days


# ---- keys -------------------------------------------------------------------------------------


def test_a_key_is_stored_as_the_sha256_of_its_secret_and_checked(duckdb_store: SqlStore) -> None:
    key_id, key = apikey_create(duckdb_store, name="ci", rate_limit=3.0)
    got_id, secret = split_key(key)
    assert got_id == key_id
    assert key == f"ek_{key_id}_{secret}"
    assert len(secret) >= 43  # 32 random bytes, url-safe base64
    row = duckdb_store.read("api_keys").row(0, named=True)
    assert row["hash"] == hashlib.sha256(secret.encode()).hexdigest() == hash_secret(secret)
    assert secret not in str(row)
    ring = KeyRing(duckdb_store)
    ring.refresh(force=True)
    assert ring.check(key).rate_limit == 3.0
    for bad in (None, "", "nope", f"ek_{key_id}_wrong", "ek_short_x"):
        with pytest.raises(AuthError):
            ring.check(bad)


def test_a_revoked_key_is_refused_after_the_next_refresh(duckdb_store: SqlStore) -> None:
    key_id, key = apikey_create(duckdb_store, name="ci")
    ring = KeyRing(duckdb_store, refresh_s=3600)
    ring.refresh(force=True)
    assert apikey_revoke(duckdb_store, key_id) is True
    ring.check(key)  # still cached until the refresh
    ring.refresh(force=True)
    with pytest.raises(AuthError, match="revoked"):
        ring.check(key)
    assert apikey_revoke(duckdb_store, key_id) is False
    with pytest.raises(NotFoundError):
        apikey_revoke(duckdb_store, "0000000000000000")


# ---- rate limits ------------------------------------------------------------------------------


def test_token_bucket_grants_the_burst_then_one_request_per_interval() -> None:
    now = [100.0]
    limiter = RateLimiter(burst_s=2.0, clock=lambda: now[0])
    # rate 2/s, burst 2 s: 4 tokens
    assert [limiter.acquire("k", 2.0) for _ in range(4)] == [0.0] * 4
    assert limiter.acquire("k", 2.0) == pytest.approx(0.5)  # one token back in 1/2 s
    now[0] += 0.25
    assert limiter.acquire("k", 2.0) == pytest.approx(0.25)
    now[0] += 0.25
    assert limiter.acquire("k", 2.0) == 0.0
    assert limiter.acquire("other", 2.0) == 0.0  # buckets are per key
    now[0] += 1000
    assert [limiter.acquire("k", 2.0) for _ in range(5)].count(0.0) == 4  # refills to capacity only
    assert RateLimiter(burst_s=0.1).capacity(1.0) == 1.0  # always at least one request
    assert retry_after_header(0.2) == "1"
    assert retry_after_header(2.01) == "3"


# ---- drift ------------------------------------------------------------------------------------


def test_psi_by_hand() -> None:
    ref = Reference(edges=(0.0,), shares=(0.5, 0.5))
    assert bin_shares(np.array([-1.0, 0.0, 1.0, 2.0, np.nan]), (0.0,)).tolist() == [0.25, 0.75]
    # actual (0.25, 0.75) vs expected (0.5, 0.5)
    want = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi(ref, np.array([-1.0, 1.0, 2.0, 3.0])) == pytest.approx(want)
    assert psi(ref, np.array([-1.0, 1.0])) == pytest.approx(0.0)
    assert psi(ref, np.array([np.nan])) is None


def test_reference_quantiles_and_monitor_threshold() -> None:
    ref = reference_from_values(range(100), bins=4)
    assert ref.edges == (24.75, 49.5, 74.25)
    assert ref.shares == (0.25, 0.25, 0.25, 0.25)
    assert Reference.from_dict(ref.to_dict()) == ref
    monitor = DriftMonitor({"x": ref}, min_count=3)
    monitor.observe([{"x": 1.0}, {"x": None}, {"x": 2.0}])
    assert monitor.psi() == {}  # two values: too few to report
    monitor.observe([{"x": 3.0}])
    assert monitor.psi()["x"] > 1.0  # everything in the lowest quarter: a large shift


# ---- model swaps ------------------------------------------------------------------------------


def _model(version: str, weight: float) -> ServedModel:
    from sklearn.linear_model import LinearRegression  # type: ignore[import-untyped]

    est = LinearRegression().fit(np.array([[0.0], [1.0]]), np.array([0.0, weight]))
    return ServedModel(name="m", version=version, features=("x",), estimator=est, kind="score")


def test_holder_swaps_atomically_and_keeps_the_old_model_when_preparing_fails() -> None:
    source = InMemoryModelSource(_model("1", 1.0))
    prepared: list[str] = []

    def prepare(model: ServedModel) -> str:
        if model.version == "bad":
            raise NotFoundError("feature gone")
        prepared.append(model.version)
        return f"runtime-{model.version}"

    holder = ModelHolder(source, prepare=prepare)
    assert holder.poll() is True
    assert holder.poll() is False
    held = holder.active  # what an in-flight request keeps
    assert held is not None
    assert held[1] == "runtime-1"
    source.set(_model("2", 2.0))
    assert holder.poll() is True
    assert held[0].version == "1"
    assert holder.active is not None
    assert holder.active[1] == "runtime-2"
    assert holder.active[0].predict_scores(pl.DataFrame({"x": [1.0]})).tolist() == pytest.approx([2.0])
    source.set(_model("bad", 0.0))
    assert holder.poll() is False
    assert holder.model is not None
    assert holder.model.version == "2"
    assert holder.last_error is not None
    assert "feature gone" in holder.last_error
    source.set(None)
    assert holder.poll() is True
    assert holder.model is None
    assert [(s.from_version, s.to_version) for s in holder.swaps] == [(None, "1"), ("1", "2"), ("2", None)]
    assert prepared == ["1", "2"]


# ---- online features and signals --------------------------------------------------------------


def test_online_features_equal_a_direct_computation_and_are_cached(
    market: tuple[SqlStore, list[dt.date]],
) -> None:
    store, days = market
    online = OnlineFeatures(store, DEMO_FEATURES, ttl_s=3600)
    pairs = [(demo_isin(0), days[-1]), (demo_isin(1), days[-3]), (demo_isin(0), days[-1])]
    first = online.values(pairs)
    assert (online.hits, online.misses) == (0, 2)  # the repeated pair is computed once
    again = online.values(pairs)
    assert again == first
    assert (online.hits, online.misses) == (3, 2)
    assert first[0] == first[2]
    alone = online.compute([pairs[0]])[0]  # rolling sums may differ in the last bit with the start
    assert all(alone[f] == pytest.approx(first[0][f], rel=1e-12) for f in DEMO_FEATURES)
    closes = store.bars(instrument_ids=[demo_isin(1)]).get_column("close")
    assert first[1]["ret_1d"] == pytest.approx(closes[-3] / closes[-4] - 1, rel=1e-12)
    assert as_of_instant(days[-1]).utcoffset() == dt.timedelta(hours=5, minutes=30)


def test_instruments_resolve_by_symbol_or_isin(market: tuple[SqlStore, list[dt.date]]) -> None:
    index = InstrumentIndex(market[0])
    assert index.resolve(symbol="sym001").instrument_id == demo_isin(1)
    assert index.resolve(isin=demo_isin(2).lower()).symbol == "SYM002"
    with pytest.raises(NotFoundError, match="no instrument with symbol 'ZZZ'"):
        index.resolve(symbol="zzz")


def test_a_fitted_demo_model_scores_probabilities(market: tuple[SqlStore, list[dt.date]]) -> None:
    store, days = market
    model = fit_demo_model(store, days[40:100])
    assert model.features == DEMO_FEATURES
    assert set(model.reference) == set(DEMO_FEATURES)
    frame = pl.DataFrame([dict.fromkeys(DEMO_FEATURES, 0.01)])
    score = model.predict_scores(frame)
    assert score.shape == (1,)
    assert 0.0 < score[0] < 1.0


def test_signals_round_trip_best_first(tmp_path: Path) -> None:
    with open_store(f"duckdb:///{tmp_path / 's.duckdb'}") as store:
        day = dt.date(2024, 6, 28)
        rows = [
            {"date": day, "symbol": s, "isin": None, "model_name": "m", "model_version": "3", "score": v,
             "features": {"ret_1d": v}, "receipt": {"seed": 0}}
            for s, v in (("AAA", 0.2), ("BBB", 0.9), ("CCC", None))
        ]  # fmt: skip
        assert write_signals(store, rows) == 3
        assert write_signals(store, rows[:1]) == 0  # same key: replaced, not added
        assert latest_signal_date(store) == day
        assert latest_signal_date(store, model_name="x") is None
        got = read_signals(store, day)
        assert [r["symbol"] for r in got] == ["BBB", "AAA", "CCC"]
        assert got[0]["features"] == {"ret_1d": 0.9}
        assert got[0]["receipt"] == {"seed": 0}
        assert [r["symbol"] for r in read_signals(store, day, min_score=0.5)] == ["BBB"]
