"""Daily index values (target ``index_bars``): NSE's all-index file and single-index histories.

* ``nse_index_close``: NSE's ``ind_close_all_DDMMYYYY.csv``, one row per index for one session:
  ``Index Name,Index Date,Open Index Value,High Index Value,Low Index Value,Closing Index Value,
  Points Change,Change(%),Volume,Turnover (Rs. Cr.),P/E,P/B,Div Yield``. Dates ``DD-MM-YYYY``;
  ``-`` means missing; turnover is in crores of rupees and is stored in rupees (x 1e7). Points
  change, change %, P/E, P/B and dividend yield are not stored (listed in ``meta``). When the file
  name carries the session date, rows dated another day are quarantined (rule ``date_mismatch``).
* ``index_history``: one index over many days, ``Date,Open,High,Low,Close[,Volume][,Adj Close]``,
  possibly with an unnamed leading row-number column (the Yahoo-sourced ``NIFTY 50.csv`` has
  ``,Date,Open,...``). Such a file carries no index name, so the file name must be one:
  ``NIFTY 50.csv``, ``NIFTY_BANK.csv``, ``SENSEX.csv``, ``BANKNIFTY.csv``, or a Yahoo ticker
  (``^NSEI.csv`` -> ``NIFTY 50``). A stock's history (``RELIANCE.csv`` without a symbol column) is
  never claimed: the generic CSV needs a ``symbol`` column for that.

``index_name`` is upper-case with single spaces (``NIFTY 50``); ``knowledge_time`` is
:func:`earnest.core.calendar.eod_known_utc` of the row's date.
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import EOD_PUBLISHED
from earnest.sources.base import (
    Col,
    ParsedFile,
    Reader,
    base_name,
    date_parser,
    decode,
    has_most,
    header_upper,
    number,
    reject_rows,
    require_columns,
    split_csv,
    stem,
    typed_frame,
)
from earnest.sources.csv_import import STRICT_NULLS, ist_utc, norm_key, read_upper, rows_total

# ---- NSE ind_close_all -------------------------------------------------------------------------

NSE_COLUMNS = (
    "INDEX NAME",
    "INDEX DATE",
    "OPEN INDEX VALUE",
    "HIGH INDEX VALUE",
    "LOW INDEX VALUE",
    "CLOSING INDEX VALUE",
    "POINTS CHANGE",
    "CHANGE(%)",
    "VOLUME",
    "TURNOVER (RS. CR.)",
    "P/E",
    "P/B",
    "DIV YIELD",
)
_NSE_REQUIRED = ("INDEX NAME", "INDEX DATE", "CLOSING INDEX VALUE")
_NAME_DATE = re.compile(r"ind_close_all_(\d{8})(?!\d)", re.IGNORECASE)


def crores(e: pl.Expr) -> pl.Expr:
    """An amount in crores of rupees as rupees (1 crore = 10,000,000)."""
    return number(e) * 1e7


def index_name(e: pl.Expr) -> pl.Expr:
    """Upper-case, single-spaced index names: ``Nifty  50 `` -> ``NIFTY 50``."""
    return e.str.strip_chars().str.replace_all(r"\s+", " ").str.to_uppercase()


_NSE_COLS = (
    Col("INDEX NAME", "index_name", index_name, required=True),
    Col("INDEX DATE", "date", date_parser("%d-%m-%Y", "%d-%b-%Y", "%Y-%m-%d"), required=True),
    Col("OPEN INDEX VALUE", "open", number),
    Col("HIGH INDEX VALUE", "high", number),
    Col("LOW INDEX VALUE", "low", number),
    Col("CLOSING INDEX VALUE", "close", number, required=True),
    Col("VOLUME", "volume", number),
    Col("TURNOVER (RS. CR.)", "turnover", crores),
)


def _finish(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    frame = frame.with_columns(
        ist_utc(pl.col("date"), EOD_PUBLISHED).alias("knowledge_time"),
        pl.lit(name, dtype=pl.Utf8).alias("source_file"),
    )
    return schemas.conform(frame, schemas.INDEX_BARS, name=name)


def _one_date(frame: pl.DataFrame) -> dt.date | None:
    """The frame's date when all its rows share one (a one-session file), else None."""
    dates = frame.get_column("date").drop_nulls().unique()
    value = dates.item() if dates.len() == 1 else None
    return value if isinstance(value, dt.date) else None


def _name_date(ddmmyyyy: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(ddmmyyyy, "%d%m%Y").date()
    except ValueError:
        return None


class NseIndexCloseReader:
    """NSE ``ind_close_all_DDMMYYYY.csv``: every NSE index's values for one session."""

    kind = "nse_index_close"
    target = "index_bars"

    def sniff(self, name: str, head: str) -> bool:
        header = header_upper(head)
        return "INDEX NAME" in header and has_most(header, NSE_COLUMNS, missing_ok=3)

    def parse(self, name: str, data: bytes, *, sha256: str) -> ParsedFile:
        table = read_upper(name, data)
        require_columns(table, _NSE_REQUIRED, name=name, kind="NSE index close (ind_close_all)")
        frame, rejects = typed_frame(table, _NSE_COLS, name=name, sha256=sha256, target=self.target)
        m = _NAME_DATE.search(base_name(name))
        day = _name_date(m.group(1)) if m else None
        mismatched = schemas.empty(schemas.QUARANTINE)
        if day is not None:
            mask = frame.get_column("date") != day
            frame, mismatched = reject_rows(
                frame,
                mask,
                name=name,
                sha256=sha256,
                target=self.target,
                field="INDEX DATE",
                rule="date_mismatch",
                reason=frame.select(
                    pl.format("INDEX DATE {} is not the file's session {}", "date", pl.lit(str(day)))
                ).to_series(),
            )
        ignored = [h for h in table.header if h not in {c.source for c in _NSE_COLS}]
        return ParsedFile(
            name=name,
            sha256=sha256,
            kind=self.kind,
            target=self.target,
            rows_total=rows_total(table),
            frame=_finish(frame, name),
            rejects=pl.concat([rejects, mismatched]),
            session_date=day if day is not None else _one_date(frame),
            meta={"ignored_columns": ", ".join(ignored)},
        )


# ---- single-index history ----------------------------------------------------------------------

HISTORY_ALIASES: dict[str, str] = {
    "date": "date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "volume": "volume",
    "sharestraded": "volume",
    "turnovercr": "turnover_cr",
    "turnoverrscr": "turnover_cr",
    "adjclose": "",
}
"""Normalised header name -> column (``""``: known and ignored). NSE's own index history download
(``Date,Open,High,Low,Close,Shares Traded,Turnover (₹ Cr)``) reads through the same path."""

HISTORY_REQUIRED = ("date", "open", "high", "low", "close")
_INDEX_NAME = re.compile(
    r"^(NIFTY|CNX|SENSEX|BANKEX|BANKNIFTY|FINNIFTY|MIDCPNIFTY|INDIA VIX|S&P BSE|BSE[ _-]\S)([ _-]|\d|$)"
)
YAHOO_TICKERS = {"^NSEI": "NIFTY 50", "^BSESN": "SENSEX", "^NSEBANK": "NIFTY BANK", "^CNXIT": "NIFTY IT"}
"""Yahoo Finance tickers of Indian indices and the index each one is."""


def index_from_file_name(name: str) -> str | None:
    """The index a single-index history file is about, from its name; None if the name is not an
    index name (underscores read as spaces: ``NIFTY_BANK.csv`` -> ``NIFTY BANK``)."""
    raw = stem(name).strip().upper()
    if raw in YAHOO_TICKERS:
        return YAHOO_TICKERS[raw]
    cleaned = re.sub(r"\s+", " ", raw.replace("_", " ")).strip()
    return cleaned if _INDEX_NAME.match(cleaned) else None


def _history_keys(header: list[str]) -> list[str | None]:
    """Each header name's column (None when unknown); an unnamed first column (pandas' row
    number) counts as known and ignored."""
    keys: list[str | None] = [HISTORY_ALIASES.get(norm_key(h)) for h in header]
    if header and header[0] == "":
        keys[0] = ""
    return keys


_HISTORY_COLS = (
    Col(
        "date", "date", date_parser("%Y-%m-%d", "%d-%m-%Y", "%d-%b-%Y", "%d %b %Y", "%d/%m/%Y"), required=True
    ),
    Col("open", "open", number),
    Col("high", "high", number),
    Col("low", "low", number),
    Col("close", "close", number, required=True),
    Col("volume", "volume", number),
    Col("turnover_cr", "turnover", crores),
)


class IndexHistoryReader:
    """One index's daily history (``Date,Open,High,Low,Close[,Volume]``), named by its file name."""

    kind = "index_history"
    target = "index_bars"

    def sniff(self, name: str, head: str) -> bool:
        if index_from_file_name(name) is None:
            return False
        keys = _history_keys(header_upper(head))
        return None not in keys and "date" in keys and has_most(keys, HISTORY_REQUIRED, missing_ok=1)

    def parse(self, name: str, data: bytes, *, sha256: str) -> ParsedFile:
        table = split_csv(decode(data, name), name=name, null_tokens=STRICT_NULLS | {"null", "NULL", "nan"})
        keys = _history_keys(table.header)
        table = table.renamed({h: k for h, k in zip(table.header, keys, strict=True) if k})
        require_columns(table, HISTORY_REQUIRED, name=name, kind="index history")
        frame, rejects = typed_frame(table, _HISTORY_COLS, name=name, sha256=sha256, target=self.target)
        index = index_from_file_name(name)
        frame = frame.with_columns(pl.lit(index, dtype=pl.Utf8).alias("index_name"))
        ignored = [h or "(unnamed)" for h, k in zip(table.header, keys, strict=True) if not k]
        return ParsedFile(
            name=name,
            sha256=sha256,
            kind=self.kind,
            target=self.target,
            rows_total=rows_total(table),
            frame=_finish(frame, name),
            rejects=rejects,
            session_date=_one_date(frame),
            meta={"index_name": index or "", "ignored_columns": ", ".join(ignored)},
        )


READERS: list[Reader] = [NseIndexCloseReader(), IndexHistoryReader()]

__all__ = ["READERS", "IndexHistoryReader", "NseIndexCloseReader", "crores", "index_from_file_name"]
