"""Row rules of the quality gate, as Polars expressions.

A :class:`Check` is one rule on one field: a boolean expression that is true where a row breaks
the rule, and an expression for the human-readable reason, which names the field and its values
(``HIGH 101.2 < LOW 104.0 for INFY (EQ)``). :func:`run_checks` evaluates a list of checks over a
whole frame at once and gives each failing row the *first* rule it breaks, so a row is
quarantined exactly once. Rules that need more than the row itself work on helper columns added
beforehand: :func:`with_band` (the scrip's price band) and :func:`with_stored` (the row already
stored for the key); duplicates within the file are found by :func:`run_checks` itself, among the
rows that passed every other rule.

Rule names (the ``rule`` column of quarantine records): ``missing_field``, ``non_positive_price``,
``ohlc_inconsistent``, ``negative_value``, ``delivery_exceeds_volume``, ``future_date``,
``invalid_band``, ``invalid_price_factor``, ``duplicate_key``, ``conflicts_with_stored``,
``beyond_price_band``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import polars as pl

from earnest.core.calendar import TradingCalendar

REL_TOL = 1e-6
"""Relative tolerance when comparing a price with the stored price for the same key."""

VALID_BANDS_PCT = (2.0, 5.0, 10.0, 20.0, 40.0)
"""NSE's fixed price bands in percent (null means "No Band")."""

SPLIT_LIKE = ("split", "bonus")
"""Corporate-action types that change the share count and so scale prices by a factor in (0, 1]."""

MARK = ("_rule", "_field", "_reason")
"""Columns a bad-rows frame carries: the rule, the field and the reason of its rejection."""


@dataclass(frozen=True)
class Check:
    """One rule on one field. ``bad`` is true where a row breaks it (null counts as passing)."""

    rule: str
    field: str
    bad: pl.Expr
    reason: pl.Expr


def show(col: str) -> pl.Expr:
    """A column's value as text for a reason (``null`` when missing)."""
    return pl.col(col).cast(pl.Utf8).fill_null("null")


def subject(target: str) -> pl.Expr:
    """What a row is about, appended to reasons: `` for INFY (EQ)``."""
    if target == "bars":
        return pl.format(" for {} ({})", show("symbol"), show("series"))
    if target == "derivative_bars":
        return pl.format(
            " for {} {} {} {} {}",
            show("symbol"),
            show("instrument_type"),
            show("expiry"),
            show("strike"),
            show("option_type"),
        )
    if target == "index_bars":
        return pl.format(" for {}", show("index_name"))
    if target in {"price_bands", "corporate_actions"}:
        return pl.format(" for {} ({})", show("symbol"), show("series"))
    return pl.lit("")


def _reason(text: str, target: str, *cols: str) -> pl.Expr:
    return pl.format(text, *[show(c) for c in cols]) + subject(target)


def required(cols: Sequence[str], target: str) -> list[Check]:
    """``missing_field`` for each of ``cols`` that is null."""
    return [
        Check(
            "missing_field",
            c,
            pl.col(c).is_null(),
            pl.lit(f"required field {c.upper()} is empty") + subject(target),
        )
        for c in cols
    ]


def positive(cols: Sequence[str], target: str, *, when: pl.Expr | None = None) -> list[Check]:
    """``non_positive_price`` for each of ``cols`` that is <= 0 (only where ``when`` holds)."""
    gate = pl.lit(True) if when is None else when
    return [
        Check(
            "non_positive_price",
            c,
            gate & (pl.col(c) <= 0),
            _reason(f"{c.upper()} {{}} is not positive", target, c),
        )
        for c in cols
    ]


def non_negative(cols: Sequence[str], target: str, *, when: pl.Expr | None = None) -> list[Check]:
    """``negative_value`` for each of ``cols`` that is < 0 (only where ``when`` holds)."""
    gate = pl.lit(True) if when is None else when
    return [
        Check(
            "negative_value", c, gate & (pl.col(c) < 0), _reason(f"{c.upper()} {{}} is negative", target, c)
        )
        for c in cols
    ]


def ohlc(target: str, *, when: pl.Expr | None = None) -> list[Check]:
    """``ohlc_inconsistent``: HIGH below LOW, OPEN or CLOSE; LOW above OPEN or CLOSE."""
    gate = pl.lit(True) if when is None else when
    pairs = (
        ("high", "<", "low"),
        ("high", "<", "open"),
        ("high", "<", "close"),
        ("low", ">", "open"),
        ("low", ">", "close"),
    )
    out = []
    for a, op, b in pairs:
        broken = pl.col(a) < pl.col(b) if op == "<" else pl.col(a) > pl.col(b)
        text = f"{a.upper()} {{}} {op} {b.upper()} {{}}"
        out.append(Check("ohlc_inconsistent", a, gate & broken, _reason(text, target, a, b)))
    return out


def not_after(col: str, today: dt.date, target: str) -> Check:
    """``future_date``: ``col`` is after ``today`` (the exchange's calendar date)."""
    return Check(
        "future_date",
        col,
        pl.col(col) > pl.lit(today),
        _reason(f"{col.upper()} {{}} is after today {today}", target, col),
    )


@lru_cache(maxsize=16)
def bar_checks(today: dt.date) -> tuple[Check, ...]:
    """Every single-row rule for equity bars, in the order they are reported."""
    t = "bars"
    need = ("exchange", "instrument_id", "symbol", "series", "date", "open", "high", "low", "close")
    return (
        *required((*need, "knowledge_time", "source_file"), t),
        *positive(("open", "high", "low", "close"), t),
        *ohlc(t),
        *non_negative(("volume", "turnover", "trades", "delivery_qty"), t),
        Check(
            "delivery_exceeds_volume",
            "delivery_qty",
            pl.col("delivery_qty") > pl.col("volume"),
            _reason("DELIVERY_QTY {} > VOLUME {}", t, "delivery_qty", "volume"),
        ),
        not_after("date", today, t),
    )


@lru_cache(maxsize=16)
def derivative_checks(today: dt.date) -> tuple[Check, ...]:
    """F&O contract bars: prices are checked only on traded contracts (volume > 0); contracts that
    did not trade carry zeros and pass. A negative volume is always wrong."""
    t = "derivative_bars"
    traded = pl.col("volume") > 0
    key = ("exchange", "date", "instrument_type", "symbol", "expiry", "strike", "option_type")
    prices = ("open", "high", "low", "close", "settle")
    return (
        *required((*key, "knowledge_time", "source_file"), t),
        *non_negative(("volume",), t),
        *non_negative((*prices, "turnover", "trades", "open_interest"), t, when=traded),
        *ohlc(t, when=traded),
        not_after("date", today, t),
    )


@lru_cache(maxsize=16)
def index_checks(today: dt.date) -> tuple[Check, ...]:
    """Index values: a positive close; OHLC consistency only when all four are present."""
    t = "index_bars"
    complete = pl.all_horizontal(pl.col(c).is_not_null() for c in ("open", "high", "low", "close"))
    return (
        *required(("index_name", "date", "close", "knowledge_time", "source_file"), t),
        *positive(("close",), t),
        *ohlc(t, when=complete),
        not_after("date", today, t),
    )


@lru_cache(maxsize=16)
def band_checks() -> tuple[Check, ...]:
    """Price bands: the band is one of NSE's fixed bands, or null ("No Band")."""
    t = "price_bands"
    allowed = ", ".join(f"{b:g}" for b in VALID_BANDS_PCT)
    return (
        *required(("symbol", "series", "effective_date", "knowledge_time", "source_file"), t),
        Check(
            "invalid_band",
            "band_pct",
            ~pl.col("band_pct").is_in(VALID_BANDS_PCT),
            _reason(f"BAND_PCT {{}} is not one of {allowed} (or No Band)", t, "band_pct"),
        ),
    )


@lru_cache(maxsize=16)
def action_checks() -> tuple[Check, ...]:
    """Corporate actions: splits and bonuses scale prices by a factor in (0, 1]; every other
    action (dividends, rights, ...) is not back-adjusted and has factor 1.0."""
    t = "corporate_actions"
    need = ("action_id", "exchange", "symbol", "ex_date", "action_type", "price_factor", "source", "status")
    split_like = pl.col("action_type").str.to_lowercase().is_in(SPLIT_LIKE)
    pf = pl.col("price_factor")
    return (
        *required((*need, "knowledge_time"), t),
        Check(
            "invalid_price_factor",
            "price_factor",
            split_like & ((pf <= 0) | (pf > 1)),
            _reason("PRICE_FACTOR {} of a {} is not in (0, 1]", t, "price_factor", "action_type"),
        ),
        Check(
            "invalid_price_factor",
            "price_factor",
            ~split_like & (pf != 1.0),
            _reason(
                "PRICE_FACTOR {} of a {} is not 1.0 (only splits and bonuses scale prices)",
                t,
                "price_factor",
                "action_type",
            ),
        ),
    )


_REQUIRED: dict[str, tuple[str, ...]] = {
    "instruments": ("instrument_id", "exchange", "symbol", "status", "source"),
    "symbol_changes": ("old_symbol", "new_symbol", "change_date", "source"),
    "results_listings": ("filing_key", "exchange", "symbol", "period_from", "period_to", "broadcast_time"),
    "financial_facts": ("symbol", "consolidation", "period_kind", "period_end", "concept", "xbrl_sha256"),
    "custom_events": ("event_id", "event_type", "event_time", "knowledge_time"),
}


@lru_cache(maxsize=16)
def master_checks(target: str) -> tuple[Check, ...]:
    """Masters, results and custom events only need the columns the store cannot do without
    (their readers already rejected rows they could not read)."""
    return tuple(required(_REQUIRED.get(target, ()), target))


def no_rejects(frame: pl.DataFrame) -> pl.DataFrame:
    """An empty bad-rows frame shaped like ``frame`` plus the :data:`MARK` columns."""
    return frame.clear().hstack([pl.Series(c, [], dtype=pl.Utf8) for c in MARK])


# ---- rules that look beyond the row: price bands, stored rows, duplicates ----------------------


def with_band(
    rows: pl.LazyFrame, bands: pl.DataFrame, calendar: TradingCalendar, *, dates: Sequence[dt.date]
) -> pl.LazyFrame:
    """Add ``_band`` (percent), ``_band_date`` and ``_band_age`` (sessions since it took effect):
    the latest band for the row's (symbol, series) with ``effective_date`` on or before the row's
    date, and ``_move``, the close's move from the row's own ``prev_close`` in percent (NSE
    adjusts ``prev_close`` for corporate actions, so an ex-date does not look like a jump).

    ``dates`` are the distinct dates of the rows; a one-day file (the usual bhavcopy) needs a plain
    join, a longer one an as-of join.
    """
    table = (
        bands.lazy()
        .filter(
            pl.col("symbol").is_not_null()
            & pl.col("series").is_not_null()
            & pl.col("effective_date").is_not_null()
        )
        .select(
            "symbol",
            "series",
            pl.col("effective_date").alias("_band_date"),
            pl.col("band_pct").alias("_band"),
        )
    )
    first = bands.get_column("effective_date").min()
    span = calendar.sessions_between(first, max(dates)) if isinstance(first, dt.date) and dates else []
    sessions = pl.Series("_sessions", span, dtype=pl.Date)
    if len(dates) == 1:
        latest = (
            table.filter(pl.col("_band_date") <= dates[0])
            .sort("_band_date")
            .unique(["symbol", "series"], keep="last")
        )
        joined = rows.join(latest, on=["symbol", "series"], how="left", maintain_order="left")
    else:
        joined = (
            rows.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_pos"))
            .sort("date", nulls_last=True)
            .join_asof(
                table.unique(["symbol", "series", "_band_date"], keep="last").sort("_band_date"),
                left_on="date",
                right_on="_band_date",
                by=["symbol", "series"],
                strategy="backward",
                check_sortedness=False,
            )
            .sort("_pos")
            .drop("_pos")
        )
    return joined.with_columns(
        (
            pl.lit(sessions).search_sorted(pl.col("date"), side="right").cast(pl.Int64)
            - pl.lit(sessions).search_sorted(pl.col("_band_date"), side="right").cast(pl.Int64)
        ).alias("_band_age"),
        ((pl.col("close") / pl.col("prev_close") - 1.0).abs() * 100.0).alias("_move"),
    )


def band_check(*, tolerance_pct: float, max_age_sessions: int) -> Check:
    """``beyond_price_band`` on the columns of :func:`with_band`: the close moved more than the
    band plus ``tolerance_pct``; only with a fixed band at most ``max_age_sessions`` old and a
    positive ``prev_close`` ("No Band" or no known band: the rule does not apply)."""
    applies = (
        pl.col("_band").is_not_null() & (pl.col("_band_age") <= max_age_sessions) & (pl.col("prev_close") > 0)
    )
    reason = pl.format(
        "CLOSE {} moved {}% from PREV_CLOSE {}, beyond the {}% price band (effective {}, tolerance {}%)",
        show("close"),
        pl.col("_move").round(2).cast(pl.Utf8),
        show("prev_close"),
        show("_band"),
        show("_band_date"),
        pl.lit(f"{tolerance_pct:g}"),
    )
    bad = applies & (pl.col("_move") > pl.col("_band") + tolerance_pct)
    return Check("beyond_price_band", "close", bad, reason + subject("bars"))


PRICES = ("open", "high", "low", "close")


def with_stored(rows: pl.LazyFrame, stored: pl.DataFrame, key: Sequence[str]) -> pl.LazyFrame:
    """Add the stored row's prices (``_s_open`` ...), file (``_s_file``) and line (``_s_row``)
    for rows whose key is already stored."""
    old = stored.select(
        *key,
        *[pl.col(p).alias(f"_s_{p}") for p in PRICES],
        pl.col("source_file").alias("_s_file"),
        pl.col("source_row").alias("_s_row"),
    ).unique(list(key), keep="first", maintain_order=True)
    return rows.join(old.lazy(), on=list(key), how="left", maintain_order="left")


def conflict_checks(target: str = "bars") -> tuple[Check, ...]:
    """``conflicts_with_stored`` on the columns of :func:`with_stored`: a price differs from the
    stored one by more than :data:`REL_TOL` relative. Identical rows pass (the store merges them)."""
    out = []
    for p in PRICES:
        a, b = pl.col(p), pl.col(f"_s_{p}")
        differs = (a - b).abs() > REL_TOL * pl.max_horizontal(a.abs(), b.abs())
        reason = pl.format(
            f"{p.upper()} {{}} differs from {{}} already stored from {{}} line {{}}",
            show(p),
            show(f"_s_{p}"),
            show("_s_file"),
            show("_s_row"),
        )
        out.append(Check("conflicts_with_stored", p, differs, reason + subject(target)))
    return tuple(out)


def _duplicate_reasons(
    bad: pl.DataFrame, passed: pl.DataFrame, key: Sequence[str], target: str
) -> pl.DataFrame:
    """Fill the reason of ``duplicate_key`` rows, naming the line of the kept row."""
    keys = list(key)
    is_dup = pl.col("_rule") == "duplicate_key"
    if "duplicate_key" not in bad.get_column("_rule").unique().to_list():
        return bad
    line = pl.col("source_row") if "source_row" in passed.columns else pl.lit(None, dtype=pl.Int64)
    firsts = passed.select(*keys, line.alias("_first_line")).unique(keys, keep="first", maintain_order=True)
    what = pl.concat_str([show(k) for k in keys], separator=" ")
    line_of = pl.format("line {}", pl.col("_first_line"))
    where = pl.when(pl.col("_first_line").is_null()).then(pl.lit("an earlier row")).otherwise(line_of)
    text = pl.format("duplicate of {} (same {}: {})", where, pl.lit(", ".join(keys)), what)
    return (
        bad.join(firsts, on=keys, how="left", maintain_order="left", nulls_equal=True)
        .with_columns(
            pl.when(is_dup).then(text + subject(target)).otherwise(pl.col("_reason")).alias("_reason")
        )
        .drop("_first_line")
    )


@dataclass(frozen=True)
class Checked:
    """The outcome of :func:`run_checks`: every row (with helper columns), the rows that passed
    and the rows that broke a rule (with the :data:`MARK` columns)."""

    rows: pl.DataFrame
    good: pl.DataFrame
    bad: pl.DataFrame


def run_checks(rows: pl.LazyFrame, checks: Sequence[Check], *, key: Sequence[str], target: str) -> Checked:
    """Evaluate ``checks`` over all rows at once, then the ``duplicate_key`` rule over the rows
    that passed them (the first row of a key, in file order, is kept).

    Each failing row is marked with the *first* rule it breaks, so it is quarantined exactly once;
    reasons are formatted only for failing rows.
    """
    n = len(checks)
    first = pl.coalesce([pl.when(c.bad).then(pl.lit(i, dtype=pl.Int32)) for i, c in enumerate(checks)])
    passed = pl.col("_check").is_null()
    dup = passed & ~pl.struct([*key, passed.alias("_passed")]).is_first_distinct()
    frame = (
        rows.with_columns(first.alias("_check") if checks else pl.lit(None, dtype=pl.Int32).alias("_check"))
        .with_columns(
            pl.when(dup).then(pl.lit(n, dtype=pl.Int32)).otherwise(pl.col("_check")).alias("_check")
        )
        .collect()
    )
    which = frame.get_column("_check")
    if which.null_count() == frame.height:
        return Checked(frame, frame, no_rejects(frame))
    hit = which.is_not_null()
    good = frame.filter(~hit)
    all_checks = [*checks, Check("duplicate_key", ",".join(key), pl.lit(True), pl.lit(""))]
    used = sorted(int(i) for i in which.drop_nulls().unique().to_list())
    cases = [(pl.col("_check") == i, all_checks[i]) for i in used]
    bad = frame.filter(hit).with_columns(
        pl.coalesce([pl.when(h).then(pl.lit(c.rule)) for h, c in cases]).alias("_rule"),
        pl.coalesce([pl.when(h).then(pl.lit(c.field)) for h, c in cases]).alias("_field"),
        pl.coalesce([pl.when(h).then(c.reason) for h, c in cases]).alias("_reason"),
    )
    return Checked(frame, good, _duplicate_reasons(bad, good, key, target))


__all__ = [
    "MARK",
    "PRICES",
    "REL_TOL",
    "SPLIT_LIKE",
    "VALID_BANDS_PCT",
    "Check",
    "Checked",
    "action_checks",
    "band_check",
    "band_checks",
    "bar_checks",
    "conflict_checks",
    "derivative_checks",
    "index_checks",
    "master_checks",
    "no_rejects",
    "non_negative",
    "not_after",
    "ohlc",
    "positive",
    "required",
    "run_checks",
    "show",
    "subject",
    "with_band",
    "with_stored",
]
