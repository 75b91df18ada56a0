"""Resuming a Trainer run from the last checkpoint in its output folder (shared by every training entry point)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def last_checkpoint(out_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(out_dir)) if Path(out_dir).is_dir() else None


def checkpoint_step(checkpoint: str) -> int:
    return int(Path(checkpoint).name.rsplit("-", 1)[-1])


def is_finished(checkpoint: str, max_steps: int) -> bool:
    """Whether the checkpoint already holds the whole run: then resuming must load it, not train.

    Trainer (transformers 5.23) runs one extra step when resumed from its final checkpoint."""
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
    # The recipe's max_steps wins, so raising it continues training; epoch-based runs use the saved plan.
    target = max_steps if max_steps > 0 else state.get("max_steps", 0)
    return target > 0 and state["global_step"] >= target


def load_adapter_weights(model: Any, checkpoint: str) -> None:
    from peft import set_peft_model_state_dict
    from peft.utils import load_peft_weights

    set_peft_model_state_dict(model, load_peft_weights(checkpoint, device=str(next(model.parameters()).device)))


def train_or_resume(trainer: Any, out_dir: Path, max_steps: int, resume: bool) -> dict[str, Any]:
    """Run `trainer.train()`, resuming from the last checkpoint in out_dir when asked; the training section of a
    report: steps, seconds, loss and the trainer's own samples/s (the benchmarks compare it with bare TRL)."""
    import time

    checkpoint = last_checkpoint(out_dir) if resume else None
    start = time.perf_counter()
    metrics: dict[str, Any] = {}
    if checkpoint and is_finished(checkpoint, max_steps):
        load_adapter_weights(trainer.model, checkpoint)
        global_step, loss = checkpoint_step(checkpoint), None
    else:
        result = trainer.train(resume_from_checkpoint=checkpoint)
        global_step, loss, metrics = trainer.state.global_step, result.training_loss, dict(result.metrics)
    elapsed = time.perf_counter() - start
    steps_run = global_step - (checkpoint_step(checkpoint) if checkpoint else 0)
    return {
        "resumed_from": checkpoint,
        "global_step": global_step,
        "steps_this_run": steps_run,
        "seconds": round(elapsed, 3),
        "seconds_per_step": round(elapsed / steps_run, 3) if steps_run else None,
        "train_loss": loss if steps_run else None,
        "train_samples_per_second": metrics.get("train_samples_per_second") if steps_run else None,
    }
