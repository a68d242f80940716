"""Settings from the environment and a TOML file, parsed once at the edge into frozen values.

Precedence (highest first): explicit keyword arguments, ``EARNEST_*`` environment variables,
the TOML file (``$EARNEST_CONFIG`` or ``$EARNEST_HOME/earnest.toml``), defaults.

Inner stages never read settings: the CLI and the workflows pass plain values down.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from earnest.core.errors import ConfigError

DEFAULT_HOME = Path("~/.earnest")


class DownloadSettings(BaseModel):
    """How earnest talks to the exchanges' archives."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nse_archive_url: str = "https://nsearchives.nseindia.com"
    nse_www_url: str = "https://www.nseindia.com"
    bse_archive_url: str = "https://www.bseindia.com"
    timeout_s: float = Field(default=30.0, gt=0)
    retries: int = Field(default=4, ge=0, le=20)
    backoff_s: float = Field(default=1.0, ge=0)
    min_interval_s: float = Field(default=0.5, ge=0, description="polite gap between two requests")
    user_agent: str = (
        "Mozilla/5.0 (X11; Linux x86_64) earnest/0.1 (+https://github.com/earnest-quant/earnest)"
    )


class QualitySettings(BaseModel):
    """Thresholds of the quality gate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    jump_no_band_pct: float = Field(
        default=35.0, gt=0, description="max move for a stock without a fixed band"
    )
    band_tolerance_pct: float = Field(default=0.5, ge=0)
    band_max_age_sessions: int = Field(
        default=15, ge=0, description="a price band older than this many sessions is not applied"
    )
    stale_days: int = Field(default=5, ge=2)
    split_ratio_tolerance: float = Field(default=0.03, gt=0, lt=0.5)


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the TOML file named by EARNEST_CONFIG, or earnest.toml in EARNEST_HOME."""

    def _path(self) -> Path | None:
        explicit = os.environ.get("EARNEST_CONFIG")
        if explicit:
            return Path(explicit).expanduser()
        home = Path(os.environ.get("EARNEST_HOME", str(DEFAULT_HOME))).expanduser()
        candidate = home / "earnest.toml"
        return candidate if candidate.exists() else None

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = self._path()
        if path is None:
            return {}
        if not path.exists():
            raise ConfigError(
                f"config file {path} does not exist", remedy="unset EARNEST_CONFIG or create the file"
            )
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}", file=str(path)) from exc
        section = data.get("earnest", data)
        if not isinstance(section, dict):
            raise ConfigError("the [earnest] section must be a table", file=str(path))
        return section


class Settings(BaseSettings):
    """earnest's settings. ``home`` is the data directory; ``store`` the store URL."""

    model_config = SettingsConfigDict(
        env_prefix="EARNEST_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    home: Path = DEFAULT_HOME
    store: str | None = Field(
        default=None, description="duckdb:///path or postgresql://...; default: DuckDB in home"
    )
    log_level: str = "INFO"
    download: DownloadSettings = DownloadSettings()
    quality: QualitySettings = QualitySettings()

    @field_validator("home")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _TomlSource(settings_cls)

    @property
    def store_url(self) -> str:
        """The store URL, defaulting to a DuckDB file under ``home``."""
        return self.store or f"duckdb:///{self.home.resolve() / 'earnest.duckdb'}"

    @property
    def cache_dir(self) -> Path:
        """Where downloaded raw files are kept (never modified after download)."""
        return self.home / "cache"


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings`, turning validation failures into a :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        raise ConfigError(
            f"invalid setting {loc or '?'}: {first.get('msg')}",
            remedy=f"check EARNEST_{loc.upper().replace('.', '__')} or the [earnest] table of your earnest.toml",
            field=loc or None,
        ) from exc


__all__ = ["DownloadSettings", "QualitySettings", "Settings", "load_settings"]
