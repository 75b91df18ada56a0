"""The in-process backend on the real embedded model: streaming, batching, battles, failures, threads."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from conftest import ConvertedModel

from models.backends.detokenizer import IncrementalDetokenizer
from models.backends.local import LocalEngine
from models.backends.sampling import BatchSampler, RowSampler
from models.generation import stream_pair
from models.pool import BackendPool
from models.registry import ModelSpec
from models.types import (
    BatchingBackend,
    ChatBackend,
    ChatMessage,
    GenerationParams,
    GenerationRequest,
    StreamChunk,
)

CAPITAL = "What is the capital of France?"


def ask(prompt: str, **params: Any) -> GenerationRequest:
    settings = {"max_new_tokens": 12, "temperature": 0.0, **params}
    return GenerationRequest((ChatMessage("user", prompt),), GenerationParams(**settings))


def collect(chunks: Iterator[StreamChunk]) -> tuple[str, StreamChunk, int]:
    """Joined text, final chunk, number of chunks; checks there is exactly one final chunk, at the end."""
    received = list(chunks)
    finals = [c for c in received if c.finish_reason is not None]
    assert finals == [received[-1]], "exactly one final chunk, and it comes last"
    return "".join(c.text for c in received), received[-1], len(received)


def collect_indexed(chunks: Iterator[tuple[int, StreamChunk]], n: int) -> list[tuple[str, StreamChunk]]:
    per_index: list[list[StreamChunk]] = [[] for _ in range(n)]
    for index, chunk in chunks:
        assert not per_index[index] or per_index[index][-1].finish_reason is None, "nothing after a final chunk"
        per_index[index].append(chunk)
    results = []
    for received in per_index:
        assert received and received[-1].finish_reason is not None, "every index ends with a final chunk"
        results.append(("".join(c.text for c in received), received[-1]))
    return results


@dataclass
class ForwardSpy:
    """Counts the model's forward passes and records their batch sizes (a real hook, no stand-in model)."""

    batch_sizes: list[int] = field(default_factory=list)

    def __call__(self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.batch_sizes.append(int(kwargs["input_ids"].shape[0]))


@contextmanager
def spy_on(engine: LocalEngine) -> Iterator[ForwardSpy]:
    spy = ForwardSpy()
    handle = engine.model.register_forward_pre_hook(spy, with_kwargs=True)
    try:
        yield spy
    finally:
        handle.remove()


def reference_generate(engine: LocalEngine, prompt: str, max_new_tokens: int) -> tuple[str, int]:
    """transformers' own greedy generate on the same model and chat template: text and new-token count."""
    tokenizer = engine.tokenizer
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt"
    )
    with torch.inference_mode():
        output = engine.model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens)
    new = output[0, inputs["input_ids"].shape[1] :].tolist()
    if new and new[-1] == tokenizer.eos_token_id:
        new = new[:-1]
    return tokenizer.decode(new, skip_special_tokens=True), len(new)


# ---- one stream ------------------------------------------------------------------------------------


def test_engine_is_a_batching_chat_backend(engine: LocalEngine) -> None:
    assert isinstance(engine, ChatBackend) and isinstance(engine, BatchingBackend)


@pytest.mark.parametrize("prompt", [CAPITAL, "Réponds en français : où se trouve la tour Eiffel ? 🙂"])
def test_greedy_stream_equals_transformers_generate(engine: LocalEngine, prompt: str) -> None:
    text, final, n_chunks = collect(engine.stream(ask(prompt, max_new_tokens=16)))
    expected, new_tokens = reference_generate(engine, prompt, 16)
    assert text == expected
    assert n_chunks > 2, "text arrives token by token, not at once"
    assert final.completion_tokens == new_tokens
    assert final.finish_reason == ("length" if new_tokens == 16 else "stop")


def test_final_chunk_counts_tokens(engine: LocalEngine) -> None:
    request = ask(CAPITAL, max_new_tokens=24)
    text, final, _ = collect(engine.stream(request))
    assert text.strip().startswith("The capital of France is Paris")
    assert final.finish_reason == "stop" and final.error is None
    assert final.prompt_tokens == engine.count_tokens(request.messages) > 10
    assert 0 < final.completion_tokens < 24


def test_max_and_min_new_tokens_bound_the_answer(engine: LocalEngine) -> None:
    _, short, _ = collect(engine.stream(ask("Tell me a long story about dragons.", max_new_tokens=5)))
    assert (short.finish_reason, short.completion_tokens) == ("length", 5)
    _, forced, _ = collect(engine.stream(ask("Say yes.", max_new_tokens=14, min_new_tokens=14)))
    assert (forced.finish_reason, forced.completion_tokens) == ("length", 14)


def test_seeded_sampling_is_reproducible(engine: LocalEngine) -> None:
    request = ask("Invent a name for a cat.", temperature=1.0, top_p=0.95, top_k=40, seed=11)
    first, _, _ = collect(engine.stream(request))
    second, _, _ = collect(engine.stream(request))
    assert first == second and first


def test_control_tokens_typed_by_a_person_stay_text(engine: LocalEngine) -> None:
    plain = engine.count_tokens((ChatMessage("user", "hi there"),))
    injected = engine.count_tokens((ChatMessage("user", "hi <|im_end|> there"),))
    assert injected > plain + 1, "<|im_end|> typed in a message is encoded as several text tokens"


def test_int8_engine_generates_text(int8_engine: LocalEngine) -> None:
    quantized = [m for m in int8_engine.model.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    assert len(quantized) == 30 * 7 + 1, "every linear layer, lm_head included"
    text, final, _ = collect(int8_engine.stream(ask(CAPITAL, max_new_tokens=10)))
    assert "Paris" in text and final.finish_reason in ("stop", "length")


# ---- text assembly -----------------------------------------------------------------------------------


def test_detokenizer_keeps_multibyte_characters_and_spaces_whole(engine: LocalEngine) -> None:
    text = "Café naïve 🎉🇫🇷 — 日本語, über  two spaces"
    ids = engine.tokenizer.encode(text, add_special_tokens=False)
    alone = [engine.decode([i]) for i in ids]
    assert any("\ufffd" in piece for piece in alone), "the sample must split a character across tokens"
    detokenizer = IncrementalDetokenizer(engine)
    deltas = [detokenizer.push(i) for i in ids] + [detokenizer.flush()]
    assert all("\ufffd" not in d for d in deltas)
    assert "".join(deltas) == text


def test_streamed_emoji_and_accents_arrive_intact(engine: LocalEngine) -> None:
    prompt = "Write three emoji about the sea, then the word café."
    text, _, _ = collect(engine.stream(ask(prompt, max_new_tokens=20)))
    expected, _ = reference_generate(engine, prompt, 20)
    assert text == expected and "\ufffd" not in text


# ---- batches ---------------------------------------------------------------------------------------


def test_a_batch_gives_each_row_what_it_gives_alone(engine: LocalEngine) -> None:
    requests = [
        ask(CAPITAL, max_new_tokens=16, repetition_penalty=1.1),
        ask("Write a haiku about snow.", temperature=0.8, top_p=0.9, seed=3, max_new_tokens=20),
        ask("Count from one to five.", max_new_tokens=8, min_new_tokens=8),
    ]
    alone = [collect(engine.stream(r)) for r in requests]
    with spy_on(engine) as spy:
        together = collect_indexed(engine.stream_batch(requests), len(requests))
    for (text, final, _), (batch_text, batch_final) in zip(alone, together, strict=True):
        assert batch_text == text
        assert (batch_final.finish_reason, batch_final.completion_tokens, batch_final.prompt_tokens) == (
            final.finish_reason,
            final.completion_tokens,
            final.prompt_tokens,
        )
    assert spy.batch_sizes[0] == 3, "one prefill for the three rows"
    longest = max(final.completion_tokens for _, final, _ in alone)
    assert len(spy.batch_sizes) <= longest + 1, "one forward pass per step for the whole batch"
    assert spy.batch_sizes[-1] < 3, "finished rows leave the batch"


def test_prompt_too_long_is_an_error_chunk_for_that_row_only(engine: LocalEngine) -> None:
    too_long = ask("word " * 9000)
    results = collect_indexed(engine.stream_batch([too_long, ask(CAPITAL, max_new_tokens=6)]), 2)
    assert results[0][1].finish_reason == "error" and "too long" in (results[0][1].error or "")
    assert results[1][1].finish_reason in ("stop", "length") and results[1][0]


def test_a_failure_inside_generation_becomes_an_error_chunk(
    converted_model: ConvertedModel, engine: LocalEngine
) -> None:
    single_slot = LocalEngine(engine.model, engine.tokenizer, max_concurrent=1)

    def explode(module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        raise RuntimeError("simulated kernel failure")

    handle = engine.model.model.layers[3].register_forward_pre_hook(explode)
    try:
        _, final, _ = collect(single_slot.stream(ask(CAPITAL)))
    finally:
        handle.remove()
    assert final.finish_reason == "error"
    assert final.error and "simulated kernel failure" in final.error and "Traceback" not in final.error
    _, after, _ = collect(single_slot.stream(ask(CAPITAL, max_new_tokens=4)))
    assert after.finish_reason == "length", "the failed generation released its slot"


def test_closing_a_stream_early_stops_generating_and_frees_the_slot(engine: LocalEngine) -> None:
    single_slot = LocalEngine(engine.model, engine.tokenizer, max_concurrent=1)
    with spy_on(engine) as spy:
        stream = single_slot.stream(ask("Tell me about the ocean.", max_new_tokens=24, min_new_tokens=24))
        next(stream), next(stream)
        stream.close()
        calls_at_close = len(spy.batch_sizes)
        done = threading.Event()

        def second() -> None:
            collect(single_slot.stream(ask(CAPITAL, max_new_tokens=3)))
            done.set()

        worker = threading.Thread(target=second, daemon=True)
        worker.start()
        assert done.wait(120), "a closed stream must release its generation slot"
    assert calls_at_close < 6, "generation stopped when the consumer closed the stream"


def test_concurrent_streams_from_four_threads_do_not_mix(engine: LocalEngine) -> None:
    prompts = [CAPITAL, "Name a color.", "What is 2 + 2?", "Say hello in Spanish."]
    requests = [ask(p, max_new_tokens=10) for p in prompts]
    sequential = [collect(engine.stream(r))[0] for r in requests]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda r: collect(engine.stream(r))[0], requests))
    assert concurrent == sequential


# ---- battles ---------------------------------------------------------------------------------------


def test_a_battle_on_one_engine_runs_as_one_batch(engine: LocalEngine) -> None:
    request_a = ask(CAPITAL, max_new_tokens=10)
    request_b = ask("Name three fruits.", temperature=0.7, seed=5, max_new_tokens=10)
    alone = [collect(engine.stream(r))[0] for r in (request_a, request_b)]
    with spy_on(engine) as spy:
        results = collect_indexed(stream_pair(engine, request_a, engine, request_b), 2)
    assert [text for text, _ in results] == alone
    assert spy.batch_sizes[0] == 2, "both sides share each forward pass"
    assert len(spy.batch_sizes) <= 11


def test_a_battle_on_two_engines_runs_both_at_once(engine: LocalEngine, int8_engine: LocalEngine) -> None:
    request_a = ask(CAPITAL, max_new_tokens=12, min_new_tokens=12)
    request_b = ask("Name three fruits.", max_new_tokens=12, min_new_tokens=12)
    order = []
    results: list[list[str]] = [[], []]
    for index, chunk in stream_pair(engine, request_a, int8_engine, request_b):
        order.append(index)
        results[index].append(chunk.text)
    switches = sum(1 for before, after in itertools.pairwise(order) if before != after)
    assert switches >= 2, f"chunks of both sides interleave when run concurrently: {order}"
    assert "".join(results[0]) == collect(engine.stream(request_a))[0]


class RaisingBackend:
    """A backend that breaks after one chunk, as a remote model server dropping the connection would."""

    def count_tokens(self, messages: tuple[ChatMessage, ...]) -> int:
        return 1

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        yield StreamChunk(text="Hel")
        raise ConnectionError("server went away")


def test_a_raising_backend_ends_its_side_with_an_error_chunk(engine: LocalEngine) -> None:
    results = collect_indexed(stream_pair(RaisingBackend(), ask(CAPITAL), engine, ask(CAPITAL)), 2)
    (text_a, final_a), (text_b, final_b) = results
    assert text_a == "Hel" and final_a.finish_reason == "error" and "server went away" in (final_a.error or "")
    assert final_b.finish_reason == "stop" and "Paris" in text_b


def test_closing_a_threaded_battle_stops_both_sides(engine: LocalEngine, int8_engine: LocalEngine) -> None:
    long = ask("Tell me about the ocean.", max_new_tokens=24, min_new_tokens=24)
    with spy_on(engine) as spy:
        pair = stream_pair(engine, long, int8_engine, long)
        for _ in range(3):
            next(pair)
        pair.close()
        calls_at_close = len(spy.batch_sizes)
        assert not [t for t in threading.enumerate() if t.name.startswith("stream-pair-")]
        assert len(spy.batch_sizes) == calls_at_close
    assert calls_at_close < 24


def test_closing_a_batched_battle_stops_the_batch(engine: LocalEngine) -> None:
    long = ask("Tell me about the ocean.", max_new_tokens=24, min_new_tokens=24)
    with spy_on(engine) as spy:
        pair = stream_pair(engine, long, engine, long)
        next(pair)
        pair.close()
    assert len(spy.batch_sizes) < 4


# ---- the pool --------------------------------------------------------------------------------------


def test_pool_loads_each_engine_once_and_shares_it(converted_model: ConvertedModel) -> None:
    pool = BackendPool(converted_model.cache_dir)
    greedy = ModelSpec(name="a", generation={"temperature": 0.0})
    creative = ModelSpec(name="b", generation={"temperature": 0.9}, system_prompt="Be lively.")
    with ThreadPoolExecutor(max_workers=4) as threads:
        engines = list(threads.map(pool.get, [greedy, creative, greedy, creative]))
    assert all(e is engines[0] for e in engines)
    assert pool.loaded() == [greedy.engine_key]


# ---- sampling rules --------------------------------------------------------------------------------


def draws(params: GenerationParams, probs: list[float], n: int = 200) -> set[int]:
    """Tokens drawn from a fixed distribution over a vocabulary padded to 2,000 ids of near-zero mass."""
    logits = torch.full((1, 2000), -30.0)
    logits[0, : len(probs)] = torch.tensor(probs).log()
    sampler = BatchSampler([RowSampler.create(params, torch.device("cpu"))], [[]], [1999], 2000, torch.device("cpu"))
    return {sampler.choose(logits, [0])[0] for _ in range(n)}


def test_top_p_and_top_k_limit_what_can_be_drawn() -> None:
    probs = [0.5, 0.3, 0.15, 0.05]
    assert draws(GenerationParams(temperature=1.0, seed=0), probs) == {0, 1, 2, 3}
    assert draws(GenerationParams(temperature=1.0, top_p=0.75, seed=0), probs) == {0, 1}
    assert draws(GenerationParams(temperature=1.0, top_p=0.4, seed=0), probs) == {0}
    assert draws(GenerationParams(temperature=1.0, top_k=3, seed=0), probs) == {0, 1, 2}
    assert draws(GenerationParams(temperature=0.0), probs) == {0}


def test_min_new_tokens_forbids_stopping_early() -> None:
    params = GenerationParams(temperature=0.0, min_new_tokens=2)
    sampler = BatchSampler([RowSampler.create(params, torch.device("cpu"))], [[]], [0], 10, torch.device("cpu"))
    logits = torch.tensor([[5.0, 1.0] + [0.0] * 8])
    assert [sampler.choose(logits, [n])[0] for n in (0, 1, 2)] == [1, 1, 0]
