"""Studies that train several reward models on one data set: grouped k-fold by prompt, and the learning curve.

    cross_validate(recipe, pairs, out_dir, ...)             -> {"folds", "prompts", "per_fold", "evaluation"}
    learning_curve(recipe, train, held_out, out_dir, ...)   -> {"points": [...], "last_doubling": ..., "plot"}

Grouped k-fold: with few distinct prompts (LLMFAO has 13) a held-out split keeps one or two prompts, and nothing
measured on one prompt says how the next would go. Instead the prompts are dealt into k folds; k reward models
each train on the other folds and score the pairs of their own, and the out-of-fold scores of every pair are
weighed together (training.evidence, intervals resampling prompts). The rating baseline is fitted per fold on
that fold's training pairs, so no pair's own vote rates its models.

Learning curve: the same recipe trained on nested shares of the training pairs (a smaller share is a prefix of a
larger one, shuffled once with the recipe's seed), each scored on the same held-out pairs; the last doubling's
gain is a paired interval on those pairs, which is what says whether more votes would still help. With a fixed
`max_steps` every share trains the same number of steps (fewer epochs of more data): the report says so.

Each model trains in its own folder under out_dir (cross_validation/fold-N, learning_curve/share-P) and a
finished one is reused on a rerun (resumable like every training stage).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from facts.json_safe import dumps
from training.evidence import pair_outcomes, paired_interval
from training.recipes import Recipe
from training.reward import HELD_OUT_SCORES, REPORT_FILE, evaluate_rewards, prompt_group, train_reward_model

Record = Mapping[str, Any]


# --- pure parts ------------------------------------------------------------------------------------------------


def prompt_folds(records: Sequence[Record], folds: int, seed: int) -> list[int]:
    """Each pair's fold: distinct prompts ordered by a seeded hash and dealt round robin, so the folds hold
    (nearly) equal numbers of prompts and every pair of a prompt lands in the same fold."""
    prompts = sorted({prompt_group(r) for r in records}, key=lambda p: hashlib.sha256(f"{seed}\0{p}".encode()).digest())
    fold_of = {prompt: i % folds for i, prompt in enumerate(prompts)}
    return [fold_of[prompt_group(r)] for r in records]


def fit_ratings(winners_losers: Sequence[tuple[str, str]]) -> dict[str, float]:
    """Bradley-Terry strengths from (chosen model, rejected model) pairs; {} without any."""
    from leaderboard.bradley_terry import strengths_from_pairs

    return strengths_from_pairs(list(winners_losers))


def named_pairs(records: Sequence[Record]) -> list[tuple[str, str]]:
    return [
        (r["chosen_model"], r["rejected_model"]) for r in records if r.get("chosen_model") and r.get("rejected_model")
    ]


def rated_outcome(record: Record, ratings: Mapping[str, float]) -> float:
    chosen, rejected = record.get("chosen_model"), record.get("rejected_model")
    if chosen not in ratings or rejected not in ratings:
        return math.nan
    a, b = ratings[chosen], ratings[rejected]
    return 1.0 if a > b else 0.5 if a == b else 0.0


def nested_shares(records: Sequence[Record], shares: Sequence[float], seed: int) -> dict[float, list[Record]]:
    """Each share's training pairs: prefixes of one seeded shuffle, so a larger share holds every smaller one."""
    shuffled = list(records)
    random.Random(seed).shuffle(shuffled)
    return {share: shuffled[: max(1, math.ceil(share * len(shuffled)))] for share in sorted(shares)}


# --- studies ---------------------------------------------------------------------------------------------------


STUDY_FILE = "study.json"  # what a study's model was trained and scored on, to reuse it only for the same


def _fingerprint(
    recipe: Recipe, train: Sequence[Record], held_out: Sequence[Record], options: Mapping[str, Any]
) -> str:
    settings = {k: v for k, v in asdict(recipe.require_reward_model()).items() if k != "learning_curve"}
    digest = hashlib.sha256()
    for part in (train, held_out, settings, str(options.get("base_model"))):
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _scored(run_dir: Path) -> dict[str, Any] | None:
    """The held-out scores of a finished run in `run_dir`, or None when it has not finished."""
    if not (run_dir / REPORT_FILE).is_file() or not (run_dir / HELD_OUT_SCORES).is_file():
        return None
    return json.loads((run_dir / HELD_OUT_SCORES).read_text())


def _claim(run_dir: Path, fingerprint: str) -> None:
    """Make `run_dir` this study model's: kept (finished, or resumable) when it was started on the same pairs with
    the same recipe, emptied otherwise (its checkpoints and scores were for other data)."""
    study = run_dir / STUDY_FILE
    if run_dir.exists():
        same = study.is_file() and json.loads(study.read_text()).get("fingerprint") == fingerprint
        if same:
            return
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    study.write_text(json.dumps({"fingerprint": fingerprint}) + "\n")


def _train_and_score(
    recipe: Recipe,
    train: Sequence[Record],
    held_out: Sequence[Record],
    run_dir: Path,
    *,
    owned: bool = True,
    **options: Any,
) -> tuple[list[Record], list[float], list[float], dict[str, Any]]:
    """Train (or reuse, or resume) one study model and read its held-out scores. `owned=False`: the run's own
    folder, trained just before on these pairs, is read as it is."""
    if owned:
        _claim(run_dir, _fingerprint(recipe, train, held_out, options))
    scores = _scored(run_dir)
    if scores is None:
        train_reward_model(recipe, train, held_out, run_dir, **options)
        scores = _scored(run_dir)
        assert scores is not None  # train_reward_model writes both files or raises
    report = json.loads((run_dir / REPORT_FILE).read_text())
    kept = [held_out[i] for i in scores["index"]]
    return kept, list(scores["chosen"]), list(scores["rejected"]), report


def cross_validate(recipe: Recipe, pairs: Sequence[Record], out_dir: Path, **options: Any) -> dict[str, Any]:
    """Grouped k-fold by prompt over `pairs` (k = the recipe's cross_validation_folds, at most one per prompt).
    `options` go to train_reward_model (device, base_model, model_cache_dir, resume)."""
    rm = recipe.require_reward_model()
    prompts = len({prompt_group(r) for r in pairs})
    if prompts < 2:
        raise ValueError("cross-validation by prompt needs at least 2 distinct prompts")
    k = min(rm.cross_validation_folds, prompts)
    folds = prompt_folds(pairs, k, rm.seed)
    records: list[Record] = []
    chosen: list[float] = []
    rejected: list[float] = []
    rating_outcomes: list[float] = []
    per_fold = []
    for fold in range(k):
        train = [r for r, f in zip(pairs, folds, strict=True) if f != fold]
        held_out = [r for r, f in zip(pairs, folds, strict=True) if f == fold]
        ratings = fit_ratings(named_pairs(train))  # this fold's training pairs only
        kept, c, r, report = _train_and_score(
            recipe, train, held_out, out_dir / "cross_validation" / f"fold-{fold + 1}", ratings=ratings, **options
        )
        records += kept
        chosen += c
        rejected += r
        rating_outcomes += [rated_outcome(record, ratings) for record in kept]
        per_fold.append(
            {
                "fold": fold + 1,
                "train_pairs": len(train),
                "held_out_pairs": len(kept),
                "held_out_prompts": len({prompt_group(x) for x in held_out}),
                "accuracy": report["evaluation"]["accuracy"],
            }
        )
    evaluation = evaluate_rewards(
        records,
        chosen,
        rejected,
        bootstrap_samples=rm.bootstrap_samples,
        seed=rm.seed,
        min_pairs=rm.gate_min_pairs,
        level=rm.gate_level,
        rating_outcomes=rating_outcomes,
        min_prompts=rm.gate_min_prompts,
    )
    return {"folds": k, "prompts": prompts, "per_fold": per_fold, "evaluation": evaluation}


def learning_curve(
    recipe: Recipe,
    train: Sequence[Record],
    held_out: Sequence[Record],
    out_dir: Path,
    shares: Sequence[float],
    *,
    ratings: Mapping[str, float] | None = None,
    reuse: Mapping[float, Path] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Accuracy on the same held-out pairs when trained on each share of `train`, with intervals, the best
    baseline beside it, the last doubling's paired gain, and a plot (learning_curve.html in out_dir)."""
    rm = recipe.require_reward_model()
    points = []
    outcomes_by_share: dict[float, dict[str, float]] = {}
    for share, subset in nested_shares(train, shares, rm.seed).items():
        # A share already trained elsewhere (all of them: the run itself) is read, not trained again.
        reused = (reuse or {}).get(share)
        run_dir = reused or out_dir / "learning_curve" / f"share-{round(share * 100):03d}"
        kept, chosen, rejected, report = _train_and_score(
            recipe, subset, held_out, run_dir, owned=reused is None, ratings=ratings, **options
        )
        evaluation = report["evaluation"]
        evidence = evaluation["evidence"]
        # Keyed by position in the held-out list (the same list for every share), so no two pairs merge.
        positions = json.loads((run_dir / HELD_OUT_SCORES).read_text())["index"]
        outcomes_by_share[share] = {
            f"{position}\0{prompt_group(r)}": o
            for position, r, o in zip(positions, kept, pair_outcomes(chosen, rejected).tolist(), strict=True)
        }
        points.append(
            {
                "share": share,
                "train_pairs": len(subset),
                "steps": report["training"].get("global_step"),
                "held_out_pairs": evaluation["pairs"],
                "accuracy": evidence["accuracy"],
                "best_baseline": evidence["best_baseline"],
                "best_baseline_accuracy": evidence["comparisons"][0]["baseline_accuracy"]
                if evidence["comparisons"]
                else None,
            }
        )
    curve: dict[str, Any] = {"points": points, "held_out_pairs": len(held_out)}
    if rm.max_steps > 0:
        curve["note"] = (
            f"max_steps is {rm.max_steps}: every share trained that many steps, so larger shares saw each pair "
            "fewer times; set max_steps to -1 (epochs) for a curve of data alone"
        )
    if len(points) >= 2:
        curve["last_doubling"] = _last_gain(points, outcomes_by_share, rm.bootstrap_samples, rm.seed, rm.gate_level)
    plot = out_dir / "learning_curve.html"
    learning_curve_figure(curve).write_html(str(plot), include_plotlyjs=True)
    curve["plot"] = str(plot)
    return curve


def _last_gain(
    points: Sequence[Mapping[str, Any]],
    outcomes_by_share: Mapping[float, Mapping[str, float]],
    samples: int,
    seed: int,
    level: float,
) -> dict[str, Any]:
    """The largest share against the next smaller one, paired on the held-out pairs both scored."""
    larger, smaller = points[-1], points[-2]
    big, small = outcomes_by_share[larger["share"]], outcomes_by_share[smaller["share"]]
    common = sorted(set(big) & set(small))
    gain = paired_interval(
        [big[key] for key in common],
        [small[key] for key in common],
        samples=samples,
        seed=seed,
        level=level,
        groups=[key.split("\0", 1)[1] for key in common],
    )
    return {
        "from_pairs": smaller["train_pairs"],
        "to_pairs": larger["train_pairs"],
        "gain": gain.to_dict(),
        "reading": (
            f"going from {smaller['train_pairs']} to {larger['train_pairs']} training pairs changed held-out "
            f"accuracy by {gain.text(signed=True)}: "
            + ("more votes still help" if gain.low > 0 else "no gain shown on these held-out pairs")
        ),
    }


def learning_curve_figure(curve: Mapping[str, Any]) -> Any:
    import plotly.graph_objects as go

    points = curve["points"]
    x = [p["train_pairs"] for p in points]
    accuracy = [p["accuracy"] for p in points]
    figure = go.Figure(
        go.Scatter(
            x=x,
            y=[a["estimate"] for a in accuracy],
            mode="lines+markers",
            name="reward model",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [a["high"] - a["estimate"] for a in accuracy],
                "arrayminus": [a["estimate"] - a["low"] for a in accuracy],
            },
        )
    )
    best = [p["best_baseline_accuracy"] for p in points if p["best_baseline_accuracy"] is not None]
    if best:
        figure.add_hline(y=best[-1], line_dash="dash", annotation_text=f"best baseline ({points[-1]['best_baseline']})")
    figure.update_layout(
        title=f"Reward-model learning curve on {curve['held_out_pairs']} held-out pairs (95% intervals)",
        xaxis={"title": "training pairs", "type": "log"},
        yaxis={"title": "held-out accuracy", "range": [0, 1]},
        template="plotly_white",
    )
    return figure


# --- one entry for training.reward -----------------------------------------------------------------------------


def train_with_evidence(
    recipe: Recipe,
    pairs: Sequence[Record],
    eval_pairs: Sequence[Record] | None,
    out_dir: Path,
    *,
    ratings: Mapping[str, float] | None = None,
    summary: Mapping[str, Any] | None = None,
    learning_shares: Sequence[float] = (),
    **options: Any,
) -> dict[str, Any]:
    """The reward model of `python -m training.reward`, with the evidence its data allows:
    - a held-out split with enough distinct prompts: train on the split, score the held-out pairs (and, with
      `learning_shares`, the learning curve on the same held-out pairs);
    - fewer held-out prompts than the recipe's few_prompts (votes data only, where `summary` counts them): grouped
      k-fold by prompt for the evidence, then the saved model trains on every pair.
    The report (also written to out_dir/report.json) says which, with the figures."""
    from training.reward import split_pairs

    rm = recipe.require_reward_model()
    out_dir = Path(out_dir)
    few = summary is not None and summary.get("held_out_distinct_prompts", rm.few_prompts) < rm.few_prompts
    everything = [*pairs, *(eval_pairs or [])]
    if few and len({prompt_group(r) for r in everything}) >= 2:
        cv = cross_validate(recipe, everything, out_dir, **options)
        report = train_reward_model(
            recipe, everything, [], out_dir, ratings=fit_ratings(named_pairs(everything)), **options
        )
        report["split_evaluation"] = report["evaluation"]  # empty: every pair trained the saved model
        report["trained_on_all_pairs"] = True  # no held-out split is left for an arena evaluation to use
        report["evaluation"] = cv.pop("evaluation")
        report["cross_validation"] = cv | {
            "why": f"{summary['held_out_distinct_prompts']} distinct prompt(s) held out, fewer than few_prompts "  # type: ignore[index]
            f"({rm.few_prompts}): the evidence is grouped {cv['folds']}-fold by prompt over {cv['prompts']} prompts"
        }
        if learning_shares:
            report["learning_curve"] = {
                "skipped": "a learning curve needs a held-out split; this data has too few prompts"
            }
    else:
        if summary is not None and (not pairs or not eval_pairs):
            from training.from_votes import NotEnoughVotes, empty_split

            raise NotEnoughVotes(empty_split(len(pairs), len(eval_pairs or [])))
        if eval_pairs is None:
            pairs, eval_pairs = split_pairs(pairs, rm.eval_fraction, rm.seed)
        report = train_reward_model(recipe, pairs, eval_pairs, out_dir, ratings=ratings, **options)
        if learning_shares:
            report["learning_curve"] = learning_curve(
                recipe, pairs, eval_pairs, out_dir, learning_shares, ratings=ratings, reuse={1.0: out_dir}, **options
            )
    if summary is not None:
        report["votes"] = dict(summary)
    (out_dir / REPORT_FILE).write_text(dumps(report, indent=2) + "\n")
    return report
