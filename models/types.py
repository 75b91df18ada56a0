"""Plain data types shared by every backend: what to generate, and what comes back while it streams."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "error"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings. temperature 0 means greedy decoding."""

    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    seed: int | None = None
    min_new_tokens: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {self.repetition_penalty}")


@dataclass(frozen=True)
class GenerationRequest:
    """One answer to produce: the whole conversation so far (system prompt included) and decoding settings."""

    messages: tuple[ChatMessage, ...]
    params: GenerationParams = field(default_factory=GenerationParams)


@dataclass(frozen=True)
class StreamChunk:
    """A piece of one streamed answer.

    `text` is the new text since the previous chunk. The last chunk of a stream has `finish_reason` set,
    and token counts filled in; a failed stream ends with finish_reason "error" and a human-readable `error`.
    """

    text: str = ""
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


class BackendError(RuntimeError):
    """A backend could not produce an answer; the message is fit to show to a user."""


@runtime_checkable
class ChatBackend(Protocol):
    """Anything that streams chat answers."""

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        """Stream one answer. Ends with a chunk whose finish_reason is set (errors included)."""
        ...

    def count_tokens(self, messages: tuple[ChatMessage, ...]) -> int:
        """Prompt tokens the model would see for these messages (chat template included)."""
        ...


@runtime_checkable
class BatchingBackend(ChatBackend, Protocol):
    """A backend that can run several requests in one forward pass (shared weights)."""

    def stream_batch(self, requests: list[GenerationRequest]) -> Iterator[tuple[int, StreamChunk]]:
        """Stream several answers at once; yields (request index, chunk). Each index ends with a final chunk."""
        ...
