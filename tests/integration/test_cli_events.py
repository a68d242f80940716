"""End to end through the `earnest` executable: results listings, XBRL filings and custom events
ingested with `earnest ingest files`, read back point in time with `earnest show events`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from test_cli_ingest import run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("democo.json", "11Jan2024_1819_INDAS_900001_900002_11012024061922.xml"):
        shutil.copy(FIXTURES / "results" / name, folder / name)
    shutil.copy(FIXTURES / "custom_events" / "events.csv", folder / "my_events.csv")
    return folder


def test_results_become_point_in_time_events(tmp_path: Path) -> None:
    home = tmp_path / "home"
    out = run(home, "ingest", "files", str(_inputs(tmp_path))).stdout
    assert "ingested 3 file(s), 0 already known, 0 not recognised, 0 failed" in out

    shown = json.loads(run(home, "show", "events", "-s", "DEMOCO", "--format", "json").stdout)
    q3 = [e for e in shown if e["period_end"] == "2023-12-31" and e["consolidated"]]
    assert len(q3) == 1
    # broadcast 11-Jan-2024 18:19 IST, after the close: tradable at the next session's open
    assert q3[0]["broadcast_ist"] == "2024-01-11 18:19"
    assert q3[0]["first_session"] == "2024-01-12"
    assert q3[0]["first_fill"] == "open"
    assert q3[0]["version"] == 1
    assert q3[0]["net_profit"] is not None

    # Known by the evening of 10 Jan 2024: the Q3 result did not exist yet.
    before = run(
        home, "show", "events", "-s", "DEMOCO", "--as-of", "2024-01-10", "--format", "json", check=False
    )
    known = json.loads(before.stdout) if before.returncode == 0 else []
    assert all(e["period_end"] != "2023-12-31" for e in known)

    # Same-close rule is a user option; an after-hours release is unaffected by it.
    same = json.loads(
        run(home, "show", "events", "-s", "DEMOCO", "--intraday", "same_close", "--format", "json").stdout
    )
    assert [e["first_session"] for e in same if e["period_end"] == "2023-12-31" and e["consolidated"]] == [
        "2024-01-12"
    ]
    info = run(home, "store", "info", "--format", "json").stdout
    assert '"custom_events"' in info


def test_show_events_says_what_to_do_when_nothing_is_stored(tmp_path: Path) -> None:
    proc = run(tmp_path / "home", "show", "events", "-s", "NOSUCH", check=False)
    assert proc.returncode != 0
    assert "earnest ingest results" in proc.stdout + proc.stderr


def test_as_of_without_offset_is_refused(tmp_path: Path) -> None:
    proc = run(tmp_path / "home", "show", "events", "-s", "X", "--as-of", "2024-01-10T10:00", check=False)
    assert proc.returncode != 0
    assert "offset" in proc.stdout + proc.stderr
