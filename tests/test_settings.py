"""Specification of the app's settings: defaults that run locally, env vars, an optional file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from settings import DEFAULT_IDENTITY_WORDS, Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("ARENA_"):
            monkeypatch.delenv(key)


def test_defaults_run_locally_on_sqlite_under_the_data_dir() -> None:
    settings = Settings()
    assert settings.resolved_database_url == "sqlite:///data/arena.db"
    assert settings.max_conversation_tokens == 2048
    assert settings.models_file.name == "models.yaml" and settings.models_file.exists()
    assert "openai" in settings.identity_words


def test_environment_variables_override_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ARENA_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("ARENA_MODELS", str(tmp_path / "m.yaml"))
    monkeypatch.setenv("ARENA_IDENTITY_WORDS", "foo, bar ,")
    monkeypatch.setenv("ARENA_MAX_CONVERSATION_TOKENS", "4096")
    settings = Settings()
    assert settings.resolved_database_url == "postgresql://u@h/db"
    assert settings.models_file == tmp_path / "m.yaml"
    assert settings.identity_words == ("foo", "bar")
    assert settings.max_conversation_tokens == 4096


def test_a_settings_file_is_read_and_env_vars_win(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "arena.yaml"
    config.write_text("port: 9000\nmax_new_tokens: 64\n")
    monkeypatch.setenv("ARENA_CONFIG", str(config))
    monkeypatch.setenv("ARENA_PORT", "9100")
    settings = Settings()
    assert settings.port == 9100 and settings.max_new_tokens == 64
    assert settings.identity_words == DEFAULT_IDENTITY_WORDS


def test_unknown_keys_and_bad_values_are_clear_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "arena.yaml"
    config.write_text("prot: 9000\n")
    monkeypatch.setenv("ARENA_CONFIG", str(config))
    with pytest.raises(ValidationError, match="prot"):
        Settings()
    monkeypatch.setenv("ARENA_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ValueError, match="does not exist"):
        Settings()
    monkeypatch.delenv("ARENA_CONFIG")
    monkeypatch.setenv("ARENA_MAX_CONVERSATION_TOKENS", "-1")
    with pytest.raises(ValidationError):
        Settings()


def test_the_voter_salt_is_created_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    salt = settings.resolved_voter_salt()
    assert len(salt) == 64
    assert Settings(data_dir=tmp_path / "d").resolved_voter_salt() == salt
    assert Settings(data_dir=tmp_path / "d", voter_salt="fixed").resolved_voter_salt() == "fixed"


def test_the_judge_is_gpt_4o_only_when_an_openai_key_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert Settings().resolved_judge_model() == ""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert Settings().resolved_judge_model() == "gpt-4o-judge"
    monkeypatch.setenv("ARENA_JUDGE_MODEL", "smollm2-135m-greedy")
    assert Settings().resolved_judge_model() == "smollm2-135m-greedy"
    monkeypatch.setenv("ARENA_JUDGE_MODEL", "")
    assert Settings().resolved_judge_model() == ""
