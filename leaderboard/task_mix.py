"""The task mix of a supervised (SFT) set against InstructGPT's use cases, its length distributions, and a sampler
that draws a training set to a target mix.

    report = mix_report(records)               # against InstructGPT's table (Ouyang et al. 2022, Table 1)
    report = mix_report(records, target="h4")  # H4's variant: InstructGPT's "Other" slot given to code
    print(report.markdown()); report.figure().write_html("mix.html")
    drawn = sample_to_mix(records, "instructgpt", 1000, seed=0)

Records come in three layouts: chat `{"messages": [{"role", "content"}, ...]}` (prompt = the first user message,
answer = the last assistant message after it), Self-Instruct `{"instruction", "input", "output"}` (prompt =
instruction, then a blank line and the input when there is one, as `training.sft` builds it) and the Self-Instruct
seed-task file's `{"instruction", "instances": [{"input", "output"}, ...]}` (its first instance). A record that
fits none is counted as unreadable, with the reason, never raised.

Each prompt is classified once, by `facts.categories.classify_prompt` (the one home for a prompt's category), and
its category maps to a use case of InstructGPT's table (`CATEGORY_USE_CASE`):

- creative_writing -> generation: InstructGPT's generation examples are stories, ads, lyrics, letters and replies.
- open_qa, closed_qa, brainstorming, rewrite, summarization, classification, extraction, chat -> the use case of
  the same name (InstructGPT's examples put translation under rewrite, as the classifier does).
- math -> open_qa: InstructGPT has no math use case, and its appendix (A.2.1) lists "How do you take the
  derivative of the sin function?" as an open-QA prompt: a question answered from knowledge, not from a text the
  prompt carries.
- coding -> coding, which H4 put in InstructGPT's "Other" slot (their target names "coding", not "other"). Against
  a target without "coding" but with "other" (InstructGPT's own table), coding counts as "other": InstructGPT's
  table has no code row, and "other" is where what fits none of its nine use cases went.
  Known gap: InstructGPT files "{java code} What language is the code above written in?" under classification;
  the classifier calls any prompt with code in it coding.
- The classifier's "chat" is both small talk and its fallback ("everything else"); InstructGPT's "other"
  (fragments such as "start with where") lands there, so chat runs high and other low on unlabelled text.

A target is "instructgpt" (the shipped table), "h4" (the same shares, "other" renamed "coding"), or a mapping from
use case (id or table name: "open_qa", "Open QA", "Extract") to a non-negative weight; weights are normalised, so
percentages work. A use case the target leaves out has target share 0.

Lengths are counted in tokens by the regex `\\w+|[^\\w\\s]` (each run of word characters, and each other
non-space character, is one token): a tokenizer-free stand-in for subword tokens, comparable across sets.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from facts.categories import CATEGORIES, classify_prompt

# use case id -> name in InstructGPT's Table 1 (and "coding", H4's replacement of "Other")
USE_CASES: Mapping[str, str] = {
    "generation": "Generation",
    "open_qa": "Open QA",
    "brainstorming": "Brainstorming",
    "chat": "Chat",
    "rewrite": "Rewrite",
    "summarization": "Summarization",
    "classification": "Classification",
    "other": "Other",
    "closed_qa": "Closed QA",
    "extraction": "Extract",
    "coding": "Coding",
}
# facts.categories id -> use case (the module docstring says why for each)
CATEGORY_USE_CASE: Mapping[str, str] = {
    "coding": "coding",
    "math": "open_qa",
    "creative_writing": "generation",
    "brainstorming": "brainstorming",
    "open_qa": "open_qa",
    "closed_qa": "closed_qa",
    "summarization": "summarization",
    "rewrite": "rewrite",
    "extraction": "extraction",
    "classification": "classification",
    "chat": "chat",
}
# A use case a target lacks counts as this one when the target has it (InstructGPT's table has no code row).
FOLDS: Mapping[str, str] = {"coding": "other"}
NAMED_TARGETS = ("instructgpt", "h4")
TABLE = Path(__file__).resolve().parent / "data" / "task-distributions" / "instructgpt_use_cases.csv"
TABLE_SOURCE = "Ouyang et al. 2022, Table 1"

TOKEN_RULE = r"tokens = runs of word characters and single other non-space characters (regex \w+|[^\w\s])"
_TOKEN = re.compile(r"\w+|[^\w\s]")
# Length histogram edges in tokens; the last bin is open-ended. Powers of two keep sets of any size comparable.
LENGTH_EDGES = (0, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
CONFIDENCE = 0.95
MONTE_CARLO_DRAWS = 10_000
MONTE_CARLO_SEED = 0
PROBLEMS_KEPT = 10  # unreadable records whose reason the report keeps
_ALIASES = {"extract": "extraction", "code": "coding", "summarize": "summarization", "classify": "classification"}


class TargetError(ValueError):
    """A target mix that cannot be used; the message says why."""


# ------------------------------------------------------------------------------------------------------
# Targets and the mapping
# ------------------------------------------------------------------------------------------------------


@functools.cache
def _shipped_table() -> tuple[tuple[str, float], ...]:
    """(use case id, percent) rows of the shipped InstructGPT table: the module's only file read."""
    rows = csv.DictReader(io.StringIO(TABLE.read_text(encoding="utf-8")))
    return tuple((use_case_id(row["category"]), float(row["percent"])) for row in rows)


def instructgpt_mix() -> dict[str, float]:
    """InstructGPT's use-case shares (Table 1, percentages normalised: the paper's sum to 99.9), largest first."""
    return _normalised(dict(_shipped_table()), "the shipped InstructGPT table")


def h4_mix() -> dict[str, float]:
    """H4's target: InstructGPT's shares with the "other" slot given to coding."""
    return {("coding" if key == "other" else key): share for key, share in instructgpt_mix().items()}


def use_case_id(name: str) -> str:
    """The id of a use case given its id or table name, any case or spacing ("Open QA", "open-qa", "Extract")."""
    key = re.sub(r"[\s\-]+", "_", name.strip().casefold())
    key = _ALIASES.get(key, key)
    for use_case, label in USE_CASES.items():
        if key in (use_case, label.casefold().replace(" ", "_")):
            return use_case
    raise TargetError(f"unknown use case {name!r}; expected one of {', '.join(USE_CASES)}")


def resolve_target(target: Mapping[str, float] | str | None) -> tuple[str, dict[str, float]]:
    """(name, shares summing to 1) of a target: None or "instructgpt", "h4", or a mapping of weights."""
    if target is None or (isinstance(target, str) and target.casefold() == "instructgpt"):
        return "instructgpt", instructgpt_mix()
    if isinstance(target, str):
        if target.casefold() == "h4":
            return "h4", h4_mix()
        raise TargetError(f"unknown target {target!r}; expected {' or '.join(NAMED_TARGETS)} or a mapping of shares")
    if not isinstance(target, Mapping):
        raise TargetError(f"a target must be a name or a mapping of use case to share, got {type(target).__name__}")
    weights: dict[str, float] = {}
    for name, weight in target.items():
        if not isinstance(name, str):
            raise TargetError(f"a use case must be a string, got {name!r}")
        key = use_case_id(name)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise TargetError(f"the share of {name!r} must be a finite number >= 0, got {weight!r}")
        if key in weights:
            raise TargetError(f"use case {key!r} is named twice in the target")
        weights[key] = float(weight)
    return "custom", _normalised(weights, "the target")


def _normalised(weights: Mapping[str, float], what: str) -> dict[str, float]:
    total = sum(weights.values())
    if not total > 0:
        raise TargetError(f"{what} gives no use case a positive share")
    return {key: value / total for key, value in sorted(weights.items(), key=lambda kv: -kv[1])}


def use_case(category: str, target: Mapping[str, float] | str | None = None) -> str:
    """The use case a facts.categories category counts as against `target` (default InstructGPT's table, where
    coding counts as "other"; against "h4" it is "coding")."""
    if category not in CATEGORY_USE_CASE:
        raise ValueError(f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}")
    return _against(CATEGORY_USE_CASE[category], resolve_target(target)[1])


def _against(case: str, shares: Mapping[str, float]) -> str:
    if case in shares:
        return case
    folded = FOLDS.get(case)
    return folded if folded is not None and folded in shares else case


# ------------------------------------------------------------------------------------------------------
# Records
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    prompt: str
    answer: str | None  # None: the record carries no answer (a prompt-only set)


def parse_record(record: Any) -> Parsed:
    """The prompt and answer of a record in any of the three layouts; ValueError saying why it cannot be read."""
    if not isinstance(record, Mapping):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    if "messages" in record:
        return _parse_chat(record["messages"])
    if "instruction" in record:
        instruction = _string(record["instruction"], "instruction")
        if "instances" in record:
            instances = record["instances"]
            if not isinstance(instances, list) or not instances or not isinstance(instances[0], Mapping):
                raise ValueError("instances must be a non-empty list of objects")
            return _instruction(instruction, instances[0].get("input"), instances[0].get("output"))
        return _instruction(instruction, record.get("input"), record.get("output"))
    raise ValueError("neither messages (chat) nor instruction (Self-Instruct)")


def _parse_chat(messages: Any) -> Parsed:
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list")
    prompt: str | None = None
    answer: str | None = None
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise ValueError(f"message {index}: expected an object with role and content")
        content = _string(message["content"], f"message {index} content")
        if message["role"] == "user" and prompt is None:
            prompt = content
        elif message["role"] == "assistant" and prompt is not None:
            answer = content
    if prompt is None or not prompt.strip():
        raise ValueError("no user message with text")
    return Parsed(prompt, answer)


def _instruction(instruction: str, extra: Any, output: Any) -> Parsed:
    if not instruction.strip():
        raise ValueError("empty instruction")
    extra = _string(extra or "", "input").strip()
    answer = None if output is None else _string(output, "output")
    return Parsed(f"{instruction.strip()}\n\n{extra}" if extra else instruction.strip(), answer)


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    return value


def token_count(text: str) -> int:
    """Tokens by `TOKEN_RULE`: "Hello, world!" is 4."""
    return sum(1 for _ in _TOKEN.finditer(text))


@dataclass(frozen=True)
class _Classified:
    index: int  # position in the input
    category: str
    use_case: str  # before folding against a target
    prompt_tokens: int
    answer_tokens: int | None


def _classify(records: Sequence[Any]) -> tuple[list[_Classified], int, list[tuple[int, str]]]:
    """Each readable record classified once; (classified, unreadable count, first problems as (index, reason))."""
    classified, problems, unreadable = [], [], 0
    for index, record in enumerate(records):
        try:
            parsed = parse_record(record)
        except ValueError as exc:
            unreadable += 1
            if len(problems) < PROBLEMS_KEPT:
                problems.append((index, str(exc)))
            continue
        category = classify_prompt(parsed.prompt)
        answer = None if parsed.answer is None else token_count(parsed.answer)
        classified.append(_Classified(index, category, CATEGORY_USE_CASE[category], token_count(parsed.prompt), answer))
    return classified, unreadable, problems


# ------------------------------------------------------------------------------------------------------
# The report
# ------------------------------------------------------------------------------------------------------


def wilson_interval(count: int, total: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a binomial share; (nan, nan) without observations."""
    if total <= 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    share = count / total
    centre = (share + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class UseCaseRow:
    use_case: str
    label: str
    count: int
    share: float  # of the readable records; nan when there are none
    lower: float  # Wilson 95% interval of the share
    upper: float
    target: float  # the target's share (0 for a use case the target leaves out)
    categories: tuple[tuple[str, int], ...]  # the classifier's categories that make up `count`, largest first

    def to_dict(self) -> dict[str, Any]:
        return {
            "use_case": self.use_case,
            "label": self.label,
            "count": self.count,
            "share": self.share,
            "lower": self.lower,
            "upper": self.upper,
            "target": self.target,
            "categories": dict(self.categories),
        }


@dataclass(frozen=True)
class GoodnessOfFit:
    """Pearson's chi-square test of the counts against the target shares."""

    statistic: float  # inf when records fall in a use case whose target share is 0
    df: int
    p_value: float  # from the chi-square distribution (asymptotic)
    p_value_monte_carlo: float  # from MONTE_CARLO_DRAWS multinomial draws under the target; valid for small counts
    draws: int
    min_expected: float  # the smallest expected count among use cases with a target share

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class LengthSummary:
    count: int
    mean: float
    quantiles: tuple[tuple[float, float], ...]  # (q, tokens) for q in QUANTILES
    minimum: float
    maximum: float
    bins: tuple[tuple[int, int | None, int], ...]  # (from, to (exclusive; None: open), records)

    def quantile(self, q: float) -> float:
        return dict(self.quantiles).get(q, math.nan)

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean": self.mean,
            "min": self.minimum,
            "max": self.maximum,
            "quantiles": {f"p{round(q * 100)}": value for q, value in self.quantiles},
            "bins": [{"from": low, "to": high, "count": count} for low, high, count in self.bins],
        }


def length_summary(lengths: Sequence[int]) -> LengthSummary:
    values = np.asarray(lengths, dtype=float)
    edges = [*LENGTH_EDGES, math.inf]
    counts = np.histogram(values, bins=edges)[0] if len(values) else np.zeros(len(LENGTH_EDGES), dtype=int)
    bins = tuple(
        (low, None if math.isinf(high) else int(high), int(count))
        for low, high, count in zip(edges[:-1], edges[1:], counts, strict=True)
    )
    if not len(values):
        return LengthSummary(0, math.nan, tuple((q, math.nan) for q in QUANTILES), math.nan, math.nan, bins)
    quantiles = tuple((q, float(v)) for q, v in zip(QUANTILES, np.quantile(values, QUANTILES), strict=True))
    return LengthSummary(len(values), float(values.mean()), quantiles, float(values.min()), float(values.max()), bins)


@dataclass(frozen=True)
class MixReport:
    n: int  # readable records
    unreadable: int
    problems: tuple[tuple[int, str], ...]  # the first unreadable records: (position in the input, reason)
    target_name: str  # "instructgpt", "h4" or "custom"
    target: Mapping[str, float]
    rows: tuple[UseCaseRow, ...]  # the target's use cases (its order), then off-target use cases that occur
    distance: float  # total variation between the mix and the target
    fit: GoodnessOfFit
    prompt_lengths: LengthSummary
    answer_lengths: LengthSummary  # over the records that carry an answer
    token_rule: str = TOKEN_RULE
    confidence: float = CONFIDENCE
    mapping: Mapping[str, str] = field(default_factory=dict)  # category -> use case, against this target

    @property
    def target_title(self) -> str:
        return {
            "instructgpt": f"InstructGPT's use cases ({TABLE_SOURCE})",
            "h4": f"H4's target (InstructGPT's shares, {TABLE_SOURCE}, with Other as Coding)",
        }.get(self.target_name, "the given target")

    def summary(self) -> str:
        if self.n == 0:
            return f"No readable record ({self.unreadable} unreadable): no mix to report."
        biggest = max(self.rows, key=lambda row: abs(row.share - row.target))
        return (
            f"{self.n:,} records against {self.target_title}: total variation distance {self.distance:.3f}; "
            f"furthest off: {biggest.label} at {biggest.share:.1%} (target {biggest.target:.1%})."
        )

    def markdown(self) -> str:
        lines = [self.summary()]
        if self.unreadable:
            lines.append(f"{self.unreadable:,} unreadable record{'s' if self.unreadable != 1 else ''} left out.")
        if self.n == 0:
            return "\n\n".join(lines)
        percent = f"{self.confidence:.0%}"
        table = [
            f"| use case | records | share | {percent} interval | target | share − target | classifier categories |",
            "|---|---:|---:|---|---:|---:|---|",
        ]
        for row in self.rows:
            parts = ", ".join(f"{category} {count}" for category, count in row.categories) or "–"
            table.append(
                f"| {row.label} | {row.count:,} | {row.share:.1%} | {row.lower:.1%}–{row.upper:.1%} | "
                f"{row.target:.1%} | {100 * (row.share - row.target):+.1f} pts | {parts} |"
            )
        fit = self.fit
        test = (
            f"Pearson χ² = {fit.statistic:.1f} on {fit.df} df: p {_p(fit.p_value)} (asymptotic), "
            f"p {_p(fit.p_value_monte_carlo, fit.draws)} ({fit.draws:,} multinomial draws from the target; "
            f"trust this one when expected counts are below 5, the smallest here is {fit.min_expected:.1f})."
        )
        distance = (
            f"Total variation distance to the target: {self.distance:.3f} (the share of records that would have to "
            "change use case to match it)."
        )
        lengths = [
            f"Lengths in tokens ({self.token_rule}):",
            "",
            "| | records | mean | min | p10 | p25 | median | p75 | p90 | max |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            _length_row("prompt", self.prompt_lengths),
            _length_row("answer", self.answer_lengths),
        ]
        return "\n\n".join([*lines, "\n".join(table), distance, test, "\n".join(lengths)])

    def figure(self) -> Any:
        """Plotly: the mix (bars with their intervals) against the target, and the two length histograms."""
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        figure = make_subplots(
            rows=2,
            cols=2,
            specs=[[{"colspan": 2}, None], [{}, {}]],
            subplot_titles=(
                f"Task mix of {self.n:,} records against {self.target_title}",
                "Prompt length (tokens)",
                "Answer length (tokens)",
            ),
            vertical_spacing=0.18,
        )
        labels = [row.label for row in self.rows]
        figure.add_trace(
            go.Bar(
                x=labels,
                y=[row.share for row in self.rows],
                name="this set",
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [_gap(row.upper, row.share) for row in self.rows],
                    "arrayminus": [_gap(row.share, row.lower) for row in self.rows],
                },
                customdata=[[row.count, row.lower, row.upper] for row in self.rows],
                hovertemplate="%{x}: %{y:.1%} (%{customdata[0]} records, "
                "95% %{customdata[1]:.1%}–%{customdata[2]:.1%})<extra></extra>",
            ),
            row=1,
            col=1,
        )
        figure.add_trace(
            go.Bar(
                x=labels,
                y=[row.target for row in self.rows],
                name="target",
                hovertemplate="%{x}: target %{y:.1%}<extra></extra>",
            ),
            row=1,
            col=1,
        )
        for col, (name, lengths) in enumerate((("prompts", self.prompt_lengths), ("answers", self.answer_lengths)), 2):
            figure.add_trace(
                go.Bar(
                    x=[_bin_label(low, high) for low, high, _ in lengths.bins],
                    y=[count for _, _, count in lengths.bins],
                    name=name,
                    showlegend=False,
                    hovertemplate="%{x} tokens: %{y} records<extra></extra>",
                ),
                row=2,
                col=col - 1,
            )
        figure.update_layout(barmode="group", height=720, margin={"t": 80, "l": 10, "r": 10})
        figure.update_yaxes(tickformat=".0%", row=1, col=1)
        figure.update_yaxes(title_text="records", row=2, col=1)
        return figure

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (non-finite numbers stay floats: write it with facts.json_safe.dumps)."""
        return {
            "n": self.n,
            "unreadable": self.unreadable,
            "problems": [{"index": index, "reason": reason} for index, reason in self.problems],
            "target_name": self.target_name,
            "target": dict(self.target),
            "rows": [row.to_dict() for row in self.rows],
            "distance": self.distance,
            "fit": self.fit.to_dict(),
            "prompt_lengths": self.prompt_lengths.to_dict(),
            "answer_lengths": self.answer_lengths.to_dict(),
            "token_rule": self.token_rule,
            "confidence": self.confidence,
            "mapping": dict(self.mapping),
            "text": self.markdown(),
        }


def mix_report(
    records: Sequence[Any], target: Mapping[str, float] | str | None = None, *, unparsed: int = 0
) -> MixReport:
    """The use-case mix of `records` against `target` (None: InstructGPT's table), with intervals, the distance
    and a goodness-of-fit test, and the prompt and answer length distributions. `unparsed`: records the caller
    could not even decode (lines that are not JSON), added to the unreadable count."""
    name, shares = resolve_target(target)
    classified, unreadable, problems = _classify(records)
    unreadable += unparsed
    n = len(classified)
    by_case: dict[str, Counter[str]] = {}
    for item in classified:
        by_case.setdefault(_against(item.use_case, shares), Counter())[item.category] += 1
    order = [*shares, *sorted(set(by_case) - set(shares), key=list(USE_CASES).index)]
    rows = []
    for case in order:
        categories = by_case.get(case, Counter())
        count = sum(categories.values())
        lower, upper = wilson_interval(count, n)
        rows.append(
            UseCaseRow(
                use_case=case,
                label=USE_CASES[case],
                count=count,
                share=count / n if n else math.nan,
                lower=lower,
                upper=upper,
                target=shares.get(case, 0.0),
                categories=tuple(categories.most_common()),
            )
        )
    counts = [row.count for row in rows]
    target_shares = [row.target for row in rows]
    return MixReport(
        n=n,
        unreadable=unreadable,
        problems=tuple(problems),
        target_name=name,
        target=shares,
        rows=tuple(rows),
        distance=total_variation([row.share for row in rows], target_shares) if n else math.nan,
        fit=goodness_of_fit(counts, target_shares),
        prompt_lengths=length_summary([item.prompt_tokens for item in classified]),
        answer_lengths=length_summary([item.answer_tokens for item in classified if item.answer_tokens is not None]),
        mapping={category: _against(case, shares) for category, case in CATEGORY_USE_CASE.items()},
    )


def total_variation(shares: Sequence[float], target: Sequence[float]) -> float:
    """Half the summed absolute differences of two distributions over the same use cases."""
    return 0.5 * sum(abs(a - b) for a, b in zip(shares, target, strict=True))


def goodness_of_fit(
    counts: Sequence[int], target: Sequence[float], *, draws: int = MONTE_CARLO_DRAWS, seed: int = MONTE_CARLO_SEED
) -> GoodnessOfFit:
    """Pearson's chi-square of `counts` against `target` shares (summing to 1), with its asymptotic p-value and a
    seeded Monte Carlo one; use cases with target share 0 hold no degrees of freedom, and a count in one makes the
    statistic infinite (the target says it cannot happen: p = 0)."""
    from scipy.stats import chi2

    observed = np.asarray(counts, dtype=float)
    shares = np.asarray(target, dtype=float)
    n = int(observed.sum())
    positive = shares > 0
    df = int(positive.sum()) - 1
    if n == 0 or df < 1:
        return GoodnessOfFit(math.nan, max(df, 0), math.nan, math.nan, 0, math.nan)
    expected = n * shares[positive]
    if observed[~positive].sum() > 0:
        return GoodnessOfFit(math.inf, df, 0.0, 0.0, draws, float(expected.min()))
    statistic = float(((observed[positive] - expected) ** 2 / expected).sum())
    simulated = np.random.default_rng(seed).multinomial(n, shares[positive] / shares[positive].sum(), size=draws)
    at_least = int((((simulated - expected) ** 2 / expected).sum(axis=1) >= statistic - 1e-9).sum())
    return GoodnessOfFit(
        statistic=statistic,
        df=df,
        p_value=float(chi2.sf(statistic, df)),
        p_value_monte_carlo=(at_least + 1) / (draws + 1),
        draws=draws,
        min_expected=float(expected.min()),
    )


def _p(value: float, draws: int | None = None) -> str:
    """ "= 0.03", or "< 1e-04" for a Monte Carlo p-value at its floor."""
    if math.isnan(value):
        return "= –"
    if draws and value <= 1 / (draws + 1) + 1e-12:
        return f"< {1 / draws:.0e}"
    return f"= {value:.2g}" if value >= 1e-4 else f"= {value:.1e}"


def _length_row(name: str, lengths: LengthSummary) -> str:
    if lengths.count == 0:
        return f"| {name} | 0 | – | – | – | – | – | – | – | – |"
    values = [lengths.mean, lengths.minimum, *(value for _, value in lengths.quantiles), lengths.maximum]
    return f"| {name} | {lengths.count:,} | " + " | ".join(f"{value:,.0f}" for value in values) + " |"


def _bin_label(low: int, high: int | None) -> str:
    return f"{low}+" if high is None else f"{low}–{high - 1}"


def _gap(high: float, low: float) -> float:
    return 0.0 if math.isnan(high) or math.isnan(low) else max(0.0, high - low)


# ------------------------------------------------------------------------------------------------------
# The sampler
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleResult:
    records: tuple[Any, ...]  # the drawn records, unchanged, in input order
    indices: tuple[int, ...]  # their positions in the input
    requested: int
    target_name: str
    target: Mapping[str, float]
    quotas: Mapping[str, int]  # what the target asks of `requested` records (largest remainders)
    available: Mapping[str, int]  # readable records per use case
    drawn: Mapping[str, int]  # per use case (in target order)
    shortfalls: Mapping[str, int]  # use cases with fewer records than their quota: how many were missing
    achieved: Mapping[str, float]  # the drawn mix
    distance: float  # total variation between the drawn mix and the target
    seed: int
    unreadable: int

    def summary(self) -> str:
        text = (
            f"Drew {len(self.records):,} of {self.requested:,} requested records (seed {self.seed}); total variation "
            f"distance to the target {self.distance:.3f}."
        )
        if self.shortfalls:
            short = ", ".join(f"{USE_CASES[case]} {missing}" for case, missing in self.shortfalls.items())
            text += (
                f" Short of records for: {short} (missing against the quota); their places went to the other use "
                "cases in proportion to the target."
            )
        if len(self.records) < self.requested:
            text += " The set holds too few records with a target share to draw them all."
        return text

    def markdown(self) -> str:
        table = ["| use case | target | quota | available | drawn | drawn share |", "|---|---:|---:|---:|---:|---:|"]
        for case, share in self.target.items():
            table.append(
                f"| {USE_CASES[case]} | {share:.1%} | {self.quotas.get(case, 0):,} | {self.available.get(case, 0):,} | "
                f"{self.drawn.get(case, 0):,} | {self.achieved.get(case, 0.0):.1%} |"
            )
        return self.summary() + "\n\n" + "\n".join(table)

    def to_dict(self) -> dict[str, Any]:
        """The draw without its records (write those with the indices)."""
        return {
            "drawn_total": len(self.records),
            "requested": self.requested,
            "target_name": self.target_name,
            "target": dict(self.target),
            "quotas": dict(self.quotas),
            "available": dict(self.available),
            "drawn": dict(self.drawn),
            "shortfalls": dict(self.shortfalls),
            "achieved": dict(self.achieved),
            "distance": self.distance,
            "seed": self.seed,
            "unreadable": self.unreadable,
            "text": self.markdown(),
        }


def apportion(total: int, shares: Mapping[str, float]) -> dict[str, int]:
    """`total` split in proportion to `shares` (largest remainders; ties go to the larger share, then to the
    earlier key), so the parts sum to `total` and each is within one of its exact share."""
    weight = sum(shares.values())
    if total <= 0 or weight <= 0:
        return dict.fromkeys(shares, 0)
    exact = {key: total * share / weight for key, share in shares.items()}
    parts = {key: math.floor(value) for key, value in exact.items()}
    order = sorted(shares, key=lambda key: (-(exact[key] - parts[key]), -shares[key], list(shares).index(key)))
    for key in order[: total - sum(parts.values())]:
        parts[key] += 1
    return parts


def _allocate(n: int, shares: Mapping[str, float], available: Mapping[str, int]) -> dict[str, int]:
    """Per use case, how many to draw: the target's quotas where the set has them; a use case short of records
    gives all it has and its remaining places are shared by the others in proportion to the target (repeatedly,
    until every place is filled or every record with a target share is drawn)."""
    drawn = dict.fromkeys(shares, 0)
    active = {key: share for key, share in shares.items() if share > 0 and available.get(key, 0) > 0}
    remaining = min(n, sum(available.get(key, 0) for key in active))
    while remaining > 0 and active:
        parts = apportion(remaining, active)
        full = [key for key in active if drawn[key] + parts[key] > available[key]]
        if not full:
            for key, part in parts.items():
                drawn[key] += part
            break
        for key in full:
            remaining -= available[key] - drawn[key]
            drawn[key] = available[key]
            del active[key]
    return drawn


def sample_to_mix(
    records: Sequence[Any], target: Mapping[str, float] | str | None, n: int, *, seed: int = 0
) -> SampleResult:
    """Draw `n` records (without replacement, seeded) whose use cases follow `target` as closely as the set
    allows: exactly the target's quotas (largest remainders) when every use case has enough records."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a whole number >= 0, got {n!r}")
    name, shares = resolve_target(target)
    classified, unreadable, _ = _classify(records)
    pools: dict[str, list[int]] = {}
    for item in classified:
        pools.setdefault(_against(item.use_case, shares), []).append(item.index)
    available = {key: len(pools.get(key, ())) for key in shares}
    quotas = apportion(n, shares)
    drawn = _allocate(n, shares, available)
    generator = np.random.default_rng(seed)
    chosen: list[int] = []
    for key in shares:  # a fixed order, so the draw depends on (records, target, n, seed) only
        if drawn[key]:
            chosen.extend(int(i) for i in generator.choice(pools[key], size=drawn[key], replace=False))
    chosen.sort()
    total = len(chosen)
    achieved = {key: (count / total if total else 0.0) for key, count in drawn.items()}
    return SampleResult(
        records=tuple(records[i] for i in chosen),
        indices=tuple(chosen),
        requested=n,
        target_name=name,
        target=shares,
        quotas=quotas,
        available=available,
        drawn=drawn,
        shortfalls={key: quotas[key] - available[key] for key in shares if quotas[key] > available[key]},
        achieved=achieved,
        distance=total_variation(list(achieved.values()), list(shares.values())) if total else math.nan,
        seed=seed,
        unreadable=unreadable,
    )
