"""The NSE/BSE archive downloader against a real HTTP server on 127.0.0.1 (loopback only).

Fixtures in tests/fixtures/download are small hand-written files in the exchanges' real formats
(see the README there). Waits are recorded by a fake ``sleep``, never slept, so backoff and
Retry-After are checked as numbers and the file runs in a few seconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earnest.config import DownloadSettings
from earnest.core.errors import SourceError
from earnest.sources.download import (
    DEFAULT_PRODUCTS,
    DownloadOptions,
    DownloadReport,
    Status,
    download_range,
    retry_after_s,
    validate_file,
)
from earnest.sources.urls import PRODUCTS, UDIFF_CUTOVER, build_url
from httpserver import ArchiveServer, Reply

pytestmark = pytest.mark.network

FRI, MON = dt.date(2024, 7, 5), dt.date(2024, 7, 8)  # the last legacy and the first UDiFF session
TODAY = dt.date(2024, 7, 9)
P_LEGACY = "/content/historical/EQUITIES/2024/JUL/cm05JUL2024bhav.csv.zip"
P_UDIFF = "/content/cm/BhavCopy_NSE_CM_0_0_0_20240708_F_0000.csv.zip"
P_FULL_FRI = "/products/content/sec_bhavdata_full_05072024.csv"
P_FULL_MON = "/products/content/sec_bhavdata_full_08072024.csv"
P_PR_FRI = "/archives/equities/bhavcopy/pr/PR050724.zip"
P_PR_MON = "/archives/equities/bhavcopy/pr/PR080724.zip"
FILES = {
    P_LEGACY: "cm05JUL2024bhav.csv.zip",
    P_UDIFF: "BhavCopy_NSE_CM_0_0_0_20240708_F_0000.csv.zip",
    P_FULL_FRI: "sec_bhavdata_full_05072024.csv",
    P_FULL_MON: "sec_bhavdata_full_08072024.csv",
    P_PR_FRI: "PR050724.zip",
    P_PR_MON: "PR080724.zip",
    "/content/equities/EQUITY_L.csv": "EQUITY_L.csv",
}
UDIFF_NAME = "BhavCopy_NSE_CM_0_0_0_20240708_F_0000.csv.zip"
HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Access Denied</title></head><body>Reference #18.ab</body></html>\n"
)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, fixtures_dir: Path) -> Iterator[ArchiveServer]:
    """The archive server holding every fixture file at its real NSE path."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with ArchiveServer() as srv:
        for path, name in FILES.items():
            srv.serve(path, (fixtures_dir / "download" / name).read_bytes())
        yield srv


class Sleeps(list[float]):
    """A ``sleep`` that records the requested waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass
class Env:
    """The server, quick download options, a sleep recorder and an empty cache folder."""

    server: ArchiveServer
    opts: DownloadOptions
    cache: Path
    sleeps: Sleeps = field(default_factory=Sleeps)

    def run(
        self, products: tuple[str, ...] = ("bhavcopy",), *, opts: Any = None, **kw: Any
    ) -> DownloadReport:
        """Download ``products`` for Friday 5 .. Monday 8 July 2024 unless told otherwise."""
        start, end = kw.pop("start", FRI), kw.pop("end", MON)
        kw.setdefault("today", TODAY)
        settings = opts or self.opts
        return download_range(
            products, start, end, cache_dir=self.cache, settings=settings, sleep=self.sleeps, **kw
        )

    def leftovers(self) -> list[str]:
        """Every file in the cache but the manifest (to prove nothing partial or invalid stays)."""
        files = (p for p in self.cache.rglob("*") if p.is_file() and p.name != "manifest.json")
        return sorted(str(p.relative_to(self.cache)) for p in files)


@pytest.fixture
def env(server: ArchiveServer, tmp_path: Path) -> Env:
    opts = DownloadOptions(
        nse_archive_url=server.url,
        bse_archive_url=server.url,
        timeout_s=5.0,
        retries=2,
        backoff_s=0.01,
        min_interval_s=0.0,
    )
    return Env(server, opts, tmp_path / "cache")


# ---- URL rules ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("product", "day", "url"),
    [
        ("bhavcopy", FRI, "https://nsearchives.nseindia.com" + P_LEGACY),
        ("bhavcopy", MON, "https://nsearchives.nseindia.com" + P_UDIFF),
        ("bhavcopy", dt.date(2016, 1, 1), "https://nsearchives.nseindia.com/content/historical/EQUITIES/2016/JAN/cm01JAN2016bhav.csv.zip"),
        ("full", FRI, "https://nsearchives.nseindia.com" + P_FULL_FRI),
        ("pr", MON, "https://nsearchives.nseindia.com" + P_PR_MON),
        ("indices", MON, "https://nsearchives.nseindia.com/content/indices/ind_close_all_08072024.csv"),
        ("bands", MON, "https://nsearchives.nseindia.com/content/equities/sec_list_08072024.csv"),
        ("equity_master", MON, "https://nsearchives.nseindia.com/content/equities/EQUITY_L.csv"),
        ("symbol_changes", MON, "https://nsearchives.nseindia.com/content/equities/symbolchange.csv"),
        ("bse_bhavcopy", dt.date(2021, 4, 20), "https://www.bseindia.com/download/BhavCopy/Equity/EQ200421_CSV.ZIP"),
        ("bse_bhavcopy", MON, "https://www.bseindia.com/download/BhavCopy/Equity/BhavCopy_BSE_CM_0_0_0_20240708_F_0000.CSV"),
    ],
)  # fmt: skip
def test_url_rules_per_product_and_date(product: str, day: dt.date, url: str) -> None:
    assert build_url(product, day) == url


def test_base_url_is_configurable_and_default_products_exist() -> None:
    assert build_url("full", FRI, nse_base="http://mirror.example/") == "http://mirror.example" + P_FULL_FRI
    assert set(DEFAULT_PRODUCTS) <= set(PRODUCTS)


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2030, 12, 31)))
def test_bhavcopy_has_exactly_one_rule_per_day_and_names_that_day(day: dt.date) -> None:
    covering = [r for r in PRODUCTS["bhavcopy"].rules if r.covers(day)]
    assert len(covering) == 1
    url = build_url("bhavcopy", day)
    assert url is not None
    name = url.rsplit("/", 1)[-1]
    if day < UDIFF_CUTOVER:
        assert name == f"cm{day:%d}{day.strftime('%b').upper()}{day:%Y}bhav.csv.zip"
    else:
        assert name == f"BhavCopy_NSE_CM_0_0_0_{day:%Y%m%d}_F_0000.csv.zip"


def test_fixtures_are_in_the_real_formats(fixtures_dir: Path) -> None:
    from earnest.sources.registry import detect

    kinds = {
        "cm05JUL2024bhav.csv": "nse_bhavcopy_legacy",
        "BhavCopy_NSE_CM_0_0_0_20240708_F_0000.csv": "nse_udiff_cm",
        "sec_bhavdata_full_05072024.csv": "nse_sec_bhavdata_full",
    }
    import zipfile

    for member, kind in kinds.items():
        zipped = fixtures_dir / "download" / f"{member}.zip"
        if zipped.exists():
            data = zipfile.ZipFile(zipped).read(member)
        else:
            data = (fixtures_dir / "download" / member).read_bytes()
        reader = detect(member, data)
        assert reader is not None
        assert reader.kind == kind
    with zipfile.ZipFile(fixtures_dir / "download" / "PR050724.zip") as zf:
        assert zf.read("bc05072024.csv").startswith(b"SERIES,SYMBOL,SECURITY,RECORD_DT,")


# ---- normal runs and resumption ---------------------------------------------------------------------
def test_range_across_the_udiff_cutover_fetches_the_right_file_per_session(
    env: Env, fixtures_dir: Path
) -> None:
    server, cache = env.server, env.cache
    settings = DownloadSettings(nse_archive_url=server.url, retries=0, backoff_s=0, min_interval_s=0)
    progress: list[tuple[int, int, str]] = []
    report = env.run(DEFAULT_PRODUCTS, opts=settings, progress=lambda *a: progress.append(a))

    # Friday 5 and Monday 8 only: the weekend in between is never requested.
    assert sorted(server.paths()) == sorted([P_LEGACY, P_FULL_FRI, P_PR_FRI, P_UDIFF, P_FULL_MON, P_PR_MON])
    assert report.counts() == {"downloaded": 6, "cached": 0, "missing": 0, "failed": 0}
    assert [(r.product, r.date) for r in report.results] == [
        (p, d) for d in (FRI, MON) for p in DEFAULT_PRODUCTS
    ]
    for r in report.results:
        assert r.path is not None
        assert r.url is not None
        served = (fixtures_dir / "download" / FILES[r.url.removeprefix(server.url)]).read_bytes()
        assert r.path == cache / r.product / r.url.rsplit("/", 1)[-1]
        assert r.path.read_bytes() == served  # byte for byte as served
        assert r.sha256 == hashlib.sha256(served).hexdigest()
        assert r.attempts == 1
    assert report.get("bhavcopy", FRI).path == cache / "bhavcopy" / "cm05JUL2024bhav.csv.zip"
    assert report.get("bhavcopy", MON).path == cache / "bhavcopy" / UDIFF_NAME
    assert progress[0] == (0, 6, "")
    assert progress[-1] == (6, 6, "pr/PR080724.zip")
    assert [p[0] for p in progress] == list(range(7))

    manifest = json.loads(report.manifest_path.read_text())
    assert report.manifest_path == cache / "manifest.json"
    assert {k: v["sha256"] for k, v in manifest["files"].items()} == {
        str(r.path.relative_to(cache)): r.sha256 for r in report.results if r.path
    }
    assert all(v["fetched_at"] for v in manifest["files"].values())

    # Browser-like headers with the exchange's referer (NSE rejects bare clients).
    first = server.seen[0].headers
    assert first["User-Agent"].startswith("Mozilla/5.0")
    assert first["Referer"] == "https://www.nseindia.com/"
    assert "Accept-Language" in first

    # A second run makes no request at all and reports every file as cached.
    again = env.run(DEFAULT_PRODUCTS, opts=settings)
    assert again.counts() == {"downloaded": 0, "cached": 6, "missing": 0, "failed": 0}
    assert len(server.paths()) == 6
    assert again.paths() == report.paths()
    assert env.sleeps == []


def test_weekends_and_holidays_are_never_requested(env: Env) -> None:
    # 2024-06-14 Fri, 15-16 weekend, 17 Bakri Id (NSE holiday), 18 Tue; nothing served: all 404.
    report = env.run(("full",), start=dt.date(2024, 6, 14), end=dt.date(2024, 6, 18))
    assert env.server.paths() == [
        "/products/content/sec_bhavdata_full_14062024.csv",
        "/products/content/sec_bhavdata_full_18062024.csv",
    ]
    assert [(r.date, r.status) for r in report.results] == [
        (dt.date(2024, 6, 14), Status.MISSING),
        (dt.date(2024, 6, 18), Status.MISSING),
    ]
    assert all(r.attempts == 1 and "404" in r.reason and r.path is None for r in report.results)
    assert env.leftovers() == []


def test_404_is_missing_and_the_run_goes_on(env: Env) -> None:
    del env.server.files[P_FULL_FRI]
    report = env.run(("full", "bhavcopy"))
    assert report.get("full", FRI).status is Status.MISSING
    assert report.counts() == {"downloaded": 3, "cached": 0, "missing": 1, "failed": 0}
    assert report.failed() == []
    assert [m.date for m in report.missing()] == [FRI]
    assert env.server.hits(P_FULL_FRI) == 1  # a 404 is an answer, not retried
    assert env.leftovers() == sorted(
        ["bhavcopy/cm05JUL2024bhav.csv.zip", f"bhavcopy/{UDIFF_NAME}", "full/sec_bhavdata_full_08072024.csv"]
    )


def test_sessions_after_today_and_snapshot_products(env: Env) -> None:
    report = env.run(("full", "equity_master"), today=FRI)
    assert report.get("full", MON).status is Status.MISSING
    assert "future" in report.get("full", MON).reason
    master = report.get("equity_master", FRI)
    assert master.status is Status.DOWNLOADED
    assert master.path == env.cache / "equity_master" / "2024-07-05" / "EQUITY_L.csv"
    assert env.server.paths() == [P_FULL_FRI, "/content/equities/EQUITY_L.csv"]  # the master once per run


def test_bse_files_use_the_bse_base_url_and_referer(env: Env) -> None:
    report = env.run(("bse_bhavcopy",))
    assert env.server.paths() == [
        "/download/BhavCopy/Equity/EQ050724_CSV.ZIP",
        "/download/BhavCopy/Equity/BhavCopy_BSE_CM_0_0_0_20240708_F_0000.CSV",
    ]
    assert {s.headers["Referer"] for s in env.server.seen} == {"https://www.bseindia.com/"}
    assert report.counts()["missing"] == 2


# ---- retries --------------------------------------------------------------------------------------
def test_500_twice_then_200_is_downloaded_after_backoff(env: Env) -> None:
    env.server.script(P_LEGACY, Reply(500, b"oops"), Reply(503, b"busy"))
    r = env.run(end=FRI).get("bhavcopy", FRI)
    assert (r.status, r.attempts) == (Status.DOWNLOADED, 3)
    assert env.server.hits(P_LEGACY) == 3
    assert env.sleeps == pytest.approx([0.01, 0.02])  # exponential: backoff_s * 2**(n-1)


def test_500_beyond_the_retries_fails_and_stores_nothing(env: Env) -> None:
    env.server.script(P_LEGACY, *[Reply(502)] * 3)
    report = env.run()
    r = report.get("bhavcopy", FRI)
    assert (r.status, r.reason, r.path) == (Status.FAILED, "HTTP 502 after 3 attempts", None)
    assert report.get("bhavcopy", MON).status is Status.DOWNLOADED  # the run went on
    assert env.leftovers() == [f"bhavcopy/{UDIFF_NAME}"]


def test_429_honours_retry_after(env: Env) -> None:
    env.server.script(P_LEGACY, Reply(429, b"slow down", {"Retry-After": "7"}))
    assert env.run(end=FRI).get("bhavcopy", FRI).status is Status.DOWNLOADED
    assert env.sleeps == [7.0]
    assert env.server.hits(P_LEGACY) == 2


def test_retry_after_longer_than_max_wait_gives_up(env: Env) -> None:
    env.server.script(P_LEGACY, Reply(429, b"", {"Retry-After": "3600"}))
    r = env.run(end=FRI, max_wait_s=60).get("bhavcopy", FRI)
    assert (r.status, r.attempts) == (Status.FAILED, 1)
    assert "asked to wait 3600s" in r.reason
    assert env.sleeps == []


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = dt.datetime(2024, 7, 8, 12, 0, tzinfo=dt.UTC)
    assert retry_after_s("120") == 120.0
    assert retry_after_s("Mon, 08 Jul 2024 12:00:30 GMT", now=now) == 30.0
    assert retry_after_s("Mon, 08 Jul 2024 11:00:00 GMT", now=now) == 0.0
    assert retry_after_s("soon") is None
    assert retry_after_s(None) is None


def test_slow_response_times_out_is_retried_then_fails(env: Env) -> None:
    env.server.script(P_LEGACY, *[Reply(mode="stall")] * 2)
    r = env.run(end=FRI, opts=replace(env.opts, timeout_s=0.2, retries=1)).get("bhavcopy", FRI)
    assert (r.status, r.attempts) == (Status.FAILED, 2)
    assert r.reason.startswith("timed out (0.2s"), r.reason
    assert env.server.hits(P_LEGACY) == 2
    assert env.leftovers() == []


def test_403_is_not_retried(env: Env) -> None:
    env.server.script(P_LEGACY, Reply(403, b"denied"))
    r = env.run(end=FRI).get("bhavcopy", FRI)
    assert (r.status, r.attempts) == (Status.FAILED, 1)
    assert "refused the client" in r.reason


# ---- invalid bodies: nothing partial or invalid is ever left in the cache ----------------------------
@pytest.mark.parametrize(
    ("mode", "attempts", "why"),
    [
        ("truncate_full_length", 3, "network error (RemoteProtocolError"),  # the connection closes early
        ("truncate_short_length", 1, "invalid file: not a readable zip archive"),  # a "complete" half zip
        ("truncate_no_length", 1, "invalid file: not a readable zip archive"),  # ends at connection close
    ],
)
def test_truncated_zip_fails_then_a_rerun_completes(env: Env, mode: Any, attempts: int, why: str) -> None:
    env.server.script(P_LEGACY, *[Reply(mode=mode)] * 3)
    first = env.run()
    r = first.get("bhavcopy", FRI)
    assert (r.status, r.attempts, r.path) == (Status.FAILED, attempts, None)
    assert r.reason.startswith(why), r.reason
    assert env.server.hits(P_LEGACY) == attempts
    assert env.leftovers() == [f"bhavcopy/{UDIFF_NAME}"]
    assert list(json.loads(first.manifest_path.read_text())["files"]) == [f"bhavcopy/{UDIFF_NAME}"]

    env.server.clear_scripts()
    second = env.run()
    assert second.get("bhavcopy", FRI).status is Status.DOWNLOADED
    assert second.get("bhavcopy", MON).status is Status.CACHED
    assert env.server.hits(P_UDIFF) == 1  # cached: not downloaded again
    assert env.server.hits(P_LEGACY) == attempts + 1
    assert validate_file(env.cache / "bhavcopy" / "cm05JUL2024bhav.csv.zip") is None


def test_truncated_csv_with_content_length_fails(env: Env) -> None:
    env.server.script(P_FULL_FRI, *[Reply(mode="truncate_full_length")] * 3)
    r = env.run(("full",), end=FRI).get("full", FRI)
    assert (r.status, r.attempts) == (Status.FAILED, 3)
    assert r.reason.startswith("network error (RemoteProtocolError"), r.reason
    assert env.leftovers() == []


def test_html_page_with_status_200_fails(env: Env) -> None:
    env.server.script(P_FULL_FRI, Reply(200, HTML, {"Content-Type": "text/html"}))
    env.server.script(P_PR_FRI, Reply(200, HTML, {"Content-Type": "text/html"}))
    report = env.run(("full", "pr"), end=FRI)
    for product in ("full", "pr"):
        r = report.get(product, FRI)
        assert (r.status, r.attempts) == (Status.FAILED, 1)
        assert "HTML page" in r.reason
    assert env.leftovers() == []


def test_a_damaged_cached_file_is_fetched_again(env: Env) -> None:
    env.run(end=FRI)
    cached = env.cache / "bhavcopy" / "cm05JUL2024bhav.csv.zip"
    good = cached.read_bytes()
    cached.write_bytes(good[:50])
    r = env.run(end=FRI).get("bhavcopy", FRI)
    assert r.status is Status.DOWNLOADED
    assert cached.read_bytes() == good
    assert env.server.hits(P_LEGACY) == 2


def test_a_valid_cached_file_without_manifest_is_kept_and_hashed(env: Env) -> None:
    first = env.run(end=FRI)
    first.manifest_path.write_text("{not json")
    r = env.run(end=FRI).get("bhavcopy", FRI)
    assert r.status is Status.CACHED
    assert r.sha256 == first.get("bhavcopy", FRI).sha256
    assert env.server.hits(P_LEGACY) == 1
    entry = json.loads(first.manifest_path.read_text())["files"]["bhavcopy/cm05JUL2024bhav.csv.zip"]
    assert (entry["sha256"], entry["fetched_at"]) == (r.sha256, None)


def test_min_interval_spaces_requests(env: Env) -> None:
    env.run(opts=replace(env.opts, min_interval_s=60.0))
    assert len(env.sleeps) == 1  # before the second request only
    assert 50 < env.sleeps[0] <= 60


# ---- configuration errors ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"products": ("bhavcopy", "nope")}, "unknown download product 'nope'"),
        ({"products": ()}, "no product"),
        ({"start": MON, "end": FRI}, "starts 2024-07-08 after it ends 2024-07-05"),
        ({"opts": {"nse_archive_url": "nsearchives.nseindia.com"}}, "not an absolute http"),
        ({"opts": {"retries": -1}}, "out of range"),
        ({"opts": {"timeout_s": 0}}, "out of range"),
    ],
)
def test_unusable_configuration_raises_source_error(env: Env, kw: dict[str, Any], match: str) -> None:
    products = kw.pop("products", ("bhavcopy",))
    settings = replace(env.opts, **kw.pop("opts", {}))
    with pytest.raises(SourceError, match=match):
        env.run(products, opts=settings, **kw)
    assert env.server.paths() == []


def test_an_unwritable_cache_is_a_configuration_error(env: Env, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env.cache = blocker / "cache"
    with pytest.raises(SourceError, match="cannot create the download cache"):
        env.run()
