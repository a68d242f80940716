"""`earnest train` through the executable: errors through the CLI's mapping (fast), and training on
a small simulated market ingested with `earnest ingest files` (slow), in process and on Dask."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from test_cli_ingest import run

from earnest.simulate.market import SimConfig, simulate_market, write_market

CONFIG = """name = "cli model"
[hypothesis]
name = "every announcement"
question = "q-cli-train"
[hypothesis.period]
start = 2023-04-01
end = 2023-12-10
[hypothesis.benchmark]
estimation_sessions = 40
gap_sessions = 5
min_estimation_sessions = 20
[dataset]
features = ["sue", "ret_20d", "rsi_14"]
horizon = 5
[model]
kind = "logistic"
[validation]
n_splits = 3
min_train_size = 40
[search]
n_trials = 2
"""


def test_a_bad_config_names_file_field_and_line(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(CONFIG.replace('kind = "logistic"', 'kind = "forest"'))
    proc = run(tmp_path / "home", "train", str(spec), check=False)
    assert proc.returncode == 2
    assert "bad.toml" in proc.stderr
    assert "row 16" in proc.stderr
    assert "field model.kind" in proc.stderr
    missing = run(tmp_path / "home", "train", str(tmp_path / "nope.toml"), check=False)
    assert missing.returncode == 6
    assert "does not exist" in missing.stderr


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    market = simulate_market(
        SimConfig(n_symbols=40, start=dt.date(2023, 1, 1), end=dt.date(2023, 12, 31), plant_errors=False)
    )
    write_market(market, root / "sim")
    run(root / "home", "ingest", "files", str(root / "sim"))
    return root / "home"


@pytest.mark.slow
def test_train_prints_the_table_next_to_the_baselines_and_fills_the_ledger(
    home: Path, tmp_path: Path
) -> None:
    spec = tmp_path / "train.toml"
    spec.write_text(CONFIG)
    shown = run(home, "train", str(spec)).stdout
    assert "out of sample, next to the baselines" in shown
    for scorer in ("model", "logistic", "always_positive", "prevalence"):
        assert scorer in shown
    assert "2 trial(s) in question 'q-cli-train'" in shown
    table = json.loads(run(home, "train", str(spec), "--n-trials", "3", "--format", "json").stdout)
    assert [r["scorer"] for r in table] == ["model", "logistic", "always_positive", "prevalence"]
    ledger = json.loads(run(home, "lab", "ledger", "--question", "q-cli-train", "--format", "json").stdout)
    assert len(ledger) == 3  # trials 0-1 again (same seed, same parameters), and trial 2
    plain = json.loads(run(home, "train", str(spec), "--n-trials", "0", "--format", "json").stdout)
    # no search: the model is the default logistic, the baseline itself (same folds, same scores)
    assert plain[0]["roc_auc"] == pytest.approx(plain[1]["roc_auc"])
    assert plain[0]["strategy_sharpe"] == pytest.approx(plain[1]["strategy_sharpe"])
    ledger = json.loads(run(home, "lab", "ledger", "--question", "q-cli-train", "--format", "json").stdout)
    assert len(ledger) == 4  # the default parameters are one more trial
    assert all(row["kind"] == "model" and row["sharpe"] is not None for row in ledger)


@pytest.mark.slow
def test_train_runs_folds_and_trials_on_a_dask_scheduler(home: Path, tmp_path: Path) -> None:
    from distributed import LocalCluster

    spec = tmp_path / "train.toml"
    spec.write_text(CONFIG.replace('question = "q-cli-train"', 'question = "q-dask"'))
    local = json.loads(run(home, "train", str(spec), "--format", "json").stdout)
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=None
    ) as c:
        remote = json.loads(
            run(home, "train", str(spec), "--dask", c.scheduler_address, "--format", "json").stdout
        )
    assert remote == local
