"""Infer splits, bonuses and consolidations that no corporate-action file told us about.

A split or bonus shows in unadjusted bars as an overnight price ratio that matches a plausible
share ratio, lies outside what the price band allows, holds for the whole session and persists
into the next one. :func:`infer_actions` looks for exactly that and returns candidate
``corporate_actions`` rows with ``source='inferred'`` and ``status='inferred'``: they adjust prices
(unless the caller excludes inferred actions) but stay visible for a person to confirm or reject
(``store.set_action_status``).

Ratios are written ``old:new`` shares, the way the adjustment factor reads: a 2:1 split or a 1:1
bonus turns 1 share into 2, ``ratio_old=1``, ``ratio_new=2``, ``price_factor = ratio_old /
ratio_new = 0.5`` (the factor that multiplies prices *before* the ex-date).

Known limits, by construction: a factor within the band of a normal move (a 1:4 bonus, factor
0.8, on a stock without a band) is inferred only when the file's own ``prev_close`` confirms it;
a real crash whose size happens to match a plausible ratio and that persists is indistinguishable
from a bonus by prices alone, which is why inferred actions await review; a demerger or a capital
reduction has no share ratio and is left to the ``unexplained_jump`` check (for example RELIANCE
2006-01-18 in the Kaggle NIFTY-50 files). Action types written: ``split_bonus`` (prices alone cannot
tell a split from a bonus) and ``consolidation``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import polars as pl

from earnest.core import schemas
from earnest.core.errors import ConfigError

_KEY = ["exchange", "instrument_id", "series"]
PREV_CLOSE_TOLERANCE = 0.01
"""How close (relative) the file's ``prev_close`` must be to ``close(t-1) * factor`` to count as
the exchange's own confirmation (NSE writes the adjusted previous close on an ex-date)."""

DEFAULT_BAND_PCT = 25.0
"""The smallest move taken as impossible without a corporate action when no band is known."""

EXTREME_MOVE = 0.8
"""A session whose open and close are both beyond this (a fall below 1/1.8 = 0.556 of the previous
close, or a rise above 1.8 times it) cannot be an ordinary move on NSE, whose widest band is 20%."""

WIDE_RESIDUAL = 0.10
"""On such a session, how far (relative) the ratio may be from the factor: the day's own move."""

UNAMBIGUOUS = 2.0
"""... provided every other plausible factor is at least this many times farther (in log terms)."""


@dataclass(frozen=True, slots=True)
class Ratio:
    """A plausible share ratio: ``old`` shares become ``new`` shares; what usually produces it."""

    old: int
    new: int
    usual_cause: str

    @property
    def price_factor(self) -> float:
        return self.old / self.new

    @property
    def label(self) -> str:
        return f"{self.old}:{self.new}"


PLAUSIBLE_RATIOS: tuple[Ratio, ...] = (
    Ratio(1, 20, "10:1 split together with a 1:1 bonus (TITAN 2011)"),
    Ratio(1, 15, "10:1 split together with a 1:2 bonus (ITC 2005)"),
    Ratio(1, 10, "10:1 split (face value 10 -> 1) or 9:1 bonus"),
    Ratio(1, 5, "5:1 split (face value 10 -> 2, 5 -> 1) or 4:1 bonus"),
    Ratio(1, 4, "3:1 bonus, or a 2:1 split together with a 1:1 bonus"),
    Ratio(1, 3, "3:1 split or 2:1 bonus"),
    Ratio(2, 5, "face value 5 -> 2 split or 3:2 bonus"),
    Ratio(1, 2, "2:1 split or 1:1 bonus"),
    Ratio(3, 5, "2:3 bonus"),
    Ratio(2, 3, "1:2 bonus"),
    Ratio(3, 4, "1:3 bonus"),
    Ratio(4, 5, "1:4 bonus"),
    Ratio(2, 1, "1:2 consolidation (reverse split)"),
    Ratio(5, 1, "1:5 consolidation (reverse split)"),
    Ratio(10, 1, "1:10 consolidation (reverse split)"),
)
"""The ratios :func:`infer_actions` recognises. Neighbours are at least 6% apart in log terms, so a
tolerance up to 3% never matches two of them (the nearest wins anyway)."""


def _ratio_table() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ratio_old": [float(r.old) for r in PLAUSIBLE_RATIOS],
            "ratio_new": [float(r.new) for r in PLAUSIBLE_RATIOS],
            "price_factor": [r.price_factor for r in PLAUSIBLE_RATIOS],
        }
    )


def with_band_pct(
    frame: pl.DataFrame, bands: pl.DataFrame | None, *, default_pct: float | None
) -> pl.DataFrame:
    """``frame`` (with symbol, series, date) plus ``band_pct``: the band in force on each date.

    The band is the latest ``price_bands`` row of the same symbol and series with
    ``effective_date <= date``; ``default_pct`` (may be None) where none is known or the scrip has
    "No Band".
    Row order is preserved.
    """
    if bands is None or bands.is_empty():
        return frame.with_columns(band_pct=pl.lit(default_pct, pl.Float64))
    right = (
        bands.select(
            "symbol", "series", pl.col("effective_date").alias("_eff"), pl.col("band_pct").alias("_b")
        )
        .drop_nulls(["symbol", "series", "_eff"])
        .sort("_eff")
    )
    left = frame.with_row_index("_order").sort("date")
    joined = left.join_asof(
        right, left_on="date", right_on="_eff", by=["symbol", "series"], check_sortedness=False
    )
    return (
        joined.sort("_order")
        .with_columns(band_pct=pl.coalesce(pl.col("_b").cast(pl.Float64), pl.lit(default_pct, pl.Float64)))
        .drop("_order", "_eff", "_b")
    )


def action_id(instrument_id: str, ex_date: object, label: str) -> str:
    """Stable id of an inferred action: the same evidence always gives the same id."""
    text = f"inferred|{instrument_id}|{ex_date}|{label}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _overnight(bars: pl.DataFrame) -> pl.DataFrame:
    """Consecutive bars of one instrument and series, with the previous and next close."""
    cols = [*_KEY, "symbol", "date", "open", "high", "low", "close", "prev_close", "source_file"]
    frame = bars.select([c for c in cols if c in bars.columns])
    for col in cols:
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, schemas.BARS[col]).alias(col))
    # sorted by date only: each series is then in date order for the shifts (no string-key sort)
    return (
        frame.sort("date")
        .with_columns(
            c0=pl.col("close").shift(1).over(_KEY),
            c_1=pl.col("close").shift(2).over(_KEY),
            d0=pl.col("date").shift(1).over(_KEY),
            c2=pl.col("close").shift(-1).over(_KEY),
        )
        .filter(pl.col("c0") > 0, pl.col("close") > 0)
        .with_columns(
            r_open=pl.coalesce("open", "close") / pl.col("c0"),
            r_close=pl.col("close") / pl.col("c0"),
        )
    )


def _candidates(
    moves: pl.DataFrame, bands: pl.DataFrame | None, tolerance: float, default_band_pct: float
) -> pl.DataFrame:
    """The nearest plausible factor of each bar whose prices or ``prev_close`` match one.

    ``match`` says how: ``prev_close`` when the file's previous close is ``close(t-1) * factor``
    (within :data:`PREV_CLOSE_TOLERANCE`) and the prices are within a band move of the new level
    (the exchange itself states the ratio; this outranks the rest); ``tolerance`` when the open or
    close ratio is within ``tolerance`` of the factor; ``wide`` when both the open and the close
    moved beyond :data:`EXTREME_MOVE` (no session can do that), the factor is within
    :data:`WIDE_RESIDUAL` (and the band) and every other factor is at least
    :data:`UNAMBIGUOUS` times farther away (a split on a day the stock also moved 5%).
    """
    min_log = min(abs(math.log(r.price_factor)) for r in PLAUSIBLE_RATIOS) - math.log1p(tolerance) - 1e-9
    big = pl.max_horizontal(pl.col("r_open").log().abs(), pl.col("r_close").log().abs()) >= min_log
    pc_moved = (pl.col("prev_close") / pl.col("c0") - 1).abs() > PREV_CLOSE_TOLERANCE
    rows = with_band_pct(moves.filter(big | pc_moved.fill_null(False)), bands, default_pct=default_band_pct)
    f = pl.col("price_factor")
    err_pc = (pl.col("prev_close") / (pl.col("c0") * f) - 1).abs()
    dist = pl.min_horizontal((pl.col("r_open") / f).log().abs(), (pl.col("r_close") / f).log().abs())
    extreme = pl.min_horizontal(pl.col("r_open").log().abs(), pl.col("r_close").log().abs()) >= math.log1p(
        EXTREME_MOVE
    )
    wide_ok = pl.min_horizontal(pl.lit(WIDE_RESIDUAL), pl.col("band_pct") / 100.0)
    cands = (
        rows.with_row_index("_row")
        .join(_ratio_table(), how="cross")
        .with_columns(
            err_open=(pl.col("r_open") / f - 1).abs(),
            err_close=(pl.col("r_close") / f - 1).abs(),
            pc_agrees=(err_pc <= PREV_CLOSE_TOLERANCE).fill_null(False),
            _dist=dist,
        )
        .with_columns(
            err=pl.min_horizontal("err_open", "err_close"),
            ratio_used=pl.when(pl.col("err_open") <= pl.col("err_close"))
            .then(pl.lit("open"))
            .otherwise(pl.lit("close")),
            _second=pl.col("_dist").bottom_k(2).max().over("_row"),
        )
        .with_columns(
            match=pl.when(pl.col("pc_agrees") & (pl.col("err") <= pl.col("band_pct") / 100.0))
            .then(pl.lit("prev_close"))
            .when(pl.col("err") <= tolerance)
            .then(pl.lit("tolerance"))
            .when(extreme & (pl.col("err") <= wide_ok) & (pl.col("_second") >= UNAMBIGUOUS * pl.col("_dist")))
            .then(pl.lit("wide"))
        )
        .filter(pl.col("match").is_not_null())
    )
    return (
        cands.sort([pl.col("match") != "prev_close", "err"])
        .unique(subset="_row", keep="first")
        .drop("err_open", "err_close", "_dist", "_second", "_row")
    )


def _evidence(cands: pl.DataFrame, tolerance: float) -> pl.DataFrame:
    """Keep candidates whose move is impossible without an action (or that NSE's own previous
    close confirms), whose new level persists into the next session and whose old level was
    established (the close before the previous one is nearer the old level than the new: the
    way back from a one-day bad print is not a consolidation)."""
    lim = pl.col("band_pct") / 100.0
    f = pl.col("price_factor")

    def outside(r: pl.Expr) -> pl.Expr:
        # beyond the band by more than the tolerance: a close exactly at the circuit limit is legal
        return (r < (1 - lim) / (1 + tolerance)) | (r > (1 + lim) * (1 + tolerance))

    next_new = (pl.col("c2") / (pl.col("c0") * f)).log().abs()
    next_old = (pl.col("c2") / pl.col("c0")).log().abs()
    two_day = 2 * (1 + lim).log() + math.log1p(tolerance)
    before_old = (pl.col("c_1") / pl.col("c0")).log().abs()
    before_new = (pl.col("c_1") / (pl.col("c0") * f)).log().abs()
    pc_unadjusted = (pl.col("prev_close") / pl.col("c0") - 1).abs() <= PREV_CLOSE_TOLERANCE
    return cands.with_columns(
        pc_unadjusted=pc_unadjusted.fill_null(False),
        gap=outside(pl.col("r_open")) & outside(pl.col("r_close")),
        persists=pl.col("c2").is_null() | ((next_new < next_old) & (next_new <= two_day)),
        established=pl.col("c_1").is_null() | (before_old < before_new),
    ).filter((pl.col("gap") | pl.col("pc_agrees")) & pl.col("persists") & pl.col("established"))


def _uncovered(cands: pl.DataFrame, known: pl.DataFrame) -> pl.DataFrame:
    """Drop candidates that a known, non-rejected price-changing action already explains.

    An action explains the move at ``date`` when its ex-date falls in ``(d0, date]`` (the gap
    between the previous bar and this one). Actions without an instrument id match on symbol.
    Candidates whose id already exists in ``known`` in any status (a rejected inferred action
    above all) are dropped too, so a re-run never resurrects what a person rejected.
    """
    cands = cands.filter(~pl.col("action_id").is_in(known.get_column("action_id").implode()))
    live = known.filter(
        pl.col("status") != "rejected",
        (pl.col("price_factor") - 1).abs() > 1e-9,
    ).select("instrument_id", "symbol", "ex_date")
    if live.is_empty() or cands.is_empty():
        return cands
    keyed = cands.with_row_index("_cand")
    by_id = keyed.join(live.drop("symbol").drop_nulls("instrument_id"), on="instrument_id")
    by_sym = keyed.join(live.filter(pl.col("instrument_id").is_null()).drop("instrument_id"), on="symbol")
    hits = pl.concat(
        [by_id.select("_cand", "d0", "date", "ex_date"), by_sym.select("_cand", "d0", "date", "ex_date")]
    )
    covered = hits.filter(pl.col("ex_date") > pl.col("d0"), pl.col("ex_date") <= pl.col("date"))
    return keyed.join(covered.select("_cand").unique(), on="_cand", how="anti").drop("_cand")


def _purposes(cands: pl.DataFrame) -> list[str]:
    """The human-readable evidence of each candidate, recorded in ``purpose``."""
    out: list[str] = []
    cols = ["price_factor", "ratio_old", "ratio_new", "ratio_used", "r_open", "r_close"]
    cols += ["pc_agrees", "pc_unadjusted", "prev_close", "c2", "match", "err"]
    rows = cands.select(cols).iter_rows()
    for factor, old, new, used, r_open, r_close, agrees, unadj, pc, c2, match, err in rows:
        kind = "consolidation" if factor > 1 else "split/bonus"
        ratio = r_open if used == "open" else r_close
        if agrees:
            evidence = "prev_close agrees"
        elif pc is None:
            evidence = "no prev_close"
        elif unadj:
            evidence = "prev_close unadjusted"
        else:
            evidence = "prev_close disagrees"
        persists = "next close persists" if c2 is not None else "no next session"
        wide = f"wide match {err:.1%} off, no other ratio near; " if match == "wide" else ""
        out.append(
            f"inferred {kind} {int(old)}:{int(new)} from overnight ratio {ratio:.4f} "
            f"({used} over previous close; {wide}{evidence}; {persists})"
        )
    return out


def infer_actions(
    bars: pl.DataFrame,
    known: pl.DataFrame,
    *,
    bands: pl.DataFrame | None = None,
    tolerance: float = 0.03,
    default_band_pct: float = DEFAULT_BAND_PCT,
) -> pl.DataFrame:
    """Splits, bonuses and consolidations visible in ``bars`` that ``known`` does not explain.

    ``bars`` are unadjusted (schema ``BARS``); ``known`` are ``CORPORATE_ACTIONS`` rows (any status;
    may be empty); ``bands`` are ``PRICE_BANDS`` rows. A bar at ``t`` yields an action when:

    1. its open or close over the previous close of the same instrument and series is within
       ``tolerance`` (relative) of a factor in :data:`PLAUSIBLE_RATIOS` (the nearest one wins),
       or the file's ``prev_close`` states the factor, or the session is an extreme move that
       only one factor explains (see :func:`_candidates`; recorded in ``purpose``);
    2. both the open and the close lie outside the band (``default_band_pct`` when none is known),
       or the file's own ``prev_close`` equals ``close(t-1) * factor`` (NSE's adjustment);
    3. the next session's close, when there is one, is nearer the new level than the old one and
       within two band moves of it (a one-day bad print reverts and is not an action), and the
       close before the previous one is nearer the old level (the way back from a bad print is
       not an action either);
    4. no non-rejected action of the instrument with a price factor has its ex-date between the
       previous bar and ``t``, and the inferred id is not already in ``known``.

    One action per instrument and ex-date (NSE and EQ preferred when several exchanges or series
    show it). ``knowledge_time`` is the ex-date's 09:15 IST open: the evidence cannot exist before.
    """
    if not 0 < tolerance <= 0.1:
        raise ConfigError(
            f"split ratio tolerance {tolerance} is outside (0, 0.1]",
            remedy="plausible ratios are 6% to 29% apart; set quality.split_ratio_tolerance to e.g. 0.03",
            field="split_ratio_tolerance",
        )
    known = schemas.conform(known, schemas.CORPORATE_ACTIONS, name="corporate_actions")
    moves = _overnight(bars)
    cands = _evidence(_candidates(moves, bands, tolerance, default_band_pct), tolerance)
    if cands.is_empty():
        return schemas.empty(schemas.CORPORATE_ACTIONS)
    cands = (
        cands.sort(
            [
                "instrument_id",
                "date",
                pl.col("exchange") != "NSE",
                pl.col("series") != "EQ",
                "err",
            ]
        )
        .unique(subset=["instrument_id", "date"], keep="first", maintain_order=True)
        .with_columns(
            label=pl.format("{}:{}", pl.col("ratio_old").cast(pl.Int64), pl.col("ratio_new").cast(pl.Int64))
        )
    )
    ids = [action_id(i, d, lab) for i, d, lab in cands.select("instrument_id", "date", "label").iter_rows()]
    cands = _uncovered(cands.with_columns(action_id=pl.Series(ids, dtype=pl.Utf8)), known)
    if cands.is_empty():
        return schemas.empty(schemas.CORPORATE_ACTIONS)
    ist_open = pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=9, minutes=15)
    out = cands.with_columns(
        ex_date=pl.col("date"),
        action_type=pl.when(pl.col("price_factor") > 1)
        .then(pl.lit("consolidation"))
        .otherwise(pl.lit("split_bonus")),
        amount=pl.lit(None, pl.Float64),
        purpose=pl.Series(_purposes(cands), dtype=pl.Utf8),
        source=pl.lit("inferred"),
        status=pl.lit("inferred"),
        knowledge_time=ist_open.dt.replace_time_zone("Asia/Kolkata").dt.convert_time_zone("UTC"),
    )
    out = out.sort("instrument_id", "ex_date")
    return schemas.conform(out, schemas.CORPORATE_ACTIONS, name="inferred actions")


__all__ = [
    "DEFAULT_BAND_PCT",
    "EXTREME_MOVE",
    "PLAUSIBLE_RATIOS",
    "PREV_CLOSE_TOLERANCE",
    "UNAMBIGUOUS",
    "WIDE_RESIDUAL",
    "Ratio",
    "action_id",
    "infer_actions",
    "with_band_pct",
]
