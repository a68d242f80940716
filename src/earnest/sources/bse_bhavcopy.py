"""BSE equity bhavcopy reader: the legacy ``EQDDMMYY.CSV`` (published until BSE moved to UDiFF in 2024).

One row per BSE scrip code: ``SC_CODE,SC_NAME,SC_GROUP,SC_TYPE,OPEN,HIGH,LOW,CLOSE,LAST,PREVCLOSE,
NO_TRADES,NO_OF_SHRS,NET_TURNOV,TDCLOINDI``, names and groups space-padded, turnover in rupees.
Bars get exchange ``BSE``, symbol = the scrip code, series = the group (``A``, ``B``, ``X``...) and no
ISIN (the file has none; a later quality step maps codes to instruments).

The file has **no date column**: the session date is only in the file name (``EQ`` + DDMMYY). A file
whose name carries no date is never guessed: every row is quarantined with rule
``no_session_date`` and a reason telling the user how to rename the file.
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from earnest.core import schemas
from earnest.sources.base import (
    Col,
    ParsedFile,
    Reader,
    base_name,
    head_fields,
    integer,
    number,
    reject_rows,
    text,
    typed_frame,
)
from earnest.sources.nse_bhavcopy import Layout, NameDate, finish, read_table

_LAYOUT = Layout(
    required=(
        "SC_CODE", "SC_NAME", "SC_GROUP", "SC_TYPE", "OPEN", "HIGH", "LOW", "CLOSE", "LAST", "PREVCLOSE",
        "NO_TRADES", "NO_OF_SHRS", "NET_TURNOV",
    ),
    optional=("TDCLOINDI",),
)  # fmt: skip

_COLS = (
    Col("SC_CODE", "symbol", text, required=True),
    Col("SC_GROUP", "series", text, required=True),
    Col("OPEN", "open", number),
    Col("HIGH", "high", number),
    Col("LOW", "low", number),
    Col("CLOSE", "close", number, required=True),
    Col("LAST", "last", number),
    Col("PREVCLOSE", "prev_close", number),
    Col("NO_OF_SHRS", "volume", integer),
    Col("NET_TURNOV", "turnover", number),
    Col("NO_TRADES", "trades", integer),
)

_NAME_DATE = NameDate(re.compile(r"^(EQ\d{6})(?!\d)", re.IGNORECASE), "EQ%d%m%y")
"""``EQ`` + DDMMYY (also the ``EQDDMMYY_CSV.ZIP`` archive name); two-digit years 69-99 are 19xx."""


def session_from_name(name: str) -> dt.date | None:
    """The session date of ``EQDDMMYY.CSV``, or None when the name carries none."""
    return _NAME_DATE.find(name)


class BseBhavcopyReader:
    """BSE ``EQDDMMYY.CSV`` equity bhavcopy into ``bars``."""

    kind: str = "bse_bhavcopy"
    target: str = "bars"

    def sniff(self, name: str, head: str) -> bool:
        first = head_fields(head, 1)
        return bool(first) and _LAYOUT.claims(first[0])

    def parse(self, name: str, data: bytes, *, sha256: str) -> ParsedFile:
        table = read_table(name, data, _LAYOUT, kind=self.kind)
        frame, rejects = typed_frame(table, _COLS, name=name, sha256=sha256, target=self.target)
        session = session_from_name(name)
        if session is None:
            frame, undated = reject_rows(
                frame,
                pl.Series([True] * frame.height, dtype=pl.Boolean),
                name=name,
                sha256=sha256,
                target=self.target,
                field=None,
                rule="no_session_date",
                reason=(
                    f"the file name {base_name(name)!r} carries no session date and a BSE bhavcopy has no "
                    "date column; rename the file to EQDDMMYY.CSV with its session date (e.g. EQ200421.CSV "
                    "for 2021-04-20) and ingest it again"
                ),
            )
            rejects = pl.concat([rejects, undated])
        frame = frame.with_columns(pl.lit(session, dtype=pl.Date).alias("date"))
        return ParsedFile(
            name=name,
            sha256=sha256,
            kind=self.kind,
            target=self.target,
            rows_total=table.height + len(table.ragged),
            frame=finish(frame, schemas.BARS, exchange="BSE", session=session, name=name),
            rejects=rejects,
            session_date=session,
        )


READERS: list[Reader] = [BseBhavcopyReader()]

__all__ = ["READERS", "BseBhavcopyReader", "session_from_name"]
