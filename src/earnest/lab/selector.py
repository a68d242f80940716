"""The selector: a boolean expression over event and feature fields that picks a hypothesis's events.

A selector is a SQL ``WHERE`` condition in the dialect of Polars SQL (:func:`polars.sql_expr`), e.g.
``net_profit_yoy > 0.5 and revenue_yoy > 0.2``. Keywords (``and``, ``or``, ``not``, ``is null``,
``in``, ``between``, ``like``) are accepted in any case; text is quoted with single quotes
(``period_kind = 'quarter'``), dates are written ``DATE '2020-01-01'``; a field whose name is not a
plain word is written in double quotes. Unquoted field names match case-insensitively when only one
field matches.

**Missing values.** A comparison with a missing value (null, and NaN in a float field, which earnest
treats as missing) is *unknown*, and a row whose condition is unknown is **not selected**:
``net_profit_yoy > 0.5`` drops the events whose ``net_profit_yoy`` is missing, and so does
``not (net_profit_yoy > 0.5)``. SQL's three-valued logic still applies inside the condition:
``a > 1 or b > 1`` keeps a row with a missing ``a`` when ``b > 1``, and ``a is null`` selects the
rows where ``a`` is missing.

**Row by row only.** The condition of an event may use that event's fields and scalar functions
(:data:`FUNCTIONS`); aggregates and window functions (``avg(x)``, ``x > avg(x)``,
``... over (...)``) are refused, because they would let one event's selection depend on other
events, including later ones.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from earnest.core.errors import ConfigError

FUNCTIONS: frozenset[str] = frozenset(
    {
        "abs", "ceil", "ceiling", "floor", "round", "sign", "sqrt", "cbrt", "exp", "ln", "log", "log2",
        "log10", "pow", "power", "mod", "greatest", "least", "coalesce", "nullif", "ifnull", "cast",
        "try_cast", "upper", "lower", "length", "char_length", "trim", "ltrim", "rtrim", "starts_with",
        "ends_with", "strpos", "substr", "substring", "replace", "concat", "date_part", "extract",
    }
)  # fmt: skip
"""Scalar SQL functions a selector may call (case-insensitive). Anything else is refused: aggregates
and window functions would make one event's selection depend on other events."""

_KEYWORDS = frozenset(
    {
        "and", "or", "not", "is", "null", "true", "false", "in", "between", "like", "ilike", "case",
        "when", "then", "else", "end", "as", "distinct", "escape", "date", "timestamp", "interval",
    }
)  # fmt: skip
"""SQL keywords: never read as field names (a field with such a name must be double-quoted)."""

_FORBIDDEN_WORDS = frozenset({"over", "select", "filter", "within"})

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<quoted>"(?:[^"]|"")*")
      | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<word>[A-Za-z_][A-Za-z_0-9]*)
      | (?P<op><=|>=|<>|!=|==|::|\|\||[^\s])
    )""",
    re.VERBOSE,
)

_SYNONYMS = {"pat": "net_profit", "profit": "net_profit", "sales": "revenue", "turnover": "revenue"}
"""Common names of results fields, used only to suggest the field a user probably meant."""


class SelectorError(ConfigError):
    """A selector expression cannot be used: it does not parse, names an unknown field, calls a
    function that is not row by row, or is not a true/false condition."""


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # string | quoted | number | word | op
    text: str

    @property
    def name(self) -> str:
        """The field name a ``word`` or ``quoted`` token stands for."""
        if self.kind == "quoted":
            return self.text[1:-1].replace('""', '"')
        return self.text


def _tokens(expression: str) -> list[_Token]:
    """Strings, quoted names, numbers, words and operators (any other character is its own token,
    so every character of ``expression`` but whitespace is in exactly one token)."""
    out = []
    for m in _TOKEN.finditer(expression):
        kind = m.lastgroup or "op"
        out.append(_Token(kind, m.group(kind)))
    return out


def canonical_selector(expression: str) -> str:
    """``expression`` with whitespace normalised and unquoted words (keywords, field and function
    names, which SQL reads case-insensitively) lower-cased: two spellings of one condition
    (``PAT_YOY>1  AND b`` and ``pat_yoy > 1 and b``) give the same text, so they hash alike. Text in
    quotes is kept as written."""
    return " ".join(t.text.lower() if t.kind == "word" else t.text for t in _tokens(expression))


def _parse(expression: str, shown: str) -> pl.Expr:
    try:
        return pl.sql_expr(expression)
    except Exception as exc:  # polars raises several SQL error classes; all mean "does not parse"
        raise SelectorError(
            f"cannot parse selector {shown!r}: {str(exc).splitlines()[0]}",
            remedy="write a SQL condition such as `net_profit_yoy > 0.5 and revenue_yoy > 0.2` "
            "(see docs/hypothesis.md)",
            field="event.selector",
        ) from exc


def _check_calls(expression: str, tokens: list[_Token]) -> None:
    """Refuse functions outside :data:`FUNCTIONS` and window or sub-query syntax."""
    for i, tok in enumerate(tokens):
        if tok.kind != "word":
            continue
        low = tok.text.lower()
        if low in _FORBIDDEN_WORDS:
            raise SelectorError(
                f"selector {expression!r} uses {tok.text.upper()}: a selector is a condition on one "
                "event's own fields",
                remedy="remove window functions and sub-queries",
                field="event.selector",
            )
        calls = i + 1 < len(tokens) and tokens[i + 1].text == "("
        if calls and low not in _KEYWORDS and low not in FUNCTIONS:
            raise SelectorError(
                f"selector {expression!r} calls {tok.text}(), which is not a row-by-row function",
                remedy=f"use only {', '.join(sorted(FUNCTIONS))}; aggregates would let an event's "
                "selection depend on other (later) events",
                field="event.selector",
            )


def check_selector(expression: str) -> str:
    """Check that ``expression`` parses and calls only row-by-row functions (fields are checked by
    :func:`compile_selector`, which knows them). Returns it stripped."""
    text = expression.strip()
    if not text:
        raise SelectorError(
            "the selector is empty", remedy="omit it to select every event", field="event.selector"
        )
    _check_calls(text, _tokens(text))
    _parse(text, text)
    return text


def selector_fields(expression: str) -> tuple[str, ...]:
    """The field names ``expression`` reads, in order of first use (as written)."""
    text = check_selector(expression)
    return tuple(dict.fromkeys(_parse(text, text).meta.root_names()))


def _suggest(name: str, available: list[str]) -> list[str]:
    lowered = {a.lower(): a for a in available}
    wanted = name.lower()
    for short, long in _SYNONYMS.items():
        wanted = re.sub(rf"(?<![a-z]){short}(?![a-z])", long, wanted)
    close = difflib.get_close_matches(wanted, list(lowered), n=3, cutoff=0.6)
    if wanted != name.lower() and wanted in lowered:
        close = [wanted, *close]
    return list(dict.fromkeys(lowered[c] for c in close))


def _resolve(expression: str, names: tuple[str, ...], columns: Mapping[str, object]) -> dict[str, str]:
    """Map each name the expression reads to its column (exact, else the only case-insensitive
    match); an unknown name raises with close matches and the full list of fields."""
    out: dict[str, str] = {}
    available = sorted(columns)
    for name in names:
        if name in columns:
            out[name] = name
            continue
        same = [c for c in available if c.lower() == name.lower()]
        if len(same) == 1:
            out[name] = same[0]
            continue
        close = _suggest(name, available)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise SelectorError(
            f"selector {expression!r} uses unknown field {name!r}",
            remedy=f"{hint}available fields: {', '.join(available) or '(none)'}",
            field="event.selector",
            details={"unknown": name, "close_matches": close, "available": available},
        )
    return out


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _rewrite(tokens: list[_Token], mapping: Mapping[str, str], columns: Mapping[str, object]) -> str:
    """The expression with each field reference spelt as its column, float fields wrapped so a NaN
    reads as null (``NULLIF(x, 'NaN')``)."""
    parts: list[str] = []
    for i, tok in enumerate(tokens):
        prev = tokens[i - 1].text.lower() if i else ""
        nxt = tokens[i + 1].text if i + 1 < len(tokens) else ""
        is_field = (
            tok.kind in ("word", "quoted")
            and tok.name in mapping
            and prev not in (".", "as")
            and nxt != "("
            and not (tok.kind == "word" and tok.text.lower() in _KEYWORDS)
        )
        if not is_field:
            parts.append(tok.text)
            continue
        column = mapping[tok.name]
        dtype = columns[column]
        ref = _quote(column)
        is_float = dtype in (pl.Float32, pl.Float64)
        parts.append(f"NULLIF({ref}, CAST('NaN' AS DOUBLE))" if is_float else ref)
    return " ".join(parts)


def _probe(columns: Mapping[str, pl.DataType | type[pl.DataType]]) -> pl.DataFrame:
    """Two rows (a zero-like value, then null) of the given columns, to run an expression once: a
    type error (a date compared with a number) only surfaces on values."""
    series = []
    for name, dtype in columns.items():
        try:
            series.append(pl.Series(name, [0, None]).cast(dtype))
        except Exception:  # a type without a zero (lists, structs): nulls still check the plan
            series.append(pl.Series(name, [None, None], dtype=dtype))
    return pl.DataFrame(series)


def compile_selector(expression: str, *, columns: Mapping[str, pl.DataType | type[pl.DataType]]) -> pl.Expr:
    """A Polars expression that is true for the rows ``expression`` selects, for frames with
    ``columns`` (name to dtype, e.g. ``dict(frame.schema)``).

    The expression is false, never null, where the condition is unknown (a missing value: see the
    module docstring), so ``frame.filter(compile_selector(...))`` keeps exactly the selected rows.
    Raises :class:`SelectorError` when the expression does not parse, names a field not in
    ``columns`` (listing close matches and every field), calls a function that is not row by row, or
    does not give true/false (e.g. ``revenue_yoy + 1``).
    """
    text = check_selector(expression)
    tokens = _tokens(text)
    names = tuple(dict.fromkeys(_parse(text, text).meta.root_names()))
    mapping = _resolve(text, names, columns)
    expr = _parse(_rewrite(tokens, mapping, columns), text)
    used = {mapping[n]: columns[mapping[n]] for n in names}
    try:
        dtype = _probe(used).select(expr.alias("selected")).to_series().dtype
    except Exception as exc:  # a type error surfaces when the operation runs
        types = ", ".join(f"{k}: {v}" for k, v in used.items())
        raise SelectorError(
            f"selector {text!r} cannot be evaluated: {str(exc).splitlines()[0]}",
            remedy=f"check the field types ({types or 'no fields'}); write dates as DATE 'YYYY-MM-DD' "
            "and text in single quotes",
            field="event.selector",
        ) from exc
    if dtype != pl.Boolean:
        raise SelectorError(
            f"selector {text!r} gives {dtype} values, not true/false",
            remedy="write a condition, e.g. `revenue_yoy > 0.2` rather than `revenue_yoy`",
            field="event.selector",
        )
    return expr.fill_null(False).alias("selected")


__all__ = [
    "FUNCTIONS",
    "SelectorError",
    "canonical_selector",
    "check_selector",
    "compile_selector",
    "selector_fields",
]
