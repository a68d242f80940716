"""Run configs from TOML files (hypotheses, training, backtests): one way to read and explain them.

A run config is a frozen pydantic model. This module turns the three ways a file can be wrong into
one kind of error that names the file, the line, the field path and what to do:

- the file cannot be read (:func:`read_config_text`);
- it is not TOML (:func:`parse_toml`);
- it is TOML but not a valid config (:func:`validate`): unknown keys get the closest allowed key,
  missing tables and keys say what to add, and the first error's line is found in the text
  (:func:`line_of`).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from earnest.core.errors import ConfigError, NotFoundError

__all__ = ["line_of", "loc", "parse_toml", "read_config_text", "validate"]

M = TypeVar("M", bound=BaseModel)

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\.\"' ]+?)\s*=")


def _dotted(text: str) -> tuple[str, ...]:
    return tuple(p.strip().strip("\"'") for p in text.split("."))


def line_of(text: str, path: tuple[int | str, ...]) -> int | None:
    """The 1-based line of ``text`` that sets the key at ``path`` (list indexes ignored), else the
    line of the deepest table header on the path, else None."""
    keys = tuple(str(p) for p in path if not isinstance(p, int))
    table: tuple[str, ...] = ()
    best: tuple[int, int] | None = None  # (matched depth, line)
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _dotted(header.group(1))
            full = table
        else:
            key = _KEY.match(line)
            if not key:
                continue
            full = table + _dotted(key.group(1))
        depth = len(full)
        if full == keys[:depth] and (best is None or depth > best[0]):
            best = (depth, number)
    return best[1] if best else None


def loc(parts: tuple[int | str, ...]) -> str:
    """A pydantic error location as a TOML path: ``signal.hold``, ``horizons[2]``."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _section_keys(root: type[BaseModel], parts: tuple[int | str, ...]) -> list[str]:
    """The keys allowed in the table at ``parts`` (empty when it is not a table of the file)."""
    model: type[BaseModel] = root
    for p in parts:
        field = next((f for n, f in model.model_fields.items() if str(p) in (n, f.alias)), None)
        ann = field.annotation if field is not None else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return [f.alias or n for n, f in model.model_fields.items()]


def _explain(root: type[BaseModel], err: Any, doc: str) -> tuple[str, str]:
    """(message, remedy) for one pydantic error."""
    parts = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        allowed = _section_keys(root, parts[:-1])
        close = difflib.get_close_matches(str(parts[-1]), allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return "unknown key", f"{hint}allowed here: {', '.join(allowed) or 'none'}"
    if kind == "missing":
        if _section_keys(root, parts):
            return "required table is missing", f"add a [{loc(parts)}] table (see {doc})"
        return "required key is missing", f"add {loc(parts)} (see {doc})"
    if kind != "value_error" and "input" in err and not isinstance(err["input"], dict):
        msg = f"{msg} (got {err['input']!r})"
    return msg, f"see {doc} for the field's meaning and allowed values"


def validate(
    model: type[M],
    data: dict[str, Any],
    *,
    source: str,
    error: type[ConfigError],
    doc: str,
    text: str = "",
) -> M:
    """``data`` validated as ``model``; a failure raises ``error`` naming ``source``, the line in
    ``text`` (when given), the field path, the first problem (and up to five more) and a remedy
    pointing at ``doc``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        parts = tuple(first.get("loc", ()))
        message, remedy = _explain(model, first, doc)
        more = [
            f"{loc(tuple(e.get('loc', ()))) or '(file)'}: {_explain(model, e, doc)[0]}" for e in errors[1:6]
        ]
        if more:
            message += f"; also {'; '.join(more)}" + (" ..." if len(errors) > 6 else "")
        raise error(
            message,
            remedy=remedy,
            file=source,
            row=line_of(text, parts) if text else None,
            field=loc(parts) or None,
            details={"errors": [{"loc": loc(tuple(e["loc"])), "msg": e["msg"]} for e in errors]},
        ) from exc


def parse_toml(text: str, *, source: str, error: type[ConfigError], example: str) -> dict[str, Any]:
    """``text`` parsed as TOML; a syntax error raises ``error`` with its line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"at line (\d+)", str(exc))
        raise error(
            f"not valid TOML: {exc}",
            remedy=f"fix the TOML syntax (https://toml.io); see {example} for a complete file",
            file=source,
            row=int(line.group(1)) if line else None,
        ) from exc


def read_config_text(path: str | Path, *, what: str, error: type[ConfigError], example: str) -> str:
    """The UTF-8 text of the ``what`` file at ``path`` (e.g. what = "backtest config")."""
    file = Path(path)
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFoundError(
            f"{what} {file} does not exist",
            remedy=f"pass the path of a .toml file; {example} is one to copy",
            file=str(file),
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read the {what}: {exc}", remedy="save it as UTF-8 text", file=str(file)) from exc
