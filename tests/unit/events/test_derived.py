"""Derived quarterly values and earlier reactions, on small frames with hand-computed expectations."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import polars as pl
import pytest

from earnest.core import schemas
from earnest.core.errors import DataError
from earnest.events import derived as D
from earnest.events.fundamentals import FIGURES

UTC = dt.UTC
QUARTER_ENDS = [
    dt.date(y, m, d) for y in range(2020, 2026) for m, d in ((3, 31), (6, 30), (9, 30), (12, 31))
]  # index 0 = 2020Q1


def row(i: int, day: int | None = None, *, sha: str | None = None, **values: Any) -> dict[str, Any]:
    """Quarter ``i`` (0 = Jan-Mar 2020) of FIXCO consolidated, known ``day`` days after its end
    (default 20)."""
    end = QUARTER_ENDS[i]
    known = None if day is None and "knowledge_time" in values else dt.datetime.combine(
        end + dt.timedelta(days=20 if day is None else day), dt.time(10), UTC
    )  # fmt: skip
    base = {
        "xbrl_name": sha or f"q{i}",
        "xbrl_sha256": sha or f"q{i}",
        "symbol": "FIXCO",
        "consolidation": "consolidated",
        "period_kind": "quarter",
        "period_start": QUARTER_ENDS[i - 1] + dt.timedelta(days=1) if i else dt.date(2020, 1, 1),
        "period_end": end,
        "knowledge_time": known,
    }
    return {**base, **values}


def figures(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return schemas.conform(pl.DataFrame(rows, infer_schema_length=None), FIGURES)


def derive(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return D.derive_quarterly(figures(rows))


def value(out: pl.DataFrame, sha: str, col: str) -> Any:
    return out.filter(pl.col("xbrl_sha256") == sha).item(0, col)


def test_schema_and_one_row_per_quarter_row() -> None:
    rows = [row(0, revenue_from_operations=1.0), row(1, revenue_from_operations=2.0)]
    rows.append({**row(1, sha="ytd"), "period_kind": "ytd"})
    out = derive(rows)
    assert list(out.schema.items()) == list(D.DERIVED.items())
    assert out["xbrl_sha256"].to_list() == ["q0", "q1"]
    assert out["knowledge_time"].null_count() == 0


def test_growth_year_on_year_and_quarter_on_quarter() -> None:
    revenue = [100.0, 110.0, 120.0, 130.0, 150.0]
    out = derive([row(i, revenue_from_operations=r) for i, r in enumerate(revenue)])
    assert value(out, "q4", "revenue_from_operations_yoy") == pytest.approx(0.5)
    assert value(out, "q4", "revenue_from_operations_qoq") == pytest.approx(20 / 130)
    assert value(out, "q3", "revenue_from_operations_yoy") is None  # no year-ago quarter
    assert value(out, "q0", "revenue_from_operations_qoq") is None


@pytest.mark.parametrize(
    ("base", "now", "expected"),
    [(-10.0, -4.0, 0.6), (-10.0, -16.0, -0.6), (-10.0, 5.0, 1.5), (10.0, -5.0, -1.5), (0.0, 5.0, None)],
)
def test_growth_on_a_negative_or_zero_base(base: float, now: float, expected: float | None) -> None:
    out = derive([row(0, net_profit=base, eps_basic=base), row(4, net_profit=now, eps_basic=now)])
    for field in ("net_profit_yoy", "eps_basic_yoy"):
        got = value(out, "q4", field)
        assert got == (pytest.approx(expected) if expected is not None else None)


def test_owners_growth_only_where_reported() -> None:
    out = derive([row(0, net_profit_owners=8.0), row(1, net_profit_owners=10.0), row(2, net_profit=3.0)])
    assert value(out, "q1", "net_profit_owners_qoq") == pytest.approx(0.25)
    assert value(out, "q2", "net_profit_owners_qoq") is None


def test_margins_and_their_yearly_change() -> None:
    year_ago = row(
        0, revenue_from_operations=100.0, net_profit=10.0, profit_before_tax=12.0, finance_costs=3.0
    )
    now = row(4, revenue_from_operations=200.0, net_profit=30.0, profit_before_tax=40.0, finance_costs=10.0)
    bank = row(5, interest_earned=500.0, net_profit=50.0, profit_before_tax=60.0, finance_costs=1.0)
    zero = row(6, revenue_from_operations=0.0, net_profit=5.0, profit_before_tax=6.0, finance_costs=1.0)
    out = derive([year_ago, now, bank, zero])
    assert value(out, "q4", "net_margin") == pytest.approx(0.15)
    assert value(out, "q4", "operating_margin") == pytest.approx(0.25)
    assert value(out, "q4", "net_margin_yoy_change") == pytest.approx(0.05)
    assert value(out, "q4", "operating_margin_yoy_change") == pytest.approx(0.10)
    for sha in ("q5", "q6"):
        assert value(out, sha, "net_margin") is None
        assert value(out, sha, "operating_margin") is None


# EPS of quarters 0..12; seasonal differences d_4..d_12 = 1, 2, 0, 3, 1, 0, 1, 2, 3
EPS = [10.0, 10.0, 10.0, 10.0, 11.0, 12.0, 10.0, 13.0, 12.0, 12.0, 11.0, 15.0, 15.0]


def test_sue_against_a_seasonal_random_walk() -> None:
    out = derive([row(i, eps_basic=e) for i, e in enumerate(EPS)])
    # q12: d = 3; sd of d_4..d_11 = [1, 2, 0, 3, 1, 0, 1, 2]: mean 1.25, squares sum 7.5, ddof 1
    assert value(out, "q12", "eps_surprise") == pytest.approx(3.0)
    assert value(out, "q12", "sue") == pytest.approx(3.0 / math.sqrt(7.5 / 7))
    assert value(out, "q12", "sue_quarters") == 8
    # q8: d = 1; sd of d_4..d_7 = [1, 2, 0, 3]: mean 1.5, squares sum 5
    assert value(out, "q8", "sue") == pytest.approx(1.0 / math.sqrt(5 / 3))
    assert value(out, "q8", "sue_quarters") == 4
    # q7: three earlier differences only
    assert value(out, "q7", "sue") is None
    assert value(out, "q7", "sue_quarters") == 3
    assert value(out, "q3", "eps_surprise") is None


def test_sue_is_null_when_past_surprises_do_not_vary() -> None:
    eps = [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 4.0]
    out = derive([row(i, eps_basic=e) for i, e in enumerate(eps)])
    assert value(out, "q8", "sue_quarters") == 4
    assert value(out, "q8", "sue") is None


def test_beat_streak() -> None:
    out = derive([row(i, eps_basic=e) for i, e in enumerate(EPS)])
    streaks = dict(zip(out["xbrl_sha256"], out["beat_streak"], strict=True))
    assert [streaks[f"q{i}"] for i in range(13)] == [0, 0, 0, 0, 1, 2, 0, 1, 2, 0, 1, 2, 3]


def test_a_missing_quarter_ends_the_streak() -> None:
    eps = {0: 1.0, 1: 1.0, 2: 1.0, 4: 2.0, 5: 2.0, 6: 2.0, 8: 3.0, 9: 3.0, 10: 3.0}
    out = derive([row(i, eps_basic=e) for i, e in eps.items()])
    assert value(out, "q10", "beat_streak") == 3
    eps.pop(9)
    out = derive([row(i, eps_basic=e) for i, e in eps.items()])
    assert value(out, "q10", "beat_streak") == 1


def test_restatements_filed_later_do_not_leak() -> None:
    original = row(0, eps_basic=10.0, revenue_from_operations=100.0)
    restated = row(
        0, 400, sha="q0_restated", eps_basic=5.0, revenue_from_operations=50.0
    )  # after q4 is known
    now = row(4, eps_basic=12.0, revenue_from_operations=120.0)
    later = row(4, 410, sha="q4_late", eps_basic=12.0, revenue_from_operations=120.0)
    out = derive([original, restated, now, later])
    assert value(out, "q4", "eps_surprise") == pytest.approx(2.0)
    assert value(out, "q4", "revenue_from_operations_yoy") == pytest.approx(0.2)
    # a row known after the restatement uses it
    assert value(out, "q4_late", "eps_surprise") == pytest.approx(7.0)
    assert value(out, "q4_late", "revenue_from_operations_yoy") == pytest.approx(1.4)


def test_a_quarter_filed_late_is_not_history_before_it_was_known() -> None:
    out = derive([row(0, 500, revenue_from_operations=100.0), row(1, revenue_from_operations=110.0)])
    assert value(out, "q1", "revenue_from_operations_qoq") is None


def test_companies_and_bases_are_separate_series() -> None:
    rows = [row(0, net_profit=10.0), row(1, net_profit=20.0)]
    rows += [{**row(1, net_profit=40.0), "xbrl_sha256": "s", "consolidation": "standalone"}]
    rows += [{**row(0, net_profit=1.0), "xbrl_sha256": "o0", "symbol": "OTHER"}]
    rows += [{**row(1, net_profit=3.0), "xbrl_sha256": "o1", "symbol": "OTHER"}]
    out = derive(rows)
    assert value(out, "q1", "net_profit_qoq") == pytest.approx(1.0)
    assert value(out, "s", "net_profit_qoq") is None
    assert value(out, "o1", "net_profit_qoq") == pytest.approx(2.0)


def test_a_row_without_knowledge_time_sees_no_history() -> None:
    rows = [row(0, revenue_from_operations=100.0, net_profit=10.0), row(1, revenue_from_operations=110.0)]
    rows[1]["knowledge_time"] = None
    rows[1]["net_profit"] = 11.0
    out = derive(rows)
    assert value(out, "q1", "revenue_from_operations_qoq") is None
    assert value(out, "q1", "net_margin") == pytest.approx(0.1)


def test_figures_without_the_needed_columns_are_an_error() -> None:
    with pytest.raises(DataError, match="lacks column"):
        D.derive_quarterly(pl.DataFrame({"symbol": ["X"]}))


# --- previous reactions --------------------------------------------------------------------------

DAYS = [dt.date(2024, 1, d) for d in (8, 9, 10, 11, 12, 15, 16)]
CLOSES = [100.0, 102.0, 99.0, 105.0, 110.0, 108.0, 120.0]


def bars() -> pl.DataFrame:
    return pl.DataFrame({"symbol": "AAA", "date": DAYS, "open": CLOSES, "close": CLOSES})


def events(rows: list[tuple[str, dt.datetime, dt.date, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": [r[0] for r in rows],
            "knowledge_time": [r[1] for r in rows],
            "first_session": [r[2] for r in rows],
            "first_fill": [r[3] for r in rows],
        },
        schema_overrides={"knowledge_time": schemas.UTC_TS},
    )


def t(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 1, day, hour, minute, tzinfo=UTC)


EVENTS = [
    ("AAA", t(8, 12), dt.date(2024, 1, 9), "open"),  # e0: 102/100 - 1, known 9 Jan 10:30 UTC
    ("AAA", t(10, 6), dt.date(2024, 1, 10), "close"),  # e1: 105/99 - 1, known 11 Jan 10:30 UTC
    ("AAA", t(10, 6), dt.date(2024, 1, 10), "close"),  # e2: e1's other basis: same window
    ("AAA", t(11, 10), dt.date(2024, 1, 12), "open"),  # e3: e1 not yet known
    ("AAA", t(11, 11), dt.date(2024, 1, 12), "open"),  # e4: e0 and e1 known
    ("ZZZ", t(11, 11), dt.date(2024, 1, 12), "open"),  # e5: no bars
]


def test_reactions_by_fill() -> None:
    out = D.reactions(events(EVENTS), bars())
    assert out["reaction"][:2].to_list() == pytest.approx([0.02, 105 / 99 - 1])
    assert out["reaction"][3] == pytest.approx(110 / 105 - 1)
    assert out["reaction_known_time"][0] == t(9, 10, 30)  # 16:00 IST
    assert out["reaction_known_time"][1] == t(11, 10, 30)  # the next session's bar
    assert out["reaction"][5] is None
    assert out["reaction_known_time"][5] is None
    assert out.columns[:4] == ["symbol", "knowledge_time", "first_session", "first_fill"]


def test_previous_reactions_use_only_windows_ended_by_then() -> None:
    out = D.previous_reactions(events(EVENTS), bars())
    r0, r1 = 0.02, 105 / 99 - 1
    assert out["prev_reaction_count"].to_list() == [0, 1, 1, 1, 2, 0]
    assert out["prev_reaction_mean"][0] is None
    assert out["prev_reaction_mean"][1:4].to_list() == pytest.approx([r0] * 3)  # e1 is not known at e3
    assert out["prev_reaction_mean"][4] == pytest.approx((r0 + r1) / 2)  # e2 does not count twice
    assert out["prev_reaction_last"][4] == pytest.approx(r1)
    assert out["prev_reaction_last"][5] is None
    one = D.previous_reactions(events(EVENTS), bars(), n=1)
    assert one["prev_reaction_mean"][4] == pytest.approx(r1)
    assert one["prev_reaction_count"][4] == 1
    assert out.drop("prev_reaction_mean", "prev_reaction_last", "prev_reaction_count").equals(events(EVENTS))


def test_reaction_inputs_are_checked() -> None:
    with pytest.raises(DataError, match="first_fill"):
        D.previous_reactions(events([("AAA", t(8, 12), dt.date(2024, 1, 9), "noon")]), bars())
    with pytest.raises(DataError, match="2 rows for AAA"):
        D.previous_reactions(events(EVENTS), pl.concat([bars(), bars().head(1)]))
    naive = events(EVENTS).with_columns(pl.col("knowledge_time").dt.replace_time_zone(None))
    with pytest.raises(DataError, match="not a UTC timestamp"):
        D.previous_reactions(naive, bars())
    with pytest.raises(DataError, match="n must be"):
        D.previous_reactions(events(EVENTS), bars(), n=0)
