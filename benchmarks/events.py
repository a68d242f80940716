"""Benchmark: read every NSE financial-results XBRL instance in ../shared/data (773 files, 39 MB).

earnest's reader (hash, parse, resolve contexts and periods, units, canonical fields, quarantine,
typed Polars frames) is printed next to a generic XML parse of the same files with the standard
library (``xml.etree.ElementTree.fromstring`` plus a walk that counts the facts): the baseline any
hand-rolled reader starts from. The target is the whole folder in at most 10 s on a 2-core machine.
The results listings (66 JSON files, 7,968 records) are timed too.

    .venv/bin/python benchmarks/events.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED, median, print_table, timed

from earnest.core.hashing import sha256_bytes
from earnest.sources.nse_results import NseResultsListingReader
from earnest.sources.xbrl import NseXbrlResultsReader, parser_name

TARGET_S = 10.0


def _load(folder: Path, pattern: str) -> list[tuple[str, bytes]]:
    files = [(f"{p.parent.name}/{p.name}", p.read_bytes()) for p in sorted(folder.glob(pattern))]
    if not files:
        sys.exit(f"no files matching {pattern} under {folder}: this benchmark needs ../shared/data")
    return files


def stdlib_baseline(files: list[tuple[str, bytes]]) -> int:
    """Parse each file with ElementTree and count the elements that carry a contextRef (the facts)."""
    facts = 0
    for _, data in files:
        root = ET.fromstring(data)
        facts += sum(1 for el in root if el.get("contextRef") is not None)
    return facts


def earnest_xbrl(files: list[tuple[str, bytes]]) -> tuple[int, int]:
    """(rows, quarantined) after reading every file into ``financial_facts``."""
    reader = NseXbrlResultsReader()
    rows = rejected = 0
    for name, data in files:
        parsed = reader.parse(name, data, sha256=sha256_bytes(data))
        rows += parsed.frame.height
        rejected += parsed.rejects.height
    return rows, rejected


def earnest_listings(files: list[tuple[str, bytes]]) -> tuple[int, int]:
    reader = NseResultsListingReader()
    rows = rejected = 0
    for name, data in files:
        parsed = reader.parse(name, data, sha256=sha256_bytes(data))
        rows += parsed.frame.height
        rejected += parsed.rejects.height
    return rows, rejected


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    xml_files = _load(SHARED / "nse_xbrl_financial_results", "*/*.xml")
    json_files = _load(SHARED / "nse_financial_results_calendar", "*.json")
    mb = sum(len(d) for _, d in xml_files) / 1e6
    facts = stdlib_baseline(xml_files)
    rows, rejected = earnest_xbrl(xml_files)
    l_rows, l_rej = earnest_listings(json_files)
    t_base = median(timed(lambda: stdlib_baseline(xml_files), repeat=args.repeat))
    t_ours = median(timed(lambda: earnest_xbrl(xml_files), repeat=args.repeat))
    t_list = median(timed(lambda: earnest_listings(json_files), repeat=args.repeat))
    print(
        f"{len(xml_files)} XBRL files, {mb:.1f} MB, {facts:,} facts; earnest parses XML with {parser_name()}"
    )
    print_table(
        [
            ("stdlib ElementTree parse + fact walk (baseline)", len(xml_files), f"{facts:,} facts", "-",
             t_base, mb / t_base),
            ("earnest NseXbrlResultsReader -> financial_facts", len(xml_files), f"{rows:,} rows",
             f"{rejected:,}", t_ours, mb / t_ours),
            ("earnest NseResultsListingReader -> results_listings", len(json_files), f"{l_rows:,} rows",
             f"{l_rej:,}", t_list, sum(len(d) for _, d in json_files) / 1e6 / t_list),
        ],
        ["reader", "files", "output", "quarantined", "seconds (median)", "MB/s"],
    )  # fmt: skip
    verdict = "PASS" if t_ours <= TARGET_S else "FAIL"
    print(f"\nXBRL folder in {t_ours:.2f} s (target <= {TARGET_S:.0f} s): {verdict}; "
          f"{t_ours / t_base:.1f}x the bare stdlib parse, which produces no typed, checked rows")  # fmt: skip


if __name__ == "__main__":
    main()
