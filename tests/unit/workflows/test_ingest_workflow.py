"""The ingest workflow reads, gates and writes files in groups; the answer must be the one of
ingesting them one by one: every file accounted for, duplicates by content, bad files failing
alone, and the same store whatever the group size."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

import earnest.workflows.ingest as wf
from earnest.store import SqlStore, open_store
from earnest.workflows.ingest import ingest_paths

HEADER = "SYMBOL,SERIES,OPEN,HIGH,LOW,CLOSE,LAST,PREVCLOSE,TOTTRDQTY,TOTTRDVAL,TIMESTAMP,TOTALTRADES,ISIN,\n"


def legacy(day: str, *extra: str) -> str:
    rows = [
        f"INFY,EQ,1500,1520,1490,1510,1511,1495,100000,151000000,{day},5000,INE009A01021,\n",
        f"TCS,EQ,4000,4050,3990,4020,4021,3995,50000,201000000,{day},3000,INE467B01029,\n",
        *(e.replace("{day}", day) + "\n" for e in extra),
    ]
    return HEADER + "".join(rows)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Six inputs: three good sessions (one with a bad row), the first again under another name,
    a misnamed file and a zip holding a fourth session."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "cm01JUL2024bhav.csv").write_text(legacy("01-JUL-2024"))
    (d / "cm02JUL2024bhav.csv").write_text(
        legacy("02-JUL-2024", "BADCO,EQ,100,99,104,101,101,100,10,1010,{day},2,INE000B01011,")
    )
    (d / "cm03JUL2024bhav.csv").write_text(legacy("03-JUL-2024"))
    (d / "copy_of_first.csv").write_text(legacy("01-JUL-2024"))
    (d / "cm04JUL2024bhav.csv").write_text(legacy("03-JUL-2024"))  # rows of the 3rd: misnamed
    with zipfile.ZipFile(d / "cm05JUL2024bhav.csv.zip", "w") as zf:
        zf.writestr("cm05JUL2024bhav.csv", legacy("05-JUL-2024"))
    return d


def _open(tmp_path: Path, name: str) -> SqlStore:
    return open_store(f"duckdb:///{tmp_path / name}")


def _statuses(report: wf.IngestReport) -> dict[str, tuple[str, int, int, int]]:
    return {f.name: (f.status, f.rows_total, f.rows_stored, f.rows_quarantined) for f in report.files}


def test_every_file_is_accounted_for(tmp_path: Path, folder: Path) -> None:
    store = _open(tmp_path, "a.duckdb")
    report = ingest_paths(store, [folder], run_reconcile=False)
    got = _statuses(report)
    assert got["cm01JUL2024bhav.csv"] == ("ingested", 2, 2, 0)
    assert got["cm02JUL2024bhav.csv"] == ("ingested", 3, 2, 1)
    assert got["cm03JUL2024bhav.csv"] == ("ingested", 2, 2, 0)
    assert got["cm05JUL2024bhav.csv.zip!cm05JUL2024bhav.csv"] == ("ingested", 2, 2, 0)
    assert got["copy_of_first.csv"][0] == "duplicate"  # same bytes as cm01JUL2024bhav.csv
    assert got["cm04JUL2024bhav.csv"][0] == "failed"
    assert "misnamed" in next(f.message for f in report.files if f.name == "cm04JUL2024bhav.csv")
    assert store.count("bars") == 8
    assert set(report.stage_s) >= {"read", "gate", "store"}
    again = ingest_paths(store, [folder], run_reconcile=False)
    assert {s for s, *_ in _statuses(again).values()} == {"duplicate", "failed"}
    assert store.count("bars") == 8
    store.close()


def _tables(store: SqlStore) -> dict[str, list[Any]]:
    drop = {"quarantined_at", "found_at", "ingested_at"}
    out = {}
    for table in ("bars", "instruments", "quarantine", "quality_findings", "ingested_files"):
        frame = store.read(table)
        frame = frame.drop([c for c in frame.columns if c in drop])
        out[table] = sorted(frame.rows(), key=repr)
    return out


def test_group_size_does_not_change_the_store(
    tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = _open(tmp_path, "big.duckdb")
    first = _statuses(ingest_paths(big, [folder], run_reconcile=False))
    monkeypatch.setattr(wf, "_GROUP_FILES", 1)
    small = _open(tmp_path, "small.duckdb")
    second = _statuses(ingest_paths(small, [folder], run_reconcile=False))
    assert first == second
    assert _tables(big) == _tables(small)
    big.close()
    small.close()


def test_chunks_bound_files_and_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = []
    for i, size in enumerate([5, 5, 5, 20, 5]):
        p = tmp_path / f"f{i}"
        p.write_bytes(b"x" * size)
        paths.append(p)
    monkeypatch.setattr(wf, "_GROUP_FILES", 2)
    monkeypatch.setattr(wf, "_READ_BYTES", 12)
    sizes = [[p.stat().st_size for p in chunk] for chunk in wf._chunks(paths)]
    assert sizes == [[5, 5], [5], [20], [5]]


def test_quarantine_names_the_file_and_line(tmp_path: Path, folder: Path) -> None:
    store = _open(tmp_path, "q.duckdb")
    ingest_paths(store, [folder], run_reconcile=False)
    q = store.read("quarantine").select("source_file", "source_row", "field", "rule", "reason")
    assert q.rows() == [
        ("cm02JUL2024bhav.csv", 4, "high", "ohlc_inconsistent", "HIGH 99.0 < LOW 104.0 for BADCO (EQ)")
    ]
    store.close()
