"""Point-in-time views of events: what was known at an instant, and the as-of join every stage uses.

Everything here compares ``knowledge_time`` (when a row became known to a market participant) with
the instant of interest, never ``event_time`` or period dates, and never looks past that instant:
truncating the input to the rows known by ``t`` leaves every answer at ``t`` unchanged (a property
test checks this). Instants must be timezone-aware; a naive datetime raises
:class:`~earnest.core.errors.DataError` instead of being guessed to be IST or UTC (a wrong guess is
a 5.5-hour look-ahead).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from earnest.core.errors import DataError, SchemaDriftError
from earnest.events.schema import PERIOD_KEY

_UTC = pl.Datetime("us", "UTC")
_ROW = "__asof_row"
_LEFT_T = "__asof_left_time"
_RIGHT_T = "__asof_right_time"


def _aware_utc(t: dt.datetime, name: str) -> dt.datetime:
    """``t`` as a UTC datetime; a naive (or non-datetime) value raises :class:`DataError`."""
    if not isinstance(t, dt.datetime):
        raise DataError(
            f"{name} must be a datetime, got {type(t).__name__} {t!r}",
            remedy="pass a timezone-aware datetime.datetime (a date alone does not say when in the day)",
            field=name,
        )
    if t.tzinfo is None or t.utcoffset() is None:
        raise DataError(
            f"{name} = {t.isoformat()} has no timezone, so the instant it means is unknown",
            remedy="pass a timezone-aware datetime, e.g. datetime(2024, 1, 11, 18, 30, "
            "tzinfo=earnest.core.calendar.IST) or tzinfo=datetime.UTC; earnest does not guess",
            field=name,
        )
    return t.astimezone(dt.UTC)


def _require_columns(frame: pl.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise SchemaDriftError(
            f"{what} has no column(s) {', '.join(map(repr, missing))}",
            remedy=f"pass a frame with {', '.join(cols)} (events come from earnest.events.build_events)",
            field=missing[0],
        )


def _utc_time(frame: pl.DataFrame, col: str, what: str) -> pl.Expr:
    """``col`` as a UTC expression; a column that is not a timezone-aware datetime raises."""
    _require_columns(frame, [col], what)
    dtype = frame.schema[col]
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        raise SchemaDriftError(
            f"{what} column {col!r} is {dtype}, not a timezone-aware datetime",
            remedy="store times as UTC timestamps (earnest.core.schemas.UTC_TS); for a naive column "
            "say which zone it is in with .dt.replace_time_zone(...)",
            field=col,
        )
    return pl.col(col).dt.convert_time_zone("UTC").cast(_UTC)


def as_of(events: pl.DataFrame, t: dt.datetime) -> pl.DataFrame:
    """The events known at ``t``: one row per reported period, its latest version known at ``t``.

    A period is :data:`~earnest.events.schema.PERIOD_KEY` (exchange, symbol, period end,
    consolidated, period kind). Rows with ``knowledge_time`` after ``t`` are invisible; of the
    versions known by ``t`` the one with the highest ``version`` is returned. Rows keep their input
    order. ``t`` must be timezone-aware.
    """
    when = _aware_utc(t, "t")
    known = _utc_time(events, "knowledge_time", "events")
    _require_columns(events, [*PERIOD_KEY, "version"], "events")
    visible = events.filter(known <= pl.lit(when, dtype=_UTC))
    return visible.filter(pl.col("version") == pl.col("version").max().over(PERIOD_KEY))


def first_releases(events: pl.DataFrame) -> pl.DataFrame:
    """Only the first filing of each reported period (``version == 1``): what the market first saw."""
    _require_columns(events, ["version"], "events")
    return events.filter(pl.col("version") == 1)


def asof_join(
    left: pl.DataFrame,
    right: pl.DataFrame,
    *,
    by: str | Sequence[str],
    left_time: str,
    right_time: str = "knowledge_time",
    suffix: str = "_right",
) -> pl.DataFrame:
    """Attach to each ``left`` row the latest ``right`` row with the same ``by`` known by then.

    For a left row at instant ``L`` (column ``left_time``) the match is the right row with equal
    ``by`` values and the greatest ``right_time`` that is ``<= L`` (a row known at exactly ``L``
    counts as known); a right row known after ``L`` is never used. Among right rows with equal
    ``right_time`` the one that comes last in ``right`` wins, so de-duplicate first when that
    matters (e.g. with :func:`as_of`). Left rows without a match, or with a null ``left_time``,
    get nulls; right rows with a null ``right_time`` are never matched (when they became known is
    unknown). Both time columns must be timezone-aware (any zones; compared as instants). The
    result has every left row once, in the input order, then the right columns other than ``by``
    (clashing names get ``suffix``), including ``right_time`` itself so the caller can see when the
    matched row became known. This is :meth:`polars.DataFrame.join_asof` with ``strategy='backward'``
    plus the sorting, null handling and timezone checks it needs.
    """
    keys = [by] if isinstance(by, str) else list(by)
    left_t = _utc_time(left, left_time, "left")
    right_t = _utc_time(right, right_time, "right")
    _require_columns(left, keys, "left")
    _require_columns(right, keys, "right")
    for col in (_ROW, _LEFT_T, _RIGHT_T):
        if col in left.columns or col in right.columns:
            raise SchemaDriftError(f"column name {col!r} is reserved by asof_join", field=col)
    lhs = left.with_row_index(_ROW).with_columns(left_t.alias(_LEFT_T))
    rhs = (
        right.with_columns(right_t.alias(_RIGHT_T))
        .filter(pl.col(_RIGHT_T).is_not_null())
        .sort(_RIGHT_T, maintain_order=True)
    )
    timed = lhs.filter(pl.col(_LEFT_T).is_not_null()).sort(_LEFT_T, maintain_order=True)
    joined = timed.join_asof(
        rhs,
        left_on=_LEFT_T,
        right_on=_RIGHT_T,
        by=keys,
        strategy="backward",
        suffix=suffix,
        allow_exact_matches=True,
        check_sortedness=False,
    )
    untimed = lhs.filter(pl.col(_LEFT_T).is_null())
    out = pl.concat([joined, untimed], how="diagonal_relaxed") if untimed.height else joined
    return out.sort(_ROW).drop(_ROW, _LEFT_T, _RIGHT_T, strict=False)


__all__ = ["as_of", "asof_join", "first_releases"]
