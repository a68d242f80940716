"""Property: gating several bars files of distinct sessions together (``gate_many``) gives each
file the same kept rows, quarantine and findings as gating it alone with the same context."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "quality"))
from quality_builders import TODAY, bar, frame_of, parsed_file

from earnest.config import QualitySettings
from earnest.core import schemas
from earnest.core.calendar import nse_calendar
from earnest.quality.gate import GateContext, gate, gate_many

DAYS = [dt.date(2024, 7, 3), dt.date(2024, 7, 4), dt.date(2024, 7, 5), dt.date(2024, 7, 6)]  # 6th: Saturday

ROWS = st.builds(
    lambda symbol, isin, close, high, volume: bar(
        symbol=symbol, isin=isin, close=close, high=high, open=close, low=min(close, 99.0), volume=volume
    ),
    st.sampled_from(["INFY", "TCS", "OLDNAME"]),
    st.sampled_from(["INE009A01021", "INE467B01029", None]),
    st.sampled_from([100.0, 104.0, 130.0, -1.0]),
    st.sampled_from([105.0, 50.0, 140.0]),
    st.none() | st.integers(0, 5000),
)
FILES = st.lists(
    st.tuples(st.sampled_from(range(len(DAYS))), st.lists(ROWS, min_size=0, max_size=6)),
    min_size=2,
    max_size=4,
    unique_by=lambda f: f[0],
)


def _context() -> GateContext:
    bands = [
        {"symbol": "INFY", "series": "EQ", "band_pct": 10.0, "effective_date": DAYS[0]},
        {"symbol": "TCS", "series": "EQ", "band_pct": 5.0, "effective_date": DAYS[1]},
    ]
    stored = [
        {
            **bar(date=DAYS[1], close=104.0),
            "instrument_id": "INE009A01021",
            "source_file": "x",
            "source_row": 2,
        }
    ]
    return GateContext(
        calendar=nse_calendar(),
        instruments=schemas.empty(schemas.INSTRUMENTS),
        symbol_changes=frame_of(
            schemas.SYMBOL_CHANGES, [{"old_symbol": "OLDNAME", "new_symbol": "TCS", "change_date": DAYS[2]}]
        ),
        price_bands=frame_of(schemas.PRICE_BANDS, bands),
        stored=frame_of(schemas.BARS, stored),
        today=TODAY,
    )


def _plain(frame: pl.DataFrame, drop: tuple[str, ...]) -> list[Any]:
    return frame.drop([c for c in drop if c in frame.columns]).rows()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=FILES)
def test_gate_many_equals_gating_each_file(files: list[tuple[int, list[dict[str, Any]]]]) -> None:
    ctx, qs = _context(), QualitySettings()
    parsed = [
        parsed_file(
            [{**r, "date": DAYS[d]} for r in rows],
            name=f"cm{DAYS[d]:%d%b%Y}bhav.csv".upper().replace("BHAV.CSV", "bhav.csv"),
        )
        for d, rows in files
    ]
    together = gate_many(parsed, ctx, settings=qs, code_version="t")
    alone = [gate(p, ctx, settings=qs, code_version="t") for p in parsed]
    for got, want in zip(together, alone, strict=True):
        assert (got.file_name, got.sha256, got.rows_total) == (want.file_name, want.sha256, want.rows_total)
        assert _plain(got.tables["bars"], ()) == _plain(want.tables["bars"], ())
        assert _plain(got.quarantine, ("quarantined_at",)) == _plain(want.quarantine, ("quarantined_at",))
        assert _plain(got.findings, ("found_at",)) == _plain(want.findings, ("found_at",))
    # All instrument rows ride with the first file; they summarise the same rows.
    merged = (
        pl.concat([b.tables["instruments"] for b in alone])
        .group_by("instrument_id")
        .agg(pl.col("first_seen").min(), pl.col("last_seen").max())
    )
    got_inst = together[0].tables["instruments"].select("instrument_id", "first_seen", "last_seen")
    assert sorted(got_inst.rows()) == sorted(merged.rows())
    assert all("instruments" not in b.tables for b in together[1:])
