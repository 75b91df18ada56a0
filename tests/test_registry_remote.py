"""Registry entries for models served over the OpenAI protocol: validation, labels, shared clients, the example."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from models.registry import DEFAULT_MODELS_FILE, ModelSpec, RegistryError, RegistryFile, load_model_specs

ENTRY = """\
  - name: {name}
    backend: openai
    options: {{base_url: "http://gpu:8000/v1{slash}", model: {model}, api_key_env: VLLM_KEY{extra}}}
"""


def entry(name: str, model: str = "served/m", slash: str = "", extra: str = "") -> str:
    return ENTRY.format(name=name, model=model, slash=slash, extra=extra)


def write(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text("models:\n" + "".join(entries), encoding="utf-8")
    return path


def test_a_remote_entry_is_labelled_and_keyed_by_endpoint_and_served_model(tmp_path: Path) -> None:
    a, b, c = load_model_specs(write(tmp_path, entry("a"), entry("b", slash="/"), entry("c", model="other")))
    assert a.weights == "openai:served/m@http://gpu:8000/v1"
    assert a.engine_key == b.engine_key == ("openai", "http://gpu:8000/v1", "served/m")
    assert c.engine_key != a.engine_key
    assert a.openai_options.api_key_env == "VLLM_KEY"
    # What the database stores validates back to the same spec.
    assert ModelSpec.model_validate(a.model_dump(mode="json")) == a


def test_local_entries_are_unchanged(tmp_path: Path) -> None:
    [local] = load_model_specs(write(tmp_path, "  - name: l\n"))
    assert local.engine_key == ("local", "embedded:smollm2-135m-instruct", "none")
    with pytest.raises(ValueError, match="not 'openai'"):
        _ = local.openai_options


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (", base_url_typo: x", "base_url_typo"),
        (", no_api_key: true", "exactly one of api_key_env"),
        (", read_timeout_s: 10, total_timeout_s: 5", "read_timeout_s cannot be longer"),
        (", max_concurrent: 0", "max_concurrent"),
    ],
)
def test_bad_options_are_named(tmp_path: Path, extra: str, problem: str) -> None:
    with pytest.raises(RegistryError, match=problem):
        load_model_specs(write(tmp_path, entry("a", extra=extra)))


def test_a_key_pasted_instead_of_a_variable_name_is_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "models:\n  - name: a\n    backend: openai\n"
        "    options: {base_url: 'http://gpu/v1', model: m, api_key_env: sk-live-SECRET42}\n",
        encoding="utf-8",
    )
    with pytest.raises(RegistryError) as caught:
        load_model_specs(path)
    assert "NAME of an environment variable" in str(caught.value)
    assert "SECRET42" not in str(caught.value)


def test_remote_models_take_no_quantization(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="quantization"):
        load_model_specs(write(tmp_path, entry("a") + "    quantization: int8-dynamic\n"))


def test_contenders_sharing_a_client_must_agree_on_its_options(tmp_path: Path) -> None:
    path = write(tmp_path, entry("a"), entry("b", extra=", max_concurrent: 2"))
    with pytest.raises(RegistryError, match="a and b use the same endpoint"):
        load_model_specs(path)


def test_the_commented_example_in_models_yaml_is_valid() -> None:
    text = DEFAULT_MODELS_FILE.read_text(encoding="utf-8")
    example = text[text.index("#  - name:") :]
    uncommented = "\n".join(line[1:] for line in example.splitlines())
    [spec] = RegistryFile.model_validate(yaml.safe_load("models:\n" + uncommented)).models
    assert spec.backend == "openai" and spec.engine_key[0] == "openai"
