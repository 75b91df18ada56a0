"""How an LLM judge's verdicts lean, measured against itself and against people on the same battles. Pure.

    audit_judges(battles, *, judges=None, self_trained=frozenset(), rounds=1000, seed=0) -> AuditReport
    render_markdown(report, *, per_model=False) -> str

Input: a battles frame in the clean-battle schema (facts.schema) holding judge rows (source
"judge:<name>") and, for the comparison, human rows (source "human"). Only counted rows enter (anonymous, not
excluded). Two optional columns describe position-swapped judging: `order` ("original" / "swapped") and
`pair_id`, which names one judgment so its two orders can be matched (without `pair_id`, battle_id + turn do).
In every row model_a is the side shown first, so a swapped row names the battle's model_b as its model_a;
verdicts are therefore compared by the winning model's name, never by position. Lengths are len_a / len_b,
or the answers' token counts (facts.style.count_tokens) where those are missing.

What each number is (every one carries a 95% interval and the count it rests on; no data -> NaN, n = 0):
- Position bias: the share of decisive verdicts that pick the answer shown first (0.5 = no bias). With one
  order only it also carries whatever decided which model was shown first; people's votes on the same pairs
  in the same order are then the control. Swap
  survival: of the judgments run in both orders, the share whose winning model (or tie) is the same in both.
- Length bias: the share of decisive verdicts between answers of different length that pick the longer one,
  overall and in bins of the relative difference |a - b| / (a + b); the length slope is the log-odds
  coefficient of tanh((len_a - len_b) / sd) in a logistic model of "first answer wins" with an intercept
  (sd: the standard deviation of len_a - len_b over the source's verdicts).
- Length-controlled win rate (AlpacaEval 2 style), per model against the field: for each model, its battles
  from this source, y = 1 win, 1/2 tie, 0 loss, fitted as logit P = theta + phi * tanh(length difference / sd);
  the LC win rate is sigmoid(theta), the model's win rate with the length term set to zero (answers of equal
  length). phi has a unit normal prior (per-model samples are small: see _LENGTH_PRIOR_PRECISION). AlpacaEval
  has one fixed baseline; the arena has none, so the baseline is the mix of opponents each model met, and two
  models' LC rates compare only as far as their opponents are alike.
- Unique-token preference: the log-odds coefficient, per standard deviation, of the difference in unique-token
  ratio (distinct / all tokens, case-folded) in a logistic model of "first answer wins" on decisive verdicts,
  with the tanh length term alongside because the ratio falls as answers grow: what is left is a preference
  for varied wording, not for length.
- Self-preference: verdicts on battles where exactly one side is a model trained on this judge's outputs
  (given as a set of models, or as model -> provenance text that names the judge, e.g. "distilled from GPT-4
  outputs"), decisive only: how often that side wins by the judge, and by people (majority per turn) on the
  same battle turns, the comparison that separates flattery from quality.
- Agreement with people: the judge's verdict per battle turn (battle_id + turn; several judge rows on a turn,
  such as both orders, count when they agree and are a tie otherwise, MT-Bench's rule) against the majority of
  the human votes on that turn (the plurality label; a turn whose plurality is shared, such as 2 against 2, has
  no majority and is left out, and counted). With ties: the three labels must match (chance 1/3). Without
  ties: turns where both the judge and the majority are decisive (chance 1/2). Overall, per category and per
  entropy group: low entropy (one good answer: closed and open QA, summarization, coding, extraction,
  classification, math, rewrite) vs high entropy (many good answers: brainstorming, creative writing); the
  rest is "other". The reference is human-human agreement: the chance two distinct human votes on one turn
  agree (with ties; without ties over pairs of decisive votes).

Intervals: Wilson score intervals for shares of independent verdicts or turns (win rates with ties counted as
half use Wilson on the half-counted wins, an approximation); Wald intervals (1.96 standard errors from the
inverse Hessian) for logistic coefficients, mapped through the sigmoid for LC win rates; a percentile bootstrap
over turns (`rounds`, `seed`) for human-human agreement, whose vote pairs within one turn are not independent.
The logistic fits carry a tiny L2 penalty (1e-3) so that a judge that always picks the longer answer (perfect
separation) gives a large finite slope instead of diverging.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, fields, is_dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from facts.categories import CATEGORIES
from facts.json_safe import json_safe
from facts.schema import counted
from facts.style import count_tokens, unique_token_share
from leaderboard.alpaca_eval import LengthControlled, alpaca_eval_leaderboard, annotations_from_battles
from leaderboard.audit_import import (
    NO_TWO_ORDERS,
    AuditInputError,
    SourceMapping,
    is_llm_judge,
    prepare_audit_input,
    turn_keys,
)
from leaderboard.multinomial import BLOCK, map_multinomial_rounds

Z95 = 1.959963984540054
HUMAN = "human"
LENGTH_BIN_EDGES = (0.0, 0.1, 0.25, 0.5, 1.0)
_BOOTSTRAP_CELLS = 4_000_000  # rounds x turns per block of bootstrap draws (memory bound)
ENTROPY_GROUPS: Mapping[str, str] = MappingProxyType(
    {
        **dict.fromkeys(
            ("closed_qa", "open_qa", "summarization", "coding", "extraction", "classification", "math", "rewrite"),
            "low entropy",
        ),
        **dict.fromkeys(("brainstorming", "creative_writing"), "high entropy"),
    }
)
_TIE = "\x00tie"  # a winner label no model name can equal
_RIDGE = 1e-3
# A model met by ~40 battles barely identifies its own length coefficient; when its length differences are
# one-sided, zeroing the term extrapolates far outside the data and the LC interval spans 0-100%. A unit normal
# prior on phi (log-odds per tanh unit) keeps LC near the raw rate unless the data show a length effect.
_LENGTH_PRIOR_PRECISION = 1.0


@dataclass(frozen=True)
class Estimate:
    """A number with its 95% interval and the count of verdicts, turns or pairs it rests on."""

    value: float
    low: float
    high: float
    n: int


NO_DATA = Estimate(math.nan, math.nan, math.nan, 0)


@dataclass(frozen=True)
class PositionBias:
    first_wins: Estimate  # share of decisive verdicts for the answer shown first
    swap_survival: Estimate  # share of judgments run in both orders that name the same winner (or tie) twice


@dataclass(frozen=True)
class LengthBin:
    low: float  # relative length difference d = |a - b| / (a + b), low < d <= high (equal lengths are left out)
    high: float
    longer_wins: Estimate


@dataclass(frozen=True)
class ModelLengthControl:
    model: str
    win_rate: Estimate  # raw, ties half
    lc_win_rate: Estimate  # the length term set to zero
    length_coefficient: float  # phi: log-odds per unit of tanh(length difference / sd)


@dataclass(frozen=True)
class LengthBias:
    longer_wins: Estimate
    bins: tuple[LengthBin, ...]
    length_slope: Estimate  # log-odds of "first wins" per unit of tanh((len_a - len_b) / sd)
    length_sd: float
    per_model: tuple[ModelLengthControl, ...]


@dataclass(frozen=True)
class SelfPreference:
    models: tuple[str, ...]  # the models counted as trained on this judge's outputs
    source_win_rate: Estimate  # how often those models win by this source, decisive verdicts against the rest
    human_win_rate: Estimate  # by the human majority on the same battle turns


@dataclass(frozen=True)
class Agreement:
    with_ties: Estimate
    without_ties: Estimate


@dataclass(frozen=True)
class GroupAgreement:
    group: str
    agreement: Agreement


@dataclass(frozen=True)
class HumanAgreement:
    turns: int  # battle turns with both a verdict of this judge and a human majority
    no_majority: int  # turns with judge verdicts and human votes but a shared plurality: left out
    overall: Agreement
    per_category: tuple[GroupAgreement, ...]
    per_entropy: tuple[GroupAgreement, ...]


@dataclass(frozen=True)
class SourceAudit:
    """Every bias measure for one source: a judge, or the people as the reference."""

    source: str
    verdicts: int
    ties: int
    position: PositionBias
    length: LengthBias
    unique_token_slope: Estimate
    self_preference: SelfPreference
    humans: HumanAgreement | None  # None for the human source itself


@dataclass(frozen=True)
class JudgeUsage:
    """What one judge's calls cost and how reliable they were, from the arena's `judgments` table
    (store.judgments.usage): one call per order, so a judged turn is two calls."""

    judgments: int
    parse_failures: int  # calls without a readable verdict
    consistent: int  # turns whose two orders named the same winner
    inconsistent: int  # turns whose two orders disagreed (recorded as a tie)
    prompt_tokens: int
    completion_tokens: int
    seconds: float  # summed latency of the calls that report one
    timed: int  # calls with a latency


def judge_usage(counts: Mapping[str, Mapping[str, float]]) -> dict[str, JudgeUsage]:
    """Per judge, the judgments table's aggregate (store.judgments.usage) as JudgeUsage."""
    return {
        judge: JudgeUsage(**{name: value if name == "seconds" else int(value) for name, value in row.items()})
        for judge, row in counts.items()
    }


@dataclass(frozen=True)
class EvaluatorRow:
    """One judge in the evaluator table (AlpacaEval's evaluators table, on this audit's data)."""

    source: str
    agreement_with_ties: Estimate
    agreement_without_ties: Estimate
    prefers_longer: Estimate
    prefers_first: Estimate
    swap_consistency: Estimate  # survives the swap: from both-order rows, else from the judgments table
    self_preference: float  # win rate of the models trained on the judge, by the judge minus by people
    parse_failures: Estimate  # share of judgments without a readable verdict
    tokens_per_1000: float  # prompt + completion tokens per 1,000 judgments (calls)
    seconds_per_1000: float  # seconds of latency per 1,000 judgments


@dataclass(frozen=True)
class AlpacaEvalBoard:
    """One source's verdicts against a baseline every battle includes (AlpacaEval's shape), scored as AlpacaEval 2
    does (leaderboard.alpaca_eval): win rate as the mean soft preference with its standard error, and the
    length-controlled win rate."""

    source: str
    baseline: str
    models: tuple[LengthControlled, ...]  # best LC win rate first
    message: str | None = None  # why there is no board, when the fit refused


@dataclass(frozen=True)
class AuditReport:
    judges: tuple[SourceAudit, ...]
    human: SourceAudit | None  # the same measures on the people's votes, the baseline to read the judges against
    human_turns: int  # battle turns with at least one human vote
    human_human: Agreement  # two distinct human votes on one turn agree
    messages: tuple[str, ...]
    columns: tuple[str, ...] = ()  # how the input was read (leaderboard.audit_import)
    warnings: tuple[str, ...] = ()  # what was left out or re-read, with counts
    evaluators: tuple[EvaluatorRow, ...] = ()  # the judges ranked by agreement with people (without ties)
    alpaca_eval: tuple[AlpacaEvalBoard, ...] = ()  # per source whose battles all include one baseline model


@dataclass(frozen=True)
class AuditLimits:
    """The most one audit takes on (an upload through the page passes these; the command line none): the work
    grows with the models and judges a file names (AlpacaEval's fits), not only with its rows."""

    max_models: int | None = None
    max_judges: int | None = None
    # AlpacaEval length-control fits (one per model, per source with a baseline), ~0.2 s each: sources past the
    # budget get no AlpacaEval table, and say so.
    max_fits: int | None = None


# Models trained on a judge's outputs, for self-preference: one set for every judge; per judge (source ->
# models); or model -> provenance text, a model counting for each judge its provenance names.
SelfTrained = Set[str] | Mapping[str, Set[str]] | Mapping[str, str]


def audit_judges(
    battles: pd.DataFrame,
    *,
    sources: SourceMapping | None = None,
    judges: Sequence[str] | None = None,
    self_trained: SelfTrained = frozenset(),
    usage: Mapping[str, JudgeUsage] | None = None,
    difficulty: pd.Series | None = None,
    limits: AuditLimits | None = None,
    rounds: int = 1000,
    seed: int = 0,
) -> AuditReport:
    """Audit each judge source (default: every "judge:*" source present) against itself and against people.
    `sources` maps a file's judge column (leaderboard.audit_import); `usage` adds the judgments table's cost and
    parse-failure columns to the evaluator table; `difficulty` is AlpacaEval's instruction difficulty table
    (instruction -> value) for the length-controlled win rates against a baseline (estimated when absent)."""
    prepared = prepare_audit_input(battles, sources)
    _check_limits(prepared.frame, limits or AuditLimits())
    frame = _prepare(prepared.frame)
    present = sorted(s for s in frame["source"].unique() if str(s).startswith("judge:"))
    audited = list(judges) if judges is not None else present
    messages = []
    if not audited:
        messages.append(
            "no judge verdicts: nothing to audit (an LLM judge's rows have source judge:<name>; a file can name them "
            "by its judge column, see --llm-judge)"
        )
    for source in audited:
        if source not in present:
            messages.append(f"{source}: no verdicts")
    messages += _unknown_self_trained(self_trained, present) + _absent_models(self_trained, frame)
    # each source's rows selected once (a million votes; every measure below reads them)
    by_source = {source: frame[frame["source"] == source] for source in [HUMAN, *audited]}
    human_rows = by_source[HUMAN]
    majority = _human_majority(human_rows)
    human = _audit_source(HUMAN, human_rows, majority, self_trained, None) if len(human_rows) else None
    if human is None:
        messages.append("no human votes: agreement with people is undefined")
    categories = _turn_categories(frame)
    audits = tuple(_audit_source(source, by_source[source], majority, self_trained, categories) for source in audited)
    failures = _parse_failures(prepared.frame)
    return AuditReport(
        judges=audits,
        human=human,
        human_turns=int(human_rows["turn_key"].nunique()),
        human_human=_human_human(human_rows, rounds, seed),
        messages=tuple(messages),
        columns=prepared.columns + _stored_orders(usage or {}),
        warnings=tuple(w for w in prepared.warnings if not (w == NO_TWO_ORDERS and _stored_orders(usage or {}))),
        evaluators=_evaluators(audits, human, usage or {}, failures),
        alpaca_eval=_alpaca_eval_boards(
            by_source, ([HUMAN] if len(human_rows) else []) + audited, difficulty, (limits or AuditLimits()).max_fits
        ),
    )


def _alpaca_eval_boards(
    by_source: Mapping[str, pd.DataFrame], sources: Sequence[str], difficulty: pd.Series | None, budget: int | None
) -> tuple[AlpacaEvalBoard, ...]:
    boards = []
    for source in sources:
        board = _alpaca_eval(source, by_source[source], difficulty, budget)
        if board is not None:
            boards.append(board)
            if budget is not None:
                budget -= len(board.models)
    return tuple(boards)


def _one_model_in_every_row(rows: pd.DataFrame) -> bool:
    """AlpacaEval's shape (a baseline in every battle), tested on the model codes before any copy is made."""
    code_a, code_b = rows["model_a"].cat.codes.to_numpy(), rows["model_b"].cat.codes.to_numpy()
    return any(((code_a == code) | (code_b == code)).all() for code in {code_a[0], code_b[0]})


def _stored_orders(usage: Mapping[str, JudgeUsage]) -> tuple[str, ...]:
    """The arena's judges store one vote per turn and both orders' calls in the judgments table: swap consistency
    comes from there, and no file column is missing."""
    judges = sorted(judge for judge, spent in usage.items() if spent.consistent + spent.inconsistent)
    if not judges:
        return ()
    return (f"swap consistency: from the judgments table's two calls per judged turn ({', '.join(judges)})",)


def _alpaca_eval(
    source: str, rows: pd.DataFrame, difficulty: pd.Series | None, budget: int | None = None
) -> AlpacaEvalBoard | None:
    if rows.empty or not _one_model_in_every_row(rows):
        return None
    # the instruction is the question as the file named it (battle_id here is one pair's battle turn)
    rows = rows.assign(battle_id=rows["question"]) if "question" in rows.columns else rows
    if rows["answer_a"].isna().all() and rows["answer_b"].isna().all():
        rows = rows.drop(columns=["answer_a", "answer_b"])  # lengths then come from len_a / len_b
    annotations = annotations_from_battles(rows.drop(columns=["winner_name"], errors="ignore"))
    if annotations is None:
        return None
    baseline = str(annotations["generator_1"].iloc[0])
    models = int(annotations["generator_2"].nunique())
    if budget is not None and models > budget:
        return AlpacaEvalBoard(
            source,
            baseline,
            (),
            f"left out: its {models:,} models would take the AlpacaEval fits past this audit's limit "
            "(the command line python -m arena.judge audit has none)",
        )
    try:
        return AlpacaEvalBoard(source, baseline, alpaca_eval_leaderboard(annotations, difficulty=difficulty))
    except ValueError as refusal:
        return AlpacaEvalBoard(source, baseline, (), str(refusal))


def _check_limits(frame: pd.DataFrame, limits: AuditLimits) -> None:
    """Refuse, before any fit, a file naming more models or judges than the limits (AuditInputError)."""
    models = (
        len(
            set(frame["model_a"].cat.categories[np.unique(frame["model_a"].cat.codes)])
            | set(frame["model_b"].cat.categories[np.unique(frame["model_b"].cat.codes)])
        )
        if len(frame)
        else 0
    )
    if limits.max_models is not None and models > limits.max_models:
        raise AuditInputError(
            f"the file names {models:,} models; an audit here takes at most {limits.max_models:,} (the command line "
            "python -m arena.judge audit has no limit)"
        )
    judges = sum(str(label).startswith("judge:") for label in pd.unique(frame["source"]))
    if limits.max_judges is not None and judges > limits.max_judges:
        raise AuditInputError(
            f"the file names {judges:,} LLM judges; an audit here takes at most {limits.max_judges:,} (the command "
            "line python -m arena.judge audit has no limit)"
        )


def report_json(report: AuditReport) -> dict[str, Any]:
    """Every figure of the report as plain JSON (an Estimate is {value, low, high, n}; unmeasured is null): what
    `--format json` writes, the stored snapshot holds and the audit's pictures are drawn from."""
    return json_safe(_plain(report))


def _plain(value: Any) -> Any:
    """Dataclasses as dicts, mappings (read-only ones too, which asdict cannot copy) as dicts, tuples as lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in fields(value)}
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


# ----------------------------------------------------------------------------------------------------- input


def _prepare(battles: pd.DataFrame) -> pd.DataFrame:
    frame = counted(battles, source=None).copy()
    # A category: a million verdicts name a few dozen models, and every grouping below then works on codes.
    frame["winner_name"] = pd.Categorical(
        np.select(
            [frame["winner"] == "model_a", frame["winner"] == "model_b"],
            [frame["model_a"].astype(object), frame["model_b"].astype(object)],
            default=_TIE,
        )
    )
    for side in ("a", "b"):
        length = pd.to_numeric(frame[f"len_{side}"], errors="coerce")
        missing = length.isna() & frame[f"answer_{side}"].notna()
        if missing.any():
            length = length.copy()
            length[missing] = [count_tokens(str(text)) for text in frame.loc[missing, f"answer_{side}"]]
        frame[f"len_{side}"] = length.astype(float)
        # stored with each arena vote (facts.style); computed from the answer where a file lacks it
        column = f"unique_{side}"
        unique = (
            pd.to_numeric(frame[column], errors="coerce").astype(float)
            if column in frame
            else pd.Series(np.nan, index=frame.index)
        )
        missing = unique.isna() & frame[f"answer_{side}"].notna()
        if missing.any():
            unique = unique.copy()
            unique[missing] = _unique_ratios(frame.loc[missing, f"answer_{side}"])
        frame[column] = unique
    # One integer per battle turn (missing without a battle id): grouping a million of them is much faster than
    # grouping strings or tuples.
    battle, _ = pd.factorize(frame["battle_id"], use_na_sentinel=True)
    key = turn_keys(battle, frame["turn"].to_numpy(dtype=np.int64))
    frame["turn_key"] = pd.array(np.where(battle >= 0, key, 0), dtype="Int64")
    frame.loc[battle < 0, "turn_key"] = pd.NA
    return frame


def _unique_ratios(answers: pd.Series) -> np.ndarray:
    ratios: dict[str, float] = {}
    out = np.full(len(answers), math.nan)
    for index, text in enumerate(answers):
        if text is None or (isinstance(text, float) and math.isnan(text)):
            continue
        text = str(text)
        if text not in ratios:
            share = unique_token_share(text)
            ratios[text] = math.nan if share is None else share
        out[index] = ratios[text]
    return out


def _turn_categories(frame: pd.DataFrame) -> pd.Series:
    """Per turn key: its category (the first row's that has one)."""
    known = frame[frame["turn_key"].notna() & frame["category"].notna()]
    return known.groupby("turn_key")["category"].first().astype(str)


def _human_majority(human_rows: pd.DataFrame) -> pd.Series:
    """Per turn key: the plurality winner name (or _TIE), None when the plurality is shared."""
    keyed = human_rows[human_rows["turn_key"].notna()]
    if keyed.empty:
        return pd.Series(dtype=object)
    counts = keyed.groupby(["turn_key", "winner_name"]).size()
    leaders = counts[counts == counts.groupby(level=0).transform("max")].reset_index()
    shared = leaders.groupby("turn_key")["winner_name"].transform("size") > 1
    leaders["label"] = leaders["winner_name"].astype(object).where(~shared, None)
    return leaders.drop_duplicates("turn_key").set_index("turn_key")["label"]


# ----------------------------------------------------------------------------------------------- per source


def _audit_source(
    source: str,
    rows: pd.DataFrame,
    majority: pd.Series,
    self_trained: SelfTrained,
    categories: pd.Series | None,
) -> SourceAudit:
    decisive = rows[rows["winner_name"] != _TIE]
    first_wins = decisive["winner"].to_numpy() == "model_a"
    length_sd = _sd(rows["len_a"] - rows["len_b"])
    return SourceAudit(
        source=source,
        verdicts=len(rows),
        ties=int((rows["winner_name"] == _TIE).sum()),
        position=PositionBias(
            first_wins=wilson(int(first_wins.sum()), len(first_wins)),
            swap_survival=_swap_survival(rows),
        ),
        length=_length_bias(rows, decisive, length_sd),
        unique_token_slope=_unique_token_slope(decisive, length_sd),
        self_preference=_self_preference(source, decisive, majority, self_trained),
        humans=None if categories is None else _agreement_with_people(rows, majority, categories),
    )


def _swap_survival(rows: pd.DataFrame) -> Estimate:
    if "order" not in rows.columns:
        return NO_DATA
    rows = rows[rows["order"].isin(("original", "swapped")).to_numpy()]  # people's rows have none
    if rows.empty:
        return NO_DATA
    key = rows["turn_key"].astype(object)
    if "pair_id" in rows.columns:  # a pair id names the judgment; the battle turn stands in where it is missing
        turn = key.map(lambda k: None if pd.isna(k) else ("turn", k))
        key = rows["pair_id"].astype(object).where(rows["pair_id"].notna(), turn)
    ordered = pd.DataFrame({"key": key, "order": rows["order"], "winner": rows["winner_name"]}).dropna()
    original = ordered[ordered["order"] == "original"].drop_duplicates("key").set_index("key")["winner"]
    swapped = ordered[ordered["order"] == "swapped"].drop_duplicates("key").set_index("key")["winner"]
    both = original.index.intersection(swapped.index)
    same = int((original.loc[both] == swapped.loc[both]).sum())
    return wilson(same, len(both))


def _length_bias(rows: pd.DataFrame, decisive: pd.DataFrame, length_sd: float) -> LengthBias:
    len_a, len_b = decisive["len_a"].to_numpy(), decisive["len_b"].to_numpy()
    known = ~(np.isnan(len_a) | np.isnan(len_b)) & (len_a != len_b)
    longer_is_first = len_a > len_b
    longer_wins = (decisive["winner"].to_numpy() == "model_a") == longer_is_first
    relative = np.abs(len_a - len_b) / np.maximum(len_a + len_b, 1.0)
    bins = []
    for low, high in itertools.pairwise(LENGTH_BIN_EDGES):
        inside = known & (relative > low) & (relative <= high)
        bins.append(LengthBin(low, high, wilson(int((longer_wins & inside).sum()), int(inside.sum()))))
    return LengthBias(
        longer_wins=wilson(int((longer_wins & known).sum()), int(known.sum())),
        bins=tuple(bins),
        length_slope=_first_wins_slope(decisive, [_length_term(decisive, length_sd)]),
        length_sd=length_sd,
        per_model=_length_controlled(rows, length_sd),
    )


def _length_term(rows: pd.DataFrame, length_sd: float) -> np.ndarray:
    return np.tanh((rows["len_a"].to_numpy() - rows["len_b"].to_numpy()) / length_sd)


def _unique_token_slope(decisive: pd.DataFrame, length_sd: float) -> Estimate:
    difference = decisive["unique_a"].to_numpy() - decisive["unique_b"].to_numpy()
    sd = _sd(pd.Series(difference))
    # the unique-token term first: _first_wins_slope reports the first covariate's coefficient
    return _first_wins_slope(decisive, [difference / sd, _length_term(decisive, length_sd)])


def _first_wins_slope(decisive: pd.DataFrame, covariates: list[np.ndarray]) -> Estimate:
    """The first covariate's log-odds coefficient in logit P(first wins) = b0 + b . covariates, Wald interval."""
    if not covariates:
        return NO_DATA
    design = np.column_stack([np.ones(len(decisive)), *covariates]) if len(decisive) else np.zeros((0, 2))
    usable = np.isfinite(design).all(axis=1)
    outcome = (decisive["winner"].to_numpy() == "model_a").astype(float)
    fit = _logistic(design[usable], outcome[usable])
    if fit is None:
        return NO_DATA
    beta, covariance = fit
    se = math.sqrt(covariance[1, 1])
    return Estimate(float(beta[1]), float(beta[1] - Z95 * se), float(beta[1] + Z95 * se), int(usable.sum()))


def _length_controlled(rows: pd.DataFrame, length_sd: float) -> tuple[ModelLengthControl, ...]:
    """Each model's comparisons gathered by one sort of the rows by model code (both sides), not one pass over
    every row per model: a file naming thousands of models costs a sort, not rows x models."""
    if rows.empty:
        return ()
    names = rows["model_a"].cat.categories
    code_a, code_b = rows["model_a"].cat.codes.to_numpy(), rows["model_b"].cat.codes.to_numpy()
    winner = rows["winner"].to_numpy()
    len_a, len_b = rows["len_a"].to_numpy(), rows["len_b"].to_numpy()
    owner = np.concatenate([code_a, code_b])
    # per side: 1 when that side won, 1/2 a tie, 0 a loss; its length minus the other's
    score = np.concatenate(
        [np.select([winner == "model_a", winner == "model_b"], [1.0, 0.0], 0.5), np.zeros(len(rows))]
    )
    score[len(rows) :] = 1.0 - score[: len(rows)]
    difference = np.concatenate([len_a - len_b, len_b - len_a])
    order = np.argsort(owner, kind="stable")
    models, starts = np.unique(owner[order], return_index=True)
    results = []
    for model, mine in zip(models, np.split(order, starts[1:]), strict=True):
        raw, lc, phi = length_controlled(score[mine], difference[mine], length_sd)
        results.append(ModelLengthControl(str(names[model]), raw, lc, phi))
    return tuple(sorted(results, key=lambda row: row.model))


def length_controlled(score: np.ndarray, difference: np.ndarray, length_sd: float) -> tuple[Estimate, Estimate, float]:
    """(raw win rate, length-controlled win rate, phi) of one model from its per-comparison scores (1 win, 1/2
    tie, 0 loss) and its length differences (its answer minus the other's): logit P = theta + phi * tanh(difference
    / sd), the LC rate sigmoid(theta), what the model would score at equal length (AlpacaEval 2's idea), Wald 95%.
    A difference that is not finite (a length missing) leaves that comparison out of the fit only."""
    score, difference = np.asarray(score, dtype=float), np.asarray(difference, dtype=float)
    term = np.tanh(difference / length_sd)
    usable = np.isfinite(term)
    raw = wilson(float(score.sum()), len(score))
    design = np.column_stack([np.ones(usable.sum()), term[usable]])
    fit = _logistic(design, score[usable], precisions=(_RIDGE, _LENGTH_PRIOR_PRECISION))
    if fit is None:
        return raw, NO_DATA, math.nan
    beta, covariance = fit
    se = math.sqrt(covariance[0, 0])
    lc = Estimate(_sigmoid(beta[0]), _sigmoid(beta[0] - Z95 * se), _sigmoid(beta[0] + Z95 * se), int(usable.sum()))
    return raw, lc, float(beta[1])


def _self_preference(
    source: str,
    decisive: pd.DataFrame,
    majority: pd.Series,
    self_trained: SelfTrained,
) -> SelfPreference:
    family = _family(source, self_trained)
    in_a, in_b = decisive["model_a"].isin(family).to_numpy(), decisive["model_b"].isin(family).to_numpy()
    one_side = decisive[in_a ^ in_b]
    family_side = np.where(one_side["model_a"].isin(family), one_side["model_a"], one_side["model_b"])
    family_wins = one_side["winner_name"].to_numpy() == family_side
    human = majority.reindex(one_side["turn_key"]).to_numpy(dtype=object)
    human_decisive = pd.notna(human) & (human != _TIE)
    return SelfPreference(
        models=tuple(sorted(family)),
        source_win_rate=wilson(int(family_wins.sum()), len(one_side)),
        human_win_rate=wilson(int((human_decisive & (human == family_side)).sum()), int(human_decisive.sum())),
    )


def _family(source: str, self_trained: SelfTrained) -> frozenset[str]:
    """The models trained on this judge's outputs: the given set, this judge's set, or the models whose
    provenance names the judge."""
    if not isinstance(self_trained, Mapping):
        return frozenset(self_trained)
    if not source.startswith("judge:"):
        return frozenset()
    if not _is_provenance(self_trained):
        return frozenset(self_trained.get(source, ()))
    name = re.escape(source.removeprefix("judge:"))
    # "gpt-4" is named by "GPT-4-generated" but not by "gpt-4o" or "gpt-4.5", which are other judges
    mention = re.compile(rf"(?<![\w.]){name}(?![\w]|\.\d)", re.IGNORECASE)
    return frozenset(model for model, provenance in self_trained.items() if mention.search(provenance or ""))


def _is_provenance(self_trained: Mapping[str, Any]) -> bool:
    return any(isinstance(value, str) for value in self_trained.values())


def _unknown_self_trained(self_trained: SelfTrained, present: Sequence[str]) -> list[str]:
    if not isinstance(self_trained, Mapping) or _is_provenance(self_trained):
        return []
    missing = [judge for judge in self_trained if judge not in present]
    return [f"self-trained models given for {judge}, which has no verdicts" for judge in missing]


def _absent_models(self_trained: SelfTrained, frame: pd.DataFrame) -> list[str]:
    """Models named as trained on a judge that no battle names: a typo would otherwise be a silent '—'."""
    if isinstance(self_trained, Mapping) and _is_provenance(self_trained):
        return []  # the registry's provenance covers every registered model, battles or not
    named = set(self_trained) if not isinstance(self_trained, Mapping) else set().union(*self_trained.values())
    known = set(frame["model_a"].cat.categories) if len(frame) else set()
    absent = sorted(named - known)
    return [f"self-trained models named but in no battle: {', '.join(map(repr, absent))}"] if absent else []


def _agreement_with_people(rows: pd.DataFrame, majority: pd.Series, categories: pd.Series) -> HumanAgreement:
    keyed = rows[rows["turn_key"].notna()]
    labels = keyed.groupby("turn_key")["winner_name"]
    # several rows on one turn (both orders, repeats) are its verdict when they agree, a tie otherwise
    judged = labels.first().astype(object).where(labels.nunique() == 1, _TIE)
    shared = judged.index.intersection(majority.index)
    human = majority.loc[shared]
    with_majority = human.notna()
    turns = pd.DataFrame(
        {
            "judge": judged.loc[shared][with_majority],
            "human": human[with_majority],
            "category": categories.reindex(shared[with_majority.to_numpy()]).fillna("uncategorized").to_numpy(),
        }
    )
    turns["entropy"] = turns["category"].map(lambda category: ENTROPY_GROUPS.get(category, "other"))

    def agreement(selected: pd.DataFrame) -> Agreement:
        same = selected["judge"] == selected["human"]
        decisive = (selected["judge"] != _TIE) & (selected["human"] != _TIE)
        return Agreement(
            with_ties=wilson(int(same.sum()), len(selected)),
            without_ties=wilson(int((same & decisive).sum()), int(decisive.sum())),
        )

    category_ids = sorted(turns["category"].unique(), key=_category_order)
    groups = sorted(turns["entropy"].unique(), key=_group_order)
    return HumanAgreement(
        turns=len(turns),
        no_majority=int((~with_majority).sum()),
        overall=agreement(turns),
        per_category=tuple(GroupAgreement(c, agreement(turns[turns["category"] == c])) for c in category_ids),
        per_entropy=tuple(GroupAgreement(g, agreement(turns[turns["entropy"] == g])) for g in groups),
    )


def _human_human(human_rows: pd.DataFrame, rounds: int, seed: int) -> Agreement:
    """Chance that two distinct human votes on one turn agree, bootstrapped over turns."""
    keyed = human_rows[human_rows["turn_key"].notna()]
    if keyed.empty:
        return Agreement(NO_DATA, NO_DATA)
    # Per turn and label, the number of votes, from integer codes: no matrix of turns by labels.
    turn, turns = pd.factorize(keyed["turn_key"])
    names = keyed["winner_name"].cat
    labels = len(names.categories)
    cells, votes_per_cell = np.unique(turn.astype(np.int64) * labels + names.codes.to_numpy(), return_counts=True)
    owner = cells // labels
    decisive_cell = names.categories[cells % labels] != _TIE
    same_pairs = votes_per_cell * (votes_per_cell - 1) / 2.0

    def per_turn(values: np.ndarray) -> np.ndarray:
        return np.bincount(owner, values.astype(float), len(turns))

    votes = per_turn(votes_per_cell)
    decisive_votes = per_turn(votes_per_cell * decisive_cell)
    agreeing_all, agreeing_decisive = per_turn(same_pairs), per_turn(same_pairs * decisive_cell)
    pairs_all = votes * (votes - 1) / 2
    pairs_decisive = decisive_votes * (decisive_votes - 1) / 2
    totals = np.column_stack([agreeing_all, pairs_all, agreeing_decisive, pairs_decisive])
    resampled = _turn_bootstrap(totals, rounds, seed)
    return Agreement(
        with_ties=_ratio_bootstrap(totals[:, 0], totals[:, 1], None if resampled is None else resampled[:, :2]),
        without_ties=_ratio_bootstrap(totals[:, 2], totals[:, 3], None if resampled is None else resampled[:, 2:]),
    )


def _turn_bootstrap(totals: np.ndarray, rounds: int, seed: int) -> np.ndarray | None:
    """Per round, the column sums of `totals` (a row per turn) over turns drawn with replacement, as many as
    there are turns. Only turns with a pair of votes add anything, so they are drawn through their counts: the
    others are one cell of the multinomial (the same law as drawing every turn), and a million turns of one
    vote each cost nothing. None: nothing to resample."""
    useful = np.flatnonzero(totals[:, 1] > 0)  # a decisive pair is a pair
    if rounds <= 0 or len(useful) == 0:
        return None
    counts = np.r_[np.ones(len(useful), dtype=np.int64), len(totals) - len(useful)]
    per_block = max(1, min(BLOCK, _BOOTSTRAP_CELLS // len(counts)))
    kept = totals[useful]
    drawn = map_multinomial_rounds(counts, rounds, seed, lambda block: block[:, :-1] @ kept, per_block)
    return np.concatenate(drawn)


def _ratio_bootstrap(numerators: np.ndarray, denominators: np.ndarray, resampled: np.ndarray | None) -> Estimate:
    """`resampled`: per bootstrap round, (sum of numerators, sum of denominators) over the turns drawn."""
    used = int((denominators > 0).sum())
    total = denominators.sum()
    if total == 0:
        return NO_DATA
    value = float(numerators.sum() / total)
    if resampled is None:
        return Estimate(value, math.nan, math.nan, used)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = resampled[:, 0] / resampled[:, 1]
    low, high = np.nanpercentile(ratios, [2.5, 97.5])
    return Estimate(value, float(low), float(high), used)


# ------------------------------------------------------------------------------------------ evaluator table


def _parse_failures(frame: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Per judge source in a file: (rows without a readable preference, rows), where the file has AlpacaEval's
    `preference` column (a judge's unparsable answer is a missing preference there)."""
    if "preference" not in frame.columns:
        return {}
    judged = frame[is_llm_judge(frame["source"])]
    missing = judged["preference"].isna().groupby(judged["source"].astype(str)).agg(["sum", "size"])
    # a judge with no preference at all gave verdicts of another kind (a winner): nothing of its failed to parse
    return {
        str(source): (int(row["sum"]), int(row["size"]))
        for source, row in missing.iterrows()
        if row["sum"] < row["size"]
    }


def _evaluators(
    audits: Sequence[SourceAudit],
    human: SourceAudit | None,
    usage: Mapping[str, JudgeUsage],
    failures: Mapping[str, tuple[int, int]],
) -> tuple[EvaluatorRow, ...]:
    rows = [
        # a judge whose every call failed has no vote to audit; its failures are the figure that matters
        _evaluator_without_votes(source, spent)
        for source, spent in usage.items()
        if source not in {audit.source for audit in audits} and spent.judgments
    ]
    for audit in audits:
        spent = usage.get(audit.source)
        swap = audit.position.swap_survival
        if swap.n == 0 and spent is not None:  # the arena stores one vote per turn, its two calls in judgments
            swap = wilson(spent.consistent, spent.consistent + spent.inconsistent)
        failed = (
            wilson(spent.parse_failures, spent.judgments)
            if spent is not None
            else wilson(*failures[audit.source])
            if audit.source in failures
            else NO_DATA
        )
        preference = audit.self_preference
        rows.append(
            EvaluatorRow(
                source=audit.source,
                agreement_with_ties=audit.humans.overall.with_ties if audit.humans else NO_DATA,
                agreement_without_ties=audit.humans.overall.without_ties if audit.humans else NO_DATA,
                prefers_longer=audit.length.longer_wins,
                prefers_first=audit.position.first_wins,
                swap_consistency=swap,
                self_preference=preference.source_win_rate.value - preference.human_win_rate.value
                if preference.models
                else math.nan,
                parse_failures=failed,
                tokens_per_1000=1000 * (spent.prompt_tokens + spent.completion_tokens) / spent.judgments
                if spent and spent.judgments
                else math.nan,
                seconds_per_1000=1000 * spent.seconds / spent.timed if spent and spent.timed else math.nan,
            )
        )
    # the best agreement with people first; a judge without any comparison last
    return tuple(sorted(rows, key=lambda row: (-_or(row.agreement_without_ties.value, -1.0), row.source)))


def _evaluator_without_votes(source: str, spent: JudgeUsage) -> EvaluatorRow:
    return EvaluatorRow(
        source=source,
        agreement_with_ties=NO_DATA,
        agreement_without_ties=NO_DATA,
        prefers_longer=NO_DATA,
        prefers_first=NO_DATA,
        swap_consistency=wilson(spent.consistent, spent.consistent + spent.inconsistent),
        self_preference=math.nan,
        parse_failures=wilson(spent.parse_failures, spent.judgments),
        tokens_per_1000=1000 * (spent.prompt_tokens + spent.completion_tokens) / spent.judgments,
        seconds_per_1000=1000 * spent.seconds / spent.timed if spent.timed else math.nan,
    )


def _or(value: float, default: float) -> float:
    return default if math.isnan(value) else value


# -------------------------------------------------------------------------------------------------- numerics


def wilson(successes: float, n: int) -> Estimate:
    """The share successes / n with its 95% Wilson score interval (n = 0: no data)."""
    if n <= 0:
        return NO_DATA
    share = successes / n
    denominator = 1 + Z95**2 / n
    centre = (share + Z95**2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(share * (1 - share) / n + Z95**2 / (4 * n * n)) / denominator
    # at an observed 0 or 1 that bound is exactly 0 or 1; floating point would miss it by 1e-16
    low = 0.0 if share == 0.0 else max(0.0, centre - half)
    high = 1.0 if share == 1.0 else min(1.0, centre + half)
    return Estimate(share, low, high, n)


def _logistic(
    design: np.ndarray, outcome: np.ndarray, precisions: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Logistic regression (outcomes in [0, 1]) with a normal prior of the given precision per coefficient
    (default: the tiny ridge), by Newton: coefficients and their covariance."""
    n, width = design.shape
    if n <= width:
        return None
    beta = np.zeros(width)
    precision = np.asarray(precisions if precisions is not None else [_RIDGE] * width, dtype=float)
    penalty = np.diag(precision)
    for _ in range(100):
        p = _sigmoid_array(design @ beta)
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        gradient = design.T @ (outcome - p) - precision * beta
        step = np.linalg.solve(hessian, gradient)
        beta = beta + step
        if np.abs(step).max() < 1e-10:
            break
    p = _sigmoid_array(design @ beta)
    hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
    return beta, np.linalg.inv(hessian)


def _sigmoid_array(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


def _sigmoid(z: float) -> float:
    return float(_sigmoid_array(np.array([z]))[0])


def _sd(values: pd.Series) -> float:
    """Standard deviation of the finite values, 1 when there is no spread, so dividing by it is always defined."""
    finite = values[np.isfinite(values.to_numpy(dtype=float))]
    sd = float(finite.std(ddof=0)) if len(finite) else 0.0
    return sd if sd > 0 else 1.0


def _category_order(category: str) -> tuple[int, str]:
    ids = list(CATEGORIES)
    return (ids.index(category), category) if category in ids else (len(ids), category)


def _group_order(group: str) -> int:
    return ("low entropy", "high entropy", "other").index(group)


# ------------------------------------------------------------------------------------------------- markdown


def render_markdown(report: AuditReport, *, per_model: bool = False) -> str:
    """The audit as markdown tables for the page and the CLI; per_model adds the length-controlled win rates."""
    sources = ([report.human] if report.human else []) + list(report.judges)
    lines = ["## Judge audit", ""]
    lines += [f"> {_cell(message)}" for message in report.messages]
    if report.messages:
        lines.append("")
    if report.columns or report.warnings:
        lines += ["### How the votes were read", ""]
        lines += [f"- {_cell(column)}" for column in report.columns]
        lines += [f"- ⚠ {_cell(warning)}" for warning in report.warnings]
        lines.append("")
    if not sources:
        return "\n".join(lines).rstrip() + "\n"
    lines += _evaluator_lines(report)
    lines += [
        "### Position bias",
        "",
        "Share of decisive verdicts for the answer shown first (0.5 = none), and the share of judgments run in",
        "both orders whose winner survives the swap; 95% Wilson intervals.",
        "",
        "| source | verdicts | ties | first position wins | survives swap |",
        "|---|---:|---:|---|---|",
    ]
    for audit in sources:
        lines.append(
            f"| {_cell(audit.source)} | {audit.verdicts:,} | {audit.ties:,} | {_share(audit.position.first_wins)} "
            f"| {_share(audit.position.swap_survival)} |"
        )
    bin_names = [f"{_pct(b.low)}–{_pct(b.high)}" for b in sources[0].length.bins]
    lines += [
        "",
        "### Length bias",
        "",
        "Share of decisive verdicts for the longer answer, overall and by relative length difference",
        "|a − b| / (a + b); Wilson 95%. Length slope: log-odds of the first answer winning per unit of",
        "tanh(length difference / sd), Wald 95%.",
        "",
        "| source | longer answer wins | " + " | ".join(bin_names) + " | length slope |",
        "|---|---|" + "---|" * len(bin_names) + "---|",
    ]
    for audit in sources:
        cells = [_share(audit.length.longer_wins), *(_share(b.longer_wins) for b in audit.length.bins)]
        lines.append(f"| {_cell(audit.source)} | " + " | ".join(cells) + f" | {_number(audit.length.length_slope)} |")
    lines += [
        "",
        "### Unique-token preference and self-preference",
        "",
        "Unique-token slope: log-odds of the first answer winning per sd of the difference in unique-token ratio,",
        "controlling for length. Self-preference: decisive win rate of models trained on the judge's outputs,",
        "by the source and by the human majority on the same battle turns.",
        "",
        "| source | unique-token slope | self-trained models | their win rate by source | by people |",
        "|---|---|---|---|---|",
    ]
    for audit in sources:
        preference = audit.self_preference
        models = ", ".join(map(_cell, preference.models)) if preference.models else "—"
        lines.append(
            f"| {_cell(audit.source)} | {_number(audit.unique_token_slope)} | {models} "
            f"| {_share(preference.source_win_rate)} | {_share(preference.human_win_rate)} |"
        )
    lines += _agreement_lines(report)
    lines += _alpaca_eval_lines(report.alpaca_eval)
    if per_model:
        lines += _per_model_lines(sources)
    return "\n".join(lines).rstrip() + "\n"


def _evaluator_lines(report: AuditReport) -> list[str]:
    if not report.evaluators:
        return []
    lines = [
        "### Evaluators",
        "",
        "The judges ranked by agreement with the human majority on decisive turns (as AlpacaEval ranks its",
        "evaluators against human annotations); how often each prefers the longer answer and the one shown",
        "first (people's own rates are in the tables below), survives the swap of positions, favours models",
        "trained on its outputs (their win rate by the judge minus by people), fails to give a readable verdict,",
        "and what 1,000 judgments (calls) cost. 95% intervals.",
        "",
        "| judge | agreement without ties | with ties | prefers longer | prefers first | swap consistency "
        "| self-preference | parse failures | tokens / 1,000 | seconds / 1,000 |",
        "|---|---|---|---|---|---|---:|---|---:|---:|",
    ]
    for row in report.evaluators:
        bias = "—" if math.isnan(row.self_preference) else f"{100 * row.self_preference:+.1f} pts"
        tokens = "—" if math.isnan(row.tokens_per_1000) else f"{row.tokens_per_1000:,.0f}"
        seconds = "—" if math.isnan(row.seconds_per_1000) else f"{row.seconds_per_1000:,.0f}"
        lines.append(
            f"| {_cell(row.source)} | {_share(row.agreement_without_ties)} | {_share(row.agreement_with_ties)} "
            f"| {_share(row.prefers_longer)} | {_share(row.prefers_first)} | {_share(row.swap_consistency)} "
            f"| {bias} | {_share(row.parse_failures)} | {tokens} | {seconds} |"
        )
    return [*lines, ""]


def _agreement_lines(report: AuditReport) -> list[str]:
    judges = [audit for audit in report.judges if audit.humans is not None]
    lines = [
        "",
        "### Agreement with people",
        "",
        "Judge verdict per battle turn against the human majority on that turn (turns without a majority left out);",
        "with ties: three labels must match (chance 1/3); without ties: turns where both are decisive (chance 1/2).",
        f"Reference, two human votes on one turn agree: with ties {_share(report.human_human.with_ties)}, "
        f"without ties {_share(report.human_human.without_ties)} (bootstrap over turns).",
        "",
        "| judge | turns | no human majority | with ties | without ties |",
        "|---|---:|---:|---|---|",
    ]
    for audit in judges:
        humans = audit.humans
        assert humans is not None
        lines.append(
            f"| {_cell(audit.source)} | {humans.turns:,} | {humans.no_majority:,} | {_share(humans.overall.with_ties)} "
            f"| {_share(humans.overall.without_ties)} |"
        )
    if not judges:
        return lines
    header = "| group | " + " | ".join(f"{_cell(a.source)} with ties | without ties" for a in judges) + " |"
    rule = "|---|" + "---|---|" * len(judges)
    for title, attribute in (("By entropy group", "per_entropy"), ("By category", "per_category")):
        groups: dict[str, list[str]] = {}
        for index, audit in enumerate(judges):
            for group in getattr(audit.humans, attribute):
                cells = groups.setdefault(group.group, ["—"] * (2 * len(judges)))
                cells[2 * index] = _share(group.agreement.with_ties)
                cells[2 * index + 1] = _share(group.agreement.without_ties)
        lines += ["", f"{title}:", "", header, rule]
        lines += [
            f"| {_cell(CATEGORIES.get(group, group))} | " + " | ".join(cells) + " |" for group, cells in groups.items()
        ]
    return lines


def _alpaca_eval_lines(boards: Sequence[AlpacaEvalBoard]) -> list[str]:
    lines: list[str] = []
    for board in boards:
        lines += [
            "",
            f"### AlpacaEval: {_cell(board.source)} against {_cell(board.baseline)}",
            "",
            "Every battle of this source includes one baseline, as in AlpacaEval: win rate = mean soft preference",
            "± its standard error (AlpacaEval's), the discrete win rate (ties half), and AlpacaEval 2's",
            "length-controlled win rate (a logistic GLM of the preference on tanh of the standardised length",
            "difference, instruction difficulty and the model, read at zero length difference).",
            "",
        ]
        if board.message:
            lines.append(f"> {board.message}")
            continue
        lines += [
            "| model | win rate | discrete | LC win rate | n | dropped | difficulty |",
            "|---|---|---|---|---:|---:|---|",
        ]
        notes: dict[str, None] = {}
        for row in board.models:
            rate = row.win_rate
            se = "" if math.isnan(rate.standard_error) else f" ± {rate.standard_error:.1f}"
            lc = "—" if math.isnan(row.lc_win_rate) else f"{row.lc_win_rate:.1f}%"
            lines.append(
                f"| {_cell(row.model)} | {rate.win_rate:.1f}%{se} | {rate.discrete_win_rate:.1f}% | {lc} "
                f"| {rate.n_total:,} | {rate.n_dropped:,} | {row.difficulty} |"
            )
            notes.update(dict.fromkeys(f"{row.model}: {warning}" for warning in row.warnings))
        lines += ["", *(f"> {note}" for note in notes)] if notes else []
    return lines


def _per_model_lines(sources: Sequence[SourceAudit]) -> list[str]:
    table: dict[str, list[str]] = {}
    for index, audit in enumerate(sources):
        for row in audit.length.per_model:
            cells = table.setdefault(row.model, ["—"] * (2 * len(sources)))
            cells[2 * index] = _share(row.win_rate)
            cells[2 * index + 1] = _share(row.lc_win_rate)
    header = "| model | " + " | ".join(f"{_cell(a.source)} win rate | LC" for a in sources) + " |"
    lines = [
        "",
        "### Length-controlled win rates",
        "",
        "Per model against the field, ties half; LC: the AlpacaEval-2-style win rate with the tanh length term",
        "set to zero (answers of equal length); Wilson and Wald 95% intervals.",
        "",
        header,
        "|---|" + "---|---|" * len(sources),
    ]
    lines += [f"| {_cell(model)} | " + " | ".join(cells) + " |" for model, cells in sorted(table.items())]
    return lines


def _cell(text: object) -> str:
    """A name from the data as one table cell: a '|' would split the cell and a line break end the row."""
    return re.sub(r"[\r\n]+", " ", str(text)).replace("|", "\\|")


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _share(estimate: Estimate) -> str:
    if estimate.n == 0 or math.isnan(estimate.value):
        return "—"
    if math.isnan(estimate.low):
        return f"{100 * estimate.value:.1f}% (n={estimate.n:,})"
    return f"{100 * estimate.value:.1f}% [{100 * estimate.low:.1f}, {100 * estimate.high:.1f}] (n={estimate.n:,})"


def _number(estimate: Estimate) -> str:
    if estimate.n == 0 or math.isnan(estimate.value):
        return "—"
    return f"{estimate.value:+.2f} [{estimate.low:+.2f}, {estimate.high:+.2f}] (n={estimate.n:,})"
