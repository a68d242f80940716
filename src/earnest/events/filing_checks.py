"""Quality checks on results filings: flag, never fix, never drop silently.

:func:`check_filings` reads ``financial_facts`` rows and returns one quarantine record (schema
:data:`earnest.core.schemas.QUARANTINE`, ``target`` ``filing_figures``) per problem found;
:func:`checked_figures` returns the figures of the filings that passed every rule plus the quarantine
of the ones that did not, so every filing ends up in exactly one of the two. ``source_file`` is the
XBRL file, ``source_row`` the blamed fact's position in it (null when no single fact is to blame),
``reason`` names the numbers. The rules (``rule`` column):

``unit_mismatch``
    A rupee field whose unit is not ``INR``, a per-share field (EPS, face value) not ``INR/shares``, a
    ratio field with a unit other than ``pure`` (banks' ``PercentageOfNpa`` has none, which is allowed).
``scale_slip``
    A quarter's revenue (``revenue_from_operations``; banks: ``interest_earned``) at least
    ``scale_factor`` (100) times above or below the median of the company's previous four quarters
    (same consolidation; at least two of them with positive revenue), taking the latest version of
    each known at the filing's ``knowledge_time``: a likely slip between rupees, thousands, lakhs,
    crores. Only earlier-known filings are used, so the verdict on a filing never changes when later
    filings arrive (no look-ahead in the cleaned data). Earnest does not rescale.
``quarter_length``
    A ``quarter`` row whose period is not about three months: ``period_end - period_start`` outside
    85 to 95 days, or no start date.
``quarter_equals_ytd``
    A quarter value equal to the year-to-date value of the same filing and period end although the
    year to date spans more than one quarter (more than 95 days): the YTD column was filed as the
    quarter or the other way round. Compared for revenue, total income and net profit (non-zero).
``total_income_mismatch``
    ``revenue_from_operations + other_income != total_income`` (banks: ``interest_earned`` in place
    of revenue), checked when all three are reported.
``net_profit_mismatch``
    ``profit_before_tax - tax_expense`` equals neither ``net_profit`` nor
    ``profit_continuing_operations`` (either may match: net profit also carries discontinued
    operations and the share of associates), checked when PBT, tax and one of them are reported.
``missing_quarter``
    The filing has no quarter figures at all (only year-to-date, or no canonical facts).
``missing_field``
    The quarter figures lack ``net_profit`` or ``eps_basic``.
``no_knowledge_time``
    Nobody knows when the filing became public (file name time ``0000`` and no listing time): it
    cannot be placed in time, and earnest does not guess.

**Tolerance** of the two sums: the filed numbers are rounded to ``10**-decimals`` (``decimals`` -5 =
to the lakh), so each term may be off by half a unit of its precision. A sum fails when
``|lhs - rhs| > sum(0.5 * 10**-decimals over its terms) + rel_tol * max(|term|)``, ``rel_tol`` 1e-4
by default (INF precision counts 0). On the 773 real filings of 15 companies every sum holds exactly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from earnest.core import schemas
from earnest.events.fundamentals import (
    KEY,
    MONEY_FIELDS,
    PER_SHARE_FIELDS,
    RATIO_FIELDS,
    figure_facts,
    filing_figures,
    latest_known,
    quarter_index,
)

TARGET = "filing_figures"
"""The ``target`` of the quarantine records these checks write."""

RULES: tuple[str, ...] = (
    "unit_mismatch",
    "scale_slip",
    "quarter_length",
    "quarter_equals_ytd",
    "total_income_mismatch",
    "net_profit_mismatch",
    "missing_quarter",
    "missing_field",
    "no_knowledge_time",
)
"""Every rule :func:`check_filings` applies (see the module docstring)."""


@dataclass(frozen=True)
class CheckOptions:
    """Thresholds of the filing checks (defaults documented in the module docstring)."""

    rel_tol: float = 1e-4
    scale_factor: float = 100.0
    min_quarter_days: int = 85
    max_quarter_days: int = 95


_FINDING = ("source_file", "xbrl_sha256", "source_row", "field", "rule", "reason", "raw")
_SUM_FIELDS = (
    "revenue_from_operations",
    "interest_earned",
    "other_income",
    "total_income",
    "profit_before_tax",
    "tax_expense",
    "net_profit",
    "profit_continuing_operations",
    "eps_basic",
)
_YTD_COMPARED = ("revenue_from_operations", "total_income", "net_profit")
_NO_PERIOD = (
    pl.lit(None, pl.Utf8).alias("period_kind"),
    pl.lit(None, pl.Date).alias("period_start"),
    pl.lit(None, pl.Date).alias("period_end"),
)


def _raw() -> pl.Expr:
    """Which figures row a finding is about: ``FIXCO consolidated quarter 2023-10-01..2023-12-31``."""
    start = pl.col("period_start").cast(pl.Utf8).fill_null("?")
    period = pl.format("{} {}..{}", "period_kind", start, "period_end")
    whole = pl.col("period_kind").is_null()
    return pl.format(
        "{} {} {}", "symbol", "consolidation", pl.when(whole).then(pl.lit("(whole filing)")).otherwise(period)
    )


def _finding(
    frame: pl.DataFrame, rule: str, *, field: pl.Expr, row: pl.Expr, reason: pl.Expr
) -> pl.DataFrame:
    """Findings in the internal layout; ``raw`` names the figures row (symbol, basis, period)."""
    return frame.select(
        pl.col("source_file"),
        pl.col("xbrl_sha256"),
        row.cast(pl.Int64).alias("source_row"),
        field.cast(pl.Utf8).alias("field"),
        pl.lit(rule).alias("rule"),
        reason.alias("reason"),
        _raw().alias("raw"),
    )


def _wide(picked: pl.DataFrame) -> pl.DataFrame:
    """One row per (filing, period): value, ``<f>__dec`` (decimals) and ``<f>__row`` (source_row)."""
    aggs: list[pl.Expr] = []
    for f in _SUM_FIELDS:
        hit = pl.col("field") == f
        aggs += [
            pl.col("value").filter(hit).first().alias(f),
            pl.col("decimals").filter(hit).first().alias(f"{f}__dec"),
            pl.col("source_row").filter(hit).first().alias(f"{f}__row"),
        ]
    return picked.group_by(KEY).agg(*aggs, pl.col("source_file").first(), pl.col("knowledge_time").first())


def _units(picked: pl.DataFrame) -> pl.DataFrame:
    expected = (
        pl.when(pl.col("field").is_in(sorted(MONEY_FIELDS)))
        .then(pl.lit("INR"))
        .when(pl.col("field").is_in(sorted(PER_SHARE_FIELDS)))
        .then(pl.lit("INR/shares"))
        .otherwise(pl.lit("pure"))
    )
    ratio = pl.col("field").is_in(sorted(RATIO_FIELDS))
    unit = pl.col("unit")
    wrong = (
        pl.when(ratio)
        .then(unit.is_not_null() & (unit != "pure"))
        .otherwise(unit.is_null() | (unit != expected))
    )
    bad = picked.filter(pl.col("value").is_not_null() & wrong).with_columns(expected.alias("_expected"))
    reason = pl.format(
        "{} ({}) = {} is filed in unit {}; expected {}",
        "field",
        "concept",
        pl.col("value_text"),
        unit.fill_null("none"),
        "_expected",
    )
    return _finding(bad, "unit_mismatch", field=pl.col("field"), row=pl.col("source_row"), reason=reason)


def _term_tol(fields: tuple[str, ...]) -> pl.Expr:
    """Half a unit of each term's filed precision (``decimals``), summed; INF precision counts 0."""
    half = [(0.5 * pl.lit(10.0).pow(-pl.col(f"{f}__dec").cast(pl.Float64))).fill_null(0.0) for f in fields]
    return pl.sum_horizontal(half)


def _scale(fields: tuple[str, ...]) -> pl.Expr:
    return pl.max_horizontal([pl.col(f).abs() for f in fields])


def _total_income(wide: pl.DataFrame, opts: CheckOptions) -> pl.DataFrame:
    base = pl.when(pl.col("revenue_from_operations").is_not_null())
    rev = base.then(pl.col("revenue_from_operations")).otherwise(pl.col("interest_earned"))
    rev_name = base.then(pl.lit("revenue_from_operations")).otherwise(pl.lit("interest_earned"))
    rev_dec = base.then(pl.col("revenue_from_operations__dec")).otherwise(pl.col("interest_earned__dec"))
    terms = ("_rev", "other_income", "total_income")
    frame = wide.with_columns(rev.alias("_rev"), rev_dec.alias("_rev__dec"), rev_name.alias("_rev_name"))
    tol = _term_tol(terms) + opts.rel_tol * _scale(terms)
    diff = (pl.col("_rev") + pl.col("other_income") - pl.col("total_income")).abs()
    bad = frame.filter(diff > tol).with_columns(tol.alias("_tol"))
    reason = pl.format(
        "{} {} + other_income {} = {}, but total_income is {} (tolerance {})",
        "_rev_name",
        "_rev",
        "other_income",
        pl.col("_rev") + pl.col("other_income"),
        "total_income",
        pl.col("_tol").round(2),
    )
    return _finding(
        bad,
        "total_income_mismatch",
        field=pl.lit("total_income"),
        row=pl.col("total_income__row"),
        reason=reason,
    )


def _net_profit(wide: pl.DataFrame, opts: CheckOptions) -> pl.DataFrame:
    after_tax = pl.col("profit_before_tax") - pl.col("tax_expense")

    def ok(target: str) -> pl.Expr:
        terms = ("profit_before_tax", "tax_expense", target)
        tol = _term_tol(terms) + opts.rel_tol * _scale(terms)
        return ((after_tax - pl.col(target)).abs() <= tol).fill_null(False)

    checkable = (
        pl.col("profit_before_tax").is_not_null()
        & pl.col("tax_expense").is_not_null()
        & (pl.col("net_profit").is_not_null() | pl.col("profit_continuing_operations").is_not_null())
    )
    bad = wide.filter(checkable & ~ok("net_profit") & ~ok("profit_continuing_operations"))
    reason = pl.format(
        "profit_before_tax {} - tax_expense {} = {}, but net_profit is {} and profit_continuing_operations is {}",
        "profit_before_tax",
        "tax_expense",
        after_tax,
        pl.col("net_profit").cast(pl.Utf8).fill_null("not reported"),
        pl.col("profit_continuing_operations").cast(pl.Utf8).fill_null("not reported"),
    )
    return _finding(
        bad, "net_profit_mismatch", field=pl.lit("net_profit"), row=pl.col("net_profit__row"), reason=reason
    )


def _quarter_shape(wide: pl.DataFrame, opts: CheckOptions) -> pl.DataFrame:
    q = wide.filter(pl.col("period_kind") == "quarter")
    days = (pl.col("period_end") - pl.col("period_start")).dt.total_days()
    bad = q.filter(days.is_null() | ~days.is_between(opts.min_quarter_days, opts.max_quarter_days))
    reason = pl.format(
        "the quarter runs {} to {} ({} days); a quarter spans {} to {} days",
        pl.col("period_start").cast(pl.Utf8).fill_null("an unknown start"),
        "period_end",
        days.cast(pl.Utf8).fill_null("?"),
        pl.lit(opts.min_quarter_days),
        pl.lit(opts.max_quarter_days),
    )
    return _finding(bad, "quarter_length", field=pl.lit("period_start"), row=pl.lit(None), reason=reason)


def _quarter_vs_ytd(wide: pl.DataFrame, opts: CheckOptions) -> pl.DataFrame:
    q = wide.filter(pl.col("period_kind") == "quarter")
    ytd = wide.filter(
        (pl.col("period_kind") == "ytd")
        & ((pl.col("period_end") - pl.col("period_start")).dt.total_days() > opts.max_quarter_days)
    ).select("xbrl_sha256", "period_end", pl.col("period_start").alias("_ytd_start"), *_YTD_COMPARED)
    both = q.join(ytd, on=["xbrl_sha256", "period_end"], suffix="_ytd")
    found = []
    for f in _YTD_COMPARED:
        bad = both.filter((pl.col(f) == pl.col(f"{f}_ytd")) & (pl.col(f) != 0))
        reason = pl.format(
            "{} for the quarter {}..{} is {}, the same as for the year to date {}..{}",
            pl.lit(f),
            "period_start",
            "period_end",
            f,
            "_ytd_start",
            "period_end",
        )
        found.append(
            _finding(bad, "quarter_equals_ytd", field=pl.lit(f), row=pl.col(f"{f}__row"), reason=reason)
        )
    return pl.concat(found)


def _missing(picked_all: pl.DataFrame, facts: pl.DataFrame, wide: pl.DataFrame) -> pl.DataFrame:
    filings = facts.group_by("xbrl_sha256").agg(
        pl.col("source_file").first(), pl.col("symbol").first(), pl.col("consolidation").first()
    )
    with_quarter = picked_all.filter(pl.col("period_kind") == "quarter").get_column("xbrl_sha256").unique()
    kinds = picked_all.group_by("xbrl_sha256").agg(
        pl.format("{} ending {}", "period_kind", "period_end").unique().sort().str.join(", ").alias("_has")
    )
    none = (
        filings.filter(~pl.col("xbrl_sha256").is_in(with_quarter.implode()))
        .join(kinds, on="xbrl_sha256", how="left")
        .with_columns(*_NO_PERIOD)
    )
    reason = pl.format(
        "the filing has no quarter figures (it has: {})", pl.col("_has").fill_null("no canonical facts")
    )
    found = [_finding(none, "missing_quarter", field=pl.lit(None), row=pl.lit(None), reason=reason)]
    q = wide.filter(pl.col("period_kind") == "quarter")
    for f in ("net_profit", "eps_basic"):
        bad = q.filter(pl.col(f).is_null())
        reason = pl.format("the quarter ending {} reports no {}", "period_end", pl.lit(f))
        found.append(_finding(bad, "missing_field", field=pl.lit(f), row=pl.lit(None), reason=reason))
    return pl.concat(found)


def _scale_slip(wide: pl.DataFrame, opts: CheckOptions) -> pl.DataFrame:
    q = (
        wide.filter(pl.col("period_kind") == "quarter")
        .with_columns(
            pl.coalesce("revenue_from_operations", "interest_earned").alias("_rev"),
            pl.coalesce("revenue_from_operations__row", "interest_earned__row").alias("_rev__row"),
            quarter_index(pl.col("period_end")).alias("qidx"),
        )
        .with_row_index("row_id")
    )
    hist = latest_known(q, ["_rev"], max_lag=4)
    med = (
        hist.filter((pl.col("lag") > 0) & (pl.col("_rev") > 0))
        .group_by("row_id")
        .agg(pl.col("_rev").median().alias("_median"), pl.len().alias("_n"))
        .filter(pl.col("_n") >= 2)
    )
    ratio = pl.col("_rev") / pl.col("_median")
    bad = q.join(med, on="row_id").filter(
        (pl.col("_rev") > 0) & ((ratio >= opts.scale_factor) | (ratio <= 1 / opts.scale_factor))
    )
    reason = pl.format(
        "revenue {} is {} times the median {} of the {} previous quarters known at filing time; "
        "likely a scale slip (units, thousands, lakhs, crores), not rescaled",
        "_rev",
        ratio.round(4),
        "_median",
        "_n",
    )
    field = pl.when(pl.col("revenue_from_operations").is_not_null())
    field_name = field.then(pl.lit("revenue_from_operations")).otherwise(pl.lit("interest_earned"))
    return _finding(bad, "scale_slip", field=field_name, row=pl.col("_rev__row"), reason=reason)


def _no_time(facts: pl.DataFrame) -> pl.DataFrame:
    undated = (
        facts.group_by("xbrl_sha256")
        .agg(
            pl.col("source_file").first(),
            pl.col("symbol").first(),
            pl.col("consolidation").first(),
            pl.col("knowledge_time").is_null().all().alias("_undated"),
        )
        .filter(pl.col("_undated"))
        .with_columns(*_NO_PERIOD)
    )
    reason = pl.lit(
        "no broadcast time: the file name has none (0000) and no results listing names the file; "
        "ingest NSE's results listing so the filing can be placed in time"
    )
    return _finding(
        undated, "no_knowledge_time", field=pl.lit("knowledge_time"), row=pl.lit(None), reason=reason
    )


def check_filings(
    facts: pl.DataFrame, *, options: CheckOptions | None = None, now: dt.datetime | None = None
) -> pl.DataFrame:
    """Quarantine records (schema ``QUARANTINE``) for every rule a filing fails; empty when all pass.

    ``facts`` are ``financial_facts`` rows of any number of filings (several filings of a company are
    needed for ``scale_slip``). ``now`` stamps ``quarantined_at`` (default: the current UTC time).
    """
    opts = options or CheckOptions()
    picked = figure_facts(facts)
    wide = _wide(picked)
    found = pl.concat(
        [
            _units(picked),
            _scale_slip(wide, opts),
            _quarter_shape(wide, opts),
            _quarter_vs_ytd(wide, opts),
            _total_income(wide, opts),
            _net_profit(wide, opts),
            _missing(picked, facts, wide),
            _no_time(facts),
        ]
    )
    stamped = found.rename({"xbrl_sha256": "source_sha256"}).with_columns(
        pl.lit(TARGET).alias("target"),
        pl.lit(now or dt.datetime.now(dt.UTC), schemas.UTC_TS).alias("quarantined_at"),
    )
    ordered = stamped.sort("source_file", "rule", "field", "source_row", nulls_last=True)
    return schemas.conform(ordered, schemas.QUARANTINE, name="filing checks")


def checked_figures(
    facts: pl.DataFrame, *, options: CheckOptions | None = None, now: dt.datetime | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(figures of the filings that pass every rule, quarantine of the ones that do not).

    A filing failing any rule is left out of the figures entirely (all its periods): nothing is
    guessed, and every left-out filing has at least one quarantine record saying why.
    """
    quarantine = check_filings(facts, options=options, now=now)
    failed = quarantine.get_column("source_sha256").unique().implode()
    figures = filing_figures(facts).filter(~pl.col("xbrl_sha256").is_in(failed))
    return figures, quarantine


__all__ = ["RULES", "TARGET", "CheckOptions", "check_filings", "checked_figures"]
