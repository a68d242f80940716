"""The lab's HTML report opens in headless Chromium without errors and draws its charts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from earnest.core.calendar import nse_calendar
from earnest.lab.spec import hypothesis_from_dict
from earnest.lab.study import StudyData, run_study
from earnest.reports.lab import write_study
from earnest.simulate.labmarket import simulate_lab_market

pytestmark = pytest.mark.browser


def test_report_opens_without_errors_and_draws_three_charts(tmp_path: Path, open_page: Any) -> None:
    m = simulate_lab_market(n_symbols=80, n_sessions=700, seed=5, planted_car=0.02, planted_min_pat_yoy=0.2)
    h = hypothesis_from_dict(
        {
            "name": "browser check",
            "horizons": [1, 5],
            "period": {"start": "2011-08-01", "end": "2013-10-01"},
            "event": {"type": "results", "selector": "pat_yoy > 0.2"},
        }
    )
    study = run_study(h, StudyData(m.events, m.bars, m.index_bars, nse_calendar(), data_hash="sim"))
    _, page_path = write_study(study, tmp_path)
    with open_page(page_path) as (page, errors):
        plots = page.locator(".js-plotly-plot").count()
        title = page.locator("h1").inner_text()
        verdicts = page.locator("section.variant h3").all_inner_texts()
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert errors == []
    assert plots == 3
    assert title == "browser check"
    assert len(verdicts) == 2
    assert all(("EDGE" in v) or ("INCONCLUSIVE" in v) for v in verdicts)
    assert (tmp_path / "report.png").stat().st_size > 10_000
