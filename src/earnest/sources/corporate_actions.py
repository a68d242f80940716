"""NSE corporate actions (target ``corporate_actions``): the PR bundle's ``bcDDMMYYYY.csv`` and the
website's ``CF-CA-equities-*.csv`` export.

* ``nse_bc``: ``SERIES,SYMBOL,SECURITY,RECORD_DT,BC_STRT_DT,BC_END_DT,EX_DT,ND_STRT_DT,ND_END_DT,
  PURPOSE`` with ISO dates (empty = none). NSE lists an action once per series (EQ, BE, BL, IQ, T0,
  TL...): each line stays its own row (``series`` is part of the row and of ``action_id``).
  ``knowledge_time`` is the file's date (from ``bcDDMMYYYY`` in its name) at 18:00 IST, when the
  bundle is out; without a date in the name, the ex-date's session open (as for CF-CA).
* ``nse_cf_ca``: ``SYMBOL,COMPANY NAME,SERIES,PURPOSE,FACE VALUE,EX-DATE,RECORD DATE,BOOK CLOSURE
  START DATE,BOOK CLOSURE END DATE`` (names often quoted, a BOM first), dates like ``19-Dec-2025``,
  ``-`` for none. It carries no announcement time, so ``knowledge_time`` is the ex-date's session
  open (09:15 IST): conservative, it never claims to know an action before the market surely did.

One output row per input line (never more, never fewer): the PURPOSE text is read by
:func:`parse_purpose` into ``action_type`` (``split``, ``consolidation``, ``bonus``, ``rights``,
``dividend``, ``other``), ratios, ``price_factor`` and ``amount``. Ratios and factors:

* split, face value ``a -> b``: ``ratio_old:ratio_new`` = shares before : after (``b:a`` reduced,
  ``1:5`` for 10 -> 2), ``price_factor = b / a``; a consolidation (``b > a``) the same, factor > 1;
* bonus ``a:b`` (``a`` new shares for every ``b`` held): ``ratio_new = a``, ``ratio_old = b``,
  ``price_factor = b / (a + b)`` (``BONUS 3:2`` -> 0.4);
* rights ``a:b`` likewise ``ratio_new = a``, ``ratio_old = b``, ``amount`` = issue price per share
  (face value + premium; null when the premium is known but the face value is not, as in bc files),
  ``price_factor`` 1.0: a later stage computes the theoretical ex-rights factor from prices;
* dividend: ``amount`` = rupees per share, several dividends in one purpose (``FINAL DIVIDEND - RS 10
  PER SHARE/SPECIAL DIVIDEND - RS 5 PER SHARE``) are **summed into one row**, the full text kept in
  ``purpose``; a percentage dividend is read against the face value when the file gives it;
  ``price_factor`` 1.0 (earnest does not back-adjust dividends by default);
* everything else (interest, redemption, buy-back, demerger, capital reduction, AGM...) is
  ``other`` with factor 1.0.

A purpose that mentions a split, bonus or consolidation whose ratio cannot be read, or several
share-count changes at once, is quarantined (rule ``unparsed_purpose``): earnest never guesses a
factor. ``action_id`` is the first 16 hex characters of the SHA-256 of exchange, symbol, series,
ex-date, action type and purpose.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from dataclasses import dataclass

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import SESSION_OPEN
from earnest.sources.base import (
    Col,
    ParsedFile,
    Reader,
    base_name,
    date_parser,
    has_most,
    header_upper,
    number,
    reject_rows,
    require_columns,
    text,
    typed_frame,
    upper_text,
)
from earnest.sources.csv_import import ist_instant, ist_utc, read_upper, rows_total

BC_CLOSE = dt.time(18, 0)
"""When a day's PR bundle (and its bc file) is taken to be known, IST."""

# ---- PURPOSE text ------------------------------------------------------------------------------

_NUM = r"(\d+(?:\.\d+)?)"
_RUPEES = rf"(?:RS|RE|INR|₹)\s*\.?\s*{_NUM}"
_FV_CHANGE = re.compile(rf"(?:FROM|FRM)\s*(?:{_RUPEES}|{_NUM})\D*?\bTO\s*(?:{_RUPEES}|{_NUM})")
_RATIO = re.compile(r"(\d+)\s*:\s*(\d+)")
_PERCENT = re.compile(rf"{_NUM}\s*%")
_PREMIUM = re.compile(rf"(?:PREMIUM|PREM|PRM)\.?\s*(?:OF\s*)?{_RUPEES}")
_ISSUE_PRICE = re.compile(rf"(?:@|\bAT\b)\s*(?:A\s+PRICE\s+OF\s*)?{_RUPEES}")
_AT_PAR = re.compile(r"(?:@|\bAT\b)\s*PAR\b")

_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("consolidation", re.compile(r"CONSOL")),
    ("split", re.compile(r"SPLIT|SPLT|SUB[\s-]*DIVISION")),
    ("bonus", re.compile(r"BONUS")),
    ("rights", re.compile(r"RIGHTS|RGHTS|\bRTS\b")),
    ("dividend", re.compile(r"DIV(?!ISION|EST)|DVD")),
)
_SHARE_COUNT = ("consolidation", "split", "bonus")


@dataclass(frozen=True)
class Purpose:
    """What a PURPOSE text means. ``problem`` set means the row must be quarantined."""

    action_type: str
    price_factor: float = 1.0
    ratio_new: float | None = None
    ratio_old: float | None = None
    amount: float | None = None
    problem: str | None = None


def normalise_purpose(purpose: str) -> str:
    """Upper-case, ``/-`` (rupee suffix) dropped, thousands separators dropped, spaces collapsed."""
    s = purpose.upper().replace("/-", " ")
    s = re.sub(r"(?<=\d),(?=\d{3})", "", s)
    return re.sub(r"\s+", " ", s).strip()


def _segments(norm: str) -> list[str]:
    """Separate actions of one purpose: ``A/B``, ``A AND B``, ``A & B``, ``A;B``, ``A + B``."""
    return [p.strip() for p in re.split(r"/|;|\+|&|\bAND\b", norm) if p.strip()]


def _kind(segment: str) -> str:
    return next((kind for kind, rx in _KINDS if rx.search(segment)), "other")


def _fv_change(segment: str) -> tuple[float, float] | None:
    m = _FV_CHANGE.search(segment)
    if m is None:
        return None
    a, b = (float(x) for x in (m.group(1) or m.group(2), m.group(3) or m.group(4)))
    return (a, b) if a > 0 and b > 0 else None


def _reduced(before: float, after: float) -> tuple[float, float]:
    """A share ratio in lowest whole terms when both are whole numbers (``2:10`` -> ``1:5``)."""
    if before.is_integer() and after.is_integer():
        g = math.gcd(int(before), int(after))
        return before / g, after / g
    return before, after


def _share_count(kind: str, segment: str) -> Purpose:
    """A split, consolidation or bonus segment; ``problem`` when its ratio cannot be read."""
    if kind == "bonus":
        m = _RATIO.search(segment.split("BONUS", 1)[-1])
        new, held = (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)
        if new <= 0 or held <= 0:
            return Purpose("bonus", problem="bonus ratio (new:held, e.g. BONUS 1:1) not readable")
        return Purpose("bonus", held / (new + held), ratio_new=new, ratio_old=held)
    fv = _fv_change(segment)
    if fv is None:
        return Purpose(kind, problem=f"{kind} without a readable face value change (FROM RS a TO RS b)")
    a, b = fv
    actual = "split" if b < a else "consolidation" if b > a else None
    if actual is None or (kind == "split" and actual != "split"):
        return Purpose(kind, problem=f"{kind} from face value {a:g} to {b:g} is not a {kind}")
    before, after = _reduced(b, a)
    return Purpose(actual, b / a, ratio_new=after, ratio_old=before)


def _rights(segment: str, face_value: float | None) -> Purpose:
    m = _RATIO.search(segment)
    new, held = (float(m.group(1)), float(m.group(2))) if m else (None, None)
    price: float | None = None
    premium = _PREMIUM.search(segment)
    issue = _ISSUE_PRICE.search(segment)
    if premium is not None:
        price = face_value + float(premium.group(1)) if face_value is not None else None
    elif _AT_PAR.search(segment):
        price = face_value
    elif issue is not None:
        price = float(issue.group(1))
    return Purpose("rights", 1.0, ratio_new=new, ratio_old=held, amount=price)


def _dividend_amount(segment: str, face_value: float | None) -> float | None:
    m = re.search(_RUPEES, segment)
    if m is not None:
        return float(m.group(1))
    pct = _PERCENT.search(segment)
    if pct is not None and face_value is not None:
        return round(face_value * float(pct.group(1)) / 100, 6)
    return None


def parse_purpose(purpose: str | None, face_value: float | None = None) -> Purpose:
    """Read an NSE PURPOSE text (any of its many spellings) into an action; see the module doc.

    ``face_value`` (rupees, when the file gives it) turns a rights premium into an issue price and
    a percentage dividend into rupees.
    """
    if purpose is None or not purpose.strip():
        return Purpose("other")
    segments = [(s, _kind(s)) for s in _segments(normalise_purpose(purpose))]
    counts = [s for s in segments if s[1] in _SHARE_COUNT]
    if len(counts) > 1:
        return Purpose(
            counts[0][1],
            problem="several share-count changes in one purpose; enter them as separate user actions",
        )
    if counts:
        return _share_count(counts[0][1], counts[0][0])
    rights = [s for s, k in segments if k == "rights"]
    if rights:
        return _rights(rights[0], face_value)
    dividends = [_dividend_amount(s, face_value) for s, k in segments if k == "dividend"]
    if dividends:
        known = [a for a in dividends if a is not None]
        return Purpose("dividend", 1.0, amount=sum(known) if len(known) == len(dividends) else None)
    return Purpose("other")


def action_id(
    exchange: str, symbol: str, *, series: str | None, ex_date: dt.date | None, kind: str, purpose: str
) -> str:
    """A stable id: 16 hex characters of the SHA-256 of the action's identifying fields."""
    key = "|".join([exchange, symbol, series or "", ex_date.isoformat() if ex_date else "", kind, purpose])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


# ---- the two file layouts ----------------------------------------------------------------------

_ANY_DATE = date_parser("%Y-%m-%d", "%d-%b-%Y", "%d-%m-%Y", "%d/%m/%Y")


@dataclass(frozen=True)
class _Layout:
    kind: str
    columns: tuple[str, ...]
    required: tuple[str, ...]
    cols: tuple[Col, ...]
    name_date: re.Pattern[str] | None


_BC = _Layout(
    kind="nse_bc",
    columns=(
        "SERIES",
        "SYMBOL",
        "SECURITY",
        "RECORD_DT",
        "BC_STRT_DT",
        "BC_END_DT",
        "EX_DT",
        "ND_STRT_DT",
        "ND_END_DT",
        "PURPOSE",
    ),
    required=("SYMBOL", "EX_DT", "PURPOSE"),
    cols=(
        Col("SYMBOL", "symbol", upper_text, required=True),
        Col("SERIES", "series", upper_text),
        Col("EX_DT", "ex_date", _ANY_DATE),
        Col("PURPOSE", "purpose", text),
    ),
    name_date=re.compile(r"^bc(\d{8})(?!\d)", re.IGNORECASE),
)

_CF_CA = _Layout(
    kind="nse_cf_ca",
    columns=(
        "SYMBOL",
        "COMPANY NAME",
        "SERIES",
        "PURPOSE",
        "FACE VALUE",
        "EX-DATE",
        "RECORD DATE",
        "BOOK CLOSURE START DATE",
        "BOOK CLOSURE END DATE",
    ),
    required=("SYMBOL", "PURPOSE", "EX-DATE"),
    cols=(
        Col("SYMBOL", "symbol", upper_text, required=True),
        Col("SERIES", "series", upper_text),
        Col("EX-DATE", "ex_date", _ANY_DATE),
        Col("PURPOSE", "purpose", text),
        Col("FACE VALUE", "face_value", number),
    ),
    name_date=None,
)


def _file_date(layout: _Layout, name: str) -> dt.date | None:
    m = layout.name_date.search(base_name(name)) if layout.name_date else None
    if m is None:
        return None
    try:
        return dt.datetime.strptime(m.group(1), "%d%m%Y").date()
    except ValueError:
        return None


def _with_purposes(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """Add the parsed purpose columns; also return each row's problem (null when none)."""
    keys = frame.select("purpose", "face_value").unique()
    parsed = [parse_purpose(p, fv) for p, fv in keys.iter_rows()]
    table = keys.with_columns(
        pl.Series("action_type", [p.action_type for p in parsed], dtype=pl.Utf8),
        pl.Series("price_factor", [p.price_factor for p in parsed], dtype=pl.Float64),
        pl.Series("ratio_new", [p.ratio_new for p in parsed], dtype=pl.Float64),
        pl.Series("ratio_old", [p.ratio_old for p in parsed], dtype=pl.Float64),
        pl.Series("amount", [p.amount for p in parsed], dtype=pl.Float64),
        pl.Series("problem", [p.problem for p in parsed], dtype=pl.Utf8),
    )
    out = frame.join(table, on=["purpose", "face_value"], how="left", nulls_equal=True, maintain_order="left")
    return out.drop("problem"), out.get_column("problem")


class CorporateActionReader:
    """An NSE corporate-action file (bc file of the PR bundle, or the website's CF-CA export)."""

    target = "corporate_actions"

    def __init__(self, layout: _Layout) -> None:
        self._layout = layout
        self.kind = layout.kind

    def sniff(self, name: str, head: str) -> bool:
        header = header_upper(head)
        return "PURPOSE" in header and has_most(header, self._layout.columns, missing_ok=2)

    def parse(self, name: str, data: bytes, *, sha256: str) -> ParsedFile:
        layout = self._layout
        table = read_upper(name, data)
        require_columns(table, layout.required, name=name, kind=f"NSE corporate actions ({layout.kind})")
        frame, rejects = typed_frame(table, layout.cols, name=name, sha256=sha256, target=self.target)
        if "face_value" not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("face_value"))
        frame, problem = _with_purposes(frame)
        frame, unparsed = reject_rows(
            frame,
            problem.is_not_null(),
            name=name,
            sha256=sha256,
            target=self.target,
            field="PURPOSE",
            rule="unparsed_purpose",
            reason=pl.select(pl.lit("PURPOSE '") + frame.get_column("purpose") + "': " + problem).to_series(),
        )
        day = _file_date(layout, name)
        ids = [
            action_id("NSE", s, series=se, ex_date=d, kind=k, purpose=p or "")
            for s, se, d, k, p in frame.select(
                "symbol", "series", "ex_date", "action_type", "purpose"
            ).iter_rows()
        ]
        known = (
            pl.lit(ist_instant(day, BC_CLOSE), dtype=schemas.UTC_TS)
            if day is not None
            else ist_utc(pl.col("ex_date"), SESSION_OPEN)
        )
        frame = frame.with_columns(
            pl.Series("action_id", ids, dtype=pl.Utf8),
            pl.lit("NSE").alias("exchange"),
            pl.lit(layout.kind).alias("source"),
            pl.lit("confirmed").alias("status"),
            known.alias("knowledge_time"),
            pl.lit(name, dtype=pl.Utf8).alias("source_file"),
        )
        return ParsedFile(
            name=name,
            sha256=sha256,
            kind=self.kind,
            target=self.target,
            rows_total=rows_total(table),
            frame=schemas.conform(frame, schemas.CORPORATE_ACTIONS, name=name),
            rejects=pl.concat([rejects, unparsed]),
            session_date=day,
            meta={"file_date": day.isoformat() if day else ""},
        )


READERS: list[Reader] = [CorporateActionReader(_BC), CorporateActionReader(_CF_CA)]

__all__ = ["READERS", "CorporateActionReader", "Purpose", "action_id", "normalise_purpose", "parse_purpose"]
