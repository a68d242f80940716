"""Forward-return labels with an explicit execution lag and horizon, abnormal return and circuit hits.

**Timing.** A signal is a row ``(instrument, knowledge_time)``: the instant its information became
known. Sessions are counted on the exchange calendar (:class:`~earnest.core.calendar.TradingCalendar`):

- ``s0`` is the first session whose *opening* auction could act on the signal
  (:meth:`~earnest.core.calendar.TradingCalendar.first_tradable` with the conservative
  ``NEXT_OPEN`` rule: before 09:15 IST on a session day, that day; otherwise the next session).
- The entry session is ``e = s0 + lag`` (``lag`` sessions later; ``lag=0`` enters at ``s0``).
- ``fill="open"``: buy at the open of ``e``, sell at the close of ``e + h - 1``;
  ``fill="close"``: buy at the close of ``e``, sell at the close of ``e + h``. Either way the
  position is held through exactly ``h`` sessions of price movement (``h = horizon``).

For the daily, signals-at-close variant (:func:`daily_forward_returns`) the signal of date ``t`` is
known at ``t``'s end of day (16:00 IST, :func:`~earnest.core.calendar.eod_known_utc`), so
``s0 = t + 1``; with ``fill="open"`` the label reads only bars of sessions in ``(t + lag, t + lag + h]``
(a property test pins this), with ``fill="close"`` only bars in ``[t + lag + 1, t + lag + h + 1]``.

**Columns** (suffix ``{h}d_lag{L}``, plus ``_close`` for ``fill="close"``; see :func:`label_suffix`):

- ``entry_date_*``, ``exit_date_*``: the sessions of the entry and exit auctions;
- ``fwd_ret_*``: exit price / entry price - 1, on the prices given (pass adjusted bars when the window
  may span a split: :func:`earnest.marketdata.adjust.adjusted_bars`);
- ``abn_ret_*`` (with ``index``): ``fwd_ret`` minus the index's return over the same auctions;
- ``hit_upper_circuit_*`` / ``hit_lower_circuit_*``: some bar held through the position (sessions
  ``e .. e+h-1`` for an open fill, ``e+1 .. e+h`` for a close fill) touched its price band:
  ``high >= prev_close * (1 + band) - tick`` (``low <= prev_close * (1 - band) + tick``);
- ``entry_blocked_*``: the entry auction printed at the upper circuit (open, or close for a close
  fill, ``>= prev_close * (1 + band) - tick``): a buyer could not have been filled;
- ``label_known_at_*``: when the label is known (16:00 IST of the exit session, UTC). Never use a
  label as an input before then.

A missing bar at the entry or exit session (suspension, not yet traded, outside the data) gives null
labels: earnest never substitutes another session. Circuit flags need a ``band_pct`` column on the bars
(percent, e.g. ``20.0``; null means "No Band", which never hits; :func:`attach_bands` adds it from the
``price_bands`` table); without that column they are null.
"""

from __future__ import annotations

import polars as pl

from earnest.core.calendar import EOD_PUBLISHED, IST, Fill, TradingCalendar, nse_calendar
from earnest.core.errors import ConfigError, DataError, SchemaDriftError
from earnest.events.records import first_sessions

DEFAULT_TICK = 0.05
"""NSE's price tick in rupees; the tolerance of the circuit-hit tests."""

_PRICES = ("open", "high", "low", "close")
_S = "_s"
_ROW = "_label_row"


def label_suffix(*, horizon: int, lag: int, fill: Fill | str = Fill.OPEN) -> str:
    """The suffix every label column carries: ``3d_lag1`` (open fill) or ``3d_lag1_close``."""
    how = check_label_params(horizon=horizon, lag=lag, fill=fill)
    return f"{horizon}d_lag{lag}" + ("_close" if how is Fill.CLOSE else "")


def check_label_params(*, horizon: int, lag: int, fill: Fill | str, tick: float = DEFAULT_TICK) -> Fill:
    """Validate the label parameters; returns ``fill`` as a :class:`Fill`."""
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ConfigError(
            f"horizon must be a whole number of sessions >= 1, got {horizon!r}", field="horizon"
        )
    if isinstance(lag, bool) or not isinstance(lag, int) or lag < 0:
        raise ConfigError(f"lag must be a whole number of sessions >= 0, got {lag!r}", field="lag")
    if not tick >= 0:
        raise ConfigError(f"tick must be >= 0 rupees, got {tick!r}", field="tick")
    try:
        return Fill(fill)
    except ValueError:
        raise ConfigError(
            f"fill must be 'open' or 'close', got {fill!r}",
            remedy="pass fill='open' or 'close'",
            field="fill",
        ) from None


def eod_known(date: pl.Expr) -> pl.Expr:
    """Vectorised :func:`~earnest.core.calendar.eod_known_utc`: 16:00 IST of ``date`` as UTC."""
    return (
        (date.cast(pl.Datetime("us")) + pl.duration(hours=EOD_PUBLISHED.hour, minutes=EOD_PUBLISHED.minute))
        .dt.replace_time_zone(IST.key)
        .dt.convert_time_zone("UTC")
    )


def session_series(calendar: TradingCalendar) -> pl.Series:
    """The calendar's sessions as a sorted Date series (position = session number)."""
    return pl.Series("session", calendar.sessions, dtype=pl.Date)


def signal_key(signals: pl.DataFrame) -> str:
    """The column that names the instrument: ``instrument_id`` when present, else ``symbol``."""
    for key in ("instrument_id", "symbol"):
        if key in signals.columns:
            return key
    raise SchemaDriftError(
        "signals have neither 'instrument_id' nor 'symbol'",
        remedy="pass signals with instrument_id (or symbol) and knowledge_time",
        field="instrument_id",
    )


def require(frame: pl.DataFrame, cols: tuple[str, ...] | list[str], what: str) -> None:
    """Raise :class:`SchemaDriftError` naming the first column of ``cols`` that ``frame`` lacks."""
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise SchemaDriftError(
            f"{what} lack column(s) {', '.join(map(repr, missing))}",
            remedy=f"pass {what} with {', '.join(cols)}",
            field=missing[0],
        )


def positioned_bars(bars: pl.DataFrame, key: str, sessions: pl.Series) -> pl.DataFrame:
    """``bars`` (key, date, prices, optional prev_close/band_pct) with ``_s``, the session number of
    ``date``, sorted by (key, ``_s``). A bar dated off the calendar or repeated raises :class:`DataError`."""
    require(bars, (key, "date", *_PRICES), "bars")
    extra = [c for c in ("prev_close", "band_pct") if c in bars.columns]
    px = bars.select(key, "date", *(pl.col(c).cast(pl.Float64) for c in (*_PRICES, *extra)))
    pos = sessions.search_sorted(px.get_column("date"), side="left").cast(pl.Int64)
    on_calendar = sessions.gather(pos.clip(upper_bound=sessions.len() - 1)) == px.get_column("date")
    bad = ~on_calendar.fill_null(False)
    if bad.any():
        i = int(bad.arg_true()[0])
        raise DataError(
            f"bar of {px[key][i]} dated {px['date'][i]} is not a session of the calendar",
            remedy="pass a calendar that has every bar date (nse_calendar() does for NSE data)",
            row=i + 1,
            field="date",
        )
    px = px.with_columns(pos.alias(_S))
    dupes = px.select(pl.struct(key, _S).is_duplicated()).to_series()
    if dupes.any():
        i = int(dupes.arg_true()[0])
        raise DataError(
            f"more than one bar for {px[key][i]} on {px['date'][i]}",
            remedy="pass one exchange and series per instrument (e.g. NSE EQ)",
            row=i + 1,
            field="date",
        )
    return px.sort(key, _S)


def entry_positions(
    signals: pl.DataFrame, calendar: TradingCalendar, sessions: pl.Series, lag: int
) -> pl.Series:
    """Session number of each signal's entry session ``s0 + lag`` (``s0`` by ``NEXT_OPEN``)."""
    require(signals, ("knowledge_time",), "signals")
    kt = signals.get_column("knowledge_time")
    if not (isinstance(kt.dtype, pl.Datetime) and kt.dtype.time_zone is not None):
        raise SchemaDriftError(
            f"signals knowledge_time is {kt.dtype}, not a timezone-aware timestamp",
            remedy="store it as UTC (earnest.core.schemas.UTC_TS); naive times are ambiguous",
            field="knowledge_time",
        )
    first = first_sessions(kt.dt.convert_time_zone("UTC"), calendar=calendar).get_column("first_session")
    return sessions.search_sorted(first, side="left").cast(pl.Int64) + lag


def _session_date(sessions: pl.Series, col: str) -> pl.Expr:
    """The date of session number ``col`` (null beyond the calendar)."""
    n = sessions.len()
    inside = pl.col(col).is_between(0, n - 1)
    return pl.when(inside).then(pl.lit(sessions).gather(pl.col(col).clip(0, n - 1)))


def _circuit_flags(px: pl.DataFrame, tick: float) -> pl.DataFrame:
    """Per bar: ``_up``/``_lo`` (touched the upper/lower band) and ``_up_lim`` (upper limit less tick)."""
    if "band_pct" not in px.columns or "prev_close" not in px.columns:
        none = pl.lit(None, dtype=pl.Boolean)
        return px.with_columns(
            none.alias("_up"), none.alias("_lo"), pl.lit(None, pl.Float64).alias("_up_lim")
        )
    band = pl.col("band_pct") / 100.0
    up_lim = pl.when(band.is_not_null()).then(pl.col("prev_close") * (1 + band) - tick)
    lo_lim = pl.when(band.is_not_null()).then(pl.col("prev_close") * (1 - band) + tick)
    fixed = band.is_not_null()
    return px.with_columns(
        pl.when(fixed).then(pl.col("high") >= up_lim).otherwise(pl.lit(False)).alias("_up"),
        pl.when(fixed).then(pl.col("low") <= lo_lim).otherwise(pl.lit(False)).alias("_lo"),
        up_lim.alias("_up_lim"),
    )


def window_count(sig: pl.DataFrame, px: pl.DataFrame, key: str, flag: str, lo: str, hi: str) -> pl.Series:
    """For each ``sig`` row: how many bars of its instrument with session number in [``lo``, ``hi``]
    have ``flag`` true (cumulative counts and two as-of lookups, no per-row loop)."""
    cum = px.select(key, _S, pl.col(flag).cast(pl.Int64).fill_null(0).cum_sum().over(key).alias("_c")).sort(
        _S
    )

    def upto(col: str, shift: int) -> pl.Series:
        q = sig.select(_ROW, key, (pl.col(col) + shift).alias("_q")).sort("_q")
        got = q.join_asof(cum, left_on="_q", right_on=_S, by=key, strategy="backward", check_sortedness=False)
        return got.sort(_ROW).get_column("_c").fill_null(0)

    return upto(hi, 0) - upto(lo, -1)


def require_one_index(index: pl.DataFrame) -> None:
    """Refuse index bars without ``date``/``close`` or holding several indices (``index_name``)."""
    require(index, ("date", "close"), "index bars")
    if "index_name" in index.columns and index.get_column("index_name").n_unique() > 1:
        names = sorted(index.get_column("index_name").drop_nulls().unique().to_list())
        raise ConfigError(
            f"index frame holds several indices {names[:5]}",
            remedy="filter it to one, e.g. index.filter(pl.col('index_name') == 'NIFTY 50')",
            field="index_name",
        )


def _index_prices(index: pl.DataFrame, sessions: pl.Series) -> pl.DataFrame:
    """``_s``, ``_iopen``, ``_iclose`` of one index (``index_name`` must hold a single name)."""
    require_one_index(index)
    opn = pl.col("open").cast(pl.Float64) if "open" in index.columns else pl.lit(None, pl.Float64)
    frame = index.select("date", opn.alias("_iopen"), pl.col("close").cast(pl.Float64).alias("_iclose"))
    pos = sessions.search_sorted(frame.get_column("date"), side="left").cast(pl.Int64)
    return frame.with_columns(pos.alias(_S)).unique(_S, keep="last").drop("date")


def _lookup(
    sig: pl.DataFrame, right: pl.DataFrame, on: str, keys: list[str], cols: dict[str, str]
) -> pl.DataFrame:
    """Left-join ``right``'s ``cols`` (renamed) onto ``sig`` where ``right._s == sig[on]``."""
    sel = right.select(*keys, pl.col(_S).alias(on), *(pl.col(a).alias(b) for a, b in cols.items()))
    return sig.join(sel, on=[*keys, on], how="left", maintain_order="left")


def forward_returns(
    bars: pl.DataFrame,
    signals: pl.DataFrame,
    *,
    horizon: int,
    lag: int,
    fill: Fill | str = Fill.OPEN,
    index: pl.DataFrame | None = None,
    calendar: TradingCalendar | None = None,
    tick: float = DEFAULT_TICK,
) -> pl.DataFrame:
    """``signals`` with the forward-return labels of the module docstring appended (same rows, order).

    ``bars`` are daily bars (``instrument_id`` or ``symbol``, ``date``, open/high/low/close, and
    ``prev_close`` + ``band_pct`` for the circuit flags); ``signals`` have the same key column and a
    timezone-aware ``knowledge_time`` (events from :func:`earnest.events.build_events` qualify, keyed
    by ``symbol``). ``index`` (schema ``INDEX_BARS``, one index) adds ``abn_ret_*``. ``calendar``
    defaults to :func:`~earnest.core.calendar.nse_calendar`.
    """
    how = check_label_params(horizon=horizon, lag=lag, fill=fill, tick=tick)
    sfx = label_suffix(horizon=horizon, lag=lag, fill=how)
    cal = calendar or nse_calendar()
    sessions = session_series(cal)
    key = signal_key(signals)
    px = _circuit_flags(positioned_bars(bars, key, sessions), tick)
    entry = entry_positions(signals, cal, sessions, lag)
    exit_off = horizon - 1 if how is Fill.OPEN else horizon
    hold = 0 if how is Fill.OPEN else 1
    sig = pl.DataFrame({_ROW: pl.int_range(signals.height, eager=True), key: signals.get_column(key)})
    sig = sig.with_columns(entry.alias("_e"), (entry + exit_off).alias("_x"), (entry + hold).alias("_h"))
    at_entry = "open" if how is Fill.OPEN else "close"
    sig = _lookup(sig, px, "_e", [key], {at_entry: "_pin", "_up_lim": "_lim_e"})
    sig = _lookup(sig, px, "_x", [key], {"close": "_pout"})
    up = window_count(sig, px, key, "_up", "_h", "_x")
    lo = window_count(sig, px, key, "_lo", "_h", "_x")
    flags_known = pl.lit("band_pct" in px.columns and "prev_close" in px.columns)
    have = pl.col("_pin").is_not_null() & pl.col("_pout").is_not_null()
    sig = sig.with_columns(up.alias("_nup"), lo.alias("_nlo")).with_columns(
        _session_date(sessions, "_e").alias(f"entry_date_{sfx}"),
        _session_date(sessions, "_x").alias(f"exit_date_{sfx}"),
        (pl.col("_pout") / pl.col("_pin") - 1.0).alias(f"fwd_ret_{sfx}"),
        pl.when(have & flags_known).then(pl.col("_nup") > 0).alias(f"hit_upper_circuit_{sfx}"),
        pl.when(have & flags_known).then(pl.col("_nlo") > 0).alias(f"hit_lower_circuit_{sfx}"),
        pl.when(pl.col("_pin").is_not_null() & flags_known)
        .then((pl.col("_pin") >= pl.col("_lim_e")).fill_null(False))
        .alias(f"entry_blocked_{sfx}"),
    )
    labels = [f"entry_date_{sfx}", f"exit_date_{sfx}", f"fwd_ret_{sfx}"]
    if index is not None:
        ix = _index_prices(index, sessions)
        ix_in = "_iopen" if how is Fill.OPEN else "_iclose"
        sig = _lookup(sig, ix, "_e", [], {ix_in: "_iin"})
        sig = _lookup(sig, ix, "_x", [], {"_iclose": "_iout"})
        abn = pl.col(f"fwd_ret_{sfx}") - (pl.col("_iout") / pl.col("_iin") - 1.0)
        sig = sig.with_columns(abn.alias(f"abn_ret_{sfx}"))
        labels.append(f"abn_ret_{sfx}")
    labels += [f"hit_upper_circuit_{sfx}", f"hit_lower_circuit_{sfx}", f"entry_blocked_{sfx}"]
    sig = sig.with_columns(
        pl.when(have).then(eod_known(pl.col(f"exit_date_{sfx}"))).alias(f"label_known_at_{sfx}")
    )
    labels.append(f"label_known_at_{sfx}")
    out = sig.sort(_ROW).select(labels)
    return pl.concat([signals, out], how="horizontal")


def daily_forward_returns(
    bars: pl.DataFrame,
    *,
    horizon: int,
    lag: int,
    fill: Fill | str = Fill.OPEN,
    index: pl.DataFrame | None = None,
    calendar: TradingCalendar | None = None,
    tick: float = DEFAULT_TICK,
) -> pl.DataFrame:
    """Labels for every bar: the signal of each (instrument, date) is known at that date's end of day.

    Returns ``instrument_id``, ``date``, ``known_at`` (the signal's time, 16:00 IST of ``date``) and
    the label columns of :func:`forward_returns`, one row per input bar in input order.
    """
    require(bars, ("instrument_id", "date"), "bars")
    signals = bars.select("instrument_id", "date", eod_known(pl.col("date")).alias("knowledge_time"))
    out = forward_returns(
        bars, signals, horizon=horizon, lag=lag, fill=fill, index=index, calendar=calendar, tick=tick
    )
    return out.rename({"knowledge_time": "known_at"})


def attach_bands(bars: pl.DataFrame, bands: pl.DataFrame) -> pl.DataFrame:
    """``bars`` with ``band_pct``: the band of the bar's symbol (and series, when both frames have it)
    from the latest ``price_bands`` row with ``effective_date <= date``; null for "No Band" and for
    dates before the first band file. Rows keep their order."""
    require(bars, ("symbol", "date"), "bars")
    require(bands, ("symbol", "effective_date", "band_pct"), "price bands")
    by = ["symbol", "series"] if "series" in bars.columns and "series" in bands.columns else ["symbol"]
    table = (
        bands.filter(pl.col("effective_date").is_not_null())
        .select(*by, pl.col("effective_date").alias("_bd"), pl.col("band_pct").cast(pl.Float64))
        .unique([*by, "_bd"], keep="last", maintain_order=True)
        .sort("_bd")
    )
    base = bars.drop("band_pct", strict=False).with_row_index("_pos")
    joined = base.sort("date").join_asof(
        table, left_on="date", right_on="_bd", by=by, strategy="backward", check_sortedness=False
    )
    return joined.sort("_pos").drop("_pos", "_bd")


__all__ = [
    "DEFAULT_TICK",
    "attach_bands",
    "daily_forward_returns",
    "forward_returns",
    "label_suffix",
]
