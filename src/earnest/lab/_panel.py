"""The dense (symbol x session) price and return panel event windows are gathered from.

Internal to :mod:`earnest.lab.windows`. Column ``j`` of every matrix is the session with ordinal
``first + j`` (ordinal = position in the trading calendar); a missing bar is NaN. Windows are
gathered by fancy indexing (:func:`gather`), never by a loop over events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from earnest.core.errors import DataError
from earnest.labels.forward import DEFAULT_TICK, require, require_one_index


@dataclass(frozen=True, eq=False)
class Panel:
    """Prices and returns of every symbol on every session in ``[first, first + T)``.

    ``r_cc`` = close / previous session's close - 1, ``r_oc`` = close / open - 1 (S, T); ``m_cc``,
    ``m_oc`` the index's (T,). ``up_hit`` (1.0 when the bar touched its upper band, NaN without a bar)
    and ``up_lim`` (the upper band less a tick) are None without bands. ``sector_of`` (S,) is the
    sector number of each symbol (-1 unknown); ``sec_*`` are per-sector sums and counts of valid
    returns (G, T).
    """

    symbols: tuple[str, ...]
    first: int
    open: np.ndarray
    close: np.ndarray
    r_cc: np.ndarray
    r_oc: np.ndarray
    m_cc: np.ndarray
    m_oc: np.ndarray
    up_hit: np.ndarray | None = None
    up_lim: np.ndarray | None = None
    sector_of: np.ndarray | None = None
    sec_sum_cc: np.ndarray | None = None
    sec_cnt_cc: np.ndarray | None = None
    sec_sum_oc: np.ndarray | None = None
    sec_cnt_oc: np.ndarray | None = None


def gather(mat: np.ndarray, rows: np.ndarray, cols: np.ndarray, first: int) -> np.ndarray:
    """``mat[rows[i], cols[i, j] - first]`` as float64 (N, L); NaN for ``rows < 0`` or a column
    outside the panel. ``mat`` is (S, T), or (T,) for a series every row shares."""
    width = mat.shape[-1]
    local = cols - first
    ok = (local >= 0) & (local < width)
    if mat.ndim == 2:
        ok &= (rows >= 0)[:, None]
        flat = np.clip(rows, 0, None)[:, None] * width + np.clip(local, 0, width - 1)
    else:
        flat = np.clip(local, 0, width - 1)
    out: np.ndarray = np.take(mat.reshape(-1), flat).astype(np.float64, copy=False)
    out[~ok] = np.nan
    return out


def ordinals(dates: pl.Series, sessions: pl.Series, what: str) -> np.ndarray:
    """Session ordinal of each date (a lookup table over the calendar's days); a null date or a
    date that is not a session raises :class:`DataError` naming the first such row."""
    days = dates.cast(pl.Date).to_physical()
    known = sessions.to_physical().to_numpy().astype(np.int64)
    lut = np.full(int(known[-1] - known[0]) + 1, -1, dtype=np.int64)
    lut[known - known[0]] = np.arange(known.size)
    raw = days.fill_null(-(2**31)).to_numpy().astype(np.int64) - known[0]
    pos = np.where((raw >= 0) & (raw < lut.size), lut[np.clip(raw, 0, lut.size - 1)], -1)
    bad = np.flatnonzero(pos < 0)
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{what} dated {dates[i]} is not a session of the calendar",
            remedy="pass a calendar that has every bar date (nse_calendar() does for NSE data)",
            row=i + 1,
            field="date",
        )
    return pos


def _index_series(index: pl.DataFrame, sessions: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Session ordinals, opens (NaN without an ``open`` column) and closes of one index."""
    require_one_index(index)
    pos = ordinals(index.get_column("date"), sessions, "index bar")
    close = index.get_column("close").cast(pl.Float64).to_numpy()
    opn = (
        index.get_column("open").cast(pl.Float64).to_numpy()
        if "open" in index.columns
        else np.full(index.height, np.nan)
    )
    return pos, opn, close


def _symbol_rows(bars: pl.DataFrame) -> tuple[tuple[str, ...], np.ndarray]:
    """The sorted distinct symbols and each bar's position among them."""
    col = bars.get_column("symbol").cast(pl.Utf8)
    if col.null_count():
        i = int(col.is_null().arg_true()[0])
        raise DataError("a bar has no symbol", remedy="drop or fill it", row=i + 1, field="symbol")
    names = col.unique().sort()
    table = pl.DataFrame({"symbol": names, "_id": np.arange(names.len(), dtype=np.int64)})
    ids = col.to_frame().join(table, on="symbol", how="left", maintain_order="left").get_column("_id")
    return tuple(names.to_list()), ids.to_numpy()


def _no_repeats(bars: pl.DataFrame, flat: np.ndarray, cells: int) -> None:
    """Raise :class:`DataError` when two bars share a (symbol, session) cell."""
    if flat.size == 0 or np.bincount(flat, minlength=cells).max() <= 1:
        return
    order = np.argsort(flat, kind="stable")
    i = int(order[1:][flat[order][1:] == flat[order][:-1]][0])
    raise DataError(
        f"more than one bar for {bars['symbol'][i]} on {bars['date'][i]}",
        remedy="pass one exchange and series per instrument (e.g. NSE EQ)",
        row=i + 1,
        field="date",
    )


def _dense(values: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = np.full(shape, np.nan)
    out[rows, cols] = values
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(num / den - 1.0)


def _previous(mat: np.ndarray) -> np.ndarray:
    """``mat`` shifted one session right along axis -1 (NaN in the first column)."""
    out = np.full_like(mat, np.nan)
    out[..., 1:] = mat[..., :-1]
    return out


def _bands(
    bars: pl.DataFrame, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """``up_hit`` and ``up_lim`` matrices (labels.forward rules: ``high >= prev_close * (1 + band)
    - tick``; a null band is "No Band", which never hits)."""
    if "band_pct" not in bars.columns or "prev_close" not in bars.columns:
        return None, None
    band = bars.get_column("band_pct").cast(pl.Float64).to_numpy()
    prev = bars.get_column("prev_close").cast(pl.Float64).to_numpy()
    high = bars.get_column("high").cast(pl.Float64).to_numpy()
    lim = prev * (1.0 + band / 100.0) - DEFAULT_TICK
    with np.errstate(invalid="ignore"):
        hit = np.where(np.isfinite(lim), high >= lim, False).astype(np.float64)
    return _dense(hit, rows, cols, shape), _dense(lim, rows, cols, shape)


def _sector_sums(
    sector: dict[str, str], symbols: tuple[str, ...], r_cc: np.ndarray, r_oc: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-sector sums and counts of valid returns (rows grouped by sector, one ``reduceat``)."""
    names = sorted({str(v) for v in sector.values()})
    number = {name: i for i, name in enumerate(names)}
    sector_of = np.array([number[str(sector[s])] if s in sector else -1 for s in symbols], dtype=np.int64)
    order = np.argsort(sector_of, kind="stable")
    order = order[sector_of[order] >= 0]
    groups, starts = np.unique(sector_of[order], return_index=True)
    out: dict[str, np.ndarray] = {"sector_of": sector_of}
    for tag, mat in (("cc", r_cc), ("oc", r_oc)):
        total = np.zeros((len(names), mat.shape[1]))
        count = np.zeros((len(names), mat.shape[1]))
        if order.size:
            part = mat[order]
            valid = np.isfinite(part)
            total[groups] = np.add.reduceat(np.where(valid, part, 0.0), starts, axis=0)
            count[groups] = np.add.reduceat(valid.astype(np.float64), starts, axis=0)
        out[f"sec_sum_{tag}"], out[f"sec_cnt_{tag}"] = total, count
    return out


def build_panel(
    bars: pl.DataFrame, index: pl.DataFrame, sessions: pl.Series, *, sector: dict[str, str] | None = None
) -> Panel:
    """The panel of ``bars`` (keyed by ``symbol``) and ``index`` over the calendar ``sessions``."""
    require(bars, ("symbol", "date", "open", "high", "low", "close"), "bars")
    if bars.is_empty():
        raise DataError("no bars to build event windows from", remedy="load bars covering the events")
    s_bar = ordinals(bars.get_column("date"), sessions, "bar")
    s_ix, ix_open, ix_close = _index_series(index, sessions)
    first = int(min(s_bar.min(), s_ix.min(initial=s_bar.min())))
    last = int(max(s_bar.max(), s_ix.max(initial=s_bar.max())))
    symbols, ids = _symbol_rows(bars)
    shape = (len(symbols), last - first + 1)
    cols = s_bar - first
    _no_repeats(bars, ids * shape[1] + cols, shape[0] * shape[1])

    def price(name: str) -> np.ndarray:
        return _dense(bars.get_column(name).cast(pl.Float64).to_numpy(), ids, cols, shape)

    opn, close = price("open"), price("close")
    one = np.zeros(s_ix.size, dtype=np.int64)
    m_open = _dense(ix_open, one, s_ix - first, (1, shape[1]))[0]
    m_close = _dense(ix_close, one, s_ix - first, (1, shape[1]))[0]
    up_hit, up_lim = _bands(bars, ids, cols, shape)
    r_cc, r_oc = _ratio(close, _previous(close)), _ratio(close, opn)
    sec = _sector_sums(sector, symbols, r_cc, r_oc) if sector is not None else {}
    return Panel(
        symbols=symbols,
        first=first,
        open=opn,
        close=close,
        r_cc=r_cc,
        r_oc=r_oc,
        m_cc=_ratio(m_close, _previous(m_close)),
        m_oc=_ratio(m_close, m_open),
        up_hit=up_hit,
        up_lim=up_lim,
        **sec,
    )


def gather_sector(panel: Panel, rows: np.ndarray, cols: np.ndarray, *, open_first: bool) -> np.ndarray:
    """Equal-weight return of the other stocks of each event's sector on the sessions ``cols``
    (N, L); column 0 open-to-close when ``open_first``. NaN without a sector or another stock."""
    assert panel.sector_of is not None
    group = np.where(rows >= 0, panel.sector_of[np.clip(rows, 0, None)], -1)
    out = _sector_cells(panel, rows, group, cols, "cc")
    if open_first:
        out[:, 0] = _sector_cells(panel, rows, group, cols[:, :1], "oc")[:, 0]
    return out


def _sector_cells(
    panel: Panel, rows: np.ndarray, group: np.ndarray, cols: np.ndarray, tag: str
) -> np.ndarray:
    total = gather(getattr(panel, f"sec_sum_{tag}"), group, cols, panel.first)
    count = gather(getattr(panel, f"sec_cnt_{tag}"), group, cols, panel.first)
    own = gather(getattr(panel, f"r_{tag}"), rows, cols, panel.first)
    mine = np.isfinite(own)
    with np.errstate(invalid="ignore", divide="ignore"):
        others = count - mine
        value = (total - np.where(mine, own, 0.0)) / others
    return np.where(others > 0, value, np.nan)


__all__ = ["Panel", "build_panel", "gather", "gather_sector", "ordinals"]
