"""One exception tree for earnest.

Every error carries structured fields (file, row, field, remedy) so the CLI and the service can
render a precise message, and so tests can assert on *what* went wrong rather than on text.
The CLI maps each class to an exit code in one place (:mod:`earnest.cli`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(eq=False)
class EarnestError(Exception):
    """Base class of every error earnest raises on purpose.

    ``message`` says what is wrong; ``remedy`` says what the user can do about it.
    """

    message: str
    remedy: str = ""
    file: str | None = None
    row: int | None = None
    field: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    exit_code = 1

    def __post_init__(self) -> None:
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.file is not None:
            where.append(Path(self.file).name if len(self.file) > 80 else self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field {self.field}")
        prefix = f"{' '.join(where)}: " if where else ""
        text = f"{prefix}{self.message}"
        if self.remedy:
            text += f" ({self.remedy})"
        return text

    def __str__(self) -> str:
        return self.render()


class ConfigError(EarnestError):
    """A setting, environment variable or config file is invalid."""

    exit_code = 2


class DataError(EarnestError):
    """Input data is malformed: a file, a row or a field."""

    exit_code = 3


class SchemaDriftError(DataError):
    """A file's columns do not match any known layout, or a known layout changed."""


class UnknownFormatError(DataError):
    """No reader recognises the file."""


class StoreError(EarnestError):
    """The store cannot be opened, migrated, read or written."""

    exit_code = 4


class MigrationError(StoreError):
    """The store's schema version is unknown or a migration failed."""


class SourceError(EarnestError):
    """A remote source (NSE archives, BSE) failed or returned something unusable."""

    exit_code = 5


class NotFoundError(EarnestError):
    """A requested symbol, instrument, file or record does not exist."""

    exit_code = 6


__all__ = [
    "ConfigError",
    "DataError",
    "EarnestError",
    "MigrationError",
    "NotFoundError",
    "SchemaDriftError",
    "SourceError",
    "StoreError",
    "UnknownFormatError",
]
