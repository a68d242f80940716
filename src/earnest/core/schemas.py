"""Column contracts shared by every stage.

Each contract maps a column name to its Polars dtype. Frames that cross a stage boundary are
conformed to one of these with :func:`conform`, so a missing or mistyped column fails loudly at
the boundary instead of deep inside a computation.

Conventions: prices in rupees, quantities in shares (contracts for derivatives), values in
rupees (never lakhs or crores), dates are exchange session dates, and every ``*_time`` column is a
UTC timestamp. ``knowledge_time`` is when the row became known to a market participant; every
point-in-time join is an as-of join on it.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from earnest.core.errors import SchemaDriftError

UTC_TS = pl.Datetime("us", "UTC")

Schema = Mapping[str, pl.DataType | type[pl.DataType]]

BARS: Schema = {
    "exchange": pl.Utf8,
    "instrument_id": pl.Utf8,
    "isin": pl.Utf8,
    "symbol": pl.Utf8,
    "series": pl.Utf8,
    "date": pl.Date,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "last": pl.Float64,
    "prev_close": pl.Float64,
    "volume": pl.Int64,
    "turnover": pl.Float64,
    "trades": pl.Int64,
    "delivery_qty": pl.Int64,
    "knowledge_time": UTC_TS,
    "source_file": pl.Utf8,
    "source_row": pl.Int64,
}
"""Daily equity bars, unadjusted, one row per (exchange, instrument_id, series, date)."""

BAR_KEY = ("exchange", "instrument_id", "series", "date")

DERIVATIVE_BARS: Schema = {
    "exchange": pl.Utf8,
    "date": pl.Date,
    "instrument_type": pl.Utf8,
    "symbol": pl.Utf8,
    "expiry": pl.Date,
    "strike": pl.Float64,
    "option_type": pl.Utf8,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "last": pl.Float64,
    "prev_close": pl.Float64,
    "underlying": pl.Float64,
    "settle": pl.Float64,
    "open_interest": pl.Int64,
    "oi_change": pl.Int64,
    "volume": pl.Int64,
    "turnover": pl.Float64,
    "trades": pl.Int64,
    "lot_size": pl.Int64,
    "knowledge_time": UTC_TS,
    "source_file": pl.Utf8,
    "source_row": pl.Int64,
}
"""Daily F&O contract bars from the UDiFF bhavcopy (FinInstrmTp STO/IDO/STF/IDF)."""

DERIVATIVE_KEY = ("exchange", "date", "instrument_type", "symbol", "expiry", "strike", "option_type")

INDEX_BARS: Schema = {
    "index_name": pl.Utf8,
    "date": pl.Date,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,
    "turnover": pl.Float64,
    "knowledge_time": UTC_TS,
    "source_file": pl.Utf8,
    "source_row": pl.Int64,
}
"""Daily index values (NIFTY 50 and friends); ``index_name`` is upper-case, e.g. ``NIFTY 50``."""

INDEX_KEY = ("index_name", "date")

INSTRUMENTS: Schema = {
    "instrument_id": pl.Utf8,
    "isin": pl.Utf8,
    "exchange": pl.Utf8,
    "symbol": pl.Utf8,
    "name": pl.Utf8,
    "series": pl.Utf8,
    "listing_date": pl.Date,
    "delisting_date": pl.Date,
    "face_value": pl.Float64,
    "status": pl.Utf8,
    "first_seen": pl.Date,
    "last_seen": pl.Date,
    "source": pl.Utf8,
}
"""One row per instrument. ``instrument_id`` is the ISIN when known, else ``EXCHANGE:CODE``.

Delisted names are never removed: ``status`` is ``listed``, ``delisted`` or ``unknown``."""

SYMBOL_CHANGES: Schema = {
    "old_symbol": pl.Utf8,
    "new_symbol": pl.Utf8,
    "change_date": pl.Date,
    "company_name": pl.Utf8,
    "source": pl.Utf8,
}

CORPORATE_ACTIONS: Schema = {
    "action_id": pl.Utf8,
    "exchange": pl.Utf8,
    "instrument_id": pl.Utf8,
    "symbol": pl.Utf8,
    "series": pl.Utf8,
    "ex_date": pl.Date,
    "action_type": pl.Utf8,
    "ratio_new": pl.Float64,
    "ratio_old": pl.Float64,
    "price_factor": pl.Float64,
    "amount": pl.Float64,
    "purpose": pl.Utf8,
    "source": pl.Utf8,
    "status": pl.Utf8,
    "knowledge_time": UTC_TS,
    "source_file": pl.Utf8,
}
"""Corporate actions. ``price_factor`` multiplies prices *before* ``ex_date`` to make them
comparable with prices from ``ex_date`` on (0.5 for a 2:1 split or a 1:1 bonus; 1.0 for a
dividend, which earnest does not back-adjust by default). ``source`` is ``nse_bc``, ``user`` or
``inferred``; ``status`` is ``confirmed``, ``inferred`` (awaiting the user) or ``rejected``."""

PRICE_BANDS: Schema = {
    "symbol": pl.Utf8,
    "series": pl.Utf8,
    "name": pl.Utf8,
    "band_pct": pl.Float64,
    "remarks": pl.Utf8,
    "effective_date": pl.Date,
    "knowledge_time": UTC_TS,
    "source_file": pl.Utf8,
    "source_row": pl.Int64,
}
"""Per-scrip price band (circuit limit) in percent; null ``band_pct`` means "No Band"
(F&O stocks, which have dynamic operating ranges instead)."""

QUARANTINE: Schema = {
    "source_file": pl.Utf8,
    "source_sha256": pl.Utf8,
    "source_row": pl.Int64,
    "target": pl.Utf8,
    "field": pl.Utf8,
    "rule": pl.Utf8,
    "reason": pl.Utf8,
    "raw": pl.Utf8,
    "quarantined_at": UTC_TS,
}
"""A rejected row: which file and line (1-based, the header is line 1), which field, which rule,
a human-readable reason and the raw content. Nothing the user gave us is dropped silently."""

FINDINGS: Schema = {
    "rule": pl.Utf8,
    "severity": pl.Utf8,
    "instrument_id": pl.Utf8,
    "symbol": pl.Utf8,
    "date": pl.Date,
    "detail": pl.Utf8,
    "source_file": pl.Utf8,
    "found_at": UTC_TS,
}
"""Quality findings that do not reject a row (calendar gaps, stale prices, inferred actions)."""

INGESTED_FILES: Schema = {
    "sha256": pl.Utf8,
    "file_name": pl.Utf8,
    "kind": pl.Utf8,
    "rows_total": pl.Int64,
    "rows_stored": pl.Int64,
    "rows_merged": pl.Int64,
    "rows_quarantined": pl.Int64,
    "ingested_at": UTC_TS,
    "code_version": pl.Utf8,
}


def empty(schema: Schema) -> pl.DataFrame:
    """An empty frame with exactly the columns and dtypes of ``schema``."""
    return pl.DataFrame(schema={k: v for k, v in schema.items()})


def conform(frame: pl.DataFrame, schema: Schema, *, name: str = "frame") -> pl.DataFrame:
    """Select and cast ``frame`` to ``schema``; missing nullable columns are added as nulls.

    Raises :class:`SchemaDriftError` when a column cannot be cast without losing values.
    """
    present = [c for c in schema if c in frame.columns]
    if not present:
        return pl.DataFrame([pl.Series(c, [None] * frame.height, dtype=d) for c, d in schema.items()])
    to_cast = [c for c in present if frame.schema[c] != schema[c]]
    exprs = [
        (pl.col(c).cast(d, strict=False) if c in to_cast else pl.col(c))
        if c in frame.columns
        else pl.lit(None, dtype=d).alias(c)
        for c, d in schema.items()
    ]
    try:
        out = frame.select(exprs)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
        out = None
    if out is not None and to_cast:
        before = frame.select(pl.col(to_cast).null_count()).row(0)
        after = out.select(pl.col(to_cast).null_count()).row(0)
        if before != after:
            out = None
    if out is None:
        _raise_drift(frame, schema, name)
    assert out is not None
    return out


def _raise_drift(frame: pl.DataFrame, schema: Schema, name: str) -> None:
    """Name the first column of ``frame`` that cannot become its ``schema`` type."""
    for col, dtype in schema.items():
        if col not in frame.columns:
            continue
        src = frame.get_column(col)
        try:
            cast = src.cast(dtype, strict=False)
        except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
            raise SchemaDriftError(
                f"{name}: column {col!r} is {src.dtype}, cannot become {dtype}",
                remedy="this is a bug in the reader that produced the frame; please report it",
                field=col,
            ) from exc
        lost = int(cast.null_count() - src.null_count())
        if lost:
            raise SchemaDriftError(
                f"{name}: column {col!r} has {lost} value(s) that are not {dtype}",
                remedy="this is a bug in the reader that produced the frame; please report it",
                field=col,
            )


RESULTS_LISTINGS: Schema = {
    "filing_key": pl.Utf8,
    "exchange": pl.Utf8,
    "symbol": pl.Utf8,
    "isin": pl.Utf8,
    "company": pl.Utf8,
    "period_from": pl.Date,
    "period_to": pl.Date,
    "period_type": pl.Utf8,
    "relating_to": pl.Utf8,
    "financial_year_start": pl.Date,
    "financial_year_end": pl.Date,
    "audited": pl.Boolean,
    "cumulative": pl.Boolean,
    "consolidated": pl.Boolean,
    "ind_as": pl.Utf8,
    "format": pl.Utf8,
    "bank_flag": pl.Utf8,
    "is_bank": pl.Boolean,
    "seq_number": pl.Int64,
    "broadcast_time": UTC_TS,
    "broadcast_source": pl.Utf8,
    "dissemination_time": UTC_TS,
    "filing_time": UTC_TS,
    "xbrl_url": pl.Utf8,
    "xbrl_name": pl.Utf8,
    "detail_url": pl.Utf8,
    "knowledge_time": UTC_TS,
    "source_file": pl.Utf8,
    "source_row": pl.Int64,
}
"""One NSE financial-results filing record (the results listing JSON). ``broadcast_time`` is when NSE
disseminated the result (UTC, from IST ``broadCastDate``, else ``exchdisstime``, else ``filingDate``;
``broadcast_source`` names the one used) and is also ``knowledge_time``. ``xbrl_name`` (NSE's XBRL
file name) joins to ``financial_facts.xbrl_name``; ``filing_key`` is ``NSE:<seqNumber>``."""

RESULTS_LISTING_KEY = ("filing_key",)

FINANCIAL_FACTS: Schema = {
    "symbol": pl.Utf8,
    "entity_id": pl.Utf8,
    "consolidation": pl.Utf8,
    "period_kind": pl.Utf8,
    "period_start": pl.Date,
    "period_end": pl.Date,
    "period_source": pl.Utf8,
    "concept": pl.Utf8,
    "field": pl.Utf8,
    "dimension": pl.Utf8,
    "value": pl.Float64,
    "value_text": pl.Utf8,
    "unit": pl.Utf8,
    "decimals": pl.Int64,
    "context_id": pl.Utf8,
    "xbrl_name": pl.Utf8,
    "xbrl_sha256": pl.Utf8,
    "broadcast_time": UTC_TS,
    "knowledge_time": UTC_TS,
    "source_file": pl.Utf8,
    "source_row": pl.Int64,
}
"""Facts of a financial-results XBRL filing in a tidy long layout: one row per (file, concept,
period kind, period end, dimension). ``consolidation`` is ``standalone`` or ``consolidated``;
``period_kind`` is ``quarter``, ``ytd`` or ``instant``; ``field`` is earnest's canonical name
(``net_profit``, ``eps_basic``...) or null for facts kept under their taxonomy ``concept`` only;
``dimension`` is ``''`` for the default (no dimension). Money is in rupees, EPS in rupees per
share (``unit`` ``INR/shares``), share counts in shares; ``decimals`` is the filed precision
(null for INF). ``broadcast_time`` (and ``knowledge_time``) come from the file name's
``DDMonYYYY_HHMM_`` prefix when there is one; the listing's time is authoritative (join on
``xbrl_name``)."""

FINANCIAL_FACT_KEY = ("xbrl_sha256", "concept", "period_kind", "period_end", "dimension")


CUSTOM_EVENTS: Schema = {
    "event_id": pl.Utf8,
    "symbol": pl.Utf8,
    "isin": pl.Utf8,
    "event_type": pl.Utf8,
    "event_time": UTC_TS,
    "knowledge_time": UTC_TS,
    "fields": pl.Utf8,
    "source_file": pl.Utf8,
    "source_row": pl.Int64,
}
"""One user-supplied event (``earnest ingest files`` on a generic events CSV). ``event_id`` is the
key, a stable hash of company, type, instant and fields; ``fields`` is a JSON object as text; both
times are UTC; ``knowledge_time`` >= ``event_time``."""

CUSTOM_EVENT_KEY = ("event_id",)


FEATURES: Schema = {
    "instrument_id": pl.Utf8,
    "date": pl.Date,
    "feature": pl.Utf8,
    "value": pl.Float64,
    "known_at": UTC_TS,
    "spec_hash": pl.Utf8,
    "computed_at": UTC_TS,
}
"""Materialised features, long: one row per (instrument, session, feature output); ``value`` null
where unknown; ``known_at`` when it became known (UTC); ``spec_hash`` the spec and input basis."""

FEATURE_KEY = ("instrument_id", "date", "feature")


LAB_TRIALS: Schema = {
    "trial_key": pl.Utf8,
    "question": pl.Utf8,
    "hypothesis_name": pl.Utf8,
    "variant_json": pl.Utf8,
    "horizon": pl.Int64,
    "outcome": pl.Utf8,
    "n_events": pl.Int64,
    "effect": pl.Float64,
    "p_value": pl.Float64,
    "first_run_at": UTC_TS,
    "last_run_at": UTC_TS,
    "runs": pl.Int64,
    "receipt_json": pl.Utf8,
    "kind": pl.Utf8,
    "sharpe": pl.Float64,
    "n_periods": pl.Int64,
}
"""The hypothesis lab's trial ledger: one row per variant tried (``trial_key``, the hash of its
definition), grouped by research ``question``; the latest run's ``n_events``, ``effect`` and
``p_value`` (null without usable events) and receipt (JSON text); ``runs`` counts the runs.
``kind`` (0007): ``hypothesis`` (a lab variant) or ``model`` (a training trial, no p-value);
``sharpe`` and ``n_periods``: a model trial's out-of-sample per-period Sharpe ratio and number of
periods, what the deflated Sharpe ratio needs (null for hypothesis trials)."""

LAB_TRIAL_KEY = ("trial_key",)


API_KEYS: Schema = {
    "key_id": pl.Utf8,
    "name": pl.Utf8,
    "hash": pl.Utf8,
    "created_at": UTC_TS,
    "revoked_at": UTC_TS,
    "rate_limit": pl.Float64,
}
"""The prediction service's API keys: ``hash`` is the hex sha256 of the key's random secret (never
the secret); ``revoked_at`` null while valid; ``rate_limit`` requests per second (null: default)."""

API_KEY_KEY = ("key_id",)


SIGNALS: Schema = {
    "date": pl.Date,
    "symbol": pl.Utf8,
    "isin": pl.Utf8,
    "model_name": pl.Utf8,
    "model_version": pl.Utf8,
    "score": pl.Float64,
    "features_json": pl.Utf8,
    "receipt_json": pl.Utf8,
    "created_at": UTC_TS,
}
"""The day's scored universe (``GET /v1/signals``): one score per (date, symbol, model), with the
feature values used and the receipt as JSON text."""

SIGNAL_KEY = ("date", "symbol", "model_name")


PIPELINE_RUNS: Schema = {
    "run_date": pl.Date,
    "stage": pl.Utf8,
    "status": pl.Utf8,
    "attempts": pl.Int64,
    "started_at": UTC_TS,
    "finished_at": UTC_TS,
    "detail_json": pl.Utf8,
    "error": pl.Utf8,
}
"""The daily pipeline's stage log: one row per (trading day, stage); ``status`` running, done or
failed; ``attempts`` counts starts; ``detail_json`` what the stage did; ``error`` why it failed."""

PIPELINE_RUN_KEY = ("run_date", "stage")


ALERTS: Schema = {
    "alert_id": pl.Utf8,
    "model_name": pl.Utf8,
    "model_version": pl.Utf8,
    "symbol": pl.Utf8,
    "signal_date": pl.Date,
    "event_id": pl.Utf8,
    "signal": pl.Utf8,
    "probability": pl.Float64,
    "knowledge_time": UTC_TS,
    "created_at": UTC_TS,
    "payload_json": pl.Utf8,
}
"""The alert outbox (issue 8): one row per alert, ``alert_id`` the hash of (model name, model
version, symbol, signal date, event id), so enqueueing an alert twice keeps one row;
``knowledge_time`` is when the signal's information was known (its entry follows it)."""

ALERT_KEY = ("alert_id",)

ALERT_DELIVERIES: Schema = {
    "alert_id": pl.Utf8,
    "channel": pl.Utf8,
    "status": pl.Utf8,
    "attempts": pl.Int64,
    "next_attempt_at": UTC_TS,
    "last_error": pl.Utf8,
    "provider_message_id": pl.Utf8,
    "sent_at": UTC_TS,
    "updated_at": UTC_TS,
}
"""One row per (alert, channel): ``status`` pending, sent or failed_permanent; a sent row is
never changed again (see ``UPDATE_ON_CONFLICT`` in ``store/base.py``)."""

ALERT_DELIVERY_KEY = ("alert_id", "channel")

ALERT_OUTCOMES: Schema = {
    "alert_id": pl.Utf8,
    "horizon": pl.Int64,
    "symbol": pl.Utf8,
    "fill": pl.Utf8,
    "entry_date": pl.Date,
    "exit_date": pl.Date,
    "raw_return": pl.Float64,
    "benchmark": pl.Utf8,
    "benchmark_return": pl.Float64,
    "excess_return": pl.Float64,
    "known_at": UTC_TS,
    "computed_at": UTC_TS,
}
"""A sent alert's realised return over ``horizon`` sessions from its entry, raw and minus the
``benchmark`` (an index name such as ``NIFTY 50``, or ``EQUAL_WEIGHT``)."""

ALERT_OUTCOME_KEY = ("alert_id", "horizon")


__all__ = [
    "ALERTS",
    "ALERT_DELIVERIES",
    "ALERT_DELIVERY_KEY",
    "ALERT_KEY",
    "ALERT_OUTCOMES",
    "ALERT_OUTCOME_KEY",
    "API_KEYS",
    "API_KEY_KEY",
    "BARS",
    "BAR_KEY",
    "CORPORATE_ACTIONS",
    "CUSTOM_EVENTS",
    "CUSTOM_EVENT_KEY",
    "DERIVATIVE_BARS",
    "DERIVATIVE_KEY",
    "FEATURES",
    "FEATURE_KEY",
    "FINANCIAL_FACTS",
    "FINANCIAL_FACT_KEY",
    "FINDINGS",
    "INDEX_BARS",
    "INDEX_KEY",
    "INGESTED_FILES",
    "INSTRUMENTS",
    "LAB_TRIALS",
    "LAB_TRIAL_KEY",
    "PIPELINE_RUNS",
    "PIPELINE_RUN_KEY",
    "PRICE_BANDS",
    "QUARANTINE",
    "RESULTS_LISTINGS",
    "RESULTS_LISTING_KEY",
    "SIGNALS",
    "SIGNAL_KEY",
    "SYMBOL_CHANGES",
    "UTC_TS",
    "Schema",
    "conform",
    "empty",
]
