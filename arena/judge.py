"""The LLM judge's entry points: judge the backlog of battle turns, and audit judges' biases against people.

    python -m arena.judge backfill --db sqlite:///data/arena.db --judge-model smollm2-135m-greedy --limit 20

    python -m arena.judge audit --db sqlite:///data/arena.db
    python -m arena.judge audit --llmfao ../shared/data/llmfao --per-model --out audit.md
    python -m arena.judge audit --battles votes.jsonl --judge judge:gpt-4

Self-preference uses the registry's provenance: a model whose provenance text names the judge (say
"distilled from GPT-4 outputs" for judge:gpt-4) counts as trained on that judge's outputs. With --battles or
--llmfao, name such models with --self-trained MODEL (repeatable).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from leaderboard.judge_audit import audit_judges, render_markdown
from store import Store, StoreError, StoreUnavailable


def _battles(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, str]]:
    """The votes to audit, and model -> provenance for self-preference."""
    if args.db:
        store = Store.open_existing(args.db)  # an audit reads: a wrong --db must not create a database
        try:
            return store.votes.read(texts=True), store.registry.provenance()
        finally:
            store.dispose()
    if args.llmfao:
        from leaderboard.llmfao import load_llmfao

        return load_llmfao(Path(args.llmfao)), {}
    from leaderboard.io import read_battles

    return read_battles(Path(args.battles)), {}


def audit(args: argparse.Namespace) -> int:
    battles, provenance = _battles(args)
    self_trained: dict[str, str] | frozenset[str] = provenance
    if args.self_trained:
        self_trained = frozenset(args.self_trained)
    report = audit_judges(battles, judges=args.judge or None, self_trained=self_trained, rounds=args.rounds)
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
        config = JudgeConfig(model=args.judge_model, name=args.name or "", scale=args.scale)
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
    backfill_parser.add_argument("--limit", type=int, default=100, help="turns to judge at most (default 100)")
    backfill_parser.add_argument("--concurrency", type=int, default=1, help="turns judged at once (default 1)")
    backfill_parser.set_defaults(run=backfill)
    audit_parser = commands.add_parser("audit", help="measure judges' biases and their agreement with people")
    where = audit_parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", metavar="URL", help="the arena's database")
    where.add_argument("--battles", metavar="FILE", help="a battles file (.json, .jsonl, .csv, .parquet)")
    where.add_argument("--llmfao", metavar="DIR", help="the LLMFAO data folder (CC BY 4.0, Dmitry Ustalov)")
    audit_parser.add_argument("--judge", action="append", help="judge:<name> to audit (default: every judge)")
    audit_parser.add_argument("--self-trained", action="append", metavar="MODEL", help="trained on the judge")
    audit_parser.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds (default 1000)")
    audit_parser.add_argument("--per-model", action="store_true", help="length-controlled win rate per model")
    audit_parser.add_argument("--out", metavar="FILE.md", help="also write the report here")
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
