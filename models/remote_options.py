"""Settings of a contender served over the OpenAI Chat Completions protocol (OpenAI, TGI, vLLM, SGLang).

Kept apart from the backend so that validating the registry does not import the `openai` package. These
settings are stored in the database with the spec: they hold the NAME of the environment variable with the
API key, never the key, and `extra_headers` must not carry secrets either.
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What vLLM and TGI expect in the Authorization header when they were started without --api-key.
NO_KEY = "EMPTY"


class OpenAIOptions(BaseModel):
    """`options:` of a registry entry with `backend: openai`.

    `base_url` includes the API prefix, e.g. http://gpu-box:8000/v1. Timeouts: `connect_timeout_s` to open
    the connection; `read_timeout_s` for the first token and for any silence between two chunks (a stalled
    server); `total_timeout_s` for the whole answer, waiting for a free slot and retries included.
    """

    # hide_input_in_errors: a key pasted by mistake into api_key_env must not be echoed into logs.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    base_url: str = Field(pattern=r"^https?://[^\s/]+", max_length=2048)
    model: str = Field(min_length=1, max_length=512, description="the served model name the server expects")
    api_key_env: str | None = Field(None, description="name of the environment variable holding the API key")
    no_api_key: bool = Field(False, description="the server needs no key (local vLLM/TGI): send 'EMPTY'")
    connect_timeout_s: float = Field(5.0, gt=0, le=300)
    read_timeout_s: float = Field(60.0, gt=0, le=3600)
    total_timeout_s: float = Field(300.0, gt=0, le=7200)
    max_concurrent: int = Field(8, ge=1, le=1024)
    max_retries: int = Field(2, ge=0, le=10)
    backoff_base_s: float = Field(0.5, ge=0, le=60)
    backoff_max_s: float = Field(8.0, ge=0, le=600)
    extra_headers: dict[str, str] = Field(default_factory=dict)
    # OpenAI, vLLM and SGLang stream a usage chunk when asked; a server refusing `stream_options` needs False.
    stream_usage: bool = True
    # Newer OpenAI models only accept max_completion_tokens; TGI and older servers only max_tokens.
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    # top_k, repetition_penalty and min_tokens are not in the protocol; vLLM and SGLang accept them, OpenAI
    # refuses them, so they are only sent when asked for.
    sampling_extras: bool = False

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        # One endpoint written with and without a trailing slash must share one client.
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.fullmatch(value):
            raise ValueError("must be the NAME of an environment variable (letters, digits, _), not a key")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        if (self.api_key_env is None) == (not self.no_api_key):
            raise ValueError("set exactly one of api_key_env (name of the env var with the key) and no_api_key")
        if self.read_timeout_s > self.total_timeout_s:
            raise ValueError("read_timeout_s cannot be longer than total_timeout_s")
        return self


def parse_openai_options(raw: dict[str, object]) -> OpenAIOptions:
    """Validate `options`, turning pydantic's error into one ValueError without the input values."""
    try:
        return OpenAIOptions.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"invalid options for backend 'openai': {problems}") from None
