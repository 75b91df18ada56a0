"""The model registry: contenders described as data (models.yaml), validated into `ModelSpec`s.

The arena stores these specs in its `models` table so that checkpoints can be added at run time; this module
only knows the file format and how to turn a spec plus a conversation into a `GenerationRequest`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.remote_options import OpenAIOptions, parse_openai_options
from models.types import ChatMessage, GenerationParams, GenerationRequest

DEFAULT_MODELS_FILE = Path(__file__).resolve().parent.parent / "models.yaml"
EMBEDDED_WEIGHTS = "embedded:smollm2-135m-instruct"


class RegistryError(ValueError):
    """The registry file or an entry in it is invalid; the message names the file and the entry."""


class DecodingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_new_tokens: int = Field(256, ge=1, le=8192)
    temperature: float = Field(0.7, ge=0.0, le=5.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0)
    repetition_penalty: float = Field(1.0, gt=0.0, le=5.0)
    min_new_tokens: int = Field(0, ge=0, le=8192)

    def to_params(self, **overrides: Any) -> GenerationParams:
        values = self.model_dump()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return GenerationParams(**values)


class ModelSpec(BaseModel):
    """One contender: which weights, through which backend, with which decoding and system prompt.

    backend "local" runs `weights` in process. backend "openai" calls a server speaking the OpenAI Chat
    Completions protocol, configured by `options` (see models.remote_options.OpenAIOptions); there `weights`
    is only a label for people and the database, "openai:<served model>@<base_url>" unless given.
    """

    # hide_input_in_errors: an entry's options may hold a key pasted by mistake; errors must not echo it.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    backend: Literal["local", "openai"] = "local"
    weights: str = EMBEDDED_WEIGHTS
    quantization: Literal["none", "int8-dynamic"] = "none"
    generation: DecodingConfig = Field(default_factory=DecodingConfig)
    system_prompt: str | None = None
    description: str = ""
    anonymous: bool = True
    enabled: bool = True
    # Retired from anonymous battles (never sampled), still on the leaderboard and offered by name in direct chat
    # and side-by-side. An operator sets it in the Admin tab; `true` in the registry file sets it at start-up.
    deprecated: bool = False
    provenance: str = ""
    # The registered contender this one was trained from (set when a training run registers a checkpoint): new
    # contenders meet it during burn-in, and "did training help?" compares the two.
    base: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _label_remote_weights(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("backend") == "openai" and "weights" not in data:
            options = data.get("options")
            if isinstance(options, dict) and isinstance(options.get("model"), str):
                base_url = str(options.get("base_url", "")).rstrip("/")
                data = {**data, "weights": f"openai:{options['model']}@{base_url}"}
        return data

    @model_validator(mode="after")
    def _check_backend_options(self) -> ModelSpec:
        if self.backend == "openai":
            parse_openai_options(self.options)
            if self.quantization != "none":
                raise ValueError("quantization applies to local weights only; a remote model must use 'none'")
        return self

    @property
    def openai_options(self) -> OpenAIOptions:
        """The validated remote settings of a backend "openai" contender."""
        if self.backend != "openai":
            raise ValueError(f"model {self.name!r} uses backend {self.backend!r}, not 'openai'")
        return parse_openai_options(self.options)

    @property
    def engine_key(self) -> tuple[str, str, str]:
        """Contenders with the same key share one loaded model (and can be batched together).

        Remote contenders share one client (and its concurrency limit) per endpoint and served model.
        """
        if self.backend == "openai":
            options = self.openai_options
            return (self.backend, options.base_url, options.model)
        return (self.backend, self.weights, self.quantization)

    def build_request(
        self, conversation: list[ChatMessage] | tuple[ChatMessage, ...], **param_overrides: Any
    ) -> GenerationRequest:
        """The request this contender answers: its system prompt first, unless the conversation has one."""
        messages = tuple(conversation)
        has_system = bool(messages) and messages[0].role == "system"
        if self.system_prompt and not has_system:
            messages = (ChatMessage("system", self.system_prompt), *messages)
        return GenerationRequest(messages=messages, params=self.generation.to_params(**param_overrides))


class RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    models: list[ModelSpec]


def load_model_specs(path: str | os.PathLike[str] = DEFAULT_MODELS_FILE) -> list[ModelSpec]:
    """Read and validate a registry file. Raises RegistryError with the file name and the faulty entry."""
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RegistryError(f"model registry file not found: {file}") from exc
    except yaml.YAMLError as exc:
        raise RegistryError(f"model registry file {file} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or "models" not in raw:
        raise RegistryError(f"model registry file {file} must hold a mapping with a 'models' list")
    try:
        specs = RegistryFile.model_validate(raw).models
    except ValidationError as exc:
        raise RegistryError(f"invalid model registry file {file}:\n{exc}") from exc
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RegistryError(f"model registry file {file} names these models twice: {', '.join(duplicates)}")
    if not specs:
        raise RegistryError(f"model registry file {file} lists no models")
    _check_shared_clients(file, specs)
    return specs


def _check_shared_clients(file: Path, specs: list[ModelSpec]) -> None:
    """Remote contenders on one endpoint and served model share one client, so they must agree on its settings."""
    first: dict[tuple[str, str, str], ModelSpec] = {}
    for spec in specs:
        if spec.backend != "openai":
            continue
        other = first.setdefault(spec.engine_key, spec)
        if other.openai_options != spec.openai_options:
            raise RegistryError(
                f"model registry file {file}: {other.name} and {spec.name} use the same endpoint and served model "
                "(so they share one client) but with different options; make their options identical"
            )
