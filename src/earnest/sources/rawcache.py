"""The raw-file cache of the downloader: what makes a file valid, and the manifest of hashes.

:mod:`earnest.sources.download` stores each exchange file byte for byte as served. This module
decides whether such a file is usable (:func:`validate_file`) and keeps ``manifest.json``
(:class:`Manifest`), the record of every cached file's URL, size and sha256.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any, Final

log = logging.getLogger(__name__)

_HTML_MARKERS: Final = (b"<!doctype html", b"<html", b"<head", b"<body", b"<title")


def _looks_html(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith(b"<") and any(m in text for m in _HTML_MARKERS)


def validate_file(path: Path, *, name: str | None = None) -> str | None:
    """Why ``path`` is not a usable exchange file, or None when it is.

    ``name`` is the file's real name when ``path`` is a temporary one. Zips (by name) must open,
    hold at least one member and pass :meth:`zipfile.ZipFile.testzip`; other files are CSV and
    need a comma in their first line. Neither may be empty or an HTML page.
    """
    with path.open("rb") as fh:
        head = fh.read(4096)
    if not head:
        return "empty file"
    if _looks_html(head):
        return "an HTML page instead of the file (an error or bot-check page sent with HTTP 200)"
    if (name or path.name).lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as zf:
                if not zf.namelist():
                    return "zip archive holds no file"
                bad = zf.testzip()
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
            return f"not a readable zip archive ({exc}): probably a truncated download"
        return None if bad is None else f"zip member {bad} fails its CRC check: probably a corrupt download"
    first_line = head.split(b"\n", 1)[0]
    if b"," not in first_line:
        return "does not look like CSV: no comma in the first line"
    return None


class Manifest:
    """``cache_dir/manifest.json``: ``{"version": 1, "files": {relative path: entry}}``.

    An entry holds ``url``, ``product``, ``date``, ``bytes``, ``mtime_ns``, ``sha256`` and
    ``fetched_at`` (UTC, None when the file was found in the cache without an entry). Size and
    modification time let a re-run trust a cached file without hashing it again.
    """

    def __init__(self, path: Path, files: dict[str, dict[str, Any]]) -> None:
        self.path = path
        self._files = files

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path, {})
        except (OSError, ValueError) as exc:
            log.warning("download manifest %s is unreadable (%s): starting a new one", path, exc)
            return cls(path, {})
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, dict):
            log.warning("download manifest %s has no 'files' table: starting a new one", path)
            return cls(path, {})
        return cls(path, {k: v for k, v in files.items() if isinstance(v, dict)})

    def sha256(self, rel: str) -> str | None:
        value = self._files.get(rel, {}).get("sha256")
        return value if isinstance(value, str) else None

    def unchanged(self, rel: str, path: Path) -> bool:
        """Whether ``path`` has the size and modification time recorded when it was hashed."""
        entry, st = self._files.get(rel), path.stat()
        return (
            entry is not None
            and self.sha256(rel) is not None
            and entry.get("bytes") == st.st_size
            and entry.get("mtime_ns") == st.st_mtime_ns
        )

    def record(self, rel: str, path: Path, *, url: str, product: str, date: dt.date, sha256: str) -> None:
        st = path.stat()
        old = self._files.get(rel, {})
        fetched = old.get("fetched_at") if old.get("sha256") == sha256 else None
        self._files[rel] = {
            "url": url,
            "product": product,
            "date": date.isoformat(),
            "bytes": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "sha256": sha256,
            "fetched_at": fetched,
        }

    def stamp(self, rel: str) -> None:
        """Mark ``rel`` as fetched now (after a download)."""
        self._files[rel]["fetched_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    def save(self) -> None:
        """Write atomically (temporary file, then rename)."""
        tmp = self.path.with_name(self.path.name + ".part")
        body = {"version": 1, "files": dict(sorted(self._files.items()))}
        tmp.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


__all__ = ["Manifest", "validate_file"]
