"""NSE end-of-day bhavcopy readers: legacy CM CSV, ``sec_bhavdata_full`` and UDiFF (CM and F&O).

Formats (all detected from the header, never from the file name alone):

* ``nse_bhavcopy_legacy``: ``cmDDMONYYYYbhav.csv``, published until 2024-07-05. Three variants: 11
  columns before June 2011 (no ``TOTALTRADES``/``ISIN``), 13 columns with a trailing comma, and the
  2017-07-10 file with CRLF and no trailing comma. ``TOTTRDVAL`` is in rupees.
* ``nse_sec_bhavdata_full``: ``sec_bhavdata_full_DDMMYYYY.csv`` with a space after every comma,
  ``TURNOVER_LACS`` in lakhs (stored as rupees = lakhs x 1e5) and ``DELIV_QTY``/``DELIV_PER`` ``-``
  for series without delivery data (stored as null).
* ``nse_udiff_cm``: ``BhavCopy_NSE_CM_0_0_0_YYYYMMDD_F_0000.csv`` (34 columns, ``Sgmt`` = CM),
  the CM bhavcopy from 2024-07-08.
* ``nse_udiff_fo``: the same 34 columns with ``Sgmt`` = FO, read into ``derivative_bars``. Futures have
  no strike or option type: they get strike 0.0 and option type ``XX`` so the key is never null.
  ``TtlTradgVol`` is in contracts; ``OpnIntrst``/``ChngInOpnIntrst`` are in shares (multiples of
  the lot size), both stored as published.

The session date comes from the file name when it carries one and from the rows otherwise; rows
dated another day are quarantined (rule ``date_mismatch``). The helpers at the top are shared with
:mod:`earnest.sources.bse_bhavcopy`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import eod_known_utc
from earnest.core.errors import DataError, SchemaDriftError
from earnest.sources.base import (
    Col,
    ParsedFile,
    RawTable,
    Reader,
    base_name,
    date_parser,
    decode,
    head_fields,
    integer,
    number,
    reject_rows,
    require_columns,
    split_csv,
    typed_frame,
    upper_text,
)

BHAVCOPY_NULLS = frozenset({"", "-"})
"""Empty and ``-`` mean missing. ``NA`` is not missing here: it is a real NSE series (N-series debt)."""

_MAX_DRIFT = 2
"""A header missing at most this many of a layout's required columns is that layout, drifted."""


@dataclass(frozen=True)
class Layout:
    """A known header: the columns a file must have and the ones it may have."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    def claims(self, fields: Sequence[str]) -> bool:
        """True if ``fields`` is this layout, possibly drifted by a renamed or missing column."""
        have = {f.upper() for f in fields}
        present = sum(c.upper() in have for c in self.required)
        return present >= len(self.required) - _MAX_DRIFT and present > _MAX_DRIFT * 2


def read_table(name: str, data: bytes, layout: Layout, *, kind: str) -> RawTable:
    """Split the CSV, rename header columns to the layout's spelling (case-insensitive) and check
    that every required column is there (else :class:`SchemaDriftError` naming the missing ones)."""
    table = split_csv(decode(data, name), name=name, null_tokens=BHAVCOPY_NULLS)
    spelled = {c.upper(): c for c in (*layout.required, *layout.optional)}
    header = [spelled.get(h.upper(), h) for h in table.header]
    if header != table.header and len(set(header)) == len(header):
        table = table.renamed(dict(zip(table.header, header, strict=True)))
    require_columns(table, layout.required, name=name, kind=kind)
    return table


def session_split(
    frame: pl.DataFrame,
    name_date: dt.date | None,
    *,
    name: str,
    sha256: str,
    target: str,
    date_field: str,
) -> tuple[dt.date | None, pl.DataFrame, pl.DataFrame]:
    """Decide the file's session date and quarantine rows dated another day (rule ``date_mismatch``).

    The date in the file name wins when there is one; a name whose date matches no row at all
    is an error (the file is misnamed). Without a name date the most common row date is used.
    """
    if frame.height == 0:
        return name_date, frame, schemas.empty(schemas.QUARANTINE)
    counts = frame.get_column("date").value_counts(sort=True, name="n")
    top = counts.row(0)
    if name_date is None:
        if counts.height > 1 and counts.row(1)[1] == top[1]:
            raise DataError(
                f"rows are dated {counts.get_column('date').to_list()} in equal numbers",
                remedy="split the file by date, or name it with its session date",
                file=name,
                field=date_field,
            )
        session: dt.date = top[0]
    else:
        session = name_date
        if session not in counts.get_column("date").to_list():
            raise DataError(
                f"the file name says session {session} but its rows are dated {top[0]}",
                remedy="the file is probably misnamed: rename it to the session date in its rows, "
                "or download the right day",
                file=name,
                field=date_field,
            )
    mask = frame.get_column("date") != session
    if not mask.any():
        return session, frame, schemas.empty(schemas.QUARANTINE)
    reason = pl.select(
        pl.lit(f"{date_field} ")
        + frame.get_column("date").cast(pl.Utf8)
        + pl.lit(f" is not the session {session}")
    ).to_series()
    kept, rejects = reject_rows(
        frame,
        mask,
        name=name,
        sha256=sha256,
        target=target,
        field=date_field,
        rule="date_mismatch",
        reason=reason,
    )
    return session, kept, rejects


def finish(
    frame: pl.DataFrame, schema: schemas.Schema, *, exchange: str, session: dt.date | None, name: str
) -> pl.DataFrame:
    """Add the constant columns (exchange, knowledge time, source file) and conform to ``schema``."""
    known = eod_known_utc(session) if session is not None else None
    frame = frame.with_columns(
        pl.lit(exchange, dtype=pl.Utf8).alias("exchange"),
        pl.lit(known, dtype=schemas.UTC_TS).alias("knowledge_time"),
        pl.lit(name, dtype=pl.Utf8).alias("source_file"),
    )
    return schemas.conform(frame, schema, name=name)


def lakhs(e: pl.Expr) -> pl.Expr:
    """A number in lakhs of rupees as rupees (1 lakh = 100,000), rounded to the paisa."""
    return (number(e) * 1e5).round(2)


@dataclass(frozen=True)
class NameDate:
    """Where a file name carries its session date: a regex whose group 1 is the date, and its format."""

    pattern: re.Pattern[str]
    fmt: str

    def find(self, name: str) -> dt.date | None:
        m = self.pattern.search(base_name(name))
        if m is None:
            return None
        try:
            return dt.datetime.strptime(m.group(1).title(), self.fmt).date()
        except ValueError:
            return None


@dataclass(frozen=True)
class _BarsSpec:
    """One bars layout: its columns, its date column and how its file name carries the date."""

    kind: str
    layout: Layout
    cols: tuple[Col, ...]
    date_field: str
    name_date: NameDate
    check: Callable[[pl.DataFrame, str], None] | None = None
    table_check: Callable[[RawTable, str], None] | None = None


def _parse_bars(spec: _BarsSpec, name: str, data: bytes, sha256: str) -> ParsedFile:
    table = read_table(name, data, spec.layout, kind=spec.kind)
    if spec.table_check is not None:
        spec.table_check(table, name)
    frame, rejects = typed_frame(table, spec.cols, name=name, sha256=sha256, target="bars")
    if spec.check is not None:
        spec.check(frame, name)
    session, frame, mismatched = session_split(
        frame,
        spec.name_date.find(name),
        name=name,
        sha256=sha256,
        target="bars",
        date_field=spec.date_field,
    )
    return ParsedFile(
        name=name,
        sha256=sha256,
        kind=spec.kind,
        target="bars",
        rows_total=table.height + len(table.ragged),
        frame=finish(frame, schemas.BARS, exchange="NSE", session=session, name=name),
        rejects=pl.concat([rejects, mismatched]),
        session_date=session,
        meta={"columns": str(len(table.header))},
    )


# fmt: off
_LEGACY_COLUMNS = (
    "SYMBOL", "SERIES", "OPEN", "HIGH", "LOW", "CLOSE", "LAST", "PREVCLOSE", "TOTTRDQTY", "TOTTRDVAL",
    "TIMESTAMP",
)
_SEC_FULL_COLUMNS = (
    "SYMBOL", "SERIES", "DATE1", "PREV_CLOSE", "OPEN_PRICE", "HIGH_PRICE", "LOW_PRICE", "LAST_PRICE",
    "CLOSE_PRICE", "AVG_PRICE", "TTL_TRD_QNTY", "TURNOVER_LACS", "NO_OF_TRADES", "DELIV_QTY", "DELIV_PER",
)
# fmt: on

# --- legacy CM bhavcopy -------------------------------------------------------------------------

_LEGACY = _BarsSpec(
    kind="nse_bhavcopy_legacy",
    layout=Layout(
        required=_LEGACY_COLUMNS,
        optional=("TOTALTRADES", "ISIN"),
    ),
    cols=(
        Col("SYMBOL", "symbol", upper_text, required=True),
        Col("SERIES", "series", upper_text, required=True),
        Col("TIMESTAMP", "date", date_parser("%d-%b-%Y"), required=True),
        Col("OPEN", "open", number),
        Col("HIGH", "high", number),
        Col("LOW", "low", number),
        Col("CLOSE", "close", number, required=True),
        Col("LAST", "last", number),
        Col("PREVCLOSE", "prev_close", number),
        Col("TOTTRDQTY", "volume", integer),
        Col("TOTTRDVAL", "turnover", number),
        Col("TOTALTRADES", "trades", integer),
        Col("ISIN", "isin", upper_text),
    ),
    date_field="TIMESTAMP",
    name_date=NameDate(re.compile(r"^cm(\d{2}[A-Za-z]{3}\d{4})bhav", re.IGNORECASE), "%d%b%Y"),
)


# --- sec_bhavdata_full --------------------------------------------------------------------------


def _check_not_converted(frame: pl.DataFrame, name: str) -> None:
    """Some mirrors rewrote legacy bhavcopies into this header with ``AVG_PRICE`` 0 and turnover in
    rupees; reading them as NSE files would inflate turnover 100,000-fold."""
    avg = frame.get_column("avg_price")
    traded = frame.get_column("volume") > 0
    if traded.any() and bool((avg.filter(traded).fill_null(0.0) == 0.0).all()):
        raise SchemaDriftError(
            "AVG_PRICE is 0 on every traded row: this is not an NSE sec_bhavdata_full file but a legacy "
            "bhavcopy converted into its layout (its TURNOVER_LACS would hold rupees, not lakhs)",
            remedy="ingest the original cmDDMONYYYYbhav.csv instead",
            file=name,
            field="AVG_PRICE",
        )


_SEC_FULL = _BarsSpec(
    kind="nse_sec_bhavdata_full",
    layout=Layout(
        required=_SEC_FULL_COLUMNS,
    ),
    cols=(
        Col("SYMBOL", "symbol", upper_text, required=True),
        Col("SERIES", "series", upper_text, required=True),
        Col("DATE1", "date", date_parser("%d-%b-%Y"), required=True),
        Col("OPEN_PRICE", "open", number),
        Col("HIGH_PRICE", "high", number),
        Col("LOW_PRICE", "low", number),
        Col("CLOSE_PRICE", "close", number, required=True),
        Col("LAST_PRICE", "last", number),
        Col("PREV_CLOSE", "prev_close", number),
        Col("AVG_PRICE", "avg_price", number),
        Col("TTL_TRD_QNTY", "volume", integer),
        Col("TURNOVER_LACS", "turnover", lakhs),
        Col("NO_OF_TRADES", "trades", integer),
        Col("DELIV_QTY", "delivery_qty", integer),
    ),
    date_field="DATE1",
    name_date=NameDate(re.compile(r"^sec_bhavdata_full_(\d{8})", re.IGNORECASE), "%d%m%Y"),
    check=_check_not_converted,
)


class _BarsReader:
    """A reader for one NSE bars layout, recognised by its header line."""

    target: str = "bars"

    def __init__(self, spec: _BarsSpec) -> None:
        self.kind: str = spec.kind
        self._spec = spec

    def sniff(self, name: str, head: str) -> bool:
        first = head_fields(head, 1)
        return bool(first) and self._spec.layout.claims(first[0])

    def parse(self, name: str, data: bytes, *, sha256: str) -> ParsedFile:
        return _parse_bars(self._spec, name, data, sha256)


# --- UDiFF (CM and F&O) -------------------------------------------------------------------------

UDIFF_COLUMNS = (
    "TradDt", "BizDt", "Sgmt", "Src", "FinInstrmTp", "FinInstrmId", "ISIN", "TckrSymb", "SctySrs", "XpryDt",
    "FininstrmActlXpryDt", "StrkPric", "OptnTp", "FinInstrmNm", "OpnPric", "HghPric", "LwPric", "ClsPric",
    "LastPric", "PrvsClsgPric", "UndrlygPric", "SttlmPric", "OpnIntrst", "ChngInOpnIntrst", "TtlTradgVol",
    "TtlTrfVal", "TtlNbOfTxsExctd", "SsnId", "NewBrdLotQty", "Rmks", "Rsvd1", "Rsvd2", "Rsvd3", "Rsvd4",
)  # fmt: skip
"""The 34-column UDiFF header NSE uses for every segment's bhavcopy."""

_UDIFF_SNIFF = Layout(required=UDIFF_COLUMNS)
_UDIFF_NAME = NameDate(re.compile(r"^BhavCopy_NSE_[A-Z]+_\d+_\d+_\d+_(\d{8})_F_", re.IGNORECASE), "%Y%m%d")
_ISO = date_parser("%Y-%m-%d")
_PRICES = (
    Col("OpnPric", "open", number),
    Col("HghPric", "high", number),
    Col("LwPric", "low", number),
    Col("ClsPric", "close", number, required=True),
    Col("LastPric", "last", number),
    Col("PrvsClsgPric", "prev_close", number),
    Col("TtlTradgVol", "volume", integer),
    Col("TtlTrfVal", "turnover", number),
    Col("TtlNbOfTxsExctd", "trades", integer),
)
_CM_COLS = (
    Col("TradDt", "date", _ISO, required=True),
    Col("TckrSymb", "symbol", upper_text, required=True),
    Col("SctySrs", "series", upper_text, required=True),
    Col("ISIN", "isin", upper_text),
    *_PRICES,
)
_FO_COLS = (
    Col("TradDt", "date", _ISO, required=True),
    Col("FinInstrmTp", "instrument_type", upper_text, required=True),
    Col("TckrSymb", "symbol", upper_text, required=True),
    Col("XpryDt", "expiry", _ISO, required=True),
    Col("StrkPric", "strike", number),
    Col("OptnTp", "option_type", upper_text),
    *_PRICES,
    Col("UndrlygPric", "underlying", number),
    Col("SttlmPric", "settle", number),
    Col("OpnIntrst", "open_interest", integer),
    Col("ChngInOpnIntrst", "oi_change", integer),
    Col("NewBrdLotQty", "lot_size", integer),
)
_FO_TYPES = {"STO": "option", "IDO": "option", "STF": "future", "IDF": "future"}
_FUTURE_STRIKE = 0.0
_FUTURE_OPTION_TYPE = "XX"


def _udiff_segment(name: str, head: str) -> str | None:
    """``CM``/``FO``/other for a UDiFF file (from the first row, else the file name); None if not UDiFF."""
    lines = head_fields(head, 2)
    if not lines or not _UDIFF_SNIFF.claims(lines[0]):
        return None
    header = [h.upper() for h in lines[0]]
    if len(lines) > 1 and "SGMT" in header and len(lines[1]) > header.index("SGMT"):
        return lines[1][header.index("SGMT")].upper()
    m = re.search(r"_NSE_([A-Z]+)_", base_name(name).upper())
    return m.group(1) if m else ""


def _check_segment(table: RawTable, want: str, *, name: str) -> None:
    """A UDiFF file must hold one segment, the one its reader expects."""
    found = sorted({v.upper() for v in set(table.columns["Sgmt"]) if v is not None})
    if found and found != [want]:
        raise SchemaDriftError(
            f"UDiFF file has segment(s) {found}; this reader expects only {want} "
            "(CM files go to bars, FO files to derivative_bars; other segments are not supported)",
            remedy="check the file: a bhavcopy holds one segment",
            file=name,
            field="Sgmt",
        )


_UDIFF_CM = _BarsSpec(
    kind="nse_udiff_cm",
    layout=Layout(required=("TradDt", "Sgmt", "TckrSymb", "SctySrs", "ISIN", *(c.source for c in _PRICES))),
    cols=_CM_COLS,
    date_field="TradDt",
    name_date=_UDIFF_NAME,
    table_check=lambda table, name: _check_segment(table, "CM", name=name),
)


class UdiffCmReader:
    """NSE UDiFF CM (cash) bhavcopy into ``bars``. Also claims UDiFF files of unknown segments, so
    that they fail with a schema-drift error instead of being unrecognised."""

    kind: str = "nse_udiff_cm"
    target: str = "bars"

    def sniff(self, name: str, head: str) -> bool:
        seg = _udiff_segment(name, head)
        return seg is not None and seg != "FO"

    def parse(self, name: str, data: bytes, *, sha256: str) -> ParsedFile:
        return _parse_bars(_UDIFF_CM, name, data, sha256)


class UdiffFoReader:
    """NSE UDiFF F&O bhavcopy into ``derivative_bars`` (stock/index futures and options)."""

    kind: str = "nse_udiff_fo"
    target: str = "derivative_bars"
    _layout = Layout(required=(*(c.source for c in _FO_COLS), "Sgmt"))

    def sniff(self, name: str, head: str) -> bool:
        return _udiff_segment(name, head) == "FO"

    def parse(self, name: str, data: bytes, *, sha256: str) -> ParsedFile:
        table = read_table(name, data, self._layout, kind=self.kind)
        _check_segment(table, "FO", name=name)
        target = self.target
        frame, rejects = typed_frame(table, _FO_COLS, name=name, sha256=sha256, target=target)
        frame, more = self._contract_rules(frame, name=name, sha256=sha256)
        session, frame, mismatched = session_split(
            frame,
            _UDIFF_NAME.find(name),
            name=name,
            sha256=sha256,
            target=target,
            date_field="TradDt",
        )
        return ParsedFile(
            name=name,
            sha256=sha256,
            kind=self.kind,
            target=target,
            rows_total=table.height + len(table.ragged),
            frame=finish(frame, schemas.DERIVATIVE_BARS, exchange="NSE", session=session, name=name),
            rejects=pl.concat([rejects, *more, mismatched]),
            session_date=session,
        )

    def _contract_rules(
        self, frame: pl.DataFrame, *, name: str, sha256: str
    ) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
        """Quarantine unknown instrument types and options without strike/type; key futures as
        strike 0.0, option type ``XX``."""
        out: list[pl.DataFrame] = []
        kinds = frame.get_column("instrument_type").replace_strict(
            _FO_TYPES, default=None, return_dtype=pl.Utf8
        )
        where = {"name": name, "sha256": sha256, "target": self.target}
        frame, q = reject_rows(
            frame,
            kinds.is_null(),
            field="FinInstrmTp",
            rule="unknown_instrument_type",
            reason=f"FinInstrmTp is not one of {sorted(_FO_TYPES)}",
            **where,
        )
        out.append(q)
        is_option = frame.get_column("instrument_type").is_in(["STO", "IDO"])
        incomplete = is_option & (
            frame.get_column("strike").is_null() | ~frame.get_column("option_type").is_in(["CE", "PE"])
        )
        frame, q = reject_rows(
            frame,
            incomplete,
            field="StrkPric",
            rule="incomplete_option",
            reason="an option needs a strike price (StrkPric) and an option type (OptnTp) of CE or PE",
            **where,
        )
        out.append(q)
        future = frame.get_column("instrument_type").is_in(["STF", "IDF"])
        frame = frame.with_columns(
            pl.when(future).then(pl.lit(_FUTURE_STRIKE)).otherwise(pl.col("strike")).alias("strike"),
            pl.when(future)
            .then(pl.lit(_FUTURE_OPTION_TYPE))
            .otherwise(pl.col("option_type"))
            .alias("option_type"),
        )
        return frame, out


READERS: list[Reader] = [
    _BarsReader(_LEGACY),
    _BarsReader(_SEC_FULL),
    UdiffFoReader(),
    UdiffCmReader(),
]

__all__ = ["READERS", "UDIFF_COLUMNS", "Layout", "UdiffCmReader", "UdiffFoReader"]
