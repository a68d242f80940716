"""The alert message: what it says, HTML escaping, and Telegram's length limit."""

from __future__ import annotations

import datetime as dt

from alert_fakes import make_alert

from earnest.alerts import render_html, render_plain
from earnest.alerts.template import MAX_FIGURES, TELEGRAM_MAX_CHARS


def test_the_message_says_signal_model_event_and_receipt() -> None:
    a = make_alert(event_knowledge_time=dt.datetime(2024, 1, 2, 11, 5, tzinfo=dt.UTC))
    text = render_html(a.payload())
    assert text.splitlines() == [
        "<b>BUY INFY</b>  p = 0.73",
        "Model: <code>blockbuster</code> v3",
        "Event: results, known 2024-01-02 16:35 IST",
        "  pat_yoy: 0.54",
        "  revenue_yoy: 0.221",
        "Signal date: 2024-01-02",
        f"Receipt <code>abababababab</code> · alert <code>{a.alert_id[:12]}</code>",
    ]
    plain = render_plain(a.payload())
    assert "<" not in plain
    assert plain.splitlines()[0] == "BUY INFY  p = 0.73"


def test_every_value_is_escaped() -> None:
    a = make_alert(
        "M&M",
        model_name="<script>alert(1)</script>",
        figures={"a<b": "x > y & z", "nan": float("nan"), "none": None, "flag": True},
    )
    text = render_html(a.payload())
    assert "<b>BUY M&amp;M</b>" in text
    assert "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>" in text
    assert "  a&lt;b: x &gt; y &amp; z" in text
    assert "  nan: n/a" in text
    assert "  none: n/a" in text
    assert "  flag: true" in text
    assert "<script>" not in text
    # the plain text keeps the raw characters
    assert "M&M" in render_plain(a.payload())


def test_no_probability_and_many_figures() -> None:
    figures = {f"f{i:02d}": float(i) for i in range(MAX_FIGURES + 3)}
    text = render_html(make_alert(probability=None, figures=figures).payload())
    assert "score n/a" in text
    assert f"  f{MAX_FIGURES - 1:02d}: {MAX_FIGURES - 1}" in text
    assert f"f{MAX_FIGURES:02d}" not in text
    assert "  (+3 more)" in text


def test_the_message_fits_telegram() -> None:
    long = make_alert(figures={"x" * 1000: "y" * 1000} | {f"k{i}": "v" * 500 for i in range(8)})
    text = render_html(long.payload())
    assert len(text) <= TELEGRAM_MAX_CHARS
    assert "<b>BUY INFY</b>" in text  # figures dropped first, markup intact
    huge = make_alert("&" * 5000)
    text = render_html(huge.payload())
    assert len(text) <= TELEGRAM_MAX_CHARS
    assert text.endswith("…")
    assert "&amp" in text
    assert not text.rstrip("…").endswith(("&", "&a", "&am", "&amp"))  # no entity cut in half
