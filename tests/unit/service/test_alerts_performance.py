"""``GET /v1/alerts/performance`` over real HTTP (uvicorn on a loopback port, httpx): the figures
are :func:`earnest.alerts.outcomes.performance`'s on the same store, the expectation is the served
model's out-of-sample record at its label horizon (3 sessions) only.

Market (NSE, January 2024; sessions 1-5, 8-12). Four alerts known on 2 Jan at 17:30 IST enter at
the open of 3 Jan (100 for every stock); the 1-, 3- and 5-session exits are the closes of 3, 5
and 9 Jan:

    stock  close 3 Jan  close 5 Jan  close 9 Jan   raw h1 / h3 / h5
    AAA    102          105          110            0.02 /  0.05 /  0.10
    BBB     99           97           95           -0.01 / -0.03 / -0.05
    CCC    101          104          103            0.01 /  0.04 /  0.03
    DDD    100.5         99          106            0.005 / -0.01 /  0.06
    NIFTY 1000 -> 1010   1000         1030

Live raw h3: mean (0.05 - 0.03 + 0.04 - 0.01) / 4 = 0.0125, 2 wins of 4. Out of sample (scores
0.9, 0.5, 0.1 on d1 and 0.8, 0.7 on d2; net returns 0.04, -0.02, 0.10, -0.01, 0.03): the default
rule (top 0.2 of each date: one row each) takes 0.04 and -0.01 -> mean 0.015, win rate 0.5;
``threshold=0.6`` takes 0.04, -0.01, 0.03 -> mean 0.02.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
import pytest

from earnest.alerts import Alert, deliver_pending, enqueue, fill_outcomes
from earnest.alerts.expectation import expectation_from_oos
from earnest.alerts.outcomes import Expectation, performance
from earnest.config import ServiceSettings, Settings
from earnest.core.calendar import eod_known_utc
from earnest.service.app import create_app
from earnest.service.auth import apikey_create
from earnest.service.demo import serve_in_thread
from earnest.service.models import InMemoryModelSource, ModelLoadError, RegistryModelSource, ServedModel
from earnest.store import SqlStore, open_store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.network

DAYS = [dt.date(2024, 1, d) for d in (1, 2, 3, 4, 5, 8, 9, 10, 11, 12)]
CLOSES = {
    "AAA": {3: 102.0, 5: 105.0, 9: 110.0},
    "BBB": {3: 99.0, 5: 97.0, 9: 95.0},
    "CCC": {3: 101.0, 5: 104.0, 9: 103.0},
    "DDD": {3: 100.5, 5: 99.0, 9: 106.0},
}
NIFTY = {3: (1000.0, 1010.0), 5: (1000.0, 1000.0), 9: (1020.0, 1030.0)}
KNOWN = dt.datetime(2024, 1, 2, 12, 0, tzinfo=dt.UTC)  # 17:30 IST, after the close
OOS = pl.DataFrame(
    {
        "entry_date": [dt.date(2023, 6, 1)] * 3 + [dt.date(2023, 6, 2)] * 2,
        "symbol": ["A", "B", "C", "A", "D"],
        "knowledge_time": [dt.datetime(2023, 5, 31, tzinfo=dt.UTC)] * 5,
        "label": [1.0, 0.0, 1.0, 0.0, 1.0],
        "net_return": [0.04, -0.02, 0.10, -0.01, 0.03],
        "score": [0.9, 0.5, 0.1, 0.8, 0.7],
        "baseline_score": [0.5] * 5,
        "fold": [0] * 5,
    }
)


def _bars() -> pl.DataFrame:
    rows = []
    for sym, closes in CLOSES.items():
        last = 100.0
        for day in DAYS:
            close = closes.get(day.day, last)
            open_ = 100.0 if day.day == 3 else last
            rows.append(
                {"exchange": "NSE", "instrument_id": f"IN{sym}", "symbol": sym, "series": "EQ", "date": day,
                 "open": open_, "high": max(open_, close), "low": min(open_, close), "close": close,
                 "knowledge_time": eod_known_utc(day), "source_file": "test", "source_row": 1}
            )  # fmt: skip
            last = close
    return pl.DataFrame(rows)


def _nifty() -> pl.DataFrame:
    rows = []
    for day in DAYS:
        o, c = NIFTY.get(day.day, (1000.0, 1000.0))
        rows.append(
            {"index_name": "NIFTY 50", "date": day, "open": o, "high": max(o, c), "low": min(o, c), "close": c,
             "knowledge_time": eod_known_utc(day), "source_file": "test", "source_row": 1}
        )  # fmt: skip
    return pl.DataFrame(rows)


@dataclass
class OkChannel:
    name: str = "telegram"

    def send(self, alert_id: str, payload: Mapping[str, Any]) -> str | None:
        return f"m-{alert_id[:8]}"


def _fill(store: SqlStore) -> None:
    store.upsert("bars", _bars())
    store.upsert("index_bars", _nifty())
    alerts = [
        Alert(model_name="blockbuster", model_version="3", symbol=s, signal_date=DAYS[1], event_id=f"ev-{s}",
              signal="BUY", probability=0.7, knowledge_time=KNOWN)
        for s in CLOSES
    ]  # fmt: skip
    enqueue(store, alerts, channels=["telegram"], now=KNOWN)
    deliver_pending(store, [OkChannel()], clock=lambda: KNOWN, sleep=lambda s: None)
    assert fill_outcomes(store, as_of=eod_known_utc(DAYS[-1])) == 12


def _model() -> ServedModel:
    return ServedModel(
        name="blockbuster",
        version="3",
        features=("ret_1d",),
        estimator=None,
        kind="score",
        lineage={"label_spec": "win_3s_at_open"},
        scorer=lambda frame: np.zeros(frame.height),
    )


@dataclass
class World:
    url: str
    key: str
    store: SqlStore
    asked: list[str]

    def get(self, params: dict[str, Any] | None = None, *, auth: bool = True) -> httpx.Response:
        headers = {"X-API-Key": self.key} if auth else {}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as c:
            return c.get("/v1/alerts/performance", params=params)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("perf")
    store = open_store(f"duckdb:///{home / 'earnest.duckdb'}")
    _fill(store)
    _, key = apikey_create(store, name="perf")
    asked: list[str] = []

    def oos(model: ServedModel) -> pl.DataFrame:
        asked.append(f"{model.name}:{model.version}")
        return OOS

    settings = Settings(home=home, service=ServiceSettings(reload_poll_s=0.05, rate_limit_per_s=10_000))
    app = create_app(settings, store=store, model_source=InMemoryModelSource(_model()), oos_provider=oos)
    try:
        with serve_in_thread(app) as url:
            yield World(url, key, store, asked)
    finally:
        store.close()


FIGURES = ("n", "wins", "win_rate", "win_rate_ci", "mean", "mean_ci", "sd", "expected_mean_range",
           "win_rate_p", "mean_outside", "win_rate_outside", "flagged", "benchmarks")  # fmt: skip


def _same(got: dict[str, Any], want: dict[str, Any]) -> None:
    for k in FIGURES:
        assert got[k] == pytest.approx(want[k]) if isinstance(want[k], float) else got[k] == want[k], k


def test_figures_equal_performance_with_the_expectation_at_the_model_horizon(world: World) -> None:
    got = world.get({"top_fraction": 0.2})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["measure"] == "raw"
    assert body["expectation_source"] == {
        "model_name": "blockbuster", "model_version": "3", "horizon": 3,
        "rule": "top 0.2 of each entry date", "n_oos": 5,
    }  # fmt: skip
    expected = expectation_from_oos(OOS, top_fraction=0.2)
    assert (expected.mean, expected.win_rate) == pytest.approx((0.015, 0.5))
    by_h = {h["horizon"]: h for h in body["horizons"]}
    assert sorted(by_h) == [1, 3, 5]
    for h, entry in by_h.items():
        applied = expected if h == 3 else Expectation()
        _same(entry, performance(world.store, expectation=applied, horizon=h, measure="raw").to_dict())
    h3 = by_h[3]
    assert (h3["n"], h3["wins"], h3["mean"]) == (4, 2, pytest.approx(0.0125))
    assert h3["expectation"]["mean"] == pytest.approx(0.015)
    assert h3["expectation_note"] == ""
    assert h3["mean_outside"] is False
    assert h3["benchmarks"] == {"NIFTY 50": 4}
    assert by_h[1]["expectation"] is None
    assert "horizon 3 only" in by_h[1]["expectation_note"]
    assert by_h[1]["mean_outside"] is None
    assert world.asked == ["blockbuster:3"]  # fetched once, cached for the served version
    default = world.get({"horizon": 3}).json()  # by default: the rule alerts are sent by
    assert default["expectation_source"]["rule"] == "score >= 0.6"  # daily.alert_threshold
    assert world.asked == ["blockbuster:3"]


def test_one_horizon_other_rules_and_measures(world: World) -> None:
    got = world.get({"horizon": 3, "threshold": 0.6}).json()
    assert [h["horizon"] for h in got["horizons"]] == [3]
    assert got["horizons"][0]["expectation"]["mean"] == pytest.approx(0.02)
    assert got["expectation_source"]["rule"] == "score >= 0.6"
    excess = world.get({"horizon": 5, "measure": "excess"}).json()["horizons"][0]
    want = performance(world.store, expectation=Expectation(), horizon=5, measure="excess").to_dict()
    _same(excess, want)
    assert excess["mean"] == pytest.approx((0.07 - 0.08 + 0.0 + 0.03) / 4)  # minus NIFTY's 0.03
    assert excess["expectation"] is None
    other = world.get({"horizon": 3, "model": "other"}).json()["horizons"][0]
    assert (other["n"], other["mean"], other["expectation"]) == (0, None, None)
    assert world.get({"horizon": 3, "model": "blockbuster"}).json()["horizons"][0]["n"] == 4


def test_needs_a_key_and_checks_its_parameters(world: World) -> None:
    assert world.get(auth=False).status_code == 401
    zero = world.get({"horizon": 0})
    assert zero.status_code == 422
    assert zero.json()["fields"][0]["field"] == "query.horizon"
    assert world.get({"measure": "gross"}).status_code == 422
    assert world.get({"top_fraction": 0}).status_code == 422
    both = world.get({"threshold": 0.5, "top_fraction": 0.5})
    assert both.status_code == 422
    assert both.json()["fields"][0]["field"] == "query.threshold"


class FakeRegistry:
    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.asked: list[tuple[str, int | None]] = []

    def production(self, name: str) -> None:
        return None

    def oos(self, name: str, version: int | None = None) -> pl.DataFrame:
        if self.fail:
            raise OSError("artefact store unreachable")
        self.asked.append((name, version))
        return OOS


def test_the_registry_source_reads_the_served_version_oos() -> None:
    reg = FakeRegistry()
    assert RegistryModelSource(reg, "blockbuster").oos(_model()) is OOS
    assert reg.asked == [("blockbuster", 3)]

    class NoOos:
        def production(self, name: str) -> None:
            return None

    assert RegistryModelSource(NoOos(), "blockbuster").oos(_model()) is None
    with pytest.raises(ModelLoadError, match="out-of-sample"):
        RegistryModelSource(FakeRegistry(fail=True), "blockbuster").oos(_model())


class SourceWithOos(InMemoryModelSource):
    def oos(self, model: ServedModel) -> pl.DataFrame:
        return OOS


def test_the_model_source_oos_is_the_default_provider(world: World, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, service=ServiceSettings(reload_poll_s=0.05, rate_limit_per_s=10_000))
    app = create_app(settings, store=world.store, model_source=SourceWithOos(_model()))
    with TestClient(app) as client:
        got = client.get("/v1/alerts/performance", params={"horizon": 3}, headers={"X-API-Key": world.key})
    assert got.status_code == 200, got.text
    assert got.json()["expectation_source"]["rule"] == "score >= 0.6"  # daily.alert_threshold
    assert got.json()["horizons"][0]["expectation"]["mean"] == pytest.approx(0.02)  # 0.04, -0.01, 0.03
