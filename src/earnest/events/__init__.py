"""Earnings events, point in time: results filings with announcement time, first tradable session
and versions (first release vs revised), and the as-of views every later stage joins on.

Data flow: ``results_listings`` (from the store) -> :func:`build_events` / :func:`load_events` ->
:func:`as_of` (what was known at an instant) or :func:`first_releases` (what the market first saw);
:func:`asof_join` attaches point-in-time rows to any timeline by ``knowledge_time``.
"""

from __future__ import annotations

from earnest.events.pit import as_of, asof_join, first_releases
from earnest.events.records import build_events, load_events
from earnest.events.schema import EVENTS

__all__ = ["EVENTS", "as_of", "asof_join", "build_events", "first_releases", "load_events"]
