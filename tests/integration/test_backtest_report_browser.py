"""The backtest's HTML report opens in headless Chromium without errors and draws its five charts."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from earnest.reports.backtest import write_backtest

pytestmark = pytest.mark.browser


def _builders() -> ModuleType:
    """The unit tests' run builder (tests/unit/reports/backtest_builders.py), loaded by path."""
    path = Path(__file__).resolve().parents[1] / "unit" / "reports" / "backtest_builders.py"
    spec = importlib.util.spec_from_file_location("backtest_report_builders", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_backtest_report_opens_without_errors_and_draws_five_charts(tmp_path: Path, open_page: Any) -> None:
    run = _builders().synthetic_run(name="<b>browser</b> check", benchmark_name="NIFTY 50 <i>TRI</i>")
    _, page_path = write_backtest(run, tmp_path)
    with open_page(page_path) as (page, errors):
        plots = page.locator(".js-plotly-plot").count()
        heatmaps = page.locator(".js-plotly-plot .heatmaplayer image").count()
        bars = page.locator("#chart3 .barlayer .point").count()
        title = page.locator("h1").inner_text()
        legend = page.locator("#chart0 .legendtext").all_text_contents()
        page.screenshot(path=str(tmp_path / "backtest.png"), full_page=True)
    assert errors == []
    assert plots == 5
    assert heatmaps == 1
    assert bars == 2 * 8  # 7 fee components and slippage, in rupees and in bps
    assert title == "<b>browser</b> check"  # shown as text, not markup
    assert legend == ["net of costs", "gross (before costs)", "NIFTY 50 <i>TRI</i>"]
    assert (tmp_path / "backtest.png").stat().st_size > 10_000
