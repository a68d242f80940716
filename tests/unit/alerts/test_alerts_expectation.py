"""The backtest's expectation from a model's out-of-sample predictions, and the shared report.

Out-of-sample rows (hand-checkable):

    entry_date  score  net_return
    d1          0.9     0.04
    d1          0.5    -0.02
    d1          0.1     0.10
    d2          0.8    -0.01
    d2          0.7     0.03

- ``score >= 0.6``: 0.04, -0.01, 0.03 -> mean 0.02, sd sqrt((4 + 9 + 1)e-4 / 2) = sqrt(7e-4), 2 wins of 3;
- top half per date: d1 ceil(1.5) = 2 rows (0.04, -0.02), d2 ceil(1.0) = 1 row (-0.01) -> mean 0.01 / 3,
  sd sqrt(((0.11/3)^2 + (0.07/3)^2 + (0.04/3)^2) / 2), 1 win of 3;
- every row: mean 0.14 / 5 = 0.028, 3 wins of 5.
"""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from earnest.alerts.expectation import (
    ModelExpectation,
    alerts_report,
    expectation_from_oos,
    label_horizon,
    registry_expectation,
)
from earnest.alerts.outcomes import Expectation
from earnest.core.errors import ConfigError, DataError
from earnest.store import SqlStore

D1, D2 = dt.date(2024, 1, 3), dt.date(2024, 1, 4)


def oos_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "entry_date": [D1, D1, D1, D2, D2],
            "symbol": ["A", "B", "C", "A", "D"],
            "score": [0.9, 0.5, 0.1, 0.8, 0.7],
            "net_return": [0.04, -0.02, 0.10, -0.01, 0.03],
            "label": [1.0, 0.0, 1.0, 0.0, 1.0],
        }
    )


def test_threshold_takes_the_rows_scored_at_or_above_it() -> None:
    got = expectation_from_oos(oos_frame(), threshold=0.6)
    assert got.mean == pytest.approx(0.02)
    assert got.sd == pytest.approx(math.sqrt(7e-4))
    assert got.win_rate == pytest.approx(2 / 3)
    assert expectation_from_oos(oos_frame(), threshold=0.7) == got  # >=: the 0.7 row is in
    ints = oos_frame().with_columns((pl.col("score") * 10).round().cast(pl.Int64))
    assert expectation_from_oos(ints, threshold=6) == got  # integer scores work too


def test_top_fraction_takes_the_rounded_up_share_of_each_entry_date() -> None:
    got = expectation_from_oos(oos_frame(), top_fraction=0.5)
    assert got.mean == pytest.approx(0.01 / 3)
    assert got.sd == pytest.approx(math.sqrt(((0.11 / 3) ** 2 + (0.07 / 3) ** 2 + (0.04 / 3) ** 2) / 2))
    assert got.win_rate == pytest.approx(1 / 3)
    every = expectation_from_oos(oos_frame(), top_fraction=1.0)
    assert (every.mean, every.win_rate) == pytest.approx((0.028, 0.6))


def test_null_scores_and_returns_are_left_out() -> None:
    extra = pl.DataFrame(
        {"entry_date": [D2, D2], "symbol": ["E", "F"], "score": [None, 0.95], "net_return": [0.5, None],
         "label": [1.0, 1.0]}
    )  # fmt: skip
    got = expectation_from_oos(pl.concat([oos_frame(), extra]), threshold=0.6)
    assert got.mean == pytest.approx(0.02)


def test_one_row_has_no_sd_and_a_certain_win_rate_is_dropped() -> None:
    got = expectation_from_oos(oos_frame(), threshold=0.85)
    assert got == Expectation(mean=pytest.approx(0.04), sd=None, win_rate=None)  # type: ignore[arg-type]


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="lack score") as missing:
        expectation_from_oos(oos_frame().drop("score"), threshold=0.5)
    assert missing.value.field == "score"
    with pytest.raises(DataError, match="no out-of-sample prediction"):
        expectation_from_oos(oos_frame().head(0), top_fraction=0.5)
    with pytest.raises(DataError, match=r"score >= 2\.0"):
        expectation_from_oos(oos_frame(), threshold=2.0)
    with pytest.raises(ConfigError, match="exactly one"):
        expectation_from_oos(oos_frame())
    with pytest.raises(ConfigError, match="exactly one"):
        expectation_from_oos(oos_frame(), threshold=0.5, top_fraction=0.5)
    with pytest.raises(ConfigError, match="top_fraction"):
        expectation_from_oos(oos_frame(), top_fraction=0.0)


@pytest.mark.parametrize(
    ("spec", "horizon"),
    [
        ("win_5s_at_open", 5),
        ("fwd_return_10s_at_close", 10),
        ("fwd_ret_3d_lag1", 3),
        ("triple_barrier", None),
    ],
)
def test_label_horizon(spec: str, horizon: int | None) -> None:
    assert label_horizon(spec) == horizon


def test_model_expectation_applies_at_the_label_horizon() -> None:
    got = ModelExpectation.from_oos(
        oos_frame(), model_name="m", model_version="3", label_spec="win_3s_at_open", threshold=0.6
    )
    assert got is not None
    assert (got.horizon, got.n_oos, got.rule) == (3, 5, "score >= 0.6")
    assert got.expectation == expectation_from_oos(oos_frame(), threshold=0.6)
    assert ModelExpectation.from_oos(oos_frame(), model_name="m", model_version="3", label_spec="x") is None


def test_report_applies_the_expectation_only_at_its_horizon_and_measure(duck: SqlStore) -> None:
    exp = ModelExpectation("m", "3", 3, Expectation(mean=0.02, sd=0.05, win_rate=0.6), "score >= 0.6", 5)
    rows = alerts_report(duck, expectation=exp)
    assert [r["horizon"] for r in rows] == [1, 3, 5]
    assert [r["n"] for r in rows] == [0, 0, 0]
    h1, h3, _ = rows
    assert h3["expectation"] == {"mean": 0.02, "sd": 0.05, "win_rate": 0.6}
    assert h3["expectation_note"] == ""
    assert h3["expectation_source"]["model_version"] == "3"
    assert h1["expectation"] is None
    assert "horizon 3 only" in h1["expectation_note"]
    excess = alerts_report(duck, expectation=lambda: exp, horizons=[3], measure="excess")
    assert excess[0]["expectation"] is None
    assert "measure=raw" in excess[0]["expectation_note"]
    other = alerts_report(duck, expectation=exp, horizons=[3], model_name="other")
    assert other[0]["expectation"] is None
    none = alerts_report(duck, expectation=lambda: None, horizons=[3])
    assert none[0]["expectation"] is None
    assert none[0]["expectation_source"] is None


class FakeRegistry:
    def __init__(self, oos: pl.DataFrame | None) -> None:
        self._oos = oos
        self.asked: list[tuple[str, int | None, str | None]] = []

    def show(self, name: str, version: int | None = None, alias: str | None = None) -> object:
        class Lin:
            label_spec = "win_5s_at_open"

        class Info:
            version = 7
            lineage = Lin()

        self.asked.append((name, version, alias))
        return Info()

    def oos(self, name: str, version: int | None = None, alias: str | None = None) -> pl.DataFrame | None:
        self.asked.append((name, version, alias))
        return self._oos


def test_registry_expectation_reads_the_production_version() -> None:
    reg = FakeRegistry(oos_frame())
    got = registry_expectation(reg, "m", top_fraction=0.5)
    assert got is not None
    assert (got.model_version, got.horizon) == ("7", 5)
    assert got.expectation.mean == pytest.approx(0.01 / 3)
    assert reg.asked == [("m", None, "production"), ("m", 7, None)]
    assert registry_expectation(FakeRegistry(None), "m", top_fraction=0.5) is None
