"""ISINs, tickers and names of the simulated companies."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earnest.simulate import SimMarket
from earnest.simulate.universe import build_universe, is_valid_isin, isin_check_digit

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@pytest.mark.parametrize(
    "isin",
    ["INE002A01018", "INE009A01021", "INE0D0U01013", "INE144J01027", "INE804IA7014", "US0378331005"],
)
def test_check_digit_of_real_isins(isin: str) -> None:
    # Real ISINs (Reliance, Infosys, AAA Technologies, 20 Microns, an NCD, Apple).
    assert isin_check_digit(isin[:11]) == isin[-1]
    assert is_valid_isin(isin)


@pytest.mark.parametrize("isin", ["INE002A01017", "INE002A0101", "ine002a01018", "INE002A0101X", ""])
def test_invalid_isins_are_rejected(isin: str) -> None:
    assert not is_valid_isin(isin)


def test_check_digit_refuses_a_malformed_body() -> None:
    with pytest.raises(ValueError, match="11 upper-case"):
        isin_check_digit("INE002")


@given(st.text(alphabet=ALNUM, min_size=8, max_size=8), st.integers(0, 9))
def test_a_wrong_check_digit_is_always_detected(body: str, wrong: int) -> None:
    full = "INE" + body
    right = isin_check_digit(full)
    assert is_valid_isin(full + right)
    if str(wrong) != right:
        assert not is_valid_isin(full + str(wrong))


def test_market_isins_are_valid_and_unique(small_market: SimMarket) -> None:
    isins = small_market.instruments.get_column("isin").to_list()
    assert len(set(isins)) == len(isins) == 60
    assert all(re.fullmatch(r"INE[0-9A-Z]{4}01\d{2}\d", i) and is_valid_isin(i) for i in isins)


def test_tickers_look_like_nse_symbols(demo_market: SimMarket) -> None:
    symbols = demo_market.bars.get_column("symbol").unique().to_list()
    assert all(re.fullmatch(r"[A-Z][A-Z0-9&-]{1,9}", s) for s in symbols), symbols
    current = demo_market.instruments.get_column("symbol").to_list()
    assert len(set(current)) == len(current)


def test_universe_is_ordered_by_size_and_spans_sectors() -> None:
    u = build_universe(3, 200, as_of=dt.date(2022, 1, 3))
    caps = u.get_column("mcap_cr").to_list()
    assert caps == sorted(caps, reverse=True)
    assert u.get_column("sector_name").n_unique() == 10
    assert u.get_column("listing_date").max() < dt.date(2022, 1, 3)
    assert u.get_column("short_name").str.len_chars().max() <= 25
