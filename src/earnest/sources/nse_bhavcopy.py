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
dated another day are quarantined (rule ``date_mismatch``). The equity-bars readers parse many
files at once (``parse_many``: one CSV read and one typed parse for all plain files of a header,
see :mod:`earnest.sources.bhavcopy`, which also holds the helpers shared with
:mod:`earnest.sources.bse_bhavcopy`; they are re-exported here).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

from earnest.core import schemas
from earnest.core.errors import DataError, SchemaDriftError
from earnest.sources.base import (
    Col,
    ParsedFile,
    RawFile,
    RawTable,
    Reader,
    base_name,
    date_parser,
    head_fields,
    integer,
    number,
    reject_rows,
    typed_frame,
    upper_text,
)
from earnest.sources.bhavcopy import (
    BHAVCOPY_NULLS,
    BarsSpec,
    Layout,
    NameDate,
    finish,
    lakhs,
    parse_bars,
    parse_bars_many,
    read_table,
    segment_errors,
    session_split,
)
from earnest.sources.stacked import MEMBER

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

_LEGACY = BarsSpec(
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


def _check_not_converted(frame: pl.DataFrame, names: Sequence[str]) -> dict[int, DataError]:
    """Some mirrors rewrote legacy bhavcopies into this header with ``AVG_PRICE`` 0 and turnover in
    rupees; reading them as NSE files would inflate turnover 100,000-fold. Checked per file."""
    traded = pl.col("volume") > 0
    flags = frame.group_by(MEMBER).agg(
        traded.any().alias("traded"),
        (pl.col("avg_price").filter(traded).fill_null(0.0) == 0.0).all().alias("zero"),
    )
    return {
        k: SchemaDriftError(
            "AVG_PRICE is 0 on every traded row: this is not an NSE sec_bhavdata_full file but a legacy "
            "bhavcopy converted into its layout (its TURNOVER_LACS would hold rupees, not lakhs)",
            remedy="ingest the original cmDDMONYYYYbhav.csv instead",
            file=names[k],
            field="AVG_PRICE",
        )
        for k in flags.filter(pl.col("traded") & pl.col("zero")).get_column(MEMBER).to_list()
    }


_SEC_FULL = BarsSpec(
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
    """A reader for one NSE bars layout, recognised by its header line; parses many files at once."""

    target: str = "bars"

    def __init__(self, spec: BarsSpec) -> None:
        self.kind: str = spec.kind
        self._spec = spec

    def sniff(self, name: str, head: str) -> bool:
        first = head_fields(head, 1)
        return bool(first) and self._spec.layout.claims(first[0])

    def parse(self, name: str, data: bytes, *, sha256: str) -> ParsedFile:
        return parse_bars(self._spec, RawFile(name, data, sha256))

    def parse_many(self, files: Sequence[RawFile]) -> list[ParsedFile | DataError]:
        return parse_bars_many(self._spec, files)


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
    errors = segment_errors(table, pl.Series([0] * table.height, dtype=pl.Int32), want, [name])
    if errors:
        raise errors[0]


_UDIFF_CM = BarsSpec(
    kind="nse_udiff_cm",
    layout=Layout(required=("TradDt", "Sgmt", "TckrSymb", "SctySrs", "ISIN", *(c.source for c in _PRICES))),
    cols=_CM_COLS,
    date_field="TradDt",
    name_date=_UDIFF_NAME,
    segment="CM",
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
        return parse_bars(_UDIFF_CM, RawFile(name, data, sha256))

    def parse_many(self, files: Sequence[RawFile]) -> list[ParsedFile | DataError]:
        return parse_bars_many(_UDIFF_CM, files)


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

__all__ = [
    "BHAVCOPY_NULLS",
    "READERS",
    "UDIFF_COLUMNS",
    "Layout",
    "NameDate",
    "UdiffCmReader",
    "UdiffFoReader",
    "finish",
    "lakhs",
    "read_table",
    "session_split",
]
