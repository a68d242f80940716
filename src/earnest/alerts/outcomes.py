"""Live outcome tracking: what every sent alert went on to return, next to the backtest's promise.

**Filling** (:func:`fill_outcomes`, table ``alert_outcomes``). For each alert with at least one
sent delivery, and each horizon h (1, 3, 5 sessions by default), the realised return from the
entry: the first tradable session after the alert's ``knowledge_time`` (NSE rules, the conservative
``NEXT_OPEN`` one: before 09:15 IST on a session day that day, else the next session), bought at
its open and sold at the close of the h-th session held (``fill="open"``), or bought at its close
and sold at the close h sessions later (``fill="close"``): :func:`earnest.labels.forward.forward_returns`
with ``lag=0``. Prices are split- and bonus-adjusted with the actions known at ``as_of``
(:func:`earnest.marketdata.adjust.adjusted_bars`).

``excess_return`` is ``raw_return`` minus the benchmark's return over the same auctions. The
benchmark is the index named ``index_name`` (NIFTY 50) when it has bars for both sessions; otherwise
``EQUAL_WEIGHT``: the mean return over the same auctions of every stock of the exchange and series
with bars on both sessions and no corporate action with an ex-date inside the window (unadjusted
prices, so those are left out). The ``benchmark`` column says which. An outcome measured against
the equal-weight stand-in is re-measured against the index once the index's bars arrive; one
measured against the index is final.

Point in time and idempotent: only bars with ``knowledge_time <= as_of`` are used, a horizon is
written once its exit bar exists, and running it again writes nothing new (upsert on
(alert_id, horizon)).

**Performance** (:func:`performance`): live n, win rate (share of outcomes > 0) with its
Clopper-Pearson interval (:func:`earnest.lab.stats.binomial`), mean return with its t interval
(n - 1 degrees of freedom), and the backtest's :class:`Expectation`. Two flags, each a two-sided
test at level ``alpha`` of "the live alerts are draws from what the backtest saw":

- ``win_rate_outside``: the exact binomial test of the live wins against the backtest's win rate
  has p < alpha;
- ``mean_outside``: the live mean lies outside ``expected mean ± z(1 - alpha/2) * sd / sqrt(n)``
  with the backtest's mean and standard deviation (a z-test; the backtest's sd is taken as known).

Both need ``n >= 1``; the live mean's own t interval needs ``n >= 2``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl
from scipy import stats as sps

from earnest.core.calendar import Fill, TradingCalendar, nse_calendar
from earnest.core.errors import ConfigError
from earnest.core.schemas import ALERT_OUTCOMES
from earnest.lab.stats import binomial
from earnest.labels.forward import forward_returns
from earnest.marketdata.adjust import adjusted_bars
from earnest.store.base import Store

EQUAL_WEIGHT = "EQUAL_WEIGHT"
HORIZONS = (1, 3, 5)


def _utc(when: dt.datetime | None) -> dt.datetime:
    if when is None:
        return dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        raise ConfigError("as_of has no time zone", remedy="pass a UTC instant", field="as_of")
    return when.astimezone(dt.UTC)


def _open_alerts(store: Store, horizons: Sequence[int]) -> pl.DataFrame:
    """Sent alerts (alert_id, symbol, knowledge_time) still missing an outcome measured against an
    index at some horizon."""
    sent = store.read("alert_deliveries", where={"status": "sent"}).get_column("alert_id").unique()
    if sent.is_empty():
        return pl.DataFrame(schema={"alert_id": pl.Utf8, "symbol": pl.Utf8, "knowledge_time": pl.Datetime})
    ids = sent.to_list()
    alerts = store.read("alerts", where={"alert_id": ids}).select("alert_id", "symbol", "knowledge_time")
    done = store.read("alert_outcomes", where={"alert_id": ids}).filter(pl.col("benchmark") != EQUAL_WEIGHT)
    complete = done.group_by("alert_id").agg(pl.col("horizon").is_in(list(horizons)).sum().alias("k"))
    complete = complete.filter(pl.col("k") >= len(set(horizons)))
    return alerts.join(complete, on="alert_id", how="anti").sort("alert_id")


def _stock_bars(
    store: Store, symbols: list[str], start: dt.date, as_of: dt.datetime, exchange: str, series: Sequence[str]
) -> pl.DataFrame:
    bars = adjusted_bars(store, symbols=symbols, start=start, as_of=as_of, series=list(series))
    bars = bars.filter(pl.col("exchange") == exchange)
    return bars.select(
        "symbol", "date", *(pl.col(f"adj_{c}").alias(c) for c in ("open", "high", "low", "close"))
    )


def _equal_weight(
    store: Store,
    windows: pl.DataFrame,
    *,
    fill: Fill,
    as_of: dt.datetime,
    exchange: str,
    series: Sequence[str],
) -> pl.DataFrame:
    """(entry_date, exit_date, ew_return) for each distinct window of ``windows``."""
    dates = sorted(set(windows.get_column("entry_date")) | set(windows.get_column("exit_date")))
    marks = ", ".join("?" for _ in dates)
    smarks = ", ".join("?" for _ in series)
    px = store.query(
        f"SELECT instrument_id, date, open, close, knowledge_time FROM bars WHERE date IN ({marks}) "
        f"AND exchange = ? AND series IN ({smarks})",
        (*dates, exchange, *series),
    )
    px = px.with_columns(
        pl.col("knowledge_time").cast(pl.Datetime("us", "UTC")), pl.col("date").cast(pl.Date)
    )
    px = px.filter(pl.col("knowledge_time") <= as_of)
    actions = store.read("corporate_actions", where={"status": ["confirmed", "inferred"]})
    actions = actions.filter(pl.col("knowledge_time") <= as_of).select("instrument_id", "ex_date")
    at_entry = "open" if fill is Fill.OPEN else "close"
    pin = px.select("instrument_id", pl.col("date").alias("entry_date"), pl.col(at_entry).alias("_in"))
    pout = px.select("instrument_id", pl.col("date").alias("exit_date"), pl.col("close").alias("_out"))
    pairs = windows.select("entry_date", "exit_date").unique()
    legs = pairs.join(pin, on="entry_date").join(pout, on=["instrument_id", "exit_date"])
    hit = legs.join(actions, on="instrument_id").filter(
        (pl.col("ex_date") > pl.col("entry_date")) & (pl.col("ex_date") <= pl.col("exit_date"))
    )
    window_key = ["instrument_id", "entry_date", "exit_date"]
    legs = legs.join(hit.select(window_key).unique(), on=window_key, how="anti")
    legs = legs.filter((pl.col("_in") > 0) & pl.col("_out").is_not_null())
    return legs.group_by("entry_date", "exit_date").agg(
        (pl.col("_out") / pl.col("_in") - 1.0).mean().alias("_ew")
    )


def _measure(
    bars: pl.DataFrame,
    signals: pl.DataFrame,
    index: pl.DataFrame,
    *,
    horizons: Sequence[int],
    fill: Fill,
    calendar: TradingCalendar,
    as_of: dt.datetime,
) -> pl.DataFrame:
    """Per (alert, horizon) known at ``as_of``: entry and exit dates, raw return, ``_abn`` (minus the
    index, null without its bars) and ``known_at``."""
    parts = []
    for h in sorted(set(horizons)):
        out = forward_returns(
            bars,
            signals,
            horizon=h,
            lag=0,
            fill=fill,
            index=index if index.height else None,
            calendar=calendar,
        )
        sfx = f"{h}d_lag0" + ("_close" if fill is Fill.CLOSE else "")
        abn = pl.col(f"abn_ret_{sfx}") if index.height else pl.lit(None, pl.Float64)
        known = pl.col(f"fwd_ret_{sfx}").is_not_null() & (pl.col(f"label_known_at_{sfx}") <= as_of)
        parts.append(
            out.filter(known).select(
                "alert_id",
                "symbol",
                pl.lit(h, pl.Int64).alias("horizon"),
                pl.col(f"entry_date_{sfx}").alias("entry_date"),
                pl.col(f"exit_date_{sfx}").alias("exit_date"),
                pl.col(f"fwd_ret_{sfx}").alias("raw_return"),
                abn.alias("_abn"),
                pl.col(f"label_known_at_{sfx}").alias("known_at"),
            )
        )
    return pl.concat(parts)


def fill_outcomes(
    store: Store,
    *,
    as_of: dt.datetime | None = None,
    horizons: Sequence[int] = HORIZONS,
    fill: Fill | str = Fill.OPEN,
    index_name: str = "NIFTY 50",
    exchange: str = "NSE",
    series: Sequence[str] = ("EQ",),
    calendar: TradingCalendar | None = None,
) -> int:
    """Write the outcomes that the data known at ``as_of`` (default: now) allows, for every sent
    alert (module docstring). Returns the rows written (new, or upgraded to the index benchmark)."""
    when = _utc(as_of)
    how = Fill(fill)
    todo = _open_alerts(store, horizons)
    if todo.is_empty():
        return 0
    signals = todo.with_columns(pl.col("knowledge_time").cast(pl.Datetime("us", "UTC")))
    start = signals.get_column("knowledge_time").dt.date().min()
    if not isinstance(start, dt.date):  # every alert has a knowledge time (NOT NULL)
        return 0
    bars = _stock_bars(store, signals.get_column("symbol").unique().to_list(), start, when, exchange, series)
    index = store.read("index_bars", where={"index_name": index_name})
    index = index.filter(pl.col("knowledge_time") <= when, pl.col("date") >= start)
    rows = _measure(
        bars, signals, index, horizons=horizons, fill=how, calendar=calendar or nse_calendar(), as_of=when
    )
    if rows.is_empty():
        return 0
    rows = _with_benchmark(
        store, rows, fill=how, as_of=when, index_name=index_name, exchange=exchange, series=series
    )
    have = store.read("alert_outcomes", where={"alert_id": rows.get_column("alert_id").unique().to_list()})
    final = have.filter(pl.col("benchmark") != EQUAL_WEIGHT).select("alert_id", "horizon")
    stale = have.filter(pl.col("benchmark") == EQUAL_WEIGHT).select("alert_id", "horizon")
    rows = rows.join(final, on=["alert_id", "horizon"], how="anti")
    rows = rows.join(stale.with_columns(pl.lit(True).alias("_stale")), on=["alert_id", "horizon"], how="left")
    rows = rows.filter(pl.col("_stale").is_null() | (pl.col("benchmark") != EQUAL_WEIGHT))
    if rows.is_empty():
        return 0
    rows = rows.with_columns(
        pl.lit(how.value).alias("fill"), pl.lit(dt.datetime.now(dt.UTC)).alias("computed_at")
    )
    store.upsert("alert_outcomes", rows.select(list(ALERT_OUTCOMES)))
    return rows.height


def _with_benchmark(
    store: Store,
    rows: pl.DataFrame,
    *,
    fill: Fill,
    as_of: dt.datetime,
    index_name: str,
    exchange: str,
    series: Sequence[str],
) -> pl.DataFrame:
    """Add benchmark, benchmark_return and excess_return: the index where ``_abn`` is known, else
    the equal-weight stand-in."""
    need = rows.filter(pl.col("_abn").is_null())
    ew = (
        _equal_weight(store, need, fill=fill, as_of=as_of, exchange=exchange, series=series)
        if need.height
        else None
    )
    if ew is None:
        rows = rows.with_columns(pl.lit(None, pl.Float64).alias("_ew"))
    else:
        rows = rows.join(ew, on=["entry_date", "exit_date"], how="left")
    on_index = pl.col("_abn").is_not_null()
    bench_ret = pl.when(on_index).then(pl.col("raw_return") - pl.col("_abn")).otherwise(pl.col("_ew"))
    return rows.with_columns(
        pl.when(on_index).then(pl.lit(index_name)).otherwise(pl.lit(EQUAL_WEIGHT)).alias("benchmark"),
        bench_ret.alias("benchmark_return"),
        (pl.col("raw_return") - bench_ret).alias("excess_return"),
    )


# --------------------------------------------------------------------------- performance


@dataclass(frozen=True)
class Expectation:
    """What the backtest expects of one alert at one horizon: its mean return and standard
    deviation, and/or its win rate (in the same measure, raw or excess)."""

    mean: float | None = None
    sd: float | None = None
    win_rate: float | None = None

    def __post_init__(self) -> None:
        if self.sd is not None and not self.sd > 0:
            raise ConfigError(f"expected sd must be > 0, got {self.sd}", field="sd")
        if self.win_rate is not None and not 0.0 < self.win_rate < 1.0:
            raise ConfigError(f"expected win rate must be in (0, 1), got {self.win_rate}", field="win_rate")


@dataclass(frozen=True)
class Performance:
    """Live results at one horizon next to the backtest's expectation (module docstring)."""

    horizon: int
    measure: str
    n: int
    wins: int
    win_rate: float
    win_rate_ci: tuple[float, float]
    mean: float
    mean_ci: tuple[float, float]
    sd: float
    alpha: float
    expectation: Expectation
    expected_mean_range: tuple[float, float] | None
    win_rate_p: float | None
    mean_outside: bool | None
    win_rate_outside: bool | None
    benchmarks: dict[str, int]

    @property
    def flagged(self) -> bool:
        """Live results fall outside the expectation on some test."""
        return bool(self.mean_outside) or bool(self.win_rate_outside)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``GET /v1/alerts/performance``); NaN becomes None."""

        def clean(x: Any) -> Any:
            if isinstance(x, float) and math.isnan(x):
                return None
            if isinstance(x, list | tuple):
                return [clean(v) for v in x]
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            return x

        out: dict[str, Any] = clean(asdict(self))
        out["flagged"] = self.flagged
        return out


def performance(
    store: Store,
    *,
    expectation: Expectation,
    horizon: int = 3,
    measure: str = "excess",
    alpha: float = 0.05,
    model_name: str | None = None,
) -> Performance:
    """Live performance of the alerts' outcomes at ``horizon`` (``measure`` ``excess`` or ``raw``),
    optionally of one model, against ``expectation`` at level ``alpha``."""
    if measure not in ("excess", "raw"):
        raise ConfigError(f"measure must be 'excess' or 'raw', got {measure!r}", field="measure")
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}", field="alpha")
    rows = store.read("alert_outcomes", where={"horizon": horizon})
    if model_name is not None:
        ids = store.read("alerts", where={"model_name": model_name}).select("alert_id")
        rows = rows.join(ids, on="alert_id", how="semi")
    values = rows.get_column(f"{measure}_return").drop_nulls().drop_nans().to_list()
    counts = dict(rows.group_by("benchmark").agg(pl.len()).sort("benchmark").iter_rows())
    return live_statistics(
        values, expectation=expectation, horizon=horizon, measure=measure, alpha=alpha, benchmarks=counts
    )


def live_statistics(
    values: Sequence[float],
    *,
    expectation: Expectation,
    horizon: int,
    measure: str = "excess",
    alpha: float = 0.05,
    benchmarks: dict[str, int] | None = None,
) -> Performance:
    """:class:`Performance` of the returns ``values`` (the pure part of :func:`performance`)."""
    n = len(values)
    nan2 = (math.nan, math.nan)
    wins = sum(v > 0 for v in values)
    mean = sum(values) / n if n else math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n >= 2 else math.nan
    mean_ci = nan2
    if n >= 2:
        half = float(sps.t.ppf(1 - alpha / 2, n - 1)) * sd / math.sqrt(n)
        mean_ci = (mean - half, mean + half)
    win_ci, win_p, win_out = nan2, None, None
    if n:
        b = binomial(wins, n, p0=expectation.win_rate or 0.5, alpha=alpha)
        win_ci = b.clopper_pearson
        if expectation.win_rate is not None:
            win_p = b.p_two_sided
            win_out = win_p < alpha
    mean_range, mean_out = None, None
    if n and expectation.mean is not None and expectation.sd is not None:
        half = float(sps.norm.ppf(1 - alpha / 2)) * expectation.sd / math.sqrt(n)
        mean_range = (expectation.mean - half, expectation.mean + half)
        mean_out = not mean_range[0] <= mean <= mean_range[1]
    return Performance(
        horizon=horizon,
        measure=measure,
        n=n,
        wins=wins,
        win_rate=wins / n if n else math.nan,
        win_rate_ci=win_ci,
        mean=mean,
        mean_ci=mean_ci,
        sd=sd,
        alpha=alpha,
        expectation=expectation,
        expected_mean_range=mean_range,
        win_rate_p=win_p,
        mean_outside=mean_out,
        win_rate_outside=win_out,
        benchmarks=dict(benchmarks or {}),
    )


__all__ = [
    "EQUAL_WEIGHT",
    "HORIZONS",
    "Expectation",
    "Performance",
    "fill_outcomes",
    "live_statistics",
    "performance",
]
