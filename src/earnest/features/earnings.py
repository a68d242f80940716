"""Earnings features: what the latest quarterly results known at each session's end of day said.

For every panel row (instrument, date ``d``) the features describe the results known at ``d``'s end
of day, ``eod = 16:00 IST`` of ``d`` (:func:`earnest.core.calendar.eod_known_utc`): only filings
with ``knowledge_time <= eod`` are visible (:func:`earnest.events.pit.asof_join` by ``symbol``). A
results filing broadcast at 19:15 IST on ``d`` is therefore first seen in ``d + 1``'s features.

**Input** ``events``: one row per results filing (the events of :func:`earnest.events.build_events`)
with the figures derived from its quarter (:func:`earnest.events.derived.derive_quarterly`), as
:func:`results_with_figures` builds them. Columns used (:data:`EVENT_COLUMNS`): ``symbol``,
``knowledge_time`` (UTC), ``first_session``, ``first_fill``, ``period_end``, ``period_kind``,
``consolidated`` and the derived columns of :data:`METRICS`. The panel needs ``instrument_id``,
``symbol``, ``date`` and ``close`` (the reactions are measured on ``close``).

**Which filing.** Metrics come from the latest *quarter* known at ``eod``: per consolidation basis,
the known quarterly filing with the latest ``period_end`` (a later-known restatement of an older
quarter never replaces a newer quarter; a revision of the same quarter does), consolidated preferred
unless the standalone series is ahead by a quarter. Timing comes from announcements of any period
kind, one per (symbol, period end), dated by its first filing.

**Outputs** (Float64; null where unknown):

- ``revenue_yoy``, ``revenue_qoq``, ``net_profit_yoy``, ``net_profit_qoq``, ``eps_yoy``, ``eps_qoq``,
  ``sue``, ``net_margin``, ``net_margin_yoy_change``, ``operating_margin``,
  ``operating_margin_yoy_change``, ``beat_streak``: the derived values of that quarter (definitions
  in :mod:`earnest.events.derived`: growth is ``(x - base) / |base|``, SUE is the seasonal EPS
  difference over the std of the previous eight, the streak counts consecutive quarters of rising
  seasonal EPS);
- ``days_since_results``: calendar days from the latest announcement's IST date to ``d``;
- ``sessions_since_results``: sessions from the first session whose end of day knew the
  announcement (0 on that session) to ``d``;
- ``is_results_day``: 1.0 on that first session, else 0.0 (0.0 also before any announcement);
- ``prev_reaction_mean``, ``prev_reaction_last``, ``prev_reaction_count``: the market reactions of
  up to four announcements before the latest one, as known when it was made
  (:func:`earnest.events.derived.previous_reactions`);
- ``results_reaction``: the reaction to the latest announcement itself once its window's close is
  published (null before): the one-session close-to-close move that first reflected the news.

Reactions need the panel's closes around past announcements: the spec's lookback (about five
quarters of sessions) covers the four previous ones; older ones are simply not counted.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from earnest.core.calendar import EOD_PUBLISHED, IST, TradingCalendar, nse_calendar
from earnest.events.derived import derive_quarterly, previous_reactions, reactions
from earnest.events.pit import asof_join
from earnest.features._panel import require_columns
from earnest.features.spec import FeatureSpec, eod_known_at

METRICS: dict[str, str] = {
    "revenue_yoy": "revenue_from_operations_yoy",
    "revenue_qoq": "revenue_from_operations_qoq",
    "net_profit_yoy": "net_profit_yoy",
    "net_profit_qoq": "net_profit_qoq",
    "eps_yoy": "eps_basic_yoy",
    "eps_qoq": "eps_basic_qoq",
    "sue": "sue",
    "net_margin": "net_margin",
    "net_margin_yoy_change": "net_margin_yoy_change",
    "operating_margin": "operating_margin",
    "operating_margin_yoy_change": "operating_margin_yoy_change",
    "beat_streak": "beat_streak",
}
"""Output name -> the :data:`earnest.events.derived.DERIVED` column it is read from."""

EVENT_KEYS: tuple[str, ...] = (
    "symbol",
    "knowledge_time",
    "first_session",
    "first_fill",
    "period_end",
    "period_kind",
    "consolidated",
)
"""What an ``events`` row says about its filing: who, when it became known and tradable, which period."""
EVENT_COLUMNS: tuple[str, ...] = (*EVENT_KEYS, *METRICS.values())
"""Columns :func:`earnings_features` reads from its ``events`` frame."""

TIMING = (
    "days_since_results",
    "sessions_since_results",
    "is_results_day",
    "prev_reaction_mean",
    "prev_reaction_last",
    "prev_reaction_count",
    "results_reaction",
)
OUTPUTS: tuple[str, ...] = (*METRICS, *TIMING)
LOOKBACK_SESSIONS = 330
"""Sessions of panel history the reactions of four previous announcements need (about five quarters)."""

_EOD = "_eod"


def results_with_figures(events: pl.DataFrame, figures: pl.DataFrame) -> pl.DataFrame:
    """``events`` (schema ``EVENTS``) with the :data:`METRICS` source columns of the quarter each
    filing reported, derived point in time from ``figures``
    (:func:`earnest.events.fundamentals.filing_figures`); joined on the XBRL file name, consolidation
    basis and period end. A filing without XBRL figures keeps nulls."""
    basis = pl.when(pl.col("consolidated")).then(pl.lit("consolidated")).otherwise(pl.lit("standalone"))
    wanted = list(METRICS.values())
    keys = ["xbrl_name", "consolidation", "period_end"]
    if figures.is_empty():
        return events.with_columns(pl.lit(None, pl.Float64).alias(c) for c in wanted)
    derived = derive_quarterly(figures).select(*keys, *wanted).unique(keys, keep="first", maintain_order=True)
    joined = events.with_columns(basis.alias("consolidation")).join(
        derived, on=keys, how="left", maintain_order="left"
    )
    return joined.drop("consolidation")


def _check(panel: pl.DataFrame, events: pl.DataFrame) -> None:
    require_columns(
        panel, ("instrument_id", "symbol", "date", "close"), what="panel", remedy="pass the bars panel"
    )
    remedy = "build them with earnest.features.earnings.results_with_figures"
    require_columns(events, EVENT_COLUMNS, what="events frame", remedy=remedy)


def _newest_periods(rows: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Drop rows that report an older period than one already known (late restatements of old
    quarters), in knowledge-time order within ``by``."""
    rows = rows.sort("knowledge_time", "period_end", maintain_order=True)
    seen = pl.col("period_end").cum_max().shift(1).over(by)
    return rows.filter(seen.is_null() | (pl.col("period_end") >= seen))


def _latest_quarter(left: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Per left row, the metrics of the latest quarter known at ``_eod`` (consolidated preferred)."""
    quarters = events.filter(pl.col("period_kind") == "quarter").with_columns(
        pl.col("consolidated").fill_null(False).alias("_cons")
    )
    picked = []
    for cons in (True, False):
        rows = _newest_periods(quarters.filter(pl.col("_cons") == cons), ["symbol"])
        rows = rows.select(
            "symbol", "knowledge_time", pl.col("period_end").alias(f"_pe{cons:d}"),
            *(pl.col(src).cast(pl.Float64).alias(f"{out}{cons:d}") for out, src in METRICS.items()),
        )  # fmt: skip
        picked.append(asof_join(left.select("symbol", _EOD), rows, by="symbol", left_time=_EOD))
    both = pl.concat([picked[0].drop("knowledge_time"), picked[1].select(pl.exclude("symbol", _EOD, "knowledge_time"))],
                     how="horizontal")  # fmt: skip
    use_cons = pl.col("_pe1").is_not_null() & (pl.col("_pe0").is_null() | (pl.col("_pe1") >= pl.col("_pe0")))
    return both.select(
        pl.when(use_cons).then(pl.col(f"{o}1")).otherwise(pl.col(f"{o}0")).alias(o) for o in METRICS
    )


def _announcements(events: pl.DataFrame, panel: pl.DataFrame, calendar: TradingCalendar) -> pl.DataFrame:
    """One row per (symbol, period end): its first filing's time, first session known at end of day,
    previous reactions and own reaction."""
    bars = panel.select("symbol", "date", "close")
    timed = events.select(
        "symbol", "knowledge_time", "first_session", "first_fill", "period_end"
    ).with_row_index("_i")
    prev = previous_reactions(timed, bars).select("_i", "prev_reaction_mean", "prev_reaction_last",
                                                  "prev_reaction_count")  # fmt: skip
    own = reactions(timed, bars).select("_i", "reaction", "reaction_known_time")
    rows = timed.join(prev, on="_i").join(own, on="_i").sort("knowledge_time", "_i")
    rows = rows.group_by("symbol", "period_end", maintain_order=True).first()
    rows = _newest_periods(rows, ["symbol"])
    sessions = pl.Series("s", calendar.sessions, dtype=pl.Date)
    local = pl.col("knowledge_time").dt.convert_time_zone(IST.key)
    day = local.dt.date()
    # the first session whose 16:00 IST end of day is at or after the announcement
    after_eod = local.dt.time() > pl.lit(EOD_PUBLISHED)
    probe = pl.when(after_eod).then(day + pl.duration(days=1)).otherwise(day)
    rows = rows.with_columns(day.alias("_ann_day"), probe.alias("_probe"))
    known_pos = sessions.search_sorted(rows.get_column("_probe"), side="left").cast(pl.Int64)
    return rows.with_columns(known_pos.alias("_kpos")).drop("_probe", "_i", "first_session", "first_fill")


def earnings_features(
    panel: pl.DataFrame, *, events: pl.DataFrame, calendar: TradingCalendar | None = None
) -> pl.DataFrame:
    """The earnings features of the module docstring for every panel row (same rows and order)."""
    _check(panel, events)
    events = events.filter(pl.col("knowledge_time").is_not_null())  # when it became known is unknown
    cal = calendar or nse_calendar()
    sessions = pl.Series("s", cal.sessions, dtype=pl.Date)
    left = panel.select("instrument_id", "symbol", "date").with_columns(
        eod_known_at(pl.col("date")).alias(_EOD)
    )
    metrics = _latest_quarter(left, events)
    ann = _announcements(events, panel, cal)
    timing = asof_join(left.select("symbol", _EOD), ann, by="symbol", left_time=_EOD)
    pos = sessions.search_sorted(panel.get_column("date"), side="left").cast(pl.Int64)
    have = pl.col("knowledge_time").is_not_null()
    timing = timing.with_columns(pos.alias("_dpos"), panel.get_column("date").alias("_d")).select(
        (pl.col("_d") - pl.col("_ann_day")).dt.total_days().cast(pl.Float64).alias("days_since_results"),
        (pl.col("_dpos") - pl.col("_kpos")).cast(pl.Float64).alias("sessions_since_results"),
        pl.when(have).then(pl.col("_dpos") == pl.col("_kpos")).otherwise(False).cast(pl.Float64).alias("is_results_day"),
        pl.col("prev_reaction_mean").cast(pl.Float64),
        pl.col("prev_reaction_last").cast(pl.Float64),
        pl.col("prev_reaction_count").cast(pl.Float64),
        pl.when(pl.col("reaction_known_time") <= pl.col(_EOD)).then(pl.col("reaction")).cast(pl.Float64)
        .alias("results_reaction"),
    )  # fmt: skip
    base = left.select("instrument_id", "date", pl.col(_EOD).alias("known_at"))
    return pl.concat([base, metrics, timing], how="horizontal").select(
        "instrument_id", "date", "known_at", *OUTPUTS
    )


def _compute(panel: pl.DataFrame, *, events: pl.DataFrame, **_: Any) -> pl.DataFrame:
    """The earnings features (module docstring) on the NSE calendar."""
    return earnings_features(panel, events=events)


SPECS: tuple[FeatureSpec, ...] = (
    FeatureSpec(
        name="earnings",
        description="Latest quarterly results known at the day's end: growth, SUE, margins, beat streak, "
        "days since results, previous and own announcement reactions",
        compute=_compute,
        inputs=("bars", "events"),
        lookback_sessions=LOOKBACK_SESSIONS,
        outputs=OUTPUTS,
    ),
)

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_KEYS",
    "LOOKBACK_SESSIONS",
    "METRICS",
    "OUTPUTS",
    "SPECS",
    "earnings_features",
    "results_with_figures",
]
