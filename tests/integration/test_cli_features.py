"""`earnest features list` and `earnest features build` through the executable: build is incremental."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli_ingest import run

BHAV = Path(__file__).resolve().parents[1] / "fixtures" / "bhavcopy"


def test_features_build_is_incremental_and_list_names_every_feature(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run(home, "ingest", "files", str(BHAV / "cm03JAN2022bhav.csv"), str(BHAV / "cm04JAN2022bhav.csv"))
    first = run(home, "features", "build").stdout
    assert "new rows stored" in first
    assert " 0 new rows stored" not in first
    again = run(home, "features", "build").stdout
    assert "0 values computed, 0 new rows stored" in again
    listed = json.loads(run(home, "features", "list", "--format", "json").stdout)
    names = {row["name"] for row in listed}
    assert {"rsi_14", "day_of_week"} <= names
    assert all(row["description"] for row in listed)
