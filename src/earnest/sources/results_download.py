"""Download NSE financial-results listings and their XBRL filings for a few symbols.

``earnest ingest results --symbols TCS,INFY --from 2024-01-01`` calls :func:`download_results`,
then ingests the files it reports (the listing JSON through
:mod:`earnest.sources.nse_results`, each XBRL through :mod:`earnest.sources.xbrl`). Nothing here
parses data for the store.

How NSE serves them:

* The listing is JSON from NSE's website API,
  ``{nse_www_url}/api/corporates-financial-results?index=equities&symbol=TCS&period=Quarterly``:
  one record per results filing (the format of :mod:`earnest.sources.nse_results`). The API
  answers 401/403 to a client without the cookies the home page sets, so a run first GETs
  ``{nse_www_url}/`` (the *cookie handshake*: once per run, again for the next symbol if it
  failed, and once more when the API refuses the cookies later). API calls carry a browser-like
  User-Agent and the results page as referer.
* Each record's ``xbrl`` field links the filing's XBRL instance on
  ``nsearchives.nseindia.com``. Links on NSE's archive hosts are fetched from the configured
  ``nse_archive_url`` instead (a mirror, or a test server); other links are used as they are.

What it promises (the network behaviour is :mod:`earnest.sources.download`'s, reused: one client,
browser headers, a minimum interval between requests, retries with exponential backoff on
connection errors, timeouts, truncated bodies, HTTP 5xx and 429, ``Retry-After`` honoured):

* **Which filings.** Those whose broadcast date (IST; ``broadCastDate``, else ``exchdisstime``,
  else ``filingDate``: the time the market learnt the result, as in ``results_listings``) lies in
  [``start``, ``end``]. Not the period end: ``--from 2024-01-01`` means results *announced* from
  that day, which is what an event study needs. Records the listing reader quarantines (no
  broadcast time at all) cannot be placed in time and are left out.
* **Where files go.** Listings: ``cache_dir/results_listing/<YYYY-MM-DD fetched>/<symbol>_<period>.json``
  (re-fetched once per day, since NSE adds filings). XBRL: ``cache_dir/results_xbrl/<SYMBOL>/
  <DDMonYYYY>_<HHMM>_<NSE file name>``, the prefix being the broadcast time in IST, the naming
  :func:`earnest.sources.xbrl.broadcast_from_name` reads. XBRL files never change once
  published, so a cached one is never fetched again.
* **Nothing partial or invalid in the cache.** Bodies go to ``<name>.part``, are checked (a
  listing must be a JSON array of filings, or ``{"data": [...]}``; an XBRL file must be well-formed
  XML whose root is an XBRL instance: an HTML error page sent with HTTP 200, or a cut body, is a
  failure) and only then renamed into place; a failure deletes the ``.part`` file.
* **Resumable.** A re-run reports what is in the cache as ``cached`` without a request and fetches
  only what failed or is missing. The shared ``cache_dir/manifest.json`` records every file.
* **Report.** Every listing and every XBRL file in range appears once in the
  :class:`ResultsDownloadReport`: ``downloaded``, ``cached``, ``failed`` (with why) or ``missing``
  (HTTP 404/410, or a filing the listing gives no XBRL for). :class:`SourceError` is raised only
  for unusable input or configuration (a symbol NSE cannot have, a bad base URL or setting, an
  unwritable cache).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import urlencode, urlsplit

import httpx
import polars as pl

from earnest.core.calendar import IST
from earnest.core.errors import SourceError
from earnest.core.hashing import sha256_file
from earnest.sources.base import ParsedFile
from earnest.sources.download import (
    _BROWSER_HEADERS,
    MANIFEST_NAME,
    ClientSettings,
    DownloadOptions,
    Progress,
    Status,
    StatusReport,
    _check,
    _get_once,
    _IncompleteBodyError,
    _Reply,
    _RetryableStatusError,
    _Run,
    _Throttle,
    _why,
    retry_after_s,
)
from earnest.sources.nse_results import NseResultsListingReader
from earnest.sources.rawcache import Manifest
from earnest.sources.urls import check_base_url

log = logging.getLogger(__name__)

NSE_WWW: Final = "https://www.nseindia.com"
"""Default base URL of NSE's website (home page for the cookies, and the results API)."""
RESULTS_API_PATH: Final = "/api/corporates-financial-results"
RESULTS_PAGE_PATH: Final = "/companies-listing/corporate-filings-financial-results"
"""The page a browser calls the API from (sent as referer)."""
LISTING: Final = "results_listing"
"""Product name (and cache folder) of the listings."""
XBRL: Final = "results_xbrl"
"""Product name (and cache folder) of the XBRL files."""
NSE_ARCHIVE_HOSTS: Final = frozenset(
    {"nsearchives.nseindia.com", "archives.nseindia.com", "www1.nseindia.com"}
)
"""Hosts of XBRL links that are fetched from the configured ``nse_archive_url`` instead."""
PERIODS: Final = ("Quarterly", "Half-Yearly", "Annual", "Others")
"""The ``period`` values NSE's results API knows."""

_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9&_-]{0,19}$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_REFUSED: Final = ("HTTP 401", "HTTP 403")


class ResultsClientSettings(ClientSettings, Protocol):
    """:class:`ClientSettings` plus the website base URL the listing API lives on."""

    @property
    def nse_www_url(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ResultsDownloadOptions(DownloadOptions):
    """Plain :class:`ResultsClientSettings` with the user settings' defaults."""

    nse_www_url: str = NSE_WWW


@dataclass(frozen=True, slots=True)
class ResultFile:
    """The outcome for one file: a symbol's listing, or one filing's XBRL.

    ``date`` is the fetch date for a listing and the broadcast date (IST) for an XBRL file;
    ``period_end`` and ``consolidated`` describe the filing (None for listings).
    """

    symbol: str
    product: str
    date: dt.date
    status: Status
    url: str | None = None
    path: Path | None = None
    reason: str = ""
    attempts: int = 0
    """HTTP requests made for this file in this run (0 when cached; the handshake not counted)."""
    sha256: str | None = None
    period_end: dt.date | None = None
    consolidated: bool | None = None


@dataclass(frozen=True, slots=True)
class ResultsDownloadReport(StatusReport[ResultFile]):
    """Every file of a run, per symbol: its listing, then its XBRL files in broadcast order."""

    results: tuple[ResultFile, ...]
    manifest_path: Path

    def xbrl(self) -> list[ResultFile]:
        return [r for r in self.results if r.product == XBRL]

    def listings(self) -> list[ResultFile]:
        return [r for r in self.results if r.product == LISTING]


# ---- validation ---------------------------------------------------------------------------------
def _looks_html(head: bytes) -> bool:
    low = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()[:2048]
    return low.startswith(b"<") and (b"<html" in low or b"<!doctype html" in low)


_HTML_PAGE: Final = "an HTML page instead of the file (an error or bot-check page sent with HTTP 200)"


def listing_problem(path: Path) -> str | None:
    """Why ``path`` is not a usable NSE results listing, or None when it is."""
    data = path.read_bytes()
    if not data.strip():
        return "empty file"
    if _looks_html(data[:4096]):
        return _HTML_PAGE
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"not valid JSON ({exc}): probably a truncated download"
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        return None
    if not isinstance(doc, list):
        return f"JSON but not a results listing: expected an array of filings, found {type(doc).__name__}"
    return None


def xbrl_problem(path: Path) -> str | None:
    """Why ``path`` is not a usable XBRL instance, or None: it must be well-formed XML with an
    ``xbrl`` root element (any namespace). External entities are never loaded."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    if not head.strip():
        return "empty file"
    if _looks_html(head):
        return _HTML_PAGE
    root: str | None = None
    try:
        for event, elem in ET.iterparse(path, events=("start", "end")):
            if root is None:
                root = elem.tag
            elif event == "end":
                elem.clear()
    except ET.ParseError as exc:
        return f"not well-formed XML ({exc}): probably a truncated download"
    local = (root or "").rsplit("}", 1)[-1]
    if local != "xbrl":
        return f"XML but not an XBRL instance (root element <{local}>)"
    return None


# ---- one file into the cache ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Target:
    """One file to obtain: where it goes, where it comes from, and how to check it."""

    symbol: str
    product: str
    date: dt.date
    url: str
    referer: str
    rel: str
    check: Callable[[Path], str | None]
    period_end: dt.date | None = None
    consolidated: bool | None = None

    def result(
        self,
        status: Status,
        *,
        path: Path | None = None,
        reason: str = "",
        attempts: int = 0,
        sha256: str | None = None,
    ) -> ResultFile:
        return ResultFile(
            self.symbol,
            self.product,
            self.date,
            status,
            self.url,
            path,
            reason,
            attempts,
            sha256,
            self.period_end,
            self.consolidated,
        )


def _from_cache(t: _Target, run: _Run) -> ResultFile | None:
    """The cached result when the file is already there and valid; an unusable one is deleted."""
    path = run.cache_dir / t.rel
    if not path.is_file():
        return None
    if run.manifest.unchanged(t.rel, path):
        return t.result(Status.CACHED, path=path, sha256=run.manifest.sha256(t.rel))
    problem = t.check(path)
    digest = sha256_file(path) if problem is None else ""
    known = run.manifest.sha256(t.rel)
    if problem is None and known is not None and known != digest:
        problem = "it changed since it was downloaded"
    if problem is not None:
        log.warning("cached %s is unusable (%s): deleting it and fetching again", path, problem)
        path.unlink()
        return None
    run.manifest.record(t.rel, path, url=t.url, product=t.product, date=t.date, sha256=digest)
    return t.result(Status.CACHED, path=path, sha256=digest)


def _fetch(t: _Target, run: _Run) -> ResultFile:
    """GET ``t.url`` into ``.part`` with retries, check it, rename it into place. Never raises."""
    dest = run.cache_dir / t.rel
    part = dest.with_name(dest.name + ".part")
    attempts = 0

    def once() -> _Reply:
        nonlocal attempts
        attempts += 1
        run.throttle.wait()
        return _get_once(run.client, t.url, t.referer, part)

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            reply = run.retrying()(once)
        except (_RetryableStatusError, _IncompleteBodyError, httpx.HTTPError) as exc:
            return t.result(Status.FAILED, reason=_why(exc, attempts, run), attempts=attempts)
        if reply.status is not Status.DOWNLOADED:
            return t.result(reply.status, reason=reply.reason, attempts=attempts)
        problem = t.check(part)
        if problem is not None:
            return t.result(Status.FAILED, reason=f"invalid file: {problem}", attempts=attempts)
        os.replace(part, dest)
        digest = sha256_file(dest)
        run.manifest.record(t.rel, dest, url=t.url, product=t.product, date=t.date, sha256=digest)
        run.manifest.stamp(t.rel)
        return t.result(Status.DOWNLOADED, path=dest, sha256=digest, attempts=attempts)
    except OSError as exc:
        return t.result(Status.FAILED, reason=f"cannot write the cache file {dest}: {exc}", attempts=attempts)
    finally:
        part.unlink(missing_ok=True)


# ---- the NSE session: cookie handshake and listing ----------------------------------------------
@dataclass
class _Session:
    """One run's connection to NSE: the website (cookies, listing API) and the archive (XBRL)."""

    run: _Run
    www: str
    archive: str
    today: dt.date
    period: str
    shaken: bool = False

    def handshake(self) -> str | None:
        """GET the home page so the client holds NSE's cookies; None when done, else why not."""
        home = self.www + "/"
        attempts = 0

        def once() -> int:
            nonlocal attempts
            attempts += 1
            self.run.throttle.wait()
            resp = self.run.client.get(home)
            code = resp.status_code
            if code == 429 or code >= 500:
                raise _RetryableStatusError(code, retry_after_s(resp.headers.get("Retry-After")))
            return code

        try:
            code = self.run.retrying()(once)
        except (_RetryableStatusError, httpx.HTTPError) as exc:
            return f"cookie handshake with {home} failed: {_why(exc, attempts, self.run)}"
        if code != 200:
            return (
                f"cookie handshake with {home} failed: HTTP {code} (NSE's edge refused the client; "
                "check download.user_agent, try again later or from another network)"
            )
        self.shaken = True
        return None

    def listing_target(self, symbol: str) -> _Target:
        query = urlencode({"index": "equities", "symbol": symbol, "period": self.period})
        return _Target(
            symbol,
            LISTING,
            self.today,
            f"{self.www}{RESULTS_API_PATH}?{query}",
            self.www + RESULTS_PAGE_PATH,
            f"{LISTING}/{self.today.isoformat()}/{symbol.lower()}_{self.period.lower()}.json",
            listing_problem,
        )

    def listing(self, symbol: str) -> ResultFile:
        """Today's listing of ``symbol``: cached, or fetched (after the handshake when needed)."""
        t = self.listing_target(symbol)
        cached = _from_cache(t, self.run)
        if cached is not None:
            return cached
        if not self.shaken and (why := self.handshake()) is not None:
            return t.result(Status.FAILED, reason=why)
        res = _fetch(t, self.run)
        if res.status is Status.FAILED and res.reason.startswith(_REFUSED):
            log.info("NSE refused the cookies for %s (%s): shaking hands again", symbol, res.reason[:8])
            if (why := self.handshake()) is not None:
                return t.result(Status.FAILED, reason=why, attempts=res.attempts)
            again = _fetch(t, self.run)
            if again.status is Status.FAILED and again.reason.startswith(_REFUSED):
                reason = f"{again.reason[:8]} from the results API even after a fresh cookie handshake"
                return t.result(Status.FAILED, reason=reason, attempts=res.attempts + again.attempts)
            return again
        return res

    def xbrl_url(self, link: str) -> str | None:
        """Where to fetch an XBRL link from (NSE archive hosts rebased), None if unusable."""
        parts = urlsplit(link)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            return None
        if parts.hostname in NSE_ARCHIVE_HOSTS:
            return self.archive + parts.path + (f"?{parts.query}" if parts.query else "")
        return link


# ---- planning the XBRL files of one listing -----------------------------------------------------
def broadcast_prefix(when_utc: dt.datetime) -> str:
    """``DDMonYYYY_HHMM_`` in IST, English month names: the XBRL cache file-name prefix."""
    t = when_utc.astimezone(IST)
    return f"{t.day:02d}{_MONTHS[t.month - 1]}{t.year:04d}_{t.hour:02d}{t.minute:02d}_"


def read_listing(path: Path) -> ParsedFile:
    """A cached listing parsed by :class:`NseResultsListingReader` (the ingest's own reader)."""
    return NseResultsListingReader().parse(path.name, path.read_bytes(), sha256=sha256_file(path))


def filings_in_range(listings: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame:
    """The ``results_listings`` rows broadcast on an IST date in [start, end], one per XBRL link
    (the first), in broadcast order; rows without an XBRL link are kept (each its own filing)."""
    day = pl.col("broadcast_time").dt.convert_time_zone(str(IST)).dt.date()
    frame = listings.filter(day.is_between(start, end))
    linked = frame.filter(pl.col("xbrl_url").is_not_null()).unique("xbrl_url", keep="first")
    unlinked = frame.filter(pl.col("xbrl_url").is_null())
    return pl.concat([linked, unlinked]).sort("broadcast_time", "filing_key")


def _xbrl_target(session: _Session, symbol: str, row: dict[str, Any]) -> _Target | ResultFile:
    """Where a filing's XBRL comes from and goes to, or the result saying why it has none."""
    when: dt.datetime = row["broadcast_time"]
    day = when.astimezone(IST).date()
    link, name = row["xbrl_url"], row["xbrl_name"]
    url = session.xbrl_url(link) if link is not None else None
    if url is None or name is None or not _SAFE_NAME.match(name):
        status, why = (
            (Status.MISSING, "the listing gives no XBRL for this filing (old-format results have none)")
            if link is None
            else (Status.FAILED, f"the listing's XBRL link {link!r} is not a usable http(s) file link")
        )
        period_end, consolidated = row["period_to"], row["consolidated"]
        return ResultFile(
            symbol, XBRL, day, status, link, reason=why, period_end=period_end, consolidated=consolidated
        )
    return _Target(
        symbol,
        XBRL,
        day,
        url,
        session.www + "/",
        f"{XBRL}/{symbol}/{broadcast_prefix(when)}{name}",
        xbrl_problem,
        row["period_to"],
        row["consolidated"],
    )


def _symbol_files(session: _Session, symbol: str, start: dt.date, end: dt.date) -> list[ResultFile]:
    """The symbol's listing result, then one result per filing in range."""
    listing = session.listing(symbol)
    if listing.path is None:
        log.warning("results listing of %s: %s", symbol, listing.reason)
        return [listing]
    parsed = read_listing(listing.path)
    if parsed.rows_total == 0:
        listing = replace(listing, reason="the listing holds no filing: check the symbol")
    out = [listing]
    for row in filings_in_range(parsed.frame, start, end).iter_rows(named=True):
        t = _xbrl_target(session, symbol, row)
        out.append(t if isinstance(t, ResultFile) else _from_cache(t, session.run) or _fetch(t, session.run))
    return out


# ---- the run ------------------------------------------------------------------------------------
def check_symbols(symbols: Iterable[str]) -> list[str]:
    """Upper-cased, de-duplicated NSE symbols; :class:`SourceError` for one NSE cannot have."""
    names = list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
    if not names:
        raise SourceError(
            "no symbol to download results for", remedy="pass --symbols TCS,INFY", field="symbols"
        )
    bad = [s for s in names if not _SYMBOL.match(s)]
    if bad:
        raise SourceError(
            f"not NSE symbol(s): {', '.join(bad)}",
            remedy="use NSE trading symbols such as TCS, M&M or BAJAJ-AUTO",
            field="symbols",
        )
    return names


def download_results(
    symbols: Iterable[str],
    start: dt.date,
    end: dt.date | None = None,
    *,
    cache_dir: Path,
    settings: ResultsClientSettings | None = None,
    period: str = "Quarterly",
    progress: Progress | None = None,
    today: dt.date | None = None,
    max_wait_s: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
) -> ResultsDownloadReport:
    """Fetch each symbol's results listing and the XBRL of every filing broadcast in [start, end].

    ``end`` defaults to ``today`` (default: today in IST), which also dates the listing cache;
    ``settings`` defaults to :class:`ResultsDownloadOptions`; ``max_wait_s`` caps one backoff and
    the ``Retry-After`` accepted; ``sleep`` is how the run waits (tests pass a recorder).
    ``progress`` gets ``(done, total, label)``; the total grows as listings reveal XBRL files.
    See the module documentation for the guarantees.
    """
    opts = settings or ResultsDownloadOptions()
    names = check_symbols(symbols)
    today = today or dt.datetime.now(IST).date()
    end = end or today
    cache_dir = Path(cache_dir)
    if period not in PERIODS:
        raise SourceError(f"unknown results period {period!r}", remedy=f"use one of {', '.join(PERIODS)}")
    _check(opts, names, start, end, cache_dir)  # the range, the settings and a writable cache
    www = check_base_url(opts.nse_www_url, what="nse_www_url")
    archive = check_base_url(opts.nse_archive_url, what="nse_archive_url")
    manifest = Manifest.load(cache_dir / MANIFEST_NAME)
    client = httpx.Client(
        headers={"User-Agent": opts.user_agent, **_BROWSER_HEADERS},
        timeout=httpx.Timeout(opts.timeout_s),
        follow_redirects=True,
    )
    run = _Run(client, opts, cache_dir, manifest, _Throttle(opts.min_interval_s, sleep), sleep, max_wait_s)
    session = _Session(run, www, archive, today, period)
    results: list[ResultFile] = []
    total = len(names)
    try:
        if progress is not None:
            progress(0, total, "")
        for symbol in names:
            files = _symbol_files(session, symbol, start, end)
            results.extend(files)
            total += len(files) - 1
            if progress is not None:
                progress(len(results), total, symbol)
    finally:
        client.close()
        manifest.save()
    return ResultsDownloadReport(tuple(results), manifest.path)


__all__ = [
    "LISTING",
    "NSE_ARCHIVE_HOSTS",
    "NSE_WWW",
    "PERIODS",
    "RESULTS_API_PATH",
    "XBRL",
    "ResultFile",
    "ResultsClientSettings",
    "ResultsDownloadOptions",
    "ResultsDownloadReport",
    "broadcast_prefix",
    "check_symbols",
    "download_results",
    "filings_in_range",
    "listing_problem",
    "read_listing",
    "xbrl_problem",
]
