"""The generic daily-bars CSV: earnest's documented layout for any market (kind ``generic_csv``).

Required columns ``date, symbol, open, high, low, close, volume``; optional ``isin, series,
prev_close, delivery_qty, last, trades, exchange``. Header names are matched case-insensitively
ignoring spaces, underscores and punctuation, with aliases (:data:`ALIASES`), so the Kaggle
NIFTY-50 files (``Date,Symbol,Series,Prev Close,...,Deliverable Volume,%Deliverble``) read through
this path. Other columns are ignored and listed in ``ParsedFile.meta["ignored_columns"]``;
turnover is never read (the Kaggle files' turnover is 1e5 times too large, and a turnover whose
unit is not documented is worse than none).

Dates may be ISO ``YYYY-MM-DD``, ``DD-MM-YYYY``, ``DD-Mon-YYYY`` or ``DD/MM/YYYY``. ``exchange``
defaults to ``NSE`` and ``series`` to ``EQ``; ``instrument_id`` is left null (the quality gate
resolves it). ``knowledge_time`` is the row date's end-of-day publication time (16:00 IST, see
:func:`earnest.core.calendar.eod_known_utc`), conservative for Indian markets.

The small helpers at the top (file-name and header handling, IST timestamps) are shared by the
other non-bhavcopy readers.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import EOD_PUBLISHED, IST
from earnest.core.errors import SchemaDriftError
from earnest.sources.base import (
    Col,
    ParsedFile,
    RawTable,
    Reader,
    date_parser,
    decode,
    has_most,
    head_fields,
    integer,
    number,
    require_columns,
    split_csv,
    typed_frame,
    upper_text,
)

# ---- helpers shared by the non-bhavcopy readers ------------------------------------------------

STRICT_NULLS = frozenset({"", "-"})
"""Empty and ``-`` mean missing; ``NA`` stays a value (it is a real NSE series)."""

ANY_DATE = date_parser("%Y-%m-%d", "%d-%m-%Y", "%d-%b-%Y", "%d/%m/%Y")
"""The date formats earnest accepts in user files: ISO, DD-MM-YYYY, DD-Mon-YYYY, DD/MM/YYYY."""


def norm_key(header_name: str) -> str:
    """A header name reduced to lower-case letters and digits: ``Prev Close`` -> ``prevclose``."""
    return re.sub(r"[^a-z0-9]", "", header_name.lower())


def read_upper(name: str, data: bytes, *, nulls: frozenset[str] = STRICT_NULLS) -> RawTable:
    """Split a CSV with a header row and upper-case its column names (stripped of spaces)."""
    table = split_csv(decode(data, name), name=name, null_tokens=nulls)
    upper = [h.upper() for h in table.header]
    if upper != table.header and len(set(upper)) == len(upper):
        table = table.renamed(dict(zip(table.header, upper, strict=True)))
    return table


def ist_utc(dates: pl.Expr, at: dt.time) -> pl.Expr:
    """``dates`` (a Date expression) at the IST wall-clock time ``at``, as a UTC timestamp."""
    offset = pl.duration(hours=at.hour, minutes=at.minute)
    local = dates.cast(pl.Datetime("us")) + offset
    return local.dt.replace_time_zone(str(IST)).dt.convert_time_zone("UTC").cast(schemas.UTC_TS)


def ist_instant(day: dt.date, at: dt.time) -> dt.datetime:
    """``day`` at the IST wall-clock time ``at``, as a UTC datetime."""
    return dt.datetime.combine(day, at, IST).astimezone(dt.UTC)


def rows_total(table: RawTable) -> int:
    """Every data row of the file: the typed ones plus the malformed (ragged) ones."""
    return table.height + len(table.ragged)


# ---- the generic CSV ---------------------------------------------------------------------------

REQUIRED = ("date", "symbol", "open", "high", "low", "close", "volume")
OPTIONAL = ("isin", "series", "prev_close", "delivery_qty", "last", "trades", "exchange")

ALIASES: dict[str, str] = {
    **{norm_key(c): c for c in (*REQUIRED, *OPTIONAL)},
    "tradedate": "date",
    "tradingdate": "date",
    "ticker": "symbol",
    "tradingsymbol": "symbol",
    "openprice": "open",
    "highprice": "high",
    "lowprice": "low",
    "closeprice": "close",
    "vol": "volume",
    "totaltradedquantity": "volume",
    "isincode": "isin",
    "isinnumber": "isin",
    "prevclose": "prev_close",
    "previousclose": "prev_close",
    "lastprice": "last",
    "ltp": "last",
    "nooftrades": "trades",
    "numtrades": "trades",
    "totaltrades": "trades",
    "deliveryqty": "delivery_qty",
    "deliveryquantity": "delivery_qty",
    "deliverablevolume": "delivery_qty",
    "deliverableqty": "delivery_qty",
    "deliverablequantity": "delivery_qty",
}
"""Normalised header name (:func:`norm_key`) -> generic column."""

_BHAVCOPY_MARKERS = frozenset({"TIMESTAMP", "TOTTRDQTY", "DATE1", "TTL_TRD_QNTY", "TRADDT", "SC_CODE"})
"""Header names that only exchange bhavcopies carry: the generic reader never claims those files."""

_COLS = (
    Col("date", "date", ANY_DATE, required=True),
    Col("symbol", "symbol", upper_text, required=True),
    Col("open", "open", number, required=True),
    Col("high", "high", number, required=True),
    Col("low", "low", number, required=True),
    Col("close", "close", number, required=True),
    Col("volume", "volume", integer, required=True),
    Col("isin", "isin", upper_text),
    Col("series", "series", upper_text),
    Col("exchange", "exchange", upper_text),
    Col("prev_close", "prev_close", number),
    Col("last", "last", number),
    Col("trades", "trades", integer),
    Col("delivery_qty", "delivery_qty", integer),
)


def canonical_header(header: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """(renames from file header names to generic columns, ignored header names)."""
    renames: dict[str, str] = {}
    ignored: list[str] = []
    for h in header:
        target = ALIASES.get(norm_key(h))
        if target is None or target in renames.values():
            ignored.append(h)
        else:
            renames[h] = target
    return renames, ignored


class GenericCsvReader:
    """Daily bars in earnest's generic CSV layout (see the module docstring and docs/formats.md)."""

    kind = "generic_csv"
    target = "bars"

    def sniff(self, name: str, head: str) -> bool:
        header = head_fields(head.lstrip("\ufeff"), 1)
        if not header or _BHAVCOPY_MARKERS & {h.upper() for h in header[0]}:
            return False
        mapped = {ALIASES.get(norm_key(h)) for h in header[0]}
        return has_most(mapped - {None}, REQUIRED, missing_ok=1) and "symbol" in mapped and "date" in mapped

    def parse(self, name: str, data: bytes, *, sha256: str) -> ParsedFile:
        table = split_csv(decode(data, name), name=name, null_tokens=STRICT_NULLS | {"null", "NULL", "nan"})
        duplicated = _duplicated(table.header)
        if duplicated:
            raise SchemaDriftError(
                f"columns {duplicated} all mean {ALIASES[norm_key(duplicated[0])]!r}",
                remedy="keep one of them (see docs/formats.md for the generic CSV layout)",
                file=name,
                field=duplicated[0],
            )
        renames, ignored = canonical_header(table.header)
        table = table.renamed(renames)
        require_columns(table, REQUIRED, name=name, kind="generic CSV (docs/formats.md)")
        frame, rejects = typed_frame(table, _COLS, name=name, sha256=sha256, target=self.target)
        frame = frame.with_columns(
            pl.col("exchange").fill_null("NSE"),
            pl.col("series").fill_null("EQ"),
            ist_utc(pl.col("date"), EOD_PUBLISHED).alias("knowledge_time"),
            pl.lit(name, dtype=pl.Utf8).alias("source_file"),
        )
        dates = frame.get_column("date").unique()
        return ParsedFile(
            name=name,
            sha256=sha256,
            kind=self.kind,
            target=self.target,
            rows_total=rows_total(table),
            frame=schemas.conform(frame, schemas.BARS, name=name),
            rejects=rejects,
            session_date=dates.item() if dates.len() == 1 else None,
            meta={"ignored_columns": ", ".join(ignored), "columns": str(len(table.header))},
        )


def _duplicated(header: Sequence[str]) -> list[str]:
    """Header names that map to a generic column another header name already maps to."""
    by_target: dict[str, list[str]] = {}
    for h in header:
        target = ALIASES.get(norm_key(h))
        if target is not None:
            by_target.setdefault(target, []).append(h)
    return next((names for names in by_target.values() if len(names) > 1), [])


READERS: list[Reader] = [GenericCsvReader()]

__all__ = [
    "ALIASES",
    "ANY_DATE",
    "OPTIONAL",
    "READERS",
    "REQUIRED",
    "STRICT_NULLS",
    "GenericCsvReader",
    "canonical_header",
    "ist_instant",
    "ist_utc",
    "norm_key",
    "read_upper",
    "rows_total",
]
