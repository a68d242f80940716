"""Series checks run after ingest: calendar gaps, stale prices, unexplained jumps.

Each check returns ``FINDINGS`` rows (they never reject a stored row):

- ``calendar_gap`` (warning): an NSE ``EQ`` instrument has no bar on NSE sessions between its first
  and last bar; one finding per run of consecutive missing sessions (suspensions, a move to the
  trade-for-trade ``BE`` series, or a missing file);
- ``stale_price`` (warning): ``stale_days`` or more consecutive bars with volume 0 and the close
  unchanged from the bar before (an illiquid or suspended scrip carried forward);
- ``unexplained_jump`` (error): in the *adjusted* series, an open or close more than the band
  (plus a tolerance) away from the previous adjusted close, with no corporate action in the gap
  left unapplied: a missing split or bonus, a wrong factor, or a bad print.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import TradingCalendar, nse_calendar
from earnest.marketdata.actions import with_band_pct

RULE_GAP = "calendar_gap"
RULE_STALE = "stale_price"
RULE_JUMP = "unexplained_jump"
RULES = (RULE_GAP, RULE_STALE, RULE_JUMP)
_KEY = ["exchange", "instrument_id", "series"]


def _now(found_at: dt.datetime | None) -> dt.datetime:
    return found_at or dt.datetime.now(dt.UTC)


def _findings(frame: pl.DataFrame, rule: str, severity: str, found_at: dt.datetime) -> pl.DataFrame:
    out = frame.with_columns(
        rule=pl.lit(rule), severity=pl.lit(severity), found_at=pl.lit(found_at, dtype=schemas.UTC_TS)
    )
    return schemas.conform(out, schemas.FINDINGS, name=rule)


def calendar_gaps(
    bars: pl.DataFrame, *, calendar: TradingCalendar | None = None, found_at: dt.datetime | None = None
) -> pl.DataFrame:
    """Runs of NSE sessions with no ``EQ`` bar between an instrument's first and last ``EQ`` bar.

    Only exchange ``NSE`` is checked (the calendar is NSE's). Bars on dates that are not sessions
    are ignored here; sessions past the calendar's published list are not reported as missing.
    """
    cal = calendar or nse_calendar()
    days = pl.Series("date", cal.sessions, dtype=pl.Date)
    if cal.projected_after is not None:
        days = days.filter(days <= cal.projected_after)
    sessions = pl.DataFrame({"date": days}).with_row_index("_idx")
    eq = bars.filter(pl.col("exchange") == "NSE", pl.col("series") == "EQ")
    runs = (
        eq.select("instrument_id", "symbol", "date", "source_file")
        .join(sessions, on="date")
        .sort("date")
        .with_columns(_prev=pl.col("_idx").shift(1).over("instrument_id"))
        .filter(pl.col("_idx") - pl.col("_prev") > 1)
        .with_columns(
            _first=(pl.col("_prev") + 1).cast(pl.UInt32),
            _last=(pl.col("_idx") - 1).cast(pl.UInt32),
            _n=pl.col("_idx") - pl.col("_prev") - 1,
        )
    )
    if runs.is_empty():
        return schemas.empty(schemas.FINDINGS)
    first = days.gather(runs.get_column("_first"))
    last = days.gather(runs.get_column("_last"))
    runs = runs.with_columns(_d1=first, _d2=last)
    detail = pl.format(
        "{} EQ: no bar on {} NSE session(s) from {} to {} (bars resume {}); "
        "suspension, series change or missing file",
        "symbol",
        "_n",
        "_d1",
        "_d2",
        "date",
    )
    out = runs.select(
        "instrument_id", "symbol", pl.col("_d1").alias("date"), detail.alias("detail"), "source_file"
    )
    return _findings(out, RULE_GAP, "warning", _now(found_at))


def stale_prices(
    bars: pl.DataFrame, *, stale_days: int = 5, found_at: dt.datetime | None = None
) -> pl.DataFrame:
    """Runs of at least ``stale_days`` bars with zero volume and the close unchanged."""
    frame = bars.select(*_KEY, "symbol", "date", "close", "volume", "source_file").sort("date")
    frame = frame.with_columns(
        _stale=((pl.col("volume") == 0) & (pl.col("close") == pl.col("close").shift(1).over(_KEY))).fill_null(
            False
        )
    )
    frame = frame.with_columns(_run=(~pl.col("_stale")).cum_sum().over(_KEY))
    runs = (
        frame.filter(pl.col("_stale"))
        .group_by([*_KEY, "_run"])
        .agg(
            pl.col("symbol").first(),
            pl.col("date").min().alias("_d1"),
            pl.col("date").max().alias("_d2"),
            pl.len().alias("_n"),
            pl.col("close").first().alias("_close"),
            pl.col("source_file").first(),
        )
        .filter(pl.col("_n") >= stale_days)
        .sort("instrument_id", "_d1")
    )
    detail = pl.format(
        "{} {}: close stuck at {} with zero volume on {} consecutive bars from {} to {}",
        "symbol",
        "series",
        "_close",
        "_n",
        "_d1",
        "_d2",
    )
    out = runs.select(
        "instrument_id", "symbol", pl.col("_d1").alias("date"), detail.alias("detail"), "source_file"
    )
    return _findings(out, RULE_STALE, "warning", _now(found_at))


def _explained(moves: pl.DataFrame, actions: pl.DataFrame | None) -> pl.DataFrame:
    """Drop moves with a non-rejected action in the gap that the adjustment did not apply."""
    if actions is None or actions.is_empty() or moves.is_empty():
        return moves
    live = actions.filter(pl.col("status") != "rejected").select("instrument_id", "ex_date").drop_nulls()
    keyed = moves.with_row_index("_m")
    hits = keyed.join(live, on="instrument_id").filter(
        pl.col("ex_date") > pl.col("_d0"),
        pl.col("ex_date") <= pl.col("date"),
        (pl.col("_f0") / pl.col("adj_factor") - 1).abs() < 1e-12,
    )
    return keyed.join(hits.select("_m").unique(), on="_m", how="anti").drop("_m")


def unexplained_jumps(
    adjusted: pl.DataFrame,
    *,
    actions: pl.DataFrame | None = None,
    bands: pl.DataFrame | None = None,
    no_band_pct: float = 35.0,
    band_tolerance_pct: float = 0.5,
    found_at: dt.datetime | None = None,
) -> pl.DataFrame:
    """Overnight moves in the adjusted series that the band forbids and no action explains.

    ``adjusted`` comes from :func:`earnest.marketdata.adjust.adjust_bars`. A move is the larger of
    ``adj_open`` and ``adj_close`` over the previous bar's ``adj_close`` (same instrument and
    series); the limit is the band in force (``PRICE_BANDS``) plus ``band_tolerance_pct``, or
    ``no_band_pct`` when no band is known. A move whose gap holds an ex-date of a non-rejected
    ``actions`` row that the adjustment left unapplied (a demerger without a factor, a dividend,
    an action outside the ``as_of`` view) is taken as explained; a residual jump at an applied
    action is reported, since it means the factor is wrong.
    """
    cols = [*_KEY, "symbol", "date", "adj_open", "adj_close", "adj_factor", "source_file"]
    moves = (
        adjusted.select(cols)
        .sort("date")
        .with_columns(
            _c0=pl.col("adj_close").shift(1).over(_KEY),
            _d0=pl.col("date").shift(1).over(_KEY),
            _f0=pl.col("adj_factor").shift(1).over(_KEY),
        )
        .filter(pl.col("_c0") > 0)
        .with_columns(
            _ro=pl.coalesce("adj_open", "adj_close") / pl.col("_c0") - 1,
            _rc=pl.col("adj_close") / pl.col("_c0") - 1,
        )
        .with_columns(_move=pl.when(pl.col("_ro").abs() > pl.col("_rc").abs()).then("_ro").otherwise("_rc"))
        .filter(pl.col("_move").abs() * 100 > min(no_band_pct, 2.0))
    )
    moves = with_band_pct(moves, bands, default_pct=None)
    limit = pl.col("band_pct") + band_tolerance_pct
    moves = moves.with_columns(_limit=limit.fill_null(no_band_pct))
    moves = _explained(moves.filter(pl.col("_move").abs() * 100 > pl.col("_limit")), actions)
    detail = pl.format(
        "{} {}: adjusted move {}% from close {} on {} to open {} / close {} exceeds the {}% limit; "
        "no corporate action explains it (missing split/bonus, wrong factor or bad print)",
        "symbol",
        "series",
        (pl.col("_move") * 100).round(1),
        pl.col("_c0").round(2),
        "_d0",
        pl.col("adj_open").round(2),
        pl.col("adj_close").round(2),
        "_limit",
    )
    out = moves.sort("instrument_id", "date").select(
        "instrument_id", "symbol", "date", detail.alias("detail"), "source_file"
    )
    return _findings(out, RULE_JUMP, "error", _now(found_at))


__all__ = [
    "RULES",
    "RULE_GAP",
    "RULE_JUMP",
    "RULE_STALE",
    "calendar_gaps",
    "stale_prices",
    "unexplained_jumps",
]
