"""Registry models answering prompts whole (static benchmarks, generated training data): a local engine answers a
batch in one forward pass per step, a remote endpoint answers up to its concurrency at once. Each answer comes back
whole, with how it ended; a failure is an answer too, never an exception, so one bad item cannot lose a batch."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from models.registry import ModelSpec
from models.types import BatchingBackend, ChatBackend, ChatMessage, GenerationRequest, StreamChunk

Message = dict[str, str]


@dataclass(frozen=True)
class Answer:
    text: str
    finish_reason: str  # stop | length | error
    error: str | None = None
    completion_tokens: int = 0


def request_for(spec: ModelSpec, conversation: Sequence[Message], *, max_new_tokens: int | None, seed: int
                ) -> GenerationRequest:  # fmt: skip
    """What the model is asked: its own system prompt and decoding, as direct chat serves it (a benchmark measures
    the contender people meet), with a fixed seed so a rerun asks the same, and the benchmark's token cap."""
    messages = [ChatMessage("system", spec.system_prompt)] if spec.system_prompt else []
    messages += [ChatMessage(m["role"], m["content"]) for m in conversation]  # type: ignore[arg-type]
    cap = spec.generation.max_new_tokens if max_new_tokens is None else max_new_tokens
    return GenerationRequest(tuple(messages), spec.generation.to_params(max_new_tokens=cap, seed=seed))


def answer_all(
    backend: ChatBackend, requests: Sequence[GenerationRequest], *, concurrency: int = 4, batch_size: int | None = None
) -> list[Answer]:
    """Every request's whole answer, in order. A failure is an Answer with finish_reason "error", never raised:
    one bad item must not lose the batch. A local engine answers `batch_size` requests per pass (None: all)."""
    if not requests:
        return []
    if isinstance(backend, BatchingBackend):
        step = batch_size or len(requests)
        answers: list[Answer] = []
        for start in range(0, len(requests), step):
            answers += _batched(backend, list(requests[start : start + step]))
        return answers
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(requests)))) as pool:
        return list(pool.map(lambda request: _one(backend, request), requests))


def _batched(backend: BatchingBackend, requests: list[GenerationRequest]) -> list[Answer]:
    texts = [""] * len(requests)
    finals: list[StreamChunk | None] = [None] * len(requests)
    try:
        for index, chunk in backend.stream_batch(requests):
            texts[index] += chunk.text
            if chunk.finish_reason is not None:
                finals[index] = chunk
    except Exception as exc:  # a backend that raises instead of ending its streams with an error chunk
        return [_answer(text, final, exc) for text, final in zip(texts, finals, strict=True)]
    return [_answer(text, final) for text, final in zip(texts, finals, strict=True)]


def _one(backend: ChatBackend, request: GenerationRequest) -> Answer:
    text, final = "", None
    try:
        for chunk in backend.stream(request):
            text += chunk.text
            if chunk.finish_reason is not None:
                final = chunk
    except Exception as exc:
        return _answer(text, final, exc)
    return _answer(text, final)


def _answer(text: str, final: StreamChunk | None, exc: Exception | None = None) -> Answer:
    if final is not None and final.finish_reason != "error":
        return Answer(text, final.finish_reason, None, final.completion_tokens)
    if final is not None:
        return Answer(text, "error", final.error or "the model failed")
    reason = f"{type(exc).__name__}: {exc}" if exc is not None else "the stream ended without finishing"
    return Answer(text, "error", reason)
