"""Receipts: what every result carries so it can be traced and reproduced.

A :class:`Receipt` names the data (a hash of the inputs the result was computed from), the
configuration (a hash of the canonical run config), the code (package version plus the git commit
when run from a checkout, ``-dirty`` when the tree had uncommitted changes) and the seed.
"""

from __future__ import annotations

import datetime as dt
import functools
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from earnest.core.hashing import sha256_bytes, sha256_json


def _git(*args: str) -> str | None:
    """stdout of ``git args`` run beside this file, or None when git or the repository is absent."""
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


@functools.cache
def code_version() -> str:
    """``earnest <version>`` plus ``+g<commit>`` (and ``-dirty``) when the package runs from a git tree."""
    from earnest import __version__

    sha = _git("rev-parse", "--short=12", "HEAD")
    if sha is None:
        return __version__
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return f"{__version__}+g{sha.strip()}{'-dirty' if dirty and dirty.strip() else ''}"


def frame_hash(*frames: pl.DataFrame) -> str:
    """A content hash of ``frames`` (column names, dtypes and values, in row order)."""
    parts: list[str] = []
    for frame in frames:
        schema = ",".join(f"{name}:{dtype}" for name, dtype in frame.schema.items())
        rows = frame.hash_rows(seed=0) if frame.width else pl.Series([], dtype=pl.UInt64)
        parts.append(schema + ":" + sha256_bytes(rows.to_numpy().tobytes()))
    return sha256_bytes("|".join(parts).encode())


@dataclass(frozen=True)
class Receipt:
    """Where a result came from: data hash, config hash, code version, seed and when it was made."""

    data_hash: str
    config_hash: str
    code_version: str
    seed: int
    created_at: str

    @classmethod
    def make(cls, *, data_hash: str, config: Any, seed: int) -> Receipt:
        """A receipt for a result computed now from data ``data_hash`` with ``config`` (hashed)."""
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        return cls(data_hash, sha256_json(config), code_version(), seed, now)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


__all__ = ["Receipt", "code_version", "frame_hash"]
