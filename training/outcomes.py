"""Did training help? The stored training runs and the registry, read for leaderboard.training_outcomes (which is
pure): used by the leaderboard page (app.py) and by `python -m training.evaluate outcomes`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from leaderboard.training_outcomes import TrainingOutcome, training_outcomes
from store import Store


def read_training_outcomes(store: Store, payload: Mapping[str, Any] | None) -> tuple[TrainingOutcome, ...]:
    """Each checkpoint a run registered, against its base, in `payload` (the newest leaderboard snapshot)."""
    runs = [asdict(run) for run in store.training_runs.runs() if run.registered_model]
    bases = {spec.name: spec.base for spec in store.registry.models(enabled_only=False)}
    return training_outcomes(runs, bases, payload)
