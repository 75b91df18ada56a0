"""Which reward model: a training run's folder, a local sequence-classification model, or a hub id.

    load_reward_model(spec, device="cpu", base_model=None, max_length=None) -> LoadedRewardModel

- A run folder of `python -m training.reward` holds a LoRA adapter (adapter_config.json, task SEQ_CLS) on the base
  named inside it (or --base-model); its report.json gives the max_length it was trained with.
- A model folder or a hub id must be a transformers sequence-classification model with ONE output (a reward
  model's score head): a causal LM, or a classifier with several labels, is refused, never scored.
- Its context: `max_length` if given, else the run's max_length, else the smaller of the tokenizer's and the
  model's position limits. Pairs longer than that are counted and left out by the caller, never truncated (a
  truncated answer is a different answer).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.reward import HUB_ID, REPORT_FILE, RewardScorer, load_tokenizer

ADAPTER_CONFIG = "adapter_config.json"


class RewardModelError(ValueError):
    """Not a reward model, or it cannot be loaded; the message says why."""


@dataclass(frozen=True)
class LoadedRewardModel:
    name: str  # as given: the folder or the hub id
    scorer: RewardScorer
    max_length: int
    kind: str  # "run" | "model" | "hub"


def load_reward_model(
    spec: str, *, device: str = "cpu", base_model: str | None = None, max_length: int | None = None
) -> LoadedRewardModel:
    folder = Path(spec).expanduser()
    if folder.is_dir() and (folder / ADAPTER_CONFIG).is_file():
        scorer, trained_length = _load_run(folder, device, base_model)
        return LoadedRewardModel(spec, scorer, max_length or trained_length or _context(scorer), "run")
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise RewardModelError(f"{spec}: a folder without config.json or {ADAPTER_CONFIG}, so not a model")
        scorer = _load_classifier(str(folder), device)
        return LoadedRewardModel(spec, scorer, max_length or _context(scorer), "model")
    if folder.exists():
        raise RewardModelError(f"{spec}: a file, not a model folder")
    if not HUB_ID.match(spec):
        raise RewardModelError(f"{spec}: no such folder, and not a hub id (owner/name)")
    if Path(spec).parent.is_dir():  # "runs/rm" where runs/ exists: a mistyped folder, not a hub repo
        raise RewardModelError(f"{spec}: no such folder ({Path(spec).parent}/ exists but holds no {Path(spec).name})")
    scorer = _load_classifier(spec, device)
    return LoadedRewardModel(spec, scorer, max_length or _context(scorer), "hub")


def _load_run(folder: Path, device: str, base_model: str | None) -> tuple[RewardScorer, int | None]:
    adapter = json.loads((folder / ADAPTER_CONFIG).read_text())
    if adapter.get("task_type") != "SEQ_CLS":
        raise RewardModelError(
            f"{folder}: the adapter is for {adapter.get('task_type') or 'an unknown task'}, not a reward model "
            "(SEQ_CLS, with a score head)"
        )
    base = base_model or adapter.get("base_model_name_or_path")
    if not base:
        raise RewardModelError(f"{folder}: the adapter names no base model; give --base-model")
    if not Path(base).is_dir() and not HUB_ID.match(str(base)):
        raise RewardModelError(f"{folder}: its base model {base} is not on this machine; give --base-model")
    try:
        scorer = RewardScorer.load(folder, base_model=Path(base), device=device)
    except (OSError, ValueError) as exc:
        raise RewardModelError(f"{folder}: cannot be loaded ({_first_line(exc)})") from exc
    trained = None
    report = folder / REPORT_FILE
    if report.is_file():
        trained = json.loads(report.read_text()).get("data", {}).get("max_length")
    return scorer, trained


def _load_classifier(name: str, device: str) -> RewardScorer:
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    try:
        config = AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise RewardModelError(f"{name}: no model config can be read ({_first_line(exc)})") from exc
    architectures = list(getattr(config, "architectures", None) or [])
    if not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise RewardModelError(
            f"{name}: has no score head ({', '.join(architectures) or 'no architecture named'}); a reward model is a "
            "sequence-classification model with one output"
        )
    if config.num_labels != 1:
        raise RewardModelError(f"{name}: a classifier with {config.num_labels} labels, not a reward model (one output)")
    tokenizer = load_tokenizer(Path(name)) if Path(name).is_dir() else _hub_tokenizer(name)
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    try:
        model = AutoModelForSequenceClassification.from_pretrained(name, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise RewardModelError(f"{name}: cannot be loaded ({_first_line(exc)})") from exc
    if model.config.pad_token_id is None:  # the head reads the last non-pad token of each row
        model.config.pad_token_id = tokenizer.pad_token_id
    return RewardScorer(model.to(device).eval(), tokenizer)


def _hub_tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _context(scorer: RewardScorer) -> int:
    limits = [scorer.tokenizer.model_max_length, getattr(scorer.model.config, "max_position_embeddings", None)]
    usable = [int(limit) for limit in limits if isinstance(limit, int) and 0 < limit < 1_000_000]
    return min(usable) if usable else 512


def _first_line(exc: BaseException) -> str:
    return next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
