"""The LLM judge's entry points: judge the backlog of battle turns, and audit judges' biases against people.

    python -m arena.judge backfill --db sqlite:///data/arena.db --judge-model smollm2-135m-greedy --limit 20

    python -m arena.judge audit --db sqlite:///data/arena.db --format json --out audit.json
    python -m arena.judge audit --llmfao ../shared/data/llmfao --per-model --out audit.md
    python -m arena.judge audit --battles votes.jsonl --llm-judge gpt-4 --self-trained gpt-4=vicuna-13b
    python -m arena.judge audit --battles alpaca_eval_annotations.json --alpaca-eval-difficulty difficulty.csv
    python -m arena.judge audit --db sqlite:///data/arena.db --criterion harmlessness    # the red-team judge

Self-preference uses the registry's provenance: a model whose provenance text names the judge (say
"distilled from GPT-4 outputs" for judge:gpt-4) counts as trained on that judge's outputs. With --battles or
--llmfao, name such models per judge with --self-trained JUDGE=MODEL[,MODEL...] (repeatable).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from facts.json_safe import dumps
from facts.schema import of_criterion
from facts.vocabulary import CRITERIA, HELPFULNESS
from leaderboard.alpaca_eval import read_difficulty
from leaderboard.audit_import import SourceMapping
from leaderboard.judge_audit import JudgeUsage, SelfTrained, audit_judges, judge_usage, render_markdown, report_json
from store import Store, StoreError, StoreUnavailable

AUDIT_COLUMNS = """\
What the audit reads (a battles file in the clean-battle schema: .json, .jsonl, .csv or .parquet):
  model_a, model_b, winner   required; model_a is the answer shown first
  source                     "human" or "judge:<name>"; without it, name the LLM judges among the judge
                             column's values with --llm-judge (the rest are people), or say the column names
                             voters with --judge-column voters (Chatbot Arena's files); never guessed
  battle_id (or question_id) with turn and the pair of models: one battle turn, where verdicts of people and
                             judges are compared; several pairs under one id are separate turns (a warning)
  order, pair_id             original / swapped: a judgment's two orders; without them, one judge's two
                             verdicts on the same turn and answers with the sides swapped are recognised
  answer_a, answer_b         or conversation_a / conversation_b, or len_a / len_b: lengths and unique tokens;
                             an empty answer is missing (a warning), not 0 tokens
  preference                 AlpacaEval's soft preference (1 = model_a, 2 = model_b); AlpacaEval annotation
                             files (generator_1 / generator_2 / output_1 / output_2 / annotator) load as they are
  category                   agreement per category and entropy group
When every battle of a source includes one model (AlpacaEval's baseline), that source also gets AlpacaEval 2's
table: win rate with its standard error and the length-controlled win rate.
Every audit starts with how each column was read and what was left out, with counts."""


def _battles(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, str], dict[str, JudgeUsage]]:
    """The votes to audit, model -> provenance for self-preference, and each judge's calls (arena only)."""
    if args.db:
        store = Store.open_existing(args.db)  # an audit reads: a wrong --db must not create a database
        try:
            usage = judge_usage(store.judgments.usage())
            return store.votes.read(texts=True, criterion=args.criterion), store.registry.provenance(), usage
        finally:
            store.dispose()
    if args.llmfao:
        from leaderboard.llmfao import load_llmfao

        return of_criterion(load_llmfao(Path(args.llmfao)), args.criterion), {}, {}
    from leaderboard.io import read_battles

    return of_criterion(read_battles(Path(args.battles)), args.criterion), {}, {}


def self_trained_option(values: Sequence[str]) -> SelfTrained:
    """--self-trained JUDGE=MODEL[,MODEL...] per judge; a bare MODEL counts for every judge (not both kinds)."""
    per_judge: dict[str, set[str]] = {}
    everyone: set[str] = set()
    for value in values:
        judge, separator, models = value.partition("=")
        if not separator:
            if not value.strip():
                raise ValueError("--self-trained: an empty model name")
            everyone.add(value.strip())
            continue
        names = {model.strip() for model in models.split(",") if model.strip()}
        if not judge.strip() or not names:
            raise ValueError(f"--self-trained {value!r}: expected JUDGE=MODEL[,MODEL...]")
        source = judge.strip() if judge.strip().startswith("judge:") else f"judge:{judge.strip()}"
        per_judge.setdefault(source, set()).update(names)
    if everyone and per_judge:
        raise ValueError("--self-trained: give every value as JUDGE=MODEL[,MODEL...], or every value as a bare MODEL")
    return frozenset(everyone) if everyone else {judge: frozenset(models) for judge, models in per_judge.items()}


def audit(args: argparse.Namespace) -> int:
    battles, provenance, usage = _battles(args)
    self_trained: SelfTrained = provenance
    if args.self_trained:
        self_trained = self_trained_option(args.self_trained)
    sources = SourceMapping(
        llm_judges=frozenset(args.llm_judge or ()), judge_column_holds_voters=args.judge_column == "voters"
    )
    difficulty = read_difficulty(args.alpaca_eval_difficulty) if args.alpaca_eval_difficulty else None
    report = audit_judges(
        battles,
        sources=sources,
        difficulty=difficulty,
        judges=args.judge or None,
        self_trained=self_trained,
        usage=usage,
        rounds=args.rounds,
    )
    if args.format == "json":
        text = dumps(report_json(report), indent=1)
    else:
        text = render_markdown(report, per_model=args.per_model)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


def backfill(args: argparse.Namespace) -> int:
    from arena.judging import JudgeConfig, JudgeRunner
    from models.pool import BackendPool
    from settings import Settings

    settings = Settings()
    store = Store.open(args.db or settings.resolved_database_url)
    try:
        pool = BackendPool(settings.resolved_model_cache_dir, device=settings.device)
        config = JudgeConfig(model=args.judge_model, name=args.name or "", scale=args.scale, red_team=args.red_team)
        runner = JudgeRunner(store, pool.get, config, concurrency=args.concurrency)
        report = runner.run_backlog(args.limit)
    finally:
        store.dispose()
    print(
        f"{config.source} ({config.version}): judged {report.judged} turns, {report.votes} votes, "
        f"{report.parse_failures} without a readable verdict, {report.inconsistent} inconsistent across orders, "
        f"{report.skipped} skipped"
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m arena.judge", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    backfill_parser = commands.add_parser("backfill", help="judge battle turns no judge has judged yet")
    backfill_parser.add_argument("--db", metavar="URL", help="the arena's database (default: the settings')")
    backfill_parser.add_argument("--judge-model", default="smollm2-135m-greedy", help="registry model that judges")
    backfill_parser.add_argument("--name", help="judge name in votes (judge:<name>; default: the model's name)")
    backfill_parser.add_argument("--scale", choices=["arena_hard", "mt_bench"], default="arena_hard")
    backfill_parser.add_argument(
        "--red-team", action="store_true", help="also judge red-team battles (which answer is more harmless)"
    )
    backfill_parser.add_argument("--limit", type=int, default=100, help="turns to judge at most (default 100)")
    backfill_parser.add_argument("--concurrency", type=int, default=1, help="turns judged at once (default 1)")
    backfill_parser.set_defaults(run=backfill)
    audit_parser = commands.add_parser(
        "audit",
        help="measure judges' biases and their agreement with people",
        description="Measure LLM judges' biases and their agreement with people on the same battle turns.",
        epilog=AUDIT_COLUMNS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = audit_parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", metavar="URL", help="the arena's database")
    where.add_argument("--battles", metavar="FILE", help="a battles file (.json, .jsonl, .csv, .parquet)")
    where.add_argument("--llmfao", metavar="DIR", help="the LLMFAO data folder (CC BY 4.0, Dmitry Ustalov)")
    mapping = audit_parser.add_mutually_exclusive_group()
    mapping.add_argument(
        "--llm-judge", action="append", metavar="VALUE", help="a value of the judge column that is an LLM judge"
    )
    mapping.add_argument("--judge-column", choices=["voters"], help="voters: the judge column names people")
    audit_parser.add_argument("--judge", action="append", help="judge:<name> to audit (default: every judge)")
    audit_parser.add_argument(
        "--criterion", choices=CRITERIA, default=HELPFULNESS,
        help="helpfulness votes (default) or the red-team battles' harmlessness votes: audited apart, never pooled",
    )  # fmt: skip
    audit_parser.add_argument(
        "--self-trained",
        action="append",
        metavar="JUDGE=MODEL[,MODEL...]",
        help="models trained on that judge's outputs (repeatable; a bare MODEL counts for every judge)",
    )
    audit_parser.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds (default 1000)")
    audit_parser.add_argument("--per-model", action="store_true", help="length-controlled win rate per model")
    audit_parser.add_argument(
        "--alpaca-eval-difficulty",
        metavar="CSV",
        help="AlpacaEval's instruction difficulty table (instruction, difficulty) for length-controlled win rates "
        "against a baseline; estimated from the data when absent",
    )
    audit_parser.add_argument(
        "--format", choices=["markdown", "json"], default="markdown", help="json: every figure, interval and n"
    )
    audit_parser.add_argument("--out", metavar="FILE", help="also write the report here, in --format")
    audit_parser.set_defaults(run=audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except StoreUnavailable as exc:  # no such database, or it does not answer
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, StoreError) as exc:  # unreadable files, bad data, unknown model: one line
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
