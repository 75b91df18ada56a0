"""Judging battle turns with an LLM: both orders, parsed, combined into one vote, stored once per judge and
prompt version. Any ChatBackend can judge: a GPT-4-class model over the OpenAI protocol, or offline the
embedded model (a weak judge, but the whole pipeline runs without keys).

Red-team battles ask another question (which answer is more harmless), so they are judged only when the config
says `red_team`, always on the harmlessness scale (facts.judge_prompts), whatever the helpfulness scale; the vote
the judge leaves carries the battle's criterion like a person's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import zip_longest

from facts.judge_prompts import (
    HARMLESSNESS_SCALE,
    BattleTurn,
    JudgeOutcome,
    Scale,
    combine,
    judge_messages,
    parse_verdict,
    prompt_version,
)
from facts.vocabulary import HARMLESSNESS, HELPFULNESS
from models.generation import stream_pair
from models.registry import ModelSpec
from models.types import ChatBackend, ChatMessage, GenerationParams, GenerationRequest, StreamChunk
from store import BattleView, DuplicateVote, NewJudgment, Store

log = logging.getLogger(__name__)
ORDERS = ("original", "swapped")


@dataclass(frozen=True)
class JudgeConfig:
    model: str  # the registry model that judges
    name: str = ""  # votes are stored as source judge:<name>; empty: the model's name
    scale: Scale = "arena_hard"
    max_new_tokens: int = 512
    red_team: bool = False  # also judge red-team battles (on the harmlessness scale)

    @property
    def source(self) -> str:
        return f"judge:{self.name or self.model}"

    @property
    def version(self) -> str:
        return prompt_version(self.scale)

    def scale_for(self, criterion: str) -> Scale:
        return HARMLESSNESS_SCALE if criterion == HARMLESSNESS else self.scale

    @property
    def criteria(self) -> tuple[str, ...]:
        return (HELPFULNESS, HARMLESSNESS) if self.red_team else (HELPFULNESS,)


@dataclass(frozen=True)
class TurnJudgment:
    battle_id: str
    turn: int
    judgments: tuple[NewJudgment, NewJudgment]
    outcome: JudgeOutcome


def judge_turn(backend: ChatBackend, battle: BattleView, turn: int, config: JudgeConfig) -> TurnJudgment:
    """Ask the judge twice, the answers in both orders (one batched pass when the backend can), at temperature 0,
    on the scale of the battle's criterion."""
    scale = config.scale_for(battle.criterion)
    turns = [BattleTurn(t.user_message, t.answer_a, t.answer_b or "") for t in battle.turns if t.index <= turn]
    params = GenerationParams(max_new_tokens=config.max_new_tokens, temperature=0.0)
    requests = []
    for swapped in (False, True):
        system, user = judge_messages(scale, turns, swapped=swapped)
        messages = (ChatMessage("system", system["content"]), ChatMessage("user", user["content"]))
        requests.append(GenerationRequest(messages=messages, params=params))
    texts, finals = ["", ""], [StreamChunk(), StreamChunk()]
    started, latency = time.monotonic(), [0.0, 0.0]
    for side, chunk in stream_pair(backend, requests[0], backend, requests[1]):
        texts[side] += chunk.text
        if chunk.finish_reason is not None:
            finals[side], latency[side] = chunk, time.monotonic() - started
    verdicts = [None if finals[i].finish_reason == "error" else parse_verdict(texts[i], scale) for i in range(2)]
    judgments = tuple(
        NewJudgment(
            order=ORDERS[i],
            raw_text=texts[i],
            verdict=verdicts[i].label if verdicts[i] else None,
            error=finals[i].error,
            latency=latency[i],
            prompt_tokens=finals[i].prompt_tokens,
            completion_tokens=finals[i].completion_tokens,
        )
        for i in range(2)
    )
    return TurnJudgment(battle.id, turn, judgments, combine(verdicts[0], verdicts[1]))  # type: ignore[arg-type]


@dataclass(frozen=True)
class BacklogReport:
    judged: int
    votes: int
    parse_failures: int
    inconsistent: int
    skipped: int  # judged by someone else meanwhile, or failed


@dataclass
class JudgeRunner:
    """Judges the backlog of unjudged turns, `concurrency` turns at a time."""

    store: Store
    backend_for: Callable[[ModelSpec], ChatBackend]
    config: JudgeConfig
    concurrency: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def run_backlog(self, limit: int = 50) -> BacklogReport:
        """One pass over at most `limit` unjudged turns. Safe to call from several threads or processes: the
        database's unique constraints make each turn judged once."""
        with self._lock:
            spec = self.store.registry.get(self.config.model)
            backend = self.backend_for(spec)
            backlogs = [
                self.store.judgments.unjudged_turns(
                    judge=self.config.source,
                    prompt_version=prompt_version(self.config.scale_for(criterion)),
                    limit=limit,
                    criterion=criterion,
                )
                for criterion in self.config.criteria
            ]
            # Taken in turns, so a long helpfulness backlog never starves the red-team battles (or the reverse).
            pending = [item for items in zip_longest(*backlogs) for item in items if item is not None][:limit]
            counts = {"judged": 0, "votes": 0, "parse_failures": 0, "inconsistent": 0, "skipped": 0}
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                for result in pool.map(lambda item: self._judge_one(backend, spec, *item), pending):
                    for key in result:
                        counts[key] += 1
            return BacklogReport(**counts)

    def _judge_one(self, backend: ChatBackend, spec: ModelSpec, battle_id: str, turn: int) -> list[str]:
        """Judge and store one turn; returns the counters it adds to."""
        try:
            battle = self.store.battles.get(battle_id)
            result = judge_turn(backend, battle, turn, self.config)
            scale = self.config.scale_for(battle.criterion)
            outcome = result.outcome
            # Whether the vote counts is the store's to decide (facts.eligibility), as for a human vote.
            vote = None if outcome.winner is None else (outcome.winner, outcome.strength)
            self.store.judgments.record(
                battle_id=battle_id,
                turn=turn,
                judge=self.config.source,
                judge_model=spec.name,
                prompt_version=prompt_version(scale),
                scale=scale,
                judgments=result.judgments,
                outcome=outcome.status,
                vote=vote,
            )
        except DuplicateVote:
            return ["skipped"]
        except Exception:
            log.exception("judging turn %d of battle %s failed", turn, battle_id)
            return ["skipped"]
        keys = ["judged"]
        keys += ["votes"] if vote else ["parse_failures"]
        keys += ["inconsistent"] if outcome.status == "inconsistent" else []
        return keys
