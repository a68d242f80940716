"""Fixtures for the quality tests: the NSE calendar, gate contexts built from row dicts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from quality_builders import TODAY, frame_of

from earnest.config import QualitySettings
from earnest.core import schemas
from earnest.core.calendar import TradingCalendar, nse_calendar
from earnest.quality.gate import GateContext, gate
from earnest.sources.base import ParsedFile
from earnest.store.base import IngestBatch


@pytest.fixture(scope="session")
def calendar() -> TradingCalendar:
    return nse_calendar()


Context = Callable[..., GateContext]


@pytest.fixture
def context(calendar: TradingCalendar) -> Context:
    """Build a GateContext from lists of row dicts (empty by default)."""

    def make(
        *,
        instruments: Sequence[Mapping[str, Any]] = (),
        symbol_changes: Sequence[Mapping[str, Any]] = (),
        price_bands: Sequence[Mapping[str, Any]] = (),
        stored: Sequence[Mapping[str, Any]] = (),
        stored_schema: schemas.Schema = schemas.BARS,
        today: dt.date = TODAY,
    ) -> GateContext:
        return GateContext(
            calendar=calendar,
            instruments=frame_of(schemas.INSTRUMENTS, instruments),
            symbol_changes=frame_of(schemas.SYMBOL_CHANGES, symbol_changes),
            price_bands=frame_of(schemas.PRICE_BANDS, price_bands),
            stored=frame_of(stored_schema, stored),
            today=today,
        )

    return make


Gate = Callable[..., IngestBatch]


@pytest.fixture
def run_gate(context: Context) -> Gate:
    """Gate a ParsedFile with default settings and an (optionally customised) context."""

    def run(parsed: ParsedFile, ctx: GateContext | None = None, **settings: Any) -> IngestBatch:
        return gate(parsed, ctx or context(), settings=QualitySettings(**settings), code_version="test")

    return run
