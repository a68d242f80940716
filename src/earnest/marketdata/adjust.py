"""Point-in-time back-adjustment of unadjusted daily bars for corporate actions.

The adjustment factor of a bar dated ``d`` is the product of the factors of the instrument's
actions with ``ex_date > d``: prices before an ex-date are scaled to be comparable with prices
from the ex-date on, and the latest prices are never changed. Which actions count:

- ``status`` ``confirmed``, plus ``inferred`` unless ``include_inferred=False``; never ``rejected``;
- with ``as_of``, only actions whose ``knowledge_time <= as_of`` and whose ex-date has come by
  then (``ex_date <= as_of``'s IST date): an adjusted series asked as of a past instant is exactly
  what a researcher could have computed then, in the share units of that day (no look-ahead; an
  announced split that has not gone ex does not yet change prices).

Factor of one action (``action_type`` is matched case-insensitively):

- ``*dividend*``: ``1 - D / P_cum`` with ``D = amount`` and ``P_cum`` the last close before the
  ex-date, only when ``dividends=True`` (1.0 otherwise, earnest's default);
- ``*rights*`` with ``ratio_new = R`` new shares for every ``ratio_old = N`` held at issue price
  ``amount = S``: ``TERP / P_cum`` with ``TERP = (N * P_cum + R * S) / (N + R)``; the stored
  ``price_factor`` when any of these is missing or ``S >= P_cum`` (a rights issue above the
  market price does not dilute);
- anything else (splits, bonuses, consolidations, demergers): the stored ``price_factor``.

Actions are matched to bars by ``instrument_id`` across exchanges and series (a split of an ISIN
applies to its NSE and BSE bars alike); actions stored without an instrument id are resolved
through the symbol of the instrument's bars before the ex-date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import IST
from earnest.core.errors import ConfigError, DataError
from earnest.store.base import Store

PRICE_COLUMNS = ("open", "high", "low", "close", "last")
ADJUSTED_COLUMNS = (
    "adj_factor",
    "adj_open",
    "adj_high",
    "adj_low",
    "adj_close",
    "adj_last",
    "adj_prev_close",
    "adj_volume",
)


def _check_as_of(as_of: dt.datetime | None) -> None:
    if as_of is not None and as_of.tzinfo is None:
        raise ConfigError(
            f"as_of {as_of.isoformat()} has no time zone",
            remedy="pass a timezone-aware instant, e.g. with tzinfo=ZoneInfo('Asia/Kolkata')",
            field="as_of",
        )


def _reference_closes(bars: pl.DataFrame) -> pl.DataFrame:
    """One close per instrument and date (EQ, then NSE preferred), for ``P_cum`` look-ups."""
    return (
        bars.select("instrument_id", "symbol", "exchange", "series", "date", "close")
        .sort(["instrument_id", "date", pl.col("series") != "EQ", pl.col("exchange") != "NSE"])
        .unique(subset=["instrument_id", "date"], keep="first", maintain_order=True)
        .select("instrument_id", "symbol", "date", "close")
        .sort("date")
    )


def _resolve_ids(actions: pl.DataFrame, ref: pl.DataFrame) -> pl.DataFrame:
    """Fill a missing ``instrument_id`` from the bars of the same symbol before the ex-date."""
    missing = actions.filter(pl.col("instrument_id").is_null())
    if missing.is_empty():
        return actions
    lookup = ref.select("symbol", pl.col("date").alias("_d"), pl.col("instrument_id").alias("_iid"))
    resolved = (
        missing.sort("ex_date")
        .join_asof(
            lookup,
            left_on="ex_date",
            right_on="_d",
            by="symbol",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        .with_columns(instrument_id=pl.col("_iid"))
        .drop("_d", "_iid")
        .drop_nulls("instrument_id")
    )
    return pl.concat(
        [actions.filter(pl.col("instrument_id").is_not_null()), resolved.select(actions.columns)]
    )


def _effective(actions: pl.DataFrame, *, as_of: dt.datetime | None, include_inferred: bool) -> pl.DataFrame:
    statuses = ["confirmed", "inferred"] if include_inferred else ["confirmed"]
    kept = actions.filter(pl.col("status").is_in(statuses))
    if as_of is not None:
        kept = kept.filter(
            pl.col("knowledge_time") <= as_of.astimezone(dt.UTC),
            pl.col("ex_date") <= as_of.astimezone(IST).date(),
        )
    return kept


def action_factors(bars: pl.DataFrame, actions: pl.DataFrame, *, dividends: bool = False) -> pl.DataFrame:
    """Each action's own price factor (``instrument_id, ex_date, action_id, factor``).

    ``actions`` must already be filtered to the ones to apply. Raises :class:`DataError` for a
    dividend at or above the price it would be deducted from (with ``dividends=True``).
    """
    kind = pl.col("action_type").str.to_lowercase()
    is_div = kind.str.contains("dividend")
    is_rights = kind.str.contains("rights")
    if actions.filter(pl.col("instrument_id").is_null()).height:
        symbols = actions.filter(pl.col("instrument_id").is_null()).get_column("symbol").implode()
        actions = _resolve_ids(actions, _reference_closes(bars.filter(pl.col("symbol").is_in(symbols))))
    needs_close = actions.filter((is_div & dividends) | is_rights).get_column("instrument_id").unique()
    ref = _reference_closes(bars.filter(pl.col("instrument_id").is_in(needs_close.implode())))
    cum = ref.select("instrument_id", pl.col("date").alias("_d"), pl.col("close").alias("p_cum"))
    acts = actions.sort("ex_date").join_asof(
        cum,
        left_on="ex_date",
        right_on="_d",
        by="instrument_id",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    p, s = pl.col("p_cum"), pl.col("amount")
    n, r = pl.col("ratio_old"), pl.col("ratio_new")
    terp = (n * p + r * s) / (n + r)
    rights_ok = is_rights & p.is_not_null() & s.is_not_null() & (n > 0) & (r > 0) & (s < p)
    div_ok = is_div & p.is_not_null() & s.is_not_null()
    if dividends:
        bad = acts.filter(div_ok & (s >= p))
        if bad.height:
            first = bad.row(0, named=True)
            raise DataError(
                f"dividend {first['amount']} of {first['symbol']} ex {first['ex_date']} is not below the "
                f"previous close {first['p_cum']}; cannot back-adjust",
                remedy=f"fix or reject corporate action {first['action_id']}",
                field="amount",
            )
    factor = (
        pl.when(is_div)
        .then(pl.when(div_ok).then(1 - s / p).otherwise(1.0) if dividends else pl.lit(1.0))
        .when(rights_ok)
        .then(terp / p)
        .otherwise(pl.col("price_factor"))
    )
    return acts.select("instrument_id", "ex_date", "action_id", factor.cast(pl.Float64).alias("factor"))


def _cumulative(factors: pl.DataFrame) -> pl.DataFrame:
    """Per instrument and ex-date, the product of all factors at or after that ex-date."""
    return (
        factors.group_by("instrument_id", "ex_date")
        .agg(pl.col("factor").product())
        .sort("instrument_id", "ex_date")
        .with_columns(_cum=pl.col("factor").reverse().cum_prod().reverse().over("instrument_id"))
        .select("instrument_id", pl.col("ex_date").alias("_ex"), "_cum")
        .sort("_ex")
    )


def adjust_bars(
    bars: pl.DataFrame,
    actions: pl.DataFrame,
    *,
    as_of: dt.datetime | None = None,
    include_inferred: bool = True,
    dividends: bool = False,
) -> pl.DataFrame:
    """``bars`` (schema ``BARS``, any order) with :data:`ADJUSTED_COLUMNS` added, same row order.

    ``adj_X = X * adj_factor`` for prices, ``adj_volume = volume / adj_factor``. ``adj_prev_close``
    takes the file's ``prev_close`` in the units it was written in: NSE's bhavcopy already adjusts
    it on an ex-date (then the bar's own factor applies); files that do not (it equals the raw
    previous close) get the previous bar's factor, so ``adj_prev_close`` is right for both.
    """
    _check_as_of(as_of)
    bars = bars.drop([c for c in ADJUSTED_COLUMNS if c in bars.columns])
    actions = schemas.conform(actions, schemas.CORPORATE_ACTIONS, name="corporate_actions")
    live = _effective(actions, as_of=as_of, include_inferred=include_inferred)
    cum = _cumulative(action_factors(bars, live, dividends=dividends))
    key = ["exchange", "instrument_id", "series"]
    # A narrow frame sorted by date only: within each series the rows are then in date order, so
    # shifts over the key see the previous bar, with no slow sort on string keys.
    narrow = (
        bars.select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("_order"), *key, "date", "close", "prev_close"
        )
        .sort("date")
        .join_asof(
            cum,
            left_on="date",
            right_on="_ex",
            by="instrument_id",
            strategy="forward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        .with_columns(adj_factor=pl.col("_cum").fill_null(1.0))
        .with_columns(
            _c0=pl.col("close").shift(1).over(key),
            _f0=pl.col("adj_factor").shift(1).over(key),
        )
    )
    pc = pl.col("prev_close")
    step = pl.col("_f0") / pl.col("adj_factor")
    raw_units = (pc / pl.col("_c0")).log().abs() < (pc / (pl.col("_c0") * step)).log().abs()
    narrow = narrow.select(
        "_order",
        "adj_factor",
        adj_prev_close=pl.when(pl.col("_f0").is_not_null() & (step != 1.0) & raw_units)
        .then(pc * pl.col("_f0"))
        .otherwise(pc * pl.col("adj_factor")),
    ).sort("_order")
    out = pl.concat([bars, narrow.drop("_order")], how="horizontal")
    out = out.with_columns(
        *[(pl.col(c) * pl.col("adj_factor")).alias(f"adj_{c}") for c in PRICE_COLUMNS],
        adj_volume=pl.col("volume") / pl.col("adj_factor"),
    )
    return out.select([*bars.columns, *ADJUSTED_COLUMNS])


def _read_actions(store: Store, bars: pl.DataFrame) -> pl.DataFrame:
    """Every stored action of the instruments in ``bars`` (plus symbol-only rows of their symbols)."""
    ids = bars.get_column("instrument_id").unique().to_list()
    symbols = bars.get_column("symbol").unique().to_list()
    by_id = store.read("corporate_actions", where={"instrument_id": ids})
    by_symbol = store.read("corporate_actions", where={"instrument_id": None, "symbol": symbols})
    return pl.concat([by_id, by_symbol])


def adjusted_bars(
    store: Store,
    *,
    symbols: Sequence[str] | None = None,
    instrument_ids: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    as_of: dt.datetime | None = None,
    include_inferred: bool = True,
    dividends: bool = False,
    series: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Adjusted bars from ``store`` (see :func:`adjust_bars`), sorted by instrument and date.

    With ``as_of``, bars not yet published at that instant (``knowledge_time > as_of``) are left
    out too, so the frame is what was knowable then. Actions after ``end`` still adjust (unless
    ``as_of`` excludes them): prices are always expressed in the latest known share units.
    """
    _check_as_of(as_of)
    bars = store.bars(symbols=symbols, instrument_ids=instrument_ids, start=start, end=end, series=series)
    if as_of is not None:
        bars = bars.filter(pl.col("knowledge_time") <= as_of.astimezone(dt.UTC))
    if bars.is_empty():
        return bars.with_columns(pl.lit(None, pl.Float64).alias(c) for c in ADJUSTED_COLUMNS)
    actions = _read_actions(store, bars)
    return adjust_bars(bars, actions, as_of=as_of, include_inferred=include_inferred, dividends=dividends)


__all__ = ["ADJUSTED_COLUMNS", "PRICE_COLUMNS", "action_factors", "adjust_bars", "adjusted_bars"]
