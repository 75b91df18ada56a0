"""Static-benchmark figures beside the arena ratings: which benchmarks the page shows, and each model's newest
figures as stored by `python -m evals`, in the snapshot payload, a table cell and CSV columns. Pure: stored run
summaries (plain mappings, evals.service.describe) in, JSON out.

    benchmark_payload(runs) -> {"columns": [...], "rows": {model: {benchmark: figures}}}
    cell(figures, column) -> "4% (2–9%) · n=200"         a missing figure is shown as missing: "—"
    csv_columns(by_benchmark) -> {"over_refusal": 0.04, "over_refusal_low": ..., ...}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leaderboard.benchmark_separation import Figure, Separation, separation

MISSING = "—"
SEPARATION_NOTE = (
    "Pairs told apart with 95% confidence, the spread of the scores in standard errors, and the rank correlation "
    "with people's ratings (Spearman, Fisher-z interval), over the models with a figure."
)


@dataclass(frozen=True)
class BenchmarkColumn:
    benchmark: str  # as stored (benchmark_runs.benchmark)
    label: str  # the page's column header
    key: str  # the CSV/JSON column prefix
    percent: bool  # a share shown as a percentage; otherwise a score shown with one decimal
    higher_is_better: bool
    definition: str
    # A second reading kept in the run's report under this key ({estimate, low, high}), shown beside the score
    # under `secondary_label`: Arena-Hard's style-controlled win rate (SC), TruthfulQA's MC1 beside its MC2.
    secondary: str | None = None
    secondary_label: str = ""


COLUMNS = (
    BenchmarkColumn(
        "over-refusal",
        "Over-refusal (benign)",
        "over_refusal",
        percent=True,
        higher_is_better=False,
        definition=(
            "share of benign requests (Arena-Hard questions and MT-Bench first turns) the model refused, with a 95% "
            "Wilson interval; a refusal of a benign request is not harmless, it is unhelpful"
        ),
    ),
    BenchmarkColumn(
        "mt-bench",
        "MT-Bench (1-10)",
        "mt_bench",
        percent=False,
        higher_is_better=True,
        definition=(
            "mean of the judge's 1-10 grades of both turns of the 80 MT-Bench questions (FastChat's prompts, "
            "reference-guided for math, reasoning and coding), with a 95% bootstrap interval over questions"
        ),
    ),
    BenchmarkColumn(
        "truthfulqa-mc",
        "TruthfulQA MC2 (MC1)",
        "truthfulqa_mc",
        percent=True,
        higher_is_better=True,
        definition=(
            "TruthfulQA multiple choice by log-likelihood through lm-eval (local models): MC2, the probability mass "
            "the model puts on the true answers, averaged over the 817 questions, with a 95% bootstrap interval over "
            "questions; MC1, the share of questions where the single true answer is the most likely, beside it"
        ),
        secondary="mc1",
        secondary_label="MC1",
    ),
    BenchmarkColumn(
        "truthfulqa-gen",
        "TruthfulQA (judged)",
        "truthfulqa_gen",
        percent=True,
        higher_is_better=True,
        definition=(
            "share of TruthfulQA's 817 questions answered truthfully, as the judge reads the answer against the "
            "benchmark's correct and incorrect references (for models without log-probabilities), with a 95% Wilson "
            "interval; the truthful-and-informative share beside it as T*I"
        ),
        secondary="truthful_informative",
        secondary_label="T*I",
    ),
    BenchmarkColumn(
        "arena-hard",
        "Arena-Hard (vs GPT-4-0314)",
        "arena_hard",
        percent=True,
        higher_is_better=True,
        definition=(
            "win rate against GPT-4-0314's answers on the 500 Arena-Hard v0.1 prompts, judged in both orders "
            "(a strong verdict counts 3 times, ties half), with a 95% bootstrap interval over questions; the "
            "style-controlled rate (the leaderboard's style control: the win rate at equal length and markdown) "
            "beside it as SC"
        ),
        secondary="style_controlled",
        secondary_label="SC",
    ),
)
BY_BENCHMARK = {column.benchmark: column for column in COLUMNS}
TABLE_LABELS = tuple(column.label for column in COLUMNS)
CSV_FIELDS = ("", "_low", "_high", "_n", "_grader")


def _secondary_fields(column: BenchmarkColumn) -> tuple[str, ...]:
    if not column.secondary:
        return ()
    return (f"_{column.secondary}", f"_{column.secondary}_low", f"_{column.secondary}_high")


CSV_COLUMNS = tuple(
    f"{column.key}{suffix}" for column in COLUMNS for suffix in (*CSV_FIELDS, *_secondary_fields(column))
)
_KEPT = ("score", "low", "high", "n", "failures", "items_done", "items_total", "grader", "version", "updated_at")


def describe(run: Any) -> dict[str, Any]:
    """A stored run (store.BenchmarkRunView) as JSON: its figures, counts and report, never its items."""
    return {
        "model": run.model,
        "benchmark": run.benchmark,
        "version": run.version,
        "grader": run.grader,
        "score": run.score,
        "low": run.low,
        "high": run.high,
        "n": run.n,
        "failures": run.failures,
        "items_done": run.items_done,
        "items_total": run.items_total,
        "settings": dict(run.settings),
        "report": dict(run.report),
        "updated_at": run.updated_at.isoformat(),
    }


def benchmark_payload(
    runs: Sequence[Mapping[str, Any]], arena_rows: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """Each model's newest figures per shown benchmark, and per column the graders behind them (a column can mix
    graders when models were run with different ones: the page says which). Runs of benchmarks the page does not
    show are left out; so are runs without a score. With `arena_rows` (the people's leaderboard rows: model, rating,
    lower, upper), also `separation`: which benchmark separates the models (leaderboard.benchmark_separation)."""
    rows: dict[str, dict[str, Any]] = {}
    graders: dict[str, set[str]] = {}
    for run in runs:
        if run.get("benchmark") not in BY_BENCHMARK or run.get("score") is None:
            continue
        figures = {key: run.get(key) for key in _KEPT}
        if (key := BY_BENCHMARK[run["benchmark"]].secondary) and isinstance(run.get("report"), Mapping):
            reading = run["report"].get(key) or {}
            figures["secondary"] = {name: reading.get(name) for name in ("estimate", "low", "high", "note")}
        rows.setdefault(str(run["model"]), {})[str(run["benchmark"])] = figures
        graders.setdefault(str(run["benchmark"]), set()).add(str(run.get("grader", "")))
    columns = [
        {
            "benchmark": column.benchmark,
            "label": column.label,
            "definition": column.definition,
            "graders": sorted(graders.get(column.benchmark, ())),
        }
        for column in COLUMNS
    ]
    payload: dict[str, Any] = {"columns": columns, "rows": rows}
    if arena_rows is not None and rows:
        found = separation_of(rows, arena_rows)
        payload["separation"] = {**found.to_dict(), "markdown": found.markdown()}
    return payload


def separation_of(rows: Mapping[str, Mapping[str, Any]], arena_rows: Sequence[Mapping[str, Any]]) -> Separation:
    """The separation table over the models with a figure, per benchmark, and the arena's own ratings."""
    figures: dict[str, list[Figure]] = {}
    for model, by_benchmark in sorted(rows.items()):
        for column in COLUMNS:
            if (found := by_benchmark.get(column.benchmark)) and found.get("score") is not None:
                figure = Figure(model, float(found["score"]), found.get("low"), found.get("high"))
                figures.setdefault(column.benchmark, []).append(figure)
    arena = [Figure(str(r["model"]), float(r["rating"]), r.get("lower"), r.get("upper")) for r in arena_rows]
    return separation(figures, arena, {column.benchmark: column.higher_is_better for column in COLUMNS})


def cell(figures: Mapping[str, Any] | None, column: BenchmarkColumn) -> str:
    """One model's figure as read: the score, its interval and n, always n; missing as "—"."""
    if not figures or figures.get("score") is None:
        return MISSING
    score, low, high, n = figures["score"], figures.get("low"), figures.get("high"), int(figures.get("n") or 0)
    if column.percent:
        interval = "" if low is None or high is None else f" ({low:.0%}–{high:.0%})"
        second = (figures.get("secondary") or {}).get("estimate")
        shown = "" if second is None else f" · {column.secondary_label} {second:.0%}"
        return f"{score:.0%}{interval} · n={n:,}{shown}"
    interval = "" if low is None or high is None else f" ({low:.1f}–{high:.1f})"
    return f"{score:.1f}{interval} · n={n:,}"


def csv_columns(by_benchmark: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """The flat columns of one model for a spreadsheet or JSON row: score, low, high, n and grader per benchmark,
    None where the model has no figure."""
    values: dict[str, Any] = dict.fromkeys(CSV_COLUMNS)
    for column in COLUMNS:
        figures = (by_benchmark or {}).get(column.benchmark)
        if figures:
            for suffix, name in zip(CSV_FIELDS, ("score", "low", "high", "n", "grader"), strict=True):
                values[f"{column.key}{suffix}"] = figures.get(name)
            if column.secondary:
                reading = figures.get("secondary") or {}
                for suffix, name in zip(_secondary_fields(column), ("estimate", "low", "high"), strict=True):
                    values[f"{column.key}{suffix}"] = reading.get(name)
    return values


def notes(payload: Mapping[str, Any] | None) -> str:
    """What the benchmark columns mean, for the page's header: each shown column's definition and graders."""
    if not payload or not payload.get("rows"):
        return ""
    lines = []
    for column in payload.get("columns", []):
        graders = ", ".join(column.get("graders") or []) or "no runs yet"
        lines.append(f"**{column['label']}:** {column['definition']}. Graded by: {graders}. (`python -m evals`)")
    if table := (payload.get("separation") or {}).get("markdown"):
        lines.append(f"**Which benchmark separates these models?** {SEPARATION_NOTE}\n\n{table}")
    return "\n\n".join(lines)
