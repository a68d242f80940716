"""Triple-barrier labels (López de Prado, *Advances in Financial Machine Learning*, ch. 3).

For each signal the position is entered exactly as in :mod:`earnest.labels.forward` (entry session
``e = s0 + lag``, at its open or close) and watched on the closes of the sessions it is held through:
``e .. e+h-1`` for an open fill, ``e+1 .. e+h`` for a close fill (``h = horizon``). With ``sigma`` the
instrument's daily volatility *known at the signal* and ``r_j = close_j / entry - 1``:

- the upper barrier is touched at the first held close with ``r_j >= upper * sigma``: label ``+1``;
- the lower barrier at the first held close with ``r_j <= -lower * sigma``: label ``-1``;
- neither by the last held close (the vertical barrier, the same exit as ``fwd_ret``): label ``0``.

If both horizontal barriers are touched on the same close (only possible when ``sigma`` is 0) the label
is the sign of ``r_j``. ``sigma`` is the exponentially weighted standard deviation (``span``
``vol_span``, pandas' ``ewm(span).std()``: adjusted weights, bias-corrected) of the close-to-close
returns of the instrument's bars, taken at its last bar published (16:00 IST of the bar's date) at or
before ``knowledge_time``, and null until ``min_obs`` returns exist. So the barriers use only what was
known at the signal; the path uses only the held closes.

Columns (suffix as :func:`earnest.labels.forward.label_suffix`): ``tb_label_*`` (Int64 +1/-1/0),
``tb_touch_date_*`` (the session whose close touched, or the vertical barrier's session),
``tb_ret_*`` (``r`` at that close), ``tb_vol_*`` (``sigma``) and ``tb_known_at_*`` (16:00 IST of the
touch session, UTC). Labels are null without an entry price or ``sigma``, and when no barrier was
touched on the closes available and the vertical barrier's bar is missing (the window is not over).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from earnest.core.calendar import Fill, TradingCalendar, nse_calendar
from earnest.core.errors import ConfigError
from earnest.labels.forward import (
    check_label_params,
    entry_positions,
    eod_known,
    label_suffix,
    positioned_bars,
    require,
    session_series,
    signal_key,
)

_ROW = "_tb_row"


@dataclass(frozen=True, slots=True)
class Barriers:
    """Barrier widths as multiples of daily volatility (``None`` removes that barrier) and the
    volatility estimate's span and minimum number of returns."""

    upper: float | None = 1.0
    lower: float | None = 1.0
    vol_span: int = 100
    min_obs: int = 20

    def __post_init__(self) -> None:
        for name in ("upper", "lower"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ConfigError(f"{name} barrier must be >= 0 (or None), got {value!r}", field=name)
        if self.vol_span < 1 or self.min_obs < 1:
            raise ConfigError(
                f"vol_span and min_obs must be >= 1, got {self.vol_span} and {self.min_obs}", field="vol_span"
            )


def _vol_at_signals(px: pl.DataFrame, sig: pl.DataFrame, key: str, barriers: Barriers) -> pl.Series:
    """``sigma`` of each signal row: the EWM std of returns at the last bar known by its knowledge_time."""
    ret = pl.col("close") / pl.col("close").shift(1) - 1.0
    vol = (
        px.with_columns(ret.over(key).alias("_r"))
        .with_columns(
            pl.col("_r")
            .ewm_std(span=barriers.vol_span, adjust=True, bias=False, min_samples=barriers.min_obs)
            .over(key)
            .alias("_vol")
        )
        .select(key, eod_known(pl.col("date")).alias("_known"), "_vol")
        .sort("_known")
    )
    left = sig.select(_ROW, key, pl.col("knowledge_time").dt.convert_time_zone("UTC").alias("_kt")).sort(
        "_kt"
    )
    got = left.join_asof(
        vol, left_on="_kt", right_on="_known", by=key, strategy="backward", check_sortedness=False
    )
    return got.sort(_ROW).get_column("_vol")


def _touches(path: pl.DataFrame, barriers: Barriers) -> pl.DataFrame:
    """Per signal row (from its held closes): the first close touching a horizontal barrier (its
    session number ``_pt``, return ``_rt``, which barrier ``_tu``/``_td``) and the return ``_rx`` at
    the vertical barrier ``_x``."""
    r = pl.col("close") / pl.col("_pin") - 1.0
    width = pl.col("_vol")
    up = (r >= barriers.upper * width) if barriers.upper is not None else pl.lit(False)
    dn = (r <= -barriers.lower * width) if barriers.lower is not None else pl.lit(False)
    path = path.sort(_ROW, "_p").with_columns(
        r.alias("_ret"), up.fill_null(False).alias("_u"), dn.fill_null(False).alias("_d")
    )
    hit = pl.col("_u") | pl.col("_d")
    return path.group_by(_ROW).agg(
        pl.col("_p").filter(hit).first().alias("_pt"),
        pl.col("_ret").filter(hit).first().alias("_rt"),
        pl.col("_u").filter(hit).first().alias("_tu"),
        pl.col("_d").filter(hit).first().alias("_td"),
        pl.col("_ret").filter(pl.col("_p") == pl.col("_x")).first().alias("_rx"),
    )


def triple_barrier(
    bars: pl.DataFrame,
    signals: pl.DataFrame,
    *,
    horizon: int,
    lag: int,
    barriers: Barriers | None = None,
    fill: Fill | str = Fill.OPEN,
    calendar: TradingCalendar | None = None,
) -> pl.DataFrame:
    """``signals`` with triple-barrier labels appended (module docstring; same rows and order).

    ``bars`` and ``signals`` as for :func:`earnest.labels.forward.forward_returns`; ``barriers``
    defaults to :class:`Barriers` () (one sigma either side, span 100, 20 returns at least).
    """
    how = check_label_params(horizon=horizon, lag=lag, fill=fill)
    sfx = label_suffix(horizon=horizon, lag=lag, fill=how)
    spec = barriers or Barriers()
    cal = calendar or nse_calendar()
    sessions = session_series(cal)
    key = signal_key(signals)
    require(signals, ("knowledge_time",), "signals")
    px = positioned_bars(bars, key, sessions)
    entry = entry_positions(signals, cal, sessions, lag)
    first, last = (0, horizon - 1) if how is Fill.OPEN else (1, horizon)
    sig = pl.DataFrame({_ROW: pl.int_range(signals.height, eager=True), key: signals.get_column(key)})
    sig = sig.with_columns(
        signals.get_column("knowledge_time"),
        (entry + first).alias("_a"),
        (entry + last).alias("_x"),
        entry.alias("_e"),
    )
    sig = sig.with_columns(_vol_at_signals(px, sig, key, spec).alias("_vol"))
    at_entry = "open" if how is Fill.OPEN else "close"
    prices = px.select(key, pl.col("_s").alias("_e"), pl.col(at_entry).alias("_pin"))
    sig = sig.join(prices, on=[key, "_e"], how="left", maintain_order="left")
    path = (
        sig.filter(pl.col("_pin").is_not_null() & pl.col("_vol").is_not_null())
        .select(_ROW, key, "_pin", "_vol", "_x", pl.int_ranges("_a", pl.col("_x") + 1).alias("_p"))
        .explode("_p")
        .join(px.select(key, pl.col("_s").alias("_p"), "close"), on=[key, "_p"], how="inner")
    )
    got = sig.join(_touches(path, spec), on=_ROW, how="left").sort(_ROW)
    return pl.concat([signals, _finish(got, sessions, sfx)], how="horizontal")


def _finish(got: pl.DataFrame, sessions: pl.Series, sfx: str) -> pl.DataFrame:
    """The output columns from the per-row first touch (or the vertical barrier)."""
    touched = pl.col("_pt").is_not_null()
    vertical = ~touched & pl.col("_rx").is_not_null()
    label = (
        pl.when(touched & pl.col("_tu") & pl.col("_td"))
        .then(pl.col("_rt").sign().cast(pl.Int64))
        .when(touched & pl.col("_tu"))
        .then(pl.lit(1, pl.Int64))
        .when(touched)
        .then(pl.lit(-1, pl.Int64))
        .when(vertical)
        .then(pl.lit(0, pl.Int64))
    )
    pos = pl.when(touched).then(pl.col("_pt")).when(vertical).then(pl.col("_x"))
    n = sessions.len()
    date = pl.when(pos.is_between(0, n - 1)).then(pl.lit(sessions).gather(pos.clip(0, n - 1)))
    return got.select(
        label.alias(f"tb_label_{sfx}"),
        date.alias(f"tb_touch_date_{sfx}"),
        pl.when(touched).then(pl.col("_rt")).when(vertical).then(pl.col("_rx")).alias(f"tb_ret_{sfx}"),
        pl.when(touched | vertical).then(pl.col("_vol")).alias(f"tb_vol_{sfx}"),
    ).with_columns(eod_known(pl.col(f"tb_touch_date_{sfx}")).alias(f"tb_known_at_{sfx}"))


__all__ = ["Barriers", "triple_barrier"]
