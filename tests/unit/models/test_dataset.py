"""The training set on the lab's small simulated market: one row per selected event, sorted by
entry, the label's span, labels and net returns as the lab computes them, counted drops."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from earnest.core.calendar import nse_calendar
from earnest.core.errors import DataError
from earnest.lab.samples import StudyData
from earnest.lab.spec import DELIVERY_ROUND_TRIP_BPS, Hypothesis, hypothesis_from_dict
from earnest.models.config import Dataset
from earnest.models.dataset import build_dataset, check_feature_names
from earnest.simulate.labmarket import LabMarket, simulate_lab_market

COST = DELIVERY_ROUND_TRIP_BPS / 1e4


@pytest.fixture(scope="module")
def market() -> LabMarket:
    return simulate_lab_market(n_symbols=20, n_sessions=260, seed=3)


def hyp(market: LabMarket, **extra: object) -> Hypothesis:
    spec = {
        "name": "every event",
        "period": {"start": market.sessions[40], "end": market.sessions[-1]},
        "benchmark": {"estimation_sessions": 30, "gap_sessions": 2, "min_estimation_sessions": 20},
        **extra,
    }
    return hypothesis_from_dict(spec)


def data(market: LabMarket, events: pl.DataFrame | None = None) -> StudyData:
    return StudyData(
        market.events if events is None else events, market.bars, market.index_bars, nse_calendar()
    )


FEATURES = Dataset(features=("pat_yoy", "revenue_yoy"), label="win", horizon=5)


def test_one_sorted_row_per_selected_event_with_counts(market: LabMarket) -> None:
    h = hyp(market, event={"selector": "pat_yoy > 0.2"})
    ts = build_dataset(h, data(market), FEATURES)
    picked = market.events.filter(
        (pl.col("pat_yoy") > 0.2)
        & (pl.col("knowledge_time").dt.convert_time_zone("Asia/Kolkata").dt.date() >= market.sessions[40])
    )
    c = ts.counts
    assert c.selected == picked.height
    assert c.rows + c.entry_blocked + c.null_label == c.selected
    assert c.rows == ts.n > 20
    f = ts.frame
    assert f.columns[:4] == ["symbol", "knowledge_time", "entry_date", "span_end"]
    assert f.columns[-4:] == ["pat_yoy", "revenue_yoy", "label", "net_return"]
    assert f.get_column("entry_date").is_sorted()
    assert (f.get_column("pat_yoy") > 0.2).all()
    # the features are the events' own values, unchanged
    joined = f.join(market.events, on=["symbol", "knowledge_time"], suffix="_event")
    assert joined.height == f.height
    assert (joined["pat_yoy"] == joined["pat_yoy_event"]).all()
    assert ts.x().shape == (ts.n, 2)


def test_the_label_span_ends_horizon_sessions_after_the_entry(market: LabMarket) -> None:
    h = hyp(market)
    sessions = nse_calendar().sessions
    pos = {d: i for i, d in enumerate(sessions)}
    ts = build_dataset(h, data(market), FEATURES)
    for entry, end in ts.frame.select("entry_date", "span_end").iter_rows():
        assert sessions[pos[entry] + 4] == end  # an open entry holds 5 sessions: e .. e+4
    # hand-checked: entering at the open of Thu 2011-03-03 for 5 sessions ends at the close of
    # Wed 2011-03-09 (Fri 4th, Mon 7th, Tue 8th, Wed 9th)
    row = ts.frame.filter(pl.col("entry_date") == dt.date(2011, 3, 3))
    if row.height:
        assert row.get_column("span_end")[0] == dt.date(2011, 3, 9)
    closing = build_dataset(hyp(market, entry={"at": "close"}), data(market), FEATURES)
    for entry, end in closing.frame.select("entry_date", "span_end").iter_rows():
        assert sessions[pos[entry] + 5] == end  # a close entry earns close[e+1] .. close[e+5]


def test_labels_and_net_returns_are_the_lab_outcomes(market: LabMarket) -> None:
    h = hyp(market)
    ts = build_dataset(h, data(market), FEATURES)
    bars = market.bars.select("symbol", "date", "open", "close")
    check = ts.frame.join(bars.rename({"date": "entry_date"}), on=["symbol", "entry_date"], how="left").join(
        bars.rename({"date": "span_end", "open": "o2", "close": "exit"}), on=["symbol", "span_end"]
    )
    # no missing bars in this market: the compounded return is exit close / entry open - 1
    expected = check.get_column("exit") / check.get_column("open") - 1.0 - COST
    assert np.allclose(check.get_column("net_return").to_numpy(), expected.to_numpy(), atol=1e-12)
    assert (ts.frame.get_column("label") == (ts.frame.get_column("net_return") > 0).cast(pl.Float64)).all()
    ret = build_dataset(h, data(market), Dataset(features=("pat_yoy",), label="fwd_return", horizon=5))
    assert ret.frame.get_column("label").equals(ret.frame.get_column("net_return"), check_names=False)
    free = build_dataset(hyp(market, costs={"enabled": False}), data(market), FEATURES)
    assert np.allclose(
        free.frame.get_column("net_return").to_numpy() - COST, ts.frame.get_column("net_return").to_numpy()
    )


def test_null_labels_are_dropped_and_counted(market: LabMarket) -> None:
    h = hyp(market)
    full = build_dataset(h, data(market), FEATURES)
    cut = full.frame.get_column("entry_date")[full.n // 2]
    short = StudyData(
        market.events, market.bars.filter(pl.col("date") <= cut), market.index_bars, nse_calendar()
    )
    ts = build_dataset(h, short, FEATURES)  # the bars stop mid-way: later labels are unknown
    kept = full.frame.filter(pl.col("span_end") <= cut)
    assert ts.counts.selected == full.counts.selected
    assert ts.counts.rows == kept.height < full.n
    assert ts.counts.null_label == full.counts.null_label + (full.n - kept.height)
    assert ts.frame.select("symbol", "knowledge_time", "label").equals(
        kept.select("symbol", "knowledge_time", "label")
    )


def test_feature_nulls_are_kept(market: LabMarket) -> None:
    events = market.events.with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0)
        .then(None)
        .otherwise(pl.col("revenue_yoy"))
        .alias("revenue_yoy")
    )
    ts = build_dataset(hyp(market), data(market, events), FEATURES)
    assert ts.frame.get_column("revenue_yoy").null_count() > 0
    assert np.isnan(ts.x()[:, 1]).sum() == ts.frame.get_column("revenue_yoy").null_count()


def test_missing_or_text_features_and_unknown_names_are_refused(market: LabMarket) -> None:
    with pytest.raises(DataError) as info:
        build_dataset(hyp(market), data(market), Dataset(features=("pat_yoy", "nope"), horizon=5))
    assert info.value.field == "dataset.features[1]"
    text = market.events.with_columns(pl.lit("x").alias("word"))
    with pytest.raises(DataError, match="not a number"):
        build_dataset(hyp(market), data(market, text), Dataset(features=("word",), horizon=5))
    with pytest.raises(DataError) as unknown:
        check_feature_names(("sue", "rsi_41"), ["symbol"])
    assert unknown.value.field == "dataset.features[1]"
    assert "rsi_14" in unknown.value.remedy
    check_feature_names(("sue", "rsi_14", "custom"), ["custom"])  # registered outputs and event fields


def test_class_labels_circuit_hits_and_triple_barrier_are_the_labels_layer(market: LabMarket) -> None:
    from earnest.labels.barriers import triple_barrier

    h = hyp(market)
    tb = build_dataset(h, data(market), Dataset(features=("pat_yoy",), label="triple_barrier", horizon=5))
    assert set(tb.frame.get_column("label").unique().to_list()) <= {0.0, 1.0}
    signals = tb.frame.select("symbol", "knowledge_time")
    direct = triple_barrier(market.bars, signals, horizon=5, lag=0, fill="open", calendar=nse_calendar())
    up = (direct.get_column("tb_label_5d_lag0") == 1).cast(pl.Float64)
    assert tb.frame.get_column("label").equals(up, check_names=False)
    # the upper barrier is touched first exactly when the label is 1: some events of each kind here
    assert 0 < tb.frame.get_column("label").sum() < tb.n
    # circuit hits need price bands: a 10 % band on every bar here, so a +10 % close is a hit
    banded = market.bars.with_columns(band_pct=pl.lit(10.0))
    d = StudyData(market.events, banded, market.index_bars, nse_calendar())
    uc = build_dataset(h, d, Dataset(features=("pat_yoy",), label="upper_circuit", horizon=5))
    assert set(uc.frame.get_column("label").unique().to_list()) <= {0.0, 1.0}
    assert uc.n == build_dataset(h, d, FEATURES).n
    # without bands no event has a circuit label: all dropped and counted, never guessed
    none = build_dataset(h, data(market), Dataset(features=("pat_yoy",), label="upper_circuit", horizon=5))
    assert none.n == 0
    assert none.counts.null_label == none.counts.selected - none.counts.entry_blocked
