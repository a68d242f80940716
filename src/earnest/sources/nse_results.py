"""NSE financial-results listing reader: the per-company JSON of NSE's corporate results API.

Each file is a JSON array with one object per results filing (standalone and consolidated are two
records), e.g. ``{"symbol": "ACC", "fromDate": "01-Oct-2024", "toDate": "31-Dec-2024",
"audited": "Un-Audited", "consolidated": "Consolidated", "broadCastDate": "31-Jan-2025 18:45:17",
"exchdisstime": "31-Jan-2025 18:45:56", "filingDate": "31-Jan-2025 18:45", "seqNumber": "1191885",
"xbrl": "https://nsearchives.nseindia.com/corporate/xbrl/INDAS_118350_1367750_31012025064516.xml",
...}``. Every record becomes one ``results_listings`` row or one quarantine record.

Times are IST without a zone marker and are stored as UTC. ``broadcast_time`` (= ``knowledge_time``,
the moment the market learnt the result) is ``broadCastDate``, else ``exchdisstime``, else
``filingDate`` (minutes only); ``broadcast_source`` says which. A record with none of the three is
quarantined (rule ``no_broadcast_time``): earnest never invents a time. A time field that is present
but unreadable is quarantined too (rule ``parse``) rather than silently skipped for the next one.

Line numbers mean nothing in JSON: ``source_row`` is the 1-based index of the record in the array.
An ``xbrl`` link ending in ``/-`` (old-format filings) means "no XBRL" and is stored as null.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import IST
from earnest.core.errors import SchemaDriftError
from earnest.sources.base import ParsedFile, Reader, reject_rows

_TEXT_KEYS = (
    "symbol",
    "companyName",
    "isin",
    "fromDate",
    "toDate",
    "period",
    "relatingTo",
    "financialYear",
    "audited",
    "cumulative",
    "consolidated",
    "indAs",
    "format",
    "bank",
    "seqNumber",
    "broadCastDate",
    "exchdisstime",
    "filingDate",
    "xbrl",
    "resultDetailedDataLink",
)
"""The record keys earnest reads (the others, e.g. ``params`` and ``difference``, are derived)."""

_TIME_FIELDS = (
    ("broadCastDate", "%d-%b-%Y %H:%M:%S"),
    ("exchdisstime", "%d-%b-%Y %H:%M:%S"),
    ("filingDate", "%d-%b-%Y %H:%M"),
)
"""Broadcast-time candidates in order of preference, with their IST formats."""

_NULLS = frozenset({"", "-", "null", "None"})
_NO_XBRL = re.compile(r"/-?$")
_FY = re.compile(r"^\s*(\d{2}-[A-Za-z]{3}-\d{4})\s+To\s+(\d{2}-[A-Za-z]{3}-\d{4})\s*$", re.IGNORECASE)


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text in _NULLS else text


def _records(name: str, data: bytes) -> list[Any]:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaDriftError(
            f"not a readable NSE results listing: invalid JSON ({exc})",
            remedy="the download may be truncated or an HTML error page; fetch it again",
            file=name,
        ) from exc
    if isinstance(doc, Mapping) and isinstance(doc.get("data"), list):
        doc = doc["data"]  # the live API wraps the array in {"data": [...]}
    if not isinstance(doc, list):
        raise SchemaDriftError(
            f"not an NSE results listing: expected a JSON array of filings, found {type(doc).__name__}",
            remedy="pass the JSON saved from NSE's corporate financial-results listing",
            file=name,
        )
    return doc


def _strings(records: Sequence[Any]) -> pl.DataFrame:
    cols: dict[str, list[str | None]] = {k: [] for k in _TEXT_KEYS}
    for rec in records:
        for k in _TEXT_KEYS:
            cols[k].append(_clean(rec.get(k)) if isinstance(rec, Mapping) else None)
    frame = pl.DataFrame(cols, schema=dict.fromkeys(_TEXT_KEYS, pl.Utf8))
    raw = [json.dumps(r, ensure_ascii=False, sort_keys=True)[:2000] for r in records]
    is_obj = [isinstance(r, Mapping) for r in records]
    return frame.with_columns(
        pl.Series("source_row", range(1, len(records) + 1), dtype=pl.Int64),
        pl.Series("_raw", raw, dtype=pl.Utf8),
        pl.Series("_is_object", is_obj, dtype=pl.Boolean),
    )


def _ist(col: str, fmt: str) -> pl.Expr:
    """An IST text column as a UTC timestamp (null when empty or unreadable)."""
    return (
        pl.col(col)
        .str.to_titlecase()
        .str.strptime(pl.Datetime("us"), fmt, strict=False)
        .dt.replace_time_zone(str(IST))
        .dt.convert_time_zone("UTC")
    )


def _date(col: str) -> pl.Expr:
    return pl.col(col).str.to_titlecase().str.strptime(pl.Date, "%d-%b-%Y", strict=False)


def _typed(s: pl.DataFrame) -> pl.DataFrame:
    """Every output column from the string columns; parse failures show as nulls (checked later)."""
    fy = pl.col("financialYear").str.extract_groups(_FY.pattern)
    xbrl_ok = pl.col("xbrl").is_not_null() & ~pl.col("xbrl").str.contains(_NO_XBRL.pattern)
    lower = {c: pl.col(c).str.to_lowercase() for c in ("audited", "cumulative", "consolidated")}
    times = {f"_t_{k}": _ist(k, fmt) for k, fmt in _TIME_FIELDS}
    return s.with_columns(
        _date("fromDate").alias("period_from"),
        _date("toDate").alias("period_to"),
        fy.struct.field("1")
        .str.to_titlecase()
        .str.strptime(pl.Date, "%d-%b-%Y", strict=False)
        .alias("financial_year_start"),
        fy.struct.field("2")
        .str.to_titlecase()
        .str.strptime(pl.Date, "%d-%b-%Y", strict=False)
        .alias("financial_year_end"),
        pl.when(lower["audited"] == "audited")
        .then(True)
        .when(lower["audited"] == "un-audited")
        .then(False)
        .alias("audited"),
        pl.when(lower["cumulative"] == "cumulative")
        .then(True)
        .when(lower["cumulative"] == "non-cumulative")
        .then(False)
        .alias("cumulative"),
        pl.when(lower["consolidated"] == "consolidated")
        .then(True)
        .when(lower["consolidated"] == "non-consolidated")
        .then(False)
        .alias("consolidated"),
        pl.col("seqNumber").cast(pl.Int64, strict=False).alias("seq_number"),
        pl.when(xbrl_ok).then(pl.col("xbrl")).alias("xbrl_url"),
        pl.when(xbrl_ok).then(pl.col("xbrl").str.extract(r"([^/]+)$")).alias("xbrl_name"),
        **times,
    )


_CHECKS: tuple[tuple[str, str, str], ...] = (
    ("symbol", "symbol", "required field 'symbol' is empty"),
    ("fromDate", "period_from", "cannot read 'fromDate' as DD-Mon-YYYY"),
    ("toDate", "period_to", "cannot read 'toDate' as DD-Mon-YYYY"),
    ("audited", "audited", "'audited' is neither 'Audited' nor 'Un-Audited'"),
    ("consolidated", "consolidated", "'consolidated' is neither 'Consolidated' nor 'Non-Consolidated'"),
    ("seqNumber", "seq_number", "cannot read 'seqNumber' as a whole number"),
    *((k, f"_t_{k}", f"cannot read '{k}' as DD-Mon-YYYY HH:MM[:SS] (IST)") for k, _ in _TIME_FIELDS),
)
"""(source key, parsed column, reason): a present value that does not parse quarantines the record.
``fromDate``, ``toDate`` and ``symbol`` must also be present; the flags and times may be absent."""

_REQUIRED = frozenset({"symbol", "fromDate", "toDate"})


def _quarantine(
    frame: pl.DataFrame, *, name: str, sha256: str, target: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Move unreadable records to quarantine, one record per row naming the first bad field."""
    parts: list[pl.DataFrame] = []

    def move(mask: pl.Series, field: str | None, rule: str, reason: str) -> None:
        nonlocal frame
        if mask.any():
            frame, q = reject_rows(
                frame, mask, name=name, sha256=sha256, target=target, field=field, rule=rule, reason=reason
            )
            parts.append(q)

    move(~frame.get_column("_is_object"), None, "malformed_record", "the record is not a JSON object")
    for key, parsed, reason in _CHECKS:
        src, out = frame.get_column(key), frame.get_column(parsed)
        bad = (src.is_not_null() & out.is_null()) | (src.is_null() if key in _REQUIRED else False)
        move(bad, key, "parse", reason)
    no_time = pl.all_horizontal(pl.col(f"_t_{k}").is_null() for k, _ in _TIME_FIELDS)
    move(
        frame.select(no_time).to_series(),
        "broadCastDate",
        "no_broadcast_time",
        "the record has no broadCastDate, exchdisstime or filingDate, so when the market learnt this "
        "result is unknown; earnest does not invent one (the filing stays out of point-in-time data)",
    )
    return frame, pl.concat(parts) if parts else schemas.empty(schemas.QUARANTINE)


def _raw_texts(q: pl.DataFrame, frame_before: pl.DataFrame) -> pl.DataFrame:
    """Quarantine ``raw`` as the original JSON record (not the flattened columns)."""
    raw = dict(
        zip(
            frame_before.get_column("source_row").to_list(),
            frame_before.get_column("_raw").to_list(),
            strict=True,
        )
    )
    return q.with_columns(
        pl.col("source_row").replace_strict(raw, default=None, return_dtype=pl.Utf8).alias("raw")
    )


def _finish(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    t = [pl.col(f"_t_{k}") for k, _ in _TIME_FIELDS]
    source = pl.coalesce(
        [pl.when(c.is_not_null()).then(pl.lit(k)) for (k, _), c in zip(_TIME_FIELDS, t, strict=True)]
    )
    seq = pl.col("seq_number").cast(pl.Utf8)
    out = frame.with_columns(
        pl.coalesce(
            pl.concat_str(pl.lit("NSE:"), seq),
            pl.concat_str(
                pl.lit("NSE"),
                pl.col("symbol").str.to_uppercase(),
                pl.col("period_to").cast(pl.Utf8),
                pl.when(pl.col("consolidated")).then(pl.lit("C")).otherwise(pl.lit("S")),
                pl.coalesce(t).dt.strftime("%Y%m%dT%H%M%SZ"),
                separator=":",
            ),
        ).alias("filing_key"),
        pl.lit("NSE").alias("exchange"),
        pl.col("symbol").str.to_uppercase(),
        pl.col("companyName").alias("company"),
        pl.col("period").alias("period_type"),
        pl.col("relatingTo").alias("relating_to"),
        pl.col("indAs").alias("ind_as"),
        pl.col("bank").alias("bank_flag"),
        (pl.col("bank") == "B").alias("is_bank"),
        pl.coalesce(t).alias("broadcast_time"),
        source.alias("broadcast_source"),
        t[1].alias("dissemination_time"),
        t[2].alias("filing_time"),
        pl.col("resultDetailedDataLink").alias("detail_url"),
        pl.coalesce(t).alias("knowledge_time"),
        pl.lit(name).alias("source_file"),
    )
    return schemas.conform(out, schemas.RESULTS_LISTINGS, name="results_listings")


class NseResultsListingReader:
    """NSE corporate financial-results listing JSON into ``results_listings``."""

    kind: str = "nse_results_listing"
    target: str = "results_listings"

    def sniff(self, name: str, head: str) -> bool:
        start = head.lstrip("\ufeff \t\r\n")
        return start[:1] in "[{" and bool(start) and '"relatingTo"' in head and '"seqNumber"' in head

    def parse(self, name: str, data: bytes, *, sha256: str) -> ParsedFile:
        records = _records(name, data)
        strings = _strings(records)
        typed = _typed(strings)
        frame, rejects = _quarantine(typed, name=name, sha256=sha256, target=self.target)
        if rejects.height:
            rejects = _raw_texts(rejects, typed).sort("source_row")
        return ParsedFile(
            name=name,
            sha256=sha256,
            kind=self.kind,
            target=self.target,
            rows_total=len(records),
            frame=_finish(frame, name),
            rejects=rejects,
            meta={"records": str(len(records))},
        )


def parse_ist(text: str) -> dt.datetime:
    """``31-Jan-2025 18:45:17`` (IST, seconds optional) as an aware UTC datetime."""
    for fmt in ("%d-%b-%Y %H:%M:%S", "%d-%b-%Y %H:%M"):
        try:
            local = dt.datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
        return local.replace(tzinfo=IST).astimezone(dt.UTC)
    raise ValueError(f"not an NSE time: {text!r}")


READERS: list[Reader] = [NseResultsListingReader()]

__all__ = ["READERS", "NseResultsListingReader", "parse_ist"]
