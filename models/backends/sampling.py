"""Choosing the next token of each row of a batch, every row with its own decoding settings.

Follows the order of transformers' generate (repetition penalty and minimum length first, then temperature,
top-k, top-p), so a greedy row gives exactly what `model.generate(do_sample=False)` gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from models.types import GenerationParams

# How many of the most likely tokens are searched for the top-p nucleus before falling back to a full sort.
CANDIDATES = 1024


@dataclass
class RowSampler:
    """The decoding settings of one row, plus its own random generator (so rows never share randomness)."""

    params: GenerationParams
    min_new_tokens: int
    generator: torch.Generator | None

    @classmethod
    def create(cls, params: GenerationParams, device: torch.device) -> RowSampler:
        generator = None
        if params.temperature > 0:
            generator = torch.Generator(device=device)
            if params.seed is None:
                generator.seed()  # fresh entropy: unseeded requests must not repeat each other
            else:
                generator.manual_seed(params.seed)
        return cls(params, max(0, params.min_new_tokens), generator)


class BatchSampler:
    """Per-step token choice for a batch. Rows can be dropped (`keep`) when they finish."""

    def __init__(
        self,
        samplers: Sequence[RowSampler],
        prompts: Sequence[Sequence[int]],
        stop_ids: Sequence[int],
        vocab_size: int,
        device: torch.device,
    ) -> None:
        self._samplers = list(samplers)
        self._stop_ids = torch.tensor(sorted(stop_ids), dtype=torch.long, device=device)
        penalties = [s.params.repetition_penalty for s in self._samplers]
        self._penalize = any(p != 1.0 for p in penalties)
        self._penalty = torch.tensor(penalties, dtype=torch.float32, device=device).unsqueeze(1)
        # A boolean mask over the vocabulary of the tokens each row has seen (prompt included, as generate
        # does): penalising through it costs one vectorised op per step whatever the length.
        self._seen = torch.zeros(len(prompts), vocab_size, dtype=torch.bool, device=device)
        if self._penalize:
            for row, prompt in enumerate(prompts):
                self._seen[row, torch.tensor(list(prompt), dtype=torch.long, device=device)] = True

    def keep(self, rows: list[int]) -> None:
        """Keep only these rows (batch positions), in this order."""
        self._samplers = [self._samplers[r] for r in rows]
        index = torch.tensor(rows, dtype=torch.long, device=self._seen.device)
        self._seen = self._seen.index_select(0, index)
        self._penalty = self._penalty.index_select(0, index)

    def choose(self, logits: torch.Tensor, generated: Sequence[int]) -> list[int]:
        """Next token per row, from last-position logits [batch, vocab]; `generated` = tokens so far per row."""
        logits = logits.float()
        if self._penalize:
            penalised = torch.where(logits < 0, logits * self._penalty, logits / self._penalty)
            logits = torch.where(self._seen, penalised, logits)
        chosen: list[int] = []
        for row, sampler in enumerate(self._samplers):
            row_logits = logits[row]
            if generated[row] < sampler.min_new_tokens:
                row_logits = row_logits.index_fill(0, self._stop_ids, float("-inf"))
            if sampler.generator is None:
                chosen.append(int(row_logits.argmax()))
            else:
                chosen.append(_sample(row_logits, sampler.params, sampler.generator))
        if self._penalize:
            device = self._seen.device
            self._seen[torch.arange(len(chosen), device=device), torch.tensor(chosen, device=device)] = True
        return chosen


def _sample(logits: torch.Tensor, params: GenerationParams, generator: torch.Generator) -> int:
    """Temperature, then top-k, then top-p (nucleus), then one draw from what is left.

    Sorting the whole vocabulary (4 ms for 49k entries here) or torch.multinomial (1 ms) would add a tenth to
    a 60 ms decoding step, so the nucleus is looked for among the top CANDIDATES first (exact whenever they
    hold top_p of the mass, which is nearly always) and the draw is an inverse-CDF lookup.
    """
    logits = logits / params.temperature
    vocab = logits.numel()
    if params.top_k == 0 and params.top_p >= 1.0:
        return _draw(logits.softmax(-1), generator)
    k = min(params.top_k or CANDIDATES, vocab)
    values, indices = torch.topk(logits, k)  # sorted, largest first
    if params.top_p < 1.0:
        # Nucleus mass is measured against the distribution after top-k (as transformers does).
        normalizer = torch.logsumexp(values if params.top_k else logits, -1)
        cumulative = (values - normalizer).exp().cumsum(-1)
        if cumulative[-1] < params.top_p and k < vocab and not params.top_k:
            values, indices = torch.sort(logits, descending=True)  # a very flat distribution: all of it
            cumulative = (values - normalizer).exp().cumsum(-1)
        # Keep a token while the tokens before it hold less than top_p; the first one always stays.
        keep = int((cumulative < params.top_p).sum()) + 1
        values, indices = values[:keep], indices[:keep]
    return int(indices[_draw(values.softmax(-1), generator)])


def _draw(probs: torch.Tensor, generator: torch.Generator) -> int:
    cumulative = probs.cumsum(-1)
    target = torch.rand(1, generator=generator, device=probs.device) * cumulative[-1]
    return min(int(torch.searchsorted(cumulative, target, right=True)), probs.numel() - 1)
