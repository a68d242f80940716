"""The selector: SQL conditions over event fields, compiled to Polars expressions, with clear errors."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from earnest.core.errors import ConfigError
from earnest.lab.selector import (
    SelectorError,
    canonical_selector,
    check_selector,
    compile_selector,
    selector_fields,
)

NAN = float("nan")

EVENTS = pl.DataFrame(
    {
        "symbol": ["A", "B", "C", "D", "E", "F"],
        "pat_yoy": [0.9, 0.6, 0.2, None, NAN, 0.7],
        "revenue_yoy": [0.3, 0.1, 0.5, 0.4, 0.3, None],
        "is_bank": [False, True, False, False, None, False],
        "fiscal_quarter": [4, 1, 4, 2, 3, 4],
        "period_kind": ["quarter", "quarter", "year", "quarter", "quarter", "quarter"],
        "first_session": [dt.date(2019, 5, 2), dt.date(2020, 1, 9), dt.date(2021, 4, 20),
                          dt.date(2021, 7, 1), dt.date(2022, 1, 3), dt.date(2022, 2, 1)],
    }
)  # fmt: skip


def picked(expression: str, frame: pl.DataFrame = EVENTS) -> list[str]:
    expr = compile_selector(expression, columns=dict(frame.schema))
    return frame.filter(expr).get_column("symbol").to_list()


def test_the_blockbuster_selector_picks_rows_meeting_both_conditions() -> None:
    # A: 0.9/0.3 yes; B: revenue 0.1 no; C: pat 0.2 no; D: pat null; E: pat NaN; F: revenue null.
    assert picked("pat_yoy > 0.5 and revenue_yoy > 0.2") == ["A"]


@pytest.mark.parametrize(
    "expression",
    [
        "pat_yoy > 0.5 AND revenue_yoy > 0.2",
        "pat_yoy > 0.5 And revenue_yoy > 0.2",
        "PAT_YOY>0.5 aNd REVENUE_YOY>0.2",
    ],
)
def test_keywords_and_field_names_are_accepted_in_any_case(expression: str) -> None:
    assert picked(expression) == ["A"]


def test_or_and_not_follow_sql_three_valued_logic_and_unknown_is_not_selected() -> None:
    # or: F has a null revenue but pat 0.7 > 0.5, so it is kept; D (null pat, revenue 0.4) is kept too.
    assert picked("pat_yoy > 0.5 or revenue_yoy > 0.35") == ["A", "B", "C", "D", "F"]
    # not: a missing pat makes both the condition and its negation unknown: D and E are never selected.
    assert picked("not (pat_yoy > 0.5)") == ["C"]
    assert picked("NOT pat_yoy > 0.5") == ["C"]
    # a boolean field: null is_bank (E) is unknown, so E is in neither selection.
    assert picked("is_bank") == ["B"]
    assert picked("not is_bank") == ["A", "C", "D", "F"]


def test_nan_in_a_float_field_counts_as_missing_not_as_a_huge_number() -> None:
    # Plain Polars orders NaN above every number, so NaN > 0.5 would be true.
    assert EVENTS.filter(pl.col("pat_yoy") > 0.5).get_column("symbol").to_list() == ["A", "B", "E", "F"]
    assert "E" not in picked("pat_yoy > 0.5")
    assert picked("pat_yoy is null") == ["D", "E"]


def test_text_dates_in_between_and_functions() -> None:
    assert picked("period_kind = 'year'") == ["C"]
    assert picked("fiscal_quarter in (1, 2)") == ["B", "D"]
    assert picked("pat_yoy between 0.5 and 0.8") == ["B", "F"]
    assert picked("first_session >= DATE '2022-01-01' and pat_yoy > 0") == ["F"]
    assert picked("extract(year from first_session) = 2022") == ["E", "F"]
    assert picked("abs(revenue_yoy - 0.3) < 0.01") == ["A", "E"]
    assert picked("coalesce(pat_yoy, 0) > 0.65") == ["A", "F"]


def test_a_quoted_field_name_with_spaces() -> None:
    frame = pl.DataFrame({"symbol": ["X", "Y"], "order value": [600.0, 100.0]})
    assert picked('"order value" > 500', frame) == ["X"]


def test_an_unknown_field_names_it_lists_close_matches_and_every_field() -> None:
    with pytest.raises(SelectorError) as info:
        compile_selector("pat_yoy > 0.5 and revenue_yo > 0.2", columns=dict(EVENTS.schema))
    err = info.value
    assert isinstance(err, ConfigError)
    assert "unknown field 'revenue_yo'" in err.message
    assert err.details["close_matches"][0] == "revenue_yoy"
    assert err.details["available"] == sorted(EVENTS.columns)
    assert "did you mean revenue_yoy" in err.remedy
    assert "available fields: first_session, fiscal_quarter, is_bank" in err.remedy


def test_an_unknown_pat_field_suggests_net_profit() -> None:
    columns = {"net_profit_yoy": pl.Float64, "revenue_from_operations_yoy": pl.Float64}
    with pytest.raises(SelectorError) as info:
        compile_selector("pat_yoy > 0.5", columns=columns)
    assert info.value.details["close_matches"][0] == "net_profit_yoy"


@pytest.mark.parametrize(
    "expression", ["pat_yoy >", "pat_yoy > 0.5 and", "pat_yoy > 0.5; drop table x", "((a > 1)"]
)
def test_a_syntax_error_quotes_the_expression(expression: str) -> None:
    with pytest.raises(SelectorError, match="cannot parse selector") as info:
        compile_selector(expression, columns=dict(EVENTS.schema))
    assert repr(expression) in info.value.message
    assert info.value.field == "event.selector"


def test_an_unterminated_quote_is_a_syntax_error() -> None:
    with pytest.raises(SelectorError, match=r"(?i)cannot parse selector.*unterminated"):
        check_selector("period_kind = 'quarter")


@pytest.mark.parametrize("expression", ["pat_yoy + 1", "period_kind", "fiscal_quarter * 2"])
def test_a_non_boolean_expression_is_refused(expression: str) -> None:
    with pytest.raises(SelectorError, match="not true/false"):
        compile_selector(expression, columns=dict(EVENTS.schema))


def test_incompatible_types_are_refused_when_compiling() -> None:
    with pytest.raises(SelectorError, match="cannot be evaluated") as info:
        compile_selector("symbol > 5", columns=dict(EVENTS.schema))
    assert "symbol: String" in info.value.remedy


@pytest.mark.parametrize(
    "expression",
    ["pat_yoy > avg(pat_yoy)", "avg(pat_yoy) > 0", "max(pat_yoy) > 1", "lag(pat_yoy) > 0",
     "sum(pat_yoy) over () > 1"],
)  # fmt: skip
def test_aggregates_and_window_functions_are_refused(expression: str) -> None:
    with pytest.raises(SelectorError, match=r"not a row-by-row function|uses OVER"):
        compile_selector(expression, columns=dict(EVENTS.schema))


def test_an_empty_selector_is_refused() -> None:
    with pytest.raises(SelectorError, match="empty"):
        compile_selector("   ", columns=dict(EVENTS.schema))


def test_the_compiled_expression_is_never_null() -> None:
    expr = compile_selector("pat_yoy > 0.5", columns=dict(EVENTS.schema))
    out = EVENTS.select(expr).to_series()
    assert out.name == "selected"
    assert out.null_count() == 0
    assert out.to_list() == [True, True, False, False, False, True]


def test_canonical_selector_ignores_spacing_and_keyword_case_only() -> None:
    assert canonical_selector("A>1  AND   b") == canonical_selector("a > 1 and B") == "a > 1 and b"
    assert canonical_selector("x = 'Two  Spaces'") == "x = 'Two  Spaces'"
    assert canonical_selector('"Mixed Case" > ABS(x)') == '"Mixed Case" > abs ( x )'
    assert canonical_selector("a > 1") != canonical_selector("a > 2")
    assert canonical_selector("NOT a IS NULL") == "not a is null"


def test_selector_fields_lists_each_field_once_in_order() -> None:
    assert selector_fields("revenue_yoy > 0.2 and pat_yoy > 0.5 or revenue_yoy > 1") == (
        "revenue_yoy",
        "pat_yoy",
    )


# ---- against a plain reference ----------------------------------------------------------------

MAYBE = st.one_of(st.none(), st.just(NAN), st.floats(-2, 2, allow_nan=False))


def _cmp(x: float | None, op: str, c: float) -> bool | None:
    """SQL comparison with NaN read as missing: None when unknown."""
    if x is None or math.isnan(x):
        return None
    return x > c if op == ">" else x < c


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _not(a: bool | None) -> bool | None:
    return None if a is None else not a


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(MAYBE, MAYBE), min_size=1, max_size=12), st.floats(-1, 1), st.floats(-1, 1))
def test_selection_matches_three_valued_logic_with_nan_as_missing(
    rows: list[tuple[float | None, float | None]], a: float, b: float
) -> None:
    frame = pl.DataFrame(
        {"x": [r[0] for r in rows], "y": [r[1] for r in rows]}, schema={"x": pl.Float64, "y": pl.Float64}
    )
    expr = compile_selector(f"x > {a!r} or not (y < {b!r})", columns=dict(frame.schema))
    got = frame.select(expr).to_series().to_list()
    expected = [_or(_cmp(x, ">", a), _not(_cmp(y, "<", b))) is True for x, y in rows]
    assert got == expected
