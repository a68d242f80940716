"""Column contract of earnings events (:data:`EVENTS`) and the key that identifies a reported period.

An *event* is one results filing as the market saw it: what period it reports, when it was
disseminated (``event_time``), when a participant could know it (``knowledge_time``) and the first
session and auction at which that knowledge could be traded (``first_session``, ``first_fill``).
A company may file the same period more than once (a restatement, a re-filing in the new format,
an audited copy of unaudited numbers): every filing is kept as a *version* of its period, numbered
in the order the market learnt them, so research can choose the first release (what the market
reacted to) or the latest version known at a given instant (:func:`earnest.events.pit.as_of`).
"""

from __future__ import annotations

import polars as pl

from earnest.core.schemas import UTC_TS, Schema

EVENTS: Schema = {
    "event_id": pl.Utf8,
    "event_type": pl.Utf8,
    "exchange": pl.Utf8,
    "symbol": pl.Utf8,
    "isin": pl.Utf8,
    "company": pl.Utf8,
    "period_start": pl.Date,
    "period_end": pl.Date,
    "period_kind": pl.Utf8,
    "fiscal_year": pl.Int64,
    "fiscal_quarter": pl.Int64,
    "consolidated": pl.Boolean,
    "audited": pl.Boolean,
    "cumulative": pl.Boolean,
    "is_bank": pl.Boolean,
    "event_time": UTC_TS,
    "knowledge_time": UTC_TS,
    "first_session": pl.Date,
    "first_fill": pl.Utf8,
    "intraday_rule": pl.Utf8,
    "version": pl.Int64,
    "is_first_release": pl.Boolean,
    "supersedes_event_id": pl.Utf8,
    "xbrl_name": pl.Utf8,
    "filing_key": pl.Utf8,
    "source_file": pl.Utf8,
}
"""One earnings event per results filing. Columns:

* ``event_id``: stable identifier; for an NSE listing it is the listing's ``filing_key``
  (``NSE:<seqNumber>``), so building events twice gives the same ids.
* ``event_type``: ``results`` (a financial-results filing).
* ``exchange``, ``symbol`` (upper case), ``isin``, ``company``: who filed, as the listing says.
* ``period_start``, ``period_end``: the reporting period (the listing's ``fromDate``/``toDate``).
* ``period_kind``: what the period covers, from its length in calendar months (3 ``quarter``,
  6 ``half_year``, 9 ``nine_months``, 12 ``year``); a period of another length falls back to the
  listing's ``period`` text (``Quarterly``, ``Half-Yearly``, ``Annual``), else null.
* ``fiscal_year``, ``fiscal_quarter``: the Indian financial year (April to March) containing
  ``period_end``, labelled by the calendar year it ends in (FY2024 = April 2023 to March 2024), and
  the quarter of that year ``period_end`` falls in (1 = April-June ... 4 = January-March). This is
  the market-wide convention, not the company's own financial year (a few companies, e.g. ACC before
  2023, kept a January-December year; their listing's ``relatingTo`` text numbers quarters their way).
* ``consolidated``, ``audited``, ``cumulative``, ``is_bank``: the listing's flags (null when the
  listing did not say).
* ``event_time``: when the exchange disseminated the filing (the listing's ``broadcast_time``), UTC.
* ``knowledge_time``: when a market participant could know it, UTC; for NSE listings the same
  instant as ``event_time``. Every point-in-time join uses this column.
* ``first_session``, ``first_fill``: the first NSE session (a date) and auction (``open`` or
  ``close``) at which the news could be traded, per
  :meth:`earnest.core.calendar.TradingCalendar.first_tradable`: before 09:15 IST on a session day,
  that day's open; during the session (09:15 to 15:30) that day's close or the next session's open,
  as ``intraday_rule`` says; at or after 15:30, or on a day without a session, the next session's open.
* ``intraday_rule``: the rule used for news released during the session (``next_open`` or
  ``same_close``).
* ``version``: 1 for the first filing of its period (see :data:`PERIOD_KEY`), 2 for the next, ...,
  in order of ``knowledge_time`` (ties broken by NSE sequence number, then ``filing_key``).
* ``is_first_release``: ``version == 1``.
* ``supersedes_event_id``: the ``event_id`` of the previous version of the same period, null for
  version 1.
* ``xbrl_name``: NSE's XBRL file name; joins to ``financial_facts.xbrl_name`` (null for old filings
  without XBRL).
* ``filing_key``, ``source_file``: the listing row this event came from.
"""

PERIOD_KEY = ("exchange", "symbol", "period_end", "consolidated", "period_kind")
"""The columns that identify a reported period: filings sharing them are versions of one another."""

EVENT_TYPE_RESULTS = "results"

PERIOD_KINDS = ("quarter", "half_year", "nine_months", "year")

__all__ = ["EVENTS", "EVENT_TYPE_RESULTS", "PERIOD_KEY", "PERIOD_KINDS"]
