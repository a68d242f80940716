"""The NSE results downloader against a real HTTP server on 127.0.0.1 (loopback only).

The server plays NSE: the home page sets a cookie, the results API answers 401 to a client without
it, listings are the hand-written JSON in tests/fixtures/results_download and XBRL files are served
at their archive paths (see the README there). Waits are recorded by a fake ``sleep``, never slept.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from earnest.core.errors import SourceError
from earnest.sources.download import Status
from earnest.sources.results_download import (
    LISTING,
    XBRL,
    ResultsDownloadOptions,
    ResultsDownloadReport,
    broadcast_prefix,
    download_results,
    filings_in_range,
    listing_problem,
    read_listing,
    xbrl_problem,
)
from earnest.sources.xbrl import broadcast_from_name
from httpserver import ArchiveServer, Reply

pytestmark = pytest.mark.network

TODAY = dt.date(2024, 7, 9)
START, END = dt.date(2024, 1, 1), dt.date(2024, 6, 30)
API = "/api/corporates-financial-results?index=equities&symbol={}&period=Quarterly"
X = "/corporate/xbrl/"
CONS = X + "INDAS_900001_900002_11012024061922.xml"  # DEMOCO Q3 consolidated, 11-Jan-2024 18:19:13 IST
STAND = X + "INDAS_900001_900006_11012024061801.xml"  # DEMOCO Q3 standalone, 11-Jan-2024 18:17:40 IST
Q4 = X + "INDAS_900007_900008_25042024063000.xml"  # DEMOCO Q4, 25-Apr-2024: never served (404)
Q2 = X + "INDAS_800001_800002_19102023060510.xml"  # DEMOCO Q2, 19-Oct-2023: before the range
BANK = X + "BANKING_900003_900004_16012024051131.xml"  # DEMOBANK Q3, 16-Jan-2024 17:11:31 IST
COOKIE = "nsit=t0k3n"
HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Access Denied</title></head><body>Reference #18.ab</body></html>\n"
)
REL = {
    CONS: "results_xbrl/DEMOCO/11Jan2024_1819_INDAS_900001_900002_11012024061922.xml",
    STAND: "results_xbrl/DEMOCO/11Jan2024_1817_INDAS_900001_900006_11012024061801.xml",
    BANK: "results_xbrl/DEMOBANK/16Jan2024_1711_BANKING_900003_900004_16012024051131.xml",
}


def _header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name), "")


class NseServer(ArchiveServer):
    """The archive server plus NSE's cookie gate: ``/`` sets the cookie, ``/api/...`` wants it.
    Scripted replies come first, so a test can make the home page refuse or the API expire."""

    def _take(self, path: str, headers: dict[str, str]) -> Reply | None:
        reply = super()._take(path, headers)
        if reply is not None:
            return reply
        if path == "/":
            return Reply(200, b"<html><body>NSE</body></html>", {"Set-Cookie": f"{COOKIE}; Path=/; HttpOnly"})
        if path.startswith("/api/") and COOKIE not in _header(headers, "cookie"):
            return Reply(401, b'{"message":"Unauthorized"}', {"Content-Type": "application/json"})
        return None


class Sleeps(list[float]):
    """A ``sleep`` that records the requested waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass
class Env:
    server: NseServer
    cache: Path
    fixtures: Path
    sleeps: Sleeps = field(default_factory=Sleeps)

    @property
    def opts(self) -> ResultsDownloadOptions:
        return ResultsDownloadOptions(
            nse_www_url=self.server.url,
            nse_archive_url=self.server.url,
            timeout_s=5.0,
            retries=2,
            backoff_s=0.01,
            min_interval_s=0.0,
        )

    def run(self, symbols: tuple[str, ...] = ("DEMOCO",), **kw: Any) -> ResultsDownloadReport:
        start, end = kw.pop("start", START), kw.pop("end", END)
        kw.setdefault("settings", self.opts)
        kw.setdefault("today", TODAY)
        return download_results(symbols, start, end, cache_dir=self.cache, sleep=self.sleeps, **kw)

    def leftovers(self) -> list[str]:
        """Every file in the cache but the manifest (to prove nothing partial or invalid stays)."""
        files = (p for p in self.cache.rglob("*") if p.is_file() and p.name != "manifest.json")
        return sorted(str(p.relative_to(self.cache)) for p in files)

    def xbrl(self, report: ResultsDownloadReport, path: str) -> Any:
        return next(r for r in report.xbrl() if r.url == self.server.url + path)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, fixtures_dir: Path, tmp_path: Path) -> Iterator[Env]:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    here, results = fixtures_dir / "results_download", fixtures_dir / "results"
    with NseServer() as srv:
        srv.serve(API.format("DEMOCO"), (here / "democo.json").read_bytes())
        srv.serve(API.format("DEMOBANK"), (here / "demobank.json").read_bytes())
        srv.serve(CONS, (results / "11Jan2024_1819_INDAS_900001_900002_11012024061922.xml").read_bytes())
        srv.serve(STAND, (here / "INDAS_900001_900006_11012024061801.xml").read_bytes())
        srv.serve(BANK, (results / "16Jan2024_1711_BANKING_900003_900004_16012024051131.xml").read_bytes())
        srv.serve(Q2, (here / "INDAS_900001_900006_11012024061801.xml").read_bytes())
        yield Env(srv, tmp_path / "cache", fixtures_dir)


# ---- the whole run ------------------------------------------------------------------------------
def test_two_symbols_listing_then_xbrl_in_broadcast_order(env: Env) -> None:
    report = env.run(("democo", "DEMOBANK"))
    got = [(r.symbol, r.product, r.date, r.status) for r in report.results]
    assert got == [
        ("DEMOCO", LISTING, TODAY, Status.DOWNLOADED),
        ("DEMOCO", XBRL, dt.date(2024, 1, 11), Status.DOWNLOADED),  # standalone 18:17:40
        ("DEMOCO", XBRL, dt.date(2024, 1, 11), Status.DOWNLOADED),  # consolidated 18:19:13
        ("DEMOCO", XBRL, dt.date(2024, 4, 25), Status.MISSING),  # not served: 404
        ("DEMOBANK", LISTING, TODAY, Status.DOWNLOADED),
        ("DEMOBANK", XBRL, dt.date(2024, 1, 16), Status.DOWNLOADED),
    ]
    assert report.counts() == {"downloaded": 5, "cached": 0, "missing": 1, "failed": 0}
    assert env.server.hits(Q2) == 0  # broadcast 19-Oct-2023: out of range, never requested
    q4 = env.xbrl(report, Q4)
    assert q4.reason.startswith("HTTP 404")
    assert q4.path is None
    assert q4.period_end == dt.date(2024, 3, 31)
    cons = env.xbrl(report, CONS)
    assert (cons.consolidated, cons.period_end) == (True, dt.date(2023, 12, 31))
    assert env.xbrl(report, STAND).consolidated is False
    # cache layout: listings by fetch date, XBRL under the symbol with the IST broadcast prefix
    assert env.leftovers() == sorted(
        ["results_listing/2024-07-09/democo_quarterly.json", "results_listing/2024-07-09/demobank_quarterly.json",
         *REL.values()]
    )  # fmt: skip
    assert (env.cache / REL[CONS]).read_bytes() == env.server.files[CONS]
    assert report.paths() == [r.path for r in report.results if r.status is Status.DOWNLOADED]


def test_cookie_handshake_comes_first_and_headers_are_browser_like(env: Env) -> None:
    env.run(("DEMOCO", "DEMOBANK"))
    seen = env.server.seen
    assert [s.path for s in seen][:2] == ["/", API.format("DEMOCO")]
    assert env.server.hits("/") == 1  # one handshake per run
    api = [s for s in seen if s.path.startswith("/api/")]
    assert len(api) == 2
    for s in api:
        assert COOKIE in _header(s.headers, "cookie")
        assert (
            _header(s.headers, "referer")
            == env.server.url + "/companies-listing/corporate-filings-financial-results"
        )
    assert all(_header(s.headers, "user-agent").startswith("Mozilla/5.0") for s in seen)


def test_api_refuses_a_client_without_the_cookie(env: Env) -> None:
    env.server.script(
        "/", Reply(200, b"<html><body>no cookie today</body></html>"), Reply(200, b"<html></html>")
    )
    report = env.run()
    (listing,) = report.results
    assert listing.status is Status.FAILED
    assert "HTTP 401" in listing.reason
    assert "fresh cookie handshake" in listing.reason
    assert env.server.hits("/") == 2
    assert env.server.hits(API.format("DEMOCO")) == 2
    assert env.leftovers() == []


def test_expired_cookie_gets_a_second_handshake(env: Env) -> None:
    env.server.script(API.format("DEMOCO"), Reply(403, b"{}"))
    report = env.run()
    assert report.listings()[0].status is Status.DOWNLOADED
    assert env.server.hits("/") == 2
    assert env.server.hits(API.format("DEMOCO")) == 2


def test_home_page_refusal_fails_the_listing_without_calling_the_api(env: Env) -> None:
    env.server.script("/", Reply(403, HTML), Reply(403, HTML))
    report = env.run(("DEMOCO", "DEMOBANK"))
    assert [r.status for r in report.results] == [Status.FAILED, Status.FAILED]
    assert env.server.hits("/") == 2  # each symbol tries the handshake once more
    assert "cookie handshake" in report.results[0].reason
    assert "HTTP 403" in report.results[0].reason
    assert [p for p in env.server.paths() if p.startswith("/api/")] == []


# ---- per-file failures --------------------------------------------------------------------------
def test_server_error_then_success_is_retried_with_backoff(env: Env) -> None:
    env.server.script(CONS, Reply(503, b"busy"), Reply(502, b"bad gateway"))
    report = env.run()
    cons = env.xbrl(report, CONS)
    assert (cons.status, cons.attempts) == (Status.DOWNLOADED, 3)
    assert env.sleeps == [0.01, 0.02]  # backoff_s * 2**(n-1); min_interval_s is 0


def test_server_errors_beyond_the_retries_fail_and_leave_nothing(env: Env) -> None:
    env.server.script(CONS, *[Reply(500, b"oops")] * 3)
    cons = env.xbrl(env.run(), CONS)
    assert cons.status is Status.FAILED
    assert cons.reason == "HTTP 500 after 3 attempts"
    assert REL[CONS] not in env.leftovers()


def test_html_page_with_200_is_a_failure_not_a_file(env: Env) -> None:
    env.server.script(STAND, Reply(200, HTML))
    report = env.run()
    stand = env.xbrl(report, STAND)
    assert stand.status is Status.FAILED
    assert "HTML page" in stand.reason
    assert REL[STAND] not in env.leftovers()
    assert not any(p.endswith(".part") for p in env.leftovers())
    assert env.xbrl(report, CONS).status is Status.DOWNLOADED  # the run goes on


def test_listing_html_page_fails_the_symbol_only(env: Env) -> None:
    env.server.script(API.format("DEMOCO"), Reply(200, HTML))
    report = env.run(("DEMOCO", "DEMOBANK"))
    assert [(r.symbol, r.status) for r in report.results] == [
        ("DEMOCO", Status.FAILED),
        ("DEMOBANK", Status.DOWNLOADED),
        ("DEMOBANK", Status.DOWNLOADED),
    ]
    assert "HTML page" in report.results[0].reason


def test_truncated_body_without_length_is_invalid_xml(env: Env) -> None:
    env.server.script(CONS, Reply(mode="truncate_no_length"))
    cons = env.xbrl(env.run(), CONS)
    assert cons.status is Status.FAILED
    assert "not well-formed XML" in cons.reason
    assert cons.attempts == 1  # a complete-looking body is not retried; the re-run fetches it
    assert REL[CONS] not in env.leftovers()


def test_truncated_body_shorter_than_its_length_is_retried(env: Env) -> None:
    env.server.script(CONS, Reply(mode="truncate_full_length"))
    cons = env.xbrl(env.run(), CONS)
    assert (cons.status, cons.attempts) == (Status.DOWNLOADED, 2)
    assert (env.cache / REL[CONS]).read_bytes() == env.server.files[CONS]


def test_xml_that_is_not_xbrl_fails(env: Env) -> None:
    env.server.script(CONS, Reply(200, b'<?xml version="1.0"?><error><code>E1</code></error>'))
    cons = env.xbrl(env.run(), CONS)
    assert cons.status is Status.FAILED
    assert "not an XBRL instance (root element <error>)" in cons.reason


# ---- resuming -----------------------------------------------------------------------------------
def test_rerun_fetches_only_what_failed_then_nothing(env: Env) -> None:
    env.server.script(STAND, Reply(200, HTML))
    first = env.run()
    assert first.counts() == {"downloaded": 2, "cached": 0, "missing": 1, "failed": 1}
    before = len(env.server.seen)
    second = env.run()
    asked = env.server.paths()[before:]
    assert asked == [STAND, Q4]  # listing cached for the day: no handshake, no API call
    assert env.xbrl(second, STAND).status is Status.DOWNLOADED
    assert [r.status for r in second.results] == [
        Status.CACHED,
        Status.DOWNLOADED,
        Status.CACHED,
        Status.MISSING,
    ]
    before = len(env.server.seen)
    third = env.run()
    assert env.server.paths()[before:] == [Q4]  # only the 404 is asked again
    assert third.counts() == {"downloaded": 0, "cached": 3, "missing": 1, "failed": 0}


def test_next_day_refreshes_the_listing_but_not_the_xbrl(env: Env) -> None:
    env.run()
    before = len(env.server.seen)
    report = env.run(today=TODAY + dt.timedelta(days=1))
    assert env.server.paths()[before:] == ["/", API.format("DEMOCO"), Q4]
    assert report.listings()[0].status is Status.DOWNLOADED
    assert [r.status for r in report.xbrl()] == [Status.CACHED, Status.CACHED, Status.MISSING]


def test_a_damaged_cached_file_is_fetched_again(env: Env) -> None:
    env.run()
    (env.cache / REL[CONS]).write_bytes(HTML)
    report = env.run()
    assert env.xbrl(report, CONS).status is Status.DOWNLOADED
    assert (env.cache / REL[CONS]).read_bytes() == env.server.files[CONS]


def test_manifest_records_every_cached_file(env: Env) -> None:
    report = env.run()
    files = json.loads(report.manifest_path.read_text())["files"]
    assert sorted(files) == sorted(
        ["results_listing/2024-07-09/democo_quarterly.json", REL[CONS], REL[STAND]]
    )
    entry = files[REL[CONS]]
    assert entry["url"] == env.server.url + CONS
    assert (entry["product"], entry["date"]) == (XBRL, "2024-01-11")
    assert entry["sha256"] == env.xbrl(report, CONS).sha256


def test_downloaded_files_are_read_by_the_ingest_readers(env: Env) -> None:
    from earnest.sources.registry import read_bytes

    report = env.run()
    kinds = sorted(read_bytes(p.name, p.read_bytes())[0].kind for p in report.paths())
    assert kinds == ["nse_results_listing", "nse_xbrl_results", "nse_xbrl_results"]
    facts = read_bytes(REL[CONS], (env.cache / REL[CONS]).read_bytes())[0].frame
    assert facts.get_column("xbrl_name").unique().to_list() == ["INDAS_900001_900002_11012024061922.xml"]
    # the cache name carries the listing's broadcast minute: 18:19 IST = 12:49 UTC
    assert facts.get_column("broadcast_time").unique().to_list() == [
        dt.datetime(2024, 1, 11, 12, 49, tzinfo=dt.UTC)
    ]


# ---- planning and checks ------------------------------------------------------------------------
def test_range_is_by_broadcast_date_in_ist(fixtures_dir: Path) -> None:
    frame = read_listing(fixtures_dir / "results_download" / "democo.json").frame
    keys = filings_in_range(frame, dt.date(2024, 1, 11), dt.date(2024, 1, 11)).get_column("filing_key")
    assert keys.to_list() == ["NSE:900006", "NSE:900002"]
    # 00:30 IST on 12 Jan is still 11 Jan in UTC: the IST date decides
    late = frame.head(1).with_columns(
        pl.lit(dt.datetime(2024, 1, 11, 19, 0, tzinfo=dt.UTC)).alias("broadcast_time"),
        pl.lit("NSE:1").alias("filing_key"),
    )
    assert filings_in_range(late, dt.date(2024, 1, 11), dt.date(2024, 1, 11)).height == 0
    assert filings_in_range(late, dt.date(2024, 1, 12), dt.date(2024, 1, 12)).height == 1
    assert filings_in_range(frame, dt.date(2020, 1, 1), dt.date(2020, 12, 31)).height == 0


def test_same_xbrl_link_twice_is_one_file(fixtures_dir: Path) -> None:
    frame = read_listing(fixtures_dir / "results_download" / "democo.json").frame
    doubled = pl.concat([frame, frame.with_columns(pl.lit("NSE:X").alias("filing_key"))])
    assert filings_in_range(doubled, START, END).height == 3


def test_no_xbrl_link_is_reported_missing(env: Env, fixtures_dir: Path) -> None:
    records = json.loads((fixtures_dir / "results_download" / "democo.json").read_bytes())
    records[0]["xbrl"] = "https://nsearchives.nseindia.com/corporate/xbrl/-"
    records[1]["xbrl"] = "ftp://example.invalid/x.xml"
    env.server.serve(API.format("DEMOCO"), json.dumps(records).encode())
    report = env.run()
    by_period = {(r.period_end, r.consolidated): r for r in report.xbrl()}
    q4 = by_period[(dt.date(2024, 3, 31), True)]
    assert q4.status is Status.MISSING
    assert "no XBRL" in q4.reason
    assert env.server.hits(Q4) == 0
    cons = by_period[(dt.date(2023, 12, 31), True)]
    assert cons.status is Status.FAILED
    assert "not a usable" in cons.reason


def test_empty_listing_says_to_check_the_symbol(env: Env) -> None:
    env.server.serve(API.format("NOSUCH"), b"[]")
    (listing,) = env.run(("NOSUCH",)).results
    assert listing.status is Status.DOWNLOADED
    assert "check the symbol" in listing.reason


def test_listing_wrapped_in_data_object_is_accepted(env: Env, fixtures_dir: Path) -> None:
    records = json.loads((fixtures_dir / "results_download" / "demobank.json").read_bytes())
    env.server.serve(API.format("DEMOBANK"), json.dumps({"data": records}).encode())
    assert env.run(("DEMOBANK",)).counts()["downloaded"] == 2


@pytest.mark.parametrize(
    ("kw", "field_"),
    [
        ({"symbols": ("../etc",)}, "symbols"),
        ({"symbols": (" ",)}, "symbols"),
        ({"start": END, "end": START}, None),
        ({"period": "Weekly"}, None),
        ({"settings": ResultsDownloadOptions(nse_www_url="www.nseindia.com")}, "nse_www_url"),
        ({"settings": ResultsDownloadOptions(retries=-1)}, "download"),
    ],
)
def test_unusable_input_raises_source_error(env: Env, kw: dict[str, Any], field_: str | None) -> None:
    symbols = kw.pop("symbols", ("DEMOCO",))
    with pytest.raises(SourceError) as err:
        env.run(symbols, **kw)
    assert err.value.field == field_
    assert env.server.seen == []


def test_validators_on_small_files(tmp_path: Path, fixtures_dir: Path) -> None:
    def write(body: bytes) -> Path:
        p = tmp_path / "f"
        p.write_bytes(body)
        return p

    assert listing_problem(write(b"[]")) is None
    assert listing_problem(write(b'{"data": []}')) is None
    assert (
        listing_problem(write(b'{"msg": "no"}'))
        == "JSON but not a results listing: expected an array of filings, found dict"
    )
    assert "truncated" in (listing_problem(write(b'[{"symbol": "TC')) or "")
    assert listing_problem(write(b"")) == "empty file"
    assert xbrl_problem(fixtures_dir / "results" / "no_nature.xml") is None
    assert "truncated" in (xbrl_problem(fixtures_dir / "results" / "truncated.xml") or "")
    assert "HTML page" in (xbrl_problem(write(HTML)) or "")


@given(
    st.datetimes(
        min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
    )
)
def test_broadcast_prefix_is_what_the_xbrl_reader_reads(when: dt.datetime) -> None:
    prefix = broadcast_prefix(when)
    got = broadcast_from_name(prefix + "INDAS_1_2_3.xml")
    minute = when.replace(second=0, microsecond=0)
    if prefix[10:14] == "0000":  # midnight IST reads as "unknown" by design
        assert got is None
    else:
        assert got == minute
