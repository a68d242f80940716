"""Earnings events from NSE results listings: announcement time to first tradable session, with versions.

:func:`build_events` is a pure function of a ``results_listings`` frame (schema
:data:`earnest.core.schemas.RESULTS_LISTINGS`) and a trading calendar; :func:`load_events` reads the
listings from a :class:`~earnest.store.base.Store` and calls it. Every listing row becomes exactly one
event (schema :data:`earnest.events.schema.EVENTS`): a listing row that cannot become an event (no
``knowledge_time``, no ``symbol`` or ``period_to``, a time outside the calendar, a repeated
``filing_key``) raises :class:`~earnest.core.errors.DataError` naming the file, row and field, because
dropping it would silently change what the research sees.

The first tradable session is computed from ``knowledge_time`` (when the market could know), with
the same rules as :meth:`earnest.core.calendar.TradingCalendar.first_tradable`, vectorised over the
calendar's session list (a parity test pins the two together).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import (
    IST,
    SESSION_CLOSE,
    SESSION_OPEN,
    Fill,
    IntradayRule,
    TradingCalendar,
    nse_calendar,
)
from earnest.core.errors import DataError
from earnest.events.schema import EVENT_TYPE_RESULTS, EVENTS, PERIOD_KEY
from earnest.store.base import Store

_REQUIRED = ("filing_key", "exchange", "symbol", "period_to", "knowledge_time")
"""Listing columns an event cannot do without (the reader guarantees them; a hand-made frame may not)."""

_ORDER = ("knowledge_time", "seq_number", "filing_key")
"""Version order within a period: when the market learnt it, then NSE's sequence number, then the key."""

_MONTHS_TO_KIND = {3: "quarter", 6: "half_year", 9: "nine_months", 12: "year"}

_TEXT_TO_KIND = (("half", "half_year"), ("nine", "nine_months"), ("quarter", "quarter"), ("annual", "year"))
"""Fallback from the listing's ``period`` text (lower-cased, first match wins) when the dates do not say."""


def _fail(listings: pl.DataFrame, mask: pl.Series, field: str, message: str, remedy: str) -> None:
    """Raise a :class:`DataError` for the first row of ``mask``, naming its file, row and field."""
    if not mask.any():
        return
    bad = listings.filter(mask)
    first = bad.row(0, named=True)
    raise DataError(
        f"{first['filing_key'] or 'a listing row'}: {message} ({bad.height} row(s) affected)",
        remedy=remedy,
        file=first["source_file"],
        row=first["source_row"],
        field=field,
    )


def _check(listings: pl.DataFrame) -> None:
    """Reject listings that cannot become events (required fields missing, repeated filing keys)."""
    for col in _REQUIRED:
        _fail(
            listings,
            listings.get_column(col).is_null(),
            col,
            f"required listing column {col!r} is empty",
            "build events from listings read by earnest's NSE results reader (it quarantines such "
            "records) or fill the column",
        )
    _fail(
        listings,
        listings.get_column("filing_key").is_duplicated(),
        "filing_key",
        "the same filing appears more than once",
        "pass each filing once, e.g. listings.unique('filing_key') after concatenating files "
        "(the store keeps one row per filing_key)",
    )


def _period_kind() -> pl.Expr:
    """``quarter``/``half_year``/``nine_months``/``year`` from the period's length, else its text."""
    start, end = pl.col("period_from"), pl.col("period_to")
    months = (end.dt.year() - start.dt.year()) * 12 + end.dt.month().cast(pl.Int32) - start.dt.month() + 1
    by_months = months.replace_strict(_MONTHS_TO_KIND, default=None, return_dtype=pl.Utf8)
    text = pl.col("period_type").str.to_lowercase()
    by_text = pl.coalesce(
        [pl.when(text.str.contains(word, literal=True)).then(pl.lit(kind)) for word, kind in _TEXT_TO_KIND]
    )
    return pl.coalesce(by_months, by_text)


def _fiscal() -> tuple[pl.Expr, pl.Expr]:
    """The Indian (April-March) financial year containing ``period_to`` and the quarter of it."""
    end = pl.col("period_to")
    month = end.dt.month().cast(pl.Int64)
    year = end.dt.year().cast(pl.Int64) + (month >= 4).cast(pl.Int64)
    quarter = ((month - 4) % 12) // 3 + 1
    return year, quarter


def first_sessions(
    knowledge_time: pl.Series, *, calendar: TradingCalendar, intraday: IntradayRule = IntradayRule.NEXT_OPEN
) -> pl.DataFrame:
    """``first_session`` (date) and ``first_fill`` (``open``/``close``) for each UTC instant.

    The vectorised form of :meth:`TradingCalendar.first_tradable`. Raises :class:`DataError` (with
    ``details['index']`` the first offending position) for an instant whose session would fall
    outside the calendar, or for a null instant.
    """
    if knowledge_time.null_count():
        index = int(knowledge_time.is_null().arg_true()[0])
        raise DataError(
            "an instant is null",
            remedy="pass a known time",
            field=knowledge_time.name,
            details={"index": index},
        )
    local = knowledge_time.dt.convert_time_zone(str(IST))
    sessions = pl.Series("session", calendar.sessions, dtype=pl.Date)
    frame = pl.DataFrame({"day": local.dt.date(), "tod": local.dt.time()})
    nxt = sessions.search_sorted(frame.get_column("day"), side="right")
    outside = (nxt >= sessions.len()) | (frame.get_column("day") < calendar.first)
    if outside.any():
        index = int(outside.arg_true()[0])
        raise DataError(
            f"{local[index]} IST has no following session in the calendar "
            f"({calendar.first} to {calendar.last})",
            remedy="pass a calendar that covers the listing, e.g. nse_calendar(extend_to=...)",
            field=knowledge_time.name,
            details={"index": index},
        )
    frame = frame.with_columns(
        sessions.gather(nxt).alias("next"),
        pl.col("day").is_in(sessions.implode()).alias("is_session"),
    )
    pre_open = pl.col("is_session") & (pl.col("tod") < pl.lit(SESSION_OPEN))
    same_close = (
        pl.col("is_session")
        & ~pre_open
        & (pl.col("tod") < pl.lit(SESSION_CLOSE))
        & pl.lit(intraday is IntradayRule.SAME_CLOSE)
    )
    return frame.select(
        pl.when(pre_open | same_close).then(pl.col("day")).otherwise(pl.col("next")).alias("first_session"),
        pl.when(same_close)
        .then(pl.lit(Fill.CLOSE.value))
        .otherwise(pl.lit(Fill.OPEN.value))
        .alias("first_fill"),
    )


def _sessions_for(listings: pl.DataFrame, calendar: TradingCalendar, intraday: IntradayRule) -> pl.DataFrame:
    """:func:`first_sessions` for the listings, re-raising errors with the listing's file and row."""
    try:
        return first_sessions(listings.get_column("knowledge_time"), calendar=calendar, intraday=intraday)
    except DataError as exc:
        row = listings.row(int(exc.details.get("index", 0)), named=True)
        raise DataError(
            f"{row['filing_key']}: {exc.message}",
            remedy=exc.remedy,
            file=row["source_file"],
            row=row["source_row"],
            field="knowledge_time",
        ) from exc


def _versions() -> list[pl.Expr]:
    """Version number, first-release flag and the superseded event, on a frame sorted by :data:`_ORDER`."""
    version = pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(PERIOD_KEY)
    return [
        version.alias("version"),
        (version == 1).alias("is_first_release"),
        pl.col("event_id").shift(1).over(PERIOD_KEY).alias("supersedes_event_id"),
    ]


def build_events(
    listings: pl.DataFrame,
    *,
    calendar: TradingCalendar,
    intraday: IntradayRule = IntradayRule.NEXT_OPEN,
) -> pl.DataFrame:
    """One earnings event per listing row (schema :data:`EVENTS`), in version order.

    ``listings`` is a ``results_listings`` frame (extra columns are ignored, missing optional ones
    read as null). ``intraday`` decides where news released during the session is first traded:
    ``NEXT_OPEN`` (the default, conservative: no fill at a close that was already being formed when
    the news came) or ``SAME_CLOSE``. Rows come out sorted by ``knowledge_time`` (then NSE sequence
    number, then ``filing_key``), the order in which versions are numbered.
    """
    frame = schemas.conform(listings, schemas.RESULTS_LISTINGS, name="results_listings")
    _check(frame)
    frame = frame.sort(_ORDER, nulls_last=True, maintain_order=True)
    fiscal_year, fiscal_quarter = _fiscal()
    out = pl.concat([frame, _sessions_for(frame, calendar, intraday)], how="horizontal").with_columns(
        pl.col("filing_key").alias("event_id"),
        pl.lit(EVENT_TYPE_RESULTS).alias("event_type"),
        pl.col("period_from").alias("period_start"),
        pl.col("period_to").alias("period_end"),
        _period_kind().alias("period_kind"),
        fiscal_year.alias("fiscal_year"),
        fiscal_quarter.alias("fiscal_quarter"),
        pl.coalesce("broadcast_time", "knowledge_time").alias("event_time"),
        pl.lit(intraday.value).alias("intraday_rule"),
    )
    out = out.with_columns(_versions())
    return schemas.conform(out, EVENTS, name="events")


def load_events(
    store: Store,
    *,
    symbols: Sequence[str] | None = None,
    calendar: TradingCalendar | None = None,
    intraday: IntradayRule = IntradayRule.NEXT_OPEN,
) -> pl.DataFrame:
    """Build events from the store's ``results_listings`` (all symbols, or those in ``symbols``).

    ``calendar`` defaults to :func:`earnest.core.calendar.nse_calendar`. Versions are numbered over
    the listings read, so asking for a subset of symbols gives the same versions for those symbols.
    """
    where = None
    if symbols is not None:
        names = [symbols] if isinstance(symbols, str) else list(symbols)
        where = {"symbol": [s.strip().upper() for s in names]}
    listings = store.read("results_listings", where=where)
    return build_events(listings, calendar=calendar or nse_calendar(), intraday=intraday)


__all__ = ["build_events", "first_sessions", "load_events"]
