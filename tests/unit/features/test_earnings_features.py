"""Earnings features on hand-made events and closes: what is visible at each session's end of day."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from earnest.core import schemas
from earnest.core.calendar import IST, TradingCalendar, eod_known_utc
from earnest.core.errors import DataError
from earnest.events.fundamentals import FIGURES
from earnest.features.earnings import (
    EVENT_COLUMNS,
    METRICS,
    OUTPUTS,
    SPECS,
    earnings_features,
    results_with_figures,
)

SESSIONS = [d for d in (dt.date(2023, 10, 2) + dt.timedelta(days=i) for i in range(120)) if d.weekday() < 5]
CAL = TradingCalendar(SESSIONS)
D = dt.date


def close_on(day: dt.date) -> float:
    """Closes rise by 1 a session from 100: close(session i) = 100 + i."""
    return 100.0 + SESSIONS.index(day)


def panel(symbol: str = "FIXCO") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "instrument_id": f"ISIN-{symbol}",
            "symbol": symbol,
            "date": SESSIONS,
            "close": [close_on(d) for d in SESSIONS],
        }
    )


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), IST).astimezone(dt.UTC)


def event(kt: dt.datetime, first: dt.date, period_end: dt.date, *, consolidated: bool = True,
          symbol: str = "FIXCO", kind: str = "quarter", **metrics: float) -> dict[str, Any]:  # fmt: skip
    row: dict[str, Any] = {
        "symbol": symbol, "knowledge_time": kt, "first_session": first, "first_fill": "open",
        "period_end": period_end, "period_kind": kind, "consolidated": consolidated,
    }  # fmt: skip
    row.update(dict.fromkeys(METRICS.values()))
    row.update(metrics)
    return row


def events(*rows: dict[str, Any]) -> pl.DataFrame:
    schema = {
        "symbol": pl.Utf8, "knowledge_time": pl.Datetime("us", "UTC"), "first_session": pl.Date,
        "first_fill": pl.Utf8, "period_end": pl.Date, "period_kind": pl.Utf8, "consolidated": pl.Boolean,
        **dict.fromkeys(METRICS.values(), pl.Float64),
    }  # fmt: skip
    return pl.DataFrame(list(rows), schema=schema)


Q2, Q3 = D(2023, 9, 30), D(2023, 12, 31)
# Q2: broadcast Wed 18 Oct 10:00 IST (during the session: first traded at the next open, Oct 19)
E1 = event(
    at(D(2023, 10, 18), 10), D(2023, 10, 19), Q2, revenue_from_operations_yoy=0.10, sue=1.5, beat_streak=2
)
E1S = event(
    at(D(2023, 10, 18), 10), D(2023, 10, 19), Q2, consolidated=False, revenue_from_operations_yoy=0.05
)
# Q3: broadcast Wed 10 Jan 19:15 IST, after the close: first traded Thu 11 Jan
E2 = event(at(D(2024, 1, 10), 19, 15), D(2024, 1, 11), Q3, revenue_from_operations_yoy=0.30, net_margin=0.12,
           eps_basic_qoq=-0.2, beat_streak=3)  # fmt: skip
# a restatement of Q2 filed on Fri 12 Jan: it must not replace the newer Q3 figures
E_OLD = event(at(D(2024, 1, 12), 10), D(2024, 1, 15), Q2, revenue_from_operations_yoy=-0.9)


def features(*rows: dict[str, Any], pan: pl.DataFrame | None = None) -> pl.DataFrame:
    return earnings_features(pan if pan is not None else panel(), events=events(*rows), calendar=CAL)


def on(out: pl.DataFrame, day: dt.date) -> dict[str, Any]:
    return out.filter(pl.col("date") == day).row(0, named=True)


def test_shape_and_known_at() -> None:
    out = features(E1, E1S, E2)
    assert out.columns == ["instrument_id", "date", "known_at", *OUTPUTS]
    assert out.height == len(SESSIONS)
    assert out["date"].to_list() == SESSIONS
    assert on(out, D(2024, 1, 10))["known_at"] == eod_known_utc(D(2024, 1, 10))
    assert all(out.schema[c] == pl.Float64 for c in OUTPUTS)


def test_results_released_at_1915_are_visible_the_next_session_only() -> None:
    out = features(E1, E1S, E2)
    d, d1 = on(out, D(2024, 1, 10)), on(out, D(2024, 1, 11))
    assert d["revenue_yoy"] == pytest.approx(0.10)  # still Q2 (consolidated preferred over 0.05)
    assert d["is_results_day"] == 0.0
    assert d1["revenue_yoy"] == pytest.approx(0.30)
    assert d1["net_margin"] == pytest.approx(0.12)
    assert d1["eps_qoq"] == pytest.approx(-0.2)
    assert d1["beat_streak"] == 3.0
    assert d1["is_results_day"] == 1.0
    assert d1["sessions_since_results"] == 0.0
    assert d1["days_since_results"] == 1.0  # announced on the 10th (IST), seen on the 11th


@pytest.mark.parametrize(("output", "source"), list(METRICS.items()))
def test_each_metric_is_the_latest_quarter_figure_it_names(output: str, source: str) -> None:
    q2 = event(at(D(2023, 10, 18), 10), D(2023, 10, 19), Q2, **{source: 0.25})
    q3 = event(at(D(2024, 1, 10), 19, 15), D(2024, 1, 11), Q3, **{source: -1.5})
    out = features(q2, q3)
    assert on(out, D(2023, 10, 17))[output] is None
    assert on(out, D(2024, 1, 10))[output] == pytest.approx(0.25)
    assert on(out, D(2024, 1, 11))[output] == pytest.approx(-1.5)
    others = [o for o in METRICS if o != output]
    assert all(on(out, D(2024, 1, 11))[o] is None for o in others)


def test_days_and_sessions_since_results() -> None:
    out = features(E1, E2)
    oct18, oct17 = on(out, D(2023, 10, 18)), on(out, D(2023, 10, 17))
    assert oct17["revenue_yoy"] is None
    assert oct17["days_since_results"] is None
    assert oct17["is_results_day"] == 0.0
    assert oct18["is_results_day"] == 1.0  # 10:00 IST is before the 16:00 end of day
    assert oct18["revenue_yoy"] == pytest.approx(0.10)
    jan10 = on(out, D(2024, 1, 10))
    assert jan10["days_since_results"] == (D(2024, 1, 10) - D(2023, 10, 18)).days
    assert jan10["sessions_since_results"] == SESSIONS.index(D(2024, 1, 10)) - SESSIONS.index(D(2023, 10, 18))
    mon = on(out, D(2024, 1, 15))
    assert (mon["days_since_results"], mon["sessions_since_results"]) == (5.0, 2.0)


def test_reactions_previous_and_own() -> None:
    out = features(E1, E2)
    r1 = close_on(D(2023, 10, 19)) / close_on(D(2023, 10, 18)) - 1  # E1: first session Oct 19 (open)
    r2 = close_on(D(2024, 1, 11)) / close_on(D(2024, 1, 10)) - 1
    oct18, oct19 = on(out, D(2023, 10, 18)), on(out, D(2023, 10, 19))
    assert oct18["results_reaction"] is None  # Oct 19's close is not published yet
    assert oct19["results_reaction"] == pytest.approx(r1)
    assert oct19["prev_reaction_count"] == 0.0
    assert oct19["prev_reaction_mean"] is None
    jan11 = on(out, D(2024, 1, 11))
    assert jan11["prev_reaction_last"] == pytest.approx(r1)
    assert jan11["prev_reaction_mean"] == pytest.approx(r1)
    assert jan11["prev_reaction_count"] == 1.0
    assert jan11["results_reaction"] == pytest.approx(r2)  # Jan 11's close is known at its end of day


def test_a_late_restatement_of_an_older_quarter_does_not_replace_the_newer_one() -> None:
    out = features(E1, E2, E_OLD)
    jan12 = on(out, D(2024, 1, 12))
    assert jan12["revenue_yoy"] == pytest.approx(0.30)
    assert jan12["sessions_since_results"] == 1.0


def test_a_revision_of_the_same_quarter_does_replace_it() -> None:
    revised = event(at(D(2024, 1, 12), 10), D(2024, 1, 15), Q3, revenue_from_operations_yoy=0.31)
    out = features(E1, E2, revised)
    assert on(out, D(2024, 1, 11))["revenue_yoy"] == pytest.approx(0.30)
    assert on(out, D(2024, 1, 12))["revenue_yoy"] == pytest.approx(0.31)
    assert on(out, D(2024, 1, 12))["sessions_since_results"] == 1.0  # dated by the first filing


def test_standalone_used_when_it_is_a_quarter_ahead() -> None:
    q3_standalone = event(
        at(D(2024, 1, 10), 8), D(2024, 1, 10), Q3, consolidated=False, revenue_from_operations_yoy=0.2
    )
    out = features(E1, q3_standalone)
    assert on(out, D(2024, 1, 9))["revenue_yoy"] == pytest.approx(0.10)
    assert on(out, D(2024, 1, 10))["revenue_yoy"] == pytest.approx(0.2)


def test_symbols_are_separate_and_rows_keep_order() -> None:
    pan = pl.concat([panel("OTHER"), panel("FIXCO")])
    out = features(E1, E2, pan=pan)
    assert out["instrument_id"].to_list() == pan["instrument_id"].to_list()
    other = out.filter(pl.col("instrument_id") == "ISIN-OTHER")
    assert other["revenue_yoy"].null_count() == other.height
    assert other["is_results_day"].sum() == 0.0


def test_missing_columns_fail_clearly() -> None:
    with pytest.raises(DataError, match="sue") as err:
        earnings_features(panel(), events=events(E1).drop("sue"), calendar=CAL)
    assert err.value.field == "sue"
    assert set(EVENT_COLUMNS) <= set(events(E1).columns)


def test_results_with_figures_joins_the_derived_quarter() -> None:
    ends = [D(2022, 12, 31), D(2023, 3, 31), D(2023, 6, 30), D(2023, 9, 30), D(2023, 12, 31)]
    revenue = [100.0, 110.0, 120.0, 130.0, 150.0]
    figs = schemas.conform(
        pl.DataFrame(
            [
                {"xbrl_name": f"x{i}", "xbrl_sha256": f"x{i}", "symbol": "FIXCO", "consolidation": "consolidated",
                 "period_kind": "quarter", "period_start": e.replace(day=1), "period_end": e,
                 "knowledge_time": at(e + dt.timedelta(days=20), 10), "revenue_from_operations": r}
                for i, (e, r) in enumerate(zip(ends, revenue, strict=True))
            ]
        ),
        FIGURES,
    )  # fmt: skip
    ev = pl.DataFrame(
        {
            "xbrl_name": ["x4", "x9"],
            "consolidated": [True, True],
            "period_end": [ends[4], ends[4]],
            "symbol": "FIXCO",
        }
    )
    out = results_with_figures(ev, figs)
    assert out["revenue_from_operations_yoy"].to_list()[0] == pytest.approx(0.5)
    assert out["revenue_from_operations_qoq"].to_list()[0] == pytest.approx(20 / 130)
    assert out["revenue_from_operations_yoy"].to_list()[1] is None  # no figures for that filing
    assert out.height == 2


def test_spec_is_registered_with_declared_outputs() -> None:
    (spec,) = SPECS
    assert spec.outputs == OUTPUTS
    assert spec.inputs == ("bars", "events")
    out = spec.compute(panel(), events=events(E1, E2))
    assert list(out.columns[3:]) == list(spec.outputs)


@pytest.mark.parametrize(
    "cut", [D(2023, 10, 18), D(2023, 10, 19), D(2024, 1, 10), D(2024, 1, 11), D(2024, 1, 12)]
)
def test_truncating_after_the_cut_changes_nothing_up_to_it(cut: dt.date) -> None:
    evs = events(E1, E1S, E2, E_OLD)
    full = earnings_features(panel(), events=evs, calendar=CAL).filter(pl.col("date") <= cut)
    known = evs.filter(pl.col("knowledge_time") <= eod_known_utc(cut))
    short = earnings_features(panel().filter(pl.col("date") <= cut), events=known, calendar=CAL)
    assert full.equals(short)


def test_an_event_without_knowledge_time_is_never_used() -> None:
    unknown = events(E1, E2).with_columns(
        pl.when(pl.col("period_end") == Q2)
        .then(None)
        .otherwise(pl.col("knowledge_time"))
        .alias("knowledge_time")
    )
    out = earnings_features(panel(), events=unknown, calendar=CAL)
    assert on(out, D(2024, 1, 10))["revenue_yoy"] is None
    jan11 = on(out, D(2024, 1, 11))
    assert jan11["revenue_yoy"] == pytest.approx(0.30)
    assert jan11["prev_reaction_count"] == 0.0
