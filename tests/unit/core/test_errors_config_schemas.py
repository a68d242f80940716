from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from earnest.config import load_settings
from earnest.core import schemas as S
from earnest.core.errors import ConfigError, DataError, EarnestError, SchemaDriftError


def test_error_names_file_row_field_and_remedy() -> None:
    err = DataError(
        "HIGH 101.2 < LOW 104.0 for INFY (EQ)",
        remedy="row quarantined",
        file="cm05JUL2024bhav.csv",
        row=812,
        field="HIGH",
    )
    assert (
        str(err)
        == "cm05JUL2024bhav.csv row 812 field HIGH: HIGH 101.2 < LOW 104.0 for INFY (EQ) (row quarantined)"
    )
    assert isinstance(err, EarnestError)
    assert err.exit_code == 3
    assert issubclass(SchemaDriftError, DataError)


def test_settings_env_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EARNEST_HOME", str(tmp_path))
    monkeypatch.delenv("EARNEST_STORE", raising=False)
    monkeypatch.delenv("EARNEST_CONFIG", raising=False)
    s = load_settings()
    assert s.home == tmp_path
    assert s.store_url == f"duckdb:///{tmp_path / 'earnest.duckdb'}"
    (tmp_path / "earnest.toml").write_text(
        '[earnest]\nstore = "postgresql://u@h/db"\n[earnest.download]\nretries = 2\n'
    )
    s = load_settings()
    assert s.store_url == "postgresql://u@h/db"
    assert s.download.retries == 2
    monkeypatch.setenv("EARNEST_STORE", "duckdb:///:memory:")
    assert load_settings().store_url == "duckdb:///:memory:"  # env beats the file


def test_settings_errors_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EARNEST_HOME", str(tmp_path))
    monkeypatch.setenv("EARNEST_DOWNLOAD__RETRIES", "-1")
    with pytest.raises(ConfigError, match=r"download\.retries"):
        load_settings()
    monkeypatch.delenv("EARNEST_DOWNLOAD__RETRIES")
    (tmp_path / "earnest.toml").write_text("not = [valid")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_conform_adds_missing_and_refuses_lossy_casts() -> None:
    out = S.conform(pl.DataFrame({"symbol": ["A"], "new_symbol": ["B"]}), S.SYMBOL_CHANGES)
    assert out.columns == list(S.SYMBOL_CHANGES)
    assert out.item(0, "change_date") is None
    with pytest.raises(SchemaDriftError, match="change_date"):
        S.conform(pl.DataFrame({"change_date": ["not a date"]}), S.SYMBOL_CHANGES)


def test_a_relative_home_gives_a_store_under_it_not_under_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EARNEST_HOME", "rel-home")
    monkeypatch.delenv("EARNEST_STORE", raising=False)
    monkeypatch.delenv("EARNEST_CONFIG", raising=False)
    # "duckdb:///" + "rel-home/..." would read as the absolute path /rel-home/...
    assert load_settings().store_url == f"duckdb:///{tmp_path / 'rel-home' / 'earnest.duckdb'}"
