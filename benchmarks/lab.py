"""Benchmark: one hypothesis over 50,000 events on a 2,000-symbol x 10-year daily panel, every test
and baseline included (issue 5 target: at most 10 s on a 2-core machine).

The panel is the lab's simulated market (earnest.simulate.labmarket: GARCH market factor, betas,
Student-t idiosyncratic returns, results seasons with clustered dates). The selector is set so that
about 50,000 events are selected; the study then builds event windows for the selected events, for
every event of the type (the every-event baseline) and for 5 matched random dates per event, fits
the market model, runs all event-study tests with a 2,000-sample date bootstrap, the
overlap-robust estimate, the baselines and the power figures for 5 horizons.

    .venv/bin/python benchmarks/lab.py [--repeat 3] [--symbols 2000] [--sessions 2500]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, print_table

from earnest.core.calendar import nse_calendar
from earnest.core.memory import keep_freed_memory
from earnest.lab.spec import hypothesis_from_dict
from earnest.lab.study import StudyData, run_study
from earnest.simulate.labmarket import simulate_lab_market

TARGET_EVENTS = 50_000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--symbols", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=2500)
    ap.add_argument("--plain-malloc", action="store_true", help="leave glibc's allocator settings alone")
    args = ap.parse_args()
    tuned = False if args.plain_malloc else keep_freed_memory()  # as the CLI does (earnest.core.memory)
    t0 = time.perf_counter()
    market = simulate_lab_market(
        n_symbols=args.symbols, n_sessions=args.sessions, seed=1, events_per_year=4.0, planted_car=0.0
    )
    sim_s = time.perf_counter() - t0
    events = market.events
    start = market.sessions[260]  # a year of history before the first event studied
    end = market.sessions[-40]
    day = pl.col("knowledge_time").dt.convert_time_zone("Asia/Kolkata").dt.date()
    scope = events.filter(day.is_between(start, end))
    share = min(1.0, TARGET_EVENTS / max(scope.height, 1))
    threshold = float(scope.get_column("pat_yoy").quantile(1.0 - share)) if share < 1.0 else -1e9
    h = hypothesis_from_dict(
        {
            "name": "benchmark",
            "horizons": [1, 3, 5, 10, 20],
            "outcome": "abnormal",
            "period": {"start": start, "end": end},
            "event": {"type": "results", "selector": f"pat_yoy > {threshold!r}"},
            "benchmark": {"model": "market_model"},
            "stats": {"n_boot": 2000},
        }
    )
    data = StudyData(events, market.bars, market.index_bars, nse_calendar(), data_hash="benchmark")
    print(
        f"panel: {args.symbols:,} symbols x {args.sessions:,} sessions = {market.bars.height:,} bars "
        f"({sim_s:.1f}s to simulate); {events.height:,} events, {scope.height:,} in the period"
    )
    runs: list[dict[str, float]] = []
    totals: list[float] = []
    selected = 0
    for _ in range(args.repeat):
        timings: dict[str, float] = {}
        t = time.perf_counter()
        study = run_study(h, data, timings=timings)
        totals.append(time.perf_counter() - t)
        runs.append(timings)
        selected = study.counts.selected
    stages = list(runs[0])
    rows: list[list[object]] = [[s, median([r.get(s, 0.0) for r in runs])] for s in stages]
    rows.append(["total (median)", median(totals)])
    print(f"hypothesis over {selected:,} selected events, 5 horizons, market model, all tests and baselines")
    print_table(rows, ["stage", "seconds (median)"])
    print(f"runs: {', '.join(f'{x:.2f}' for x in totals)} s; target <= 10 s")
    print(f"glibc keeps freed memory for reuse (as the CLI sets it): {tuned}; --plain-malloc to compare")


if __name__ == "__main__":
    main()
