"""Data errors planted in the simulated price files, for the quality gate to catch.

Real exchange files are occasionally wrong. The simulation plants one error of each kind the gate
must catch, each in its own file: a row whose HIGH is below its LOW (``ohlc_inconsistent``), a
negative OPEN (``non_positive_price``), a duplicated row (``duplicate_key``) and a CLOSE beyond
the scrip's price band (``beyond_price_band``). The market's ``bars`` stay correct; the writers
apply the errors to the rows they write (:func:`apply_errors`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from earnest.simulate.naming import FULL_KIND, LEGACY_KIND, ROW_ORDER, UDIFF_KIND, price_file
from earnest.simulate.universe import stream

if TYPE_CHECKING:
    from earnest.simulate.market import SimConfig

OHLC = "ohlc_inconsistent"
NEGATIVE = "non_positive_price"
DUPLICATE = "duplicate_key"
BEYOND_BAND = "beyond_price_band"

_BAND_OVERSHOOT = 0.05
"""How far beyond the band (as a fraction of the previous close) the planted close lies."""


@dataclass(frozen=True)
class PlantedError:
    """One corrupted row. ``file`` is the CSV's own name (inside the ``.zip`` for bhavcopies) and
    ``line`` its 1-based line (the header is line 1), as the quality gate's quarantine records
    them; ``rule`` is the gate rule that must catch it; ``field`` and ``value`` say what was
    written instead of the true value (``value`` None: the row is written twice, ``line`` is the
    second copy); ``kind`` is the file format (``legacy``, ``udiff`` or ``full``)."""

    file: str
    line: int
    rule: str
    field: str | None
    kind: str
    date: dt.date
    symbol: str
    series: str
    value: float | None
    detail: str


def _choose_dates(cfg: SimConfig, dates: list[dt.date]) -> dict[str, tuple[str, dt.date]]:
    """A distinct session (and file kind) for each planted error, away from the period's start."""
    rng = stream(cfg.seed, "planted")
    legacy = [d for d in dates[5:] if d < cfg.udiff_from]
    udiff = [d for d in dates[5:] if d >= cfg.udiff_from]
    want = {
        OHLC: (LEGACY_KIND, legacy) if legacy else (UDIFF_KIND, udiff),
        NEGATIVE: (UDIFF_KIND, udiff) if udiff else (LEGACY_KIND, legacy),
        DUPLICATE: (FULL_KIND, dates[5:]),
        BEYOND_BAND: (LEGACY_KIND, legacy) if len(legacy) > 1 else (UDIFF_KIND, udiff),
    }
    used: set[dt.date] = set()
    out: dict[str, tuple[str, dt.date]] = {}
    for rule, (kind, pool) in want.items():
        free = [d for d in pool if d not in used]
        if not free:
            continue
        day = free[int(rng.integers(0, len(free)))]
        used.add(day)
        out[rule] = (kind, day)
    return out


def _value(rule: str, row: dict[str, object], up: bool) -> tuple[str | None, float | None, str]:
    low, opn, prev = (float(row[k]) for k in ("low", "open", "prev_close"))  # type: ignore[arg-type]
    if rule == OHLC:
        bad = round(low * 0.97, 2)
        return "high", bad, f"HIGH written as {bad}, below LOW {low}"
    if rule == NEGATIVE:
        return "open", -opn, f"OPEN written as {-opn}"
    if rule == DUPLICATE:
        return None, None, "the row is written twice"
    band = float(row["band_pct"])  # type: ignore[arg-type]
    move = band / 100.0 + _BAND_OVERSHOOT
    bad = round(prev * (1.0 + move if up else 1.0 - move), 2)
    return "close", bad, f"CLOSE written as {bad}, {move:.0%} from PREV_CLOSE {prev} with a {band:g}% band"


def plant_errors(cfg: SimConfig, bars: pl.DataFrame) -> tuple[PlantedError, ...]:
    """Choose the rows to corrupt; see the module docstring."""
    rng = stream(cfg.seed, "planted-rows")
    dates = bars.get_column("date").unique().sort().to_list()
    out = []
    for rule, (kind, day) in _choose_dates(cfg, dates).items():
        rows = bars.filter(pl.col("date") == day).sort(*ROW_ORDER).with_row_index("pos")
        ok = (pl.col("series") == "EQ") & (pl.col("low") < pl.col("high"))
        if rule == BEYOND_BAND:
            ok = ok & pl.col("band_pct").is_not_null()
        cand = rows.filter(ok)
        if cand.is_empty():
            continue
        row = cand.row(int(rng.integers(0, cand.height)), named=True)
        field, value, detail = _value(rule, row, up=bool(rng.random() < 0.5))
        line = int(row["pos"]) + 2 + (1 if rule == DUPLICATE else 0)
        out.append(
            PlantedError(
                file=price_file(kind, day),
                line=line,
                rule=rule,
                field=field,
                kind=kind,
                date=day,
                symbol=str(row["symbol"]),
                series=str(row["series"]),
                value=value,
                detail=detail,
            )
        )
    return tuple(out)


def apply_errors(rows: pl.DataFrame, errors: list[PlantedError]) -> pl.DataFrame:
    """``rows`` (``bars`` columns in file order: by date, then :data:`ROW_ORDER`) with ``errors``
    (all of one file format) applied: a duplicated row follows its original.

    A planted close beyond the band also moves the high or low and the last trade with it, so
    that the row breaks only the band rule.
    """
    out = rows
    for err in errors:
        hit = (
            (pl.col("date") == err.date) & (pl.col("symbol") == err.symbol) & (pl.col("series") == err.series)
        )
        if err.rule == DUPLICATE:
            pos = out.with_row_index("_pos").filter(hit).get_column("_pos").item()
            out = pl.concat([out.slice(0, pos + 1), out.slice(pos, 1), out.slice(pos + 1)])
            continue
        if err.field is None or err.value is None:
            raise ValueError(f"planted error {err.rule} in {err.file} names no field and value to write")
        value = pl.lit(err.value)
        updates = [pl.when(hit).then(value).otherwise(pl.col(err.field)).alias(err.field)]
        if err.rule == BEYOND_BAND:
            updates += [
                pl.when(hit).then(pl.max_horizontal("high", value)).otherwise(pl.col("high")).alias("high"),
                pl.when(hit).then(pl.min_horizontal("low", value)).otherwise(pl.col("low")).alias("low"),
                pl.when(hit).then(value).otherwise(pl.col("last")).alias("last"),
            ]
        out = out.with_columns(updates)
    return out


__all__ = ["BEYOND_BAND", "DUPLICATE", "NEGATIVE", "OHLC", "PlantedError", "apply_errors", "plant_errors"]
