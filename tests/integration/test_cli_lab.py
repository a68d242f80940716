"""`earnest lab run` and `earnest lab ledger` through the executable, on a small simulated market
written in NSE's real file formats and ingested with `earnest ingest files`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from test_cli_ingest import run

from earnest.simulate.market import SimConfig, simulate_market, write_market

HYPOTHESIS = """
name = "small blockbuster"
question = "blockbuster"
horizons = [1, 5]
outcome = "abnormal"
[period]
start = 2023-06-01
end = 2023-12-15
[event]
type = "results"
selector = "revenue_yoy > 0.0"
[benchmark]
estimation_sessions = 60
gap_sessions = 5
min_estimation_sessions = 40
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lab")
    market = simulate_market(
        SimConfig(n_symbols=40, start=dt.date(2023, 3, 1), end=dt.date(2023, 12, 31), plant_errors=False)
    )
    write_market(market, root / "sim")
    run(root / "home", "ingest", "files", str(root / "sim"))
    return root / "home"


def test_lab_run_writes_a_report_records_trials_once_and_says_the_verdict(home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "h.toml"
    spec.write_text(HYPOTHESIS)
    out = tmp_path / "report"
    shown = run(home, "lab", "run", str(spec), "--out", str(out)).stdout
    assert "verdicts" in shown
    assert any(label in shown for label in ("EDGE", "NO EDGE", "INCONCLUSIVE"))
    assert "2 trial(s) in question 'blockbuster'" in shown
    report = json.loads((out / "report.json").read_text())
    assert [v["horizon"] for v in report["variants"]] == [1, 5]
    assert report["receipt"]["data_hash"]
    assert report["receipt"]["config_hash"]
    assert report["counts"]["selected"] > 0
    assert (out / "report.html").read_text().startswith("<!doctype html>")
    # the same spec again: no new trial; a new horizon: one more
    again = json.loads(run(home, "lab", "run", str(spec), "--out", str(out), "--format", "json").stdout)
    assert all(v["n_trials"] == 2 for v in again["variants"])
    spec.write_text(HYPOTHESIS.replace("horizons = [1, 5]", "horizons = [1, 5, 10]"))
    third = json.loads(run(home, "lab", "run", str(spec), "--out", str(out), "--format", "json").stdout)
    assert all(v["n_trials"] == 3 for v in third["variants"])
    ledger = json.loads(run(home, "lab", "ledger", "--question", "blockbuster", "--format", "json").stdout)
    assert len(ledger) == 3
    assert sorted(row["runs"] for row in ledger) == [1, 3, 3]  # horizons 1 and 5 ran three times
    assert all(row["p_adjusted"] >= row["p_value"] for row in ledger if row["p_value"] is not None)


def test_a_bad_hypothesis_file_names_the_file_and_field(home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(HYPOTHESIS.replace("horizons = [1, 5]", "horizons = [0, 5]"))
    proc = run(home, "lab", "run", str(spec), check=False)
    assert proc.returncode == 2
    assert "bad.toml" in proc.stderr
    assert "horizons" in proc.stderr


def test_an_unknown_selector_field_lists_what_is_available(home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "typo.toml"
    spec.write_text(HYPOTHESIS.replace("revenue_yoy > 0.0", "revenue_yo > 0.0"))
    proc = run(home, "lab", "run", str(spec), check=False)
    assert proc.returncode != 0
    assert "revenue_yo" in proc.stderr
    assert "revenue_yoy" in proc.stderr


def test_an_index_universe_is_refused_until_constituent_history_exists(home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "index.toml"
    spec.write_text(HYPOTHESIS.replace("[period]", '[universe]\nindex = "NIFTY 50"\n[period]'))
    proc = run(home, "lab", "run", str(spec), check=False)
    assert proc.returncode == 3
    assert "universe.index" in proc.stderr
    assert "universe.symbols" in proc.stderr


def test_a_selector_can_use_registered_features_as_known_at_each_event(home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "feat.toml"
    spec.write_text(HYPOTHESIS)
    base = json.loads(run(home, "lab", "run", str(spec), "--format", "json").stdout)["counts"]["selected"]
    spec.write_text(HYPOTHESIS.replace("revenue_yoy > 0.0", "revenue_yoy > 0.0 and rsi_14 < 60"))
    got = json.loads(run(home, "lab", "run", str(spec), "--format", "json").stdout)["counts"]
    assert 0 < got["selected"] < base  # RSI as known before each broadcast removes some events
