"""What every training entry point shares: the run report with timed stages, and the Trainer arguments that
follow from a recipe section and the device."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from training.recipes import reporters

log = logging.getLogger("training")


@dataclass
class RunReport:
    recipe: str
    device: str
    base_model: str
    out_dir: str
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage, in order
    data: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def stage(report: RunReport, name: str) -> Iterator[None]:
    """Time one stage into `report.stages` (in the order they run) and log its start and end."""
    log.info("stage %s: start", name)
    start = time.perf_counter()
    yield
    report.stages[name] = round(time.perf_counter() - start, 3)
    log.info("stage %s: done in %.1f s", name, report.stages[name])


def trainer_arguments(section: Any, out_dir: Path, device: str) -> dict[str, Any]:
    """Keyword arguments every TRL config here shares, from a recipe section (reward_model, policy or sft)."""
    on_cpu = device == "cpu"
    return {
        "output_dir": str(out_dir),
        "per_device_train_batch_size": section.per_device_train_batch_size,
        "gradient_accumulation_steps": section.gradient_accumulation_steps,
        "learning_rate": section.learning_rate,
        "num_train_epochs": section.num_train_epochs,
        "max_steps": section.max_steps,
        "seed": section.seed,
        # TRL defaults to bf16 and gradient checkpointing; both only cost time on CPU (28x for bf16 here).
        "bf16": section.bf16 and not on_cpu,
        "activation_checkpointing": section.gradient_checkpointing and not on_cpu,
        "use_cpu": on_cpu,
        "save_strategy": "steps",
        "save_steps": section.save_steps,
        "save_total_limit": 1,  # resuming needs only the last one
        "logging_steps": section.logging_steps,
        "report_to": reporters(section.report_to),
        "dataloader_num_workers": 0,
    }


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch: a run's result must not depend on an unseeded random initialisation."""
    from transformers import set_seed

    set_seed(seed)


def add_common_arguments(parser: Any, out_help: str) -> None:
    """The command-line options every training entry point takes, spelled and explained the same way."""
    parser.add_argument("--recipe", required=True, help="name under training/recipes/ or a YAML path")
    parser.add_argument("--out", type=Path, required=True, help=out_help)
    parser.add_argument("--device", choices=["cpu", "cuda"], help="must match the recipe's device")
    parser.add_argument("--base-model", help="local model folder overriding the recipe's base_model")
    parser.add_argument("--model-cache", type=Path, help="cache folder of the converted embedded model")
    parser.add_argument(
        "--db", "--database-url", dest="db", metavar="URL",
        help="the arena's database (default: the app's settings; --database-url is the old spelling)",
    )  # fmt: skip
    parser.add_argument("--no-resume", action="store_true", help="ignore what is already in --out")


def add_force_register_arguments(parser: Any, group: Any | None = None) -> None:
    """--force-register and --reason, spelled the same for every entry point that registers a contender."""
    (group or parser).add_argument(
        "--force-register", action="store_true", help="register even when the gates do not pass (needs --reason)"
    )
    parser.add_argument("--reason", help="why registration is forced: stored with the run")


def forced_reason(args: Any) -> str | None:
    """The operator's reason for --force-register, checked: a forced registration without one is refused."""
    reason = (args.reason or "").strip()
    if args.force_register and not reason:
        raise ValueError('--force-register needs --reason "...": it is stored with the run')
    if reason and not args.force_register:
        raise ValueError("--reason goes with --force-register")
    return reason or None
