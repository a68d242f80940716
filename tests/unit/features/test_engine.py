"""The feature engine: slicing (a spy feature sees nothing past the as-of time, and only the declared
lookback before ``start``), incremental == full recompute, result checks, layouts, registry, specs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from earnest.core.calendar import IST, eod_known_utc, nse_calendar
from earnest.features import (
    FeatureError,
    FeatureSpec,
    Registry,
    compute_features,
    features_at,
    to_long,
    to_wide,
)
from earnest.features.engine import compute_each, prepare_panel
from earnest.features.spec import eod_known_at

SESSIONS = nse_calendar().sessions_between(dt.date(2024, 1, 1), dt.date(2024, 2, 29))[:30]


def panel(ids: tuple[str, ...] = ("A", "B"), n: int = 30) -> pl.DataFrame:
    """Closes 1, 2, 3, ... per instrument (B = 100 + A): rolling means are hand-checkable."""
    rows = [
        {"instrument_id": i, "symbol": i, "date": d, "close": float(k + 1 + (100 if i == "B" else 0))}
        for i in ids
        for k, d in enumerate(SESSIONS[:n])
    ]
    frame = pl.DataFrame(rows)
    return frame.with_columns(eod_known_at(pl.col("date")).alias("knowledge_time"))


def mean_3(frame: pl.DataFrame, *, n: int = 3) -> pl.DataFrame:
    """Mean close of the last ``n`` rows (null until there are ``n``)."""
    return frame.select(
        "instrument_id",
        "date",
        eod_known_at(pl.col("date")).alias("known_at"),
        pl.col("close").rolling_mean(n).over("instrument_id").alias(f"mean_{n}"),
    )


MEAN = FeatureSpec("mean_3", "mean close of 3 sessions", mean_3, ("bars",), 2, ("mean_3",), {"n": 3})


class Spy:
    """A feature that records what it was given and answers the close."""

    def __init__(self) -> None:
        self.seen: list[pl.DataFrame] = []
        self.kwargs: list[dict[str, Any]] = []

    def __call__(self, frame: pl.DataFrame, **kwargs: Any) -> pl.DataFrame:
        self.seen.append(frame)
        self.kwargs.append(kwargs)
        return frame.select(
            "instrument_id",
            "date",
            eod_known_at(pl.col("date")).alias("known_at"),
            pl.col("close").alias("spy"),
        )


def spy_spec(spy: Spy, lookback: int = 4, inputs: tuple[str, ...] = ("bars",)) -> FeatureSpec:
    return FeatureSpec("spy", "records its input", spy, inputs, lookback, ("spy",))


def test_spy_sees_nothing_after_as_of() -> None:
    spy = Spy()
    d10 = SESSIONS[10]
    as_of = dt.datetime.combine(d10, dt.time(12, 0), IST)  # before d10's end of day
    out = compute_features(panel(), [spy_spec(spy)], as_of=as_of)
    assert spy.seen[0].get_column("date").max() == SESSIONS[9]
    assert out.get_column("date").max() == SESSIONS[9]
    spy2 = Spy()
    compute_features(panel(), [spy_spec(spy2)], as_of=eod_known_utc(d10))
    assert spy2.seen[0].get_column("date").max() == d10


def test_spy_sees_lookback_rows_before_start_only() -> None:
    spy = Spy()
    start = SESSIONS[20]
    out = compute_features(panel(), [spy_spec(spy, lookback=4)], start=start, end=SESSIONS[22])
    seen = spy.seen[0]
    # 4 rows of history + sessions 20, 21, 22, per instrument; nothing after the end
    assert seen.group_by("instrument_id").len().get_column("len").to_list() == [7, 7]
    assert seen.get_column("date").min() == SESSIONS[16]
    assert seen.get_column("date").max() == SESSIONS[22]
    assert out.get_column("date").unique().sort().to_list() == SESSIONS[20:23]


def test_other_inputs_are_cut_at_the_same_instant() -> None:
    spy = Spy()
    index = pl.DataFrame({"index_name": "NIFTY 50", "date": SESSIONS, "close": [1.0] * len(SESSIONS)})
    index = index.with_columns(eod_known_at(pl.col("date")).alias("knowledge_time"))
    events = pl.DataFrame(
        {
            "symbol": ["A", "A"],
            "knowledge_time": [
                eod_known_utc(SESSIONS[5]),
                eod_known_utc(SESSIONS[5]) + dt.timedelta(seconds=1),
            ],
        }
    )
    spec = spy_spec(spy, lookback=2, inputs=("bars", "index", "events"))
    compute_features(
        panel(), [spec], end=SESSIONS[5], start=SESSIONS[4], inputs={"index": index, "events": events}
    )
    got = spy.kwargs[0]
    assert got["index"].get_column("date").to_list() == SESSIONS[2:6]
    assert got["events"].height == 1  # the one known a second after the end of day is not given


def test_missing_input_is_a_clear_error() -> None:
    spec = spy_spec(Spy(), inputs=("bars", "index"))
    with pytest.raises(FeatureError, match="needs input 'index'"):
        compute_features(panel(), [spec])


def test_hand_checked_values_and_incremental_equals_full() -> None:
    full = compute_features(panel(), [MEAN])
    a = full.filter(pl.col("instrument_id") == "A").get_column("mean_3").to_list()
    assert a[:4] == [None, None, 2.0, 3.0]
    for k in (3, 10, 29):
        part = compute_features(panel(), [MEAN], start=SESSIONS[k])
        assert_frame_equal(part, full.filter(pl.col("date") >= SESSIONS[k]), check_exact=True)


def test_incremental_one_new_day_reads_lookback_plus_one_rows() -> None:
    spy = Spy()
    compute_features(panel(), [spy_spec(spy, lookback=7)], start=SESSIONS[-1])
    assert spy.seen[0].height == 2 * 8


def test_unsorted_panel_is_sorted_and_duplicates_refused() -> None:
    shuffled = panel().sample(fraction=1.0, shuffle=True, seed=3)
    assert_frame_equal(compute_features(shuffled, [MEAN]), compute_features(panel(), [MEAN]))
    doubled = pl.concat([panel(), panel().head(1)])
    with pytest.raises(FeatureError, match="two rows for A"):
        prepare_panel(doubled)


def _spec(fn: Any, **kw: Any) -> FeatureSpec:
    return FeatureSpec("bad", "a broken feature", fn, ("bars",), 0, ("x",), **kw)


def test_results_are_checked() -> None:
    def drops_a_row(f: pl.DataFrame) -> pl.DataFrame:
        return f.head(f.height - 1).select("instrument_id", "date", pl.lit(None).alias("known_at"), x=1.0)

    def no_output(f: pl.DataFrame) -> pl.DataFrame:
        return f.select("instrument_id", "date", eod_known_at(pl.col("date")).alias("known_at"))

    def late(f: pl.DataFrame) -> pl.DataFrame:
        known = eod_known_at(pl.col("date")) + pl.duration(days=1)
        return f.select("instrument_id", "date", known.alias("known_at"), x=pl.lit(1.0))

    with pytest.raises(FeatureError, match="rows"):
        compute_features(panel(), [_spec(drops_a_row)])
    with pytest.raises(FeatureError, match=r"no column\(s\) \['x'\]"):
        compute_features(panel(), [_spec(no_output)])
    with pytest.raises(FeatureError, match="look-ahead"):
        compute_features(panel(), [_spec(late, known_at="event")])
    # an eod spec's known_at is its row's end of day whatever the function said
    out = compute_features(panel(), [_spec(late)])
    assert (out.get_column("known_at") == out.select(eod_known_at(pl.col("date"))).to_series()).all()


def test_nan_becomes_null_and_layouts_round_trip() -> None:
    def nan(f: pl.DataFrame) -> pl.DataFrame:
        return f.select(
            "instrument_id", "date", eod_known_at(pl.col("date")).alias("known_at"), x=float("nan")
        )

    two = [MEAN, _spec(nan)]
    wide = compute_features(panel(), two)
    assert wide.get_column("x").null_count() == wide.height
    long = compute_features(panel(), two, layout="long")
    assert long.columns == ["instrument_id", "date", "feature", "value", "known_at"]
    assert long.height == 2 * wide.height
    assert_frame_equal(to_long(wide), long)
    assert_frame_equal(to_wide(long).select(wide.columns), wide)


def test_features_at_fast_path_equals_strict_slicing() -> None:
    d5 = SESSIONS[5]
    pairs = pl.DataFrame(
        {
            "instrument_id": ["A", "B", "A", "B", "A"],
            "as_of": [
                dt.datetime.combine(d5, dt.time(15, 59), IST),  # before d5's close is published: d4
                dt.datetime.combine(d5, dt.time(16, 0), IST),  # at publication: d5
                dt.datetime.combine(SESSIONS[0], dt.time(9, 0), IST),  # nothing known yet
                dt.datetime.combine(SESSIONS[-1] + dt.timedelta(days=30), dt.time(9, 0), IST),
                dt.datetime.combine(SESSIONS[12], dt.time(18, 0), IST),
            ],
        }
    )
    fast = features_at(panel(), [MEAN], pairs)
    strict = features_at(panel(), [MEAN], pairs, strict=True)
    assert_frame_equal(fast, strict)
    assert fast.get_column("date__mean_3").to_list() == [SESSIONS[4], d5, None, SESSIONS[-1], SESSIONS[12]]
    assert fast.get_column("mean_3").to_list() == [4.0, 105.0, None, 129.0, 12.0]
    by_symbol = features_at(panel(), [MEAN], pairs.rename({"instrument_id": "symbol"}))
    assert by_symbol.get_column("mean_3").to_list() == fast.get_column("mean_3").to_list()


def test_naive_as_of_is_refused() -> None:
    with pytest.raises(FeatureError, match="no time zone"):
        compute_each(panel(), [MEAN], as_of=dt.datetime(2024, 1, 10, 12))


def test_spec_validation_names_the_field() -> None:
    with pytest.raises(FeatureError) as err:
        FeatureSpec("RSI", "x", mean_3, ("bars",), 0, ("y",))
    assert err.value.field == "name"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"inputs": ("index",)}, "inputs"),
        ({"inputs": ("bars", "news")}, "inputs"),
        ({"lookback_sessions": -1}, "lookback_sessions"),
        ({"outputs": ()}, "outputs"),
        ({"outputs": ("date",)}, "outputs"),
        ({"known_at": "later"}, "known_at"),
        ({"params": {"index": 1}}, "params"),
        ({"description": " "}, "description"),
    ]
    base: dict[str, Any] = {
        "name": "ok",
        "description": "fine",
        "compute": mean_3,
        "inputs": ("bars",),
        "lookback_sessions": 0,
        "outputs": ("y",),
    }
    for change, field in cases:
        with pytest.raises(FeatureError) as err:
            FeatureSpec(**(base | change))
        assert err.value.field == field, change


def test_spec_hash_follows_what_decides_values() -> None:
    other = FeatureSpec("mean_3", "mean close of 3 sessions", mean_3, ("bars",), 2, ("mean_3",), {"n": 4})
    same = FeatureSpec("mean_3", "another description", mean_3, ("bars",), 2, ("mean_3",), {"n": 3})
    assert MEAN.spec_hash != other.spec_hash
    assert MEAN.spec_hash == same.spec_hash


def test_registry_is_a_value_with_unique_names_and_outputs() -> None:
    reg = Registry([MEAN])
    bigger = reg.with_specs(_spec(mean_3))
    assert len(reg) == 1
    assert bigger.names == ("mean_3", "bad")
    assert bigger.get("mean_3") is MEAN
    assert bigger.select(["x"]) == (bigger.get("bad"),)
    with pytest.raises(FeatureError, match="two features"):
        reg.with_specs(MEAN)
    clash = FeatureSpec("other", "d", mean_3, ("bars",), 0, ("mean_3",))
    with pytest.raises(FeatureError, match="already an output"):
        reg.with_specs(clash)
    with pytest.raises(FeatureError, match="did you mean mean_3"):
        reg.get("mean3")
    assert reg.rows()[0]["lookback_sessions"] == 2


def test_every_shipped_feature_says_what_it_means() -> None:
    import sys

    from earnest.features import default_registry

    registry = default_registry()
    assert {"returns", "weekly", "earnings", "relative_nifty50", "cross_section", "sector_relative"} <= set(
        registry.names
    )
    for spec in registry:
        assert len(spec.description.split()) >= 4, spec.name
        documented = spec.compute.__doc__ or sys.modules[spec.compute.__module__].__doc__ or ""
        assert documented.strip(), spec.name
