"""Market data beyond storage: corporate-action inference, point-in-time adjustment, series checks.

- :func:`infer_actions` finds splits, bonuses and consolidations the action files missed;
- :func:`adjust_bars` / :func:`adjusted_bars` back-adjust unadjusted bars as of an instant;
- :func:`calendar_gaps`, :func:`stale_prices`, :func:`unexplained_jumps` are post-ingest checks;
- :func:`reconcile` runs all of it against a store, idempotently.
"""

from __future__ import annotations

from earnest.marketdata.actions import PLAUSIBLE_RATIOS, Ratio, infer_actions
from earnest.marketdata.adjust import ADJUSTED_COLUMNS, adjust_bars, adjusted_bars
from earnest.marketdata.checks import calendar_gaps, stale_prices, unexplained_jumps
from earnest.marketdata.reconcile import ReconcileResult, reconcile

__all__ = [
    "ADJUSTED_COLUMNS",
    "PLAUSIBLE_RATIOS",
    "Ratio",
    "ReconcileResult",
    "adjust_bars",
    "adjusted_bars",
    "calendar_gaps",
    "infer_actions",
    "reconcile",
    "stale_prices",
    "unexplained_jumps",
]
