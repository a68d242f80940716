"""The backtest config file (TOML): what to trade, how to size it, how it executes and what it costs.

A backtest trades the events of a hypothesis (every selected event, held ``hold_sessions``
sessions from its entry) or a registered model's out-of-sample predictions on those events (the
events it scored at or above ``threshold``, or its ``top_k`` per entry date). The hypothesis file
gives the universe, the period, the entry rule (session lag, open or close) and the benchmark;
this file adds the portfolio, execution and costs. Field by field: ``docs/backtest.md``.

Costs are on by default (NSE equity delivery at a discount broker, dated rates); turning them off
is allowed but the report says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from earnest.core.errors import ConfigError
from earnest.core.hashing import sha256_json
from earnest.core.tomlconfig import parse_toml, read_config_text, validate
from earnest.lab.spec import Hypothesis, resolve_hypothesis

__all__ = [
    "BacktestSpec",
    "BacktestSpecError",
    "backtest_spec_from_dict",
    "load_backtest_spec",
    "parse_backtest_spec",
]

_DOC = "docs/backtest.md"
_EXAMPLE = "examples/backtest_demo.toml"


class BacktestSpecError(ConfigError):
    """A backtest config cannot be read or is not valid."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Signal(_Section):
    """Which trades: the hypothesis's selected events, or a registered model's scored events."""

    source: Literal["hypothesis", "model"] = Field(
        default="hypothesis",
        description="'hypothesis': every event the hypothesis selects; 'model': the events a registered "
        "model scored out of sample, filtered by threshold or top_k",
    )
    hold_sessions: int = Field(default=5, ge=1, le=250, description="sessions a position is held")
    model: str | None = Field(default=None, description="registered model name (source = 'model')")
    version: int | None = Field(default=None, ge=1, description="model version (default: the alias)")
    alias: str = Field(default="production", description="model alias used when version is not given")
    threshold: float | None = Field(default=None, description="trade events scored at or above this")
    top_k: int | None = Field(default=None, ge=1, le=1000, description="or: the k best scores per entry date")

    @model_validator(mode="after")
    def _model_fields(self) -> Signal:
        if self.source == "model":
            if not self.model:
                raise ValueError("source = 'model' needs model = '<registered name>'")
            if (self.threshold is None) == (self.top_k is None):
                raise ValueError("source = 'model' needs exactly one of threshold or top_k")
        elif self.model or self.threshold is not None or self.top_k is not None:
            raise ValueError("model, threshold and top_k apply to source = 'model' only")
        return self


class Portfolio(_Section):
    """Capital and sizing. ``slots``: each position gets 1/max_positions of equity at entry (and
    keeps it: existing positions are not rebalanced when another enters); ``vol_target``: the slot
    scaled by target_vol / the stock's trailing 20-session volatility (capped at the slot)."""

    initial_cash: float = Field(default=10_000_000.0, gt=0, description="rupees")
    sizing: Literal["slots", "vol_target"] = Field(default="slots")
    max_positions: int = Field(default=10, ge=1, le=500, description="most positions held at once")
    max_weight: float = Field(default=0.2, gt=0, le=1, description="cap on one stock's weight at entry")
    target_vol: float = Field(default=0.02, gt=0, lt=1, description="daily volatility per slot (vol_target)")


class Execution(_Section):
    """How orders fill. Orders execute at the entry session's open or close (the hypothesis's
    entry.at); a buy at the upper band or a sell at the lower band does not fill."""

    blocked: Literal["carry", "cancel"] = Field(
        default="carry", description="an order blocked by a price band: retry next session, or drop it"
    )
    liquidity_cap: float = Field(default=0.1, gt=0, description="most of a stock's ADV one order may trade")
    slippage_bps: float = Field(default=5.0, ge=0, lt=1000, description="price concession per fill")
    impact_bps: float = Field(default=0.0, ge=0, lt=1000, description="extra impact x sqrt(order / ADV)")
    integer_shares: bool = Field(default=True, description="whole shares only")


class Costs(_Section):
    """Indian transaction costs from the dated schedule (docs/costs.md)."""

    enabled: bool = Field(default=True, description="false: no fees or taxes (the report says so)")
    broker: Literal["zerodha", "full_service", "none"] = Field(default="zerodha")
    segment: Literal["delivery", "intraday"] = Field(default="delivery")
    exchange: Literal["NSE", "BSE"] = Field(default="NSE")


class Risk(_Section):
    """The risk report: bootstrap paths for Monte Carlo VaR/CVaR and their horizon."""

    n_paths: int = Field(default=10_000, ge=100, le=1_000_000)
    horizon_days: int = Field(default=1, ge=1, le=60)


class BacktestSpec(_Section):
    """A backtest: a name, the signal, and how it trades."""

    name: str = Field(min_length=1, description="shown in the report")
    description: str = Field(default="")
    seed: int = Field(default=0, ge=0, description="seed of every random draw (bootstrap VaR)")
    hypothesis: Hypothesis = Field(
        description="the hypothesis whose events are traded: a TOML file (path relative to this file) "
        "or an inline [hypothesis] table; it gives the universe, period, entry rule and benchmark"
    )
    signal: Signal = Signal()
    portfolio: Portfolio = Portfolio()
    execution: Execution = Execution()
    costs: Costs = Costs()
    benchmark: str | None = Field(
        default=None, description="index for the comparison; default: the hypothesis's benchmark.index"
    )
    risk: Risk = Risk()

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of this spec (the receipt's config hash)."""
        return sha256_json(json.loads(self.model_dump_json()))


def backtest_spec_from_dict(
    data: dict[str, Any], *, source: str = "<backtest config>", text: str = "", base: Path | None = None
) -> BacktestSpec:
    """Validate parsed TOML into a :class:`BacktestSpec` (``base``: the folder a hypothesis path is
    relative to; ``text``: the TOML, for error lines)."""
    data = resolve_hypothesis(data, base=base, source=source, what="backtest config")
    return validate(BacktestSpec, data, source=source, error=BacktestSpecError, doc=_DOC, text=text)


def parse_backtest_spec(
    text: str, *, source: str = "<backtest config>", base: Path | None = None
) -> BacktestSpec:
    """The spec in TOML ``text``."""
    data: dict[str, Any] = parse_toml(text, source=source, error=BacktestSpecError, example=_EXAMPLE)
    return backtest_spec_from_dict(data, source=source, text=text, base=base)


def load_backtest_spec(path: str | Path) -> BacktestSpec:
    """Read the backtest config at ``path`` (and the hypothesis file it names)."""
    file = Path(path)
    text = read_config_text(file, what="backtest config", error=BacktestSpecError, example=_EXAMPLE)
    return parse_backtest_spec(text, source=str(file), base=file.parent)
