"""NSE financial-results XBRL reader: instance documents in the BSE/NSE ``in-bse-fin`` taxonomy.

Each results filing (Ind-AS companies, banks, NBFCs; standalone and consolidated are separate files)
is an XBRL 2.1 instance of ``xbrli:context``s (entity = NSE symbol, period, ``xbrldi`` dimension
members), ``xbrli:unit``s and facts such as ``<in-bse-fin:ProfitLossForPeriod contextRef="OneD"
unitRef="INR" decimals="-5">61130000000</...>``. Every fact becomes one ``financial_facts`` row
(tidy long layout, see :data:`earnest.core.schemas.FINANCIAL_FACTS`) or one quarantine record.

Values are stored as filed: XBRL numbers are already in their unit (rupees, rupees per share, shares)
and ``decimals`` only states precision (``-5`` = to the lakh), so nothing is multiplied. Units come
from the ``xbrli:unit`` measures, not the unit id; other than INR, INR/shares, shares and pure, or
undefined: the fact is quarantined (``unknown_unit``). A value that is not a number under a unit:
``parse``. The same fact repeated identically is one row; with different values, every copy is
quarantined (``conflicting_facts``). ``source_row`` is the fact's 1-based index in document order.

**Periods.** Context ids follow the columns of SEBI's results format: ``One…`` = the quarter,
``Four…`` = year to date (``…D`` durations, ``…I`` instants); ``period_kind`` is ``quarter``,
``ytd`` or ``instant`` accordingly (other ids: ``quarter`` up to 100 days, else ``ytd``). The
filings are imperfect, so periods are resolved in this order, recorded in ``period_source``:
``reporting_period_facts`` (the filing's ``DateOfStart/EndOfReportingPeriod`` facts in that context;
they beat the context's dates because NSE's utility writes the quarter's dates into the YTD
context, 176 of 773 sample files), ``context`` (the context's own period), ``column_period`` (a
dimensional context takes its column's resolved period when the end dates agree; same bug). A
context that is used but never defined (492 of 773 sample files omit ``OneD``/``FourD``) is
resolved only from what the filing states: both reporting-period facts, or the end fact plus
``DateOfStartOfFinancialYear`` for the YTD column (``reporting_period_end_and_fy_start``), or the
end fact (a month end) for the quarter column, which starts on the first day of the third month
back (``reporting_period_end_and_quarter``). Anything else (e.g. an undefined ``OneI``) is
quarantined, rule ``missing_context``: earnest does not guess periods.

**Identity.** Standalone/consolidated comes from ``NatureOfReportStandaloneConsolidated`` facts
(absent or contradictory: whole file quarantined, ``no_consolidation_flag``); the symbol from an
NSE-scheme entity identifier, else the ``Symbol`` fact (none: ``missing_entity``); unreadable XML:
``malformed_xml`` (a file quarantined whole counts as one row). ``broadcast_time`` is the
``DDMonYYYY_HHMM_`` prefix NSE downloaders put on file names (IST, cut to the minute, so
``knowledge_time`` is one minute later; ``0000`` means unknown); NSE's listing
(:mod:`earnest.sources.nse_results`, joined on ``xbrl_name``) is authoritative. lxml is used when
installed (twice as fast as the standard library, the fallback); external entities are never loaded.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import IST
from earnest.core.errors import SchemaDriftError
from earnest.sources.base import ParsedFile, Reader, base_name

# fmt: off
CANONICAL: dict[str, tuple[str, ...]] = {
    "revenue_from_operations": ("RevenueFromOperations",),
    "other_income": ("OtherIncome",),
    "total_income": ("Income", "Revenue"),
    "total_expenses": ("Expenses", "ExpenditureExcludingProvisionsAndContingencies"),
    "employee_benefit_expense": ("EmployeeBenefitExpense", "EmployeesCost"),
    "finance_costs": ("FinanceCosts",),
    "depreciation": ("DepreciationDepletionAndAmortisationExpense", "DepreciationAndAmortisationExpense"),
    "exceptional_items": ("ExceptionalItemsBeforeTax", "ExceptionalItems"),
    "profit_before_tax": ("ProfitBeforeTax", "ProfitLossFromOrdinaryActivitiesBeforeTax"),
    "tax_expense": ("TaxExpense",),
    "profit_continuing_operations": ("ProfitLossForPeriodFromContinuingOperations",
                                     "ProfitLossForThePeriodFromContinuingOperations",
                                     "ProfitLossFromOrdinaryActivitiesAfterTax"),
    "net_profit": ("ProfitLossForPeriod", "ProfitLossForThePeriod"),
    "net_profit_owners": ("ProfitOrLossAttributableToOwnersOfParent",
                          "ProfitLossAfterTaxesMinorityInterestAndShareOfProfitLossOfAssociates"),
    "other_comprehensive_income": ("OtherComprehensiveIncomeNetOfTaxes", "OtherComprehensiveIncome"),
    "total_comprehensive_income": ("ComprehensiveIncomeForThePeriod",),
    "eps_basic": ("BasicEarningsLossPerShareFromContinuingAndDiscontinuedOperations",
                  "BasicEarningsPerShareAfterExtraordinaryItems"),
    "eps_diluted": ("DilutedEarningsLossPerShareFromContinuingAndDiscontinuedOperations",
                    "DilutedEarningsPerShareAfterExtraordinaryItems"),
    "eps_basic_continuing": ("BasicEarningsLossPerShareFromContinuingOperations",),
    "eps_diluted_continuing": ("DilutedEarningsLossPerShareFromContinuingOperations",),
    "face_value": ("FaceValueOfEquityShareCapital",),
    "paid_up_share_capital": ("PaidUpValueOfEquityShareCapital",),
    "interest_earned": ("InterestEarned",),
    "interest_expended": ("InterestExpended",),
    "operating_expenses": ("OperatingExpenses",),
    "operating_profit": ("OperatingProfitBeforeProvisionAndContingencies",),
    "provisions": ("ProvisionsOtherThanTaxAndContingencies",),
    "gross_npa": ("GrossNonPerformingAssets",),
    "net_npa": ("NonPerformingAssets",),
    "gross_npa_ratio": ("PercentageOfGrossNpa",),
    "net_npa_ratio": ("PercentageOfNpa",),
}
# fmt: on
"""earnest's canonical field -> the ``in-bse-fin`` concepts that carry it, best first (the first one a
filing has wins; others keep their concept name with ``field`` null; dimensional facts get no field).
``net_profit`` is the total profit for the period; ``net_profit_owners`` the owners of the parent's
share (consolidated; banks: "after minority interest and associates"); ``profit_continuing_operations``
and the ``*_continuing`` EPS exclude discontinued operations (banks: profit from ordinary activities
after tax). Banks' ``total_expenses`` exclude provisions; ``gross_npa``/``net_npa`` are rupees and the
``*_npa_ratio`` fields fractions (0.0126 = 1.26 %; banks file ``PercentageOfNpa`` without a unit, so it
has a value and a null unit). EPS and ``face_value`` are rupees per share, share capital rupees."""

_FIELD_OF: dict[str, tuple[str, int]] = {c: (f, i) for f, cs in CANONICAL.items() for i, c in enumerate(cs)}

_XBRLI = "{http://www.xbrl.org/2003/instance}"
_XBRLDI = "{http://xbrl.org/2006/xbrldi}"
_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_ROOT, _CONTEXT, _UNIT = f"{_XBRLI}xbrl", f"{_XBRLI}context", f"{_XBRLI}unit"
_ENTITY, _IDENTIFIER, _SEGMENT = f"{_XBRLI}entity", f"{_XBRLI}identifier", f"{_XBRLI}segment"
_PERIOD, _SCENARIO, _EXPLICIT = f"{_XBRLI}period", f"{_XBRLI}scenario", f"{_XBRLDI}explicitMember"
_NSE_SCHEME = "nseindia.com"
_UNITS = {"INR": "INR", "INR/shares": "INR/shares", "shares": "shares", "pure": "pure"}
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_COLUMN = re.compile(r"^(One|Two|Three|Four|Five|Six)(?![a-z])")
_NAME_TIME = re.compile(r"^(\d{2}[A-Za-z]{3}\d{4})_(\d{4})_")
_QUARTER_MAX_DAYS = 100
_NAME_TIME_RESOLUTION = dt.timedelta(minutes=1)
"""The name's time is the broadcast time cut to the minute, so the result was public by HH:MM + 1 min."""


class _RejectFileError(Exception):
    """A whole file cannot be read: rule and reason for its single quarantine record."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason


@lru_cache(maxsize=1)
def _xml_parser() -> tuple[str, Callable[[bytes], Any]]:
    """(name, parse function): lxml without entity resolution or network when installed, else stdlib."""
    try:
        etree = importlib.import_module("lxml.etree")
    except ImportError:  # pragma: no cover - lxml is installed in the dev environment
        return "xml.etree.ElementTree", ET.fromstring
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)

    def parse(data: bytes) -> Any:
        return etree.fromstring(data, parser=parser)

    return f"lxml {etree.__version__}", parse


def parser_name() -> str:
    """Which XML parser the reader uses (for benchmarks and bug reports)."""
    return _xml_parser()[0]


@lru_cache(maxsize=4096)
def _local(qname: str) -> str:
    """``{ns}Name`` or ``prefix:Name`` -> ``Name``."""
    return qname.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


@lru_cache(maxsize=1024)
def _date(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


@dataclass(frozen=True)
class _Context:
    entity: str | None
    scheme: str
    start: dt.date | None
    end: dt.date | None
    instant: dt.date | None
    dimension: str
    problem: str | None = None


@dataclass(frozen=True)
class _Period:
    kind: str
    start: dt.date | None
    end: dt.date
    source: str
    dimension: str


def _member(m: Any) -> str:
    """``Axis=Member`` (local names) of an explicit or typed dimension member."""
    explicit = m.tag == _EXPLICIT
    value = (m.text or "") if explicit else next((c.text or "" for c in m), "")
    return f"{_local(m.get('dimension', '?'))}={_local(value.strip())}"


def _read_context(el: Any, cid: str) -> _Context:
    """Entity, period and dimension members of one ``xbrli:context`` (direct child walks: contexts
    are a fifth of the elements, and ElementPath lookups would dominate the reader's time)."""
    entity, scheme, members = None, "", list[str]()
    dates: dict[str, str | None] = {}
    for part in el:
        tag = part.tag
        if tag == _ENTITY:
            for c in part:
                if c.tag == _IDENTIFIER:
                    entity, scheme = (c.text or "").strip() or None, c.get("scheme", "")
                elif c.tag == _SEGMENT:
                    members.extend(_member(m) for m in c)
        elif tag == _PERIOD:
            dates.update((c.tag[len(_XBRLI) :], c.text) for c in part)
        elif tag == _SCENARIO:
            members.extend(_member(m) for m in part)
    start, end, instant = (_date(dates.get(k)) for k in ("startDate", "endDate", "instant"))
    problem = None
    if instant is None and (start is None or end is None):
        problem = f"context {cid!r} has no readable period ({dates or 'no xbrli:period'})"
    return _Context(entity, scheme, start, end, instant, "|".join(sorted(members)), problem)


def _read_unit(el: Any) -> str:
    """The unit as measure local names, ``num`` or ``num/den``, e.g. ``INR`` or ``INR/shares``."""

    def names(path: str) -> str:
        return "*".join(sorted(_local(m.text or "") for m in el.iterfind(path)))

    if el.find(f"{_XBRLI}divide") is None:
        return names(f"{_XBRLI}measure")
    part = f"{_XBRLI}divide/{_XBRLI}unit%s/{_XBRLI}measure"
    return f"{names(part % 'Numerator')}/{names(part % 'Denominator')}"


_Fact = tuple[str, str, "str | None", "str | None", "str | None", bool]
"""(concept, contextRef, unitRef, decimals, text, nil) of one fact."""

_IDENTITY = (
    "Symbol",
    "NatureOfReportStandaloneConsolidated",
    "DateOfStartOfFinancialYear",
    "DateOfStartOfReportingPeriod",
    "DateOfEndOfReportingPeriod",
)


@dataclass
class _Doc:
    """One instance: contexts, units (id -> unit text), facts in document order, and the texts of
    the identity concepts by (concept, contextRef)."""

    contexts: dict[str, _Context] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    facts: list[_Fact] = field(default_factory=list)
    identity: dict[tuple[str, str], str] = field(default_factory=dict)

    def texts(self, concept: str) -> set[str]:
        return {t for (c, _), t in self.identity.items() if c == concept}


def _load(name: str, data: bytes) -> _Doc:
    try:
        root = _xml_parser()[1](data)
    except (SyntaxError, ValueError) as exc:
        raise _RejectFileError("malformed_xml", f"the file is not well-formed XML ({exc})") from exc
    if root.tag != _ROOT:
        raise SchemaDriftError(
            f"not an XBRL instance: the root element is {root.tag!r}, not xbrli:xbrl",
            remedy="pass NSE's financial-results XBRL (.xml) file",
            file=name,
        )
    doc = _Doc()
    facts, identity = doc.facts, doc.identity
    for el in root:
        tag = el.tag
        ref = el.get("contextRef")
        if ref is not None:
            concept, text = _local(tag), el.text
            facts.append((concept, ref, el.get("unitRef"), el.get("decimals"), text, el.get(_NIL) == "true"))
            if concept in _IDENTITY and text and text.strip():
                identity[(concept, ref)] = text.strip()
        elif tag == _CONTEXT:
            cid = el.get("id", "")
            doc.contexts[cid] = _read_context(el, cid)
        elif tag == _UNIT:
            doc.units[el.get("id", "")] = _read_unit(el)
    return doc


def _identity(doc: _Doc) -> tuple[str, str, str]:
    """(symbol, entity_id, consolidation) of the filing, or :class:`_RejectFileError`."""
    if not doc.facts:
        raise _RejectFileError("no_facts", "the instance has no facts")
    entities = {(c.scheme, c.entity) for c in doc.contexts.values() if c.entity}
    if len(entities) > 1:
        raise _RejectFileError("missing_entity", f"contexts name different entities {sorted(entities)}")
    scheme, entity = next(iter(entities)) if entities else ("", None)
    symbols = {s.upper() for s in doc.texts("Symbol")} - {"NOTLISTED"}
    if entity is not None and _NSE_SCHEME in scheme:
        symbol = entity
    elif len(symbols) == 1:
        symbol = symbols.pop()
    else:
        raise _RejectFileError(
            "missing_entity", f"no NSE symbol: entity {entity!r} (scheme {scheme!r}), Symbol facts {symbols}"
        )
    natures = {n.lower() for n in doc.texts("NatureOfReportStandaloneConsolidated")}
    if natures not in ({"standalone"}, {"consolidated"}):
        raise _RejectFileError(
            "no_consolidation_flag",
            f"NatureOfReportStandaloneConsolidated is {sorted(natures) or 'absent'}; earnest does not guess "
            "whether a filing is standalone or consolidated",
        )
    return symbol.upper(), entity or symbol, natures.pop()


def _kind(column: str | None, start: dt.date | None, end: dt.date) -> str:
    if column in ("One", "Four"):
        return "quarter" if column == "One" else "ytd"
    return "quarter" if start is not None and (end - start).days <= _QUARTER_MAX_DAYS else "ytd"


def _quarter_start(end: dt.date) -> dt.date | None:
    """First day of the 3-month period ending on ``end`` when ``end`` is a month end, else None."""
    if (end + dt.timedelta(days=1)).day != 1:
        return None
    months = end.year * 12 + end.month - 3
    return dt.date(months // 12, months % 12 + 1, 1)


class _Periods:
    """Resolves context ids to periods (rules in the module docstring), memoised per file."""

    def __init__(self, doc: _Doc) -> None:
        self.doc = doc
        self.stated: dict[str, dict[str, dt.date]] = {}
        for (concept, ref), text in doc.identity.items():
            d = _date(text) if "ReportingPeriod" in concept else None
            if d is not None:
                self.stated.setdefault(ref, {})["start" if "Start" in concept else "end"] = d
        fy = {_date(t) for t in doc.texts("DateOfStartOfFinancialYear")} - {None}
        self.fy_start = fy.pop() if len(fy) == 1 else None
        self.memo: dict[str, _Period | str] = {}

    def get(self, cid: str) -> _Period | str:
        if cid not in self.memo:
            self.memo[cid] = self._resolve(cid)
        return self.memo[cid]

    def _resolve(self, cid: str) -> _Period | str:
        ctx = self.doc.contexts.get(cid)
        m = _COLUMN.match(cid)
        column = m.group(1) if m else None
        stated = self.stated.get(cid, {})
        if ctx is not None:
            if ctx.instant is not None:
                return _Period("instant", None, ctx.instant, "context", ctx.dimension)
            if ctx.problem or ctx.end is None:
                return ctx.problem or f"context {cid!r} has no end date"
            if ctx.dimension and column:
                base = self.get(f"{column}D")
                if isinstance(base, _Period) and base.end == ctx.end and base.source != "context":
                    return _Period(base.kind, base.start, base.end, "column_period", ctx.dimension)
            start, end, source = ctx.start, ctx.end, "context"
            if not ctx.dimension and len(stated) == 2:
                start, end, source = stated["start"], stated["end"], "reporting_period_facts"
        elif len(stated) == 2:
            start, end, source = stated["start"], stated["end"], "reporting_period_facts"
        elif "end" in stated and column == "Four" and self.fy_start is not None:
            start, end, source = self.fy_start, stated["end"], "reporting_period_end_and_fy_start"
        elif "end" in stated and column == "One" and _quarter_start(stated["end"]) is not None:
            start, end = _quarter_start(stated["end"]), stated["end"]
            source = "reporting_period_end_and_quarter"
        else:
            return f"context {cid!r} is not defined in the file and the filing states no period for it"
        kind = _kind(column, start, end)
        if kind == "quarter" and start is not None and (end - start).days > _QUARTER_MAX_DAYS:
            return f"context {cid!r} is the quarter column but spans {start} to {end}"
        return _Period(kind, start, end, source, ctx.dimension if ctx is not None else "")


# fmt: off
_COLS = ("concept", "field", "period_kind", "period_start", "period_end", "period_source", "dimension",
         "value", "value_text", "unit", "decimals", "context_id", "source_row")
# fmt: on
_RejectRow = tuple["int | None", "str | None", str, str, str]
"""(source_row, field, rule, reason, raw) of one quarantined fact or file."""


def _fact_row(i: int, fact: _Fact, period: _Period, doc: _Doc) -> tuple[Any, ...] | tuple[str, str, str]:
    """The row of one fact (in :data:`_COLS` order, ``field`` still None), or (field, rule, reason)."""
    concept, ref, unit_ref, decimals_text, text, nil = fact
    raw_text = (text or "").strip()
    unit = None
    if unit_ref is not None:
        found = doc.units.get(unit_ref)
        unit = _UNITS.get(found or "")
        if unit is None:
            why = (
                f"unit {unit_ref!r} is not defined"
                if found is None
                else f"unit {unit_ref!r} measures {found!r}"
            )
            return "unitRef", "unknown_unit", f"{why}; earnest reads INR, INR/shares, shares and pure"
    decimals = None
    if decimals_text is not None and decimals_text.strip().upper() != "INF":
        try:
            decimals = int(decimals_text)
        except ValueError:
            return "decimals", "parse", f"decimals {decimals_text!r} is neither a whole number nor INF"
    value = None
    numeric = _NUMBER.match(raw_text) is not None
    if not nil and (unit is not None or (numeric and concept in _FIELD_OF)):
        if not numeric:
            return (
                concept,
                "parse",
                f"{concept} carries unit {unit} but its value {raw_text[:80]!r} is not a number",
            )
        value = float(raw_text)
    return (
        concept,
        None,
        period.kind,
        period.start,
        period.end,
        period.source,
        period.dimension,
        value,
        None if nil else raw_text,
        unit,
        decimals,
        ref,
        i,
    )


def _collect(doc: _Doc) -> tuple[list[tuple[Any, ...]], list[_RejectRow], int]:
    """(rows, rejects, identical repeats merged) of every fact; canonical fields assigned."""
    periods = _Periods(doc)
    rows: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    conflicts: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    rejects: list[_RejectRow] = []
    merged = 0
    for i, fact in enumerate(doc.facts, start=1):
        period = periods.get(fact[1])
        got = (
            ("contextRef", "missing_context", period)
            if isinstance(period, str)
            else _fact_row(i, fact, period, doc)
        )
        if len(got) == 3:
            rejects.append((i, got[0], got[1], got[2], _raw(fact)))
            continue
        key = (got[0], got[2], got[4], got[6])  # concept, kind, end, dimension
        first = rows.setdefault(key, got)
        if first is not got and first[7:10] == got[7:10]:
            merged += 1
        elif first is not got:
            conflicts.setdefault(key, [first]).append(got)
    for key, copies in conflicts.items():
        del rows[key]
        values = sorted({str(c[8]) for c in copies})
        reason = f"{key[0]} is reported {len(copies)} times for one period and dimension with values {values}"
        rejects.extend(
            (c[12], c[0], "conflicting_facts", reason, f"<{c[0]} contextRef={c[11]!r}>{c[8]}") for c in copies
        )
    return _with_fields(list(rows.values())), sorted(rejects, key=lambda r: r[0] or 0), merged


def _raw(fact: _Fact) -> str:
    """A quarantined fact as XML-like text (the element, its attributes and up to 300 characters)."""
    text = (fact[4] or "").strip()[:300]
    return f"<{fact[0]} contextRef={fact[1]!r} unitRef={fact[2]!r} decimals={fact[3]!r}>{text}"


def _with_fields(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Give each canonical field to the preferred concept present per (kind, end), non-dimensional only."""
    best: dict[tuple[Any, ...], tuple[int, int]] = {}
    for n, row in enumerate(rows):
        hit = _FIELD_OF.get(row[0])
        if hit is not None and not row[6]:
            slot = (hit[0], row[2], row[4])
            if slot not in best or hit[1] < best[slot][0]:
                best[slot] = (hit[1], n)
    for slot, (_, n) in best.items():
        rows[n] = (rows[n][0], slot[0], *rows[n][2:])
    return rows


def broadcast_from_name(name: str) -> dt.datetime | None:
    """The UTC time of a ``DDMonYYYY_HHMM_`` file-name prefix (IST), or None. ``0000`` is None: the
    downloaders write it when the listing had no time, and a midnight time would be look-ahead."""
    m = _NAME_TIME.match(base_name(name))
    if not m or m.group(2) == "0000":
        return None
    try:
        local = dt.datetime.strptime(f"{m.group(1).title()} {m.group(2)}", "%d%b%Y %H%M")
    except ValueError:
        return None
    return local.replace(tzinfo=IST).astimezone(dt.UTC)


def nse_xbrl_name(name: str) -> str:
    """NSE's own XBRL file name (the last part of the listing's ``xbrl`` link): the base name without
    the downloader's broadcast prefix. NSE itself names a second file ``…_WEB_2.xml``."""
    return _NAME_TIME.sub("", base_name(name))


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _series(name: str, values: Any, n: int) -> pl.Series:
    """A column of ``financial_facts`` or ``quarantine``: dates and UTC times go through integers
    (days, microseconds), many times faster than Polars' conversion of Python date objects."""
    dtype = schemas.FINANCIAL_FACTS.get(name) or schemas.QUARANTINE[name]
    if not isinstance(values, list | tuple):
        values = [values] * n
    if dtype == pl.Date:
        days = [None if d is None else d.toordinal() - _EPOCH_ORDINAL for d in values]
        return pl.Series(name, days, dtype=pl.Int32).cast(pl.Date)
    if dtype == schemas.UTC_TS:
        micros = [None if t is None else int(t.timestamp()) * 1_000_000 + t.microsecond for t in values]
        return pl.Series(name, micros, dtype=pl.Int64).cast(dtype)
    return pl.Series(name, values, dtype=dtype)


def _quarantine(name: str, sha256: str, target: str, items: list[_RejectRow]) -> pl.DataFrame:
    cols: dict[str, Any] = dict(zip(_REJECT_COLS, zip(*items, strict=True), strict=True)) if items else {}
    fixed = {
        "source_file": name,
        "source_sha256": sha256,
        "target": target,
        "quarantined_at": dt.datetime.now(dt.UTC),
    }
    return pl.DataFrame(
        [_series(c, list(cols.get(c, ())) or fixed.get(c), len(items)) for c in schemas.QUARANTINE]
    )


_REJECT_COLS = ("source_row", "field", "rule", "reason", "raw")


class NseXbrlResultsReader:
    """NSE financial-results XBRL (``in-bse-fin`` taxonomy) into ``financial_facts``."""

    kind: str = "nse_xbrl_results"
    target: str = "financial_facts"

    def sniff(self, name: str, head: str) -> bool:
        return "http://www.xbrl.org/2003/instance" in head and "bseindia.com/xbrl/fin" in head

    def parse(self, name: str, data: bytes, *, sha256: str) -> ParsedFile:
        try:
            doc = _load(name, data)
            symbol, entity, consolidation = _identity(doc)
        except _RejectFileError as bad:
            head = data[:300].decode("utf-8", "replace")
            whole = _quarantine(name, sha256, self.target, [(None, None, bad.rule, bad.reason, head)])
            return ParsedFile(
                name, sha256, self.kind, self.target, 1, schemas.empty(schemas.FINANCIAL_FACTS), whole
            )
        rows, rejects, merged = _collect(doc)
        n = len(rows)
        when = broadcast_from_name(name)
        columns: dict[str, Any] = dict(zip(_COLS, zip(*rows, strict=True), strict=True)) if rows else {}
        known = when + _NAME_TIME_RESOLUTION if when else None
        fixed = {"symbol": symbol, "entity_id": entity, "consolidation": consolidation, "xbrl_sha256": sha256,
                 "xbrl_name": nse_xbrl_name(name), "broadcast_time": when, "knowledge_time": known,
                 "source_file": name}  # fmt: skip
        frame = pl.DataFrame(
            [_series(c, list(columns.get(c, ())) or fixed.get(c), n) for c in schemas.FINANCIAL_FACTS]
        )
        return ParsedFile(
            name=name,
            sha256=sha256,
            kind=self.kind,
            target=self.target,
            rows_total=n + len(rejects),
            frame=frame,
            rejects=_quarantine(name, sha256, self.target, rejects),
            meta={"facts": str(len(doc.facts)), "identical_repeats_merged": str(merged)},
        )


READERS: list[Reader] = [NseXbrlResultsReader()]

__all__ = [
    "CANONICAL",
    "READERS",
    "NseXbrlResultsReader",
    "broadcast_from_name",
    "nse_xbrl_name",
    "parser_name",
]
