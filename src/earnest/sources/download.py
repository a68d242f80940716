"""Download NSE/BSE archive files for a range of sessions into a local cache of raw files.

This is the only module in earnest that opens network connections. ``earnest ingest nse`` calls
:func:`download_range`, then ingests the cached files it reports; nothing here parses or stores
data.

What it promises:

* **Sessions only.** Dates come from the NSE trading calendar (``calendar``, default
  :func:`earnest.core.calendar.nse_calendar`); weekends and holidays are never requested. BSE
  files use the same calendar (BSE and NSE close on the same days). Sessions after ``today`` are
  reported ``missing`` without a request.
* **Where files go.** ``cache_dir/<product>/<file name>``, byte for byte as served, never modified
  afterwards. Snapshot products (see :mod:`earnest.sources.urls`) go to
  ``cache_dir/<product>/<YYYY-MM-DD fetched>/<file name>``.
* **Nothing partial or invalid in the cache.** A download goes to ``<file name>.part`` next to its
  final place, is checked (:func:`validate_file`: not empty, not an HTML page, a zip opens and
  every member passes its CRC check, a CSV has a comma-separated first line, the body length
  matches ``Content-Length``), flushed to disk and only then renamed into place
  (:func:`os.replace`, atomic). Any failure deletes the ``.part`` file (one left by a killed
  process is never read, and the next attempt at that file overwrites and removes it).
* **Resumable.** A second run reports files already in the cache as ``cached`` without a request
  (a file whose size or modification time differs from the manifest is checked and hashed again;
  one that is no longer valid is deleted and fetched again) and retries what failed or was missing.
* **Polite and robust.** One HTTP client with browser-like headers and a referer (NSE's edge
  rejects bare clients), a timeout per request, a minimum interval between two requests, and
  retries with exponential backoff (tenacity) on connection errors, timeouts, truncated bodies,
  HTTP 5xx and 429. A ``Retry-After`` header is honoured; one asking for more than ``max_wait_s``
  ends the retries for that file.
* **Errors.** HTTP 404/410 means the exchange has no such file (a holiday missing from the
  calendar, or not published yet): status ``missing``. Every other per-file problem is status
  ``failed`` with a reason; the run always goes on to the next file. :class:`SourceError` is raised
  only for unusable configuration (unknown product, bad base URL or setting, an unwritable cache).
* **Manifest.** ``cache_dir/manifest.json`` maps each cached file (path relative to ``cache_dir``)
  to its URL, product, session date, size, sha256 and fetch time. Runs on one cache directory
  must not overlap.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final, Generic, Protocol, TypeVar

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from earnest.core.calendar import IST, UTC, TradingCalendar, nse_calendar
from earnest.core.errors import SourceError
from earnest.core.hashing import sha256_file
from earnest.sources.rawcache import Manifest, validate_file
from earnest.sources.urls import (
    BSE_ARCHIVES,
    DEFAULT_PRODUCTS,
    NSE_ARCHIVES,
    PRODUCTS,
    REFERERS,
    Host,
    check_base_url,
    file_name,
    product,
)

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
"""``(done, total, label)``: called once before the first file and after each file."""

MANIFEST_NAME: Final = "manifest.json"
_MISSING_CODES: Final = frozenset({404, 410})
_BROWSER_HEADERS: Final = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.9",
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
}


class Status(StrEnum):
    """What happened to one (product, session) file."""

    DOWNLOADED = "downloaded"
    """Fetched in this run, validated and stored in the cache."""
    CACHED = "cached"
    """Already in the cache and valid: not requested."""
    MISSING = "missing"
    """The exchange has no such file (HTTP 404/410, no URL rule for the date, or a future session)."""
    FAILED = "failed"
    """Could not be fetched or was invalid; nothing was stored. A re-run tries again."""


@dataclass(frozen=True, slots=True)
class FileResult:
    """The outcome for one product on one session. ``path`` is set when the file is in the cache."""

    product: str
    date: dt.date
    status: Status
    url: str | None = None
    path: Path | None = None
    reason: str = ""
    attempts: int = 0
    """HTTP requests made for this file in this run (0 when cached or not requested)."""
    sha256: str | None = None


class _Outcome(Protocol):
    @property
    def status(self) -> Status: ...
    @property
    def path(self) -> Path | None: ...


R = TypeVar("R", bound=_Outcome)


class StatusReport(Generic[R]):
    """What every download report answers, from ``results`` (one outcome per file, in order)."""

    __slots__ = ()
    results: tuple[R, ...]

    def counts(self) -> dict[str, int]:
        """How many files ended in each status (every status is listed, zeros included)."""
        return {s.value: sum(r.status is s for r in self.results) for s in Status}

    def with_status(self, *statuses: Status) -> list[R]:
        return [r for r in self.results if r.status in statuses]

    def failed(self) -> list[R]:
        """Files that could not be fetched; a re-run retries them."""
        return self.with_status(Status.FAILED)

    def missing(self) -> list[R]:
        return self.with_status(Status.MISSING)

    def paths(self) -> list[Path]:
        """Cached files of this run (downloaded or already there), ready to ingest."""
        return [r.path for r in self.with_status(Status.DOWNLOADED, Status.CACHED) if r.path is not None]


@dataclass(frozen=True, slots=True)
class DownloadReport(StatusReport[FileResult]):
    """Every (product, session) of a run in order (session, then product), and the manifest written."""

    results: tuple[FileResult, ...]
    manifest_path: Path

    def get(self, product: str, date: dt.date) -> FileResult:
        """The result for ``product`` on ``date`` (KeyError if the run did not cover it)."""
        for r in self.results:
            if r.product == product and r.date == date:
                return r
        raise KeyError((product, date))


class ClientSettings(Protocol):
    """What the downloader needs to know; :class:`earnest.config.DownloadSettings` fits it."""

    @property
    def nse_archive_url(self) -> str: ...
    @property
    def bse_archive_url(self) -> str: ...
    @property
    def timeout_s(self) -> float: ...
    @property
    def retries(self) -> int: ...
    @property
    def backoff_s(self) -> float: ...
    @property
    def min_interval_s(self) -> float: ...
    @property
    def user_agent(self) -> str: ...


@dataclass(frozen=True, slots=True)
class DownloadOptions:
    """Plain :class:`ClientSettings` with the same defaults as the user settings.

    ``retries`` is the number of retries after the first attempt; the wait before retry ``n``
    (1-based) is ``backoff_s * 2**(n-1)`` seconds, capped at ``max_wait_s`` of
    :func:`download_range`, unless the server sent ``Retry-After``.
    """

    nse_archive_url: str = NSE_ARCHIVES
    bse_archive_url: str = BSE_ARCHIVES
    timeout_s: float = 30.0
    retries: int = 4
    backoff_s: float = 1.0
    min_interval_s: float = 0.5
    user_agent: str = (
        "Mozilla/5.0 (X11; Linux x86_64) earnest/0.1 (+https://github.com/earnest-quant/earnest)"
    )


# ---- one HTTP attempt ---------------------------------------------------------------------------
class _RetryableStatusError(Exception):
    """HTTP 429 or 5xx: worth another try, after ``retry_after`` seconds if the server said so."""

    def __init__(self, code: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {code}")
        self.code = code
        self.retry_after = retry_after


class _IncompleteBodyError(Exception):
    """The body was shorter or longer than the declared Content-Length."""


def retry_after_s(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent/bad."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or dt.datetime.now(UTC))).total_seconds())


@dataclass(frozen=True, slots=True)
class _Reply:
    status: Status
    reason: str = ""


def _refusal(code: int) -> str:
    if code in {401, 403}:
        return (
            f"HTTP {code}: the exchange refused the client (its edge blocks some networks and user "
            "agents); check download.user_agent, try again later or from another network"
        )
    return f"HTTP {code}: unexpected answer"


def _get_once(client: httpx.Client, url: str, referer: str, part: Path) -> _Reply:
    """One GET; a 200 body is streamed into ``part``. Raises what deserves a retry."""
    with client.stream("GET", url, headers={"Referer": referer}) as resp:
        code = resp.status_code
        if code in _MISSING_CODES:
            return _Reply(Status.MISSING, f"HTTP {code}: not published (a holiday, or not out yet)")
        if code == 429 or code >= 500:
            raise _RetryableStatusError(code, retry_after_s(resp.headers.get("Retry-After")))
        if code != 200:
            return _Reply(Status.FAILED, _refusal(code))
        with part.open("wb") as fh:
            for chunk in resp.iter_bytes():
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) != resp.num_bytes_downloaded:
            raise _IncompleteBodyError(
                f"received {resp.num_bytes_downloaded} of {declared} bytes (Content-Length)"
            )
        return _Reply(Status.DOWNLOADED)


# ---- the run ------------------------------------------------------------------------------------
class _Throttle:
    """Keeps at least ``interval_s`` between the starts of two requests."""

    def __init__(self, interval_s: float, sleep: Callable[[float], None]) -> None:
        self._interval = interval_s
        self._sleep = sleep
        self._last: float | None = None

    def wait(self) -> None:
        if self._last is not None:
            gap = self._interval - (time.monotonic() - self._last)
            if gap > 0:
                self._sleep(gap)
        self._last = time.monotonic()


@dataclass(frozen=True, slots=True)
class _Job:
    """One file to obtain. ``url`` None: no URL rule covers the date; ``future``: not published yet."""

    product: str
    date: dt.date
    url: str | None
    referer: str = ""
    rel: str = ""
    future: bool = False

    @property
    def label(self) -> str:
        return self.rel or f"{self.product} {self.date}"


@dataclass
class _Run:
    """What every file of one run shares."""

    client: httpx.Client
    opts: ClientSettings
    cache_dir: Path
    manifest: Manifest
    throttle: _Throttle
    sleep: Callable[[float], None]
    max_wait_s: float

    def retrying(self) -> Retrying:
        backoff = wait_exponential(multiplier=self.opts.backoff_s, max=self.max_wait_s)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            if isinstance(exc, _RetryableStatusError) and exc.retry_after is not None:
                return exc.retry_after
            return float(backoff(state))

        def worth_retrying(exc: BaseException) -> bool:
            if isinstance(exc, _RetryableStatusError):
                return exc.retry_after is None or exc.retry_after <= self.max_wait_s
            return isinstance(exc, httpx.TransportError | _IncompleteBodyError)

        return Retrying(
            stop=stop_after_attempt(self.opts.retries + 1),
            wait=wait,
            retry=retry_if_exception(worth_retrying),
            sleep=self.sleep,
            reraise=True,
        )


def _why(exc: Exception, attempts: int, run: _Run) -> str:
    tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
    if isinstance(exc, _RetryableStatusError):
        if exc.retry_after is not None and exc.retry_after > run.max_wait_s:
            asked = f"the server asked to wait {exc.retry_after:.0f}s (max_wait_s {run.max_wait_s:g})"
            return f"{exc} {tries}: {asked}"
        return f"{exc} {tries}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({run.opts.timeout_s:g}s, {type(exc).__name__}) {tries}"
    if isinstance(exc, _IncompleteBodyError):
        return f"truncated: {exc} {tries}"
    return f"network error ({type(exc).__name__}: {exc}) {tries}"


def _from_cache(job: _Job, url: str, run: _Run) -> FileResult | None:
    """The cached result when the file is already there and valid; a bad one is deleted."""
    path = run.cache_dir / job.rel
    if not path.is_file():
        return None
    if run.manifest.unchanged(job.rel, path):
        return FileResult(
            job.product, job.date, Status.CACHED, url, path, sha256=run.manifest.sha256(job.rel)
        )
    problem = validate_file(path)
    if problem is not None:
        log.warning("cached %s is unusable (%s): deleting it and fetching again", path, problem)
        path.unlink()
        return None
    digest = sha256_file(path)
    known = run.manifest.sha256(job.rel)
    if known is not None and known != digest:
        log.warning("cached %s changed since it was downloaded: deleting it and fetching again", path)
        path.unlink()
        return None
    run.manifest.record(job.rel, path, url=url, product=job.product, date=job.date, sha256=digest)
    return FileResult(job.product, job.date, Status.CACHED, url, path, sha256=digest)


def _fetch(job: _Job, url: str, run: _Run) -> FileResult:
    """Download ``url`` through ``.part``, validate, rename into place; never raises for the file."""
    dest = run.cache_dir / job.rel
    part = dest.with_name(dest.name + ".part")
    attempts = 0

    def once() -> _Reply:
        nonlocal attempts
        attempts += 1
        run.throttle.wait()
        return _get_once(run.client, url, job.referer, part)

    def result(
        status: Status, reason: str = "", path: Path | None = None, sha: str | None = None
    ) -> FileResult:
        return FileResult(job.product, job.date, status, url, path, reason, attempts, sha)

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            reply = run.retrying()(once)
        except (_RetryableStatusError, _IncompleteBodyError, httpx.HTTPError) as exc:
            return result(Status.FAILED, _why(exc, attempts, run))
        if reply.status is not Status.DOWNLOADED:
            return result(reply.status, reply.reason)
        problem = validate_file(part, name=dest.name)
        if problem is not None:
            return result(Status.FAILED, f"invalid file: {problem}")
        os.replace(part, dest)
        digest = sha256_file(dest)
        run.manifest.record(job.rel, dest, url=url, product=job.product, date=job.date, sha256=digest)
        run.manifest.stamp(job.rel)
        return result(Status.DOWNLOADED, path=dest, sha=digest)
    except OSError as exc:
        return result(Status.FAILED, f"cannot write the cache file {dest}: {exc}")
    finally:
        part.unlink(missing_ok=True)


def _obtain(job: _Job, run: _Run) -> FileResult:
    """The result for one planned file: from the cache, from the exchange, or why not."""
    if job.url is None:
        return FileResult(job.product, job.date, Status.MISSING, reason="no URL rule covers this date")
    if job.future:
        return FileResult(job.product, job.date, Status.MISSING, job.url, reason="session in the future")
    return _from_cache(job, job.url, run) or _fetch(job, job.url, run)


# ---- planning and configuration -----------------------------------------------------------------
def _job(name: str, day: dt.date, *, folder: str, bases: dict[Host, str], future: bool) -> _Job:
    rule = product(name).rule_for(day)
    if rule is None:
        return _Job(name, day, None)
    url = bases[rule.host] + rule.fill(day)
    return _Job(name, day, url, REFERERS[rule.host], f"{folder}/{file_name(url)}", future)


def _plan(
    products: Iterable[str],
    start: dt.date,
    end: dt.date,
    *,
    calendar: TradingCalendar,
    today: dt.date,
    nse_base: str = NSE_ARCHIVES,
    bse_base: str = BSE_ARCHIVES,
) -> list[_Job]:
    """The files a run covers, in order: each session in [start, end], then each product.

    Snapshot products come once, at the end, dated ``today``.
    """
    names = list(dict.fromkeys(products))
    for name in names:
        product(name)
    bases = {Host.NSE: nse_base, Host.BSE: bse_base}
    dated = [n for n in names if not PRODUCTS[n].snapshot]
    jobs = [
        _job(n, day, folder=n, bases=bases, future=day > today)
        for day in calendar.sessions_between(start, end)
        for n in dated
    ]
    jobs += [
        _job(n, today, folder=f"{n}/{today.isoformat()}", bases=bases, future=False)
        for n in names
        if PRODUCTS[n].snapshot
    ]
    return jobs


def _check(opts: ClientSettings, products: list[str], start: dt.date, end: dt.date, cache_dir: Path) -> None:
    if not products:
        raise SourceError(
            "no product to download", remedy=f"choose from: {', '.join(PRODUCTS)}", field="product"
        )
    if start > end:
        raise SourceError(f"the range starts {start} after it ends {end}", remedy="swap --from and --to")
    if opts.timeout_s <= 0 or opts.retries < 0 or opts.backoff_s < 0 or opts.min_interval_s < 0:
        raise SourceError(
            "download settings out of range",
            remedy="timeout_s must be > 0; retries, backoff_s and min_interval_s must be >= 0",
            field="download",
        )
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SourceError(
            f"cannot create the download cache {cache_dir}: {exc}",
            remedy="set EARNEST_HOME to a writable folder",
            file=str(cache_dir),
        ) from exc
    if not os.access(cache_dir, os.W_OK):
        raise SourceError(f"the download cache {cache_dir} is not writable", file=str(cache_dir))


def download_range(
    products: Iterable[str],
    start: dt.date,
    end: dt.date,
    *,
    cache_dir: Path,
    settings: ClientSettings | None = None,
    calendar: TradingCalendar | None = None,
    progress: Progress | None = None,
    today: dt.date | None = None,
    max_wait_s: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
) -> DownloadReport:
    """Fetch ``products`` for every NSE session in [``start``, ``end``] into ``cache_dir``.

    ``settings`` defaults to :class:`DownloadOptions`; ``today`` (default: today in IST) dates
    snapshot products and marks later sessions as not yet published; ``max_wait_s`` caps a
    single backoff and the ``Retry-After`` earnest accepts; ``sleep`` is how the run waits
    (tests pass a recorder). See the module documentation for the guarantees.
    """
    opts = settings or DownloadOptions()
    names = list(dict.fromkeys(products))
    cache_dir = Path(cache_dir)
    _check(opts, names, start, end, cache_dir)
    jobs = _plan(
        names,
        start,
        end,
        calendar=calendar or nse_calendar(),
        today=today or dt.datetime.now(IST).date(),
        nse_base=check_base_url(opts.nse_archive_url, what="nse_archive_url"),
        bse_base=check_base_url(opts.bse_archive_url, what="bse_archive_url"),
    )
    manifest = Manifest.load(cache_dir / MANIFEST_NAME)
    results: list[FileResult] = []
    if progress is not None:
        progress(0, len(jobs), "")
    client = httpx.Client(
        headers={"User-Agent": opts.user_agent, **_BROWSER_HEADERS},
        timeout=httpx.Timeout(opts.timeout_s),
        follow_redirects=True,
    )
    run = _Run(client, opts, cache_dir, manifest, _Throttle(opts.min_interval_s, sleep), sleep, max_wait_s)
    try:
        for done, job in enumerate(jobs, start=1):
            res = _obtain(job, run)
            if res.status is Status.FAILED:
                log.warning("%s %s failed: %s", job.product, job.date, res.reason)
            results.append(res)
            if progress is not None:
                progress(done, len(jobs), job.label)
    finally:
        client.close()
        manifest.save()
    return DownloadReport(tuple(results), manifest.path)


__all__ = [
    "DEFAULT_PRODUCTS",
    "MANIFEST_NAME",
    "PRODUCTS",
    "ClientSettings",
    "DownloadOptions",
    "DownloadReport",
    "FileResult",
    "Progress",
    "Status",
    "download_range",
    "retry_after_s",
    "validate_file",
]
