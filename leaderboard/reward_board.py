"""The reward-model leaderboard: stored evaluations (training.evaluate reward-model) as one table (pure).

    reward_model_table(evaluations) -> RewardBoard(columns, rows, note)

One row per reward model: its accuracy on each evaluation set with the 95% interval and the number of pairs, and
the score (RewardBench's unweighted mean over sets) when it has been scored on every set shown; then one row per
baseline (answer length both ways, the higher-rated model, a random scorer), read from the newest evaluation of
each set. Figures are comparable only on the same pairs: a model scored on other pairs than the set's newest
evaluation (the arena grew, a file changed, a --limit sample) has its cell marked "other pairs" and no score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MISSING = "—"


@dataclass(frozen=True)
class RewardBoard:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str


def reward_model_table(evaluations: Sequence[Mapping[str, Any]]) -> RewardBoard:
    """`evaluations`: the newest evaluation of each (reward model, set), with reward_model, eval_set, pairs,
    accuracy, low, high, report and created_at."""
    if not evaluations:
        return RewardBoard(
            ("Reward model", "Score"),
            (),
            "No reward model evaluated yet: run `python -m training.evaluate reward-model RUN_FOLDER`.",
        )
    sets = sorted({str(e["eval_set"]) for e in evaluations})
    by_model: dict[str, dict[str, Mapping[str, Any]]] = {}
    newest_of_set: dict[str, Mapping[str, Any]] = {}
    for evaluation in evaluations:
        by_model.setdefault(str(evaluation["reward_model"]), {})[str(evaluation["eval_set"])] = evaluation
        current = newest_of_set.get(str(evaluation["eval_set"]))
        if current is None or evaluation["created_at"] > current["created_at"]:
            newest_of_set[str(evaluation["eval_set"])] = evaluation

    model_rows = []
    for model, scored in by_model.items():
        # Comparable only on the same pairs as the set's newest evaluation (a --limit sample, an older arena or
        # another file of the same name are other pairs): said in the cell, and left out of the score.
        same = {s: scored[s].get("fingerprint") == newest_of_set[s].get("fingerprint") for s in scored}
        cells = [
            _cell(scored[s]["accuracy"], scored[s]["low"], scored[s]["high"], scored[s]["pairs"], same[s])
            if s in scored
            else MISSING
            for s in sets
        ]
        complete = all(s in scored and same[s] for s in sets)
        score = sum(float(scored[s]["accuracy"]) for s in sets) / len(sets) if complete else None
        model_rows.append((score, model, cells))
    model_rows.sort(key=lambda row: (row[0] is None, -(row[0] or 0.0), row[1]))

    baselines: dict[str, dict[str, str]] = {}
    for name, evaluation in newest_of_set.items():
        for baseline in (evaluation.get("report") or {}).get("baselines", []):
            baselines.setdefault(f"baseline: {baseline['name']}", {})[name] = (
                f"{float(baseline['accuracy']):.3f} (n={int(baseline['pairs'])})"
            )
    rows = [(model, MISSING if score is None else f"{score:.3f}", *cells) for score, model, cells in model_rows]
    rows += [(name, MISSING, *(values.get(s, MISSING) for s in sets)) for name, values in sorted(baselines.items())]
    note = (
        "Accuracy: the share of held-out pairs whose chosen answer the reward model scores higher (ties half), with "
        "a 95% bootstrap interval and the number of pairs. Score: the mean over the sets, shown when a model was "
        'scored on all of them, on the same pairs as the newest evaluation of each ("other pairs": not comparable). '
        "Baselines are scored on the pairs of the newest evaluation of each set."
    )
    return RewardBoard(("Reward model", "Score", *sets), tuple(rows), note)


def _cell(accuracy: float, low: float | None, high: float | None, pairs: int, comparable: bool = True) -> str:
    other = "" if comparable else ", other pairs"
    if low is None or high is None:  # every pair under one prompt: no interval
        return f"{float(accuracy):.3f} (no interval; n={int(pairs)}{other})"
    return f"{float(accuracy):.3f} [{float(low):.3f}, {float(high):.3f}] (n={int(pairs)}{other})"
