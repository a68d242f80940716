"""Settings from the environment and a TOML file, parsed once at the edge into frozen values.

Precedence (highest first): explicit keyword arguments, ``EARNEST_*`` environment variables,
the TOML file (``$EARNEST_CONFIG`` or ``$EARNEST_HOME/earnest.toml``), defaults.

Inner stages never read settings: the CLI and the workflows pass plain values down.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
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


class ServiceSettings(BaseModel):
    """The prediction service (``earnest serve``): where it listens, which registered model it
    serves, and its limits."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    model_name: str = Field(
        default="earnest", description="registered model whose production version is served"
    )
    rate_limit_per_s: float = Field(default=50.0, gt=0, description="default requests per second per API key")
    rate_burst_s: float = Field(
        default=2.0, gt=0, description="a key may burst this many seconds of its rate"
    )
    max_body_bytes: int = Field(default=2_000_000, gt=0, description="larger request bodies get 413")
    max_batch_rows: int = Field(default=5000, ge=1, le=5000)
    reload_poll_s: float = Field(
        default=5.0, gt=0, description="how often the model registry and keys are polled"
    )
    feature_cache_size: int = Field(default=100_000, ge=0, description="cached (symbol, as-of) feature rows")
    feature_cache_ttl_s: float = Field(default=600.0, gt=0)
    max_data_age_days: int = Field(default=4, ge=0, description="readyz fails when the newest bar is older")


class DailySettings(BaseModel):
    """The daily pipeline (``earnest daily``, ``earnest scheduler``): where the day's files come from,
    which model scores the day's events and when a score becomes an alert."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    inbox: Path | None = Field(
        default=None,
        description="a folder the day's exchange files are dropped into; default: download from NSE",
    )
    products: tuple[str, ...] = Field(
        default=("bhavcopy", "full", "pr"), description="NSE archive products fetched each day"
    )
    model_name: str | None = Field(
        default=None,
        description="registered model whose production version scores events; default service.model_name",
    )
    alert_threshold: float = Field(
        default=0.6, ge=0, le=1, description="scores at or above this become alerts"
    )
    run_at: str = Field(
        default="18:30", pattern=r"^\d{2}:\d{2}$", description="IST time of the scheduler's run"
    )


class AlertSettings(BaseModel):
    """Alert delivery (``earnest alerts send|report``): the Telegram bot and chat, a generic webhook,
    and the outbox's rate limit, retries and backoff. Secrets are ``SecretStr``: never printed.
    Env: ``EARNEST_ALERTS__TELEGRAM_BOT_TOKEN``, ``EARNEST_ALERTS__WEBHOOK_URL``, ..."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    telegram_bot_token: SecretStr | None = Field(default=None, description="from @BotFather")
    telegram_chat_id: str | None = Field(default=None, description="chat, group or @channel to post to")
    telegram_api_base: str = "https://api.telegram.org"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = Field(
        default=None, description="when set, bodies are signed with HMAC-SHA256 (X-Earnest-Signature)"
    )
    rate_limit_per_minute: int = Field(default=20, ge=1, description="messages per chat (or URL) per minute")
    max_attempts: int = Field(default=5, ge=1, le=50, description="tries per alert and channel in one run")
    backoff_s: float = Field(default=1.0, ge=0, description="first retry wait; doubles per try, with jitter")
    backoff_max_s: float = Field(default=60.0, ge=0)
    max_wait_s: float = Field(
        default=60.0, ge=0, description="a 429 asking to wait longer defers the alert to a later run"
    )
    timeout_s: float = Field(default=10.0, gt=0)
    entry_fill: Literal["open", "close"] = Field(
        default="open", description="live outcomes enter at the open (or close) of the first tradable session"
    )
    benchmark_index: str = Field(
        default="NIFTY 50", description="index the excess returns are measured against"
    )


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
    registry: str | None = Field(
        default=None,
        description="MLflow tracking/registry URI (sqlite:///..., http://host:5000); default: SQLite in home/mlflow",
    )
    log_level: str = "INFO"
    dask_scheduler: str | None = Field(
        default=None,
        description="a Dask scheduler address (tcp://host:8786) where folds and trials run; "
        "default: in process",
    )
    download: DownloadSettings = DownloadSettings()
    quality: QualitySettings = QualitySettings()
    daily: DailySettings = DailySettings()
    alerts: AlertSettings = AlertSettings()
    service: ServiceSettings = ServiceSettings()

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


__all__ = [
    "AlertSettings",
    "DailySettings",
    "DownloadSettings",
    "QualitySettings",
    "ServiceSettings",
    "Settings",
    "load_settings",
]
