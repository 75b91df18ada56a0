"""Fill an arena database with N realistic votes, in bulk, for the refresh benchmark.

What a vote looks like: a one-turn battle between two of 24 models (true ratings spread over ~400 Elo), answers
of a few hundred characters with markdown (short ones with --short-texts), prompts of every category, voters
skewed (a few people cast many votes: Zipf over 50,000 voters), 5% side-by-side battles, 2% identity leaks, 1%
backend errors, and a judge's verdict on 20% of the battles. Each vote row carries the facts the arena's write
path stores with it, computed by the same functions (store.battles.vote_facts for style and category,
facts.eligibility.verdict for whether it counts); texts come from pools of a few thousand, so computing the facts
does not dominate a fill of ten million. Rows go in per table in batches of 20,000 votes: executemany through
SQLAlchemy on SQLite, COPY on PostgreSQL.

With --propensities, anonymous battles draw their pair as the arena's active sampling does (issue 20): from
arena.active_sampling.pair_probabilities (rule "ours", floor 0.2, as settings.py's defaults), recomputed every
--propensity-epoch battles (default 20: one minute of the fill's clock, a vote every 3 s, as the sampler re-reads
the standings at most once a minute) from standings the fill keeps as a snapshot would say them (each model's
true rating, an interval narrowing with the battles it has had); each such battle and its votes (human and judge
alike, as the write path copies them) store the probability the drawn unordered pair had under that distribution
and pool_size 24. Side-by-side battles keep NULL (they draw nothing). The pairs come from a random stream of their
own, so everything else (voters, prompts, flags, judges) is the fill without the option, vote for vote.

    python -m benchmarks.arena_fill --db sqlite:////tmp/arena-1m.db --votes 1000000
    python -m benchmarks.arena_fill --db postgresql+psycopg://postgres@127.0.0.1/arena10m --votes 10000000 --short-texts
    python -m benchmarks.arena_fill --db sqlite:////tmp/arena-1m-ipw.db --votes 1000000 --propensities
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import Any

import numpy as np
from sqlalchemy import Connection, insert

from facts.eligibility import LEAK_NOTE, BattleFacts, verdict
from store import Store
from store.battles import vote_facts
from store.tables import Battle, Turn, Vote

MODELS = tuple(f"model-{i:02d}" for i in range(24))
BATCH = 20_000
VOTERS = 50_000
JUDGE = "judge:gpt-4"
PROMPTS = (
    "Write a haiku about {t}.", "Explain {t} to a ten-year-old.", "Write a Python function that sorts {t}.",
    "What is the capital of {t}?", "Solve: {n} * {m} + 17 = ?", "Give me three ideas for a party about {t}.",
    "Translate 'good morning' into {t}.", "Summarise the history of {t} in five sentences.",
    "Is it safe to eat {t}?", "Write a limerick about {t}.", "How do I fix a bug in my {t} code?",
    "Compare {t} and its rivals in a table.", "Plan a three-day trip to {t}.", "What does {t} mean?",
)  # fmt: skip
TOPICS = ("rust", "autumn", "lists", "France", "cats", "quantum physics", "jazz", "Kenya", "SQL", "tea", "Mars")
ANSWER_PARTS = (
    "## Overview\n", "Here is a short answer. ", "- first point\n- second point\n- third point\n",
    "**Important:** check the details. ", "```python\ndef f(x):\n    return sorted(x)\n```\n",
    "1. Step one\n2. Step two\n", "In short, it depends on the context and on what you need. ",
    "The capital is Paris. ", "A gentle breeze / leaves fall softly / autumn sighs. ",
)  # fmt: skip
WINNER_LABELS = ("model_a", "model_b", "tie", "tie (bothbad)")
SAMPLING_FLOOR = 0.2  # settings.sampling_floor's default
PROPENSITY_EPOCH = 20  # battles per pair distribution: a minute of the fill's clock (a vote every 3 s)
STRENGTH_LABELS = ("slightly", "clearly", "much")


@dataclass(frozen=True)
class Pools:
    """The texts votes are drawn from, and their facts, computed once per distinct text."""

    prompts: tuple[str, ...]
    answers: tuple[str, ...]
    facts: dict[tuple[int, int, int], dict[str, Any]]


def _pools(rng: np.random.Generator, short_texts: bool) -> Pools:
    prompts = tuple(
        p.format(t=TOPICS[rng.integers(len(TOPICS))], n=rng.integers(2, 99), m=rng.integers(2, 99))
        for p in PROMPTS * 40
    )
    parts = 1 if short_texts else 7
    answers = tuple(
        "".join(ANSWER_PARTS[j] for j in rng.integers(len(ANSWER_PARTS), size=rng.integers(1, parts + 1)))
        for _ in range(3000)
    )
    return Pools(prompts, answers, {})


def _facts(pools: Pools, prompt: int, answer_a: int, answer_b: int) -> dict[str, Any]:
    key = (prompt, answer_a, answer_b)
    facts = pools.facts.get(key)
    if facts is None:
        facts = vote_facts([(1, pools.prompts[prompt], pools.answers[answer_a], pools.answers[answer_b])])
        if len(pools.facts) < 2_000_000:
            pools.facts[key] = facts
    return facts


class ActivePairs:
    """Anonymous battles' pairs drawn as the arena's active sampling draws them (module docstring): a distribution
    over the unordered pairs of MODELS from arena.active_sampling.pair_probabilities, recomputed every `epoch`
    battles from the standings so far; each draw returns its pair's probability under the distribution it came
    from (what the battle stores)."""

    def __init__(self, seed: int, ratings: np.ndarray, epoch: int = PROPENSITY_EPOCH) -> None:
        if epoch < 1:
            raise ValueError(f"a distribution lasts one battle or more, not {epoch}")
        self.rng = np.random.default_rng([seed, 20])  # a stream of its own: the rest of the fill is unchanged
        self.ratings, self.epoch = ratings, epoch
        pairs = np.array(list(combinations(range(len(MODELS)), 2)))
        self.first, self.second = pairs[:, 0], pairs[:, 1]
        self.battles = np.zeros(len(MODELS))  # battles each model has had: its counted votes in the standings
        self.left = 0  # battles still drawn from the current distribution
        self.probabilities = np.full(len(pairs), 1.0 / len(pairs))
        self.distributions = 0

    def _standings(self) -> dict[str, tuple[int, float, float]]:
        """What the newest snapshot would say: the true rating, a 95% interval of a model with these votes."""
        from leaderboard.intervals import Z95
        from leaderboard.scale import ELO_PER_NAT

        standings = {}
        for k, name in enumerate(MODELS):
            if self.battles[k] > 0:  # an unknown model is left out: the rule treats it as maximally uncertain
                half = Z95 * ELO_PER_NAT / np.sqrt(0.2 * self.battles[k])  # a vote's information p(1-p) ~ 0.2
                standings[name] = (int(self.battles[k]), self.ratings[k] - half, self.ratings[k] + half)
        return standings

    def draw(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n battles' (model a, model b, pair probability); sides at random, as the battle service assigns them."""
        from arena.active_sampling import pair_probabilities

        a, b, probability = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n)
        done = 0
        while done < n:
            if self.left == 0:
                drawn = pair_probabilities(MODELS, self._standings(), floor=SAMPLING_FLOOR)
                self.probabilities = np.fromiter(drawn.values(), np.float64, len(drawn))  # combinations order
                self.left, self.distributions = self.epoch, self.distributions + 1
            k = min(self.left, n - done)
            pair = self.rng.choice(len(self.probabilities), size=k, p=self.probabilities)
            swapped = self.rng.random(k) < 0.5
            first, second = self.first[pair], self.second[pair]
            a[done : done + k] = np.where(swapped, second, first)
            b[done : done + k] = np.where(swapped, first, second)
            probability[done : done + k] = self.probabilities[pair]
            np.add.at(self.battles, first, 1)
            np.add.at(self.battles, second, 1)
            self.left -= k
            done += k
        return a, b, probability


def fill(
    store: Store,
    votes: int,
    *,
    seed: int = 0,
    short_texts: bool = False,
    progress: bool = True,
    propensities: bool = False,
    propensity_epoch: int = PROPENSITY_EPOCH,
) -> dict:
    """Write `votes` votes (a judged battle gives two); returns the count and the seconds taken. `propensities`:
    anonymous battles drawn by active sampling, with their pair probability and pool size (module docstring)."""
    rng = np.random.default_rng(seed)
    pools = _pools(rng, short_texts)
    ratings = rng.normal(1000, 100, len(MODELS))
    sampler = ActivePairs(seed, ratings, propensity_epoch) if propensities else None
    voters = np.array([uuid.UUID(int=int(v)).hex for v in rng.integers(0, 2**62, VOTERS)], dtype=object)
    # Where votes come from (salted hashes in the app): two sessions per address, eight addresses per network.
    clients = np.array([hashlib.sha256(f"client{i}".encode()).hexdigest() for i in range(VOTERS // 2)], dtype=object)
    networks = np.array([hashlib.sha256(f"net{i}".encode()).hexdigest() for i in range(VOTERS // 16)], dtype=object)
    weights = 1.0 / np.arange(1, VOTERS + 1) ** 1.1
    weights /= weights.sum()
    started = time.perf_counter()
    written = 0
    postgres = store.db.engine.dialect.name == "postgresql"
    origins = (voters, clients, networks)
    for battles, turns, vote_rows in _batches(rng, votes, ratings, pools, origins, weights, sampler):
        with store.db.writing_core() as connection:
            if postgres:
                _copy(connection, battles, turns, vote_rows)
            else:
                connection.execute(insert(Battle), battles)
                connection.execute(insert(Turn), turns)
                connection.execute(insert(Vote), vote_rows)
        written += len(vote_rows)
        if progress:
            print(f"  {written:,} votes ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if postgres:  # as autovacuum would soon: the planner's statistics of the tables just filled
        with store.db.writing_core() as connection:
            connection.exec_driver_sql("ANALYZE")
    done = {"votes": written, "seconds": round(time.perf_counter() - started, 1)}
    if sampler is not None:
        done["pair_distributions"] = sampler.distributions
    return done


def _batches(
    rng: np.random.Generator,
    votes: int,
    ratings: np.ndarray,
    pools: Pools,
    origins: tuple[np.ndarray, np.ndarray, np.ndarray],
    weights: np.ndarray,
    sampler: ActivePairs | None = None,
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    made = 0
    while made < votes:
        n = min(BATCH, votes - made)  # battles in this batch (judged ones add a vote: trimmed below)
        a = rng.integers(len(MODELS), size=n)
        b = (a + rng.integers(1, len(MODELS), size=n)) % len(MODELS)
        side_by_side, leak, error = rng.random(n) < 0.05, rng.random(n) < 0.02, rng.random(n) < 0.01
        if sampler is not None:  # anonymous battles draw their pair; side-by-side ones keep theirs and store none
            anonymous = ~side_by_side
            a, b, probability = a.copy(), b.copy(), np.full(n, np.nan)
            a[anonymous], b[anonymous], probability[anonymous] = sampler.draw(int(anonymous.sum()))
        judged = rng.random(n) < 0.2
        prompt = rng.integers(len(pools.prompts), size=n)
        answer_a, answer_b = rng.integers(len(pools.answers), size=(2, n))
        p_a = 1 / (1 + 10 ** ((ratings[b] - ratings[a]) / 400))
        voters, clients, networks = origins
        who = rng.choice(VOTERS, size=n, p=weights)
        voter, client, network = voters[who], clients[who // 2], networks[who // 16]
        battles: list[dict[str, Any]] = []
        turns: list[dict[str, Any]] = []
        vote_rows: list[dict[str, Any]] = []
        for i in range(n):
            when = base + timedelta(seconds=(made + len(vote_rows)) * 3)
            mode = "side_by_side" if side_by_side[i] else "anonymous"
            notes = f"{LEAK_NOTE}gpt-4" if leak[i] else ""
            battle_id = str(uuid.UUID(int=int(rng.integers(0, 2**62)) << 64 | i))
            model_a, model_b = MODELS[a[i]], MODELS[b[i]]
            battles.append({
                "id": battle_id, "mode": mode, "model_a": model_a, "model_b": model_b, "swapped": False,
                "params_a": {}, "params_b": {}, "session_id": "s", "voter_id": voter[i],
                "state": "error" if error[i] else "voted", "flag_error": bool(error[i]),
                "flag_identity_leak": bool(leak[i]), "flag_length_limit": False, "flag_notes": notes,
                "tokens_a": 0, "tokens_b": 0, "created_at": when, "updated_at": when,
            })  # fmt: skip
            drawn: dict[str, Any] = {}
            if sampler is not None:  # both or neither, as store.battles.check_propensity wants
                anonymous_pair = not side_by_side[i]
                drawn = {
                    "pair_probability": float(probability[i]) if anonymous_pair else None,
                    "pool_size": len(MODELS) if anonymous_pair else None,
                }
                battles[-1].update(drawn)
            turns.append({
                "battle_id": battle_id, "index": 1, "attempt": 0, "superseded": False,
                "user_message": pools.prompts[prompt[i]], "answer_a": pools.answers[answer_a[i]],
                "answer_b": pools.answers[answer_b[i]], "prompt_tokens_a": 0, "prompt_tokens_b": 0,
                "completion_tokens_a": 0, "completion_tokens_b": 0, "finish_a": "error" if error[i] else "stop",
                "finish_b": "stop", "created_at": when,
            })  # fmt: skip
            stored = {
                "battle_id": battle_id, "turn": 1, "model_a": model_a, "model_b": model_b, "mode": mode,
                "excluded_reason": verdict(BattleFacts(mode, bool(leak[i]), bool(error[i]), notes)),
                **_facts(pools, int(prompt[i]), int(answer_a[i]), int(answer_b[i])), **drawn,
            }  # fmt: skip
            sources = ("human", JUDGE) if judged[i] else ("human",)
            for source in sources:
                draw = rng.random(3)
                winner = "tie" if draw[0] < 0.15 else ("model_a" if draw[1] < p_a[i] else "model_b")
                if winner == "tie" and draw[2] < 0.3:
                    winner = "tie (bothbad)"
                decisive = winner in ("model_a", "model_b")
                vote_rows.append({
                    **stored, "winner": winner, "source": source,
                    "voter_id": voter[i] if source == "human" else "judge-model",
                    "client_id": client[i] if source == "human" else None,
                    "network_id": network[i] if source == "human" else None,
                    "strength": STRENGTH_LABELS[int(draw[2] * 3)] if decisive else None,
                    "created_at": when + timedelta(seconds=1),
                })  # fmt: skip
            if made + len(vote_rows) >= votes:
                break
        made += len(vote_rows)
        if made > votes:  # the last battle was judged: drop its judge vote
            vote_rows.pop()
            made -= 1
        yield battles, turns, vote_rows


_COPY_JSON = {"params_a", "params_b"}


def _copy(connection: Connection, battles: list[dict], turns: list[dict], vote_rows: list[dict]) -> None:
    """COPY the rows in (PostgreSQL): the same values the ORM would write, a few times faster."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    for table, rows in (("battles", battles), ("turns", turns), ("votes", vote_rows)):
        names = list(rows[0])
        columns = ", ".join(f'"{name}"' for name in names)
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(row[k]) if k in _COPY_JSON else row[k] for k in names])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.arena_fill", description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--votes", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--short-texts", action="store_true", help="one-part answers (for fills of ten million)")
    parser.add_argument(
        "--propensities", action="store_true", help="anonymous pairs by active sampling, their probability stored"
    )
    parser.add_argument(
        "--propensity-epoch", type=int, default=PROPENSITY_EPOCH, help="battles per pair distribution (--propensities)"
    )
    args = parser.parse_args(argv)
    store = Store.open(args.db)
    try:
        filled = fill(
            store,
            args.votes,
            seed=args.seed,
            short_texts=args.short_texts,
            propensities=args.propensities,
            propensity_epoch=args.propensity_epoch,
        )
        print(filled)
    finally:
        store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
