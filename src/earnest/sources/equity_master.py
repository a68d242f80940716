"""Instrument master files: NSE's equity list, NSE's symbol changes, and a stock metadata CSV.

* ``nse_equity_list`` (``EQUITY_L.csv`` -> ``instruments``): ``SYMBOL,NAME OF COMPANY, SERIES, DATE
  OF LISTING, PAID UP VALUE, MARKET LOT, ISIN NUMBER, FACE VALUE`` (note the leading spaces in the
  header names), listing dates like ``06-OCT-2008``. Today's listings only: every row is
  ``status='listed'`` on ``exchange='NSE'`` with ``instrument_id`` = the ISIN. Paid-up value and
  market lot are not stored.
* ``nse_symbol_changes`` (``symbolchange.csv`` -> ``symbol_changes``): no header row; company
  name, old symbol, new symbol, change date (``DD-MON-YYYY``); names may start with a space. A
  header row ``SM_NAME,SM_KEY_SYMBOL,SM_NEW_SYMBOL,SM_APPLICABLE_FROM`` is accepted too. Without a
  header the first data line is line 1.
* ``metadata_csv`` (the Kaggle NIFTY-50 ``stock_metadata.csv`` -> ``instruments``): ``Company Name,
  Industry,Symbol,Series,ISIN Code,Alpha,Beta``; ``status='unknown'`` (the file says nothing about
  listing), exchange ``NSE``. Industry, alpha and beta are not stored.

An ISIN must look like one (``IN`` + 9 letters or digits + a check digit, 12 characters in all);
other rows are quarantined (rule ``invalid_isin``) because the ISIN becomes the instrument id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from earnest.core import schemas
from earnest.sources.base import (
    Col,
    ParsedFile,
    RawTable,
    Reader,
    base_name,
    date_parser,
    decode,
    has_most,
    head_fields,
    header_upper,
    number,
    reject_rows,
    require_columns,
    split_csv,
    typed_frame,
    upper_text,
)
from earnest.sources.csv_import import STRICT_NULLS, read_upper, rows_total

ISIN_PATTERN = r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$"
_DD_MON_YYYY = re.compile(r"^\d{1,2}-[A-Za-z]{3}-\d{4}$")
_SYMBOL = re.compile(r"^[A-Z0-9&\-_.]{1,20}$")
_DATE = date_parser("%d-%b-%Y", "%Y-%m-%d", "%d-%m-%Y")


def stripped(e: pl.Expr) -> pl.Expr:
    """Text with inner runs of spaces collapsed (company names)."""
    return e.str.replace_all(r"\s+", " ")


@dataclass(frozen=True)
class _MasterSpec:
    """One instruments layout: its columns, required columns and the constants it stores."""

    kind: str
    columns: tuple[str, ...]
    required: tuple[str, ...]
    cols: tuple[Col, ...]
    status: str
    source: str


_EQUITY_L = _MasterSpec(
    kind="nse_equity_list",
    columns=(
        "SYMBOL",
        "NAME OF COMPANY",
        "SERIES",
        "DATE OF LISTING",
        "PAID UP VALUE",
        "MARKET LOT",
        "ISIN NUMBER",
        "FACE VALUE",
    ),
    required=("SYMBOL", "ISIN NUMBER"),
    cols=(
        Col("SYMBOL", "symbol", upper_text, required=True),
        Col("NAME OF COMPANY", "name", stripped),
        Col("SERIES", "series", upper_text),
        Col("DATE OF LISTING", "listing_date", _DATE),
        Col("ISIN NUMBER", "isin", upper_text, required=True),
        Col("FACE VALUE", "face_value", number),
    ),
    status="listed",
    source="nse_equity_list",
)

_METADATA = _MasterSpec(
    kind="metadata_csv",
    columns=("COMPANY NAME", "INDUSTRY", "SYMBOL", "SERIES", "ISIN CODE", "ALPHA", "BETA"),
    required=("SYMBOL", "ISIN CODE"),
    cols=(
        Col("SYMBOL", "symbol", upper_text, required=True),
        Col("COMPANY NAME", "name", stripped),
        Col("SERIES", "series", upper_text),
        Col("ISIN CODE", "isin", upper_text, required=True),
    ),
    status="unknown",
    source="metadata_csv",
)


class InstrumentListReader:
    """An instruments master CSV with a header row (NSE ``EQUITY_L.csv`` or a metadata CSV)."""

    target = "instruments"

    def __init__(self, spec: _MasterSpec) -> None:
        self._spec = spec
        self.kind = spec.kind

    def sniff(self, name: str, head: str) -> bool:
        header = header_upper(head)
        spec = self._spec
        return "SYMBOL" in header and has_most(header, spec.columns, missing_ok=2)

    def parse(self, name: str, data: bytes, *, sha256: str) -> ParsedFile:
        spec = self._spec
        table = read_upper(name, data)
        require_columns(table, spec.required, name=name, kind=spec.kind)
        frame, rejects = typed_frame(table, spec.cols, name=name, sha256=sha256, target=self.target)
        frame, bad_isin = _check_isin(frame, name=name, sha256=sha256, target=self.target)
        frame = frame.with_columns(
            pl.col("isin").alias("instrument_id"),
            pl.lit("NSE").alias("exchange"),
            pl.lit(spec.status).alias("status"),
            pl.lit(spec.source).alias("source"),
        )
        return ParsedFile(
            name=name,
            sha256=sha256,
            kind=self.kind,
            target=self.target,
            rows_total=rows_total(table),
            frame=schemas.conform(frame, schemas.INSTRUMENTS, name=name),
            rejects=pl.concat([rejects, bad_isin]),
            meta={"ignored_columns": ", ".join(_ignored(table, spec.cols))},
        )


def _ignored(table: RawTable, cols: Sequence[Col]) -> list[str]:
    used = {c.source for c in cols}
    return [h for h in table.header if h not in used]


def _check_isin(
    frame: pl.DataFrame, *, name: str, sha256: str, target: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Quarantine rows whose ISIN is not 12 characters of the ISIN shape (rule ``invalid_isin``)."""
    bad = ~frame.get_column("isin").str.contains(ISIN_PATTERN).fill_null(False)
    reason = frame.select(
        pl.format(
            "ISIN '{}' of {} is not a valid ISIN (2 letters, 9 letters or digits, 1 check digit)",
            "isin",
            "symbol",
        )
    ).to_series()
    return reject_rows(
        frame, bad, name=name, sha256=sha256, target=target, field="isin", rule="invalid_isin", reason=reason
    )


# ---- symbol changes ----------------------------------------------------------------------------

SYMBOL_CHANGE_COLUMNS = ("SM_NAME", "SM_KEY_SYMBOL", "SM_NEW_SYMBOL", "SM_APPLICABLE_FROM")
"""NSE's header names, when the file has a header row."""
_CHANGE_FIELDS = ("company name", "old symbol", "new symbol", "change date")
"""What the four fields are called in quarantine reasons (the usual file has no header)."""
_CHANGE_COLS = (
    Col("company name", "company_name", stripped),
    Col("old symbol", "old_symbol", upper_text, required=True),
    Col("new symbol", "new_symbol", upper_text, required=True),
    Col("change date", "change_date", _DATE, required=True),
)


def looks_like_symbol_change(fields: Sequence[str]) -> bool:
    """True for a headerless symbolchange.csv line: name, old symbol, new symbol, DD-MON-YYYY."""
    return (
        len(fields) == 4
        and bool(_DD_MON_YYYY.match(fields[3]))
        and all(_SYMBOL.match(f.upper()) for f in fields[1:3])
    )


class SymbolChangeReader:
    """NSE ``symbolchange.csv``: the history of ticker renames."""

    kind = "nse_symbol_changes"
    target = "symbol_changes"

    def sniff(self, name: str, head: str) -> bool:
        first = head_fields(head.lstrip("\ufeff"), 1)
        if not first:
            return False
        if has_most([f.upper() for f in first[0]], SYMBOL_CHANGE_COLUMNS, missing_ok=1):
            return True
        named = "symbolchange" in base_name(name).lower().replace("_", "")
        return looks_like_symbol_change(first[0]) or (named and len(first[0]) in (3, 4, 5))

    def parse(self, name: str, data: bytes, *, sha256: str) -> ParsedFile:
        text_ = decode(data, name)
        first = head_fields(text_.lstrip("\ufeff")[:4096], 1)
        has_header = bool(first) and any(f.upper() in SYMBOL_CHANGE_COLUMNS for f in first[0])
        if has_header:
            table = read_upper(name, data)
            require_columns(table, SYMBOL_CHANGE_COLUMNS[1:], name=name, kind="NSE symbol change")
            table = table.renamed(dict(zip(SYMBOL_CHANGE_COLUMNS, _CHANGE_FIELDS, strict=True)))
        else:
            table = split_csv(
                text_.lstrip("\ufeff"), name=name, header=_CHANGE_FIELDS, null_tokens=STRICT_NULLS
            )
        frame, rejects = typed_frame(table, _CHANGE_COLS, name=name, sha256=sha256, target=self.target)
        frame = frame.with_columns(pl.lit(self.kind).alias("source"))
        return ParsedFile(
            name=name,
            sha256=sha256,
            kind=self.kind,
            target=self.target,
            rows_total=rows_total(table),
            frame=schemas.conform(frame, schemas.SYMBOL_CHANGES, name=name),
            rejects=rejects,
            meta={"header_row": "yes" if has_header else "no"},
        )


READERS: list[Reader] = [
    InstrumentListReader(_EQUITY_L),
    InstrumentListReader(_METADATA),
    SymbolChangeReader(),
]

__all__ = [
    "ISIN_PATTERN",
    "READERS",
    "InstrumentListReader",
    "SymbolChangeReader",
    "looks_like_symbol_change",
]
