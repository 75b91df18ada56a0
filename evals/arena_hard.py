"""Arena-Hard-Auto v0.1 (issue 18): the 500 hard Chatbot Arena prompts, each of the model's answers judged pairwise
against the shipped gpt-4-0314 answer in both orders; the model's win rate against that baseline with a bootstrap
interval over questions, raw and style-controlled (the leaderboard's style control).

    python -m evals arena-hard smollm2-135m-greedy --judge-model gpt-4o-judge --limit 50

Data: the questions at training/eval_data/arena-hard/question.jsonl (250 topic clusters, 2 prompts each), the
baseline answers at evals/data/arena-hard/model_answer/gpt-4-0314.jsonl (READMEs beside them). Order: one prompt of
every cluster first, in a seeded order, then the second prompts, so `--limit N` (N <= 250) asks N different topics.

Judging: the judge (temperature 0, facts.judge_prompts' five-level "arena_hard" scale, [[A>>B]] .. [[B>>A]]) sees
each question twice: game 1 shows the baseline as Assistant A and the model as B, game 2 the other way round, so a
judge's preference for a position cancels over the pair instead of favouring whoever is shown first.

Scoring, arena-hard-auto v0.1's own rule (its show_result.py), kept exactly so figures compare with published ones:
each game becomes battles model vs baseline. A strong verdict (>>) is STRONG_WEIGHT = 3 battles won by that side, a
plain one (>) one battle, a tie (=) one battle scored half. An item's score is the model's points over its battles:
game 1 "B>>A" (the model, shown as B, much better) and game 2 "A=B" give (3 + 0.5) / (3 + 1) = 0.875. The win rate
is the pooled share, sum of points over sum of battles across items: for two players that is exactly the
Bradley-Terry estimate arena-hard reports (the maximum-likelihood win probability of a two-player model is the
observed share, ties half), so an item with strong verdicts weighs up to three times one with plain verdicts; the
mean of the item scores would weigh them alike and is not what arena-hard reports.

Failures are recorded, never guessed:
- a game whose verdict cannot be read (none, or several different ones: facts.judge_prompts.parse_verdict) counts no
  battle, as in arena-hard, so an item with one unreadable game is scored on its other game alone; it says so
  (detail "games_read": 1, report "items_on_one_game"). Both unreadable: verdict "parse_failure", no score. At
  temperature 0 a rerun would read the same, so there is nothing to wait for;
- a judge call that failed (HTTP error, timeout) makes the item "error" without a score, even when the other game
  was read: the failure says nothing about the answers, and scoring on one game would quietly change the weights
  of the questions that happened to fail;
- a model answer that failed is "error" without a score. An empty answer or one cut at the token cap is judged as
  it is (finish reason stored): it is what the model gave, and leaving it out would flatter the model.

Interval: 95% percentile bootstrap over questions (`bootstrap_rounds`, 1000, seeded: leaderboard.multinomial), both
games and every battle of a question resampled together. Arena-hard resamples single battles, but the battles of one
question (two games, a strong verdict's three copies) are not independent, and resampling them apart narrows the
interval.

Style control: the read games as battles, each as the judge saw it (model_a is the answer shown as Assistant A), with
the length and markdown counts of both answers (facts.style), fitted by the leaderboard's own code (fit_ratings, then
fit_style_control, as leaderboard.table does). Reported: the model's win probability against the baseline when both
answers have the same style (every covariate at zero difference: style_logits on an equal-style battle), with the
style coefficients. Its interval is a bootstrap over questions too (`style_rounds`, 100, seeded; 0: no interval); the
fit's own sandwich interval is not used because it treats the battles of one question as independent. Each round
refits, 15-30 ms at 500 questions on this machine, and the summary is recomputed (inside the store's write
transaction) after every stored batch: about 1.5-3 s per batch at 500 questions. The estimate is None, with a note,
when no finite one exists: the model won (or lost) every read game, or the style features alone separate wins from
losses (the leaderboard then falls back to an L2 prior, whose value would be an artefact of the prior). When the
model's answers are longer (or shorter) than the baseline's on every question, equal length lies outside the data:
the estimate is an extrapolation along the fitted length coefficient, and the report says so.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evals.runner import EvalItem
from facts.judge_prompts import BattleTurn, Scale, judge_messages, parse_verdict, prompt_version
from facts.schema import STYLE_COLUMNS, normalize_battles
from facts.style import StyleFeatures, style_features
from leaderboard.bradley_terry import ConvergenceError
from leaderboard.fit import fit_ratings
from leaderboard.intervals import percentile_bounds
from leaderboard.multinomial import map_multinomial_rounds
from leaderboard.outcomes import count_outcomes
from leaderboard.style_control import StyleFeaturesMissing, fit_style_control, style_logits
from models.answers import Answer, answer_all, request_for
from models.registry import ModelSpec
from models.types import ChatBackend, ChatMessage, GenerationParams, GenerationRequest
from store import BenchmarkItemView, BenchmarkSummary, NewBenchmarkItem

NAME = "arena-hard"
BASELINE = "gpt-4-0314"
ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "training" / "eval_data" / "arena-hard" / "question.jsonl"
BASELINE_ANSWERS = Path(__file__).resolve().parent / "data" / "arena-hard" / "model_answer" / f"{BASELINE}.jsonl"
SCALE: Scale = "arena_hard"
VERSION = f"arena-hard-v0.1:baseline-{BASELINE}:{prompt_version(SCALE)}"
ORDER_SEED = 18
STRONG_WEIGHT = 3
DEFAULT_JUDGE_MAX_TOKENS = 1024  # the judge writes its own answer before deciding: verdicts come late
BOOTSTRAP_ROUNDS = 1000
STYLE_ROUNDS = 100  # Chatbot Arena's own count; each round refits (see the module docstring)
JUDGE_OUTPUT_HEAD, JUDGE_OUTPUT_TAIL = 2000, 1500  # stored judge output: its start and its end (the verdict)

WIN, TIE, LOSS, PARSE_FAILURE, ERROR = "win", "tie", "loss", "parse_failure", "error"
BASELINE_FIRST, MODEL_FIRST = "baseline_first", "model_first"  # game 1, game 2
READ, UNREADABLE, FAILED = "read", "unreadable", "error"  # a game's status
OUTCOMES = ("model>>baseline", "model>baseline", "tie", "baseline>model", "baseline>>model")  # the model's view
# (model's points, battles) per outcome: arena-hard v0.1's WEIGHT for strong verdicts, a tie half a win
POINTS: Mapping[str, tuple[float, int]] = {
    "model>>baseline": (float(STRONG_WEIGHT), STRONG_WEIGHT),
    "model>baseline": (1.0, 1),
    "tie": (0.5, 1),
    "baseline>model": (0.0, 1),
    "baseline>>model": (0.0, STRONG_WEIGHT),
}
_MODEL, _BASELINE = "model", "baseline"  # the two players of the style-control fit
_DEGENERATE_FIT = "L2 prior"  # in the leaderboard's warning when a fit had no finite maximum


def arena_hard_items(questions: Path = QUESTIONS, baseline: Path = BASELINE_ANSWERS) -> list[EvalItem]:
    """Every question with its baseline answer, in the benchmark's one seeded order: the clusters' first prompts,
    then their second ones, so any prefix spreads over as many topics as it can."""
    answers = {}
    for record in _jsonl(baseline):
        content = record["messages"][1]["content"]
        answers[record["uid"]] = content["answer"] if isinstance(content, dict) else str(content)
    records = _jsonl(questions)
    missing = [record["uid"] for record in records if record["uid"] not in answers]
    if missing:
        raise ValueError(f"{baseline} lacks the baseline answer of {len(missing)} question(s), e.g. {missing[0]}")
    random.Random(ORDER_SEED).shuffle(records)
    seen: Counter[str] = Counter()
    ranked = []
    for record in records:
        ranked.append((seen[record["cluster"]], record))
        seen[record["cluster"]] += 1
    ranked.sort(key=lambda pair: pair[0])  # stable: within a rank, the shuffled order
    return [
        EvalItem(
            f"arena-hard:{record['uid']}",
            {
                "uid": record["uid"],
                "cluster": record["cluster"],
                "prompt": record["prompt"],
                "baseline": answers[record["uid"]],
            },
        )
        for _, record in ranked
    ]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class ArenaHard:
    """The benchmark (evals.runner.Benchmark). `backend_for` gives a spec its loaded backend (models.pool); `judge`
    is the judge's spec. `max_new_tokens` None: the model's own cap (its registry decoding), since arena-hard lets
    models answer in full and a cut answer loses against a whole one; the local model is slow, so a run may set a
    lower cap (it is stored in the run's settings, which do not start a new run: a different cap belongs in a new
    run, --force). `seed` is the model's sampling seed and the bootstraps' seed; `style_rounds` 0 skips the
    style-controlled interval (the estimate stays)."""

    backend_for: Callable[[ModelSpec], ChatBackend]
    judge: ModelSpec
    max_new_tokens: int | None = None
    judge_max_tokens: int = DEFAULT_JUDGE_MAX_TOKENS
    seed: int = 0
    concurrency: int = 4
    bootstrap_rounds: int = BOOTSTRAP_ROUNDS
    style_rounds: int = STYLE_ROUNDS
    name: str = NAME
    version: str = VERSION

    def __post_init__(self) -> None:
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.judge_max_tokens < 1:
            raise ValueError(f"judge_max_tokens must be at least 1, got {self.judge_max_tokens}")
        if self.bootstrap_rounds < 1 or self.style_rounds < 0:
            raise ValueError("the bootstrap needs at least 1 round (style control: 0 for none)")

    @property
    def grader(self) -> str:
        return f"judge:{self.judge.name}:{prompt_version(SCALE)}"

    @property
    def settings(self) -> Mapping[str, Any]:
        return {
            "max_new_tokens": self.max_new_tokens,  # None: the model's own cap
            "seed": self.seed,
            "order_seed": ORDER_SEED,
            "baseline": BASELINE,
            "judge_max_tokens": self.judge_max_tokens,
            "judge_temperature": 0.0,
            "strong_weight": STRONG_WEIGHT,
        }

    def items(self) -> Sequence[EvalItem]:
        return arena_hard_items()

    def run(self, model: ModelSpec, items: Sequence[EvalItem]) -> list[NewBenchmarkItem]:
        cap, seed = self.max_new_tokens, self.seed
        requests = [
            request_for(model, [{"role": "user", "content": item.payload["prompt"]}], max_new_tokens=cap, seed=seed)
            for item in items
        ]
        answers = answer_all(self.backend_for(model), requests, concurrency=self.concurrency)
        to_judge = [index for index, answer in enumerate(answers) if answer.finish_reason != "error"]
        params = GenerationParams(max_new_tokens=self.judge_max_tokens, temperature=0.0, seed=self.seed)
        judge_requests = []
        for index in to_judge:
            turn = BattleTurn(items[index].payload["prompt"], items[index].payload["baseline"], answers[index].text)
            for swapped in (False, True):  # game 1: the baseline is Assistant A; game 2: the model is
                system, user = judge_messages(SCALE, [turn], swapped=swapped)
                messages = (ChatMessage("system", system["content"]), ChatMessage("user", user["content"]))
                judge_requests.append(GenerationRequest(messages, params))
        verdicts: list[Answer] = []
        if judge_requests:
            verdicts = answer_all(self.backend_for(self.judge), judge_requests, concurrency=self.concurrency)
        games = {index: (verdicts[2 * k], verdicts[2 * k + 1]) for k, index in enumerate(to_judge)}
        return [score_item(item, answers[index], games.get(index)) for index, item in enumerate(items)]

    def summarize(self, stored: Sequence[BenchmarkItemView]) -> BenchmarkSummary:
        return summarize(stored, rounds=self.bootstrap_rounds, style_rounds=self.style_rounds, seed=self.seed)


def model_outcome(label: str, model_side: str) -> str:
    """A verdict label as the judge wrote it ("B>>A") in the model's terms, given where the model was shown."""
    if label == "A=B":
        return "tie"
    model_won = label[0] == model_side
    relation = ">>" if ">>" in label else ">"
    return f"model{relation}baseline" if model_won else f"baseline{relation}model"


def read_game(order: str, verdict: Answer) -> dict[str, Any]:
    """One game as stored: the label the judge gave (None: unreadable or failed), the model's outcome, points and
    battles, and the judge's output (clipped)."""
    model_side = "B" if order == BASELINE_FIRST else "A"
    game: dict[str, Any] = {"order": order, "model_shown_as": model_side, "finish_reason": verdict.finish_reason}
    if verdict.finish_reason == "error":
        return {**game, "status": FAILED, "label": None, "error": verdict.error}
    game["judge_output"] = _clip(verdict.text)
    parsed = parse_verdict(verdict.text, SCALE)
    if parsed is None:
        return {**game, "status": UNREADABLE, "label": None}
    outcome = model_outcome(parsed.label, model_side)
    points, battles = POINTS[outcome]
    return {**game, "status": READ, "label": parsed.label, "outcome": outcome, "points": points, "battles": battles}


def score_item(item: EvalItem, answer: Answer, verdicts: tuple[Answer, Answer] | None) -> NewBenchmarkItem:
    """The stored result of one question: the model's answer, its two games and the item's share of the points."""
    detail: dict[str, Any] = {
        "uid": item.payload["uid"],
        "cluster": item.payload["cluster"],
        "finish_reason": answer.finish_reason,
        "completion_tokens": answer.completion_tokens,
        "style": {
            _MODEL: asdict(style_features(answer.text)),
            _BASELINE: asdict(style_features(item.payload["baseline"])),
        },
    }
    if answer.finish_reason == "error" or verdicts is None:
        return NewBenchmarkItem(item.key, answer.text, ERROR, None, {**detail, "error": answer.error})
    games = [read_game(order, verdict) for order, verdict in zip((BASELINE_FIRST, MODEL_FIRST), verdicts, strict=True)]
    detail["games"] = games
    failed = [game for game in games if game["status"] == FAILED]
    if failed:
        error = "; ".join(f"the judge failed ({game['order']}): {game['error']}" for game in failed)
        return NewBenchmarkItem(item.key, answer.text, ERROR, None, {**detail, "error": error})
    read = [game for game in games if game["status"] == READ]
    if not read:
        return NewBenchmarkItem(item.key, answer.text, PARSE_FAILURE, None, detail)
    points = sum(game["points"] for game in read)
    battles = sum(game["battles"] for game in read)
    score = points / battles
    verdict = WIN if score > 0.5 else LOSS if score < 0.5 else TIE
    detail.update(points=points, battles=battles, games_read=len(read))
    return NewBenchmarkItem(item.key, answer.text, verdict, score, detail)


def _clip(text: str) -> str:
    if len(text) <= JUDGE_OUTPUT_HEAD + JUDGE_OUTPUT_TAIL:
        return text
    cut = len(text) - JUDGE_OUTPUT_HEAD - JUDGE_OUTPUT_TAIL
    return f"{text[:JUDGE_OUTPUT_HEAD]}\n[... {cut} characters left out ...]\n{text[-JUDGE_OUTPUT_TAIL:]}"


def summarize(
    stored: Sequence[BenchmarkItemView],
    *,
    rounds: int = BOOTSTRAP_ROUNDS,
    style_rounds: int = STYLE_ROUNDS,
    seed: int = 0,
) -> BenchmarkSummary:
    """The pooled win rate over the scored items with its bootstrap interval over questions, the style-controlled
    win rate, and every verdict counted: per item, per game in the model's terms, and per game as written."""
    scored = [item for item in stored if item.score is not None]
    games = [game for item in stored for game in item.detail.get("games", ())]
    by_order: dict[str, Counter[str]] = {BASELINE_FIRST: Counter(), MODEL_FIRST: Counter()}
    for game in games:
        by_order[game["order"]][game["label"] or game["status"]] += 1
    outcomes = Counter(game["outcome"] for game in games if game["status"] == READ)
    report: dict[str, Any] = {
        "baseline": BASELINE,
        "strong_weight": STRONG_WEIGHT,
        "verdicts": dict(sorted(Counter(item.verdict for item in stored).items())),
        "items_on_one_game": sum(item.detail.get("games_read") == 1 for item in scored),
        "games": {
            "read": sum(outcomes.values()),
            "unreadable": sum(game["status"] == UNREADABLE for game in games),
            "failed": sum(game["status"] == FAILED for game in games),
            "outcomes": {outcome: outcomes[outcome] for outcome in OUTCOMES},
            "labels_by_order": {order: dict(sorted(counts.items())) for order, counts in by_order.items()},
        },
        "mean_tokens": _mean_tokens(stored),
    }
    if not scored:
        report["win_rate"] = {"n": 0}
        report["style_controlled"] = {"estimate": None, "note": "no item has a score yet"}
        return BenchmarkSummary(0, len(stored), None, None, None, report)
    points = np.array([float(item.detail["points"]) for item in scored])
    battles = np.array([float(item.detail["battles"]) for item in scored])
    estimate = float(points.sum() / battles.sum())
    low, high = _bootstrap_share(points, battles, rounds, seed)
    report["win_rate"] = {
        "estimate": estimate,
        "low": low,
        "high": high,
        "n": len(scored),
        "battles": int(battles.sum()),
        "interval": f"95% percentile bootstrap over questions, {rounds} rounds, seed {seed}",
    }
    report["style_controlled"] = style_controlled(scored, rounds=style_rounds, seed=seed)
    return BenchmarkSummary(len(scored), len(stored) - len(scored), estimate, low, high, report)


def _mean_tokens(stored: Sequence[BenchmarkItemView]) -> dict[str, float | None]:
    styled = [item.detail["style"] for item in stored if "style" in item.detail]
    return {
        side: (sum(style[side]["tokens"] for style in styled) / len(styled) if styled else None)
        for side in (_MODEL, _BASELINE)
    }


def _bootstrap_share(points: np.ndarray, battles: np.ndarray, rounds: int, seed: int) -> tuple[float, float]:
    """Percentile interval of the pooled share, questions resampled with replacement (multinomial counts per item)."""

    def shares(draws: np.ndarray) -> np.ndarray:
        return (draws @ points) / (draws @ battles)

    samples = np.concatenate(map_multinomial_rounds(np.ones(len(points)), rounds, seed, shares))
    low, high = percentile_bounds(samples)
    return float(low), float(high)


def game_battles(scored: Sequence[BenchmarkItemView]) -> tuple[pd.DataFrame, np.ndarray]:
    """Every read game as battles in the leaderboard's schema, as the judge saw it (model_a shown as Assistant A),
    repeated by its weight, with both answers' style columns; and the item (index into `scored`) of each row."""
    rows: list[dict[str, Any]] = []
    owners: list[int] = []
    for index, item in enumerate(scored):
        style = {side: StyleFeatures(**item.detail["style"][side]) for side in (_MODEL, _BASELINE)}
        for game in item.detail.get("games", ()):
            if game["status"] != READ:
                continue
            first, second = (_MODEL, _BASELINE) if game["order"] == MODEL_FIRST else (_BASELINE, _MODEL)
            if game["outcome"] == "tie":
                winner = "tie"
            else:
                winner = "model_a" if game["outcome"].startswith(first) else "model_b"
            row = {
                "model_a": first,
                "model_b": second,
                "winner": winner,
                **style[first].columns("a"),
                **style[second].columns("b"),
            }
            rows.extend([row] * int(game["battles"]))
            owners.extend([index] * int(game["battles"]))
    return pd.DataFrame(rows, columns=["model_a", "model_b", "winner", *STYLE_COLUMNS]), np.array(owners, dtype=int)


_EQUAL_STYLE = pd.DataFrame(
    {"model_a": [_MODEL], "model_b": [_BASELINE], "winner": ["tie"], **{column: [1] for column in STYLE_COLUMNS}}
)
_FIT_FAILURES = (StyleFeaturesMissing, ConvergenceError, np.linalg.LinAlgError, ValueError)


def style_controlled(
    scored: Sequence[BenchmarkItemView], *, rounds: int = STYLE_ROUNDS, seed: int = 0
) -> dict[str, Any]:
    """The model's win probability against the baseline at equal style, from the leaderboard's style-control fit
    on the read games, with a bootstrap interval over questions (None when `rounds` is 0)."""
    battles, owners = game_battles(scored)
    report: dict[str, Any] = {"estimate": None, "low": None, "high": None, "battles": len(battles)}
    if len(battles) == 0:
        return {**report, "note": "no read game"}
    model_won = np.where(battles["model_a"] == _MODEL, battles["winner"] == "model_a", battles["winner"] == "model_b")
    tied = (battles["winner"] == "tie").to_numpy()
    if not tied.any() and (model_won.all() or not model_won.any()):
        who = "won" if model_won.all() else "lost"
        return {**report, "note": f"no finite estimate: the model {who} every read game"}
    votes = normalize_battles(battles)[["model_a", "model_b", "winner", *STYLE_COLUMNS]]
    try:
        counts = count_outcomes(votes)
        plain = fit_ratings(counts, ci="none")
        fit = fit_style_control(votes, counts.models, plain.part, ci="none", start=plain.strengths)
    except _FIT_FAILURES as exc:
        return {**report, "note": f"the style-control fit failed: {exc}"}
    report["coefficients"] = {c.feature: c.estimate for c in fit.coefficients}
    report["warnings"] = list(fit.warnings)
    if any(_DEGENERATE_FIT in warning for warning in fit.warnings):
        return {**report, "note": "no finite estimate: the style features alone separate the model's wins and losses"}
    report["estimate"] = _probability(float(style_logits(fit, _EQUAL_STYLE)[0]))
    longer = {item.detail["style"][_MODEL]["tokens"] > item.detail["style"][_BASELINE]["tokens"] for item in scored}
    shorter = {item.detail["style"][_MODEL]["tokens"] < item.detail["style"][_BASELINE]["tokens"] for item in scored}
    if longer == {True} or shorter == {True}:
        side = "longer" if longer == {True} else "shorter"
        report["note"] = (
            f"the model's answers are {side} than the baseline's on every question: equal length lies outside the "
            "data, and the estimate is an extrapolation"
        )
    if rounds < 1:
        return {**report, "interval": None}
    parts, start = plain.part, plain.strengths
    rows = np.arange(len(votes))

    def refit(draws: np.ndarray) -> np.ndarray:
        """Per round: the equal-style win probability (NaN: no fit) and whether the fit needed the prior."""
        values = np.full((len(draws), 2), np.nan)
        for row, per_item in enumerate(draws):
            sample = votes.iloc[np.repeat(rows, per_item[owners])]
            try:
                again = fit_style_control(sample, counts.models, parts, ci="none", start=start)
            except _FIT_FAILURES:
                continue
            values[row, 0] = _probability(float(style_logits(again, _EQUAL_STYLE)[0]))
            values[row, 1] = any(_DEGENERATE_FIT in warning for warning in again.warnings)
        return values

    rounds_out = np.concatenate(map_multinomial_rounds(np.ones(len(scored)), rounds, seed, refit))
    fitted = ~np.isnan(rounds_out[:, 0])
    samples, failed, degenerate = rounds_out[fitted, 0], int((~fitted).sum()), int(rounds_out[fitted, 1].sum())
    if len(samples):
        low, high = percentile_bounds(samples)
        report.update(low=float(low), high=float(high))
    report["interval"] = (
        f"95% percentile bootstrap over questions, {rounds} rounds, seed {seed}; {degenerate} round(s) fitted with "
        f"the leaderboard's L2 prior, {failed} round(s) without a fit left out"
    )
    return report


def _probability(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-logit)) if logit >= 0 else math.exp(logit) / (1.0 + math.exp(logit))
