"""Reward model from arena preference pairs: TRL RewardTrainer with a LoRA adapter on a local HF model.

    python -m training.reward --from-votes --recipe cpu-smoke --out runs/rm [--db sqlite:///data/arena.db]
    python -m training.reward --recipe cpu-smoke --pairs pairs.jsonl --out runs/rm [--device cpu]
    python -m training.reward --from-battles llmfao-battles.jsonl --recipe cpu-smoke --out runs/rm-llmfao
    python -m training.reward --from-votes --recipe harmless-cpu-smoke --out runs/rm-harmless   # harmlessness

--from-votes reads the arena's votes (training.from_votes: the recipe's `data` section picks sources and the
held-out prompts; the rating baseline is fitted on the training votes) and stores the report in the database's
training_runs table as well. The recipe's data.criterion says which votes (helpfulness, or the red-team battles'
harmlessness votes) and data.pair_sets adds the training half of hh-rlhf's harmless pairs (training.from_votes).

--from-battles reads a clean-battle file (leaderboard.io: the arena's export, Chatbot Arena's releases, LLMFAO as
imported by `python -m leaderboard.llmfao`) through the same pairing, split and baselines as --from-votes; with
--db the report is stored as well.

--pairs records are the TRL conversational preference format written by `training.data.to_trl_records`:
"prompt" (chat messages), "chosen" / "rejected" ([{"role": "assistant", ...}]), optional "margin", and optionally
"chosen_model" / "rejected_model" for the rating baseline. Stages run in order: config, data, model, train,
evaluate, save. Training resumes from the last checkpoint in --out. The LoRA adapter, the tokenizer and
report.json (held-out accuracy with a bootstrap CI, log-loss, both baselines and the gate decision) end up
in --out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facts.json_safe import dumps
from settings import Settings
from training.data import first_user
from training.evidence import (
    MIN_PAIRS,
    MIN_PROMPTS,
    Evidence,
    length_outcomes,
    mean_interval,
    pair_outcomes,
    weigh_evidence,
)
from training.recipes import Recipe, RecipeError, RewardModelRecipe, load_recipe, resolve_device
from training.resume import last_checkpoint, train_or_resume
from training.runs import RunReport, add_common_arguments, seed_everything, stage, trainer_arguments

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

Record = Mapping[str, Any]
REPORT_FILE = "report.json"
HELD_OUT_SCORES = "held_out_scores.json"  # each kept held-out pair's index and scores
GATE_RULE = (
    "use the reward model only if it beats every baseline on the same held-out pairs with confidence: the lower "
    "bound of the paired bootstrap interval of its accuracy minus the baseline's is above zero, for answer length "
    "in both directions, the higher-rated model (where both models are rated) and a random scorer, on at least a "
    "minimum of held-out pairs under a minimum of distinct prompts, intervals resampling prompts (training.evidence)"
)


# ------------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------------


def read_pairs(path: Path) -> list[dict[str, Any]]:
    """One TRL record per line; blank lines are skipped. Errors name the line."""
    records = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc})") from exc
        missing = [key for key in ("prompt", "chosen", "rejected") if key not in record]
        if missing:
            raise ValueError(f"{path}:{number}: missing {', '.join(missing)}")
        records.append(record)
    return records


def split_pairs(records: Sequence[Record], eval_fraction: float, seed: int) -> tuple[list[Record], list[Record]]:
    """Hold out whole prompts (as the votes' split does: no prompt on both sides), about `eval_fraction` of the
    pairs: prompts taken in the order of a seeded hash, skipping one that would overshoot the share; at least one
    prompt when the fraction is positive, never all of them (something must be left to train on)."""
    if eval_fraction <= 0:
        return list(records), []
    sizes: dict[str, int] = {}
    for record in records:
        sizes[prompt_group(record)] = sizes.get(prompt_group(record), 0) + 1
    order = sorted(sizes, key=lambda p: hashlib.sha256(f"{seed}\0{p}".encode()).digest())
    target, held, count = math.ceil(len(records) * eval_fraction), set(), 0
    for prompt in order:
        if count >= target:
            break
        if count + sizes[prompt] > target:  # a big prompt would overshoot the share: look for smaller ones
            continue
        held.add(prompt)
        count += sizes[prompt]
    if not held and len(order) > 1:  # every prompt alone is more than the share: the smallest one
        held.add(min(order, key=lambda p: (sizes[p], order.index(p))))
    if len(held) == len(order):  # something must be left to train on
        held.discard(order[-1])
    return [r for r in records if prompt_group(r) not in held], [r for r in records if prompt_group(r) in held]


def token_lengths(record: Record, tokenizer: PreTrainedTokenizerBase) -> tuple[int, int]:
    """Lengths of prompt+chosen and prompt+rejected exactly as RewardTrainer tokenizes them (chat template)."""
    lengths = []
    for side in ("chosen", "rejected"):
        messages = list(record["prompt"]) + list(record[side])
        ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, tools=None)["input_ids"]
        lengths.append(len(ids))
    return lengths[0], lengths[1]


def split_by_length(
    records: Sequence[Record], tokenizer: PreTrainedTokenizerBase, max_length: int
) -> tuple[list[Record], list[Record]]:
    """(kept, too long). RewardTrainer drops a pair when either side exceeds max_length; we count them first
    because TRL drops them silently."""
    kept, too_long = [], []
    for record in records:
        (too_long if max(token_lengths(record, tokenizer)) > max_length else kept).append(record)
    return kept, too_long


def _trainer_dataset(records: Sequence[Record], use_margin: bool) -> Any:
    from datasets import Dataset

    # Only the columns TRL reads: optional model names with None values would make datasets guess types.
    rows = []
    for record in records:
        row = {"prompt": list(record["prompt"]), "chosen": list(record["chosen"]), "rejected": list(record["rejected"])}
        if use_margin:
            row["margin"] = float(record.get("margin") or 0.0)
        rows.append(row)
    return Dataset.from_list(rows)


# ------------------------------------------------------------------------------------------------------
# Model
# ------------------------------------------------------------------------------------------------------


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name, as the Hugging Face hub spells a repo


def is_hub_id(name: str) -> bool:
    """A hub id that is not a local path: transformers fetches it (online, or from the local hub cache)."""
    return bool(HUB_ID.match(name)) and not Path(name).exists()


def resolve_base_model(base_model: str, cache_dir: Path | None = None) -> Path:
    """'embedded' means the converted SmolLM2 folder; otherwise a local transformers folder or a hub id (loaded
    by transformers, so it needs the hub or its cache; an unreachable one fails when the model loads)."""
    if base_model == "embedded":
        from models.embedded import ensure_converted

        return ensure_converted(cache_dir)
    if is_hub_id(base_model):
        return Path(base_model)
    folder = Path(base_model)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"base model {base_model!r} is neither 'embedded', a local model folder nor a hub id (owner/name)"
        )
    return folder


def load_tokenizer(folder: Path) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    from models.embedded import CONTEXT_LENGTH

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if tokenizer.model_max_length > 10 * CONTEXT_LENGTH:  # GGUF conversions come out with 1e30
        tokenizer.model_max_length = CONTEXT_LENGTH
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base_classifier(folder: Path, tokenizer: PreTrainedTokenizerBase, device: str) -> PreTrainedModel:
    import torch
    from transformers import AutoModelForSequenceClassification

    # float32: bf16 is slower on this CPU, and the score head is trained from scratch.
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    model = AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=1, dtype=dtype)
    # The classifier reads the last non-pad token, so it must know which id is padding.
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def lora_config(rm: RewardModelRecipe) -> Any:
    from peft import LoraConfig, TaskType

    # modules_to_save: the score head starts random, so it must train and be saved with the adapter.
    return LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=rm.lora_r,
        lora_alpha=rm.lora_alpha,
        lora_dropout=rm.lora_dropout,
        target_modules=list(rm.lora_target_modules),
        modules_to_save=["score"],
    )


@dataclass
class RewardScorer:
    """A trained reward model: scores (prompt messages, assistant answer) with one scalar."""

    model: Any
    tokenizer: Any
    batch_size: int = 8

    @classmethod
    def load(cls, adapter_dir: Path, base_model: Path | None = None, device: str = "cpu") -> RewardScorer:
        """Load the adapter saved by `train_reward_model`, on its base (from adapter_config.json unless given)."""
        from peft import PeftConfig, PeftModel

        adapter_dir = Path(adapter_dir)
        base = (
            Path(base_model)
            if base_model
            else Path(PeftConfig.from_pretrained(str(adapter_dir)).base_model_name_or_path)
        )
        tokenizer = load_tokenizer(adapter_dir)
        model = PeftModel.from_pretrained(load_base_classifier(base, tokenizer, device), str(adapter_dir))
        return cls(model.to(device).eval(), tokenizer)

    def encode(self, conversation: Sequence[Mapping[str, str]]) -> list[int]:
        """Token ids as the model reads a conversation: its chat template, or, for a reward model without one,
        hh-rlhf's "Human: / Assistant:" text (the format most template-less reward models were trained on)."""
        if getattr(self.tokenizer, "chat_template", None):
            return list(
                self.tokenizer.apply_chat_template(list(conversation), tokenize=True, return_dict=True)["input_ids"]
            )
        speakers = {"user": "Human", "assistant": "Assistant", "system": "System"}
        text = "".join(f"\n\n{speakers.get(m['role'], m['role'])}: {m['content']}" for m in conversation)
        return list(self.tokenizer(text.lstrip("\n"))["input_ids"])

    def score_conversations(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> list[float]:
        """One score per conversation, in order. Batches group conversations of similar length (sorted), so
        padding costs little whatever the order they come in."""
        encoded = [self.encode(c) for c in conversations]
        return self.score_ids(encoded)

    def score_ids(self, encoded: Sequence[Sequence[int]]) -> list[float]:
        import torch

        scores: list[float] = [0.0] * len(encoded)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        device = next(self.model.parameters()).device
        # The padding id the classifier looks for when it finds each row's last token: the model's own, if set.
        configured = getattr(getattr(self.model, "config", None), "pad_token_id", None)
        pad = configured if configured is not None else self.tokenizer.pad_token_id
        pad = 0 if pad is None else pad
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            ids = [list(encoded[i]) for i in batch]
            width = max(map(len, ids))
            # Right padding, as in TRL's collator: the classifier locates the last non-pad token.
            input_ids = torch.tensor([row + [pad] * (width - len(row)) for row in ids], device=device)
            mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ids], device=device)
            with torch.no_grad():
                logits = self.model(input_ids=input_ids, attention_mask=mask).logits
            for i, value in zip(batch, logits[:, 0].float().tolist(), strict=True):
                scores[i] = value
        return scores

    def score(self, prompt: Sequence[Mapping[str, str]], answer: str) -> float:
        return self.score_conversations([[*prompt, {"role": "assistant", "content": answer}]])[0]

    def score_pairs(self, records: Sequence[Record]) -> tuple[list[float], list[float]]:
        chosen = self.score_conversations([[*r["prompt"], *r["chosen"]] for r in records])
        rejected = self.score_conversations([[*r["prompt"], *r["rejected"]] for r in records])
        return chosen, rejected


# ------------------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------------------


def _answer_text(messages: Sequence[Mapping[str, str]]) -> str:
    return "".join(str(m.get("content", "")) for m in messages)


def bootstrap_ci(
    outcomes: Sequence[float], samples: int, seed: int, level: float = 0.95, groups: Sequence[str] | None = None
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of per-pair outcomes (1 right, 0 wrong, 0.5 tie); with `groups`,
    prompts are resampled (training.evidence.mean_interval)."""
    if len(outcomes) == 0:
        return (math.nan, math.nan)
    interval = mean_interval(outcomes, samples=samples, seed=seed, level=level, groups=groups)  # type: ignore[arg-type]
    return interval.low, interval.high


def _pair_outcomes(chosen: Sequence[float], rejected: Sequence[float]) -> list[float]:
    return [1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen, rejected, strict=True)]


def longer_answer_baseline(records: Sequence[Record]) -> dict[str, Any]:
    """Accuracy of 'the longer answer (in characters) wins'; equal lengths count as half right."""
    outcomes = _pair_outcomes(
        [len(_answer_text(r["chosen"])) for r in records], [len(_answer_text(r["rejected"])) for r in records]
    )
    return {
        "name": "longer answer wins",
        "available": bool(outcomes),
        "accuracy": sum(outcomes) / len(outcomes) if outcomes else None,
        "pairs": len(outcomes),
    }


def rating_baseline(records: Sequence[Record], ratings: Mapping[str, float] | None) -> dict[str, Any]:
    """Accuracy of 'the higher-rated model wins', over pairs where both models have a rating (ties half).

    Not available without ratings or without model names on the records: it is reported, never guessed."""
    result: dict[str, Any] = {"name": "higher-rated model wins", "available": False, "accuracy": None, "pairs": 0}
    if not ratings:
        result["reason"] = "no ratings given"
        return result
    usable = [r for r in records if r.get("chosen_model") in ratings and r.get("rejected_model") in ratings]
    if not usable:
        result["reason"] = "no held-out pair names two rated models (chosen_model / rejected_model)"
        return result
    outcomes = _pair_outcomes(
        [ratings[r["chosen_model"]] for r in usable], [ratings[r["rejected_model"]] for r in usable]
    )
    result.update(available=True, accuracy=sum(outcomes) / len(outcomes), pairs=len(outcomes))
    if len(usable) < len(records):
        result["note"] = f"{len(records) - len(usable)} pair(s) without two rated models left out"
    return result


def _outcomes_baseline(outcomes: Sequence[float]) -> dict[str, Any]:
    known = [float(o) for o in outcomes if not math.isnan(o)]
    result: dict[str, Any] = {
        "name": "higher-rated model wins",
        "available": bool(known),
        "accuracy": sum(known) / len(known) if known else None,
        "pairs": len(known),
    }
    if not known:
        result["reason"] = "no held-out pair names two models rated on its own training pairs"
    return result


def evaluate_rewards(
    records: Sequence[Record],
    chosen_rewards: Sequence[float],
    rejected_rewards: Sequence[float],
    ratings: Mapping[str, float] | None = None,
    bootstrap_samples: int = 1000,
    seed: int = 0,
    *,
    min_pairs: int = MIN_PAIRS,
    level: float = 0.95,
    rating_outcomes: Sequence[float] | None = None,
    min_prompts: int = MIN_PROMPTS,
) -> dict[str, Any]:
    """Held-out metrics, the baselines and the gate decision (on evidence: training.evidence), JSON-ready.

    `rating_outcomes` replaces `ratings` where each pair was rated by different ratings (cross-validation: each
    fold's own): per pair 1 / 0.5 / 0 for "the higher-rated model wins", NaN where it cannot say."""
    outcomes = _pair_outcomes(chosen_rewards, rejected_rewards)
    n = len(outcomes)
    # Log-loss of P(chosen preferred) = sigmoid(r_chosen - r_rejected), clipped so a confident miss stays finite.
    losses = []
    for c, r in zip(chosen_rewards, rejected_rewards, strict=True):
        p = 1.0 / (1.0 + math.exp(-max(min(c - r, 50.0), -50.0)))
        losses.append(-math.log(min(max(p, 1e-12), 1 - 1e-12)))
    accuracy = sum(outcomes) / n if n else None
    low, high = bootstrap_ci(outcomes, bootstrap_samples, seed, groups=[prompt_group(r) for r in records])
    baselines = {
        "longer_answer": longer_answer_baseline(records),
        "higher_rated_model": rating_baseline(records, ratings)
        if rating_outcomes is None
        else _outcomes_baseline(rating_outcomes),
    }
    evidence = reward_evidence(
        records,
        chosen_rewards,
        rejected_rewards,
        ratings,
        min_pairs=min_pairs,
        samples=bootstrap_samples,
        seed=seed,
        level=level,
        rating_outcomes=rating_outcomes,
        min_prompts=min_prompts,
    )
    beats = {c.baseline: c.difference.low > 0 for c in evidence.comparisons}
    return {
        "pairs": n,
        "accuracy": accuracy,
        "accuracy_ci95": [low, high] if n else None,
        "log_loss": sum(losses) / n if n else None,
        "mean_reward_gap": sum(c - r for c, r in zip(chosen_rewards, rejected_rewards, strict=True)) / n if n else None,
        "baselines": baselines,
        "gate": {"passed": evidence.enough, "beats": beats, "verdict": evidence.verdict, "rule": GATE_RULE},
        "evidence": evidence.to_dict(),
    }


def reward_evidence(
    records: Sequence[Record],
    chosen_rewards: Sequence[float],
    rejected_rewards: Sequence[float],
    ratings: Mapping[str, float] | None = None,
    *,
    min_pairs: int = MIN_PAIRS,
    samples: int = 2_000,
    seed: int = 0,
    level: float = 0.95,
    rating_outcomes: Sequence[float] | None = None,
    min_prompts: int = MIN_PROMPTS,
) -> Evidence:
    """The reward model against every baseline on the same held-out pairs, with paired intervals
    (training.evidence): answer length in both directions, the rating baseline on the pairs of two rated
    models (or `rating_outcomes`, see evaluate_rewards), a random scorer."""
    import numpy as np

    baselines: dict[str, Any] = length_outcomes(
        [len(_answer_text(r["chosen"])) for r in records], [len(_answer_text(r["rejected"])) for r in records]
    )
    if rating_outcomes is not None:
        if not np.isnan(np.asarray(rating_outcomes, dtype=float)).all():
            baselines["higher-rated model wins"] = np.asarray(rating_outcomes, dtype=float)
    elif ratings:
        rated = [
            (ratings[r["chosen_model"]], ratings[r["rejected_model"]])
            if r.get("chosen_model") in ratings and r.get("rejected_model") in ratings
            else (math.nan, math.nan)
            for r in records
        ]
        chosen, rejected = (np.array(side, dtype=float) for side in zip(*rated, strict=True)) if rated else ([], [])
        outcomes = pair_outcomes(chosen, rejected)
        baselines["higher-rated model wins"] = np.where(np.isnan(chosen), np.nan, outcomes)
    return weigh_evidence(
        pair_outcomes(chosen_rewards, rejected_rewards),
        baselines,
        min_pairs=min_pairs,
        samples=samples,
        seed=seed,
        level=level,
        groups=[prompt_group(r) for r in records],
        min_prompts=min_prompts,
    )


def prompt_group(record: Record) -> str:
    """What intervals resample: the conversation's first user message (the split's unit, training.data)."""
    return first_user(record["prompt"])


# ------------------------------------------------------------------------------------------------------
# Training pipeline
# ------------------------------------------------------------------------------------------------------

STAGES = ("config", "data", "model", "train", "evaluate", "save")


def training_args(rm: RewardModelRecipe, out_dir: Path, device: str) -> Any:
    from trl import RewardConfig

    return RewardConfig(
        **trainer_arguments(rm, out_dir, device),
        max_length=rm.max_length,
        center_rewards_coefficient=rm.center_rewards_coefficient,
        eval_strategy="no",  # we evaluate ourselves, with the baselines and a CI
    )


def train_reward_model(
    recipe: Recipe,
    train_records: Sequence[Record],
    eval_records: Sequence[Record] | None,
    out_dir: Path,
    *,
    device: str | None = None,
    base_model: Path | str | None = None,
    model_cache_dir: Path | None = None,
    ratings: Mapping[str, float] | None = None,
    resume: bool = True,
) -> dict[str, Any]:
    """Run every stage and write `<out_dir>/report.json`; returns the report.

    `eval_records=None` holds out `eval_fraction` of `train_records`. Too-long pairs are counted per split
    before TRL drops them. With `resume`, training continues from the last checkpoint in `out_dir`.
    """
    from trl import RewardTrainer

    out_dir = Path(out_dir)
    report = RunReport(recipe=recipe.name, device="", base_model="", out_dir=str(out_dir))

    with stage(report, "config"):
        rm = recipe.require_reward_model()
        report.device = resolve_device(recipe, device)
        folder = Path(base_model) if base_model else resolve_base_model(rm.base_model, model_cache_dir)
        report.base_model = str(folder)
        out_dir.mkdir(parents=True, exist_ok=True)
        args = training_args(rm, out_dir, report.device)

    with stage(report, "data"):
        tokenizer = load_tokenizer(folder)
        if eval_records is None:
            train_part, eval_part = split_pairs(train_records, rm.eval_fraction, rm.seed)
        else:
            train_part, eval_part = list(train_records), list(eval_records)
        train_kept, train_long = split_by_length(train_part, tokenizer, rm.max_length)
        eval_kept, eval_long = split_by_length(eval_part, tokenizer, rm.max_length)
        if not train_kept:
            raise ValueError(f"no training pair fits max_length={rm.max_length} ({len(train_long)} too long)")
        report.data = {
            "train_pairs": len(train_part),
            "eval_pairs": len(eval_part),
            "max_length": rm.max_length,
            "dropped_too_long": {"train": len(train_long), "eval": len(eval_long)},
            "margins_used": rm.use_margin and any(r.get("margin") for r in train_kept),
        }
        if train_long or eval_long:
            log.warning(
                "dropping %d train and %d held-out pair(s) longer than %d tokens",
                len(train_long),
                len(eval_long),
                rm.max_length,
            )

    with stage(report, "model"):
        seed_everything(rm.seed)  # the score head is initialised at load time, before the Trainer seeds
        model = load_base_classifier(folder, tokenizer, report.device)
        # The too-long pairs go in too: TRL's own filter must agree with our count (checked below).
        trainer = RewardTrainer(
            model=model,
            args=args,
            train_dataset=_trainer_dataset(train_part, rm.use_margin),
            processing_class=tokenizer,
            peft_config=lora_config(rm),
        )
        trl_dropped = len(train_part) - len(trainer.train_dataset)
        if trl_dropped != len(train_long):
            log.warning("TRL dropped %d pair(s) for length, our count says %d", trl_dropped, len(train_long))
        report.data["trl_dropped_too_long"] = trl_dropped

    with stage(report, "train"):
        if resume and (checkpoint := last_checkpoint(out_dir)):
            log.info("resuming from %s", checkpoint)
        report.training = train_or_resume(trainer, out_dir, rm.max_steps, resume)

    with stage(report, "evaluate"):
        scorer = RewardScorer(trainer.model.eval(), tokenizer, batch_size=rm.per_device_train_batch_size)
        chosen, rejected = scorer.score_pairs(eval_kept)
        report.evaluation = evaluate_rewards(
            eval_kept,
            chosen,
            rejected,
            ratings,
            bootstrap_samples=rm.bootstrap_samples,
            seed=rm.seed,
            min_pairs=rm.gate_min_pairs,
            level=rm.gate_level,
            min_prompts=rm.gate_min_prompts,
        )
        # Per pair, for studies that pool several runs (training.reward_studies); not in the report, which the
        # database stores and which must not grow with the held-out set.
        kept_ids = {id(record) for record in eval_kept}
        kept_index = [i for i, record in enumerate(eval_part) if id(record) in kept_ids]
        scores = {"index": kept_index, "chosen": chosen, "rejected": rejected}
        (out_dir / HELD_OUT_SCORES).write_text(json.dumps(scores) + "\n")
        if not eval_kept:
            report.evaluation["gate"]["passed"] = False
            report.evaluation["gate"]["note"] = "no held-out pairs: nothing shows the model is better"

    with stage(report, "save"):
        trainer.save_model(str(out_dir))  # the adapter (with the score head) only, not the base weights
        tokenizer.save_pretrained(str(out_dir))
    # Written last (outside the stage, so it holds every stage's time): a report.json means a complete adapter.
    (out_dir / REPORT_FILE).write_text(dumps(report.to_json(), indent=2) + "\n")
    return report.to_json()


# ------------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.reward", description=__doc__.splitlines()[0])
    # With --pairs, a database is used only when --db is given: to store the report there.
    add_common_arguments(parser, "run folder: checkpoints, the adapter and report.json")
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--from-votes", action="store_true", help="train on the arena database's votes")
    data.add_argument(
        "--from-battles", type=Path, metavar="FILE",
        help="train on a clean-battle file's votes (the arena's export, Chatbot Arena's or LLMFAO's battles), "
        "paired and split like --from-votes",
    )  # fmt: skip
    data.add_argument("--pairs", type=Path, help="JSONL of TRL preference records")
    parser.add_argument("--eval-pairs", type=Path, help="held-out JSONL (default: hold out eval_fraction of --pairs)")
    parser.add_argument("--ratings", type=Path, help='JSON {"model name": rating} for the rating baseline')
    parser.add_argument(
        "--learning-curve", action="store_true",
        help="also train on 10/25/50/100%% of the training pairs (or the recipe's reward_model.learning_curve) and "
        "plot held-out accuracy against them",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None, *, echo: Callable[[str], None] = print) -> int:
    from datetime import UTC, datetime

    from store import NewTrainingRun, StoreError
    from training.from_votes import load_battles_dataset, load_vote_dataset, open_store
    from training.recipes import DEFAULT_LEARNING_CURVE
    from training.reward_studies import train_with_evidence

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    started = datetime.now(UTC)
    store = None
    try:
        settings = Settings()  # the app's settings fill what the command line leaves out
        recipe = load_recipe(args.recipe)
        recipe.require_reward_model()
        resolve_device(recipe, args.device)  # fail before reading data or loading a model
        if args.base_model:
            resolve_base_model(args.base_model)
        ratings = json.loads(args.ratings.read_text()) if args.ratings else None
        summary: dict[str, Any] | None = None
        if args.from_votes or args.from_battles:
            if args.from_votes:
                store = open_store(args.db, settings)
                votes = load_vote_dataset(store, recipe.data)
            else:
                votes = load_battles_dataset(args.from_battles, recipe.data)
                store = open_store(args.db, settings) if args.db else None
            pairs, eval_pairs, summary = votes.train_records, votes.eval_records, votes.summary
            ratings = ratings if ratings is not None else votes.ratings
        else:
            pairs = read_pairs(args.pairs)
            eval_pairs = read_pairs(args.eval_pairs) if args.eval_pairs else None
            store = open_store(args.db, settings) if args.db else None
        rm = recipe.require_reward_model()
        shares = (rm.learning_curve or list(DEFAULT_LEARNING_CURVE)) if args.learning_curve else rm.learning_curve
        report = train_with_evidence(
            recipe,
            pairs,
            eval_pairs,
            args.out,
            ratings=ratings,
            summary=summary,
            learning_shares=shares,
            device=args.device,
            base_model=args.base_model,
            model_cache_dir=args.model_cache or settings.resolved_model_cache_dir,
            resume=not args.no_resume,
        )
        if store is not None:
            run = NewTrainingRun(
                kind="reward",
                recipe=recipe.name,
                out_dir=str(Path(args.out).resolve()),
                gate_passed=report["evaluation"]["gate"]["passed"],
                report=report,
                started_at=started,
            )
            stored = store.training_runs.record(run)
            echo(f"report stored as training run {stored.id}")
    except (RecipeError, ValueError, OSError, StoreError) as exc:
        echo(f"error: {exc}")
        return 2
    finally:
        if store is not None:
            store.dispose()
    evaluation = report["evaluation"]
    gate = evaluation["gate"]
    echo(
        f"held-out accuracy {evaluation['accuracy']} (95% CI {evaluation['accuracy_ci95']}), "
        f"log-loss {evaluation['log_loss']}; gate {'PASSED' if gate['passed'] else 'NOT passed'}; "
        f"report: {Path(args.out) / REPORT_FILE}"
    )
    if "cross_validation" in report:
        echo(f"few prompts: {report['cross_validation']['why']}")
    curve = report.get("learning_curve") or {}
    if "last_doubling" in curve:
        echo(f"learning curve: {curve['last_doubling']['reading']}; plot: {curve['plot']}")
    elif "skipped" in curve:
        echo(f"learning curve skipped: {curve['skipped']}")
    echo(f"evidence: {evaluation['evidence']['verdict']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
