"""Where NSE and BSE publish each archive file: a dated table of URL rules, kept as data.

The exchanges move their files every few years. Everything earnest knows about *where* a file
lives is in :data:`PRODUCTS` below, so a move is a one-line fix here (add a rule with a new
``first`` date and close the old one with ``last``), never a change to the downloader.

A *product* is one kind of file (the CM bhavcopy, the PR bundle, ...). It has one or more
:class:`UrlRule`\\ s, each valid for a closed range of session dates; the rule whose range holds a
session gives that session's URL. Paths are templates filled from the session date with these
locale-independent fields:

====================  =========================  ====================
field                 meaning                    2024-07-05 gives
====================  =========================  ====================
``{YYYY}``            year, four digits          ``2024``
``{YY}``              year, two digits           ``24``
``{MM}``              month, two digits          ``07``
``{MON}``             month, English, upper      ``JUL``
``{DD}``              day of month, two digits   ``05``
====================  =========================  ====================

History worth knowing:

* NSE served its archives from ``www1.nseindia.com`` (and ``archives.nseindia.com``) until 2023;
  both are retired and the same paths now live on ``https://nsearchives.nseindia.com``.
* On 2024-07-08 NSE replaced the legacy CM bhavcopy (``cmDDMONYYYYbhav.csv.zip``, last session
  2024-07-05) with the UDiFF "common bhavcopy" (``BhavCopy_NSE_CM_0_0_0_YYYYMMDD_F_0000.csv.zip``).
* BSE moved to UDiFF under the same SEBI circular. The legacy ``EQDDMMYY_CSV.ZIP`` rule is closed
  at 2024-07-05 here on that assumption; earnest has no reader for the BSE UDiFF file yet, so its
  rule is listed for completeness (the ingest reports it as not recognised).
* *Snapshot* products (the equity master, symbol changes) have no date in their URL: the exchange
  serves the current list. They are fetched once per run and cached under the day they were
  fetched, which is also the date reported for them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

from earnest.core.errors import SourceError

NSE_ARCHIVES: Final = "https://nsearchives.nseindia.com"
"""Default base URL of NSE's archives (``www1.nseindia.com`` was retired in 2023)."""
BSE_ARCHIVES: Final = "https://www.bseindia.com"
"""Default base URL of BSE's downloads."""

UDIFF_CUTOVER: Final = dt.date(2024, 7, 8)
"""First session of NSE's UDiFF CM bhavcopy; 2024-07-05 was the last legacy bhavcopy."""

_MONTHS: Final = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


class Host(StrEnum):
    """Which exchange serves a file; each has its own configurable base URL and referer."""

    NSE = "nse"
    BSE = "bse"


REFERERS: Final = MappingProxyType(
    {Host.NSE: "https://www.nseindia.com/", Host.BSE: "https://www.bseindia.com/"}
)
"""The page a browser would come from; NSE's edge rejects archive requests without a referer."""


@dataclass(frozen=True, slots=True)
class UrlRule:
    """One URL template for a product, valid for sessions ``first``..``last`` (None = open end)."""

    host: Host
    path: str
    first: dt.date | None = None
    last: dt.date | None = None
    note: str = ""

    def covers(self, day: dt.date) -> bool:
        """Whether this rule gives the URL for session ``day``."""
        return (self.first is None or day >= self.first) and (self.last is None or day <= self.last)

    def fill(self, day: dt.date) -> str:
        """The path for session ``day`` (templates without fields come back unchanged)."""
        return self.path.format(
            YYYY=f"{day.year:04d}",
            YY=f"{day.year % 100:02d}",
            MM=f"{day.month:02d}",
            MON=_MONTHS[day.month - 1],
            DD=f"{day.day:02d}",
        )


@dataclass(frozen=True, slots=True)
class Product:
    """A kind of archive file. ``snapshot`` products have no date in their URL (see module doc)."""

    name: str
    description: str
    rules: tuple[UrlRule, ...]
    snapshot: bool = False

    def rule_for(self, day: dt.date) -> UrlRule | None:
        """The rule in force on ``day``, or None when the exchange published no such file then."""
        for rule in self.rules:
            if rule.covers(day):
                return rule
        return None


def _product(name: str, description: str, *rules: UrlRule, snapshot: bool = False) -> Product:
    return Product(name, description, rules, snapshot)


_ALL: Final = (
    _product(
        "bhavcopy",
        "NSE capital-market (CM) bhavcopy: daily OHLC, volume, value, trades per security",
        UrlRule(
            Host.NSE,
            "/content/historical/EQUITIES/{YYYY}/{MON}/cm{DD}{MON}{YYYY}bhav.csv.zip",
            last=dt.date(2024, 7, 5),
            note="legacy 13-column bhavcopy; discontinued after 2024-07-05",
        ),
        UrlRule(
            Host.NSE,
            "/content/cm/BhavCopy_NSE_CM_0_0_0_{YYYY}{MM}{DD}_F_0000.csv.zip",
            first=UDIFF_CUTOVER,
            note="UDiFF common bhavcopy",
        ),
    ),
    _product(
        "full",
        "NSE sec_bhavdata_full: OHLC, VWAP and delivery quantity/percentage per security",
        UrlRule(Host.NSE, "/products/content/sec_bhavdata_full_{DD}{MM}{YYYY}.csv"),
    ),
    _product(
        "pr",
        "NSE daily PR bundle (zip): corporate actions bc*.csv, board meetings, band hitters, ...",
        UrlRule(Host.NSE, "/archives/equities/bhavcopy/pr/PR{DD}{MM}{YY}.zip"),
    ),
    _product(
        "indices",
        "NSE daily closes of all indices (ind_close_all)",
        UrlRule(Host.NSE, "/content/indices/ind_close_all_{DD}{MM}{YYYY}.csv"),
    ),
    _product(
        "bands",
        "NSE price bands (sec_list), the dated copy for the session",
        UrlRule(Host.NSE, "/content/equities/sec_list_{DD}{MM}{YYYY}.csv"),
    ),
    _product(
        "equity_master",
        "NSE equity master EQUITY_L.csv (symbol, ISIN, listing date): the current list",
        UrlRule(Host.NSE, "/content/equities/EQUITY_L.csv"),
        snapshot=True,
    ),
    _product(
        "symbol_changes",
        "NSE symbolchange.csv (old symbol, new symbol, date): the current list",
        UrlRule(Host.NSE, "/content/equities/symbolchange.csv"),
        snapshot=True,
    ),
    _product(
        "bse_bhavcopy",
        "BSE equity bhavcopy (scrip-code keyed)",
        UrlRule(
            Host.BSE,
            "/download/BhavCopy/Equity/EQ{DD}{MM}{YY}_CSV.ZIP",
            last=dt.date(2024, 7, 5),
            note="legacy EQDDMMYY format",
        ),
        UrlRule(
            Host.BSE,
            "/download/BhavCopy/Equity/BhavCopy_BSE_CM_0_0_0_{YYYY}{MM}{DD}_F_0000.CSV",
            first=UDIFF_CUTOVER,
            note="BSE UDiFF; no earnest reader yet",
        ),
    ),
)

PRODUCTS: Final = MappingProxyType({p.name: p for p in _ALL})
"""Every product earnest can download, by name. Edit here when an exchange moves a file."""

DEFAULT_PRODUCTS: Final = ("bhavcopy", "full", "pr")
"""What ``earnest ingest nse`` fetches when no ``--product`` is given."""


def product(name: str) -> Product:
    """The product called ``name``; an unknown name is a configuration error."""
    try:
        return PRODUCTS[name]
    except KeyError:
        raise SourceError(
            f"unknown download product {name!r}",
            remedy=f"choose from: {', '.join(PRODUCTS)}",
            field="product",
        ) from None


def check_base_url(url: str, *, what: str) -> str:
    """``url`` without a trailing slash, after checking it is an absolute http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SourceError(
            f"{what} {url!r} is not an absolute http(s) URL",
            remedy="set it like https://nsearchives.nseindia.com (no path needed)",
            field=what,
        )
    return url.rstrip("/")


def build_url(
    name: str, day: dt.date, *, nse_base: str = NSE_ARCHIVES, bse_base: str = BSE_ARCHIVES
) -> str | None:
    """The URL of product ``name`` for session ``day``, or None when no rule covers that day.

    >>> build_url("bhavcopy", dt.date(2024, 7, 5))
    'https://nsearchives.nseindia.com/content/historical/EQUITIES/2024/JUL/cm05JUL2024bhav.csv.zip'
    >>> build_url("bhavcopy", dt.date(2024, 7, 8))
    'https://nsearchives.nseindia.com/content/cm/BhavCopy_NSE_CM_0_0_0_20240708_F_0000.csv.zip'
    """
    rule = product(name).rule_for(day)
    if rule is None:
        return None
    base = nse_base if rule.host is Host.NSE else bse_base
    return base.rstrip("/") + rule.fill(day)


def host_of(name: str, day: dt.date) -> Host | None:
    """Which exchange serves product ``name`` on ``day`` (None when no rule covers it)."""
    rule = product(name).rule_for(day)
    return None if rule is None else rule.host


def file_name(url: str) -> str:
    """The file name a URL serves (its last path segment), used as the cache file name."""
    return urlsplit(url).path.rsplit("/", 1)[-1]


__all__ = [
    "BSE_ARCHIVES",
    "DEFAULT_PRODUCTS",
    "NSE_ARCHIVES",
    "PRODUCTS",
    "REFERERS",
    "UDIFF_CUTOVER",
    "Host",
    "Product",
    "UrlRule",
    "build_url",
    "check_base_url",
    "file_name",
    "host_of",
    "product",
]
