"""Point-in-time features straight from the store (:func:`store_features_at`, the prediction
service's API): the values equal the materialised ones for the same (symbol, as-of) pairs, read only
what they need, and say why a feature the store cannot feed is null."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from earnest.core.calendar import IST, eod_known_utc, nse_calendar
from earnest.features import (
    FeatureError,
    FeatureSpec,
    build_features,
    default_registry,
    loading,
    store_features_at,
)
from earnest.features.loading import load_inputs, load_panel, missing_input
from earnest.features.materialise import read_features
from earnest.store import SqlStore, open_store
from earnest.workflows import features as wf

SESSIONS = nse_calendar().sessions_between(dt.date(2023, 1, 1), dt.date(2023, 12, 31))[:240]
REGISTRY = default_registry()
WINDOWED = REGISTRY.select(
    ["returns", "vol_20d", "gap", "band_distance", "relative_nifty50", "cross_section"]
)
"""Window features only (no recursive seed): values from a late start equal a full build's."""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    with open_store(f"duckdb:///{tmp_path / 'loading.duckdb'}") as opened:
        _fill(opened)
        yield opened


def _bars(symbol: str, days: list[dt.date], seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, len(days))))
    opn = close * np.exp(rng.normal(0, 0.005, len(days)))
    volume = rng.integers(1_000, 9_000, len(days))
    return pl.DataFrame(
        {
            "exchange": "NSE", "instrument_id": f"IN{symbol}", "symbol": symbol, "series": "EQ",
            "date": days, "open": opn, "high": np.maximum(opn, close) * 1.01,
            "low": np.minimum(opn, close) * 0.99, "close": close, "volume": volume,
            "delivery_qty": volume // 2, "knowledge_time": [eod_known_utc(d) for d in days],
            "source_file": "test",
        }
    )  # fmt: skip


def _fill(store: SqlStore) -> None:
    """Four instruments (CCC suspended after session 190, DDD listed at session 30), NIFTY 50, bands."""
    bars = pl.concat(
        [
            _bars("AAA", SESSIONS, 1),
            _bars("BBB", SESSIONS, 2),
            _bars("CCC", SESSIONS[:191], 3),
            _bars("DDD", SESSIONS[30:], 4),
        ]
    )
    store.upsert("bars", bars)
    instruments = bars.select("instrument_id", "exchange", "symbol").unique()
    store.upsert("instruments", instruments.with_columns(status=pl.lit("listed"), source=pl.lit("test")))
    index = _bars("NIFTY", SESSIONS, 9).select("date", "close", "knowledge_time", "source_file")
    store.upsert("index_bars", index.with_columns(index_name=pl.lit("NIFTY 50")))
    bands = pl.DataFrame(
        {
            "symbol": ["AAA", "BBB", "CCC", "DDD", "AAA"],
            "series": "EQ",
            "band_pct": [10.0, 20.0, 5.0, None, 5.0],
            "effective_date": [SESSIONS[0]] * 4 + [SESSIONS[200]],
            "source_file": "test",
        }
    )
    store.upsert("price_bands", bands.with_columns(knowledge_time=pl.col("effective_date").map_elements(
        lambda d: dt.datetime.combine(d, dt.time(3, 45), dt.UTC), return_dtype=pl.Datetime("us", "UTC"))))  # fmt: skip


def at(session: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(SESSIONS[session], dt.time(hour, minute), IST)


def pairs(*rows: tuple[str, dt.datetime]) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": [r[0] for r in rows], "as_of": [r[1] for r in rows]},
        schema={"symbol": pl.Utf8, "as_of": pl.Datetime("us", "Asia/Kolkata")},
    )


def materialised_at(store: SqlStore, asked: pl.DataFrame, specs: tuple[FeatureSpec, ...]) -> pl.DataFrame:
    """The stored row of each pair's instrument with the latest known_at <= as_of."""
    wide = read_features(store, wide=True)
    left = asked.with_row_index("_i").with_columns(
        ("IN" + pl.col("symbol")).alias("instrument_id"), pl.col("as_of").dt.convert_time_zone("UTC")
    )
    joined = left.sort("as_of").join_asof(
        wide.sort("known_at"),
        left_on="as_of",
        right_on="known_at",
        by="instrument_id",
        check_sortedness=False,
    )
    outputs = [o for s in specs for o in s.outputs]
    return joined.sort("_i").select(pl.col("date").alias("date__expected"), *outputs)


def test_values_equal_the_materialised_ones_from_a_late_start(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_features(store, WINDOWED)
    panels: list[pl.DataFrame] = []

    def spy(*args: Any, **kwargs: Any) -> pl.DataFrame:
        panels.append(load_panel(*args, **kwargs))
        return panels[-1]

    monkeypatch.setattr(loading, "load_panel", spy)
    asked = pairs(
        ("AAA", at(220, 10)),  # before the close is published: session 219's values
        ("BBB", at(220, 16)),  # at publication: session 220's
        ("CCC", at(225, 18)),  # suspended after session 190: its last values
        ("DDD", at(239, 20)),
        ("AAA", at(239, 9, 14)),  # the 5 % band from session 200 is in its band distance
    )
    got = store_features_at(store, WINDOWED, asked)
    want = materialised_at(store, asked, WINDOWED)
    assert got.get_column("date__returns").to_list() == [SESSIONS[i] for i in (219, 220, 190, 239, 238)]
    assert got.get_column("date__cross_section").equals(want.get_column("date__expected"), check_names=False)
    assert_frame_equal(got.select(want.columns[1:]), want.drop("date__expected"), rel_tol=1e-9, abs_tol=1e-12)
    assert got.get_column("band_upper_dist").is_null().to_list() == [False] * 3 + [
        True,
        False,
    ]  # DDD: No Band
    close = store.bars(symbols=["AAA"]).get_column("close")
    assert got.row(4, named=True)["band_upper_dist"] == pytest.approx(
        (close[237] * 1.05 - close[238]) / close[238]
    )
    assert got.columns[:3] == ["symbol", "as_of", "instrument_id"]
    strict = store_features_at(store, WINDOWED, asked, strict=True)
    assert_frame_equal(strict, got)
    # from CCC's last session (190) back 60 sessions and a margin: not the whole history
    first = panels[0].group_by("instrument_id").agg(pl.col("date").min()).get_column("date")
    assert SESSIONS[0] < first.min() <= SESSIONS[130]  # type: ignore[operator]


def test_every_registered_feature_equals_the_materialised_value(store: SqlStore) -> None:
    report = build_features(store, REGISTRY.specs)
    asked = pairs(
        ("AAA", at(3, 17)),
        ("CCC", at(200, 12)),
        ("DDD", at(239, 17)),
        ("BBB", at(60, 15, 59)),
        ("AAA", at(0, 9)),  # nothing known yet
        ("ZZZ", at(50, 17)),  # no such symbol
    )
    got = wf.features_at(store, asked)
    built = tuple(s for s in REGISTRY.specs if s.name not in report.skipped)
    want = materialised_at(store, asked, built)
    assert_frame_equal(got.select(want.columns[1:]), want.drop("date__expected"))
    assert got.row(4, named=True)["rsi_14"] is None
    assert got.row(5, named=True)["instrument_id"] is None
    assert got.get_column("date__day_of_week").to_list()[:4] == [
        SESSIONS[3],
        SESSIONS[190],
        SESSIONS[239],
        SESSIONS[59],
    ]
    # no events and no sectors in the store: those features are null, as a build skips them
    assert {"earnings", "sector_relative"} <= set(report.skipped)
    assert got.get_column("eps_yoy").null_count() == got.height
    assert got.get_column("sector_rank_ret_20d").null_count() == got.height


def test_instrument_ids_empty_pairs_and_missing_inputs(store: SqlStore) -> None:
    specs = REGISTRY.select(["returns", "sector_relative"])
    by_id = pl.DataFrame({"instrument_id": ["INBBB"], "as_of": [at(50, 17)]})
    got = store_features_at(store, specs, by_id)
    assert got.row(0, named=True)["date__returns"] == SESSIONS[50]
    assert got.row(0, named=True)["sector_z_vol_20d"] is None
    with pytest.raises(FeatureError, match="no sector per instrument"):
        store_features_at(store, specs, by_id, require_inputs=True)
    empty = store_features_at(store, specs, by_id.clear())
    assert empty.height == 0
    assert "ret_20d" in empty.columns
    with pytest.raises(FeatureError, match="timezone-aware"):
        store_features_at(store, specs, by_id.with_columns(pl.col("as_of").dt.replace_time_zone(None)))


def test_missing_input_names_the_index_the_spec_needs(store: SqlStore) -> None:
    (nifty,) = REGISTRY.select(["relative_nifty50"])
    inputs = load_inputs(store, ["index", "sectors"])
    assert missing_input(nifty, inputs) is None
    bank = {"index": inputs["index"].with_columns(index_name=pl.lit("NIFTY BANK"))}
    assert missing_input(nifty, bank) == (
        "no NIFTY 50 rows in index_bars: ingest NSE's daily index files (ind_close_all_DDMMYYYY.csv)"
    )
    assert inputs["sectors"].columns == ["instrument_id", "sector", "knowledge_time"]
