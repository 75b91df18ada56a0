"""In-process transformers models: token-by-token streaming, and batched streaming of several requests that
share the weights (one forward pass per step for both sides of a battle).
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

from models.backends.detokenizer import IncrementalDetokenizer
from models.backends.sampling import BatchSampler, RowSampler
from models.backends.skinny_linear import use_skinny_linears
from models.embedded import EMBEDDED_NAME, load_embedded
from models.types import BackendError, ChatMessage, FinishReason, GenerationRequest, StreamChunk

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

EMBEDDED_PREFIX = "embedded:"
QUANTIZATIONS = ("none", "int8-dynamic")
DEFAULT_MAX_CONCURRENT = 2


class LocalEngine:
    """One loaded model serving many sessions. Implements ChatBackend and BatchingBackend.

    At most `max_concurrent` generations (a `stream` or a whole `stream_batch`) run at once: each already uses
    every core through torch's intra-op threads, so more would only slow all of them down.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        name: str = "local",
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.device = next(model.parameters()).device
        self._slots = threading.BoundedSemaphore(max_concurrent)
        # The Rust tokenizer raises "Already borrowed" when one thread encodes while another changes its
        # padding/truncation state; one lock around every tokenizer call rules that out for a few microseconds.
        self._tokenizer_lock = threading.Lock()
        self._stop_ids = _stop_token_ids(model, tokenizer)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._pad_id = int(tokenizer.pad_token_id)
        self.context_length = min(
            int(tokenizer.model_max_length), int(getattr(model.config, "max_position_embeddings", 1 << 30))
        )

    @classmethod
    def load(
        cls,
        weights: str,
        quantization: str = "none",
        device: str = "cpu",
        cache_dir: Path | None = None,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    ) -> LocalEngine:
        """Load "embedded:smollm2-135m-instruct", a local model folder, or a hub id (needs network)."""
        if quantization not in QUANTIZATIONS:
            raise BackendError(f"unknown quantization {quantization!r}; expected one of {QUANTIZATIONS}")
        if weights.startswith(EMBEDDED_PREFIX):
            if weights != EMBEDDED_PREFIX + EMBEDDED_NAME:
                known = EMBEDDED_PREFIX + EMBEDDED_NAME
                raise BackendError(f"unknown embedded model {weights!r}; the only one is {known!r}")
            model, tokenizer = load_embedded(cache_dir, device)
        else:
            model, tokenizer = _load_pretrained(weights, device)
        if quantization == "int8-dynamic":
            model = quantize_int8_dynamic(model, device)
        elif model.device.type == "cpu":
            use_skinny_linears(model)  # a batch of 2 costs ~1.1x one row instead of ~1.6x
        return cls(model, tokenizer, name=f"{weights} ({quantization})", max_concurrent=max_concurrent)

    # ChatBackend

    def count_tokens(self, messages: tuple[ChatMessage, ...]) -> int:
        return len(self.encode_prompt(messages))

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        batch = self.stream_batch([request])
        try:
            for _, chunk in batch:
                yield chunk
        finally:
            batch.close()  # our consumer stopped early: stop generating and free the slot now, not at GC

    # BatchingBackend

    def stream_batch(self, requests: list[GenerationRequest]) -> Generator[tuple[int, StreamChunk], None, None]:
        """Stream several answers with one forward pass per step; yields (request index, chunk)."""
        rows: list[_Row] = []
        for index, request in enumerate(requests):
            try:
                rows.append(self._start_row(index, request))
            except Exception as exc:
                yield index, StreamChunk(finish_reason="error", error=_error_message(exc, "preparing the prompt"))
        if not rows:
            return
        with self._slots:  # released on early close too: closing a generator runs its `with` exits
            try:
                yield from self._decode(rows)
            except Exception as exc:
                message = _error_message(exc, "answering")
                for row in rows:
                    if not row.finished:
                        yield row.index, row.final("error", error=message)

    def encode_prompt(self, messages: Iterable[ChatMessage]) -> list[int]:
        """Prompt token ids: the chat template with the assistant header appended."""
        conversation = [{"role": m.role, "content": m.content} for m in messages]
        if not conversation:
            raise BackendError("cannot answer an empty conversation")
        with self._tokenizer_lock:
            # sanitize_control_tokens: a user typing "<|im_end|>" gets text, not a real end-of-turn token.
            ids = self.tokenizer.apply_chat_template(
                conversation,
                add_generation_prompt=True,
                tokenize=True,
                return_dict=False,
                sanitize_control_tokens=True,
            )
        return list(ids)

    def decode(self, token_ids: list[int], skip_special_tokens: bool = True) -> str:
        with self._tokenizer_lock:
            return self.tokenizer.decode(token_ids, skip_special_tokens=skip_special_tokens)

    # Decoding loop

    def _start_row(self, index: int, request: GenerationRequest) -> _Row:
        prompt = self.encode_prompt(request.messages)
        room = self.context_length - len(prompt)
        if room < 1:
            raise BackendError(
                f"the conversation is too long for this model ({len(prompt)} tokens; "
                f"the limit is {self.context_length}). Start a new conversation."
            )
        max_new = min(request.params.max_new_tokens, room)
        sampler = RowSampler.create(request.params, self.device)
        return _Row(index, prompt, max_new, sampler, IncrementalDetokenizer(self))

    def _decode(self, rows: list[_Row]) -> Iterator[tuple[int, StreamChunk]]:
        with torch.inference_mode():
            batch = _Batch.prefill(self.model, [r.prompt for r in rows], self._pad_id, self.device)
            vocab_size = int(batch.logits.shape[-1])
            sampler = BatchSampler(
                [r.sampler for r in rows], [r.prompt for r in rows], self._stop_ids, vocab_size, self.device
            )
        active = list(rows)
        while active:
            with torch.inference_mode():
                tokens = sampler.choose(batch.logits, [r.generated for r in active])
            keep: list[int] = []
            for position, (row, token) in enumerate(zip(active, tokens, strict=True)):
                chunk = row.advance(token, token in self._stop_ids)
                if chunk is not None:
                    yield row.index, chunk
                if not row.finished:
                    keep.append(position)
            if not keep:
                return
            if len(keep) < len(active):
                # Finished rows leave the batch: their cache and mask rows are dropped, so they cost nothing.
                active = [active[p] for p in keep]
                sampler.keep(keep)
            with torch.inference_mode():
                batch.step([tokens[p] for p in keep], keep if len(keep) < batch.size else None)


@dataclass
class _Row:
    """One request's progress through the batch."""

    index: int
    prompt: list[int]
    max_new: int
    sampler: RowSampler
    detokenizer: IncrementalDetokenizer
    generated: int = 0
    finished: bool = False

    def advance(self, token: int, is_stop: bool) -> StreamChunk | None:
        """Record the chosen token; return the chunk to send, if any (the final one when the row ends)."""
        if is_stop:
            return self.final("stop", text=self.detokenizer.flush())
        self.generated += 1
        text = self.detokenizer.push(token)
        if self.generated >= self.max_new:
            return self.final("length", text=text + self.detokenizer.flush())
        return StreamChunk(text=text) if text else None

    def final(self, reason: FinishReason, text: str = "", error: str | None = None) -> StreamChunk:
        self.finished = True
        return StreamChunk(
            text=text,
            finish_reason=reason,
            prompt_tokens=len(self.prompt),
            completion_tokens=self.generated,
            error=error,
        )


@dataclass
class _Batch:
    """The model-side state of a batch: KV cache, attention mask, next positions, last logits."""

    model: Any
    cache: DynamicCache
    attention_mask: torch.Tensor
    positions: torch.Tensor
    logits: torch.Tensor = field(init=False)

    @property
    def size(self) -> int:
        return int(self.attention_mask.shape[0])

    @classmethod
    def prefill(cls, model: Any, prompts: list[list[int]], pad_id: int, device: torch.device) -> _Batch:
        # Left padding lines up every row's last prompt token, so each step appends one column for all rows.
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            input_ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            attention_mask[row, width - len(prompt) :] = 1
        input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
        # Positions count real tokens only, so a padded row sees the same positions as when run alone.
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        batch = cls(model, DynamicCache(config=model.config), attention_mask, position_ids[:, -1:] + 1)
        batch.logits = batch._forward(input_ids, position_ids)
        return batch

    def step(self, tokens: list[int], keep: list[int] | None) -> None:
        """Feed one token per row; `keep` first drops the rows that finished."""
        if keep is not None:
            index = torch.tensor(keep, dtype=torch.long, device=self.attention_mask.device)
            self.cache.batch_select_indices(index)
            self.attention_mask = self.attention_mask.index_select(0, index)
            self.positions = self.positions.index_select(0, index)
        input_ids = torch.tensor(tokens, dtype=torch.long, device=self.attention_mask.device).unsqueeze(1)
        self.attention_mask = torch.cat([self.attention_mask, torch.ones_like(self.positions)], dim=1)
        self.logits = self._forward(input_ids, self.positions)
        self.positions = self.positions + 1

    def _forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        output = self.model(
            input_ids=input_ids,
            attention_mask=self.attention_mask,
            position_ids=position_ids,
            past_key_values=self.cache,
            use_cache=True,
            logits_to_keep=1,  # the lm_head over the whole prompt would cost vocab x prompt length for nothing
        )
        return output.logits[:, -1, :]


def _error_message(exc: Exception, doing: str) -> str:
    """Log the traceback for us; return a sentence for the person waiting on the answer."""
    if isinstance(exc, BackendError):
        log.warning("generation refused: %s", exc)
        return str(exc)
    log.exception("local model failed while %s", doing)
    return f"The model failed while {doing} ({type(exc).__name__}: {exc})."


def _stop_token_ids(model: Any, tokenizer: PreTrainedTokenizerBase) -> frozenset[int]:
    """Every id that ends a turn: generation config's eos (may be a list), the tokenizer's eos, <|im_end|>."""
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
        ids.add(im_end)
    if not ids:
        raise BackendError("the tokenizer defines no end-of-sequence token; cannot tell when an answer ends")
    return frozenset(ids)


def _load_pretrained(weights: str, device: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    looks_local = weights.startswith((".", "/", "~")) or Path(weights).expanduser().exists()
    source = str(Path(weights).expanduser()) if looks_local else weights
    if looks_local and not Path(source).is_dir():
        raise BackendError(f"model folder not found: {source}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).to(device).eval()
    except (OSError, ValueError) as exc:
        where = "the folder" if looks_local else "the Hugging Face hub (is there network access?)"
        raise BackendError(f"could not load model {weights!r} from {where}: {exc}") from exc
    if tokenizer.model_max_length > 1_000_000:  # "no limit" placeholder: trust the model's context instead
        tokenizer.model_max_length = int(getattr(model.config, "max_position_embeddings", 2048))
    return model, tokenizer


def quantize_int8_dynamic(model: PreTrainedModel, device: str = "cpu") -> PreTrainedModel:
    """int8 weights with activations quantized on the fly, for every nn.Linear (CPU only).

    torch 2.13 still ships torch.ao.quantization.quantize_dynamic but marks it deprecated in favour of
    torchao's `quantize_`; it works, and avoids a new dependency, so we use it and silence that warning.
    """
    if device != "cpu":
        raise BackendError("int8-dynamic quantization runs on CPU only; use quantization 'none' on GPU")
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        # Both deprecations point to torchao; the eager API still works in torch 2.13.
        warnings.filterwarnings("ignore", message=".*torch.ao.quantization is deprecated.*")
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*deprecated.*")
        quantized = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return quantized.eval()
