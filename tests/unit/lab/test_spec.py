"""The hypothesis file: defaults, validation with located errors, variants and their keys, the schema."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from earnest.core.errors import ConfigError, NotFoundError
from earnest.lab.spec import (
    DEFAULT_MIN_EFFECT,
    DELIVERY_ROUND_TRIP_BPS,
    Hypothesis,
    HypothesisError,
    hypothesis_from_dict,
    hypothesis_json_schema,
    load_hypothesis,
    parse_hypothesis,
    schema_text,
)

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"

MINIMAL = """
name = "minimal"
[period]
start = 2018-04-01
end = 2021-12-31
"""


def with_lines(*lines: str, base: str = MINIMAL) -> str:
    """``base`` with ``lines`` placed at the top level (before the first table)."""
    return "\n".join(lines) + "\n" + base


def error_of(text: str) -> HypothesisError:
    with pytest.raises(HypothesisError) as info:
        parse_hypothesis(text, source="h.toml")
    return info.value


def test_a_minimal_file_takes_every_default() -> None:
    h = parse_hypothesis(MINIMAL)
    assert h.name == h.question == "minimal"
    assert h.horizons == (1, 3, 5, 10, 20)
    assert h.outcome == "abnormal"
    assert (h.universe.symbols, h.universe.index, h.universe.series) == (None, None, ("EQ",))
    assert (h.period.start, h.period.end) == (dt.date(2018, 4, 1), dt.date(2021, 12, 31))
    assert (h.event.type, h.event.selector, h.event.first_release_only) == ("results", None, True)
    assert (h.entry.lag_sessions, h.entry.at) == (1, "open")
    b = h.benchmark
    assert (b.model, b.index, b.estimation_sessions, b.gap_sessions, b.min_estimation_sessions) == (
        "market", "NIFTY 50", 120, 10, 60,
    )  # fmt: skip
    assert h.costs.enabled
    assert h.costs.round_trip_bps == DELIVERY_ROUND_TRIP_BPS
    s = h.stats
    assert (s.alpha, s.min_effect, s.power, s.n_boot, s.seed, s.overlap) == (
        0.05,
        0.005,
        0.8,
        2000,
        0,
        "cluster",
    )


def test_the_default_round_trip_cost_is_the_delivery_rates_of_references_section_1() -> None:
    # STT 0.1 % x 2, stamp 0.015 % (buy), (NSE 0.00307 % + SEBI 0.0001 %) x 2 legs x 1.18 GST.
    assert round(DELIVERY_ROUND_TRIP_BPS, 9) == 22.2481
    # The published worked example: 50 shares bought at 2400 and sold at 2500 cost 287.50 rupees
    # including the 15.34 DP charge, which the rate leaves out. Both legs: 245,000 rupees.
    buy, sell = 50 * 2400, 50 * 2500
    by_rates = 0.001 * (buy + sell) + 0.00015 * buy + 1.18 * (0.0000307 + 0.000001) * (buy + sell)
    assert by_rates + 15.34 == pytest.approx(287.50, abs=0.02)
    # On equal legs the per-leg rates are the constant: 22.2481 bps of 1 lakh = 222.48 rupees.
    on_one_lakh = DELIVERY_ROUND_TRIP_BPS * 1e-4 * 100_000
    assert on_one_lakh == pytest.approx(
        0.001 * 200_000 + 0.00015 * 100_000 + 1.18 * 0.0000317 * 200_000, abs=0.01
    )


@pytest.mark.parametrize(("outcome", "effect"), sorted(DEFAULT_MIN_EFFECT.items()))
def test_min_effect_defaults_by_outcome(outcome: str, effect: float) -> None:
    assert parse_hypothesis(with_lines(f'outcome = "{outcome}"')).stats.min_effect == effect


def test_an_explicit_question_and_min_effect_are_kept() -> None:
    h = parse_hypothesis(with_lines('question = "q1"', 'outcome = "win"') + "[stats]\nmin_effect = 0.6\n")
    assert (h.question, h.stats.min_effect) == ("q1", 0.6)


def test_symbols_are_upper_cased_deduplicated_and_sorted() -> None:
    h = parse_hypothesis(MINIMAL + '[universe]\nsymbols = ["tcs", "INFY", " infy "]\n')
    assert h.universe.symbols == ("INFY", "TCS")


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        (with_lines("horizons = [3, 1]"), "horizons", "increasing without repeats, e.g. [1, 3]"),
        (with_lines("horizons = [1, 1, 3]"), "horizons", "increasing without repeats"),
        (with_lines("horizons = [0, 3]"), "horizons", "between 1 and 250"),
        (with_lines("horizons = []"), "horizons", "at least one horizon"),
        (MINIMAL.replace("2021-12-31", "2017-01-01"), "period", "must be before end"),
        (MINIMAL + "[stats]\nmin_effect = 0\n", "stats.min_effect", "greater than 0"),
        (MINIMAL + "[stats]\nmin_effect = 5\n", "stats.min_effect", "less than 1"),
        (MINIMAL + "[stats]\nalpha = 0.5\n", "stats.alpha", "less than 0.5"),
        (MINIMAL + "[stats]\nalpha = 0\n", "stats.alpha", "greater than 0"),
        (MINIMAL + '[entry]\nat = "noon"\n', "entry.at", "'open' or 'close' (got 'noon')"),
        (MINIMAL + "[entry]\nlag_sessions = 0\n", "entry.lag_sessions", "greater than or equal to 1"),
        (with_lines('outcome = "alpha"'), "outcome", "'abnormal', 'raw', 'win' or 'upper_circuit'"),
        (MINIMAL + '[universe]\nsymbols = ["TCS"]\nindex = "NIFTY 50"\n', "universe", "not both"),
        (
            MINIMAL + "[benchmark]\nmin_estimation_sessions = 200\n",
            "benchmark",
            "exceeds estimation_sessions",
        ),
        (MINIMAL + '[event]\nselector = "pat_yoy >"\n', "event.selector", "cannot parse selector"),
        (MINIMAL + '[event]\nselector = "avg(pat_yoy) > 1"\n', "event.selector", "not a row-by-row function"),
        (
            with_lines('name = "  "', base=MINIMAL.replace('name = "minimal"', "")),
            "name",
            "must not be blank",
        ),
    ],
)
def test_invalid_values_name_the_file_and_the_field(text: str, field: str, fragment: str) -> None:
    err = error_of(text)
    assert isinstance(err, ConfigError)
    assert err.file == "h.toml"
    assert err.field == field
    assert fragment in err.message
    assert re.match(rf"h\.toml row \d+ field {re.escape(field)}: ", str(err))  # the line of the field


def test_win_min_effect_must_be_a_win_rate_above_one_half() -> None:
    err = error_of(with_lines('outcome = "win"') + "[stats]\nmin_effect = 0.01\n")
    assert "win rate above 0.5 (e.g. 0.55), got 0.01" in err.message


def test_a_misspelt_key_suggests_the_right_one_and_lists_the_allowed_keys() -> None:
    err = error_of(with_lines("horizon = [3]"))
    assert (err.field, err.message) == ("horizon", "unknown key")
    assert err.remedy.startswith(
        "did you mean 'horizons'? allowed here: name, question, description, horizons"
    )
    err = error_of(MINIMAL + "[benchmark]\nestimaton_sessions = 90\n")
    assert err.field == "benchmark.estimaton_sessions"
    assert "did you mean 'estimation_sessions'?" in err.remedy


def test_a_missing_table_or_key_says_what_to_add() -> None:
    err = error_of('name = "x"\n')
    assert (err.field, err.message) == ("period", "required table is missing")
    assert "add a [period] table" in err.remedy
    err = error_of('name = "x"\n[period]\nstart = 2018-01-01\n')
    assert (err.field, err.message, err.remedy.split(" (")[0]) == (
        "period.end",
        "required key is missing",
        "add period.end",
    )


def test_every_error_is_reported_not_only_the_first() -> None:
    err = error_of(with_lines("horizons = [3, 1]") + '[entry]\nat = "noon"\n')
    assert err.field == "horizons"
    assert "also entry.at: Input should be 'open' or 'close'" in err.message
    assert [e["loc"] for e in err.details["errors"]] == ["horizons", "entry.at"]


def test_invalid_toml_names_the_line() -> None:
    err = error_of('name = "x"\nhorizons = = [1, 3]\n')
    assert err.message.startswith("not valid TOML")
    assert err.row == 2
    assert "toml.io" in err.remedy


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        load_hypothesis(tmp_path / "nope.toml")


def test_load_names_the_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(with_lines("horizons = [5, 3]"), encoding="utf-8")
    with pytest.raises(HypothesisError) as info:
        load_hypothesis(path)
    assert info.value.file == str(path)


def test_the_model_is_frozen() -> None:
    h = parse_hypothesis(MINIMAL)
    with pytest.raises(Exception, match="frozen"):
        h.name = "other"  # type: ignore[misc]


# ---- variants and keys ------------------------------------------------------------------------


def test_one_variant_per_horizon_with_the_outcome() -> None:
    h = parse_hypothesis(with_lines("horizons = [1, 5]", 'outcome = "raw"'))
    assert [(v.horizon, v.outcome, v.name, v.question) for v in h.variants()] == [
        (1, "raw", "minimal", "minimal"),
        (5, "raw", "minimal", "minimal"),
    ]
    keys = [v.key() for v in h.variants()]
    assert len(set(keys)) == 2
    assert all(len(k) == 64 and int(k, 16) >= 0 for k in keys)


def key_of(text: str, horizon: int = 1) -> str:
    return next(v.key() for v in parse_hypothesis(text).variants() if v.horizon == horizon)


BASE = with_lines('question = "q"', 'description = "first words"') + '[event]\nselector = "pat_yoy > 0.5"\n'


@pytest.mark.parametrize(
    "changed",
    [
        BASE.replace('name = "minimal"', 'name = "renamed"'),
        BASE.replace("first words", "other words"),
        BASE + "[stats]\nalpha = 0.01\npower = 0.9\nmin_effect = 0.02\n",
        BASE.replace("pat_yoy > 0.5", "PAT_YOY>0.5"),
        BASE.replace("pat_yoy > 0.5", "pat_yoy  >  0.5"),
        BASE.replace('selector = "pat_yoy > 0.5"', 'selector = "pat_yoy > 0.5"\ntype = "RESULTS"'),
        BASE + '[universe]\nsymbols = ["TCS", "infy"]\n',
    ],
)
def test_the_key_ignores_name_description_thresholds_and_spelling(changed: str) -> None:
    same = BASE + '[universe]\nsymbols = ["INFY", "TCS"]\n' if "symbols" in changed else BASE
    assert key_of(changed) == key_of(same)


@pytest.mark.parametrize(
    "changed",
    [
        BASE.replace('question = "q"', 'question = "q2"'),
        BASE.replace("pat_yoy > 0.5", "pat_yoy > 0.6"),
        BASE.replace("2021-12-31", "2022-12-31"),
        BASE + '[entry]\nat = "close"\n',
        BASE + '[benchmark]\nmodel = "market_model"\n',
        BASE + "[costs]\nround_trip_bps = 30\n",
        BASE + "[costs]\nenabled = false\n",
        BASE + "[stats]\nseed = 1\n",
        BASE + '[stats]\noverlap = "non_overlapping"\n',
        BASE.replace('question = "q"', 'question = "q"\noutcome = "raw"'),
    ],
)
def test_the_key_changes_with_anything_that_changes_the_statistic(changed: str) -> None:
    assert key_of(changed) != key_of(BASE)


def test_with_costs_off_the_rate_does_not_change_the_key() -> None:
    off = BASE + "[costs]\nenabled = false\n"
    assert key_of(off) == key_of(BASE + "[costs]\nenabled = false\nround_trip_bps = 99\n")


def test_the_key_survives_a_json_round_trip_of_the_variant() -> None:
    v = parse_hypothesis(BASE).variants()[2]
    again = type(v).model_validate_json(v.model_dump_json())
    assert again == v
    assert again.key() == v.key()


def test_a_python_built_hypothesis_equals_the_parsed_one() -> None:
    built = Hypothesis(name="minimal", period={"start": "2018-04-01", "end": "2021-12-31"})  # type: ignore[arg-type]
    assert built == parse_hypothesis(MINIMAL)
    assert (
        hypothesis_from_dict(
            {"name": "minimal", "period": {"start": dt.date(2018, 4, 1), "end": "2021-12-31"}}
        )
        == built
    )


# ---- examples and schema ----------------------------------------------------------------------


def test_the_examples_load() -> None:
    blockbuster = load_hypothesis(EXAMPLES / "blockbuster.toml")
    assert blockbuster.event.selector == "pat_yoy > 0.5 and revenue_yoy > 0.2"
    assert blockbuster.horizons == (1, 3, 5, 10, 20)
    every = load_hypothesis(EXAMPLES / "every_announcement.toml")
    assert (every.event.type, every.event.selector) == ("results", None)
    custom = load_hypothesis(EXAMPLES / "custom_event.toml")
    assert (custom.event.type, custom.event.selector) == ("order_win", "order_value_cr > 500")
    hypotheses = [p for p in EXAMPLES.glob("*.toml") if not p.name.startswith(("train_", "backtest_"))]
    assert sorted(p.name for p in hypotheses) == [  # train_*/backtest_* are other configs
        "blockbuster.toml", "custom_event.toml", "every_announcement.toml",
    ]  # fmt: skip


def test_the_committed_json_schema_is_the_generated_one() -> None:
    committed = (REPO / "docs" / "hypothesis.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), (
        "docs/hypothesis.schema.json is stale: run "
        "`.venv/bin/python -m earnest.lab.spec > docs/hypothesis.schema.json`"
    )


def test_the_schema_describes_the_file() -> None:
    schema = hypothesis_json_schema()
    assert schema["required"] == ["name", "period"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["horizons"]["default"] == [1, 3, 5, 10, 20]
    assert set(props["outcome"]["enum"]) == {"abnormal", "raw", "win", "upper_circuit"}
    costs = schema["$defs"]["Costs"]["properties"]["round_trip_bps"]
    assert costs["default"] == DELIVERY_ROUND_TRIP_BPS
    json.dumps(schema)  # serialisable
