"""End to end through the real `earnest` executable: ingest, read back, quality report, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

LEGACY = (
    "SYMBOL,SERIES,OPEN,HIGH,LOW,CLOSE,LAST,PREVCLOSE,TOTTRDQTY,TOTTRDVAL,TIMESTAMP,TOTALTRADES,ISIN,\n"
    "INFY,EQ,1500,1520,1490,1510,1511,1495,100000,151000000,05-JUL-2024,5000,INE009A01021,\n"
    "TCS,EQ,4000,4050,3990,4020,4021,3995,50000,201000000,05-JUL-2024,3000,INE467B01029,\n"
    "BADCO,EQ,100,99,104,101,101,100,10,1010,05-JUL-2024,2,INE000B01011,\n"
    "NEGCO,EQ,-5,10,1,5,5,5,10,50,05-JUL-2024,2,INE000N01011,\n"
)


def run(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EARNEST_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("EARNEST_STORE", None)
    exe = Path(sys.executable).with_name("earnest")
    proc = subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"earnest {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture
def legacy_zip(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "cm05JUL2024bhav.csv.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("cm05JUL2024bhav.csv", LEGACY)
    return path


def test_ingest_show_quality_idempotent(tmp_path: Path, legacy_zip: Path) -> None:
    home = tmp_path / "home"
    out = run(home, "ingest", "files", str(legacy_zip.parent)).stdout
    assert "4 data rows = 2 stored + 0 merged + 2 quarantined" in out

    shown = json.loads(run(home, "show", "bars", "-s", "INFY", "--format", "json").stdout)
    assert len(shown) == 1
    assert shown[0]["close"] == 1510.0
    assert shown[0]["date"] == "2024-07-05"

    report = json.loads(run(home, "quality", "report", "--format", "json").stdout)
    text = json.dumps(report)
    assert "BADCO" in text or "line" in text  # the quarantined rows are listed with their reasons
    assert "ohlc" in text.lower()

    again = run(home, "ingest", "files", str(legacy_zip)).stdout
    assert "1 already known" in again
    info = run(home, "store", "info", "--format", "json").stdout
    counts = {r["table"]: r["rows"] for r in json.loads(info)}
    assert counts["bars"] == 2
    assert counts["quarantine"] == 2
    assert counts["ingested_files"] == 1


def test_bad_inputs_give_clear_errors_and_leave_store_unchanged(tmp_path: Path, legacy_zip: Path) -> None:
    home = tmp_path / "home"
    run(home, "ingest", "files", str(legacy_zip))
    before = run(home, "store", "info", "--format", "json").stdout

    truncated = tmp_path / "cm08JUL2024bhav.csv.zip"
    truncated.write_bytes(legacy_zip.read_bytes()[:60])
    proc = run(home, "ingest", "files", str(truncated), check=False)
    assert proc.returncode == 3
    assert "cm08JUL2024bhav.csv.zip" in proc.stdout + proc.stderr
    assert "zip" in (proc.stdout + proc.stderr).lower()

    drifted = tmp_path / "cm09JUL2024bhav.csv"
    drifted.write_text(LEGACY.replace("CLOSE,LAST", "CLOSING,LAST").replace("05-JUL", "09-JUL"))
    proc = run(home, "ingest", "files", str(drifted), check=False)
    assert proc.returncode == 3
    assert run(home, "store", "info", "--format", "json").stdout == before

    proc = run(home, "show", "bars", "-s", "NOSUCH", check=False)
    assert proc.returncode == 6
    assert "no bars stored for NOSUCH" in proc.stderr

    proc = run(home, "show", "bars", "-s", "INFY", "--from", "2024-13-01", check=False)
    assert proc.returncode != 0
    assert "YYYY-MM-DD" in proc.stdout + proc.stderr


def test_bad_store_url_is_a_clear_error(tmp_path: Path) -> None:
    proc = run(tmp_path, "--store", "mysql://nope", "store", "info", check=False)
    assert proc.returncode == 4
    assert "unsupported store URL" in proc.stderr
