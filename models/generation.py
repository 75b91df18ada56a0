"""Streaming a battle: two answers at once, merged into one stream of (side, chunk)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator

from models.types import BackendError, BatchingBackend, ChatBackend, GenerationRequest, StreamChunk

log = logging.getLogger(__name__)

SIDE_A, SIDE_B = 0, 1
# How long closing a pair waits for its threads; a thread stuck past this (a backend blocked inside a call)
# still stops at its next chunk, since the stop event is checked between chunks.
JOIN_TIMEOUT_S = 30.0


def stream_pair(
    backend_a: ChatBackend, request_a: GenerationRequest, backend_b: ChatBackend, request_b: GenerationRequest
) -> Iterator[tuple[int, StreamChunk]]:
    """Yield (0, chunk) for side A and (1, chunk) for side B as they are produced.

    Both sides on one batching engine run as one batch (one forward pass per step); otherwise each side runs
    in its own thread. Either way each side ends with exactly one final chunk, an error chunk if it failed.
    """
    if backend_a is backend_b and isinstance(backend_a, BatchingBackend):
        return _batched(backend_a, [request_a, request_b])
    return _threaded([(backend_a, request_a), (backend_b, request_b)])


def _batched(backend: BatchingBackend, requests: list[GenerationRequest]) -> Iterator[tuple[int, StreamChunk]]:
    finished: set[int] = set()
    stream: Iterator[tuple[int, StreamChunk]] | None = None
    try:
        stream = backend.stream_batch(requests)
        for index, chunk in stream:
            if index in finished:
                continue
            if chunk.finish_reason is not None:
                finished.add(index)
            yield index, chunk
    except Exception as exc:
        log.exception("batched generation failed")
        error = _describe(exc)
        for index in range(len(requests)):
            if index not in finished:
                finished.add(index)
                yield index, StreamChunk(finish_reason="error", error=error)
    finally:
        _close(stream)  # ends the engine's generation at once when our consumer stops early
    for index in range(len(requests)):
        if index not in finished:
            yield index, _unfinished_chunk()


def _threaded(sides: list[tuple[ChatBackend, GenerationRequest]]) -> Iterator[tuple[int, StreamChunk]]:
    chunks: queue.Queue[tuple[int, StreamChunk]] = queue.Queue()  # unbounded: producers never block on put
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_produce, args=(index, backend, request, chunks, stop), name=f"stream-pair-{index}", daemon=True
        )
        for index, (backend, request) in enumerate(sides)
    ]
    for thread in threads:
        thread.start()
    remaining = len(sides)
    try:
        while remaining:
            index, chunk = chunks.get()
            if chunk.finish_reason is not None:
                remaining -= 1
            yield index, chunk
    finally:
        stop.set()
        for thread in threads:
            thread.join(JOIN_TIMEOUT_S)
            if thread.is_alive():
                log.warning("%s still running %.0f s after the pair was closed", thread.name, JOIN_TIMEOUT_S)


def _produce(
    index: int,
    backend: ChatBackend,
    request: GenerationRequest,
    out: queue.Queue[tuple[int, StreamChunk]],
    stop: threading.Event,
) -> None:
    """Run one side, forwarding chunks until its final one (always sent, even on failure) or until stopped."""
    stream = None
    final: StreamChunk | None = None
    try:
        stream = backend.stream(request)
        for chunk in stream:
            if stop.is_set():
                return
            if chunk.finish_reason is not None:
                final = chunk
                break
            out.put((index, chunk))
        else:
            final = _unfinished_chunk()
    except Exception as exc:
        log.exception("side %d of a pair failed", index)
        final = StreamChunk(finish_reason="error", error=_describe(exc))
    finally:
        _close(stream)  # stops the backend's generation now and frees its slot
        if final is not None:
            out.put((index, final))


def _close(stream: object) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


def _describe(exc: Exception) -> str:
    if isinstance(exc, BackendError):
        return str(exc)
    return f"The model failed while answering ({type(exc).__name__}: {exc})."


def _unfinished_chunk() -> StreamChunk:
    return StreamChunk(finish_reason="error", error="The model stopped without finishing its answer.")
