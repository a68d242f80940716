"""Filing figures: the facts of one results filing as one wide row per period.

The XBRL reader stores a filing as tidy long facts (:data:`earnest.core.schemas.FINANCIAL_FACTS`:
one row per concept, period and dimension). Research wants the statement as a row: revenue, profit,
EPS... side by side. :func:`filing_figures` turns the non-dimensional facts that carry a canonical
``field`` into one row per (filing, period) with one ``Float64`` column per canonical field
(:data:`FIELDS`). A field the filing does not report is null, never zero: "not reported" and "0" are
different statements.

Versions and time: each row keeps the filing's ``knowledge_time`` (UTC), so a restated quarter (a later
filing for the same period) is a second row with a later ``knowledge_time``, never an overwrite;
:func:`latest_known` picks, for a point in time, the latest version of each quarter known by then.
The XBRL file name carries the broadcast time only to the minute, and some downloaders write ``0000``
(unknown); NSE's results listing is authoritative, see :func:`with_listing_times`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from earnest.core import schemas
from earnest.core.errors import DataError

if TYPE_CHECKING:
    from earnest.store.base import Store

# fmt: off
FIELDS: tuple[str, ...] = (
    "revenue_from_operations", "other_income", "total_income", "total_expenses", "employee_benefit_expense",
    "finance_costs", "depreciation", "exceptional_items", "profit_before_tax", "tax_expense",
    "profit_continuing_operations", "net_profit", "net_profit_owners", "other_comprehensive_income",
    "total_comprehensive_income", "eps_basic", "eps_diluted", "eps_basic_continuing", "eps_diluted_continuing",
    "face_value", "paid_up_share_capital", "interest_earned", "interest_expended", "operating_expenses",
    "operating_profit", "provisions", "gross_npa", "net_npa", "gross_npa_ratio", "net_npa_ratio",
)
# fmt: on
"""earnest's canonical financial fields, in the XBRL reader's order (a unit test pins this list to the
reader's ``CANONICAL`` mapping; the events layer may not import sources). Money in rupees, EPS and
``face_value`` in rupees per share, ``*_npa_ratio`` fractions."""

PER_SHARE_FIELDS: frozenset[str] = frozenset(
    {"eps_basic", "eps_diluted", "eps_basic_continuing", "eps_diluted_continuing", "face_value"}
)
"""Fields in rupees per share (unit ``INR/shares``)."""

RATIO_FIELDS: frozenset[str] = frozenset({"gross_npa_ratio", "net_npa_ratio"})
"""Fields that are fractions (unit ``pure``; banks file ``PercentageOfNpa`` with no unit at all)."""

MONEY_FIELDS: frozenset[str] = frozenset(FIELDS) - PER_SHARE_FIELDS - RATIO_FIELDS
"""Fields in rupees (unit ``INR``)."""

KEY: tuple[str, ...] = (
    "xbrl_name",
    "xbrl_sha256",
    "symbol",
    "consolidation",
    "period_kind",
    "period_start",
    "period_end",
)
"""One figures row per filing (``xbrl_sha256``) and period."""

FIGURES: schemas.Schema = {
    **{k: schemas.FINANCIAL_FACTS[k] for k in KEY},
    **dict.fromkeys(FIELDS, pl.Float64),
    "broadcast_time": schemas.UTC_TS,
    "knowledge_time": schemas.UTC_TS,
    "source_file": pl.Utf8,
}
"""The figures frame: :data:`KEY`, one Float64 column per canonical field, the filing's broadcast and
knowledge times (UTC) and the file it was read from."""

_FACT_COLUMNS = ("field", "dimension", "value", *KEY, "broadcast_time", "knowledge_time", "source_file")


def figure_facts(facts: pl.DataFrame) -> pl.DataFrame:
    """The facts that make figures: non-dimensional (``dimension == ''``), with a canonical ``field``.

    Raises :class:`DataError` when ``facts`` lacks a ``financial_facts`` column, or when one filing
    reports the same field twice for one period (the store's key forbids it, so two frames were mixed).
    """
    missing = [c for c in _FACT_COLUMNS if c not in facts.columns]
    if missing:
        raise DataError(
            f"facts frame lacks column(s) {missing}",
            remedy="pass rows of the financial_facts table (schema FINANCIAL_FACTS)",
        )
    picked = facts.filter(pl.col("field").is_not_null() & (pl.col("dimension") == ""))
    dupes = (
        picked.group_by("xbrl_sha256", "period_kind", "period_end", "field").len().filter(pl.col("len") > 1)
    )
    if dupes.height:
        row = dupes.row(0, named=True)
        raise DataError(
            f"filing {row['xbrl_sha256'][:12]} reports {row['field']} {row['len']} times for "
            f"{row['period_kind']} ending {row['period_end']}",
            remedy="pass each filing's facts once (deduplicate on FINANCIAL_FACT_KEY)",
            field=str(row["field"]),
        )
    return picked


def filing_figures(facts: pl.DataFrame) -> pl.DataFrame:
    """One row per (filing, period) with one Float64 column per canonical field (schema :data:`FIGURES`).

    ``facts`` are ``financial_facts`` rows; only non-dimensional facts with a canonical ``field`` are
    used (segment and other dimensional facts are not figures). Fields a filing does not report are
    null. Rows are sorted by symbol, consolidation, period end, period kind and knowledge time.
    """
    picked = figure_facts(facts)
    rows = picked.group_by(KEY).agg(
        *(pl.col("value").filter(pl.col("field") == f).first().alias(f) for f in FIELDS),
        pl.col("broadcast_time").first(),
        pl.col("knowledge_time").first(),
        pl.col("source_file").first(),
    )
    return sort_figures(schemas.conform(rows, FIGURES, name="filing figures"))


def sort_figures(frame: pl.DataFrame) -> pl.DataFrame:
    """The canonical order of figures-like frames (deterministic, nulls last)."""
    order = ["symbol", "consolidation", "period_end", "period_kind", "knowledge_time", "xbrl_name"]
    return frame.sort(order, nulls_last=True)


def with_listing_times(frame: pl.DataFrame, listings: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (facts or figures) with ``broadcast_time``/``knowledge_time`` taken from NSE's results
    listing (schema ``RESULTS_LISTINGS``) where the listing has the filing's ``xbrl_name`` and a time.

    The listing is authoritative (the file name's time is cut to the minute or missing). When several
    listing records name the same XBRL file, the earliest time is used: the filing was public from then.
    Rows the listing does not cover keep their own times.
    """
    times = (
        listings.filter(pl.col("xbrl_name").is_not_null() & pl.col("knowledge_time").is_not_null())
        .group_by("xbrl_name")
        .agg(
            pl.col("broadcast_time").min().alias("_bt"),
            pl.col("knowledge_time").min().alias("_kt"),
        )
    )
    joined = frame.join(times, on="xbrl_name", how="left")
    return joined.with_columns(
        pl.coalesce("_bt", "broadcast_time").alias("broadcast_time"),
        pl.coalesce("_kt", "knowledge_time").alias("knowledge_time"),
    ).drop("_bt", "_kt")


def load_figures(
    store: Store, *, symbols: Sequence[str] | None = None, listing_times: bool = True
) -> pl.DataFrame:
    """Figures of the stored filings (``financial_facts``), optionally for some ``symbols`` only.

    With ``listing_times`` (the default) the times come from ``results_listings`` where it has the
    filing (see :func:`with_listing_times`). Figures are not checked here: see
    :func:`earnest.events.filing_checks.checked_figures`.
    """
    where: dict[str, object] = {"dimension": ""}
    if symbols is not None:
        where["symbol"] = [s.upper() for s in symbols]
    facts = store.read("financial_facts", where=where)
    if listing_times and facts.height:
        names = facts.get_column("xbrl_name").unique().drop_nulls().to_list()
        listings = store.read("results_listings", where={"xbrl_name": names})
        facts = with_listing_times(facts, listings)
    return filing_figures(facts)


def quarter_index(period_end: pl.Expr) -> pl.Expr:
    """The calendar quarter a period ends in, as a running integer (``year * 4 + quarter - 1``), so
    that ``q - 1`` is the previous quarter and ``q - 4`` the same quarter a year earlier."""
    return period_end.dt.year().cast(pl.Int64) * 4 + (period_end.dt.month().cast(pl.Int64) - 1) // 3


def quarter_rows(figures: pl.DataFrame) -> pl.DataFrame:
    """The ``quarter`` rows of ``figures`` with ``row_id`` (position) and ``qidx`` (:func:`quarter_index`)."""
    return (
        figures.filter(pl.col("period_kind") == "quarter")
        .with_row_index("row_id")
        .with_columns(quarter_index(pl.col("period_end")).alias("qidx"))
    )


def latest_known(
    quarters: pl.DataFrame, columns: Sequence[str], *, max_lag: int | None = None
) -> pl.DataFrame:
    """For each row of ``quarters`` (from :func:`quarter_rows`), the history it may see, point in time.

    Returns long rows ``(row_id, lag, *columns)``: ``lag`` 0 is the row itself; ``lag`` j > 0 is the
    latest version of quarter ``qidx - j`` of the same symbol and consolidation among rows whose
    ``knowledge_time`` is at or before the row's own (ties broken by ``xbrl_name``, the greater wins, so
    NSE's ``_WEB_2`` re-upload beats ``_WEB``). Later filings, and later restatements of old quarters,
    never appear. A row without ``knowledge_time`` sees no history. ``max_lag`` bounds ``lag``.
    """
    cols = list(columns)
    left = quarters.select("row_id", "symbol", "consolidation", "qidx", "knowledge_time")
    right = quarters.filter(pl.col("knowledge_time").is_not_null()).select(
        "symbol",
        "consolidation",
        pl.col("qidx").alias("_hq"),
        pl.col("knowledge_time").alias("_hkt"),
        pl.col("xbrl_name").alias("_hname"),
        *cols,
    )
    pairs = left.join(right, on=["symbol", "consolidation"]).with_columns(
        (pl.col("qidx") - pl.col("_hq")).alias("lag")
    )
    keep = (pl.col("lag") > 0) & (pl.col("_hkt") <= pl.col("knowledge_time"))
    if max_lag is not None:
        keep = keep & (pl.col("lag") <= max_lag)
    earlier = (
        pairs.filter(keep)
        .sort("_hkt", "_hname")
        .group_by("row_id", "lag", maintain_order=True)
        .last()
        .select("row_id", "lag", *cols)
    )
    own = quarters.select("row_id", pl.lit(0, pl.Int64).alias("lag"), *cols)
    return pl.concat([own, earlier]).sort("row_id", "lag")


__all__ = [
    "FIELDS",
    "FIGURES",
    "KEY",
    "MONEY_FIELDS",
    "PER_SHARE_FIELDS",
    "RATIO_FIELDS",
    "figure_facts",
    "filing_figures",
    "latest_known",
    "load_figures",
    "quarter_index",
    "quarter_rows",
    "sort_figures",
    "with_listing_times",
]
