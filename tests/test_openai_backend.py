"""The OpenAI-protocol backend against a real HTTP server: streaming, retries, timeouts, broken streams, limits.

Timeouts are a fraction of a second so that the failure scenarios stay fast.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from models.backends.openai_compat import OpenAIChatBackend, approximate_tokens
from models.generation import stream_pair
from models.pool import BackendPool
from models.registry import ModelSpec
from models.remote_options import OpenAIOptions
from models.types import ChatMessage, GenerationParams, GenerationRequest, StreamChunk
from tests.openai_server import Cut, Finish, OpenAIServer, Raw, Sleep, Status, Text, streamed

KEY_ENV = "ARENA_TEST_REMOTE_KEY"
KEY = "sk-test-0123456789-do-not-log"
SERVED = "org/served-model-7b"


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


def options(server: OpenAIServer, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "base_url": server.base_url,
        "model": SERVED,
        "api_key_env": KEY_ENV,
        "connect_timeout_s": 0.5,
        "read_timeout_s": 0.5,
        "total_timeout_s": 5.0,
        "max_retries": 2,
        "backoff_base_s": 0.02,
        "backoff_max_s": 0.05,
    }
    values.update(overrides)
    return values


def backend(server: OpenAIServer, **overrides: Any) -> OpenAIChatBackend:
    return OpenAIChatBackend(OpenAIOptions.model_validate(options(server, **overrides)))


def ask(text: str = "Say hello", **params: Any) -> GenerationRequest:
    messages = (ChatMessage("system", "Be brief."), ChatMessage("user", text))
    return GenerationRequest(messages, GenerationParams(**params))


def run(chat: OpenAIChatBackend, request: GenerationRequest | None = None) -> tuple[str, StreamChunk]:
    """The streamed text and the final chunk; checks that exactly the last chunk is final."""
    chunks = list(chat.stream(request or ask()))
    assert chunks and chunks[-1].finish_reason is not None
    assert all(c.finish_reason is None for c in chunks[:-1])
    return "".join(c.text for c in chunks), chunks[-1]


# --- a normal answer -----------------------------------------------------------------------------------


def test_a_streamed_answer_carries_the_servers_usage_and_the_request_is_complete(
    openai_server: OpenAIServer,
) -> None:
    openai_server.add(streamed("Hel", "lo", "!", usage=(17, 3)))
    text, final = run(backend(openai_server), ask("Say hello", temperature=0.0, max_new_tokens=32, seed=7))
    assert text == "Hello!"
    assert (final.finish_reason, final.prompt_tokens, final.completion_tokens, final.error) == ("stop", 17, 3, None)
    [sent] = openai_server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    body = sent.body
    assert body["model"] == SERVED and body["stream"] is True
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (0.0, 1.0, 32, 7)
    assert body["stream_options"] == {"include_usage": True}
    assert "top_k" not in body and "repetition_penalty" not in body  # OpenAI itself refuses them


def test_without_server_usage_the_counts_are_approximated(openai_server: OpenAIServer) -> None:
    openai_server.add(streamed("A fairly long answer", " in two pieces.", reason="length", usage=None))
    chat = backend(openai_server, stream_usage=False)
    request = ask()
    text, final = run(chat, request)
    assert final.finish_reason == "length"
    assert final.prompt_tokens == chat.count_tokens(request.messages) > 0
    assert final.completion_tokens == approximate_tokens(text) == 9
    assert "stream_options" not in openai_server.requests[0].body


def test_optional_fields_follow_the_options(openai_server: OpenAIServer) -> None:
    chat = backend(
        openai_server, sampling_extras=True, max_tokens_field="max_completion_tokens", extra_headers={"X-Team": "arena"}
    )
    run(chat, ask(top_k=40, repetition_penalty=1.1, min_new_tokens=2, max_new_tokens=64))
    sent = openai_server.requests[0]
    assert (sent.body["top_k"], sent.body["repetition_penalty"], sent.body["min_tokens"]) == (40, 1.1, 2)
    assert sent.body["max_completion_tokens"] == 64 and "max_tokens" not in sent.body
    assert sent.headers["x-team"] == "arena"


def test_count_tokens_is_about_four_characters_a_token_plus_the_template() -> None:
    chat = OpenAIChatBackend(OpenAIOptions(base_url="http://127.0.0.1:9/v1", model="m", no_api_key=True))
    one = chat.count_tokens((ChatMessage("user", "x" * 40),))
    two = chat.count_tokens((ChatMessage("system", "x" * 40), ChatMessage("user", "x" * 40)))
    assert one == 10 + 4 + 2 and two == one + 14


def test_a_non_streamed_completion_for_callers_without_a_viewer(openai_server: OpenAIServer) -> None:
    openai_server.add(streamed("The answer", " is B.", usage=(30, 4)))
    final = backend(openai_server).complete(ask(temperature=0.0))
    assert (final.text, final.finish_reason, final.prompt_tokens, final.completion_tokens) == (
        "The answer is B.",
        "stop",
        30,
        4,
    )
    body = openai_server.requests[0].body
    assert body["stream"] is False and body["temperature"] == 0.0 and "stream_options" not in body


def test_a_non_streamed_completion_retries_and_reports_errors(openai_server: OpenAIServer) -> None:
    openai_server.add([Status(503)], streamed("ok"), [Raw("{not json")])
    chat = backend(openai_server)
    assert chat.complete(ask()).text == "ok"
    broken = chat.complete(ask())
    assert broken.finish_reason == "error" and SERVED in (broken.error or "")


# --- keys ----------------------------------------------------------------------------------------------


def test_a_missing_key_is_a_clear_error_at_first_use(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    _, final = run(backend(openai_server))
    assert final.finish_reason == "error"
    assert KEY_ENV in (final.error or "") and "not set" in (final.error or "")
    assert openai_server.requests == []


def test_a_server_without_keys_gets_the_empty_key(openai_server: OpenAIServer) -> None:
    chat = backend(openai_server, api_key_env=None, no_api_key=True)
    assert run(chat)[1].finish_reason == "stop"
    assert openai_server.requests[0].headers["authorization"] == "Bearer EMPTY"


def test_the_key_never_reaches_logs_or_errors(openai_server: OpenAIServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the openai and httpx loggers included
    openai_server.add(
        streamed("fine"),
        [Status(401, message="bad key")],
        [Status(500)],
        [Status(500)],
        [Status(500)],
        [Text("x"), Cut()],
    )
    chat = backend(openai_server)
    finals = [run(chat)[1] for _ in range(4)]
    assert [f.finish_reason for f in finals] == ["stop", "error", "error", "error"]
    assert caplog.records, "the failures must be logged"
    assert KEY not in caplog.text
    assert all(KEY not in (f.error or "") for f in finals)


# --- retries before the first token --------------------------------------------------------------------


def test_429_waits_as_long_as_retry_after_says_then_succeeds(openai_server: OpenAIServer) -> None:
    openai_server.add([Status(429, headers={"Retry-After": "1"})], streamed("after the wait"))
    started = time.monotonic()
    text, final = run(backend(openai_server))
    assert (text, final.finish_reason) == ("after the wait", "stop")
    assert 0.9 <= time.monotonic() - started < 3
    assert len(openai_server.requests) == 2


def test_retry_after_ms_wins_over_retry_after(openai_server: OpenAIServer) -> None:
    openai_server.add([Status(503, headers={"Retry-After": "60", "retry-after-ms": "100"})], streamed("ok"))
    started = time.monotonic()
    assert run(backend(openai_server))[1].finish_reason == "stop"
    assert 0.09 <= time.monotonic() - started < 1


def test_a_retry_after_past_the_time_limit_fails_at_once(openai_server: OpenAIServer) -> None:
    openai_server.add([Status(429, headers={"Retry-After": "60"})])
    started = time.monotonic()
    _, final = run(backend(openai_server))
    assert final.finish_reason == "error" and "429" in (final.error or "")
    assert time.monotonic() - started < 1 and len(openai_server.requests) == 1


def test_5xx_is_retried_with_backoff_then_reported(openai_server: OpenAIServer) -> None:
    openai_server.add(*[[Status(500, message="engine overloaded")]] * 3)
    _, final = run(backend(openai_server, max_retries=2))
    assert final.finish_reason == "error"
    assert SERVED in (final.error or "") and "HTTP 500" in (final.error or "")
    assert "engine overloaded" in (final.error or "")
    assert len(openai_server.requests) == 3


def test_a_client_error_is_not_retried(openai_server: OpenAIServer) -> None:
    openai_server.add([Status(400, message="context too long")])
    _, final = run(backend(openai_server))
    assert final.finish_reason == "error" and "HTTP 400" in (final.error or "")
    assert len(openai_server.requests) == 1


def test_a_long_server_message_is_shortened_for_people(openai_server: OpenAIServer) -> None:
    openai_server.add([Status(400, message="Traceback " * 500)])
    _, final = run(backend(openai_server))
    assert "HTTP 400 (Traceback" in (final.error or "") and len(final.error or "") < 300


# --- failures: each ends the stream with one clear error chunk -----------------------------------------


def test_no_first_token_within_the_read_timeout(openai_server: OpenAIServer) -> None:
    openai_server.add([Sleep(3), *streamed("too late")])
    started = time.monotonic()
    text, final = run(backend(openai_server))
    assert text == "" and final.finish_reason == "error"
    assert SERVED in (final.error or "") and "0.5 s" in (final.error or "")
    assert time.monotonic() - started < 2


def test_a_stall_mid_answer_keeps_the_text_and_is_not_retried(openai_server: OpenAIServer) -> None:
    openai_server.add([Text("Half an "), Sleep(3), *streamed("answer")])
    text, final = run(backend(openai_server))
    assert text == "Half an " and final.finish_reason == "error" and "stalled" in (final.error or "")
    assert len(openai_server.requests) == 1


def test_a_malformed_chunk(openai_server: OpenAIServer) -> None:
    openai_server.add([Text("Start"), Raw("data: {this is not json\n\n"), *streamed("never")])
    text, final = run(backend(openai_server))
    assert text == "Start" and final.finish_reason == "error" and "malformed" in (final.error or "")


def test_a_stream_cut_mid_answer_is_not_retried(openai_server: OpenAIServer) -> None:
    openai_server.add([Text("Cut "), Text("here"), Cut()])
    text, final = run(backend(openai_server, max_retries=3))
    assert text == "Cut here" and final.finish_reason == "error" and "cut" in (final.error or "")
    assert len(openai_server.requests) == 1


def test_a_stream_ending_without_a_finish_reason(openai_server: OpenAIServer) -> None:
    openai_server.add([Text("no end")])  # then [DONE], but no chunk ever said the answer was finished
    text, final = run(backend(openai_server))
    assert text == "no end" and final.finish_reason == "error" and SERVED in (final.error or "")


def test_losing_only_the_usage_chunk_keeps_the_answer(openai_server: OpenAIServer) -> None:
    openai_server.add([Text("complete"), Finish("stop"), Cut()])
    text, final = run(backend(openai_server))
    assert (text, final.finish_reason) == ("complete", "stop") and final.completion_tokens > 0


def test_an_answer_slower_than_the_total_limit_is_stopped(openai_server: OpenAIServer) -> None:
    openai_server.add([Text("a"), Sleep(0.3), Text("b"), Sleep(0.3), Text("c"), Sleep(0.3), *streamed("d")])
    text, final = run(backend(openai_server, total_timeout_s=0.5))
    assert final.finish_reason == "error" and "longer than 0.5 s" in (final.error or "")
    assert text.startswith("a") and not text.endswith("d")


def test_an_unreachable_server(openai_server: OpenAIServer) -> None:
    chat = OpenAIChatBackend(OpenAIOptions.model_validate(options(openai_server, base_url="http://127.0.0.1:9/v1")))
    _, final = run(chat)
    assert final.finish_reason == "error" and "could not be reached" in (final.error or "")


# --- sharing and limits --------------------------------------------------------------------------------


def test_concurrent_requests_never_exceed_max_concurrent(openai_server: OpenAIServer) -> None:
    openai_server.add(*[[Text("slow"), Sleep(0.2), *streamed(" answer")] for _ in range(5)])
    chat = backend(openai_server, max_concurrent=2)
    finals: list[StreamChunk] = []
    lock = threading.Lock()

    def one() -> None:
        final = run(chat)[1]
        with lock:
            finals.append(final)

    threads = [threading.Thread(target=one) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [f.finish_reason for f in finals] == ["stop"] * 5
    assert openai_server.max_in_flight == 2


def test_contenders_on_one_endpoint_share_one_client(openai_server: OpenAIServer) -> None:
    pool = BackendPool()
    first = ModelSpec(name="remote-a", backend="openai", options=options(openai_server))
    second = ModelSpec(
        name="remote-b", backend="openai", options=options(openai_server, base_url=openai_server.base_url + "/")
    )
    other = ModelSpec(name="remote-c", backend="openai", options=options(openai_server, model="another-model"))
    assert pool.get(first) is pool.get(second)
    assert pool.get(other) is not pool.get(first)
    assert isinstance(pool.get(first), OpenAIChatBackend)


def test_a_battle_between_two_remote_models(openai_server: OpenAIServer) -> None:
    openai_server.add(streamed("Answer", " from A"), model="model-a")
    openai_server.add(streamed("Answer", " from B"), model="model-b")
    pool = BackendPool()
    spec_a = ModelSpec(name="remote-a", backend="openai", options=options(openai_server, model="model-a"))
    spec_b = ModelSpec(name="remote-b", backend="openai", options=options(openai_server, model="model-b"))
    texts = ["", ""]
    finals: list[StreamChunk | None] = [None, None]
    for side, chunk in stream_pair(
        pool.get(spec_a),
        spec_a.build_request([ChatMessage("user", "hi")]),
        pool.get(spec_b),
        spec_b.build_request([ChatMessage("user", "hi")]),
    ):
        texts[side] += chunk.text
        if chunk.finish_reason is not None:
            finals[side] = chunk
    assert texts == ["Answer from A", "Answer from B"]
    assert [f.finish_reason if f else None for f in finals] == ["stop", "stop"]
    assert sorted(r.body["model"] for r in openai_server.requests) == ["model-a", "model-b"]
