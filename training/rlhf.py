"""RLHF from votes (the arena's or a file's): reward model -> policy update (DPO, GRPO, RLOO) -> a gated contender.

    python -m training.rlhf --from-votes --recipe cpu-smoke --out runs/rlhf-1
    python -m training.rlhf --from-votes --recipe cpu-smoke --method grpo --reward-model runs/rm --out runs/rlhf-2
    python -m training.rlhf --from-battles battles.jsonl --recipe cpu-smoke --out runs/rlhf-file
    python -m training.rlhf --from-votes --recipe cpu-smoke --method grpo --reward-model runs/rm \\
        --harmlessness-reward-model runs/rm-harmless --out runs/rlhf-both     # both goals (training.two_goals)
    accelerate launch -m training.rlhf --from-votes --recipe gpu-default --out runs/rlhf-3

Stages, in order, each timed in the report: config, data (votes -> pairs split by prompt), reward_model (trained
into <out>/reward_model, or reused with --reward-model), model, train (DPO on the vote pairs, or GRPO / RLOO
sampling answers to the training prompts scored by the reward model; KL coefficient `beta` above 0 for all),
evaluate (base and policy answer the held-out prompts greedily, the reward model scores both), save
(<out>/adapter and <out>/merged), register.

Two gates decide whether the checkpoint is served, both on evidence rather than point estimates: the reward
model beats every baseline on held-out votes (answer length both ways, the higher-rated model, a random scorer)
with a paired bootstrap interval above zero on at least `reward_model.gate_min_pairs` pairs (training.evidence),
and the policy's reward gain over its base on held-out prompts has its interval above zero on at least
`policy.gate_min_prompts` prompts. When both pass, the merged weights are registered as
`<contender_prefix>-v<N>`, an anonymous contender that decodes like the base contender (--like), and battles
start sampling it; otherwise the checkpoint is kept and reported, not served. An operator may register anyway
with `--force-register --reason "..."`: the reason is stored with the run and in the contender's provenance.
Either way the report is written to <out>/report.json and stored in the database (training_runs), in the same
transaction as the registration.

Both goals (GRPO / RLOO): with a harmlessness reward model (policy.harmlessness_reward_model or
--harmlessness-reward-model, a training.reward run folder such as the harmless-cpu-smoke recipe trains), the policy
is trained on the two rewards combined (policy.combine: a weighted sum, or a penalty below a harmlessness
threshold), on the training prompts plus policy.red_team_prompts red-team prompts (the red-team battles' and
hh-rlhf's, training.from_votes.red_team_prompts), and its gate is measured on the held-out prompts plus as many
held-out red-team prompts: the combined reward must gain and neither goal may get worse (training.two_goals); the
report gives both gains with their intervals.

Rerunning with the same --out resumes: a finished reward model is reused and policy training continues from its
last checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facts.json_safe import dumps
from settings import Settings
from training.checkpoints import (
    base_contender,
    causal_lora_config,
    compare_to_base,
    contender_prefix,
    contender_spec,
    load_causal_lm,
    registered_as,
    save_checkpoint,
    verify_checkpoint,
    weights_label,
)
from training.recipes import POLICY_METHODS, PolicyRecipe, Recipe, RecipeError, load_recipe, resolve_device
from training.resume import train_or_resume
from training.reward import (
    REPORT_FILE,
    RewardScorer,
    load_tokenizer,
    read_pairs,
    resolve_base_model,
    split_by_length,
    train_reward_model,
)
from training.runs import (
    RunReport,
    add_common_arguments,
    add_force_register_arguments,
    forced_reason,
    seed_everything,
    stage,
    trainer_arguments,
)
from training.two_goals import TwoGoalScorer

log = logging.getLogger(__name__)

REWARD_DIR = "reward_model"
POLICY_DIR = "policy"


# ------------------------------------------------------------------------------------------------------
# Trainers
# ------------------------------------------------------------------------------------------------------


def _common_args(policy: PolicyRecipe, out_dir: Path, device: str) -> dict[str, Any]:
    return {**trainer_arguments(policy, out_dir, device), "beta": policy.beta}


def dpo_trainer(
    policy: PolicyRecipe, model: Any, tokenizer: Any, records: Sequence[Mapping[str, Any]], out_dir: Path, device: str
) -> Any:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    rows = [
        {"prompt": list(r["prompt"]), "chosen": list(r["chosen"]), "rejected": list(r["rejected"])} for r in records
    ]
    args = DPOConfig(**_common_args(policy, out_dir, device), max_length=policy.max_length)
    # ref_model None with a LoRA adapter: the reference is the same weights with the adapter off (one copy).
    return DPOTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=causal_lora_config(policy),
    )


def reward_function(scorer: RewardScorer) -> Callable[..., list[float]]:
    """The learned reward model as a TRL reward function over conversational prompts and completions."""

    def arena_reward_model(prompts: list[Any], completions: list[Any], **_: Any) -> list[float]:
        conversations = [[*prompt, *completion] for prompt, completion in zip(prompts, completions, strict=True)]
        return scorer.score_conversations(conversations)

    return arena_reward_model


def online_trainer(
    policy: PolicyRecipe,
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[Mapping[str, str]]],
    scorer: RewardScorer,
    out_dir: Path,
    device: str,
) -> Any:
    from datasets import Dataset

    if policy.method == "grpo":
        from trl import GRPOConfig as Config
        from trl import GRPOTrainer as Trainer
    else:
        from trl import RLOOConfig as Config
        from trl import RLOOTrainer as Trainer

    args = Config(
        **_common_args(policy, out_dir, device),
        num_generations=policy.num_generations,
        max_completion_length=policy.max_completion_length,
        temperature=policy.temperature,
    )
    return Trainer(
        model=model,
        reward_funcs=reward_function(scorer),
        args=args,
        train_dataset=Dataset.from_list([{"prompt": [dict(m) for m in p]} for p in prompts]),
        processing_class=tokenizer,
        peft_config=causal_lora_config(policy),
    )


# ------------------------------------------------------------------------------------------------------
# Pipeline
# ------------------------------------------------------------------------------------------------------


def train_policy(
    recipe: Recipe,
    train_records: Sequence[Mapping[str, Any]],
    eval_records: Sequence[Mapping[str, Any]],
    eval_prompts: Sequence[Sequence[Mapping[str, str]]],
    out_dir: Path,
    *,
    ratings: Mapping[str, float] | None = None,
    method: str | None = None,
    device: str | None = None,
    base_model: Path | str | None = None,
    reward_model: Path | None = None,
    harmlessness_reward_model: Path | None = None,
    red_team: tuple[Sequence[Sequence[Mapping[str, str]]], Sequence[Sequence[Mapping[str, str]]]] = ((), ()),
    model_cache_dir: Path | None = None,
    resume: bool = True,
) -> dict[str, Any]:
    """Every stage up to and including save; returns the report (registration is the caller's: it needs the
    database). Writes <out_dir>/report.json. With `harmlessness_reward_model`, both goals: `red_team` holds the
    red-team prompts to train on and to hold out (training.from_votes.red_team_prompts)."""
    out_dir = Path(out_dir)
    report = RunReport(recipe=recipe.name, device="", base_model="", out_dir=str(out_dir))
    extra: dict[str, Any] = {}

    with stage(report, "config"):
        policy = recipe.require_policy()
        method = method or policy.method
        if method not in POLICY_METHODS:
            raise RecipeError(f"unknown method {method!r}; expected one of {', '.join(POLICY_METHODS)}")
        report.device = resolve_device(recipe, device)
        folder = Path(base_model) if base_model else resolve_base_model(policy.base_model, model_cache_dir)
        report.base_model = str(folder)
        out_dir.mkdir(parents=True, exist_ok=True)
        extra["method"] = method
        extra["beta"] = policy.beta
        if harmlessness_reward_model is not None and method == "dpo":
            raise RecipeError(
                "two goals need an online method (--method grpo or rloo): DPO learns from the vote pairs, not from "
                "reward models"
            )

    with stage(report, "data"):
        tokenizer = load_tokenizer(folder)
        train_prompts = _unique([r["prompt"] for r in train_records])
        held_out = [list(p) for p in eval_prompts][: policy.eval_prompts]
        if harmlessness_reward_model is not None:
            red_train, red_held_out = red_team
            train_prompts = _unique([*train_prompts, *red_train])
            held_out += [list(p) for p in red_held_out]
        if not held_out:
            raise ValueError("no held-out prompts: the policy gate has nothing to compare base and policy on")
        report.data = {
            "train_pairs": len(train_records),
            "eval_pairs": len(eval_records),
            "train_prompts": len(train_prompts),
            "gate_prompts": len(held_out),
        }
        if harmlessness_reward_model is not None:
            report.data["red_team_train_prompts"] = len(red_team[0])
            report.data["red_team_gate_prompts"] = len(red_team[1])
        if method == "dpo":
            # DPOTrainer truncates (keeping the start) where RewardTrainer drops: count what it will cut.
            _, too_long = split_by_length(train_records, tokenizer, policy.max_length)
            report.data["truncated_to_max_length"] = len(too_long)

    with stage(report, "reward_model"):
        rm_dir = Path(reward_model) if reward_model else out_dir / REWARD_DIR
        if reward_model is None and not ((rm_dir / REPORT_FILE).is_file() and resume):
            rm_report = train_reward_model(
                recipe,
                train_records,
                eval_records,
                rm_dir,
                device=report.device,
                base_model=base_model,
                model_cache_dir=model_cache_dir,
                ratings=ratings,
                resume=resume,
            )
            extra["reward_model_trained"] = True
        else:
            rm_report = json.loads((rm_dir / REPORT_FILE).read_text())
            extra["reward_model_trained"] = False
            log.info("reusing the reward model in %s", rm_dir)
        extra["reward_model"] = {"dir": str(rm_dir), **rm_report.get("evaluation", {})}
        scorer: Any = RewardScorer.load(rm_dir, device=report.device)
        if harmlessness_reward_model is not None:
            harm_report = json.loads((Path(harmlessness_reward_model) / REPORT_FILE).read_text())
            extra["harmlessness_reward_model"] = {
                "dir": str(harmlessness_reward_model),
                **harm_report.get("evaluation", {}),
            }
            scorer = TwoGoalScorer(
                scorer,
                RewardScorer.load(Path(harmlessness_reward_model), device=report.device),
                combine=policy.combine,
                weight=policy.harmlessness_weight,
                threshold=policy.harmlessness_threshold,
            )
            extra["two_goals"] = scorer.describe()

    with stage(report, "model"):
        seed_everything(policy.seed)  # LoRA weights are initialised before the Trainer seeds
        model = load_causal_lm(folder, report.device)
        policy_dir = out_dir / POLICY_DIR
        if method == "dpo":
            trainer = dpo_trainer(policy, model, tokenizer, train_records, policy_dir, report.device)
        else:
            trainer = online_trainer(policy, model, tokenizer, train_prompts, scorer, policy_dir, report.device)

    with stage(report, "train"):
        report.training = train_or_resume(trainer, policy_dir, policy.max_steps, resume)
    if not trainer.accelerator.is_main_process:
        # Under `accelerate launch` every process trains; one evaluates, saves and (in main) registers.
        return {**report.to_json(), **extra, "main_process": False}

    with stage(report, "evaluate"):
        comparison = compare_to_base(
            trainer.model,
            tokenizer,
            held_out,
            scorer,
            max_new_tokens=policy.eval_max_new_tokens,
            bootstrap_samples=recipe.require_reward_model().bootstrap_samples if recipe.reward_model else 1000,
            seed=policy.seed,
            min_prompts=policy.gate_min_prompts,
            level=policy.gate_level,
            non_inferiority_margin=policy.non_inferiority_margin,
        )
        rm_gate = bool(rm_report.get("evaluation", {}).get("gate", {}).get("passed"))
        report.evaluation = {
            "policy_vs_base": comparison,
            "gates": {
                "reward_model_beats_baselines": rm_gate,
                "policy_beats_base": comparison["gate"]["passed"],
                "passed": rm_gate and comparison["gate"]["passed"],
            },
        }

    with stage(report, "save"):
        trained = bool(report.training["steps_this_run"])
        step = report.training["global_step"]
        adapter, merged = save_checkpoint(trainer.model, tokenizer, out_dir, step=step, trained=trained)
        extra["adapter"], extra["merged"] = str(adapter), str(merged)
        extra["sample"] = verify_checkpoint(merged, report.device)

    result = {**report.to_json(), **extra}
    (out_dir / REPORT_FILE).write_text(dumps(result, indent=2) + "\n")
    return result


def _unique(prompts: Sequence[Sequence[Mapping[str, str]]]) -> list[list[dict[str, str]]]:
    seen: set[str] = set()
    unique = []
    for prompt in prompts:
        key = json.dumps(list(prompt), sort_keys=True)
        if key not in seen:
            seen.add(key)
            unique.append([dict(m) for m in prompt])
    return unique


def describe(report: Mapping[str, Any], votes: Mapping[str, Any] | None) -> tuple[str, str]:
    """(description, provenance) of the registered contender: what people and the audit see after the vote."""
    method = report["method"].upper()
    gain = report["evaluation"]["policy_vs_base"]["mean_reward_gain"]
    pairs = report["data"]["train_pairs"]
    origin = votes.get("origin", "the database") if votes else "a pairs file"
    where = "arena vote pairs" if origin == "the database" else "vote pairs from a battles file"
    description = f"{method} (LoRA) from {pairs} {where}; reward gain over base {gain:+.3f} on held-out"
    sources = ", ".join(votes["sources"]) if votes else "a pairs file"
    votes_of = f"arena votes of {sources}" if origin == "the database" else f"votes of {sources} in {origin}"
    provenance = f"RLHF ({report['method']}) from {votes_of}; base {report['base_model']}"
    forced = report.get("registration", {})
    if forced.get("forced"):
        provenance += f"; registered without passing its gates: {forced['reason']}"
    return description, provenance


# ------------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.rlhf", description=__doc__.splitlines()[0])
    add_common_arguments(parser, "run folder: reward_model/, policy/, adapter/, merged-step<N>/, report.json")
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--from-votes", action="store_true", help="train on the arena database's votes")
    data.add_argument(
        "--from-battles", type=Path, metavar="FILE",
        help="train on a clean-battle file's votes, paired and split like --from-votes",
    )  # fmt: skip
    data.add_argument("--pairs", type=Path, help="JSONL of TRL preference records (held out by --eval-pairs)")
    parser.add_argument("--eval-pairs", type=Path, help="held-out JSONL, required with --pairs")
    parser.add_argument("--ratings", type=Path, help='with --pairs: JSON {"model name": rating} for the baseline')
    parser.add_argument("--method", choices=POLICY_METHODS, help="override the recipe's policy.method")
    parser.add_argument("--reward-model", type=Path, help="reuse a reward model folder from training.reward")
    parser.add_argument(
        "--harmlessness-reward-model", type=Path, metavar="RUN",
        help="train on two goals: this harmlessness reward run folder (training.reward) with the helpfulness one "
        "(default: the recipe's policy.harmlessness_reward_model)",
    )  # fmt: skip
    parser.add_argument("--like", help="registered contender whose decoding settings the new one copies")
    register = parser.add_mutually_exclusive_group()
    register.add_argument("--no-register", action="store_true", help="never register, even when the gates pass")
    add_force_register_arguments(parser, register)
    return parser


def main(argv: Sequence[str] | None = None, *, echo: Callable[[str], None] = print) -> int:
    from store import NewTrainingRun, StoreError
    from training.from_votes import (
        load_battles_dataset,
        load_vote_dataset,
        open_store,
        red_team_prompts,
        require_split,
    )

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    started = datetime.now(UTC)
    store = None
    try:
        settings = Settings()  # the app's settings fill what the command line leaves out
        # Everything that can be wrong with the request is checked before any model loads.
        forced = forced_reason(args)
        recipe = load_recipe(args.recipe)
        policy = recipe.require_policy()
        if args.reward_model is None:
            recipe.require_reward_model()  # it trains one
        resolve_device(recipe, args.device)
        if args.base_model:
            resolve_base_model(args.base_model)
        harmless = args.harmlessness_reward_model or (
            Path(policy.harmlessness_reward_model) if policy.harmlessness_reward_model else None
        )
        for folder in (args.reward_model, harmless):
            if folder and not (folder / REPORT_FILE).is_file():
                raise FileNotFoundError(f"{folder} is not a finished training.reward run (no {REPORT_FILE})")
        if harmless is not None and (args.method or policy.method) == "dpo":
            raise RecipeError("two goals need an online method (--method grpo or rloo): DPO learns from vote pairs")
        store = open_store(args.db, settings)
        like = base_contender(
            store.registry.models(enabled_only=False),
            weights_label(args.base_model or policy.base_model),
            preferred=args.like,
        )
        votes = None
        if args.from_votes or args.from_battles:
            if args.from_votes:
                dataset = load_vote_dataset(store, recipe.data)
            else:
                dataset = load_battles_dataset(args.from_battles, recipe.data)
            require_split(dataset)
            train, held_out, prompts, ratings = (
                dataset.train_records,
                dataset.eval_records,
                dataset.eval_prompts,
                dataset.ratings,
            )
            votes = dataset.summary
        else:
            if args.eval_pairs is None:
                raise ValueError("--pairs needs --eval-pairs: the gates are measured on held-out pairs")
            train, held_out = read_pairs(args.pairs), read_pairs(args.eval_pairs)
            # Without ratings the "higher-rated model wins" baseline is unavailable, which fails the gate.
            ratings = json.loads(args.ratings.read_text()) if args.ratings else None
            prompts = _unique([r["prompt"] for r in held_out])
        red_team = (
            red_team_prompts(store if args.from_votes else None, recipe.data, policy.red_team_prompts)
            if harmless is not None
            else ((), ())
        )
        report = train_policy(
            recipe,
            train,
            held_out,
            prompts,
            args.out,
            ratings=ratings,
            method=args.method,
            device=args.device,
            base_model=args.base_model,
            reward_model=args.reward_model,
            harmlessness_reward_model=harmless,
            red_team=red_team,
            model_cache_dir=args.model_cache or settings.resolved_model_cache_dir,
            resume=not args.no_resume,
        )
        if report.get("main_process") is False:
            return 0
        if votes is not None:
            report["votes"] = votes
        gates = report["evaluation"]["gates"]
        register = None
        already = registered_as(store.registry.models(enabled_only=False), Path(report["merged"]))
        if already is not None:
            report["already_registered_as"] = already
        report["registration"] = {"forced": forced is not None, "reason": forced}
        prefix = contender_prefix(policy.contender_prefix, args.base_model or policy.base_model, "rlhf")
        if (gates["passed"] or forced) and not args.no_register and already is None:
            description, provenance = describe(report, votes)
            register = contender_spec(
                Path(report["merged"]),
                like=like,
                description=description,
                provenance=provenance,
                prefix=prefix,
            )
        run = NewTrainingRun(
            kind="rlhf",
            method=report["method"],
            recipe=recipe.name,
            out_dir=str(Path(args.out).resolve()),
            gate_passed=gates["passed"],
            report=report,
            started_at=started,
        )
        stored = store.training_runs.record(run, register, version_prefix=prefix)
        report["training_run"] = stored.id
        report["registered_model"] = stored.registered_model
        (Path(args.out) / REPORT_FILE).write_text(dumps(report, indent=2) + "\n")
    except (RecipeError, ValueError, OSError, StoreError) as exc:
        echo(f"error: {exc}")
        return 2
    finally:
        if store is not None:
            store.dispose()
    comparison = report["evaluation"]["policy_vs_base"]
    echo(
        f"{report['method']}: reward model gate {'passed' if gates['reward_model_beats_baselines'] else 'NOT passed'}, "
        f"policy mean reward {comparison['policy_mean_reward']:.3f} vs base {comparison['base_mean_reward']:.3f} "
        f"on {comparison['prompts']} held-out prompts"
    )
    for goal in (comparison.get("goals") or {}).values():
        echo(f"  {goal['verdict']}")
    if stored.registered_model:
        how = "" if gates["passed"] else f" (forced: {forced})"
        echo(f"registered {stored.registered_model}{how}: it enters anonymous battles now")
    else:
        reason = "the gates did not pass"
        if gates["passed"] or forced:
            reason = "--no-register" if args.no_register else f"already served as {report['already_registered_as']}"
        echo(f"not registered ({reason}); checkpoint kept in {report['merged']}")
    echo(f"report: {Path(args.out) / REPORT_FILE} (training run {stored.id})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
