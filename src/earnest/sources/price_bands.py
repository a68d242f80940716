"""NSE's security-wise price band file ``sec_list.csv`` (kind ``nse_price_bands``, target ``price_bands``).

Header ``Symbol,Series,Security Name,Band,Remarks``. ``Band`` is the daily circuit limit in percent
(``2``, ``5``, ``10``, ``20``, ``40``) or ``No Band`` (F&O stocks, which have dynamic operating
ranges instead), stored as a null ``band_pct``. ``Remarks`` is quoted; ``"-"`` means none,
anything else (``GSM STAGE - 0``...) is a surveillance marker kept as text.

The file carries no date. The effective date comes from the file name: ``sec_list_DDMMYYYY.csv``
(how NSE names dated copies) or an ISO date anywhere in the name (``sec_list__commit_2025-12-08.csv``).
Without one, every row is quarantined (rule ``no_effective_date``) with a reason telling the user how
to name the file: a band applied to the wrong day would flag or hide circuit hits, so earnest never
guesses. ``knowledge_time`` is the effective date's session open (09:15 IST) as UTC.
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import SESSION_OPEN
from earnest.sources.base import (
    Col,
    ParsedFile,
    Reader,
    base_name,
    has_most,
    header_upper,
    reject_rows,
    require_columns,
    text,
    typed_frame,
    upper_text,
)
from earnest.sources.csv_import import ist_instant, read_upper, rows_total

COLUMNS = ("SYMBOL", "SERIES", "SECURITY NAME", "BAND", "REMARKS")
REQUIRED = ("SYMBOL", "SERIES", "BAND")

_COLS = (
    Col("SYMBOL", "symbol", upper_text, required=True),
    Col("SERIES", "series", upper_text, required=True),
    Col("SECURITY NAME", "name", text),
    Col("BAND", "band", text, required=True),
    Col("REMARKS", "remarks", text),
)

_NSE_DATED = re.compile(r"sec_list_(\d{8})(?!\d)", re.IGNORECASE)
_ISO = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)")

NAMING_HELP = (
    "sec_list.csv carries no date: rename the file to sec_list_DDMMYYYY.csv (the trading day the bands "
    "apply to, e.g. sec_list_08122025.csv) or put an ISO date in its name (sec_list_2025-12-08.csv)"
)


def effective_date(name: str) -> dt.date | None:
    """The trading day a price band file applies to, from its name; None when the name has none."""
    own = base_name(name)
    candidates: list[tuple[str, str]] = []
    m = _NSE_DATED.search(own)
    if m:
        candidates.append((m.group(1), "%d%m%Y"))
    candidates.extend((iso, "%Y-%m-%d") for iso in _ISO.findall(own))
    for value, fmt in candidates:
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def band_pct(band: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(percent, unreadable mask): ``No Band`` (any case or spacing) is a null percent; a value that
    is neither a number nor ``No Band`` is unreadable."""
    no_band = band.str.strip_chars().str.to_lowercase().str.contains(r"^no\s*band$").fill_null(False)
    value = band.str.strip_chars().str.strip_suffix("%").cast(pl.Float64, strict=False)
    return value, value.is_null() & ~no_band


class PriceBandReader:
    """NSE ``sec_list.csv``: one row per security with its price band."""

    kind = "nse_price_bands"
    target = "price_bands"

    def sniff(self, name: str, head: str) -> bool:
        header = header_upper(head)
        if "SYMBOL" not in header:
            return False
        named = base_name(name).lower().startswith("sec_list")
        return has_most(header, COLUMNS, missing_ok=1) or (named and "SERIES" in header)

    def parse(self, name: str, data: bytes, *, sha256: str) -> ParsedFile:
        table = read_upper(name, data)
        require_columns(table, REQUIRED, name=name, kind="NSE price band (sec_list.csv)")
        frame, rejects = typed_frame(table, _COLS, name=name, sha256=sha256, target=self.target)
        kw = {"name": name, "sha256": sha256, "target": self.target}
        value, unreadable = band_pct(frame.get_column("band"))
        frame = frame.with_columns(value.alias("band_pct"))
        frame, bad_band = reject_rows(
            frame,
            unreadable,
            field="Band",
            rule="parse",
            reason=frame.select(
                pl.format("cannot read Band value '{}': expected 2, 5, 10, 20, 40 or No Band", "band")
            ).to_series(),
            **kw,
        )
        day = effective_date(name)
        undated = schemas.empty(schemas.QUARANTINE)
        if day is None:
            frame, undated = reject_rows(
                frame,
                pl.Series([True] * frame.height, dtype=pl.Boolean),
                field="effective_date",
                rule="no_effective_date",
                reason=NAMING_HELP,
                **kw,
            )
        frame = frame.with_columns(
            pl.lit(day, dtype=pl.Date).alias("effective_date"),
            pl.lit(ist_instant(day, SESSION_OPEN) if day else None, dtype=schemas.UTC_TS).alias(
                "knowledge_time"
            ),
            pl.lit(name, dtype=pl.Utf8).alias("source_file"),
        )
        return ParsedFile(
            name=name,
            sha256=sha256,
            kind=self.kind,
            target=self.target,
            rows_total=rows_total(table),
            frame=schemas.conform(frame, schemas.PRICE_BANDS, name=name),
            rejects=pl.concat([rejects, bad_band, undated]),
            session_date=day,
            meta={"effective_date": day.isoformat() if day else ""},
        )


READERS: list[Reader] = [PriceBandReader()]

__all__ = ["READERS", "PriceBandReader", "band_pct", "effective_date"]
