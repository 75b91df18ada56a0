"""Supervised fine-tuning: TRL SFTTrainer with a LoRA adapter on instruction or chat records, then a contender.

    python -m training.sft --recipe cpu-smoke --records self_instruct.jsonl --out runs/sft --register

Inputs (both may be given; they are concatenated):
- `--records`: Self-Instruct lines {"instruction", "input" (optional), "output"}; the user turn is the instruction,
  followed by a blank line and the input when there is one, and the assistant turn is the output.
- `--chat`: {"messages": [...]} lines with roles system / user / assistant ending with an assistant message; that
  last message is the answer trained on, everything before it is the prompt.

Both become TRL's conversational prompt-completion format, so `completion_only_loss` learns the answers only.
`sft.eval_fraction` of the records is held out by a hash of (seed, first user message), as for the vote pairs,
so one prompt is never on both sides. Stages run in order: config, data, model, train, evaluate, save; training
resumes from the last checkpoint in --out. The run ends with `adapter/`, `merged-step<N>/` (checked to load and
generate through the arena's own engine) and report.json in --out, a row in the database's training runs, and with
--register a new anonymous contender `<prefix>-v<N>` (sft.contender_prefix, or the base model's name + "-sft")
serving that folder, when the gates pass: the held-out answer loss must fall with confidence (paired per example,
intervals resampling prompts, at least sft.gate_min_examples examples: a checkpoint that answers like its base is
not a new contender), and with --reward-model the tuned model must also beat its base by reward on held-out
prompts. `--force-register --reason "..."` registers a checkpoint that serves anyway, the reason stored.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facts.json_safe import dumps
from settings import Settings
from training.data import first_message_in_eval
from training.recipes import Recipe, RecipeError, SFTRecipe, load_recipe, resolve_device
from training.resume import last_checkpoint, train_or_resume
from training.reward import REPORT_FILE, is_hub_id, load_tokenizer, resolve_base_model
from training.runs import (
    RunReport,
    add_common_arguments,
    add_force_register_arguments,
    forced_reason,
    seed_everything,
    stage,
    trainer_arguments,
)

if TYPE_CHECKING:
    from models.registry import ModelSpec
    from store import Store

log = logging.getLogger(__name__)

Message = dict[str, str]
Example = dict[str, Any]  # {"prompt": [messages], "completion": [assistant message], "source": "file:line"}

ROLES = ("system", "user", "assistant")
GATE_RULE = (
    "the merged checkpoint loads and generates through the arena's engine; the held-out answer loss falls with "
    "confidence (the paired interval of base minus tuned loss per example, resampling prompts, above zero on at "
    "least sft.gate_min_examples examples); with --reward-model, the tuned model's reward gain over its base on "
    "held-out prompts has its interval above zero; registered only with --register, or --force-register --reason"
)


class RecordError(ValueError):
    """A record that cannot be trained on; the message names file:line."""


# ------------------------------------------------------------------------------------------------------
# Records
# ------------------------------------------------------------------------------------------------------


def _text(value: Any, name: str, where: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"{where}: {name} must be a string, got {type(value).__name__}")
    return value


def from_self_instruct(record: Any, where: str) -> Example:
    """A Self-Instruct record as a prompt-completion example."""
    if not isinstance(record, dict):
        raise RecordError(f"{where}: expected a JSON object, got {type(record).__name__}")
    missing = [key for key in ("instruction", "output") if key not in record]
    if missing:
        raise RecordError(f"{where}: missing {', '.join(missing)}")
    instruction = _text(record["instruction"], "instruction", where).strip()
    extra = _text(record.get("input") or "", "input", where).strip()
    output = _text(record["output"], "output", where)
    if not instruction:
        raise RecordError(f"{where}: empty instruction")
    if not output.strip():
        raise RecordError(f"{where}: empty output (nothing to learn)")
    content = f"{instruction}\n\n{extra}" if extra else instruction
    return {
        "prompt": [{"role": "user", "content": content}],
        "completion": [{"role": "assistant", "content": output}],
        "source": where,
    }


def from_chat(record: Any, where: str) -> Example:
    """A chat record as a prompt-completion example: its last (assistant) message is the completion."""
    if not isinstance(record, dict):
        raise RecordError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if "messages" not in record:
        raise RecordError(f"{where}: missing messages")
    messages = record["messages"]
    if not isinstance(messages, list) or not messages:
        raise RecordError(f"{where}: messages must be a non-empty list")
    clean: list[Message] = []
    for index, message in enumerate(messages):
        at = f"{where}: message {index}"
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise RecordError(f"{at}: expected an object with role and content")
        role, content = message["role"], _text(message["content"], "content", at)
        if role not in ROLES:
            raise RecordError(f"{at}: role {role!r} is not one of {', '.join(ROLES)}")
        if role == "system" and index != 0:
            raise RecordError(f"{at}: a system message may only come first")
        clean.append({"role": role, "content": content})
    if clean[-1]["role"] != "assistant":
        raise RecordError(f"{where}: the last message must be the assistant's answer, got role {clean[-1]['role']!r}")
    if not clean[-1]["content"].strip():
        raise RecordError(f"{where}: empty output: the last assistant message has no text")
    # The held-out split hashes the first user message, and a chat template needs one to answer.
    if not any(m["role"] == "user" for m in clean[:-1]):
        raise RecordError(f"{where}: no user message before the answer")
    return {"prompt": clean[:-1], "completion": [clean[-1]], "source": where}


def read_examples(path: Path, kind: str) -> list[Example]:
    """Examples from a JSONL file of `kind` "records" (Self-Instruct) or "chat"; blank lines are skipped."""
    convert = from_self_instruct if kind == "records" else from_chat
    examples = []
    # split("\n"), not splitlines(): a JSON string may hold U+2028 or U+0085, which splitlines() would break on.
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{where}: not JSON ({exc})") from exc
        examples.append(convert(record, where))
    return examples


def first_user_message(example: Example) -> str:
    return next(m["content"] for m in example["prompt"] if m["role"] == "user")


def split_examples(examples: Sequence[Example], eval_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """(train, held out), by a hash of the first user message: the same prompt always lands on the same side."""
    train, held_out = [], []
    for example in examples:
        in_eval = first_message_in_eval(first_user_message(example), eval_fraction, seed)
        (held_out if in_eval else train).append(example)
    return train, held_out


def check_split(train: Sequence[Example], held_out: Sequence[Example], sft: SFTRecipe) -> None:
    """Refuse a split that cannot train (fewer than 2 records) or cannot be evaluated (none held out)."""
    if len(train) >= 2 and held_out:
        return
    total = len(train) + len(held_out)
    if sft.eval_fraction <= 0:
        change = "set sft.eval_fraction above 0"
    elif not held_out:
        change = f"add records with other prompts or raise sft.eval_fraction (now {sft.eval_fraction})"
    else:
        change = f"add records or lower sft.eval_fraction (now {sft.eval_fraction})"
    raise RecordError(
        f"too few records: {total} given, {len(train)} for training and {len(held_out)} held out "
        f"(sft.eval_fraction {sft.eval_fraction}, seed {sft.seed}); at least 2 training and 1 held-out record are "
        f"needed: {change}"
    )


def _dataset(examples: Sequence[Example]) -> Any:
    from datasets import Dataset

    # Only the columns SFTTrainer reads: extra ones would ride along into tokenization.
    return Dataset.from_list([{"prompt": e["prompt"], "completion": e["completion"]} for e in examples])


# ------------------------------------------------------------------------------------------------------
# Training pipeline
# ------------------------------------------------------------------------------------------------------


@dataclass
class SFTRunReport(RunReport):
    checkpoint: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)
    registration: dict[str, Any] = field(default_factory=dict)


def training_args(sft: SFTRecipe, out_dir: Path, device: str) -> Any:
    from trl import SFTConfig

    return SFTConfig(
        **trainer_arguments(sft, out_dir, device),
        max_length=sft.max_length,
        completion_only_loss=sft.completion_only_loss,
        packing=False,  # packed examples attend to each other unless attention is padding-free (flash attention)
        per_device_eval_batch_size=sft.per_device_train_batch_size,
        eval_strategy="no",  # evaluated once at the end, for the base and the tuned model alike
    )


def held_out_loss(trainer: Any, prefix: str) -> dict[str, Any]:
    """Loss on the held-out answers (TRL: per-batch mean answer-token NLL, averaged over examples)."""
    metrics = trainer.evaluate(metric_key_prefix=prefix)
    loss = float(metrics[f"{prefix}_loss"])
    return {
        "loss": loss,
        "perplexity": math.exp(loss) if loss < 700 else math.inf,
        "seconds": metrics.get(f"{prefix}_runtime"),
    }


def example_losses(model: Any, tokenizer: Any, examples: Sequence[Example], max_length: int) -> list[float | None]:
    """Each held-out example's mean answer-token NLL, as completion_only_loss trains it (None when no answer token
    fits max_length): the per-example figures the loss gate pairs between base and tuned model."""
    import torch

    device = next(model.parameters()).device
    losses: list[float | None] = []
    for example in examples:
        prompt = tokenizer.apply_chat_template(
            list(example["prompt"]), add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
        full = tokenizer.apply_chat_template(
            [*example["prompt"], *example["completion"]], tokenize=True, return_dict=True
        )["input_ids"][:max_length]
        labels = [-100] * min(len(prompt), len(full)) + list(full[len(prompt) :])
        if all(label == -100 for label in labels[1:]):
            losses.append(None)
            continue
        with torch.no_grad():
            output = model(input_ids=torch.tensor([full], device=device), labels=torch.tensor([labels], device=device))
        losses.append(float(output.loss))
    return losses


def loss_evidence(
    examples: Sequence[Example],
    base: Sequence[float | None],
    tuned: Sequence[float | None],
    *,
    min_examples: int,
    level: float,
    seed: int = 0,
    min_prompts: int = 1,
) -> dict[str, Any]:
    """Did the held-out answer loss fall with confidence? Paired per example (base - tuned, positive is better),
    intervals resampling prompts (training.evidence): an SFT run that answers like its base changes nothing."""
    from training.evidence import mean_interval

    kept = [(e, b, t) for e, b, t in zip(examples, base, tuned, strict=True) if b is not None and t is not None]
    result: dict[str, Any] = {"examples": len(kept), "min_examples": min_examples, "level": level}
    if not kept:
        return result | {"passed": False, "verdict": "not enough evidence: no held-out example to compare"}
    gains = [b - t for _, b, t in kept]
    interval = mean_interval(gains, seed=seed, level=level, groups=[first_user_message(e) for e, _, _ in kept])
    result["loss_decrease"] = interval.to_dict()
    prompts = len({first_user_message(e) for e, _, _ in kept})
    where = f"({level:.0%} paired interval over {len(kept)} held-out examples, {prompts} prompts)"
    if len(kept) < min_examples:
        verdict = f"not enough evidence: {len(kept)} held-out examples, fewer than the {min_examples} the gate asks for"
    elif prompts < min_prompts:
        verdict = f"not enough evidence: held-out examples under only {prompts} prompts, fewer than {min_prompts}"
    elif not interval.low > 0:
        verdict = f"not enough evidence: held-out answer loss fell by {interval.text(signed=True)} {where}"
    else:
        verdict = f"the tuned model fits held-out answers better: loss down {interval.text(signed=True)} {where}"
    passed = len(kept) >= min_examples and prompts >= min_prompts and interval.low > 0
    return result | {"passed": passed, "verdict": verdict}


def decide_gate(
    verified: bool, comparison: Mapping[str, Any] | None, loss: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """SFT must serve, fit held-out answers better than its base with confidence, and beat its base by reward when
    a reward model is given."""
    reasons = []
    if not verified:
        reasons.append("the merged checkpoint does not generate through the arena's engine")
    if loss is not None and not loss["passed"]:
        reasons.append(f"held-out answer loss: {loss['verdict']}")
    if comparison is not None and not comparison["gate"]["passed"]:
        reasons.append("the reward model does not prefer the tuned model to its base on held-out prompts")
    return {"passed": not reasons, "rule": GATE_RULE, "failed_because": reasons}


def run_sft(
    recipe: Recipe,
    examples: Sequence[Example],
    out_dir: Path,
    *,
    store: Store | None = None,
    register: bool = False,
    like: ModelSpec | None = None,
    device: str | None = None,
    base_model: Path | str | None = None,
    model_cache_dir: Path | None = None,
    reward_model: Path | None = None,
    resume: bool = True,
    forced: str | None = None,
) -> dict[str, Any]:
    """Run every stage, record the run in `store` (registering the contender when asked and the gate passes, or
    when `forced` gives the operator's reason to register anyway) and write `<out_dir>/report.json` last; returns
    the report."""
    from peft import PeftModel
    from trl import SFTTrainer

    from store import NewTrainingRun
    from training.checkpoints import (
        causal_lora_config,
        compare_to_base,
        contender_prefix,
        contender_spec,
        load_causal_lm,
        registered_as,
        save_checkpoint,
        verify_checkpoint,
    )

    started_at = datetime.now(UTC)
    out_dir = Path(out_dir)
    report = SFTRunReport(recipe=recipe.name, device="", base_model="", out_dir=str(out_dir))

    with stage(report, "config"):
        sft = recipe.require_sft()
        report.device = resolve_device(recipe, device)
        base_name = str(base_model) if base_model else sft.base_model
        folder = Path(base_model) if base_model else resolve_base_model(sft.base_model, model_cache_dir)
        report.base_model = str(folder)
        out_dir.mkdir(parents=True, exist_ok=True)
        args = training_args(sft, out_dir, report.device)

    with stage(report, "data"):
        train, held_out = split_examples(examples, sft.eval_fraction, sft.seed)
        check_split(train, held_out, sft)
        tokenizer = load_tokenizer(folder)
        report.data = {
            "records": len(examples),
            "train_records": len(train),
            "eval_records": len(held_out),
            "eval_fraction": sft.eval_fraction,
            "max_length": sft.max_length,
            "completion_only_loss": sft.completion_only_loss,
        }

    with stage(report, "model"):
        seed_everything(sft.seed)  # LoRA weights are initialised before the Trainer seeds
        model = load_causal_lm(folder, report.device)
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=_dataset(train),
            eval_dataset=_dataset(held_out),
            processing_class=tokenizer,
            peft_config=causal_lora_config(sft),
        )
        # TRL truncates to max_length and drops examples whose answer is cut off entirely: count them.
        report.data["dropped_no_answer_within_max_length"] = {
            "train": len(train) - len(trainer.train_dataset),
            "eval": len(held_out) - len(trainer.eval_dataset),
        }
        if not len(trainer.train_dataset) or not len(trainer.eval_dataset):
            raise RecordError(
                f"no answer token fits sft.max_length={sft.max_length} in the "
                f"{'training' if not len(trainer.train_dataset) else 'held-out'} records: raise sft.max_length"
            )
        peft_model: PeftModel = trainer.model

    with stage(report, "train"):
        if resume and (checkpoint := last_checkpoint(out_dir)):
            log.info("resuming from %s", checkpoint)
        report.training = train_or_resume(trainer, out_dir, sft.max_steps, resume)
    if not trainer.accelerator.is_main_process:
        # Under `accelerate launch` every process trains; one evaluates, saves and records.
        return {**report.to_json(), "main_process": False}

    with stage(report, "evaluate"):
        peft_model.eval()
        with peft_model.disable_adapter():
            base = held_out_loss(trainer, "base")
        tuned = held_out_loss(trainer, "tuned")
        with peft_model.disable_adapter():
            base_losses = example_losses(peft_model, tokenizer, held_out, sft.max_length)
        tuned_losses = example_losses(peft_model, tokenizer, held_out, sft.max_length)
        report.evaluation = {
            "eval_records": len(trainer.eval_dataset),
            "base": base,
            "tuned": tuned,
            "loss_change": tuned["loss"] - base["loss"],
            "loss_improved": tuned["loss"] < base["loss"],
            "loss_evidence": loss_evidence(
                held_out,
                base_losses,
                tuned_losses,
                min_examples=sft.gate_min_examples,
                level=sft.gate_level,
                seed=sft.seed,
                min_prompts=sft.gate_min_prompts,
            ),
        }
        if reward_model is not None:
            from training.reward import RewardScorer

            scorer = RewardScorer.load(reward_model, device=report.device)
            # One answer per prompt: a prompt held out with several answers would count several times.
            unique = {json.dumps(e["prompt"], sort_keys=True): e["prompt"] for e in held_out}
            prompts = list(unique.values())[: sft.eval_prompts]
            comparison = compare_to_base(
                peft_model, tokenizer, prompts, scorer, max_new_tokens=sft.eval_max_new_tokens, seed=sft.seed
            )
            report.evaluation["reward_model"] = str(reward_model)
            report.evaluation["compare_to_base"] = comparison

    with stage(report, "save"):
        adapter, merged = save_checkpoint(
            peft_model,
            tokenizer,
            out_dir,
            step=report.training["global_step"],
            trained=bool(report.training["steps_this_run"]),
        )
        report.checkpoint = {"adapter": str(adapter), "merged": str(merged)}
        try:
            report.checkpoint["verify_sample"] = verify_checkpoint(merged, device=report.device)
            report.checkpoint["verified"] = True
        except RuntimeError as exc:
            report.checkpoint["verified"] = False
            report.checkpoint["verify_error"] = str(exc)

    report.gate = decide_gate(
        report.checkpoint["verified"], report.evaluation.get("compare_to_base"), report.evaluation["loss_evidence"]
    )
    reasons = report.gate["failed_because"]
    # A forced registration still needs a checkpoint that serves: that is not a judgement call.
    forced_past = bool(forced) and report.checkpoint["verified"]

    spec = None
    registration: dict[str, Any] = {
        "requested": register,
        "registered_model": None,
        "forced": forced_past and bool(reasons),
        "reason": forced if forced_past and reasons else None,
    }
    if register and (not reasons or forced_past) and store is not None:
        existing = registered_as(store.registry.models(enabled_only=False), merged)
        if existing is not None:
            # A resumed, finished run reuses its merged folder: a second name for it would split its votes.
            registration["note"] = f"{merged.name}/ is already registered as {existing!r}; not registered again"
            registration["already_registered_as"] = existing
        else:
            spec = contender_spec(
                merged,
                like=like,
                description=(
                    f"SFT (LoRA) on {len(train)} instruction/chat records; held-out answer loss "
                    f"{report.evaluation['base']['loss']:.3f} (base) -> {report.evaluation['tuned']['loss']:.3f}"
                ),
                provenance=f"SFT with recipe {recipe.name} on base {base_name}; run folder {out_dir.resolve()}"
                + (f"; registered without passing its gates: {forced}" if registration["forced"] else ""),
                prefix=contender_prefix(sft.contender_prefix, base_name, "sft"),
            )
            registration["decoding_from"] = like.name if like is not None else None
    elif register and reasons:
        registration["note"] = "gate not passed: kept in --out, not registered"

    if store is not None:
        run = store.training_runs.record(
            NewTrainingRun(
                kind="sft",
                method="sft",
                recipe=recipe.name,
                out_dir=str(out_dir.resolve()),
                gate_passed=report.gate["passed"],
                report=report.to_json(),
                started_at=started_at,
            ),
            register=spec,
            version_prefix=contender_prefix(sft.contender_prefix, base_name, "sft") if spec is not None else None,
        )
        registration.update(run_id=run.id, registered_model=run.registered_model)
    report.registration = registration
    # Written last: a report.json means a complete checkpoint and a stored run.
    (out_dir / REPORT_FILE).write_text(dumps(report.to_json(), indent=2) + "\n")
    return report.to_json()


# ------------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.sft", description=__doc__.splitlines()[0])
    add_common_arguments(parser, "run folder: checkpoints, adapter/, merged-step<N>/, report.json")
    parser.add_argument("--records", type=Path, help="JSONL of Self-Instruct records (instruction, input, output)")
    parser.add_argument("--chat", type=Path, help='JSONL of chat records {"messages": [...]} ending with the answer')
    parser.add_argument("--reward-model", type=Path, help="reward adapter from training.reward: adds a reward gate")
    parser.add_argument("--register", action="store_true", help="register the checkpoint when the gates pass")
    add_force_register_arguments(parser)
    parser.add_argument("--like", help="registered model whose decoding settings the new contender takes")
    return parser


def _check_inputs(args: argparse.Namespace, sft: SFTRecipe) -> list[Example]:
    """Everything that can be checked without a model, so bad input fails in a second, not after loading."""
    base = args.base_model or (sft.base_model if sft.base_model != "embedded" else None)
    if base is not None and not is_hub_id(str(base)) and not (Path(base) / "config.json").is_file():
        raise FileNotFoundError(f"base model folder {base} does not exist or has no config.json (nor is it a hub id)")
    if args.reward_model is not None and not (args.reward_model / "adapter_config.json").is_file():
        raise FileNotFoundError(f"--reward-model {args.reward_model} is not a reward adapter (no adapter_config.json)")
    if args.records is None and args.chat is None:
        raise RecordError("no records given: pass --records FILE.jsonl (Self-Instruct) and/or --chat FILE.jsonl")
    examples = []
    if args.records is not None:
        examples += read_examples(args.records, "records")
    if args.chat is not None:
        examples += read_examples(args.chat, "chat")
    check_split(*split_examples(examples, sft.eval_fraction, sft.seed), sft)
    return examples


def main(argv: Sequence[str] | None = None, *, echo: Callable[[str], None] = print) -> int:
    from store import StoreError
    from training.checkpoints import base_contender, weights_label
    from training.from_votes import open_store

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    store = None
    try:
        settings = Settings()  # the app's settings fill what the command line leaves out
        # Everything that can be wrong with the request is checked before any model loads.
        forced = forced_reason(args)
        recipe = load_recipe(args.recipe)
        sft = recipe.require_sft()
        resolve_device(recipe, args.device)
        examples = _check_inputs(args, sft)
        store = open_store(args.db, settings)
        like = base_contender(
            store.registry.models(enabled_only=False),
            weights_label(args.base_model or sft.base_model),
            preferred=args.like,
        )
        report = run_sft(
            recipe,
            examples,
            args.out,
            store=store,
            register=args.register or args.force_register,
            forced=forced,
            like=like,
            device=args.device,
            base_model=args.base_model,
            model_cache_dir=args.model_cache or settings.resolved_model_cache_dir,
            reward_model=args.reward_model,
            resume=not args.no_resume,
        )
    except (RecipeError, ValueError, OSError, StoreError) as exc:
        echo(f"error: {exc}")
        return 2
    finally:
        if store is not None:
            store.dispose()
    if report.get("main_process") is False:
        return 0
    evaluation, registration = report["evaluation"], report["registration"]
    echo(
        f"held-out answer loss {evaluation['base']['loss']:.4f} (base) -> {evaluation['tuned']['loss']:.4f} (tuned), "
        f"perplexity {evaluation['base']['perplexity']:.2f} -> {evaluation['tuned']['perplexity']:.2f}"
    )
    echo(f"evidence: {evaluation['loss_evidence']['verdict']}")
    if registration["registered_model"]:
        how = f" (forced: {registration['reason']})" if registration.get("forced") else ""
        echo(f"registered {registration['registered_model']}{how}: it enters anonymous battles now")
    elif args.register or args.force_register:
        reason = registration.get("note") or "; ".join(report["gate"]["failed_because"])
        echo(f"not registered ({reason}); checkpoint kept in {report['checkpoint']['merged']}")
    echo(f"report: {Path(args.out) / REPORT_FILE} (training run {registration.get('run_id')})")
    # A checkpoint that cannot serve is a failed run even though it was recorded.
    return 0 if report["checkpoint"]["verified"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
