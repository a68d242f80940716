"""Corporate actions: PURPOSE parsing table, NSE bc and CF-CA readers on hand-made fixtures."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from earnest.core import schemas
from earnest.core.errors import SchemaDriftError
from earnest.sources import read_bytes
from earnest.sources.corporate_actions import action_id, parse_purpose

CF_CA = "CF-CA-equities-01-12-2025-to-31-12-2025.csv"


@pytest.fixture
def src(fixtures_dir: Path) -> Path:
    return fixtures_dir / "sources"


Case = tuple[str, float | None, str, float | None, float | None, float, float | None]

# (purpose, face value, action_type, ratio_new, ratio_old, price_factor, amount)
PURPOSES: list[Case] = [
    ("BONUS 1:1", None, "bonus", 1.0, 1.0, 0.5, None),
    ("BONUS 3:2", None, "bonus", 3.0, 2.0, 0.4, None),  # 3 new for 2 held: 2 -> 5 shares
    ("Bonus 1:2", None, "bonus", 1.0, 2.0, 2 / 3, None),
    ("BONUS1:4", None, "bonus", 1.0, 4.0, 0.8, None),
    (
        "FACE VALUE SPLIT (SUB-DIVISION) - FROM RS 10/- PER SHARE TO RS 2/- PER SHARE",
        None,
        "split",
        5.0,
        1.0,
        0.2,
        None,
    ),
    ("FV SPLIT FROM RS.10 TO RE.1", None, "split", 10.0, 1.0, 0.1, None),
    ("FV SPLT FRM RS 10 TO RS 2", None, "split", 5.0, 1.0, 0.2, None),
    ("FVSPLT FRM RS 10 TO RS 5", None, "split", 2.0, 1.0, 0.5, None),
    ("FV SPLIT FROM RS 5 TO RS 2", None, "split", 5.0, 2.0, 0.4, None),
    ("CONSOLIDATION OF SHARES FROM RS 1 TO RS 10", None, "consolidation", 1.0, 10.0, 10.0, None),
    ("DIVIDEND - RS 5 PER SHARE", None, "dividend", None, None, 1.0, 5.0),
    ("INTERIM DIVIDEND - RS 2.50 PER SHARE", None, "dividend", None, None, 1.0, 2.5),
    ("INTDIV - RS 0.35 PER SH", None, "dividend", None, None, 1.0, 0.35),
    ("AGM/DIV-RS.2.50 PER SH", None, "dividend", None, None, 1.0, 2.5),
    (
        "FINAL DIVIDEND - RS 10 PER SHARE/SPECIAL DIVIDEND - RS 5 PER SHARE",
        None,
        "dividend",
        None,
        None,
        1.0,
        15.0,
    ),
    ("Dividend Rs 1,000 Per Share", None, "dividend", None, None, 1.0, 1000.0),
    ("DIVIDEND - 50%", 10.0, "dividend", None, None, 1.0, 5.0),
    ("DIVIDEND - 50%", None, "dividend", None, None, 1.0, None),  # no face value: amount unknown
    ("Interim Dividend", None, "dividend", None, None, 1.0, None),
    ("RIGHTS 1:5 @ PREMIUM RS 100/-", None, "rights", 1.0, 5.0, 1.0, None),
    ("RIGHTS 1:5 @ PREMIUM RS 100/-", 10.0, "rights", 1.0, 5.0, 1.0, 110.0),
    ("RIGHTS 45:301@PRM RS 290", 10.0, "rights", 45.0, 301.0, 1.0, 300.0),
    ("Rights 3:10 @ Par", 2.0, "rights", 3.0, 10.0, 1.0, 2.0),
    ("Rights 1:4 @ Rs 150 Per Share", None, "rights", 1.0, 4.0, 1.0, 150.0),
    ("INTEREST PAYMENT", None, "other", None, None, 1.0, None),
    ("INT PAYMENT/PART REDMPTN", None, "other", None, None, 1.0, None),
    ("ANNUAL GENERAL MEETING", None, "other", None, None, 1.0, None),
    ("BUY BACK", None, "other", None, None, 1.0, None),
    ("DEMERGER", None, "other", None, None, 1.0, None),
    ("CAP RED", None, "other", None, None, 1.0, None),
    ("", None, "other", None, None, 1.0, None),
    # A bonus together with a dividend is the bonus (the dividend stays in the purpose text).
    ("Bonus 1:2 And Dividend - Rs 3 Per Share", None, "bonus", 1.0, 2.0, 2 / 3, None),
]


@pytest.mark.parametrize("case", PURPOSES, ids=[f"{c[0][:40]}|fv={c[1]}" for c in PURPOSES])
def test_parse_purpose(case: Case) -> None:
    purpose, fv, kind, new, old, factor, amount = case
    got = parse_purpose(purpose, fv)
    assert got.problem is None
    assert (got.action_type, got.ratio_new, got.ratio_old) == (kind, new, old)
    assert got.price_factor == pytest.approx(factor)
    assert got.amount == (pytest.approx(amount) if amount is not None else None)


@pytest.mark.parametrize(
    "purpose",
    [
        "BONUS",
        "BONUS ISSUE",
        "STOCK SPLIT",
        "FV SPLIT",
        "CONSOLIDATION OF SHARES",
        "FV SPLIT FROM RS 2 TO RS 10",  # a "split" that raises the face value
        "BONUS 0:1",
        "BONUS 1:1/FV SPLIT FROM RS 10 TO RS 5",  # two share-count changes at once
    ],
)
def test_unreadable_share_count_purposes_are_problems(purpose: str) -> None:
    got = parse_purpose(purpose)
    assert got.problem is not None


@settings(deadline=None, max_examples=50)
@given(st.integers(1, 50), st.integers(1, 50))
def test_bonus_factor_matches_share_counts(new: int, held: int) -> None:
    got = parse_purpose(f"BONUS {new}:{held}")
    # `held` shares become `held + new`; the price scales by the inverse.
    assert got.price_factor * (held + new) == pytest.approx(held)
    assert 0 < got.price_factor < 1


@settings(deadline=None, max_examples=50)
@given(st.sampled_from([1, 2, 5, 10, 100]), st.sampled_from([1, 2, 5, 10, 100]))
def test_split_factor_is_new_over_old_face_value(a: int, b: int) -> None:
    got = parse_purpose(f"FV SPLIT FROM RS {a} TO RS {b}")
    if b < a:
        assert (got.action_type, got.problem) == ("split", None)
        assert got.price_factor == pytest.approx(b / a)
        assert got.ratio_old is not None
        assert got.ratio_new is not None
        assert got.ratio_old / got.ratio_new == pytest.approx(b / a)
    else:
        assert got.problem is not None


def test_action_id_is_16_hex_of_sha256() -> None:
    expected = hashlib.sha256(b"NSE|LALPATHLAB|EQ|2025-12-19|bonus|BONUS 1:1").hexdigest()[:16]
    got = action_id(
        "NSE", "LALPATHLAB", series="EQ", ex_date=dt.date(2025, 12, 19), kind="bonus", purpose="BONUS 1:1"
    )
    assert got == expected


def test_bc_file(src: Path) -> None:
    f = src / "bc16122025.csv"
    (p,) = read_bytes(f.name, f.read_bytes())
    assert (p.kind, p.target, p.rows_total, p.frame.height, p.rejects.height) == (
        "nse_bc",
        "corporate_actions",
        9,
        7,
        2,
    )
    assert p.frame.columns == list(schemas.CORPORATE_ACTIONS)
    lal = p.frame.filter(symbol="LALPATHLAB")
    assert lal["series"].to_list() == ["BE", "EQ"]  # one row per series, distinct ids
    assert lal["action_id"].n_unique() == 2
    row = lal.row(1, named=True)
    assert (row["action_type"], row["price_factor"], row["ex_date"], row["status"], row["source"]) == (
        "bonus",
        0.5,
        dt.date(2025, 12, 19),
        "confirmed",
        "nse_bc",
    )
    # The bc file of 16 Dec 2025, 18:00 IST = 12:30 UTC.
    assert row["knowledge_time"] == dt.datetime(2025, 12, 16, 12, 30, tzinfo=dt.UTC)
    redemption = p.frame.filter(symbol="182D181225").row(0, named=True)
    assert (redemption["action_type"], redemption["ex_date"], redemption["price_factor"]) == (
        "other",
        None,
        1.0,
    )
    rights = p.frame.filter(symbol="KRISHIVAL").row(0, named=True)
    # No face value in a bc file: the premium alone is not the issue price.
    assert (rights["ratio_new"], rights["ratio_old"], rights["amount"]) == (45.0, 301.0, None)
    rejects = {r["source_row"]: r for r in p.rejects.iter_rows(named=True)}
    assert (rejects[9]["rule"], rejects[9]["field"]) == ("unparsed_purpose", "PURPOSE")
    assert "BONUS ISSUE" in rejects[9]["reason"]
    assert (rejects[10]["rule"], rejects[10]["field"]) == ("parse", "EX_DT")


def test_cf_ca_export(src: Path) -> None:
    f = src / CF_CA
    (p,) = read_bytes(f.name, f.read_bytes())
    assert (p.kind, p.rows_total, p.frame.height, p.rejects.height) == ("nse_cf_ca", 7, 6, 1)
    by_symbol = {r["symbol"]: r for r in p.frame.iter_rows(named=True)}
    lal = by_symbol["LALPATHLAB"]
    assert (lal["action_type"], lal["price_factor"], lal["ex_date"], lal["source"]) == (
        "bonus",
        0.5,
        dt.date(2025, 12, 19),
        "nse_cf_ca",
    )
    # No announcement time in the export: the ex-date's 09:15 IST.
    assert lal["knowledge_time"] == dt.datetime(2025, 12, 19, 3, 45, tzinfo=dt.UTC)
    assert by_symbol["SPLITCO"]["price_factor"] == pytest.approx(0.2)
    assert by_symbol["DIVCO"]["amount"] == 15.0
    assert by_symbol["RIGHTCO"]["amount"] == 110.0  # face value 10 + premium 100
    assert by_symbol["CONSCO"]["price_factor"] == 10.0
    meet = by_symbol["MEETCO"]
    assert (meet["action_type"], meet["ex_date"], meet["knowledge_time"]) == ("other", None, None)
    bad = p.rejects.row(0, named=True)
    assert (bad["source_row"], bad["rule"]) == (8, "unparsed_purpose")


def test_drifted_bc_header_raises() -> None:
    data = (
        b"SERIES,SYMBOL,SECURITY,RECORD_DT,BC_STRT_DT,BC_END_DT,EXDATE,ND_STRT_DT,ND_END_DT,PURPOSE\n"
        b"EQ,ABC,Abc Ltd,2025-12-19,,,2025-12-19,,,BONUS 1:1\n"
    )
    with pytest.raises(SchemaDriftError) as err:
        read_bytes("bc16122025.csv", data)
    assert err.value.field == "EX_DT"
