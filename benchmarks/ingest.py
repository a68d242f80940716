"""Benchmark: one year of full-market NSE daily bhavcopy read, checked and stored in DuckDB.

Data: the real last legacy bhavcopy (cm05JUL2024bhav.csv.zip, 2,775 rows) from ../shared/data,
replayed over every NSE session of 2023 with each symbol's prices moved by a random walk (so every
day differs and prev_close chains correctly). Without ../shared the simulated full market is used.

Compared in the same run with a plain pandas baseline: read_csv per file, row-wise validation
(the same OHLC / positivity / duplicate rules, one row at a time) and an insert into DuckDB.
Also prints earnest's median seconds per stage (from the ingest report: read and parse, gate,
store; plus closing the store, when DuckDB checkpoints), its CPU time and the machine's load.

    .venv/bin/python benchmarks/ingest.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, median, print_table, timed

from earnest.config import QualitySettings
from earnest.core.calendar import nse_calendar
from earnest.store import open_store
from earnest.workflows.ingest import ingest_paths

MON = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def _template() -> pl.DataFrame:
    real = SHARED / "nse_bhavcopy_legacy" / "cm05JUL2024bhav.csv.zip"
    if real.exists():
        with zipfile.ZipFile(real) as zf:
            data = zf.read(zf.namelist()[0])
        print(f"template: {real.name} (real NSE file)")
    else:  # pragma: no cover - fresh clone without ../shared
        from earnest.simulate.market import SimConfig, simulate_market

        m = simulate_market(SimConfig(seed=1, scale=20.0))
        day = m.bars.get_column("date").max()
        b = m.bars.filter(pl.col("date") == day)
        data = (
            b.select(
                pl.col("symbol").alias("SYMBOL"),
                pl.col("series").alias("SERIES"),
                pl.col("open").alias("OPEN"),
                pl.col("high").alias("HIGH"),
                pl.col("low").alias("LOW"),
                pl.col("close").alias("CLOSE"),
                pl.col("close").alias("LAST"),
                pl.col("close").alias("PREVCLOSE"),
                pl.col("volume").alias("TOTTRDQTY"),
                (pl.col("volume") * pl.col("close")).alias("TOTTRDVAL"),
                pl.lit("x").alias("TIMESTAMP"),
                pl.lit(1).alias("TOTALTRADES"),
                pl.col("isin").alias("ISIN"),
            )
            .write_csv()
            .encode()
        )
        print("template: simulated market (../shared/data not present)")
    df = pl.read_csv(io.BytesIO(data), infer_schema_length=0)
    return df.select([c for c in df.columns if c.strip()])


def build_year(folder: Path, year: int = 2023) -> list[Path]:
    tpl = _template()
    num = ["OPEN", "HIGH", "LOW", "CLOSE", "LAST", "PREVCLOSE"]
    tpl = tpl.with_columns([pl.col(c).cast(pl.Float64) for c in num])
    rng = np.random.default_rng(11)
    level = np.ones(tpl.height)
    sessions = nse_calendar().sessions_between(dt.date(year, 1, 1), dt.date(year, 12, 31))
    paths = []
    prev_close = tpl.get_column("CLOSE").to_numpy()
    for day in sessions:
        step = np.exp(rng.normal(0, 0.012, tpl.height))
        level = level * step
        close = np.round(tpl.get_column("CLOSE").to_numpy() * level, 2)
        scale = close / tpl.get_column("CLOSE").to_numpy()
        frame = tpl.with_columns(
            [(pl.col(c) * pl.Series(scale)).round(2).alias(c) for c in ["OPEN", "HIGH", "LOW", "LAST"]]
            + [
                pl.Series("CLOSE", close),
                pl.Series("PREVCLOSE", prev_close),
                pl.lit(f"{day.day:02d}-{MON[day.month - 1]}-{day.year}").alias("TIMESTAMP"),
            ]
        ).with_columns(
            pl.max_horizontal("OPEN", "HIGH", "LOW", "CLOSE").alias("HIGH"),
            pl.min_horizontal("OPEN", "HIGH", "LOW", "CLOSE").alias("LOW"),
        )
        prev_close = close
        name = f"cm{day.day:02d}{MON[day.month - 1]}{day.year}bhav.csv"
        text = frame.write_csv()
        lines = [ln + "," for ln in text.splitlines()]
        path = folder / name
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


STAGES: list[dict[str, float]] = []
"""Seconds per stage of each earnest run (from the ingest report, plus closing the store)."""


def earnest_run(folder: Path, db: Path) -> int:
    db.unlink(missing_ok=True)
    store = open_store(f"duckdb:///{db}")
    report = ingest_paths(store, [folder], settings=QualitySettings(), run_reconcile=False)
    n = store.count("bars")
    t0 = time.perf_counter()
    store.close()  # DuckDB checkpoints here (writes the primary-key index): part of storing
    STAGES.append({**report.stage_s, "close": time.perf_counter() - t0, "total": report.elapsed_s})
    assert not report.failed
    return n


def pandas_run(paths: list[Path], db: Path) -> int:
    """The plain baseline: pandas read_csv and row-by-row validation, then one insert per file."""
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE bars (symbol VARCHAR, series VARCHAR, date DATE, open DOUBLE, high DOUBLE, low DOUBLE, "
        "close DOUBLE, volume BIGINT, isin VARCHAR, PRIMARY KEY (symbol, series, date))"
    )
    stored = 0
    for path in paths:
        df = pd.read_csv(path, index_col=False, keep_default_na=False)
        df = df.loc[:, [c for c in df.columns if not str(c).startswith("Unnamed")]]
        good, seen = [], set()
        for _, row in df.iterrows():
            o, h, low, c = row["OPEN"], row["HIGH"], row["LOW"], row["CLOSE"]
            key = (row["SYMBOL"], row["SERIES"])
            if min(o, h, low, c) <= 0 or h < max(o, c, low) or low > min(o, c) or key in seen:
                continue
            seen.add(key)
            day = dt.datetime.strptime(row["TIMESTAMP"].title(), "%d-%b-%Y").date()
            good.append((row["SYMBOL"], row["SERIES"], day, o, h, low, c, int(row["TOTTRDQTY"]), row["ISIN"]))
        frame = pd.DataFrame(
            good, columns=["symbol", "series", "date", "open", "high", "low", "close", "volume", "isin"]
        )
        con.execute("INSERT INTO bars SELECT * FROM frame")
        stored += len(frame)
    con.close()
    return stored


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "year"
        folder.mkdir()
        paths = build_year(folder)
        rows = sum(1 for p in paths for _ in p.open()) - len(paths)
        print(f"data: {len(paths)} daily files, {rows:,} rows")
        n_e = earnest_run(folder, Path(tmp) / "e.duckdb")
        STAGES.clear()
        load = os.getloadavg()[0]
        cpu0 = time.process_time()
        t_e = timed(lambda: earnest_run(folder, Path(tmp) / "e.duckdb"), repeat=args.repeat)
        cpu_e = (time.process_time() - cpu0) / args.repeat
        n_p = pandas_run(paths, Path(tmp) / "p.duckdb")
        t_p = timed(lambda: pandas_run(paths, Path(tmp) / "p.duckdb"), repeat=max(1, args.repeat - 1))
    me, mp = median(t_e), median(t_p)
    print_table(
        [
            ["earnest ingest (read + gate + DuckDB)", n_e, me, f"{n_e / me:,.0f}"],
            ["pandas read_csv + row-wise validation", n_p, mp, f"{n_p / mp:,.0f}"],
        ],
        ["pipeline", "rows stored", "median s", "rows/s"],
    )
    print(
        f"earnest is {mp / me:.1f}x faster than the pandas baseline (target >= 5x); earnest median {me:.2f}s "
        f"(target <= 5 s); runs: {[round(t, 2) for t in t_e]}"
    )
    stages = ["read", "gate", "store", "close", "total"]
    print_table(
        [[stage, median([s.get(stage, 0.0) for s in STAGES])] for stage in stages],
        ["earnest stage (read = parse, store includes the file lookups)", "median s"],
    )
    print(
        f"earnest CPU time {cpu_e:.2f} s per run (all threads); load average {load:.2f} on "
        f"{os.cpu_count()} cores when the earnest runs began (other work on the machine slows wall time)"
    )


if __name__ == "__main__":
    main()
