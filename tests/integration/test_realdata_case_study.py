"""docs/case-study.md on the real files in ../shared/data (marked realdata): the figures the doc
quotes come from this pipeline, and this test pins them."""

from __future__ import annotations

from pathlib import Path

import pytest

from earnest.config import QualitySettings
from earnest.lab.spec import load_hypothesis
from earnest.lab.verdict import INCONCLUSIVE, NO_EDGE
from earnest.store import open_store
from earnest.workflows.ingest import ingest_paths
from earnest.workflows.lab import run_hypothesis

REPO = Path(__file__).resolve().parents[2]
FOLDERS = (
    "nifty50_daily_2000_2021",
    "index_daily_yahoo",
    "nse_financial_results_calendar",
    "nse_xbrl_financial_results",
)

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def studies(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    home = tmp_path_factory.mktemp("case")
    store = open_store(f"duckdb:///{home / 'e.duckdb'}")
    report = ingest_paths(store, [shared_data / f for f in FOLDERS], settings=QualitySettings())
    assert not report.failed
    out = {}
    for name in ("every_announcement", "blockbuster"):
        h = load_hypothesis(REPO / "examples" / "case_study" / f"{name}.toml")
        out[name] = run_hypothesis(store, h, out_dir=home / name).study
    store.close()
    return out


def test_every_announcement_is_no_edge_with_about_1700_events(studies: dict[str, object]) -> None:
    study = studies["every_announcement"]
    assert study.counts.in_scope == 3153  # type: ignore[attr-defined]
    variants = study.variants  # type: ignore[attr-defined]
    assert variants[0].estimate.n == 1716
    assert all(v.verdict.label == NO_EDGE for v in variants)
    assert all(v.estimate.ci_high < 0.005 for v in variants)


def test_blockbuster_has_four_events_and_is_inconclusive(studies: dict[str, object]) -> None:
    study = studies["blockbuster"]
    assert study.counts.selected == 4  # type: ignore[attr-defined]
    assert study.counts.in_scope == 563  # type: ignore[attr-defined]
    assert all(v.verdict.label == INCONCLUSIVE for v in study.variants)  # type: ignore[attr-defined]
    assert all(v.power.events_needed > 400 for v in study.variants)  # type: ignore[attr-defined]
