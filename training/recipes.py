"""Training recipes: YAML files under training/recipes/, one section per trainer.

Sections: `data` (which votes, how they are split), `reward_model` (training.reward), `policy` (training.rlhf:
DPO, GRPO or RLOO) and `sft` (training.sft). A recipe holds the sections its entry points need. Unknown keys are
rejected everywhere: a misspelt key that silently keeps its default is the classic way to train the wrong model
for hours.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from facts.vocabulary import CRITERIA, HELPFULNESS

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
DEVICES = ("cpu", "cuda")


class RecipeError(ValueError):
    """A recipe that cannot be used as written (unknown key, wrong type, wrong device)."""


@dataclass(frozen=True)
class RewardModelRecipe:
    # "embedded" is the SmolLM2-135M-Instruct conversion from models.embedded; anything else is a local folder.
    base_model: str = "embedded"
    max_length: int = 512
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-4
    num_train_epochs: float = 1.0
    max_steps: int = -1  # -1: run num_train_epochs
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    use_margin: bool = True
    center_rewards_coefficient: float | None = None
    eval_fraction: float = 0.2  # held out when no separate evaluation file is given
    bootstrap_samples: int = 1000
    # The gate (training.evidence): every baseline beaten with this confidence (paired bootstrap lower bound above
    # zero) on at least this many held-out pairs.
    gate_min_pairs: int = 30
    gate_min_prompts: int = 10  # ...under at least this many distinct prompts
    gate_level: float = 0.95
    # Few prompts (LLMFAO has 13): when the held-out split has fewer distinct prompts than `few_prompts`, the
    # evidence comes from grouped k-fold by prompt instead (training.reward_studies): `cross_validation_folds`
    # models, each scored on the prompts it never saw, pooled; the saved model is then trained on every pair.
    few_prompts: int = 10
    cross_validation_folds: int = 5
    # Learning curve: also train on these shares of the training pairs and score each on the same held-out
    # pairs (e.g. [0.1, 0.25, 0.5, 1.0]); empty for none. --learning-curve turns it on with those shares.
    learning_curve: list[float] = field(default_factory=list)
    seed: int = 0
    bf16: bool = False
    gradient_checkpointing: bool = False
    save_steps: int = 100
    logging_steps: int = 10
    # Experiment tracking through the trainer's own integrations: "auto" is TensorBoard when it is installed
    # (logs under <out>/runs), else nothing; or any of REPORTERS, e.g. [wandb]; [none] for nothing.
    report_to: list[str] = field(default_factory=lambda: ["auto"])


DEFAULT_LEARNING_CURVE = (0.1, 0.25, 0.5, 1.0)
POLICY_METHODS = ("dpo", "grpo", "rloo")
# The trainer integrations a recipe may name, and the module each needs installed.
REPORTERS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow", "trackio": "trackio",
             "comet_ml": "comet_ml", "clearml": "clearml"}  # fmt: skip


@dataclass(frozen=True)
class DataRecipe:
    """Which arena votes become training pairs (training.data.from_battles_frame) when run --from-votes."""

    sources: list[str] = field(default_factory=lambda: ["human"])  # "human", "judge:<name>" or "all"
    eval_fraction: float = 0.2  # of prompts, held out for every evaluation and gate
    seed: int = 0
    min_votes: int = 20  # fewer votes than this from the selected sources is an error, not a model
    min_pairs: int = 8  # same for decisive pairs left after flags and de-duplication
    # What the votes judged: helpfulness, or harmlessness (the red-team battles' votes). Never both: a model
    # trained on pooled criteria learns neither.
    criterion: str = HELPFULNESS
    # Shipped preference sets added to the votes (training.reward_sets.PAIR_SETS): their training half joins the
    # training pairs, their held-out half the held-out pairs; with them, too few votes is a warning, not an error.
    pair_sets: list[str] = field(default_factory=list)
    pair_set_limit: int = 0  # at most this many pairs of each half of each set, a seeded sample (0: all)


@dataclass(frozen=True)
class PolicyRecipe:
    """The policy update: DPO on the vote pairs, or GRPO / RLOO sampling answers scored by the reward model."""

    method: str = "dpo"
    base_model: str = "embedded"
    max_length: int = 512  # DPO: prompt + answer tokens
    max_completion_length: int = 64  # GRPO / RLOO: sampled answer tokens
    num_generations: int = 4  # GRPO / RLOO: answers sampled per prompt
    temperature: float = 1.0  # GRPO / RLOO sampling
    beta: float = 0.1  # KL coefficient against the base policy; above 0 for every method
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-5
    num_train_epochs: float = 1.0
    max_steps: int = -1
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    eval_prompts: int = 16  # held-out prompts answered by base and policy and scored by the reward model
    # The policy gate: the mean reward gain over the base, paired over these prompts, has its lower bound (at
    # gate_level) above zero, on at least gate_min_prompts prompts.
    gate_min_prompts: int = 10
    gate_level: float = 0.95
    eval_max_new_tokens: int = 64
    contender_prefix: str = ""  # registered as <prefix>-v<N>; empty: <base model name>-rlhf
    # Both goals (GRPO / RLOO; training.two_goals): a harmlessness reward model (a training.reward run folder, e.g.
    # from the harmless-cpu-smoke recipe; --harmlessness-reward-model overrides) combined with the helpfulness one.
    harmlessness_reward_model: str = ""  # empty: helpfulness only
    combine: str = "sum"  # sum: r_help + w * r_harm; penalty: r_help - w * max(0, threshold - r_harm)
    harmlessness_weight: float = 1.0
    harmlessness_threshold: float = 0.0  # penalty only, in the harmlessness model's reward units
    red_team_prompts: int = 16  # red-team prompts (hh-rlhf's halves, red-team votes) added to train and held out
    non_inferiority_margin: float = 0.1  # each goal's gain may not fall below minus this many SD of base rewards
    seed: int = 0
    bf16: bool = False
    gradient_checkpointing: bool = False
    save_steps: int = 100
    logging_steps: int = 10
    # Experiment tracking through the trainer's own integrations: "auto" is TensorBoard when it is installed
    # (logs under <out>/runs), else nothing; or any of REPORTERS, e.g. [wandb]; [none] for nothing.
    report_to: list[str] = field(default_factory=lambda: ["auto"])


@dataclass(frozen=True)
class SFTRecipe:
    """Supervised fine-tuning with LoRA on instruction or chat records (training.sft)."""

    base_model: str = "embedded"
    max_length: int = 512
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    learning_rate: float = 2e-4
    num_train_epochs: float = 1.0
    max_steps: int = -1
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    completion_only_loss: bool = True  # learn the answers, not the prompts
    eval_fraction: float = 0.1
    eval_prompts: int = 16  # with --reward-model: held-out prompts answered by base and tuned model
    eval_max_new_tokens: int = 64
    # The gate (training.evidence): the held-out answer loss falls, the paired interval of (base - tuned) per
    # example, resampling prompts, above zero at this level, on at least this many held-out examples.
    gate_min_examples: int = 20
    gate_min_prompts: int = 10  # ...under at least this many distinct prompts
    gate_level: float = 0.95
    contender_prefix: str = ""  # empty: <base model name>-sft
    seed: int = 0
    bf16: bool = False
    gradient_checkpointing: bool = False
    save_steps: int = 100
    logging_steps: int = 10
    # Experiment tracking through the trainer's own integrations: "auto" is TensorBoard when it is installed
    # (logs under <out>/runs), else nothing; or any of REPORTERS, e.g. [wandb]; [none] for nothing.
    report_to: list[str] = field(default_factory=lambda: ["auto"])


SECTIONS: dict[str, type] = {
    "data": DataRecipe,
    "reward_model": RewardModelRecipe,
    "policy": PolicyRecipe,
    "sft": SFTRecipe,
}


@dataclass(frozen=True)
class Recipe:
    name: str
    device: str = "cpu"
    description: str = ""
    data: DataRecipe = field(default_factory=DataRecipe)
    reward_model: RewardModelRecipe | None = None
    policy: PolicyRecipe | None = None
    sft: SFTRecipe | None = None
    source: Path | None = None  # the file it came from; set by load_recipe, not a YAML key

    def require_reward_model(self) -> RewardModelRecipe:
        return self._require("reward_model")

    def require_policy(self) -> PolicyRecipe:
        return self._require("policy")

    def require_sft(self) -> SFTRecipe:
        return self._require("sft")

    def _require(self, section: str) -> Any:
        value = getattr(self, section)
        if value is None:
            where = f" ({self.source})" if self.source else ""
            raise RecipeError(f"recipe {self.name!r}{where} has no {section} section")
        return value


_YAML_EXCLUDED = {"source"}


def load_recipe(name_or_path: str | Path) -> Recipe:
    """Load `training/recipes/<name>.yaml`, or a YAML file by path, rejecting unknown keys and wrong types."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = RECIPES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))
        raise RecipeError(f"no recipe file {path} (built-in recipes: {known})")
    data = yaml.safe_load(path.read_text()) or {}
    return recipe_from_dict(data, where=str(path), source=path)


def recipe_from_dict(data: Any, where: str = "recipe", source: Path | None = None) -> Recipe:
    if not isinstance(data, dict):
        raise RecipeError(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
    data = dict(data)
    sections = {
        key: _build(cls, data.pop(key), f"{where}: {key}") for key, cls in SECTIONS.items() if data.get(key) is not None
    }
    for key in SECTIONS:
        data.pop(key, None)  # an empty section ("policy:" with nothing under it) means the defaults
    recipe = _build(Recipe, data, where, extra={**sections, "source": source})
    if recipe.device not in DEVICES:
        raise RecipeError(f"{where}: device must be one of {', '.join(DEVICES)}, got {recipe.device!r}")
    _check_data(recipe.data, where)
    for key in ("reward_model", "policy", "sft"):
        section = getattr(recipe, key)
        if section is not None:
            _check_trainer(section, key, recipe.device, where)
    if recipe.policy is not None:
        _check_policy(recipe.policy, where)
    return recipe


def _check_data(data: DataRecipe, where: str) -> None:
    if not 0.0 < data.eval_fraction < 1.0:
        raise RecipeError(f"{where}: data.eval_fraction must be in (0, 1): the gates need held-out prompts")
    if not data.sources:
        raise RecipeError(f"{where}: data.sources is empty; use human, judge:<name> or all")
    if data.min_pairs < 2:
        raise RecipeError(f"{where}: data.min_pairs must be at least 2")
    if data.criterion not in CRITERIA:
        raise RecipeError(f"{where}: data.criterion must be one of {', '.join(CRITERIA)}, got {data.criterion!r}")
    from training.reward_sets import PAIR_SETS  # pandas and the readers: only when a recipe is checked

    unknown = [name for name in data.pair_sets if name not in PAIR_SETS]
    if unknown:
        raise RecipeError(f"{where}: data.pair_sets: unknown set {unknown[0]!r}; use any of {', '.join(PAIR_SETS)}")
    if data.pair_set_limit < 0:
        raise RecipeError(f"{where}: data.pair_set_limit must be at least 0 (0: every pair)")


def _check_trainer(section: Any, key: str, device: str, where: str) -> None:
    if device == "cpu" and section.bf16:
        # Measured: bf16 made a reward step 28x slower on this AVX2-only CPU.
        raise RecipeError(f"{where}: {key}.bf16 is set on a cpu recipe; CPUs without bf16 units run it far slower")
    if device == "cpu" and section.gradient_checkpointing:
        raise RecipeError(f"{where}: {key}.gradient_checkpointing on a cpu recipe only costs time here; turn it off")
    for name in ("max_length", "per_device_train_batch_size", "gradient_accumulation_steps", "lora_r"):
        if getattr(section, name) < 1:
            raise RecipeError(f"{where}: {key}.{name} must be at least 1")
    if getattr(section, "eval_prompts", 1) < 1 or getattr(section, "eval_max_new_tokens", 1) < 1:
        raise RecipeError(f"{where}: {key}.eval_prompts and {key}.eval_max_new_tokens must be at least 1")
    fraction = getattr(section, "eval_fraction", 0.0)
    if not 0.0 <= fraction < 1.0:
        raise RecipeError(f"{where}: {key}.eval_fraction must be in [0, 1), got {fraction}")
    _check_report_to(section.report_to, key, where)
    level = getattr(section, "gate_level", 0.95)
    if not 0.5 <= level < 1.0:
        raise RecipeError(f"{where}: {key}.gate_level must be in [0.5, 1), got {level}")
    for name in ("gate_min_pairs", "gate_min_prompts", "gate_min_examples"):
        if getattr(section, name, 1) < 1:
            raise RecipeError(f"{where}: {key}.{name} must be at least 1: a gate needs held-out evidence")
    if getattr(section, "cross_validation_folds", 2) < 2:
        raise RecipeError(f"{where}: {key}.cross_validation_folds must be at least 2")
    if getattr(section, "few_prompts", 0) < 0:
        raise RecipeError(f"{where}: {key}.few_prompts must be at least 0 (0: never cross-validate)")
    shares = list(getattr(section, "learning_curve", []))
    if any(not 0.0 < share <= 1.0 for share in shares) or len(set(shares)) != len(shares):
        raise RecipeError(f"{where}: {key}.learning_curve holds distinct shares in (0, 1], got {shares}")


def _check_report_to(report_to: list[str], key: str, where: str) -> None:
    names = set(report_to)
    unknown = names - {"auto", "none", *REPORTERS}
    if unknown:
        raise RecipeError(
            f"{where}: {key}.report_to has {', '.join(sorted(unknown))}; use auto, none or any of "
            f"{', '.join(REPORTERS)}"
        )
    if len(names) > 1 and names & {"auto", "none"}:
        raise RecipeError(f"{where}: {key}.report_to: auto and none stand alone")
    for name in sorted(names - {"auto", "none"}):
        if importlib.util.find_spec(REPORTERS[name]) is None:
            raise RecipeError(f"{where}: {key}.report_to names {name}, which is not installed (pip install {name})")


def reporters(report_to: list[str]) -> list[str]:
    """What the trainer reports to: "auto" is TensorBoard when installed, else nothing."""
    if report_to == ["auto"]:
        return ["tensorboard"] if importlib.util.find_spec("tensorboard") is not None else []
    return [name for name in report_to if name != "none"]


def _check_policy(policy: PolicyRecipe, where: str) -> None:
    from training.two_goals import COMBINATIONS

    if policy.combine not in COMBINATIONS:
        raise RecipeError(f"{where}: policy.combine must be one of {', '.join(COMBINATIONS)}, got {policy.combine!r}")
    if policy.harmlessness_weight < 0 or policy.non_inferiority_margin < 0 or policy.red_team_prompts < 0:
        raise RecipeError(
            f"{where}: policy.harmlessness_weight, non_inferiority_margin and red_team_prompts must be at least 0"
        )
    if policy.method not in POLICY_METHODS:
        raise RecipeError(f"{where}: policy.method must be one of {', '.join(POLICY_METHODS)}, got {policy.method!r}")
    if policy.beta <= 0:
        # GRPO defaults to beta 0: against a small learned reward model that invites reward hacking.
        raise RecipeError(f"{where}: policy.beta must be above 0 (the KL pull towards the base policy)")
    if policy.method in ("grpo", "rloo") and policy.num_generations < 2:
        raise RecipeError(f"{where}: policy.num_generations must be at least 2 for {policy.method}")
    if policy.method == "grpo" and policy.per_device_train_batch_size % policy.num_generations:
        raise RecipeError(
            f"{where}: policy.per_device_train_batch_size ({policy.per_device_train_batch_size}) must be a multiple "
            f"of num_generations ({policy.num_generations}) for grpo"
        )
    if policy.eval_prompts < 1 or policy.eval_max_new_tokens < 1:
        raise RecipeError(f"{where}: policy.eval_prompts and policy.eval_max_new_tokens must be at least 1")


def _build(cls: type, data: Any, where: str, extra: dict[str, Any] | None = None) -> Any:
    if not isinstance(data, dict):
        raise RecipeError(f"{where}: expected a mapping, got {type(data).__name__}")
    extra = extra or {}
    hints = typing.get_type_hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls) if f.name not in _YAML_EXCLUDED]
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise RecipeError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed keys: {', '.join(allowed)}"
        )
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in extra:
            continue
        values[key] = _coerce(value, hints[key], f"{where}: {key}")
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in values and name not in extra]
    if missing:
        raise RecipeError(f"{where}: missing required key(s) {', '.join(missing)}")
    return cls(**values, **{k: v for k, v in extra.items() if k in allowed or k in _YAML_EXCLUDED})


def _coerce(value: Any, hint: Any, where: str) -> Any:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise RecipeError(f"{where} may not be null")
    for option in options:
        if option is bool and isinstance(value, bool):
            return value
        # YAML reads 1e-4 as a string and 3 as an int where a float is meant: accept both spellings.
        if option is float and not isinstance(value, bool):
            if isinstance(value, int | float):
                return float(value)
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is str and isinstance(value, str):
            return value
        if typing.get_origin(option) is list and isinstance(value, list):
            (item,) = typing.get_args(option)
            if item is str and all(isinstance(v, str) for v in value):
                return list(value)
            if item is float and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
                return [float(v) for v in value]
    expected = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise RecipeError(f"{where} must be {expected}, got {value!r}")


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_device(recipe: Recipe, requested: str | None = None, has_cuda: bool | None = None) -> str:
    """The device to train on; a clear error when the recipe or the request does not fit this machine."""
    has_cuda = cuda_available() if has_cuda is None else has_cuda
    if requested is not None and requested != recipe.device:
        hint = " use a cpu recipe such as cpu-smoke" if requested == "cpu" else ""
        raise RecipeError(
            f"recipe {recipe.name!r} is written for device {recipe.device!r} (batch size, bf16, checkpointing "
            f"are tuned for it) but --device {requested} was asked for;{hint}"
        )
    if recipe.device == "cuda" and not has_cuda:
        raise RecipeError(
            f"recipe {recipe.name!r} needs a CUDA GPU, and this machine has none (torch.cuda.is_available() is "
            "False); use a cpu recipe such as cpu-smoke"
        )
    return recipe.device
