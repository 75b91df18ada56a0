"""Policy checkpoints shared by training.rlhf and training.sft: load a causal LM, answer prompts, save the LoRA
adapter plus merged weights, check the merged folder serves through the arena's own engine, and describe it as
a contender for the registry.

A run folder holds `adapter/` (LoRA weights, small, for further training) and `merged-step<N>/` (a plain
transformers folder the arena's local backend loads like any other weights). A merged folder is written under a
temporary name and renamed last, so it is always complete, and it is never rewritten: a registered contender
points at it, and its weights must not change under the votes it collects. Training further (a higher
max_steps, or --no-resume) writes a new folder.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.registry import EMBEDDED_WEIGHTS, DecodingConfig, ModelSpec

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ADAPTER_DIR = "adapter"
MERGED_PREFIX = "merged-step"

Messages = Sequence[Mapping[str, str]]


def load_causal_lm(folder: Path, device: str) -> PreTrainedModel:
    import torch
    from transformers import AutoModelForCausalLM

    # float32 on CPU: bf16 is many times slower on CPUs without bf16 units (NOTES: 28x here).
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    return AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype).to(device)


def causal_lora_config(section: Any) -> Any:
    from peft import LoraConfig, TaskType

    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=section.lora_r,
        lora_alpha=section.lora_alpha,
        lora_dropout=section.lora_dropout,
        target_modules=list(section.lora_target_modules),
    )


def generate_answers(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Messages],
    max_new_tokens: int,
    batch_size: int = 8,
) -> list[str]:
    """Greedy answers, so base and policy are compared on their most likely answer, not on sampling luck."""
    import torch

    device = next(model.parameters()).device
    answers: list[str] = []
    previous_side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # decoder-only generation continues from the right edge
    try:
        for start in range(0, len(prompts), batch_size):
            texts = [
                tokenizer.apply_chat_template(list(p), tokenize=False, add_generation_prompt=True)
                for p in prompts[start : start + batch_size]
            ]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.no_grad():
                output = model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                )
            new_tokens = output[:, batch["input_ids"].shape[1] :]
            answers.extend(t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = previous_side
    return answers


def save_checkpoint(
    peft_model: Any, tokenizer: PreTrainedTokenizerBase, out_dir: Path, *, step: int, trained: bool
) -> tuple[Path, Path]:
    """Write `adapter/` and the merged weights of training step `step` under out_dir; returns both paths.

    `trained`: whether this run changed the weights. If not (a resumed, finished run) and the step's merged
    folder exists, it already holds these weights and is reused. Merging folds the adapter into the base weights
    in place, so `peft_model` is spent afterwards."""
    out_dir = Path(out_dir)
    adapter = out_dir / ADAPTER_DIR
    peft_model.save_pretrained(str(adapter))
    tokenizer.save_pretrained(str(adapter))
    merged = out_dir / f"{MERGED_PREFIX}{step}"
    if merged.is_dir() and not trained:
        return adapter, merged
    suffix = 1
    while merged.exists():  # retrained to the same step: new weights, new folder
        suffix += 1
        merged = out_dir / f"{MERGED_PREFIX}{step}-{suffix}"
    partial = out_dir / f"{merged.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    plain = peft_model.merge_and_unload()
    plain.save_pretrained(str(partial))
    tokenizer.save_pretrained(str(partial))
    partial.rename(merged)
    return adapter, merged


def registered_as(specs: Sequence[ModelSpec], merged_dir: Path) -> str | None:
    """The registered model already serving this folder, if any: a second name for it would split its votes."""
    weights = str(Path(merged_dir).resolve())
    return next((spec.name for spec in specs if spec.weights == weights), None)


def verify_checkpoint(
    merged_dir: Path, device: str = "cpu", prompt: str = "Say hello.", max_new_tokens: int = 8
) -> str:
    """Load the merged folder through the arena's LocalEngine and generate: what serving it will do.

    Raises RuntimeError when it cannot load or produces an error instead of text."""
    from models.backends.local import LocalEngine
    from models.types import ChatMessage, GenerationParams, GenerationRequest

    engine = LocalEngine.load(str(Path(merged_dir).resolve()), device=device)
    request = GenerationRequest(
        messages=(ChatMessage("user", prompt),),
        params=GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0),
    )
    text, error = "", None
    for chunk in engine.stream(request):
        text += chunk.text
        if chunk.finish_reason == "error":
            error = chunk.error
    if error is not None:
        raise RuntimeError(f"checkpoint {merged_dir} loads but fails to generate: {error}")
    return text


def base_contender(specs: Sequence[ModelSpec], base_weights: str, preferred: str | None = None) -> ModelSpec | None:
    """The registered contender the new checkpoint should decode like, so the arena compares training, not
    decoding: the one named `preferred`, else the first enabled local contender on the same base weights."""
    if preferred is not None:
        for spec in specs:
            if spec.name == preferred:
                return spec
        raise ValueError(f"no registered model named {preferred!r} to take decoding settings from")
    for spec in specs:
        if spec.enabled and spec.backend == "local" and spec.weights == base_weights and spec.quantization == "none":
            return spec
    return None


def contender_spec(
    merged_dir: Path, *, like: ModelSpec | None, description: str, provenance: str, prefix: str
) -> ModelSpec:
    """A local, anonymous contender serving `merged_dir`; named `<prefix>-v0` until storage assigns the version.
    `like` is the base's contender: the new one decodes like it and names it as its base."""
    return ModelSpec(
        name=f"{prefix}-v0",
        backend="local",
        weights=str(Path(merged_dir).resolve()),
        generation=like.generation if like is not None else DecodingConfig(),
        system_prompt=like.system_prompt if like is not None else None,
        description=description,
        anonymous=True,
        enabled=True,
        provenance=provenance,
        base=like.name if like is not None else None,
    )


def contender_prefix(prefix: str, base_model: str | Path, kind: str) -> str:
    """The name a new contender is registered under (`<prefix>-v<N>`): the recipe's, or else the base model's
    name, without its chat-tuning suffix, and the kind of training: "embedded" -> smollm2-135m-rlhf, a hub id
    "Qwen/Qwen2.5-0.5B-Instruct" or a folder of that name -> qwen2.5-0.5b-rlhf."""
    if prefix:
        return prefix
    base = "smollm2-135m" if str(base_model) == "embedded" else Path(str(base_model).rstrip("/")).name
    slug = re.sub(r"[^a-z0-9._-]+", "-", base.lower()).strip("-._")
    slug = re.sub(r"[-_.](?:instruct|chat|it)$", "", slug)[:96] or "model"
    return f"{slug}-{kind}"


def weights_label(base_model: str) -> str:
    """The registry's `weights` value of a recipe's base_model."""
    return EMBEDDED_WEIGHTS if base_model == "embedded" else str(Path(base_model).resolve())


def compare_to_base(
    peft_model: Any,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Messages],
    scorer: Any,
    *,
    max_new_tokens: int,
    bootstrap_samples: int = 1000,
    seed: int = 0,
    min_prompts: int = 10,
    level: float = 0.95,
    non_inferiority_margin: float = 0.1,
) -> dict[str, Any]:
    """The policy gate: answer held-out prompts with the base (adapter disabled) and with the policy, score both
    with the reward model, and pass when the mean reward gain, paired per prompt, has the lower bound of its
    bootstrap interval above zero, on at least `min_prompts` prompts. A mean that is merely higher is noise on
    four prompts. With two goals (`scorer` a training.two_goals.TwoGoalScorer) the gain is the combined reward's,
    and each goal must also be non-inferior (`non_inferiority_margin` standard deviations; training.two_goals).

    One model in memory: the base is the same weights with the LoRA adapter switched off."""
    from training.reward import bootstrap_ci

    was_training = peft_model.training
    peft_model.eval()
    try:
        with peft_model.disable_adapter():
            base_answers = generate_answers(peft_model, tokenizer, prompts, max_new_tokens)
        policy_answers = generate_answers(peft_model, tokenizer, prompts, max_new_tokens)
    finally:
        peft_model.train(was_training)
    base_conversations = [[*p, {"role": "assistant", "content": a}] for p, a in zip(prompts, base_answers, strict=True)]
    policy_conversations = [
        [*p, {"role": "assistant", "content": a}] for p, a in zip(prompts, policy_answers, strict=True)
    ]
    goals = None
    if hasattr(scorer, "score_parts"):  # two goals: each reward model scores once, the combination is computed
        from training.two_goals import goal_gains

        base_parts, policy_parts = scorer.score_parts(base_conversations), scorer.score_parts(policy_conversations)
        base_scores, policy_scores = scorer.combined(base_parts), scorer.combined(policy_parts)
        goals = goal_gains(
            base_parts,
            policy_parts,
            margin_sd=non_inferiority_margin,
            samples=bootstrap_samples,
            seed=seed,
            level=level,
        )
    else:
        base_scores = scorer.score_conversations(base_conversations)
        policy_scores = scorer.score_conversations(policy_conversations)
    n = len(prompts)
    gaps = [p - b for p, b in zip(policy_scores, base_scores, strict=True)]
    outcomes = [1.0 if g > 0 else 0.5 if g == 0 else 0.0 for g in gaps]
    base_mean = sum(base_scores) / n if n else None
    policy_mean = sum(policy_scores) / n if n else None
    low, high = bootstrap_ci(gaps, bootstrap_samples, seed, level)
    gained = bool(n >= min_prompts and n and low > 0)
    worse = [goal for goal, g in (goals or {}).items() if not g["non_inferior"]]
    passed = gained and not worse
    if n < min_prompts:
        verdict = f"not enough evidence: {n} held-out prompts, fewer than the {min_prompts} the gate asks for"
    elif not gained:
        verdict = f"not enough evidence: reward gain {sum(gaps) / n:+.3f} [{low:+.3f}, {high:+.3f}] includes no gain"
    elif worse:
        verdict = f"the combined reward gains, but {' and '.join(worse)} may have got worse: " + "; ".join(
            goals[goal]["verdict"]
            for goal in worse  # type: ignore[index]
        )
    else:
        verdict = f"the policy gains {sum(gaps) / n:+.3f} reward [{low:+.3f}, {high:+.3f}] over its base"
    rule = (
        f"the policy's reward gain over its base on held-out prompts (greedy answers), paired per prompt, has the "
        f"lower bound of its {level:.0%} bootstrap interval above zero, on at least {min_prompts} prompts"
    )
    if goals is not None:
        rule += (
            f"; and for each goal (helpfulness, harmlessness) the lower bound of its own gain is above minus "
            f"{non_inferiority_margin:g} standard deviations of its rewards on the base answers (neither gets worse)"
        )
    return {
        "prompts": n,
        "max_new_tokens": max_new_tokens,
        "base_mean_reward": base_mean,
        "policy_mean_reward": policy_mean,
        "mean_reward_gain": policy_mean - base_mean if n else None,
        "mean_reward_gain_ci95": [low, high] if n else None,
        "policy_win_rate": sum(outcomes) / n if n else None,  # ties (same answer) half
        "identical_answers": sum(a == b for a, b in zip(base_answers, policy_answers, strict=True)),
        "gate": {
            "passed": passed,
            "verdict": verdict,
            "rule": rule,
        },
        **({"goals": goals} if goals is not None else {}),
        "examples": [
            {"prompt": p[-1]["content"], "base": b, "policy": a}
            for p, b, a in list(zip(prompts, base_answers, policy_answers, strict=True))[:3]
        ],
    }
