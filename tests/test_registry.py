"""The model registry (models.yaml): validation with clear messages, and the requests it builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.registry import DEFAULT_MODELS_FILE, ModelSpec, RegistryError, load_model_specs
from models.types import ChatMessage


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_registry_is_valid_and_its_contenders_share_weights() -> None:
    everything = load_model_specs(DEFAULT_MODELS_FILE)
    judge = [s for s in everything if s.name == "gpt-4o-judge"]
    assert len(judge) == 1 and not judge[0].enabled and not judge[0].anonymous, "the judge is never a contender"
    specs = [s for s in everything if s.enabled]
    assert len(specs) == 4 and len({s.name for s in specs}) == 4
    keys = {s.engine_key for s in specs}
    assert keys == {
        ("local", "embedded:smollm2-135m-instruct", "none"),
        ("local", "embedded:smollm2-135m-instruct", "int8-dynamic"),
    }


def test_an_unknown_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  - name: a\n    temprature: 0.5\n")
    with pytest.raises(RegistryError) as caught:
        load_model_specs(path)
    assert "temprature" in str(caught.value) and str(path) in str(caught.value)


def test_duplicate_names_are_listed(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  - name: a\n  - name: b\n  - name: a\n")
    with pytest.raises(RegistryError, match="names these models twice: a"):
        load_model_specs(path)


def test_a_bad_name_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  - name: 'has spaces/and slashes'\n")
    with pytest.raises(RegistryError) as caught:
        load_model_specs(path)
    assert "name" in str(caught.value) and "pattern" in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(RegistryError, match=f"not found: {missing}"):
        load_model_specs(missing)


def test_invalid_yaml_and_wrong_shape_are_clear(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="not valid YAML"):
        load_model_specs(write(tmp_path, "models: [\n"))
    with pytest.raises(RegistryError, match="'models' list"):
        load_model_specs(write(tmp_path, "- name: a\n"))
    with pytest.raises(RegistryError, match="lists no models"):
        load_model_specs(write(tmp_path, "models: []\n"))


def test_out_of_range_decoding_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  - name: a\n    generation: {top_p: 0}\n")
    with pytest.raises(RegistryError, match="top_p"):
        load_model_specs(path)


def test_build_request_puts_the_system_prompt_first() -> None:
    spec = ModelSpec(name="a", system_prompt="Be brief.", generation={"temperature": 0.0, "max_new_tokens": 9})
    conversation = [ChatMessage("user", "Hi"), ChatMessage("assistant", "Hello!"), ChatMessage("user", "Bye")]
    request = spec.build_request(conversation)
    assert request.messages[0] == ChatMessage("system", "Be brief.")
    assert request.messages[1:] == tuple(conversation)
    assert (request.params.temperature, request.params.max_new_tokens) == (0.0, 9)


def test_build_request_keeps_a_conversation_own_system_prompt_and_applies_overrides() -> None:
    spec = ModelSpec(name="a", system_prompt="Be brief.")
    conversation = (ChatMessage("system", "Be verbose."), ChatMessage("user", "Hi"))
    request = spec.build_request(conversation, max_new_tokens=7, min_new_tokens=3, seed=None)
    assert request.messages == conversation
    assert (request.params.max_new_tokens, request.params.min_new_tokens, request.params.seed) == (7, 3, None)


def test_min_new_tokens_can_be_configured(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  - name: a\n    generation: {min_new_tokens: 4}\n")
    assert load_model_specs(path)[0].build_request([ChatMessage("user", "x")]).params.min_new_tokens == 4
