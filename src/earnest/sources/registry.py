"""Format auto-detection: which reader handles a file, from its name and first lines."""

from __future__ import annotations

import importlib
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from earnest.core.errors import DataError, UnknownFormatError
from earnest.core.hashing import sha256_bytes
from earnest.sources.base import BatchReader, ParsedFile, RawFile, Reader, decode

# Order matters: specific formats first, the generic CSV last.
_MODULES = (
    "earnest.sources.nse_bhavcopy",
    "earnest.sources.bse_bhavcopy",
    "earnest.sources.price_bands",
    "earnest.sources.index_daily",
    "earnest.sources.equity_master",
    "earnest.sources.corporate_actions",
    "earnest.sources.xbrl",
    "earnest.sources.nse_results",
    "earnest.sources.custom_events",
    "earnest.sources.csv_import",
)

_HEAD_BYTES = 4096


@lru_cache(maxsize=1)
def readers() -> tuple[Reader, ...]:
    """Every registered reader, in detection order."""
    out: list[Reader] = []
    for mod in _MODULES:
        module = importlib.import_module(mod)
        out.extend(getattr(module, "READERS", ()))
    return tuple(out)


def _head(data: bytes) -> str:
    return decode(data[:_HEAD_BYTES], "head")


def detect(name: str, data: bytes) -> Reader | None:
    """The reader for ``data`` (named ``name``), or None if no reader recognises it."""
    head = _head(data)
    for reader in readers():
        if reader.sniff(name, head):
            return reader
    return None


def known_formats() -> list[str]:
    return [r.kind for r in readers()]


def read_bytes(name: str, data: bytes, *, strict: bool = True) -> list[ParsedFile]:
    """Parse one file (a zip yields one result per member).

    With ``strict`` an unrecognised file raises :class:`UnknownFormatError`; otherwise it is
    skipped (an empty list).
    """
    got = read_many([(name, data)], strict=strict)[0]
    if isinstance(got, DataError):
        raise got
    return got


def _unknown(name: str) -> UnknownFormatError:
    return UnknownFormatError(
        "no reader recognises this file",
        remedy=f"known formats: {', '.join(known_formats())}; for other data use the generic CSV "
        "layout documented in docs/formats.md",
        file=name,
    )


def _members(name: str, data: bytes) -> list[tuple[str, bytes]]:
    """The files inside ``data`` as :func:`read_bytes` walks them: a zip's members (recursively,
    named ``archive.zip!member``) or the file itself."""
    if data[:4] == b"PK\x03\x04" or name.lower().endswith(".zip"):
        return [m for member in _zip_members(name, data) for m in _members(*member)]
    return [(name, data)]


def _zip_members(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        bad = zf.testzip()
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise DataError(
            f"not a readable zip archive ({exc})",
            remedy="the download may be truncated; fetch it again",
            file=name,
        ) from exc
    if bad is not None:
        raise DataError(f"zip member {bad} is corrupt", remedy="fetch the archive again", file=name)
    with zf:
        for info in zf.infolist():
            if not info.is_dir():
                yield f"{name}!{info.filename}", zf.read(info)


def read_many(
    items: Sequence[tuple[str, bytes]], *, strict: bool = True
) -> list[list[ParsedFile] | DataError]:
    """:func:`read_bytes` for several files: for each, the parsed files it yields or the
    :class:`DataError` it raises. Files (and zip members) of one format whose reader can parse
    many at once (:class:`~earnest.sources.base.BatchReader`) are parsed in one pass, with the
    same result per file."""
    files: list[list[RawFile] | DataError] = []
    parsed: dict[int, ParsedFile | DataError] = {}
    batches: dict[str, tuple[BatchReader, list[RawFile]]] = {}
    single: list[tuple[Reader, RawFile]] = []
    for name, data in items:
        try:
            members = _members(name, data)
        except DataError as exc:
            files.append(exc)
            continue
        mine: list[RawFile] = []
        for member, raw in members:
            reader = detect(member, raw)
            if reader is None and not strict:
                continue
            f = RawFile(member, raw, "" if reader is None else sha256_bytes(raw))
            mine.append(f)
            if reader is None:
                parsed[id(f)] = _unknown(member)
            elif isinstance(reader, BatchReader):
                batches.setdefault(reader.kind, (reader, []))[1].append(f)
            else:
                single.append((reader, f))
        files.append(mine)
    for reader, group in batches.values():
        parsed.update((id(f), got) for f, got in zip(group, reader.parse_many(group), strict=True))
    for reader, f in single:
        try:
            parsed[id(f)] = reader.parse(f.name, f.data, sha256=f.sha256)
        except DataError as exc:
            parsed[id(f)] = exc
    return [_assemble(entry, parsed) for entry in files]


def _assemble(
    entry: list[RawFile] | DataError, parsed: dict[int, ParsedFile | DataError]
) -> list[ParsedFile] | DataError:
    """One input's parsed members, or the first member's error (as :func:`read_bytes` stops there)."""
    if isinstance(entry, DataError):
        return entry
    out: list[ParsedFile] = []
    for f in entry:
        got = parsed[id(f)]
        if isinstance(got, DataError):
            return got
        out.append(got)
    return out


def _is_documentation(path: Path) -> bool:
    name = path.name.lower()
    return (
        name.startswith(".") or name.endswith((".md", ".part")) or name.startswith(("readme", "provenance"))
    )


def iter_input_files(paths: Iterable[Path]) -> list[Path]:
    """Expand files and folders (recursively) into a sorted list of candidate input files.

    Inside folders, documentation files (``*.md``, ``README*``, ``PROVENANCE*``) and hidden files
    (``.DS_Store``, editors' swap files, the downloader's ``.part`` files) are not inputs; a file
    named explicitly always is.
    """
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(f for f in sorted(p.rglob("*")) if f.is_file() and not _is_documentation(f))
        elif p.exists():
            out.append(p)
        else:
            raise DataError(f"{p} does not exist", remedy="check the path", file=str(p))
    return out


__all__ = ["detect", "iter_input_files", "known_formats", "read_bytes", "read_many", "readers"]
