"""Reconciliation after ingest: infer missing actions, adjust, check, record findings.

:func:`reconcile` is idempotent: inferred actions have stable ids and are written with
``ON CONFLICT DO NOTHING`` semantics (``store.upsert``), so a re-run infers nothing new and a
rejected action stays rejected; the findings of this module's rules for the instruments
processed are replaced, not piled up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from earnest.config import QualitySettings
from earnest.core import schemas
from earnest.marketdata.actions import infer_actions
from earnest.marketdata.adjust import adjust_bars
from earnest.marketdata.checks import RULES, calendar_gaps, stale_prices, unexplained_jumps
from earnest.store.base import SqlStore, iter_chunks

RULE_PENDING = "inferred_action"
"""Info finding: an inferred action awaiting a person's confirmation or rejection."""

MANAGED_RULES = (*RULES, RULE_PENDING)
CHUNK_INSTRUMENTS = 250
"""Instruments reconciled per pass, which bounds memory on a full-market store."""


@dataclass(frozen=True)
class ReconcileResult:
    """What a reconciliation did: the actions it inferred (and stored) and the findings it wrote."""

    actions_inferred: pl.DataFrame
    findings: pl.DataFrame
    instruments: int = 0
    findings_by_rule: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        rules = ", ".join(f"{rule} {n}" for rule, n in self.findings_by_rule.items())
        n = self.actions_inferred.height
        return f"{n} action(s) inferred over {self.instruments} instrument(s); findings: {rules}"


def _pending_findings(actions: pl.DataFrame, found_at: dt.datetime) -> pl.DataFrame:
    pending = actions.filter(pl.col("source") == "inferred", pl.col("status") == "inferred")
    detail = pl.format(
        "{} ex {}: {} (factor {}); confirm or reject action {}",
        "symbol",
        "ex_date",
        "purpose",
        pl.col("price_factor").round(4),
        "action_id",
    )
    out = pending.select(
        "instrument_id",
        "symbol",
        pl.col("ex_date").alias("date"),
        detail.alias("detail"),
        "source_file",
        rule=pl.lit(RULE_PENDING),
        severity=pl.lit("info"),
        found_at=pl.lit(found_at, dtype=schemas.UTC_TS),
    )
    return schemas.conform(out, schemas.FINDINGS, name=RULE_PENDING)


def replace_findings(store: SqlStore, instrument_ids: Sequence[str], findings: pl.DataFrame) -> None:
    """Delete this module's earlier findings for ``instrument_ids`` and append ``findings``, atomically."""
    rules = ", ".join("?" for _ in MANAGED_RULES)
    with store.transaction():
        for chunk in iter_chunks(list(instrument_ids), 500):
            ids = ", ".join("?" for _ in chunk)
            store._execute(
                f"DELETE FROM quality_findings WHERE rule IN ({rules}) AND instrument_id IN ({ids})",
                (*MANAGED_RULES, *chunk),
            )
        if findings.height:
            store._append("quality_findings", findings)


def _instrument_ids(store: SqlStore, instrument_ids: Sequence[str] | None) -> list[str]:
    if instrument_ids is not None:
        return sorted(set(instrument_ids))
    got = store.query("SELECT DISTINCT instrument_id FROM bars ORDER BY instrument_id")
    return [str(v) for v in got.get_column("instrument_id").to_list()]


def _reconcile_chunk(
    store: SqlStore, ids: Sequence[str], settings: QualitySettings, found_at: dt.datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    bars = store.bars(instrument_ids=ids)
    if bars.is_empty():
        return schemas.empty(schemas.CORPORATE_ACTIONS), schemas.empty(schemas.FINDINGS)
    symbols = bars.get_column("symbol").unique().to_list()
    known = pl.concat(
        [
            store.read("corporate_actions", where={"instrument_id": list(ids)}),
            store.read("corporate_actions", where={"instrument_id": None, "symbol": symbols}),
        ]
    )
    bands = store.read("price_bands", where={"symbol": symbols})
    inferred = infer_actions(bars, known, bands=bands, tolerance=settings.split_ratio_tolerance)
    if inferred.height:
        store.upsert("corporate_actions", inferred)
    actions = pl.concat([known, inferred])
    adjusted = adjust_bars(bars, actions)
    findings = pl.concat(
        [
            calendar_gaps(bars, found_at=found_at),
            stale_prices(bars, stale_days=settings.stale_days, found_at=found_at),
            unexplained_jumps(
                adjusted,
                actions=actions,
                bands=bands,
                no_band_pct=settings.jump_no_band_pct,
                band_tolerance_pct=settings.band_tolerance_pct,
                found_at=found_at,
            ),
            _pending_findings(actions, found_at),
        ]
    )
    replace_findings(store, ids, findings)
    return inferred, findings


def reconcile(
    store: SqlStore, *, instrument_ids: Sequence[str] | None = None, settings: QualitySettings
) -> ReconcileResult:
    """Infer and store missing split/bonus actions, then check the series of ``instrument_ids``.

    ``None`` means every instrument with bars. Runs in chunks of :data:`CHUNK_INSTRUMENTS`
    instruments; each chunk's inferred actions and findings are committed as it completes.
    """
    found_at = dt.datetime.now(dt.UTC)
    ids = _instrument_ids(store, instrument_ids)
    inferred: list[pl.DataFrame] = [schemas.empty(schemas.CORPORATE_ACTIONS)]
    findings: list[pl.DataFrame] = [schemas.empty(schemas.FINDINGS)]
    for chunk in iter_chunks(ids, CHUNK_INSTRUMENTS):
        new, found = _reconcile_chunk(store, chunk, settings, found_at)
        inferred.append(new)
        findings.append(found)
    all_findings = pl.concat(findings)
    counts = all_findings.group_by("rule").len()
    by_rule = {rule: 0 for rule in MANAGED_RULES}
    by_rule.update({str(r): int(n) for r, n in counts.iter_rows()})
    return ReconcileResult(pl.concat(inferred), all_findings, len(ids), by_rule)


__all__ = [
    "CHUNK_INSTRUMENTS",
    "MANAGED_RULES",
    "RULE_PENDING",
    "ReconcileResult",
    "reconcile",
    "replace_findings",
]
