"""Instrument resolution: which instrument a row of a price file is about.

An instrument is keyed by its ISIN, which survives renames, so a company's history stays in one
piece and delisted names keep their rows (no survivorship). A row is resolved in this order:

1. the row's own ISIN;
2. for NSE rows, the symbol is mapped through the symbol-change history to the symbol current as
   of the row's date (following chains of renames: a rename ``A -> B`` on 2011-06-01 maps rows of
   ``A`` dated before 2011-06-01 to ``B``; rows of ``A`` from that day on are left alone, since
   NSE may give the old ticker to another company), and that symbol to an ISIN through the
   instruments master (preferring the instrument listed on the row's date, then a listed one,
   then the one seen last);
3. an id the reader set itself (BSE readers may key rows by scrip code);
4. ``f"{exchange}:{symbol}"`` with the current symbol (for BSE the symbol is the scrip code), in
   which case the row is *unresolved* and the gate records an ``unresolved_instrument`` finding.

Everything here works on whole frames with joins; the only loop is over the depth of rename
chains (a handful of steps), never over rows.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from earnest.core import schemas

SYMBOL_HISTORY_EXCHANGE = "NSE"
"""The exchange whose symbol-change history ``symbol_changes`` holds (NSE's symbolchange.csv)."""

RESOLVED_COLUMNS = ("instrument_id", "isin", "current_symbol", "resolved")
"""Columns :func:`resolve_instruments` adds or replaces: the id, the ISIN (the row's or the
master's), the symbol current as of the row's date, and whether an ISIN was found."""


def rename_closure(symbol_changes: pl.DataFrame) -> pl.DataFrame:
    """Each rename ``(old_symbol, change_date)`` with the symbol its company ends up with after
    every later rename (``final_symbol``).

    A rename ``old -> new`` on ``change_date`` is followed by the earliest rename of ``new`` dated
    strictly after it, and so on; dates strictly increase along a chain, so a name given back
    later cannot loop. The loop runs once per link of the longest chain (a handful), on the small
    symbol-change table, never over price rows.
    """
    if symbol_changes.is_empty():
        return pl.DataFrame(schema={"old_symbol": pl.Utf8, "change_date": pl.Date, "final_symbol": pl.Utf8})
    changes = (
        symbol_changes.select("old_symbol", "new_symbol", "change_date")
        .drop_nulls()
        .filter(pl.col("old_symbol") != pl.col("new_symbol"))
        .unique(["old_symbol", "change_date"], keep="first", maintain_order=True)
        .sort("change_date")
    )
    state = changes.with_columns(
        pl.col("new_symbol").alias("final_symbol"), pl.col("change_date").alias("_at")
    )
    lookup = changes.select(
        pl.col("old_symbol").alias("final_symbol"),
        pl.col("change_date").alias("_next_at"),
        pl.col("new_symbol").alias("_next"),
    )
    for _ in range(changes.height):
        step = state.sort("_at").join_asof(
            lookup,
            left_on="_at",
            right_on="_next_at",
            by="final_symbol",
            strategy="forward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        if step.get_column("_next").null_count() == step.height:
            break
        state = step.select(
            "old_symbol",
            "new_symbol",
            "change_date",
            pl.coalesce("_next", "final_symbol").alias("final_symbol"),
            pl.coalesce("_next_at", "_at").alias("_at"),
        )
    return state.select("old_symbol", "change_date", "final_symbol").sort("change_date")


def _current_symbol(rows: pl.LazyFrame, closure: pl.DataFrame, date_col: str) -> pl.LazyFrame:
    """Add ``current_symbol``: the row's symbol mapped through the first rename dated after the
    row (NSE rows only; other exchanges' symbols are their own)."""
    if closure.is_empty():
        return rows.with_columns(pl.col("symbol").alias("current_symbol"))
    joined = (
        rows.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_pos"))
        .sort(date_col, nulls_last=True)
        .join_asof(
            closure.lazy(),
            left_on=date_col,
            right_on="change_date",
            by_left="symbol",
            by_right="old_symbol",
            strategy="forward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        .sort("_pos")
    )
    history = pl.col("exchange") == SYMBOL_HISTORY_EXCHANGE
    current = pl.when(history).then(pl.coalesce("final_symbol", "symbol")).otherwise(pl.col("symbol"))
    return joined.with_columns(current.alias("current_symbol")).drop("_pos", "final_symbol", "change_date")


def _master_isin(rows: pl.LazyFrame, instruments: pl.DataFrame, date_col: str) -> pl.LazyFrame:
    """Add ``master_isin`` for rows without an ISIN, from the instruments master by (exchange,
    current symbol). When several instruments carry the symbol (a ticker reused after a
    delisting), the one listed on the row's date wins, then one whose status is ``listed``, then
    the one seen most recently, then the smallest ISIN (so the answer never depends on row order)."""
    if instruments.is_empty():
        return rows.with_columns(pl.lit(None, dtype=pl.Utf8).alias("master_isin"))
    master = instruments.filter(pl.col("isin").is_not_null() & pl.col("symbol").is_not_null())
    keys = ["exchange", "current_symbol", date_col]
    pairs = master.select(
        "exchange", pl.col("symbol").alias("current_symbol"), pl.col("isin").alias("master_isin")
    )
    if not pairs.select(pl.struct("exchange", "current_symbol").is_duplicated().any()).item():
        # the usual case: one instrument per symbol, no need to rank candidates by date
        return rows.join(pairs.lazy(), on=["exchange", "current_symbol"], how="left", maintain_order="left")
    need = rows.filter(pl.col("isin").is_null()).select(keys).unique()
    live = (pl.col("listing_date").is_null() | (pl.col("listing_date") <= pl.col(date_col))) & (
        pl.col("delisting_date").is_null() | (pl.col("delisting_date") >= pl.col(date_col))
    )
    best = (
        need.join(
            master.lazy().select(
                "exchange",
                pl.col("symbol").alias("current_symbol"),
                pl.col("isin").alias("master_isin"),
                "listing_date",
                "delisting_date",
                (pl.col("status") == "listed").fill_null(False).alias("_listed"),
                "last_seen",
            ),
            on=["exchange", "current_symbol"],
            how="inner",
        )
        .with_columns(live.alias("_live"))
        # ties (same status and last sighting) go to the smallest ISIN: the same answer every run
        .sort(
            ["_live", "_listed", "last_seen", "master_isin"],
            descending=[True, True, True, False],
            nulls_last=True,
            maintain_order=True,
        )
        .group_by(keys)
        .agg(pl.col("master_isin").first())
    )
    return rows.join(best, on=keys, how="left", maintain_order="left")


def resolve_lazy(
    frame: pl.DataFrame,
    *,
    instruments: pl.DataFrame,
    symbol_changes: pl.DataFrame,
    date_col: str = "date",
) -> pl.LazyFrame:
    """A lazy ``frame`` with :data:`RESOLVED_COLUMNS` added (``frame`` needs exchange, symbol and
    ``date_col``, and may have isin and instrument_id). Row order and height are kept."""
    rows = frame.lazy()
    if "isin" not in frame.columns:
        rows = rows.with_columns(pl.lit(None, dtype=pl.Utf8).alias("isin"))
    if "instrument_id" not in frame.columns:
        rows = rows.with_columns(pl.lit(None, dtype=pl.Utf8).alias("instrument_id"))
    rows = _current_symbol(rows, rename_closure(symbol_changes), date_col)
    every_row_has_isin = "isin" in frame.columns and frame.get_column("isin").null_count() == 0
    rows = _master_isin(rows, instruments.clear() if every_row_has_isin else instruments, date_col)
    isin = pl.coalesce("isin", "master_isin")
    fallback = pl.concat_str([pl.col("exchange"), pl.lit(":"), pl.col("current_symbol")])
    return rows.with_columns(
        pl.coalesce(isin, pl.col("instrument_id"), fallback).alias("instrument_id"),
        isin.alias("isin"),
        isin.is_not_null().alias("resolved"),
    ).drop("master_isin")


def resolve_instruments(
    frame: pl.DataFrame,
    *,
    instruments: pl.DataFrame,
    symbol_changes: pl.DataFrame,
    date_col: str = "date",
) -> pl.DataFrame:
    """:func:`resolve_lazy`, collected."""
    return resolve_lazy(
        frame, instruments=instruments, symbol_changes=symbol_changes, date_col=date_col
    ).collect()


def instrument_rows(resolved: pl.DataFrame, *, source: str) -> pl.DataFrame:
    """INSTRUMENTS rows for every instrument in a resolved bars frame.

    ``first_seen``/``last_seen`` are the instrument's first and last dates in the frame and
    ``symbol`` its current symbol as of its last row. ``status`` is ``unknown``: when the store
    merges the row into a known instrument it keeps the known status (and name, listing date, ...),
    so the master always knows better, and a delisted name is never removed.
    """
    usable = (
        pl.col("instrument_id").is_not_null()
        & pl.col("exchange").is_not_null()
        & pl.col("current_symbol").is_not_null()
    )
    agg = (
        resolved.lazy()
        .filter(usable)
        .group_by("instrument_id", maintain_order=True)
        .agg(
            pl.col("isin").max(),
            pl.col("exchange").first(),
            pl.col("current_symbol").get(pl.col("date").arg_max()).alias("symbol"),
            pl.col("series").first(),
            pl.col("date").min().alias("first_seen"),
            pl.col("date").max().alias("last_seen"),
        )
        .with_columns(pl.lit("unknown").alias("status"), pl.lit(source).alias("source"))
    )
    return schemas.conform(agg.collect(), schemas.INSTRUMENTS, name="instruments")


def unresolved_findings(resolved: pl.DataFrame, *, source_file: str, found_at: dt.datetime) -> pl.DataFrame:
    """One ``unresolved_instrument`` finding (severity ``info``) per symbol left without an ISIN."""
    rows = resolved.filter(
        ~pl.col("resolved") & pl.col("symbol").is_not_null() & pl.col("exchange").is_not_null()
    )
    if rows.is_empty():
        return schemas.empty(schemas.FINDINGS)
    per_symbol = (
        rows.sort("date", nulls_last=True)
        .group_by("exchange", "symbol", maintain_order=True)
        .agg(pl.col("instrument_id").first(), pl.col("current_symbol").first(), pl.col("date").min())
    )
    detail = pl.format(
        "{} {}: the row has no ISIN and the instruments master does not know {}; stored as {} "
        "(ingest the exchange's equity master or symbol changes to resolve it)",
        pl.col("exchange"),
        pl.col("symbol"),
        pl.col("current_symbol"),
        pl.col("instrument_id"),
    )
    out = per_symbol.select(
        pl.lit("unresolved_instrument").alias("rule"),
        pl.lit("info").alias("severity"),
        "instrument_id",
        "symbol",
        "date",
        detail.alias("detail"),
        pl.lit(source_file).alias("source_file"),
        pl.lit(found_at, dtype=schemas.UTC_TS).alias("found_at"),
    )
    return schemas.conform(out, schemas.FINDINGS, name="findings")


__all__ = [
    "RESOLVED_COLUMNS",
    "SYMBOL_HISTORY_EXCHANGE",
    "instrument_rows",
    "rename_closure",
    "resolve_instruments",
    "resolve_lazy",
    "unresolved_findings",
]
