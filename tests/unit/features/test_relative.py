"""Relative features: against NIFTY 50 and across instruments, with hand-computed expectations."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from earnest.core.calendar import IST, eod_known_utc
from earnest.core.errors import ConfigError, DataError
from earnest.features.relative import SPECS, cross_section, index_relative, sector_relative

DAYS = [d for d in (dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(140)) if d.weekday() < 5][:80]
M_RETS = [0.0] + [(0.01, -0.005, 0.002, -0.012, 0.007)[i % 5] for i in range(1, 80)]


def cumulate(start: float, rets: list[float]) -> list[float]:
    out, c = [], start
    for r in rets:
        c *= 1 + r
        out.append(c)
    return out


INDEX = pl.DataFrame({"index_name": "NIFTY 50", "date": DAYS, "close": cumulate(1000.0, M_RETS)})


def stock(instrument: str, closes: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"instrument_id": instrument, "symbol": instrument, "date": DAYS[: len(closes)], "close": closes}
    )


def sectors(**by_instrument: str) -> pl.DataFrame:
    """A fixed sector map (no knowledge_time)."""
    return pl.DataFrame({"instrument_id": list(by_instrument), "sector": list(by_instrument.values())})


def test_relative_return_is_stock_minus_index_over_the_same_dates() -> None:
    panel = stock("A", [100 * 1.01**i for i in range(80)])
    out = index_relative(panel, index=INDEX)
    assert out.columns == [
        "instrument_id",
        "date",
        "known_at",
        "rel_ret_5d",
        "rel_ret_20d",
        "rel_ret_60d",
        "beta_60d",
    ]
    m = INDEX["close"].to_list()
    assert out["rel_ret_5d"][4] is None
    assert out["rel_ret_5d"][10] == pytest.approx((1.01**5 - 1) - (m[10] / m[5] - 1))
    assert out["rel_ret_20d"][19] is None
    assert out["rel_ret_20d"][20] == pytest.approx((1.01**20 - 1) - (m[20] / m[0] - 1))
    assert out["rel_ret_60d"][59] is None
    assert out["rel_ret_60d"][70] == pytest.approx((1.01**60 - 1) - (m[70] / m[10] - 1))
    assert out["known_at"][3] == eod_known_utc(DAYS[3])


def test_beta_is_the_slope_on_index_returns() -> None:
    # the stock moves exactly twice the index plus 0.1 % a day: beta 2 once 60 return pairs exist
    panel = stock("A", cumulate(50.0, [0.0] + [2 * r + 0.001 for r in M_RETS[1:]]))
    beta = index_relative(panel, index=INDEX)["beta_60d"]
    assert beta[59] is None
    assert beta[60] == pytest.approx(2.0)
    assert beta[79] == pytest.approx(2.0)


def test_a_missing_index_day_blanks_what_depends_on_it() -> None:
    panel = stock("A", [100 * 1.01**i for i in range(80)])
    out = index_relative(panel, index=INDEX.filter(pl.col("date") != DAYS[65]))
    assert out["rel_ret_5d"][65] is None
    assert out["rel_ret_5d"][70] is None
    assert out["rel_ret_5d"][71] is not None
    assert out["beta_60d"][64] is not None
    assert out["beta_60d"][65] is None  # the window now holds a missing pair


def test_index_values_are_taken_from_the_named_index_only() -> None:
    other = INDEX.with_columns(pl.lit("NIFTY BANK").alias("index_name"), pl.col("close") * 3)
    panel = stock("A", [100 * 1.01**i for i in range(80)])
    both = index_relative(panel, index=pl.concat([other, INDEX]))
    assert_frame_equal(both, index_relative(panel, index=INDEX))
    with pytest.raises(ConfigError, match="no rows"):
        index_relative(panel, index=other)


def test_cross_sectional_ranks_and_z_scores_by_date() -> None:
    # constant daily growth: ret_20d = g**20 - 1 chosen as 0.1, 0.3, 0.2
    rets = {"A": 0.1, "B": 0.3, "C": 0.2}
    panel = pl.concat([stock(k, [100 * (1 + v) ** (i / 20) for i in range(25)]) for k, v in rets.items()])
    out = cross_section(panel)
    day = out.filter(pl.col("date") == DAYS[22]).sort("instrument_id")
    assert day["cs_rank_ret_20d"].to_list() == pytest.approx([0.0, 1.0, 0.5])
    assert day["cs_z_ret_20d"].to_list() == pytest.approx([-1.0, 1.0, 0.0])
    early = out.filter(pl.col("date") == DAYS[19])
    assert early["cs_rank_ret_20d"].null_count() == 3  # 20 sessions of history not there yet
    assert not [c for c in out.columns if c.startswith("sector_")]  # sector_relative's outputs


def test_single_value_ranks_half_and_has_no_z_score() -> None:
    panel = stock("A", [100 * 1.1 ** (i / 20) for i in range(25)])
    day = cross_section(panel).filter(pl.col("date") == DAYS[22])
    assert day["cs_rank_ret_20d"].to_list() == [0.5]
    assert day["cs_z_ret_20d"].to_list() == [None]


def test_vol_20d_matches_numpy_and_orders_instruments() -> None:
    rng = np.random.default_rng(7)
    closes = {k: list(100 * np.exp(np.cumsum(rng.normal(0, s, 30)))) for k, s in (("A", 0.01), ("B", 0.03))}
    panel = pl.concat([stock(k, c) for k, c in closes.items()])
    out = cross_section(panel).filter(pl.col("date") == DAYS[29]).sort("instrument_id")
    expected = [np.std(np.diff(np.log(c))[-20:], ddof=1) * math.sqrt(252) for c in closes.values()]
    assert expected[0] < expected[1]
    assert out["cs_rank_vol_20d"].to_list() == [0.0, 1.0]
    # with two values the z-scores are -+1/sqrt(2)
    assert out["cs_z_vol_20d"].to_list() == pytest.approx([-1 / math.sqrt(2), 1 / math.sqrt(2)])


def test_within_sector_ranks() -> None:
    rets = {"A": 0.1, "B": 0.3, "C": 0.2, "D": 0.4}
    panel = pl.concat([stock(k, [100 * (1 + v) ** (i / 20) for i in range(25)]) for k, v in rets.items()])
    out = sector_relative(panel, sectors=sectors(A="IT", B="IT", C="BANK"))  # D has no sector
    day = out.filter(pl.col("date") == DAYS[21]).sort("instrument_id")
    assert day["sector_rank_ret_20d"].to_list() == [0.0, 1.0, 0.5, None]  # C is alone in BANK: 0.5
    assert day["sector_z_ret_20d"].to_list()[:2] == pytest.approx([-1 / math.sqrt(2), 1 / math.sqrt(2)])
    assert day["sector_z_ret_20d"].to_list()[2:] == [None, None]
    assert day["sector_rank_vol_20d"].to_list()[2:] == [0.5, None]
    market = cross_section(panel).filter(pl.col("date") == DAYS[21]).sort("instrument_id")
    assert market["cs_rank_ret_20d"].to_list() == pytest.approx([0.0, 2 / 3, 1 / 3, 1.0])  # D counts


def test_within_sector_volatility_ranks() -> None:
    # log returns alternate +-r: vol_20d = r * sqrt(20 / 19) * sqrt(252), larger r ranks higher
    swings = {"A": 0.01, "B": 0.03, "C": 0.02, "D": 0.05}
    panel = pl.concat(
        [
            stock(k, list(100 * np.exp(np.cumsum([r if i % 2 else -r for i in range(25)]))))
            for k, r in swings.items()
        ]
    )
    day = sector_relative(panel, sectors=sectors(A="IT", B="IT", C="IT", D="BANK"))
    day = day.filter(pl.col("date") == DAYS[24]).sort("instrument_id")
    assert day["sector_rank_vol_20d"].to_list() == pytest.approx([0.0, 1.0, 0.5, 0.5])
    # IT vols are proportional to 1, 3, 2: z-scores -1, 1, 0; D is alone in BANK: no z-score
    assert day["sector_z_vol_20d"].to_list()[:3] == pytest.approx([-1.0, 1.0, 0.0])
    assert day["sector_z_vol_20d"].to_list()[3] is None


def test_sector_is_taken_as_known_by_each_row_end_of_day() -> None:
    # C moves from BANK to IT by an announcement at 17:00 IST on DAYS[22]: from DAYS[23] on it ranks in IT
    rets = {"A": 0.1, "B": 0.3, "C": 0.2}
    panel = pl.concat([stock(k, [100 * (1 + v) ** (i / 20) for i in range(25)]) for k, v in rets.items()])
    first = dt.datetime(2023, 12, 1, tzinfo=dt.UTC)
    moved = dt.datetime.combine(DAYS[22], dt.time(17, 0), IST).astimezone(dt.UTC)
    dated = pl.DataFrame(
        {
            "instrument_id": ["A", "B", "C", "C"],
            "sector": ["IT", "IT", "BANK", "IT"],
            "knowledge_time": [first, first, first, moved],
        }
    )
    out = sector_relative(panel, sectors=dated)
    on = {d: out.filter(pl.col("date") == d).sort("instrument_id") for d in (DAYS[22], DAYS[23])}
    assert on[DAYS[22]]["sector_rank_ret_20d"].to_list() == [0.0, 1.0, 0.5]  # C alone in BANK
    assert on[DAYS[23]]["sector_rank_ret_20d"].to_list() == [0.0, 1.0, 0.5]  # C between A and B in IT
    assert on[DAYS[22]]["sector_z_ret_20d"].to_list()[2] is None
    assert on[DAYS[23]]["sector_z_ret_20d"].to_list() == pytest.approx([-1.0, 1.0, 0.0])
    late = dated.with_columns(pl.lit(moved).alias("knowledge_time"))  # nothing known before DAYS[23]
    assert (
        sector_relative(panel, sectors=late)
        .filter(pl.col("date") <= DAYS[22])["sector_rank_ret_20d"]
        .null_count()
        == 3 * 23
    )


def test_a_fixed_map_needs_one_sector_per_instrument() -> None:
    panel = stock("A", [100.0] * 25)
    with pytest.raises(DataError, match="several sectors") as err:
        sector_relative(panel, sectors=pl.DataFrame({"instrument_id": ["A", "A"], "sector": ["IT", "BANK"]}))
    assert err.value.field == "sector"


def test_rows_keep_input_order_and_truncation_changes_nothing_before_the_cut() -> None:
    a = stock("A", cumulate(100.0, [0.0] + [3 * r for r in M_RETS[1:]]))
    b = stock("B", cumulate(80.0, [0.0] + [-r + 0.002 for r in M_RETS[1:]]))
    panel = pl.concat([b, a])  # not sorted by instrument
    in_it = sectors(A="IT", B="IT")
    for fn in (
        lambda p: index_relative(p, index=INDEX),
        cross_section,
        lambda p: sector_relative(p, sectors=in_it),
    ):
        full = fn(panel)
        assert full["instrument_id"].to_list() == panel["instrument_id"].to_list()
        cut = DAYS[66]
        short = fn(panel.filter(pl.col("date") <= cut))
        assert_frame_equal(full.filter(pl.col("date") <= cut), short)


def test_specs_declare_outputs_and_inputs() -> None:
    rel, cs, sector = SPECS
    assert (rel.inputs, cs.inputs, sector.inputs) == (("bars", "index"), ("bars",), ("bars", "sectors"))
    assert (rel.lookback_sessions, cs.lookback_sessions, sector.lookback_sessions) == (60, 20, 20)
    assert dict(rel.params) == {"index_name": "NIFTY 50"}
    assert (rel.cross_sectional, cs.cross_sectional, sector.cross_sectional) == (False, True, True)
    panel = stock("A", [100 * 1.01**i for i in range(80)])
    assert tuple(rel.compute(panel, index=INDEX, **rel.params).columns[3:]) == rel.outputs
    assert tuple(cs.compute(panel).columns[3:]) == cs.outputs
    assert tuple(sector.compute(panel, sectors=sectors(A="IT")).columns[3:]) == sector.outputs
    assert cs.outputs == ("cs_rank_ret_20d", "cs_z_ret_20d", "cs_rank_vol_20d", "cs_z_vol_20d")
