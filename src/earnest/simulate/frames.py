"""Turn the simulation's arrays into the frames of a :class:`~earnest.simulate.market.SimMarket`.

Arrays are ``(T, N)`` (sessions by companies, see :mod:`earnest.simulate.paths`); frames carry
dates, symbols and ISINs. The symbol of a row is the one in force on its date (a renamed company
trades under its old ticker before the change).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from earnest.core import schemas
from earnest.core.calendar import eod_known_utc, nse_calendar
from earnest.simulate import events
from earnest.simulate.indices import NIFTY_50, IndexSpec, Market, build_indices
from earnest.simulate.paths import Activity, Intraday, Paths
from earnest.simulate.universe import SECTORS, short_name, stream

if TYPE_CHECKING:
    from earnest.simulate.market import SimConfig

_VALUATION = {
    NIFTY_50: (22.5, 4.2, 1.25),
    "Nifty Bank": (16.0, 2.6, 0.9),
    "Nifty IT": (30.0, 8.0, 2.0),
    "Nifty Pharma": (32.0, 4.5, 0.8),
    "Nifty Auto": (24.0, 4.0, 1.1),
    "Nifty FMCG": (42.0, 10.0, 1.6),
    "Nifty Metal": (9.0, 1.8, 3.5),
}
"""P/E, P/B and dividend yield (%) of each index at the start."""


@dataclass(frozen=True)
class Built:
    """Everything the simulation computed, as arrays and small plan frames."""

    cfg: SimConfig
    sessions: list[dt.date]
    universe: pl.DataFrame
    roles: events.Roles
    list_t: np.ndarray
    delist_t: np.ndarray
    renames: dict[int, int]
    alive: np.ndarray
    band: np.ndarray
    band_t: list[int]
    paths: Paths
    intra: Intraday
    acts: Activity
    market_sigma: np.ndarray
    share: pl.DataFrame
    divs: pl.DataFrame
    results: pl.DataFrame
    is_eq: np.ndarray


@dataclass(frozen=True)
class Frames:
    """The frames of a simulated market (see :class:`~earnest.simulate.market.SimMarket`)."""

    instruments: pl.DataFrame
    bars: pl.DataFrame
    index: pl.DataFrame
    actions: pl.DataFrame
    bands: pl.DataFrame
    symbol_changes: pl.DataFrame
    results: pl.DataFrame


def _old_identity(name: str, taken: set[str]) -> tuple[str, str]:
    """The name and ticker a renamed company had before: ``X Industries Limited``, ``XIND``."""
    word = name.split(maxsplit=1)[0]
    for cut in range(7, 2, -1):
        symbol = f"{word.upper()[:cut]}IND"
        if symbol not in taken:
            return f"{word} Industries Limited", symbol
    raise ValueError(f"no free ticker for the old name of {name}")  # pragma: no cover


@dataclass(frozen=True)
class _Names:
    """Per-company symbols and names, with the renamed companies' earlier ones."""

    symbol: list[str]
    name: list[str]
    old: dict[int, tuple[str, str, int]]  # company -> (old name, old symbol, change session)

    def symbol_at(self, i: int, t: int) -> str:
        old = self.old.get(i)
        return old[1] if old is not None and t < old[2] else self.symbol[i]

    def name_at(self, i: int, t: int) -> str:
        old = self.old.get(i)
        return old[0] if old is not None and t < old[2] else self.name[i]


def _names(b: Built) -> _Names:
    symbols = b.universe.get_column("symbol").to_list()
    names = b.universe.get_column("name").to_list()
    taken = set(symbols)
    old: dict[int, tuple[str, str, int]] = {}
    for i, t in sorted(b.renames.items()):
        old_name, old_symbol = _old_identity(names[i], taken)
        taken.add(old_symbol)
        old[i] = (old_name, old_symbol, t)
    return _Names(symbols, names, old)


def _sessions_frame(sessions: list[dt.date]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "t": np.arange(len(sessions), dtype=np.int64),
            "date": sessions,
            "knowledge_time": [eod_known_utc(d) for d in sessions],
        },
        schema={"t": pl.Int64, "date": pl.Date, "knowledge_time": schemas.UTC_TS},
    )


def _bars(b: Built, names: _Names) -> pl.DataFrame:
    t_idx, i_idx = np.nonzero(b.alive)
    at = (t_idx, i_idx)
    paise = {
        "open": b.intra.open,
        "high": b.intra.high,
        "low": b.intra.low,
        "close": b.paths.close,
        "last": b.intra.last,
        "prev_close": b.paths.base,
        "avg_price": b.intra.avg,
    }
    cols: dict[str, Any] = {"t": t_idx.astype(np.int64), "idx": i_idx.astype(np.int64)}
    cols.update({k: v[at] / 100.0 for k, v in paise.items()})
    cols["volume"] = b.acts.volume[at]
    cols["turnover"] = b.acts.turnover_paise[at] / 100.0
    cols["trades"] = b.acts.trades[at]
    cols["delivery_qty"] = b.acts.delivery[at]
    cols["band_pct"] = b.band[at]
    frame = pl.DataFrame(cols)
    ident = b.universe.select("idx", "isin", "symbol", pl.Series("series", np.where(b.is_eq, "EQ", "BE")))
    frame = frame.join(ident, on="idx", how="left").join(_sessions_frame(b.sessions), on="t", how="left")
    for i, (_, old_symbol, change_t) in names.old.items():
        frame = frame.with_columns(
            pl.when((pl.col("idx") == i) & (pl.col("t") < change_t))
            .then(pl.lit(old_symbol))
            .otherwise(pl.col("symbol"))
            .alias("symbol")
        )
    frame = frame.with_columns(
        pl.lit("NSE").alias("exchange"),
        pl.col("isin").alias("instrument_id"),
        pl.when(pl.col("delivery_qty") >= 0).then(pl.col("delivery_qty")).alias("delivery_qty"),
        pl.col("band_pct").fill_nan(None),
    ).sort("date", "symbol", "series")
    extras = frame.select("avg_price", "band_pct")
    return schemas.conform(frame, schemas.BARS, name="simulated bars").hstack(extras)


def _instruments(b: Built, names: _Names, bars: pl.DataFrame) -> pl.DataFrame:
    big_t = len(b.sessions)
    seen = bars.group_by("isin").agg(
        pl.col("date").min().alias("first_seen"), pl.col("date").max().alias("last_seen")
    )
    fv = b.universe.get_column("face_value").to_numpy().copy()
    for row in b.share.filter(pl.col("action_type") == "split").iter_rows(named=True):
        fv[row["idx"]] = row["fv_to"]
    listing = [
        b.sessions[int(t)] if t > 0 else d
        for t, d in zip(b.list_t, b.universe.get_column("listing_date").to_list(), strict=True)
    ]
    delisting = [b.sessions[int(t)] if t < big_t else None for t in b.delist_t]
    frame = b.universe.select(
        pl.col("isin").alias("instrument_id"),
        "isin",
        pl.lit("NSE").alias("exchange"),
        "symbol",
        "name",
        pl.Series("series", np.where(b.is_eq, "EQ", "BE")),
        pl.Series("listing_date", listing, dtype=pl.Date),
        pl.Series("delisting_date", delisting, dtype=pl.Date),
        pl.Series("face_value", fv),
        pl.Series("status", np.where(b.delist_t < big_t, "delisted", "listed")),
        pl.lit("simulated").alias("source"),
        "short_name",
        "sector_name",
        "fin_instrm_id",
    ).join(seen, on="isin", how="left")
    extras = frame.select("short_name", "sector_name", "fin_instrm_id")
    return schemas.conform(frame, schemas.INSTRUMENTS, name="simulated instruments").hstack(extras)


def _index_specs(b: Built) -> list[IndexSpec]:
    whole = b.alive.all(axis=0) & b.is_eq
    mcap = b.universe.get_column("mcap_cr").to_numpy()
    eligible = np.flatnonzero(whole)
    top = eligible[np.argsort(-mcap[eligible], kind="stable")[:50]]
    specs = [IndexSpec(NIFTY_50, np.sort(top), 17_350.0, *_VALUATION[NIFTY_50])]
    sectors = b.universe.get_column("sector").to_numpy()
    for k, sector in enumerate(SECTORS):
        if sector.index_name is not None:
            members = np.flatnonzero(whole & (sectors == k))
            specs.append(
                IndexSpec(sector.index_name, members, sector.index_base, *_VALUATION[sector.index_name])
            )
    return specs


def _action_plan(b: Built) -> pl.DataFrame:
    """Splits, bonuses and dividends as (company, ex session) rows, only while the company trades."""
    purposes = [
        events.dividend_purpose(a, interim=i) for a, i in b.divs.select("amount", "interim").iter_rows()
    ]
    none = pl.lit(None, pl.Float64)
    divs = b.divs.select(
        "idx", "ex_t", pl.lit("dividend").alias("action_type"), none.alias("ratio_old"),
        none.alias("ratio_new"), pl.lit(1.0).alias("price_factor"), "amount",
        pl.Series("purpose", purposes, dtype=pl.Utf8), pl.lit(True).alias("recorded"),
    )  # fmt: skip
    share = b.share.select(
        "idx", "ex_t", "action_type", "ratio_old", "ratio_new", "price_factor", none.alias("amount"),
        "purpose", "recorded",
    )  # fmt: skip
    plan = pl.concat([share, divs])
    return plan.filter(
        pl.Series(b.alive[plan.get_column("ex_t").to_numpy(), plan.get_column("idx").to_numpy()])
    )


def _actions(b: Built, names: _Names) -> pl.DataFrame:
    """The action plan with dates, the symbol and short name in force when the ``bc`` file names it."""
    cal = nse_calendar()
    plan = _action_plan(b)
    rows = []
    for i, t in plan.select("idx", "ex_t").iter_rows():
        bc_t = max(t - b.cfg.bc_lead, 0)
        ex = b.sessions[t]
        name = short_name(names.name_at(i, bc_t))
        rows.append((names.symbol_at(i, bc_t), ex, events.record_date(ex, cal), b.sessions[bc_t], name))
    dates = {
        "symbol": pl.Utf8,
        "ex_date": pl.Date,
        "record_date": pl.Date,
        "bc_date": pl.Date,
        "security": pl.Utf8,
    }
    extra = pl.DataFrame(rows, schema=dates, orient="row")
    ident = b.universe.select("idx", "isin", "series")
    return (
        pl.concat([plan, extra], how="horizontal")
        .join(ident, on="idx", how="left")
        .select(
            pl.col("isin").alias("instrument_id"),
            "isin",
            "symbol",
            "series",
            "security",
            "ex_date",
            "record_date",
            "bc_date",
            "action_type",
            "ratio_old",
            "ratio_new",
            "price_factor",
            "amount",
            "purpose",
            "recorded",
        )
        .sort("ex_date", "symbol", "action_type")
    )


def _bands(b: Built, names: _Names) -> pl.DataFrame:
    rows = []
    series = np.where(b.is_eq, "EQ", "BE")
    for t in b.band_t:
        for i in np.flatnonzero(b.alive[t]):
            pct = b.band[t, i]
            rows.append(
                (
                    b.sessions[t],
                    names.symbol_at(int(i), t),
                    str(series[i]),
                    names.name_at(int(i), t).upper(),
                    None if np.isnan(pct) else float(pct),
                    "-",
                )
            )
    schema = {
        "effective_date": pl.Date,
        "symbol": pl.Utf8,
        "series": pl.Utf8,
        "name": pl.Utf8,
        "band_pct": pl.Float64,
        "remarks": pl.Utf8,
    }
    return pl.DataFrame(rows, schema=schema, orient="row").sort("effective_date", "symbol", "series")


def _results(b: Built, names: _Names) -> pl.DataFrame:
    sessions = pl.Series(b.sessions, dtype=pl.Date)
    r = b.results
    symbols = [names.symbol_at(i, t) for i, t in r.select("idx", "reaction_t").iter_rows()]
    return r.join(b.universe.select("idx", "isin"), on="idx", how="left").select(
        pl.col("isin").alias("instrument_id"),
        pl.Series("symbol", symbols, dtype=pl.Utf8),
        "period_end",
        "announced_at",
        "timing",
        pl.Series("reaction_date", sessions.gather(r.get_column("reaction_t"))),
        pl.Series("first_tradable_date", sessions.gather(r.get_column("tradable_t"))),
        "surprise_z",
        "jump_ret",
        "drift_ret",
    )


def _symbol_changes(b: Built, names: _Names) -> pl.DataFrame:
    rows = [
        (old_symbol, names.symbol[i], b.sessions[t], names.name[i], "simulated")
        for i, (_, old_symbol, t) in sorted(names.old.items())
    ]
    return pl.DataFrame(rows, schema=dict(schemas.SYMBOL_CHANGES), orient="row")


def assemble(b: Built) -> Frames:
    """Build every frame of the market from the simulation's arrays."""
    names = _names(b)
    bars = _bars(b, names)
    mcap = b.universe.get_column("mcap_cr").to_numpy()
    mkt = Market(b.sessions, b.paths, b.intra, b.acts, b.market_sigma, mcap)
    index = build_indices(stream(b.cfg.seed, "indices"), _index_specs(b), mkt)
    instruments = _instruments(b, names, bars).with_columns(
        pl.col("instrument_id").is_in(_nifty_isins(b)).alias("nifty50")
    )
    return Frames(
        instruments=instruments,
        bars=bars,
        index=index,
        actions=_actions(b, names),
        bands=_bands(b, names),
        symbol_changes=_symbol_changes(b, names),
        results=_results(b, names),
    )


def _nifty_isins(b: Built) -> list[str]:
    isins = b.universe.get_column("isin").to_list()
    return [isins[int(i)] for i in _index_specs(b)[0].members]


__all__ = ["Built", "Frames", "assemble"]
