"""Benchmark: the floor under the ingest benchmark: how long DuckDB alone takes to store one year
of full-market bars (246 sessions x 2,775 rows) in earnest's ``bars`` table, one transaction per
64 sessions as the ingest does: with the primary key and the two secondary indexes of migration
0001, as migrated for DuckDB (0006 drops those indexes: DuckDB never uses them), and with no
constraint at all.

No reading or checking happens here; the figures are what any DuckDB-backed ingest pays.

    .venv/bin/python benchmarks/store_floor.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, median, print_table, timed

from earnest.core import schemas

SESSIONS, ROWS, PER_COMMIT = 246, 2775, 64


def _frames() -> list[pl.DataFrame]:
    rng = np.random.default_rng(3)
    ids = [f"INE{i:06d}A01010" for i in range(ROWS)]
    out = []
    for start in range(0, SESSIONS, PER_COMMIT):
        days = range(start, min(start + PER_COMMIT, SESSIONS))
        n = ROWS * len(days)
        price = rng.uniform(10, 5000, n)
        frame = pl.DataFrame(
            {
                "exchange": "NSE",
                "instrument_id": ids * len(days),
                "isin": ids * len(days),
                "symbol": [f"SYM{i}" for i in range(ROWS)] * len(days),
                "series": "EQ",
                "date": [dt.date(2023, 1, 2) + dt.timedelta(days=d) for d in days for _ in range(ROWS)],
                "open": price,
                "high": price * 1.01,
                "low": price * 0.99,
                "close": price,
                "volume": rng.integers(0, 10**6, n),
                "knowledge_time": dt.datetime(2023, 1, 2, 10, 30, tzinfo=dt.UTC),
                "source_file": "cm02JAN2023bhav.csv",
                "source_row": np.arange(n),
            }
        )
        out.append(schemas.conform(frame, schemas.BARS))
    return out


def _ddl(keep_key: bool, keep_indexes: bool) -> list[str]:
    sql = (REPO / "src" / "earnest" / "store" / "migrations" / "0001_init.sql").read_text()
    table = re.search(r"CREATE TABLE bars \(.*?\n\);", sql, re.S)
    assert table is not None
    ddl = table.group(0)
    if not keep_key:
        ddl = re.sub(r",\s*PRIMARY KEY \([^)]*\)", "", ddl)
    out = [ddl]
    if keep_indexes:
        out += re.findall(r"CREATE INDEX bars_\w+ ON bars \([^)]*\)", sql)
    return out


def _store(frames: list[pl.DataFrame], ddl: list[str], folder: Path) -> None:
    db = folder / "floor.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    con.execute("SET TimeZone = 'UTC'")
    for stmt in ddl:
        con.execute(stmt)
    for frame in frames:
        con.register("stage", frame.to_arrow())
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO bars SELECT * FROM stage")
        con.execute("COMMIT")
        con.unregister("stage")
    con.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    frames = _frames()
    rows = sum(f.height for f in frames)
    print(f"data: {rows:,} bars rows, {len(frames)} transactions")
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, key, idx in [
            ("0001 schema (primary key + 2 indexes)", True, True),
            ("as migrated for DuckDB (primary key only)", True, False),
            ("no key, no index", False, False),
        ]:
            t = timed(lambda k=key, i=idx: _store(frames, _ddl(k, i), Path(tmp)), repeat=args.repeat)
            table.append([label, rows, median(t), f"{rows / median(t):,.0f}"])
    print_table(table, ["DuckDB bars table", "rows", "median s", "rows/s"])


if __name__ == "__main__":
    main()
