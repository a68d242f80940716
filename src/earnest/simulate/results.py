"""The simulated market's quarterly results as NSE publishes them: results listings and XBRL filings.

:func:`write_results` writes, under ``results/`` in the market's folder::

    results/listings/<symbol>.json        NSE's results-listing JSON of one company (newest first)
    results/xbrl/<symbol>/DDMonYYYY_HHMM_INDAS_<id>_<id>_<ddmmyyyyhhmmss>.xml   one XBRL per filing
                                          (banks: ``BANKING_``; the prefix is the broadcast, IST)

The ``xbrl`` link of a listing record ends in the file's name without its ``DDMonYYYY_HHMM_``
prefix, which is how NSE's downloaders name files. ``<symbol>`` is the company's current symbol;
each record carries the symbol in force when it was filed (a renamed company's file holds both).

**Times.** Every row of ``SimMarket.results`` is a first release whose ``broadCastDate`` is
``announced_at`` in IST, so earnest's event layer finds the first tradable session the market
planted (``first_tradable_date``). Companies with subsidiaries (about half) file consolidated and
standalone results, the second a few seconds to minutes after the first but never across a
session boundary, so both filings share that session. Before the simulated period each company
has up to :data:`HISTORY_QUARTERS` earlier filings (none before its listing), at its habitual
time of year and day, so SUE has a history from the first simulated quarter.

**Figures** (:func:`simulate_filings` has them as a frame). Quarterly EPS follows a seasonal
random walk per company, ``EPS_q = EPS_{q-4} + drift + sigma * z_q``, where ``z_q`` is the
planted ``surprise_z`` of the quarter's announcement (random for other quarters): a positive
surprise is EPS above the seasonal random walk expectation, so SUE tracks the planted price
reaction. Net profit is EPS times the shares outstanding; PBT = net profit + tax, total income =
revenue + other income, expenses = total income - PBT (split into its lines), consolidated
profit = owners' share + non-controlling interests, basic EPS = owners' profit / shares, paid-up
capital = shares x face value. Shares move with the market's splits and bonuses, so EPS as filed
drops after one (as real EPS does). Money is whole lakhs (``decimals="-5"``) or, for the largest
companies, crores (``-7``), in INR; year-to-date columns sum the financial year's quarters.
Banks (sector "Banks") file the banking format (interest earned, provisions, NPAs).

**Twists**, as in NSE's real data: a few filings are revised days later (a second record for the
period with different tax and profit, a later broadcast, its own XBRL); one company's listing
holds two old-format (pre-XBRL) records, one with only a ``filingDate`` and one with no time at
all, which earnest quarantines (``no_broadcast_time``) rather than invent one; a fifth of the
Ind-AS files repeat NSE's bug of a year-to-date context carrying the quarter's dates (the
reporting-period facts say the truth), and bank files, like most real ones, never define their
base contexts.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from earnest.core.calendar import IST, UTC, nse_calendar
from earnest.simulate.universe import stream

if TYPE_CHECKING:
    from earnest.simulate.market import SimMarket

RESULTS_DIR = "results"
HISTORY_QUARTERS = 8
"""Filings before the simulated period per company: two years, enough for SUE's four differences."""
XBRL_URL = "https://nsearchives.nseindia.com/corporate/xbrl/"
_DETAIL_URL = "https://nsearchives.nseindia.com/archives/financial_results/financial_res_{}_{}.html"
_NS = "http://www.bseindia.com/xbrl/fin/{}/in-bse-fin"
_QUARTER_NAME = {6: "First Quarter", 9: "Second Quarter", 12: "Third Quarter", 3: "Fourth Quarter"}
_OLD_PERIODS = (dt.date(2006, 12, 31), dt.date(2007, 3, 31))


def _qidx(day: dt.date) -> int:
    return day.year * 4 + (day.month - 1) // 3


def _quarter_end(qi: int) -> dt.date:
    month = qi % 4 * 3 + 3
    return dt.date(qi // 4, month, 31 if month in (3, 12) else 30)


def _fy_start(period_end: dt.date) -> dt.date:
    return dt.date(period_end.year - (period_end.month < 4), 4, 1)


def _day(when: dt.datetime) -> dt.date:
    return when.astimezone(IST).date()


@dataclass(frozen=True)
class _Company:
    """One company's habits and accounts (money in rupees, EPS in rupees per share)."""

    iid: str
    isin: str
    symbol: str
    name: str
    bank: bool
    both: bool  # files consolidated and standalone results
    cons_first: bool
    always_audited: bool
    unit: int  # 10**5 (lakhs) or 10**7 (crores): the precision of money facts
    shares0: int  # shares outstanding before the simulated period (a multiple of 2 * unit)
    face_value: float  # final face value
    level: float  # quarterly EPS to start from
    sigma: float
    drift: float
    season: tuple[float, ...]
    margin: float
    other_income: float
    tax_rate: float
    nci: float
    standalone: float
    growth: float
    costs: tuple[float, ...]  # expense shares; banks: interest expended, provisions, NPA ratio
    listing_date: dt.date
    scrip: int
    actions: tuple[tuple[dt.date, float, bool], ...]  # (ex-date, price factor, is a split)
    rename: tuple[str, dt.date] | None

    def shares_at(self, day: dt.date) -> int:
        return round(self.shares0 / float(np.prod([pf for ex, pf, _ in self.actions if ex <= day])))

    def face_value_at(self, day: dt.date) -> float:
        return self.face_value / float(np.prod([pf for ex, pf, split in self.actions if split and ex > day]))

    def symbol_at(self, day: dt.date) -> str:
        return self.rename[0] if self.rename is not None and day < self.rename[1] else self.symbol

    @property
    def decimals(self) -> str:
        """XBRL ``decimals`` of money: ``-5`` (to the lakh) or ``-7`` (to the crore)."""
        return f"-{len(str(self.unit)) - 1}"


@dataclass
class _Filing:
    """One listing record; ``kind`` new, revised, old (no XBRL) or untimed (old, no time at all)."""

    iid: str
    symbol: str
    period_end: dt.date
    consolidated: bool
    when: dt.datetime | None  # broadcast, UTC
    audited: bool
    kind: str = "new"
    revise: float = 0.0  # revised: tax change as a fraction of PBT
    seq: int = 0
    xid: int = 0
    lags: tuple[int, int] = (20, 10)  # seconds to dissemination, seconds from filing to broadcast

    @property
    def has_xbrl(self) -> bool:
        return self.kind in ("new", "revised")


def _companies(market: SimMarket, rng: np.random.Generator) -> dict[str, _Company]:
    """Habits and accounts of every company, sized from its first price and its turnover."""
    stats = market.bars.group_by("instrument_id").agg(
        pl.col("close").sort_by("date").first().alias("price"), pl.col("turnover").median()
    )
    inst = market.instruments.join(stats, on="instrument_id", how="left").sort("instrument_id")
    n = inst.height
    price = inst.get_column("price").fill_null(100.0).to_numpy()
    sector = inst.get_column("sector_name").to_numpy()
    raw_shares = inst.get_column("turnover").fill_null(1e7).to_numpy() / 0.002 / price
    unit = np.where(raw_shares * price >= 5e11, 10**7, 10**5)
    level = price / np.clip(np.exp(rng.normal(np.log(22), 0.45, n)), 8, 80) / 4
    sigma = level * rng.uniform(0.05, 0.12, n)
    u = rng.uniform(size=(n, 12))
    mat = np.where(np.isin(sector, ["IT", "Financial Services"]), 0.0, 0.5 * u[:, 0])
    emp = np.where(sector == "IT", 0.45 + 0.15 * u[:, 1], 0.08 + 0.27 * u[:, 1])
    fin = np.where(sector == "Financial Services", 0.3 + 0.2 * u[:, 2], 0.01 + 0.05 * u[:, 2])
    costs = np.column_stack([mat, emp, fin, 0.02 + 0.06 * u[:, 3]])
    costs = costs * np.minimum(1.0, 0.9 / costs.sum(axis=1))[:, None]
    bank_costs = np.column_stack([0.5 + 0.12 * u[:, 4], 0.15 + 0.45 * u[:, 5], 0.01 + 0.04 * u[:, 6]])
    season = np.clip(1 + 0.12 * rng.normal(size=(n, 4)), 0.7, 1.3)
    scrips = rng.choice(np.arange(500001, 544999), size=n, replace=False)
    splits: dict[str, list[tuple[dt.date, float, bool]]] = {}
    for iid, ex, pf, kind in (
        market.actions.filter(pl.col("action_type") != "dividend")
        .select("instrument_id", "ex_date", "price_factor", "action_type")
        .iter_rows()
    ):
        splits.setdefault(iid, []).append((ex, pf, kind == "split"))
    renames = {
        row[0]: (row[1], row[2])
        for row in market.symbol_changes.join(inst, left_on="new_symbol", right_on="symbol")
        .select("instrument_id", "old_symbol", "change_date")
        .iter_rows()
    }
    out: dict[str, _Company] = {}
    for i, row in enumerate(inst.iter_rows(named=True)):
        bank = row["sector_name"] == "Banks"
        step = 2 * int(unit[i])
        out[row["instrument_id"]] = _Company(
            iid=row["instrument_id"], isin=row["isin"], symbol=row["symbol"], name=row["name"], bank=bank,
            both=bool(u[i, 7] < 0.55), cons_first=bool(u[i, 8] < 0.7), always_audited=bool(u[i, 9] < 0.12),
            unit=int(unit[i]), shares0=max(1, round(raw_shares[i] / step)) * step,
            face_value=float(row["face_value"]), level=float(level[i]), sigma=float(sigma[i]),
            drift=float(sigma[i] * 0.3 * u[i, 10]), season=tuple(season[i]),
            margin=float(0.15 + 0.1 * u[i, 11] if bank else 0.06 + 0.14 * u[i, 11]),
            other_income=float(0.005 + 0.045 * u[i, 4]), tax_rate=float(0.22 + 0.08 * u[i, 5]),
            nci=float(0.04 * u[i, 6]), standalone=float(0.6 + 0.35 * u[i, 3]),
            growth=float(0.005 + 0.02 * u[i, 2]),
            costs=tuple(bank_costs[i] if bank else costs[i]), listing_date=row["listing_date"],
            scrip=int(scrips[i]), actions=tuple(splits.get(row["instrument_id"], ())),
            rename=renames.get(row["instrument_id"]),
        )  # fmt: skip
    return out


def _when(f: _Filing) -> dt.datetime:
    """The broadcast time of a filing that has one (every filing with an XBRL file)."""
    if f.when is None:
        raise ValueError(f"filing {f.seq} of {f.symbol} has no broadcast time")
    return f.when


def _announcement(
    c: _Company, symbol: str, q: dt.date, when: dt.datetime, rng: np.random.Generator
) -> list[_Filing]:
    """The filings of one announcement: the first at ``when``, the other basis (if any) soon after,
    in the same tradable bucket (``when`` is on a whole minute and NSE's boundaries are too, so 20
    seconds later never crosses one)."""
    audited = q.month == 3 or c.always_audited
    first = c.cons_first if c.both else False
    out = [_Filing(c.iid, symbol, q, first, when, audited, lags=_lags(rng))]
    if c.both:
        cal = nse_calendar()
        later = when + dt.timedelta(seconds=int(rng.integers(40, 420)))
        if cal.first_tradable(later).date != cal.first_tradable(when).date:
            later = when + dt.timedelta(seconds=20)
        out.append(_Filing(c.iid, symbol, q, not first, later, audited, lags=_lags(rng)))
    return out


def _lags(rng: np.random.Generator) -> tuple[int, int]:
    return int(rng.integers(5, 46)), int(rng.integers(0, 40))


def _history(
    c: _Company, rows: list[tuple[dt.date, dt.datetime]], start: dt.datetime, n: int, rng: np.random.Generator
) -> list[_Filing]:
    """Filings of the ``n`` quarters before the company's first simulated one (none before it was
    listed): at the time of year and day of its simulated announcement of the same quarter,
    moved back a week at a time until before the period and before that first announcement."""
    first_q, first_when = rows[0]
    limit = min(start, first_when)
    out: list[_Filing] = []
    for back in range(1, n + 1):
        q = _quarter_end(_qidx(first_q) - back)
        if q < c.listing_date:
            break
        ref = next(((p, w) for p, w in rows if p.month == q.month), rows[0])
        local = ref[1].astimezone(IST)
        if ref[0].month == q.month:
            years = ref[0].year - q.year
            local = local.replace(year=local.year - years, day=min(local.day, 28 if local.month == 2 else 31))
        else:
            local -= dt.timedelta(days=(ref[0] - q).days)
        when = local.astimezone(UTC)
        while when >= limit:
            when -= dt.timedelta(days=7)
        out.extend(_announcement(c, c.symbol_at(_day(when)), q, when, rng))
    return out


def _revisions(
    current: list[_Filing],
    companies: dict[str, _Company],
    start: dt.datetime,
    end: dt.datetime,
    rng: np.random.Generator,
) -> list[_Filing]:
    """A few simulated first releases revised 4 to 21 days later (in the evening), well before the
    company's next filing on that basis: a second record for the period with different numbers."""
    firsts = sorted(current, key=lambda f: (f.iid, f.consolidated, f.period_end))
    cands = []
    for k, f in enumerate(firsts):
        g = firsts[k + 1] if k + 1 < len(firsts) else None
        nxt = (
            g.when
            if g is not None and g.when is not None and (g.iid, g.consolidated) == (f.iid, f.consolidated)
            else end
        )
        ok = f.when is not None and f.when >= start and nxt - f.when > dt.timedelta(days=30)
        if ok and companies[f.iid].rename is None:
            cands.append(f)
    picks = rng.choice(len(cands), size=min(len(cands), max(2, len(companies) // 50)), replace=False)
    out = []
    for f in (cands[int(k)] for k in sorted(picks)):
        day = _day(f.when or start) + dt.timedelta(days=int(rng.integers(4, 22)))
        clock = dt.time(int(rng.integers(17, 21)), int(rng.integers(0, 60)), int(rng.integers(0, 60)))
        when = dt.datetime.combine(day, clock, IST).astimezone(UTC)
        sign = 1.0 if rng.random() < 0.5 else -1.0
        tax_change = sign * float(rng.uniform(0.03, 0.08))
        revised = _Filing(
            f.iid, f.symbol, f.period_end, f.consolidated, when, f.audited, "revised", tax_change
        )
        out.append(revised)
    return out


def _old_records(companies: dict[str, _Company], rng: np.random.Generator) -> list[_Filing]:
    """Two pre-XBRL records of the longest-listed company: one with only a ``filingDate``, one
    with no time at all (as 596 of NSE's 7,968 sample records)."""
    old = sorted((c for c in companies.values() if c.rename is None), key=lambda c: c.listing_date)
    if not old or old[0].listing_date > dt.date(2006, 6, 30):
        return []
    c = old[0]
    day = _OLD_PERIODS[1] + dt.timedelta(days=int(rng.integers(20, 30)))
    when = dt.datetime.combine(day, dt.time(int(rng.integers(16, 19)), int(rng.integers(0, 60))), IST)
    return [
        _Filing(c.iid, c.symbol, _OLD_PERIODS[0], False, None, False, "untimed"),
        _Filing(c.iid, c.symbol, _OLD_PERIODS[1], False, when.astimezone(UTC), True, "old", lags=(0, 0)),
    ]


def _plan(
    market: SimMarket, companies: dict[str, _Company], history: int, rng: np.random.Generator
) -> list[_Filing]:
    """Every listing record, with NSE's sequence numbers in broadcast order."""
    start = dt.datetime.combine(market.sessions[0], dt.time(0), IST).astimezone(UTC)
    end = dt.datetime.combine(market.sessions[-1], dt.time(23, 59), IST).astimezone(UTC)
    rows: dict[str, list[tuple[dt.date, dt.datetime]]] = {}
    filings: list[_Filing] = []
    for iid, symbol, q, when in (
        market.results.sort("announced_at", "instrument_id")
        .select("instrument_id", "symbol", "period_end", "announced_at")
        .iter_rows()
    ):
        filings += _announcement(companies[iid], symbol, q, when, rng)
        rows.setdefault(iid, []).append((q, when))
    current = list(filings)
    for iid in sorted(rows):
        filings += _history(companies[iid], sorted(rows[iid]), start, history, rng)
    filings += _revisions(current, companies, start, end, rng)
    old = _old_records(companies, rng)
    filings.sort(key=lambda f: (f.when is None, f.when, f.iid, f.consolidated))
    seq = 700_000 + np.cumsum(rng.integers(1, 400, size=len(filings)))
    xid = 60_000 + np.cumsum(rng.integers(1, 30, size=len(filings)))
    for f, s, x in zip(filings, seq, xid, strict=True):
        f.seq, f.xid = int(s), int(x)
    for k, f in enumerate(old):
        f.seq = 31_001 + 10_000 * k
    return filings + old


def _statements(
    c: _Company, qi0: int, z: np.ndarray, rng: np.random.Generator
) -> dict[bool, dict[str, np.ndarray]]:
    """Every quarter's statement lines from quarter index ``qi0`` on, in units of ``c.unit``, by
    basis (True: consolidated). ``z`` is each quarter's standardised earnings surprise."""
    n = len(z)
    season = np.asarray(c.season)[np.arange(qi0, qi0 + n) % 4]
    eps = np.empty(n)
    for j in range(n):
        eps[j] = (c.level * season[j] if j < 4 else eps[j - 4] + c.drift) + c.sigma * z[j]
    owners = eps * c.shares0
    trend = (1 + c.growth) ** np.arange(n) * np.exp(rng.normal(0, 0.03, n) + 0.02 * z)
    revenue = c.level * c.shares0 / c.margin * np.sqrt(season) * trend
    other = revenue * c.other_income * np.exp(rng.normal(0, 0.15, n))
    oci = 0.02 * np.abs(owners) * rng.normal(0, 1, n)
    npa = np.exp(rng.normal(0, 0.1, n))
    if not c.both:
        return {False: _lines(c, revenue, other, owners, 0 * owners, oci, npa)}
    f, noise = c.standalone, 1 + rng.normal(0, 0.02, n)
    return {
        True: _lines(c, revenue, other, owners, c.nci * np.abs(owners), oci, npa),
        False: _lines(c, f * revenue, f * other, f * owners * noise, 0 * owners, f * oci, npa),
    }


def _lines(
    c: _Company, revenue: np.ndarray, other: np.ndarray, owners: np.ndarray, nci: np.ndarray, oci: np.ndarray,
    npa: np.ndarray,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Statement lines that add up exactly in whole units: total income = revenue + other income,
    tax = PBT - net profit, expenses = total income - PBT (banks: less provisions)."""

    def units(x: np.ndarray) -> np.ndarray:
        return np.rint(x / c.unit).astype(np.int64)

    total = owners + nci
    d = {"rev": units(revenue), "oi": units(other), "nci": units(nci), "np": units(total), "oci": units(oci)}
    d["pbt"] = units(total / (1 - c.tax_rate))
    d["ti"], d["owners"] = d["rev"] + d["oi"], d["np"] - d["nci"]
    d["tax"], d["tci"] = d["pbt"] - d["np"], d["np"] + d["oci"]
    d["ctax"] = np.rint(d["tax"] * 0.85).astype(np.int64)
    d["dtax"] = d["tax"] - d["ctax"]
    if c.bank:
        expended, provisions, ratio = c.costs
        d["prov"] = units(np.abs(total) / (1 - c.tax_rate) * provisions)
        d["opp"] = d["pbt"] + d["prov"]
        d["exp"] = d["ti"] - d["opp"]
        d["ie"] = np.rint(d["rev"] * expended).astype(np.int64)
        d["opex"] = d["exp"] - d["ie"]
        d["gnpa"] = units(revenue * 44 * ratio * npa)  # advances: about 44 quarters of interest
        d["nnpa"] = np.rint(d["gnpa"] * 0.3).astype(np.int64)
    else:
        d["exp"] = d["ti"] - d["pbt"]
        parts = [np.rint(d["exp"] * s).astype(np.int64) for s in c.costs]
        d["mat"], d["emp"], d["fin"], d["dep"] = parts
        d["other"] = d["exp"] - sum(parts)
    return d


@dataclass(frozen=True)
class _Figures:
    """One filing's quarter and year-to-date lines (units), with shares and face value then."""

    quarter: dict[str, int]
    ytd: dict[str, int]
    unit: int
    shares: int
    face_value: float

    def eps(self, lines: dict[str, int]) -> float:
        return round(lines["owners"] * self.unit / self.shares, 2)


def _figures(
    c: _Company,
    f: _Filing,
    lines: dict[bool, dict[str, np.ndarray]],
    qi0: int,
    revised: list[tuple[_Filing, int]],
) -> _Figures:
    """The figures of filing ``f``: the quarter, the financial year to date, and any revision
    (tax added, profit cut by ``delta`` units) known when ``f`` was broadcast."""
    d = lines[f.consolidated]
    k = _qidx(f.period_end) - qi0
    k0 = _qidx(_fy_start(f.period_end)) - qi0
    quarter = {key: int(v[k]) for key, v in d.items()}
    ytd = {key: int(v[k0 : k + 1].sum()) for key, v in d.items()}
    for r, delta in revised:
        j = _qidx(r.period_end) - qi0
        if r.consolidated == f.consolidated and k0 <= j <= k and r.when and f.when and r.when <= f.when:
            for fig in [quarter, ytd] if j == k else [ytd]:
                for key, sign in (("tax", 1), ("ctax", 1), ("np", -1), ("owners", -1), ("tci", -1)):
                    fig[key] += sign * delta
    day = _day(_when(f))
    return _Figures(quarter, ytd, c.unit, c.shares_at(day), c.face_value_at(day))


# ---- XBRL ----------------------------------------------------------------------------------------

_INDAS_MONEY = (
    ("RevenueFromOperations", "rev"), ("OtherIncome", "oi"), ("Income", "ti"),
    ("CostOfMaterialsConsumed", "mat"), ("EmployeeBenefitExpense", "emp"), ("FinanceCosts", "fin"),
    ("DepreciationDepletionAndAmortisationExpense", "dep"), ("OtherExpenses", "other"), ("Expenses", "exp"),
    ("ProfitBeforeExceptionalItemsAndTax", "pbt"), ("ExceptionalItemsBeforeTax", ""), ("ProfitBeforeTax", "pbt"),
    ("CurrentTax", "ctax"), ("DeferredTax", "dtax"), ("TaxExpense", "tax"),
    ("ProfitLossForPeriodFromContinuingOperations", "np"), ("ProfitLossFromDiscontinuedOperationsAfterTax", ""),
    ("ProfitLossForPeriod", "np"), ("OtherComprehensiveIncomeNetOfTaxes", "oci"),
    ("ComprehensiveIncomeForThePeriod", "tci"),
)  # fmt: skip
_BANK_MONEY = (
    ("InterestEarned", "rev"), ("OtherIncome", "oi"), ("Income", "ti"), ("InterestExpended", "ie"),
    ("OperatingExpenses", "opex"), ("ExpenditureExcludingProvisionsAndContingencies", "exp"),
    ("OperatingProfitBeforeProvisionAndContingencies", "opp"), ("ProvisionsOtherThanTaxAndContingencies", "prov"),
    ("ExceptionalItems", ""), ("ProfitLossFromOrdinaryActivitiesBeforeTax", "pbt"), ("TaxExpense", "tax"),
    ("ProfitLossFromOrdinaryActivitiesAfterTax", "np"), ("ProfitLossForThePeriod", "np"),
)  # fmt: skip
_OWNERS = {
    False: (("ProfitOrLossAttributableToOwnersOfParent", "owners"),
            ("ProfitOrLossAttributableToNonControllingInterests", "nci")),
    True: (("ProfitLossAfterTaxesMinorityInterestAndShareOfProfitLossOfAssociates", "owners"),
           ("MinorityInterest", "nci")),
}  # fmt: skip
_EPS = {
    False: ("BasicEarningsLossPerShareFromContinuingOperations", "DilutedEarningsLossPerShareFromContinuingOperations",
            "BasicEarningsLossPerShareFromContinuingAndDiscontinuedOperations",
            "DilutedEarningsLossPerShareFromContinuingAndDiscontinuedOperations"),
    True: ("BasicEarningsPerShareBeforeExtraordinaryItems", "DilutedEarningsPerShareBeforeExtraordinaryItems",
           "BasicEarningsPerShareAfterExtraordinaryItems", "DilutedEarningsPerShareAfterExtraordinaryItems"),
}  # fmt: skip
_UNITS = (
    '<xbrli:unit id="INR"><xbrli:measure>iso4217:INR</xbrli:measure></xbrli:unit>\n'
    '<xbrli:unit id="INRPerShare"><xbrli:divide><xbrli:unitNumerator><xbrli:measure>iso4217:INR</xbrli:measure>'
    "</xbrli:unitNumerator><xbrli:unitDenominator><xbrli:measure>xbrli:shares</xbrli:measure>"
    "</xbrli:unitDenominator></xbrli:divide></xbrli:unit>\n"
    '<xbrli:unit id="pure"><xbrli:measure>xbrli:pure</xbrli:measure></xbrli:unit>'
)


def _quarter_start(period_end: dt.date) -> dt.date:
    return _quarter_end(_qidx(period_end) - 1) + dt.timedelta(days=1)


def _xbrl_names(c: _Company, f: _Filing) -> tuple[str, str]:
    """(file name, NSE's name): ``INDAS_<id>_<id>_<ddmmyyyyhhmmss>.xml`` (12-hour clock, as NSE
    writes it), the file name with the downloader's ``DDMonYYYY_HHMM_`` broadcast prefix."""
    local = _when(f).astimezone(IST)
    nse = f"{'BANKING' if c.bank else 'INDAS'}_{f.xid}_{f.seq + 150_000}_{local:%d%m%Y%I%M%S}.xml"
    return f"{local:%d%b%Y_%H%M}_{nse}", nse


def _context(cid: str, symbol: str, start: dt.date, end: dt.date, member: str = "") -> str:
    scenario = (
        f'<xbrli:scenario><xbrldi:explicitMember dimension="in-bse-fin:ReportableSegmentsAxis">'
        f"in-bse-fin:{member}</xbrldi:explicitMember></xbrli:scenario>"
        if member
        else ""
    )
    return (
        f'<xbrli:context id="{cid}"><xbrli:entity><xbrli:identifier scheme="http://www.nseindia.com/NSESymbol">'
        f"{symbol}</xbrli:identifier></xbrli:entity><xbrli:period><xbrli:startDate>{start}</xbrli:startDate>"
        f"<xbrli:endDate>{end}</xbrli:endDate></xbrli:period>{scenario}</xbrli:context>"
    )


def _fact(concept: str, ctx: str, value: object, unit: str = "", decimals: str = "") -> str:
    attrs = f' unitRef="{unit}" decimals="{decimals}"' if unit else ""
    return f'<in-bse-fin:{concept} contextRef="{ctx}"{attrs}>{value}</in-bse-fin:{concept}>'


def _column(c: _Company, f: _Filing, fig: _Figures, col: str, start: dt.date) -> list[str]:
    """The facts of one column (``One`` quarter, ``Four`` year to date) of a filing."""
    ctx, lines = f"{col}D", fig.quarter if col == "One" else fig.ytd
    out = [
        _fact("DateOfStartOfReportingPeriod", ctx, start),
        _fact("DateOfEndOfReportingPeriod", ctx, f.period_end),
        _fact("WhetherResultsAreAuditedOrUnaudited", ctx, "Audited" if f.audited else "Unaudited"),
        _fact(
            "NatureOfReportStandaloneConsolidated", ctx, "Consolidated" if f.consolidated else "Standalone"
        ),
    ]
    dec = c.decimals
    money = (_BANK_MONEY if c.bank else _INDAS_MONEY) + (_OWNERS[c.bank] if f.consolidated else ())
    paid = round(fig.shares * fig.face_value / c.unit)
    for concept, key in (*money, ("PaidUpValueOfEquityShareCapital", "paid")):
        units = paid if key == "paid" else lines.get(key, 0)
        out.append(_fact(concept, ctx, f"{units * c.unit}.00", "INR", dec))
    out.append(_fact("FaceValueOfEquityShareCapital", ctx, f"{fig.face_value:g}", "INRPerShare", "INF"))
    eps = fig.eps(lines)
    diluted = round(eps * 0.998, 2) if eps > 0 else eps
    for concept, value in zip(_EPS[c.bank], (eps, diluted, eps, diluted), strict=True):
        out.append(_fact(concept, ctx, f"{value:.2f}", "INRPerShare", "INF"))
    if c.bank and col == "One":
        advances = lines["rev"] * 44
        out += [
            _fact("GrossNonPerformingAssets", ctx, f"{lines['gnpa'] * c.unit}.00", "INR", dec),
            _fact("NonPerformingAssets", ctx, f"{lines['nnpa'] * c.unit}.00", "INR", dec),
            _fact("PercentageOfGrossNpa", ctx, f"{lines['gnpa'] / advances:.4f}", "pure", "INF"),
            _fact(
                "PercentageOfNpa", ctx, f"{lines['nnpa'] / (advances - lines['gnpa'] + lines['nnpa']):.4f}"
            ),
        ]
    return out


def _xbrl(c: _Company, f: _Filing, fig: _Figures) -> str:
    """The XBRL instance of one filing (``in-bse-fin`` taxonomy, Ind-AS or banking entry point)."""
    version, entry = ("2019-09-30", "banking") if c.bank else ("2020-03-31", "Ind-AS")
    pe, q0, fy0 = f.period_end, _quarter_start(f.period_end), _fy_start(f.period_end)
    day = _day(_when(f))
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<xbrli:xbrl xmlns:in-bse-fin="{_NS.format(version)}" xmlns:link="http://www.xbrl.org/2003/linkbase" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:iso4217="http://www.xbrl.org/2003/iso4217" '
        'xmlns:xbrldi="http://xbrl.org/2006/xbrldi" xmlns:xbrli="http://www.xbrl.org/2003/instance">',
        f'<link:schemaRef xlink:type="simple" xlink:href="{entry}_entry_point_{version}.xsd"/>',
    ]
    if c.bank:  # like most real banking files: the base contexts OneD/FourD are used, never defined
        segment = "ReportableSegmentRevenue01"
        out += [
            _context(f"{col}{segment}D", f.symbol, start, pe, f"{col}{segment}Member")
            for col, start in (("One", q0), ("Four", fy0))
        ]
    else:  # NSE's utility often writes the quarter's dates into the year-to-date context
        out += [
            _context("OneD", f.symbol, q0, pe),
            _context("FourD", f.symbol, q0 if f.xid % 5 == 0 else fy0, pe),
        ]
    out += [
        _UNITS,
        _fact("ScripCode", "OneD", c.scrip),
        _fact("Symbol", "OneD", f.symbol),
        _fact("MSEISymbol", "OneD", "NOTLISTED"),
        _fact("NameOfTheCompany", "OneD", c.name),
        _fact("ClassOfSecurity", "OneD", "Equity"),
        _fact("DateOfStartOfFinancialYear", "OneD", fy0),
        _fact("DateOfEndOfFinancialYear", "OneD", dt.date(fy0.year + 1, 3, 31)),
        _fact("DateOfBoardMeetingWhenFinancialResultsWereApproved", "OneD", day),
        _fact("DescriptionOfPresentationCurrency", "OneD", "INR"),
        _fact("LevelOfRoundingUsedInFinancialStatements", "OneD", "Crores" if c.unit > 10**5 else "Lakhs"),
        _fact("ReportingQuarter", "OneD", _QUARTER_NAME[pe.month].replace("Quarter", "quarter")),
        *_column(c, f, fig, "One", q0),
        *_column(c, f, fig, "Four", fy0),
    ]
    if c.bank:
        dec = c.decimals
        for col, lines in (("One", fig.quarter), ("Four", fig.ytd)):
            value = f"{lines['ti'] * c.unit}.00"
            out.append(_fact("SegmentRevenue", f"{col}ReportableSegmentRevenue01D", value, "INR", dec))
    out.append("</xbrli:xbrl>")
    return "\n".join(out) + "\n"


# ---- listings and files --------------------------------------------------------------------------


def _record(c: _Company, f: _Filing, xbrl: str | None) -> dict[str, Any]:
    """One record of NSE's results-listing JSON, keys in NSE's order (times IST)."""
    pe, q0, fy0 = f.period_end, _quarter_start(f.period_end), _fy_start(f.period_end)
    old = xbrl is None
    local = f.when.astimezone(IST) if f.when is not None else None
    audited, cons = ("A" if f.audited else "U"), ("C" if f.consolidated else "N")
    re_ind = "-" if old else ("A" if c.bank else "N")
    bank = "B" if c.bank else "N"
    seen = None if local is None or old else local + dt.timedelta(seconds=f.lags[0])
    filed = None if local is None else local - dt.timedelta(seconds=f.lags[1])
    period = f"{q0:%d-%b-%Y}{pe:%d-%b-%Y}Q{(pe.month + 8) % 12 // 3 + 1}"
    return {
        "symbol": f.symbol, "companyName": c.name, "industry": "-",
        "audited": "Audited" if f.audited else "Un-Audited", "cumulative": "Non-cumulative",
        "indAs": "Non-Ind-AS" if c.bank or old else "Ind-AS New", "reInd": re_ind, "period": "Quarterly",
        "relatingTo": _QUARTER_NAME[pe.month],
        "financialYear": "-" if old else f"{fy0:%d-%b-%Y} To {dt.date(fy0.year + 1, 3, 31):%d-%b-%Y}",
        "filingDate": "-" if filed is None else f"{filed:%d-%b-%Y %H:%M}", "seqNumber": str(f.seq),
        "bank": bank, "fromDate": f"{q0:%d-%b-%Y}", "toDate": f"{pe:%d-%b-%Y}",
        "oldNewFlag": None if old or c.bank else "N", "xbrl": XBRL_URL + (xbrl or "-"),
        "format": "Old" if old else "New", "params": f"{period}{audited}{bank}N{cons}{re_ind}E{f.symbol}",
        "resultDescription": None,
        "resultDetailedDataLink": _DETAIL_URL.format(f.symbol, f.seq) if f.kind == "old" else None,
        "exchdisstime": None if seen is None else f"{seen:%d-%b-%Y %H:%M:%S}",
        "difference": "::" if seen is None else f"00:00:{f.lags[0]:02d}",
        "consolidated": "Consolidated" if f.consolidated else "Non-Consolidated",
        "broadCastDate": None if seen is None or local is None else f"{local:%d-%b-%Y %H:%M:%S}",
        "isin": c.isin,
    }  # fmt: skip


def _build(market: SimMarket, history: int) -> list[tuple[_Company, _Filing, _Figures | None]]:
    """Every listing record with its company and figures (None: no XBRL), company by company."""
    rng = stream(market.config.seed, "results_files")
    companies = _companies(market, rng)
    by: dict[str, list[_Filing]] = {}
    for f in _plan(market, companies, history, rng):
        by.setdefault(f.iid, []).append(f)
    planted = {
        (iid, q): z
        for iid, q, z in market.results.select("instrument_id", "period_end", "surprise_z").iter_rows()
    }
    out: list[tuple[_Company, _Filing, _Figures | None]] = []
    for iid in sorted(by):
        c, filings = companies[iid], by[iid]
        with_xbrl = [f for f in filings if f.has_xbrl]
        qi0 = _qidx(_fy_start(min((f.period_end for f in with_xbrl), default=dt.date(2000, 3, 31))))
        n = _qidx(max((f.period_end for f in with_xbrl), default=dt.date(2000, 3, 31))) - qi0 + 1
        z = rng.standard_t(4, size=max(n, 0)) / np.sqrt(2.0)
        for j in range(n):
            z[j] = planted.get((iid, _quarter_end(qi0 + j)), z[j])
        lines = _statements(c, qi0, z, rng) if with_xbrl else {}
        revised = []
        for r in (r for r in with_xbrl if r.kind == "revised"):
            pbt = lines[r.consolidated]["pbt"][_qidx(r.period_end) - qi0]
            revised.append((r, int(np.sign(r.revise)) * max(1, round(abs(r.revise * pbt)))))
        out += [(c, f, _figures(c, f, lines, qi0, revised) if f.has_xbrl else None) for f in filings]
    return out


def write_results(market: SimMarket, folder: Path, *, history_quarters: int = HISTORY_QUARTERS) -> list[Path]:
    """Write the market's results listings and XBRL filings under ``folder/results``; returns the
    paths written. Deterministic: the same market always gives the same bytes."""
    base = folder / RESULTS_DIR
    (base / "listings").mkdir(parents=True, exist_ok=True)
    records: dict[str, tuple[_Company, list[tuple[_Filing, dict[str, Any]]]]] = {}
    paths: list[Path] = []
    for c, f, fig in _build(market, history_quarters):
        nse = None
        if fig is not None:
            name, nse = _xbrl_names(c, f)
            path = base / "xbrl" / c.symbol.lower() / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_xbrl(c, f, fig), encoding="utf-8")
            paths.append(path)
        records.setdefault(c.iid, (c, []))[1].append((f, _record(c, f, nse)))
    for c, recs in records.values():
        recs.sort(key=lambda r: (r[0].when is None, -(r[0].when.timestamp() if r[0].when else 0), -r[0].seq))
        path = base / "listings" / f"{c.symbol.lower()}.json"
        path.write_text(
            json.dumps([r for _, r in recs], indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        paths.append(path)
    return paths


def simulate_filings(market: SimMarket, *, history_quarters: int = HISTORY_QUARTERS) -> pl.DataFrame:
    """The listing records :func:`write_results` writes, one row each, with the figures their XBRL
    files carry (null without XBRL): the ground truth of the simulated filings.

    Columns: ``instrument_id``, ``symbol`` (in force when filed), ``period_end``, ``consolidated``,
    ``kind`` (new, revised, old: no XBRL, untimed: no time either), ``broadcast_time`` (UTC),
    ``seq_number``, ``xbrl_name`` (NSE's name, as in the listing's link), quarter figures in rupees
    ``revenue``, ``total_income``, ``profit_before_tax``, ``tax_expense``, ``net_profit``,
    ``net_profit_owners``, ``eps_basic`` (rupees per share), and ``shares`` and ``face_value`` then.
    """
    rows = []
    for c, f, fig in _build(market, history_quarters):
        q = fig.quarter if fig is not None else {}
        money = [
            None if fig is None else float(q[k] * c.unit) for k in ("rev", "ti", "pbt", "tax", "np", "owners")
        ]
        rows.append((
            c.iid, f.symbol, f.period_end, f.consolidated, f.kind, f.when, f.seq,
            None if fig is None else _xbrl_names(c, f)[1], *money,
            None if fig is None else fig.eps(q), None if fig is None else fig.shares,
            None if fig is None else fig.face_value,
        ))  # fmt: skip
    schema: dict[str, Any] = {
        "instrument_id": pl.Utf8, "symbol": pl.Utf8, "period_end": pl.Date, "consolidated": pl.Boolean,
        "kind": pl.Utf8, "broadcast_time": pl.Datetime("us", "UTC"), "seq_number": pl.Int64, "xbrl_name": pl.Utf8,
        "revenue": pl.Float64, "total_income": pl.Float64, "profit_before_tax": pl.Float64,
        "tax_expense": pl.Float64, "net_profit": pl.Float64, "net_profit_owners": pl.Float64,
        "eps_basic": pl.Float64, "shares": pl.Int64, "face_value": pl.Float64,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row")


__all__ = ["HISTORY_QUARTERS", "RESULTS_DIR", "XBRL_URL", "simulate_filings", "write_results"]
