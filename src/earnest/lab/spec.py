"""The hypothesis file: what a researcher states before looking at the answer.

A hypothesis is a TOML file (format: ``docs/hypothesis.md``; JSON schema:
``docs/hypothesis.schema.json``, regenerated with ``python -m earnest.lab.spec``).
:func:`load_hypothesis` parses it into a frozen :class:`Hypothesis`; any problem raises
:class:`HypothesisError` naming the file, the field path (``entry.at``, ``horizons[2]``) and what to do.

A hypothesis is evaluated as one :class:`Variant` per horizon (with its outcome): the unit the trial
ledger records. :meth:`Variant.key` hashes everything that changes the tested statistic, including
the research ``question`` (so each question is its own family of trials), and leaves out what does
not: the name, the description and the decision thresholds ``alpha``, ``power`` and ``min_effect``
(changing a threshold does not test anything new). A new earnest release that adds a field to the
variant changes every key (:data:`VARIANT_KEY_VERSION` is part of the hashed text).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from earnest.core.errors import ConfigError, NotFoundError
from earnest.core.hashing import sha256_json
from earnest.core.tomlconfig import parse_toml, read_config_text, validate
from earnest.lab.selector import SelectorError, canonical_selector, check_selector

# Equity-delivery round trip, per rupee traded on each leg (REFERENCES.md §1, Zerodha as the reference
# discount broker, rates in force 2025-2026): brokerage 0; STT 0.1 % on the buy and on the sell leg;
# NSE transaction charge + IPFT 0.00307 % per leg; SEBI turnover fee ₹10/crore (0.0001 %) per leg;
# stamp duty 0.015 % on the buy leg only; GST 18 % on brokerage + exchange + SEBI fees (never on STT or
# stamp duty). Total 0.2 % + 0.015 % + 1.18 × 2 × 0.00317 % = 0.2224812 % = 22.25 bps of the position.
# The DP charge (₹15.34 per scrip per sell day) is a fixed amount, not a rate, and is left out: it
# adds 1.5 bps on a ₹1 lakh position. Check: 50 shares bought at ₹2,400 and sold at ₹2,500 cost
# ₹272.16 by these rates, the published ₹287.50 less the ₹15.34 DP charge.
_STT = 0.001
_NSE_TXN = 0.0000307
_SEBI_FEE = 0.000001
_STAMP_BUY = 0.00015
_GST = 0.18
DELIVERY_ROUND_TRIP_BPS: float = round(
    1e4 * (2 * _STT + _STAMP_BUY + (1 + _GST) * 2 * (_NSE_TXN + _SEBI_FEE)), 4
)
"""Round-trip cost of an NSE equity-delivery trade at a discount broker, in basis points of the
position (22.2481): the default of ``[costs] round_trip_bps``. Derivation in the comment above."""

Outcome = Literal["abnormal", "raw", "win", "upper_circuit"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)

DEFAULT_MIN_EFFECT: dict[str, float] = {"abnormal": 0.005, "raw": 0.005, "win": 0.55, "upper_circuit": 0.10}
"""``[stats] min_effect`` when the file does not give one, by outcome: a mean net return of 0.5 % per
event (about twice the round-trip cost), a win rate of 55 %, an upper-circuit hit rate of 10 %."""

VARIANT_KEY_VERSION = 1
"""Version of the hashed variant layout (part of :meth:`Variant.key`'s input)."""

MAX_HORIZON_SESSIONS = 250


class HypothesisError(ConfigError):
    """A hypothesis file cannot be read or does not describe a valid hypothesis."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Universe(_Section):
    """Which companies: the listed ``symbols``, or the constituents of ``index``, or (neither) every
    instrument in the store."""

    symbols: tuple[str, ...] | None = Field(
        default=None, description="NSE symbols (upper-cased, order does not matter); omit for all"
    )
    index: str | None = Field(
        default=None,
        description="an index whose constituents as known at each date form the universe (e.g. "
        "'NIFTY 50'); refused until the store holds constituent history",
    )
    series: tuple[str, ...] = Field(default=("EQ",), description="NSE series of the bars used")

    @field_validator("symbols", "series", mode="after")
    @classmethod
    def _codes(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        codes = sorted({v.strip().upper() for v in value if v.strip()})
        if not codes:
            raise ValueError("give at least one code, or leave the field out")
        return tuple(codes)

    @field_validator("index", mode="after")
    @classmethod
    def _index(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return " ".join(value.upper().split()) or None

    @model_validator(mode="after")
    def _one_of(self) -> Universe:
        if self.symbols is not None and self.index is not None:
            raise ValueError("give symbols or index, not both")
        return self


class Period(_Section):
    """The events studied: those whose knowledge time falls on these IST dates (both included)."""

    start: dt.date = Field(description="first date, e.g. 2018-04-01")
    end: dt.date = Field(description="last date, e.g. 2024-03-31")

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.start >= self.end:
            raise ValueError(f"start ({self.start}) must be before end ({self.end})")
        return self


class EventSpec(_Section):
    """Which events: a type, optionally narrowed by a selector."""

    type: str = Field(
        default="results",
        description="'results' (NSE financial results filings) or a custom event type from the "
        "custom_events table (lower-cased)",
    )
    selector: str | None = Field(
        default=None,
        description="a SQL condition over the event's fields, e.g. 'net_profit_yoy > 0.5 and "
        "revenue_yoy > 0.2'; omit to take every event. Events with a missing value are not selected",
    )
    first_release_only: bool = Field(
        default=True, description="only the first filing of each period (what the market reacted to)"
    )

    @field_validator("type", mode="after")
    @classmethod
    def _type(cls, value: str) -> str:
        kind = value.strip().lower()
        if not kind:
            raise ValueError("the event type is empty; use 'results' or a custom event type")
        return kind

    @field_validator("selector", mode="after")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return check_selector(value)
        except SelectorError as exc:
            raise ValueError(f"{exc.message} ({exc.remedy})") from exc


class Entry(_Section):
    """When a position is opened: the ``lag_sessions``-th tradable session after the knowledge time
    (1 = the events' ``first_session``), at its ``open`` or ``close``."""

    lag_sessions: int = Field(default=1, ge=1, le=20, description="1 = the first tradable session")
    at: Literal["open", "close"] = Field(default="open", description="the auction of the entry session")


class Benchmark(_Section):
    """What an abnormal return is measured against, and the estimation window before each event."""

    model: Literal["market", "market_model", "sector"] = Field(
        default="market",
        description="'market': return minus the index return; 'market_model': minus alpha + beta x "
        "index return fitted on the estimation window; 'sector': minus the equal-weight return of the "
        "other stocks of its sector",
    )
    index: str = Field(
        default="NIFTY 50",
        description="the market index (index_bars.index_name), or 'equal-weight' for the "
        "equal-weight average of every stock in the store (when no index history covers the period)",
    )
    estimation_sessions: int = Field(default=120, ge=3, le=1000, description="estimation window length")
    gap_sessions: int = Field(default=10, ge=0, le=250, description="sessions between window and entry")
    min_estimation_sessions: int = Field(
        default=60, ge=3, le=1000, description="fewer valid estimation returns and the event is dropped"
    )

    @field_validator("index", mode="after")
    @classmethod
    def _index(cls, value: str) -> str:
        name = " ".join(value.upper().split())
        if not name:
            raise ValueError("the benchmark index is empty")
        return name

    @model_validator(mode="after")
    def _window(self) -> Benchmark:
        if self.min_estimation_sessions > self.estimation_sessions:
            raise ValueError(
                f"min_estimation_sessions ({self.min_estimation_sessions}) exceeds estimation_sessions "
                f"({self.estimation_sessions})"
            )
        return self


class Costs(_Section):
    """Trading costs, deducted from every event's outcome when enabled."""

    enabled: bool = Field(default=True, description="deduct round_trip_bps from each event's return")
    round_trip_bps: float = Field(
        default=DELIVERY_ROUND_TRIP_BPS,
        ge=0,
        lt=10_000,
        description="buy + sell cost in basis points of the position (default: NSE equity delivery "
        "at a discount broker, REFERENCES.md §1, without the fixed DP charge)",
    )


class Stats(_Section):
    """Significance, the smallest effect worth trading, power, bootstrap and overlap handling."""

    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="significance level (after BH adjustment)")
    min_effect: float = Field(
        default=DEFAULT_MIN_EFFECT["abnormal"],
        gt=0,
        lt=1,
        description="smallest effect worth trading: a mean net return for 'abnormal'/'raw' (0.005 = "
        "0.5 %), a win rate for 'win' (0.55), a hit rate for 'upper_circuit' (0.10); default by outcome",
    )
    power: float = Field(default=0.8, gt=0, lt=1, description="target power for the events-needed figure")
    n_boot: int = Field(default=2000, ge=0, le=100_000, description="bootstrap resamples (0 skips it)")
    seed: int = Field(default=0, ge=0, description="seed of every random draw (bootstrap, random dates)")
    overlap: Literal["cluster", "non_overlapping"] = Field(
        default="cluster",
        description="'cluster': date-clustered HAC standard errors over overlapping windows; "
        "'non_overlapping': keep only the first event per symbol within a horizon",
    )


class Variant(_Section):
    """One trial: a hypothesis at one horizon and outcome. :meth:`key` identifies it in the ledger."""

    name: str
    question: str
    universe: Universe
    period: Period
    event: EventSpec
    entry: Entry
    benchmark: Benchmark
    costs: Costs
    stats: Stats
    horizon: int = Field(ge=1, le=MAX_HORIZON_SESSIONS)
    outcome: Outcome

    def canonical(self) -> dict[str, Any]:
        """What defines the trial, as JSON-ready data: everything but the name and the decision
        thresholds; the selector in canonical form; the cost only when costs are on."""
        data = self.model_dump(mode="json", exclude={"name": True, "stats": {"alpha", "power", "min_effect"}})
        if self.event.selector is not None:
            data["event"]["selector"] = canonical_selector(self.event.selector)
        if not self.costs.enabled:
            data["costs"].pop("round_trip_bps")
        data["key_version"] = VARIANT_KEY_VERSION
        return data

    def key(self) -> str:
        """sha256 (hex) of the canonical JSON (sorted keys, compact) of :meth:`canonical`."""
        return sha256_json(self.canonical())


def _check_horizons(value: tuple[int, ...]) -> tuple[int, ...]:
    if not value:
        raise ValueError("give at least one horizon, e.g. [1, 3, 5]")
    bad = [h for h in value if not 1 <= h <= MAX_HORIZON_SESSIONS]
    if bad:
        raise ValueError(f"horizons must be between 1 and {MAX_HORIZON_SESSIONS} sessions, got {bad}")
    if list(value) != sorted(set(value)):
        raise ValueError(f"horizons must be increasing without repeats, e.g. {sorted(set(value))}")
    return value


class Hypothesis(_Section):
    """A pre-registered hypothesis: events, entry, horizons, outcome, benchmark, costs and statistics."""

    name: str = Field(min_length=1, description="a short name, e.g. 'blockbuster results'")
    question: str = Field(
        default="",
        description="research-question id grouping trials in the ledger (their p-values are adjusted "
        "together); default: name",
    )
    description: str = Field(default="", description="the hypothesis in words")
    horizons: tuple[int, ...] = Field(
        default=(1, 3, 5, 10, 20), description="holding periods in sessions, increasing, e.g. [1, 3, 5]"
    )
    outcome: Outcome = Field(
        default="abnormal",
        description="'abnormal': CAR vs the benchmark; 'raw': the return; 'win': return > 0; "
        "'upper_circuit': closes at the upper price band within the horizon",
    )
    universe: Universe = Field(default_factory=Universe)
    period: Period
    event: EventSpec = Field(default_factory=EventSpec)
    entry: Entry = Field(default_factory=Entry)
    benchmark: Benchmark = Field(default_factory=Benchmark)
    costs: Costs = Field(default_factory=Costs)
    stats: Stats = Field(default_factory=Stats)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """question defaults to name; min_effect defaults by outcome."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        if not out.get("question") and isinstance(out.get("name"), str):
            out["question"] = out["name"]
        outcome = out.get("outcome", "abnormal")
        stats = out.get("stats")
        if outcome in DEFAULT_MIN_EFFECT and (stats is None or isinstance(stats, dict)):
            stats = dict(stats or {})
            stats.setdefault("min_effect", DEFAULT_MIN_EFFECT[outcome])
            out["stats"] = stats
        return out

    @field_validator("name", "question", mode="after")
    @classmethod
    def _text(cls, value: str) -> str:
        text = " ".join(value.split())
        if not text:
            raise ValueError("must not be blank")
        return text

    @field_validator("horizons", mode="after")
    @classmethod
    def _horizons(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return _check_horizons(value)

    @model_validator(mode="after")
    def _effect_units(self) -> Hypothesis:
        if self.outcome == "win" and not self.stats.min_effect > 0.5:
            raise ValueError(
                f"for outcome 'win', stats.min_effect is a win rate above 0.5 (e.g. 0.55), got "
                f"{self.stats.min_effect}"
            )
        return self

    def variants(self) -> tuple[Variant, ...]:
        """One :class:`Variant` per horizon, in horizon order."""
        return tuple(
            Variant(
                name=self.name,
                question=self.question,
                universe=self.universe,
                period=self.period,
                event=self.event,
                entry=self.entry,
                benchmark=self.benchmark,
                costs=self.costs,
                stats=self.stats,
                horizon=h,
                outcome=self.outcome,
            )
            for h in self.horizons
        )


# --------------------------------------------------------------------------------------------- #
# loading


def hypothesis_from_dict(data: dict[str, Any], *, source: str = "<hypothesis>", text: str = "") -> Hypothesis:
    """Validate parsed TOML (or any mapping) into a :class:`Hypothesis`; ``source`` names it in errors."""
    return validate(
        Hypothesis, data, source=source, error=HypothesisError, doc="docs/hypothesis.md", text=text
    )


def parse_hypothesis(text: str, *, source: str = "<hypothesis>") -> Hypothesis:
    """Parse hypothesis TOML text; ``source`` names it in errors."""
    data = parse_toml(text, source=source, error=HypothesisError, example="examples/")
    return hypothesis_from_dict(data, source=source, text=text)


def load_hypothesis(path: str | Path) -> Hypothesis:
    """Read and validate the hypothesis TOML file at ``path``."""
    file = Path(path)
    text = read_config_text(
        file, what="hypothesis file", error=HypothesisError, example="examples/every_announcement.toml"
    )
    return parse_hypothesis(text, source=str(file))


def resolve_hypothesis(data: dict[str, Any], *, base: Path | None, source: str, what: str) -> dict[str, Any]:
    """``data`` (a parsed run config with a ``hypothesis`` key) with a hypothesis file path replaced by
    the hypothesis it holds; the path is relative to ``base``. An inline table is left as it is.
    ``what`` names the config in the error (e.g. "train config")."""
    ref = data.get("hypothesis")
    if not isinstance(ref, str):
        return data
    path = Path(ref)
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.exists():
        raise NotFoundError(
            f"hypothesis file {ref} does not exist (looked for {path})",
            remedy=f"give a path relative to the {what}, or inline a [hypothesis] table",
            file=source,
            field="hypothesis",
        )
    return {**data, "hypothesis": load_hypothesis(path)}


def hypothesis_json_schema() -> dict[str, Any]:
    """The JSON schema of a hypothesis file (validation mode), as committed in docs/hypothesis.schema.json."""
    schema = Hypothesis.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    """:func:`hypothesis_json_schema` as the committed file's text (2-space indent, final newline)."""
    return json.dumps(hypothesis_json_schema(), indent=2, ensure_ascii=False) + "\n"


__all__ = [
    "DEFAULT_MIN_EFFECT",
    "DELIVERY_ROUND_TRIP_BPS",
    "OUTCOMES",
    "VARIANT_KEY_VERSION",
    "Benchmark",
    "Costs",
    "Entry",
    "EventSpec",
    "Hypothesis",
    "HypothesisError",
    "Outcome",
    "Period",
    "Stats",
    "Universe",
    "Variant",
    "hypothesis_from_dict",
    "hypothesis_json_schema",
    "load_hypothesis",
    "parse_hypothesis",
    "resolve_hypothesis",
    "schema_text",
]

if __name__ == "__main__":  # regenerate: python -m earnest.lab.spec > docs/hypothesis.schema.json
    print(schema_text(), end="")
