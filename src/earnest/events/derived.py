"""What earnest derives from filing figures, point in time: growth, margins, SUE, beat streaks, and the
market's reaction to earlier announcements.

**Point in time.** :func:`derive_quarterly` computes, for every ``quarter`` row of a figures frame
(:func:`earnest.events.fundamentals.filing_figures`), values that use only what was known at that
row's ``knowledge_time`` k: for each earlier quarter, the latest version (filing) of it whose
``knowledge_time`` is at or before k (:func:`earnest.events.fundamentals.latest_known`). A restatement
of an old quarter filed after k never leaks into the row; removing every row known after k changes
nothing for rows known at or before k (a property test pins this). Companies and consolidation bases
(standalone, consolidated) are separate series; quarters are calendar quarters of ``period_end``
(``q - 1`` the previous quarter, ``q - 4`` the same quarter a year earlier). A missing quarter is
missing: growth over it is null and it ends a beat streak. Rows without ``knowledge_time`` see no
history (their growth is null; their own margins are still computed).

**Definitions** (x_q a field in quarter q, as known at k):

- growth ``<field>_yoy = (x_q - x_{q-4}) / |x_{q-4}|`` and ``<field>_qoq`` with ``x_{q-1}``, for
  ``revenue_from_operations``, ``net_profit``, ``net_profit_owners`` and ``eps_basic``. Dividing by
  the absolute base keeps the sign meaningful on a negative base (a loss narrowing from -10 to -4 is
  +0.6, widening to -16 is -0.6); a zero or missing base gives null.
- ``net_margin = net_profit / revenue_from_operations``; ``operating_margin = (profit_before_tax +
  finance_costs) / revenue_from_operations`` (EBIT over revenue: profit before interest and tax, which
  XBRL results report directly; it still includes other income and exceptional items). Both are null
  when revenue is missing or not positive, e.g. for banks, which file ``interest_earned`` instead.
  ``*_yoy_change`` is the margin minus the margin of q - 4 (in fraction points).
- ``eps_surprise = EPS_q - EPS_{q-4}`` (seasonal random walk: the expected EPS is last year's same
  quarter) and the standardized unexpected earnings
  ``sue = (EPS_q - EPS_{q-4}) / sd(EPS_j - EPS_{j-4} for j = q-8 .. q-1)``, the sample standard
  deviation (ddof 1) of the seasonal differences of the eight previous quarters, of which at least
  four must be available (``sue_quarters`` says how many were); null when fewer or when sd is 0.
- ``beat_streak``: the number of consecutive quarters up to and including q whose seasonal difference
  ``EPS_j - EPS_{j-4}`` is positive (0 when q's is not positive or unknown).

EPS is as filed, not adjusted for splits or bonus issues (a 1:10 split makes EPS fall tenfold and the
seasonal difference negative); adjust before deriving when the series spans one.
"""

from __future__ import annotations

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import EOD_PUBLISHED, IST
from earnest.core.errors import DataError
from earnest.events.fundamentals import latest_known, quarter_rows

GROWTH_FIELDS: tuple[str, ...] = ("revenue_from_operations", "net_profit", "net_profit_owners", "eps_basic")
"""Fields whose year-on-year and quarter-on-quarter growth :func:`derive_quarterly` computes."""

SUE_WINDOW = 8
"""Previous quarters whose seasonal EPS differences give SUE's standard deviation."""

SUE_MIN_QUARTERS = 4
"""Fewest seasonal differences (of :data:`SUE_WINDOW`) SUE needs."""

_ID = ("xbrl_name", "xbrl_sha256", "symbol", "consolidation", "period_start", "period_end")
_INPUTS = ("revenue_from_operations", "net_profit", "net_profit_owners", "eps_basic", "profit_before_tax",
           "finance_costs")  # fmt: skip

DERIVED: schemas.Schema = {
    **{k: schemas.FINANCIAL_FACTS[k] for k in _ID},
    "knowledge_time": schemas.UTC_TS,
    **{f"{f}_{p}": pl.Float64 for f in GROWTH_FIELDS for p in ("yoy", "qoq")},
    "net_margin": pl.Float64,
    "net_margin_yoy_change": pl.Float64,
    "operating_margin": pl.Float64,
    "operating_margin_yoy_change": pl.Float64,
    "eps_surprise": pl.Float64,
    "sue": pl.Float64,
    "sue_quarters": pl.Int64,
    "beat_streak": pl.Int64,
}
"""Columns of :func:`derive_quarterly`: the quarter row's identity and ``knowledge_time``, then the
derived values (definitions in the module docstring)."""


def _growth(x: pl.Expr, base: pl.Expr) -> pl.Expr:
    """``(x - base) / |base|``; null on a zero or missing base."""
    return pl.when(base != 0).then((x - base) / base.abs()).otherwise(None)


def _margins(numerator: pl.Expr, revenue: pl.Expr) -> pl.Expr:
    return pl.when(revenue > 0).then(numerator / revenue).otherwise(None)


def _at(col: str, lag: int) -> pl.Expr:
    """Within one row's history (grouped by row_id): ``col`` of the quarter ``lag`` quarters back."""
    return pl.col(col).filter(pl.col("lag") == lag).first()


def _with_history_columns(hist: pl.DataFrame) -> pl.DataFrame:
    """Margins and seasonal EPS differences of each quarter in each row's history."""
    rev = pl.col("revenue_from_operations")
    hist = hist.with_columns(
        _margins(pl.col("net_profit"), rev).alias("net_margin"),
        _margins(pl.col("profit_before_tax") + pl.col("finance_costs"), rev).alias("operating_margin"),
    )
    year_ago = hist.select("row_id", (pl.col("lag") - 4).alias("lag"), pl.col("eps_basic").alias("_eps_4"))
    return hist.join(year_ago, on=["row_id", "lag"], how="left").with_columns(
        (pl.col("eps_basic") - pl.col("_eps_4")).alias("_sdiff")
    )


def _streak() -> pl.Expr:
    """Consecutive lags 0, 1, 2... whose seasonal difference is positive (a missing lag ends it)."""
    beats = pl.col("lag").filter(pl.col("_sdiff") > 0).sort()
    return (beats == pl.int_range(0, beats.len(), dtype=pl.Int64)).cast(pl.Int64).cum_prod().sum()


def derive_quarterly(figures: pl.DataFrame) -> pl.DataFrame:
    """Point-in-time derived values (schema :data:`DERIVED`) for every ``quarter`` row of ``figures``.

    ``figures`` may hold many companies and both consolidation bases; each (symbol, consolidation) is
    its own series. Definitions and the point-in-time rule are in the module docstring.
    """
    missing = [c for c in (*_ID, "period_kind", "knowledge_time", *_INPUTS) if c not in figures.columns]
    if missing:
        raise DataError(
            f"figures frame lacks column(s) {missing}",
            remedy="pass the output of earnest.events.fundamentals.filing_figures",
        )
    quarters = quarter_rows(figures)
    hist = _with_history_columns(latest_known(quarters, _INPUTS))
    window = pl.col("lag").is_between(1, SUE_WINDOW)
    sd_diffs = pl.col("_sdiff").filter(window & pl.col("_sdiff").is_not_null())
    per_row = hist.group_by("row_id").agg(
        *(_growth(_at(f, 0), _at(f, 4)).alias(f"{f}_yoy") for f in GROWTH_FIELDS),
        *(_growth(_at(f, 0), _at(f, 1)).alias(f"{f}_qoq") for f in GROWTH_FIELDS),
        _at("net_margin", 0).alias("net_margin"),
        (_at("net_margin", 0) - _at("net_margin", 4)).alias("net_margin_yoy_change"),
        _at("operating_margin", 0).alias("operating_margin"),
        (_at("operating_margin", 0) - _at("operating_margin", 4)).alias("operating_margin_yoy_change"),
        _at("_sdiff", 0).alias("eps_surprise"),
        sd_diffs.std(ddof=1).alias("_sd"),
        sd_diffs.len().cast(pl.Int64).alias("sue_quarters"),
        _streak().alias("beat_streak"),
    )
    enough = (pl.col("sue_quarters") >= SUE_MIN_QUARTERS) & (pl.col("_sd") > 0)
    per_row = per_row.with_columns(
        pl.when(enough).then(pl.col("eps_surprise") / pl.col("_sd")).otherwise(None).alias("sue")
    )
    out = quarters.join(per_row, on="row_id", how="left").sort("row_id")
    return schemas.conform(out, DERIVED, name="derived quarterly figures")


_EVENT_COLUMNS = ("symbol", "knowledge_time", "first_session", "first_fill")


def _check_reaction_inputs(events: pl.DataFrame, bars: pl.DataFrame) -> None:
    missing = [c for c in _EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise DataError(
            f"events frame lacks column(s) {missing}",
            remedy="pass events with symbol, knowledge_time (UTC), first_session (date) and first_fill",
        )
    fills = set(events.get_column("first_fill").drop_nulls().unique().to_list()) - {"open", "close"}
    if fills:
        raise DataError(
            f"first_fill has value(s) {sorted(fills)}; expected 'open' or 'close'",
            remedy="take first_fill from TradingCalendar.first_tradable",
            field="first_fill",
        )
    kt = events.schema["knowledge_time"]
    if not (isinstance(kt, pl.Datetime) and kt.time_zone == "UTC"):
        raise DataError(
            f"events knowledge_time is {kt}, not a UTC timestamp",
            remedy="convert it with .dt.convert_time_zone('UTC') (naive times are ambiguous)",
            field="knowledge_time",
        )
    lacking = [c for c in ("symbol", "date", "close") if c not in bars.columns]
    if lacking:
        raise DataError(f"bars frame lacks column(s) {lacking}", remedy="pass rows of the bars table")
    dupes = bars.group_by("symbol", "date").len().filter(pl.col("len") > 1)
    if dupes.height:
        row = dupes.row(0, named=True)
        raise DataError(
            f"bars have {row['len']} rows for {row['symbol']} on {row['date']}",
            remedy="pass one exchange and series per symbol (e.g. NSE EQ)",
            field="date",
        )


def reactions(events: pl.DataFrame, bars: pl.DataFrame) -> pl.DataFrame:
    """``events`` with each announcement's market ``reaction`` and ``reaction_known_time``.

    The reaction is the close-to-close return of the first session whose close reflects the news:
    for an ``open`` fill (news before the session) ``close(first_session) / close(previous session) - 1``;
    for a ``close`` fill (news during the session) ``close(next session) / close(first_session) - 1``
    (the part of the move made before that close is not counted). Sessions are the symbol's bars
    (previous and next bar date); a missing bar gives a null reaction. ``reaction_known_time`` is when
    the window's last bar is published (``EOD_PUBLISHED`` IST on its date, as UTC). The reaction is a
    label from this event's point of view: never use it as a feature before ``reaction_known_time``.
    """
    _check_reaction_inputs(events, bars)
    px = bars.select("symbol", "date", pl.col("close").cast(pl.Float64)).drop_nulls().sort("date")
    ev = events.with_row_index("_event").with_columns(pl.col("first_session").cast(pl.Date))
    ev = ev.sort("first_session")
    prev = px.rename({"date": "_prev_date", "close": "_prev_close"})
    nxt = px.rename({"date": "_next_date", "close": "_next_close"})
    ev = ev.join_asof(
        prev, left_on="first_session", right_on="_prev_date", by="symbol", strategy="backward",
        allow_exact_matches=False, check_sortedness=False,
    )  # fmt: skip
    ev = ev.join_asof(
        nxt, left_on="first_session", right_on="_next_date", by="symbol", strategy="forward",
        allow_exact_matches=False, check_sortedness=False,
    )  # fmt: skip
    ev = ev.join(
        px.rename({"date": "first_session", "close": "_close"}), on=["symbol", "first_session"], how="left"
    )
    is_open, is_close = pl.col("first_fill") == "open", pl.col("first_fill") == "close"
    reaction = (
        pl.when(is_open)
        .then(pl.col("_close") / pl.col("_prev_close") - 1)
        .when(is_close)
        .then(pl.col("_next_close") / pl.col("_close") - 1)
    )
    end_date = pl.when(is_open).then(pl.col("first_session")).when(is_close).then(pl.col("_next_date"))
    known = (
        (
            end_date.cast(pl.Datetime("us"))
            + pl.duration(hours=EOD_PUBLISHED.hour, minutes=EOD_PUBLISHED.minute)
        )
        .dt.replace_time_zone(IST.key)
        .dt.convert_time_zone("UTC")
    )
    ev = ev.with_columns(reaction.alias("reaction"), known.alias("reaction_known_time"))
    ev = ev.with_columns(
        pl.when(pl.col("reaction").is_not_null())
        .then(pl.col("reaction_known_time"))
        .alias("reaction_known_time")
    )
    return ev.sort("_event").drop(
        "_event", "_prev_date", "_prev_close", "_next_date", "_next_close", "_close"
    )


def previous_reactions(events: pl.DataFrame, bars: pl.DataFrame, *, n: int = 4) -> pl.DataFrame:
    """``events`` with ``prev_reaction_mean``, ``prev_reaction_last`` and ``prev_reaction_count``: the
    mean and the most recent of the :func:`reactions` of the same symbol's previous ``n`` announcements
    whose reaction was known (``reaction_known_time <= knowledge_time``) when this event became known.

    Announcements sharing a reaction window (symbol, first session and fill, e.g. the standalone and
    consolidated filings of one result) count once; announcements without a reaction (missing bars) are
    skipped. With no earlier reaction the mean and last are null and the count 0.
    """
    if n < 1:
        raise DataError(f"n must be at least 1, got {n}", remedy="pass n >= 1", field="n")
    measured = reactions(events, bars)
    past = (
        measured.filter(pl.col("reaction").is_not_null())
        .unique(["symbol", "first_session", "first_fill"], keep="first", maintain_order=True)
        .select("symbol", pl.col("reaction").alias("_r"), pl.col("reaction_known_time").alias("_rkt"),
                pl.col("first_session").alias("_fs"))
    )  # fmt: skip
    ev = events.with_row_index("_event")
    pairs = (
        ev.select("_event", "symbol", "knowledge_time")
        .join(past, on="symbol")
        .filter(pl.col("_rkt") <= pl.col("knowledge_time"))
        .sort("_rkt", "_fs")
        .group_by("_event", maintain_order=True)
        .agg(pl.col("_r").tail(n).alias("_last_n"))
    )
    stats = pairs.select(
        "_event",
        pl.col("_last_n").list.mean().alias("prev_reaction_mean"),
        pl.col("_last_n").list.last().alias("prev_reaction_last"),
        pl.col("_last_n").list.len().cast(pl.Int64).alias("prev_reaction_count"),
    )
    out = ev.join(stats, on="_event", how="left").sort("_event")
    return out.with_columns(pl.col("prev_reaction_count").fill_null(0)).drop("_event")


__all__ = [
    "DERIVED",
    "GROWTH_FIELDS",
    "SUE_MIN_QUARTERS",
    "SUE_WINDOW",
    "derive_quarterly",
    "previous_reactions",
    "reactions",
]
