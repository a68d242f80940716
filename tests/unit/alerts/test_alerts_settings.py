"""AlertSettings from the environment, and the channels and retry policy built from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from earnest.alerts import TelegramChannel, WebhookChannel, channels_from_settings, policy_from_settings
from earnest.config import AlertSettings, load_settings


def test_settings_from_env_build_the_channels(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EARNEST_ALERTS__TELEGRAM_BOT_TOKEN", "1:abc")
    monkeypatch.setenv("EARNEST_ALERTS__TELEGRAM_CHAT_ID", "-42")
    monkeypatch.setenv("EARNEST_ALERTS__WEBHOOK_URL", "https://hooks.test/x")
    monkeypatch.setenv("EARNEST_ALERTS__MAX_ATTEMPTS", "3")
    monkeypatch.delenv("EARNEST_CONFIG", raising=False)
    monkeypatch.setenv("EARNEST_HOME", str(tmp_path))  # no earnest.toml there
    settings = load_settings().alerts
    assert "1:abc" not in repr(settings)
    assert settings.telegram_api_base == "https://api.telegram.org"
    tg, wh = channels_from_settings(settings)
    try:
        assert isinstance(tg, TelegramChannel)
        assert isinstance(wh, WebhookChannel)
        assert (tg.name, tg.chat_id, wh.name, wh.url) == (
            "telegram",
            "-42",
            "webhook",
            "https://hooks.test/x",
        )
    finally:
        tg.close()
        wh.close()
    policy = policy_from_settings(settings, seed=3)
    assert (policy.max_attempts, policy.backoff_s, policy.seed) == (3, 1.0, 3)


def test_no_settings_no_channels() -> None:
    assert channels_from_settings(AlertSettings()) == []
    assert channels_from_settings(AlertSettings(telegram_bot_token="1:abc")) == []  # no chat id
