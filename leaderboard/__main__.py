"""The leaderboard from the command line: battles from the arena's database or a file, ratings to a table.

    python -m leaderboard (--db URL | --battles FILE) [--source S] [--category C] [--style-control]
        [--criterion helpfulness|harmlessness] [--ci sandwich|bootstrap|none] [--rounds N] [--seed N]
        [--anchor MODEL=RATING] [--min-votes N] [--weighting auto|propensity|none]
        [--composite SOURCE=WEIGHT,...] [--show-deprecated]
        [--out FILE.csv|FILE.json] [--validate] [--keep-anomalous] [--anomaly-alpha A] [--anomaly-min-votes N]

Prints the table and, with --out, writes it: CSV, or JSON as a list of rows (model, rating, lower, upper,
rank_ub, votes, and the other columns of leaderboard.table.LeaderboardRow). With --criterion harmlessness each row
also carries the model's harmful-compliance figures on the same red-team votes (leaderboard.safety_figures:
harmful_compliance with its 95% interval, red_team_answers, both_complied_rate, ...; SAFETY_COLUMNS), printed under
the table with the counts per harm category when the votes name one. From a database, each row also carries the
static benchmarks' newest figures (python -m evals: over_refusal, over_refusal_low, _high, _n, _grader; null where a
model has none; leaderboard.benchmark_columns.CSV_COLUMNS), printed under the table. --source takes "human" (the
default), "judge:<name>", or "all", which pools every source's votes into one fit on purpose. --category
takes a category id or display name (facts.categories), or any category the battles carry. Mistakes
(a bad argument, an unreadable file or database, an unknown source, category or anchor model) end with one
line on stderr and exit status 2 (usage, or a database that is missing or does not answer) or 1 (everything
else). No counted votes is not a mistake: the table is empty and says why.

Weighting (leaderboard.weights): by default (auto) each vote is weighted by the inverse of its pair's sampling
propensity when pairs were not drawn uniformly (active sampling), so the ratings are those a uniform arena would
converge to; a note under the table says so. --weighting none fits the plain counts (and warns when the sampling
was not uniform). --composite rates every source in one fit, each vote weighted by its source's weight times its
propensity weight (leaderboard.composite), e.g. --composite human=1,judge:gpt-4o=0.5 (judge:* = every judge not
named; a source not named counts 0); it replaces --source. Deprecated models (the registry's flag, read from
--db; a battles file has none) are fitted with their votes but left out of the table unless --show-deprecated;
Rank (UB) is counted among the models shown.

Anomalous voters (leaderboard.anomaly: human voters whose votes disagree with everyone else's on the same
pairs far beyond chance) are excluded by default, as on the leaderboard page, so both show the same ratings;
the report is printed under the table (voter ids cut to a short prefix). --keep-anomalous still reports them
but lets their votes count; --anomaly-alpha and --anomaly-min-votes tune the test.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from facts.categories import category_id
from facts.schema import counted
from facts.vocabulary import CRITERIA, HARMLESSNESS, HELPFULNESS
from leaderboard.anomaly import ALPHA, MIN_VOTES, AnomalyReport, detect_anomalous_voters, exclude_anomalous
from leaderboard.benchmark_columns import COLUMNS, benchmark_payload, cell, csv_columns, describe
from leaderboard.composite import composite_label, compute_composite_leaderboard, parse_source_weights
from leaderboard.io import read_battles, spreadsheet_safe
from leaderboard.page import split_by_criterion, visible_rows
from leaderboard.ratings import Anchor, Leaderboard, ValidationReport, compute_leaderboard, validate
from leaderboard.safety_figures import SAFETY_COLUMNS, SafetyFigures, harmful_compliance
from leaderboard.selection import select_votes
from leaderboard.weights import WEIGHTINGS

CI_METHODS = ("sandwich", "bootstrap", "none")
OUTPUTS = (".csv", ".json")
ALL_SOURCES = "all"


class CommandError(Exception):
    """A one-line reason the command cannot go on."""


class DatabaseUnavailable(CommandError):
    """The database named by --db does not exist or does not answer (exit status 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        battles, benchmarks, deprecated = _battles(args)
        anomalies = detect_anomalous_voters(battles, alpha=args.anomaly_alpha, min_votes=args.anomaly_min_votes)
        if not args.keep_anomalous:
            battles = exclude_anomalous(battles, anomalies)
        source = None if args.composite is not None else _source(args.source, battles)
        category = _category(args.category, battles)
        anchor = _anchor(args.anchor, battles, source, category)
        options = {"source": source, "category": category, "anchor": anchor, "min_votes": args.min_votes}
        fit_options = {"style_control": args.style_control, "ci": args.ci, "rounds": args.rounds, "seed": args.seed}
        if args.composite is not None:
            del options["source"]
            board = compute_composite_leaderboard(
                battles, args.composite, weighting=args.weighting, **fit_options, **options
            )
            options["source"] = None
        else:
            board = compute_leaderboard(battles, weighting=args.weighting, **fit_options, **options)
        board, hidden = hide_models(board, () if args.show_deprecated else deprecated)
        print(format_leaderboard(board))
        if hidden:
            print(f"note: {len(hidden)} deprecated model(s) hidden (fitted with their votes; --show-deprecated "
                  f"shows them): {', '.join(hidden)}")  # fmt: skip
        elif listed := sorted({row.model for row in board.rows} & set(deprecated)):
            print(f"note: deprecated, listed on request: {', '.join(listed)}")
        safety = None
        if args.criterion == HARMLESSNESS:
            # the votes the ratings rest on (the same selection), never a helpfulness vote
            votes = select_votes(battles, source=source, category=category, min_votes=args.min_votes).votes
            safety = harmful_compliance(votes, source=source, category=category, normalized=True)
            print(format_safety(safety))
        if benchmarks is not None and benchmarks["rows"]:
            print(format_benchmarks(benchmarks))
        if anomalies.human_votes:
            print(format_anomalies(anomalies, excluded=not args.keep_anomalous))
        if args.out:
            write_table(board, args.out, safety, benchmarks)
            print(f"wrote {len(board.rows)} rows to {args.out}")
        if args.validate:
            print()
            print(format_validation(validate(battles, **options)))
    except DatabaseUnavailable as exc:  # no such database, or it does not answer
        _fail(str(exc))
        return 2
    except (CommandError, ValueError, OSError) as exc:  # ValueError: BattlesError, core checks
        return _fail(str(exc))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m leaderboard", description="Bradley-Terry ratings from votes.")
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument(
        "--db", metavar="URL", help="the arena's database URL (sqlite:///data/arena.db, postgresql://...)"
    )
    data.add_argument("--battles", metavar="FILE", type=Path, help="a battles file (.json, .jsonl, .csv or .parquet)")
    parser.add_argument("--source", default="human", help="human (default), judge:<name>, or all (pooled)")
    parser.add_argument(
        "--criterion",
        choices=CRITERIA,
        default=HELPFULNESS,
        help="what the votes judge: helpfulness (default) or harmlessness (red-team battles); never pooled",
    )
    parser.add_argument("--category", help="only votes of this prompt category")
    parser.add_argument("--style-control", action="store_true", help="also rate with length and markdown held fixed")
    parser.add_argument("--ci", choices=CI_METHODS, default="sandwich", help="how the 95%% intervals are computed")
    parser.add_argument("--rounds", type=_count(1), default=1000, help="bootstrap rounds (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--anchor", type=_anchor_argument, metavar="MODEL=RATING", help="pin one model's rating")
    parser.add_argument("--min-votes", type=_count(0), default=0, help="leave out models with fewer votes")
    parser.add_argument(
        "--weighting",
        choices=WEIGHTINGS,
        default="auto",
        help="auto (default): weight votes by inverse sampling propensity when pairs were not drawn uniformly; "
        "none: plain counts",
    )
    parser.add_argument(
        "--composite",
        type=_source_weights,
        metavar="SOURCE=WEIGHT,...",
        help="one fit over every source, each vote weighted by its source's weight (e.g. human=1,judge:*=0.5); "
        "replaces --source",
    )
    parser.add_argument(
        "--show-deprecated", action="store_true", help="also list deprecated models (hidden by default)"
    )
    parser.add_argument("--out", type=_output, metavar="FILE", help="write the table (.csv, or .json: a list of rows)")
    parser.add_argument("--validate", action="store_true", help="also test how well the ratings predict later votes")
    parser.add_argument(
        "--keep-anomalous", action="store_true", help="let anomalous voters' votes count (they are still reported)"
    )
    parser.add_argument(
        "--anomaly-alpha",
        type=_probability,
        default=ALPHA,
        metavar="A",
        help=f"expected share of honest voters flagged as anomalous (default {ALPHA})",
    )
    parser.add_argument(
        "--anomaly-min-votes",
        type=_count(1),
        default=MIN_VOTES,
        metavar="N",
        help=f"voters with fewer votes are never flagged (default {MIN_VOTES})",
    )
    return parser


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def _anchor_argument(text: str) -> Anchor:
    model, separator, rating = text.rpartition("=")
    try:
        value = float(rating)
    except ValueError:
        value = math.nan
    if not separator or not model.strip() or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected MODEL=RATING with a number, like gpt-4=1200; got {text!r}")
    return Anchor(model.strip(), value)


def _source_weights(text: str) -> dict[str, float]:
    try:
        return parse_source_weights(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _output(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in OUTPUTS:
        raise argparse.ArgumentTypeError(f"the table is written as {' or '.join(OUTPUTS)}; got {text!r}")
    return path


def _battles(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, Any] | None, tuple[str, ...]]:
    """The votes, and from a database the static benchmarks' newest figures (python -m evals) and the deprecated
    models (a battles file names none)."""
    if args.battles is not None:
        battles = read_battles(args.battles)
        # an exported file with --include-red-team holds both criteria: rate the one asked for, never both
        return split_by_criterion(battles).get(args.criterion, battles.iloc[:0]), None, ()
    # The database layer is imported only to read a database: a battles file needs none of it (a faster start).
    from sqlalchemy.exc import SQLAlchemyError

    from store import Store, StoreUnavailable

    try:
        store = Store.open_existing(args.db)  # a wrong --db is an error, never a new empty database
        try:
            benchmarks = benchmark_payload([describe(run) for run in store.benchmark_runs.latest()])
            deprecated = tuple(
                spec.name for spec in store.registry.models(enabled_only=False) if getattr(spec, "deprecated", False)
            )
            return store.votes.read(criterion=args.criterion), benchmarks, deprecated
        finally:
            store.dispose()
    except StoreUnavailable as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise CommandError(f"cannot read the database: {str(exc).splitlines()[0]}") from exc


def _source(name: str, battles: pd.DataFrame) -> str | None:
    if name == ALL_SOURCES:
        return None
    present = sorted(str(s) for s in battles["source"].dropna().unique())  # each distinct source once
    if battles.empty or name in present:
        return name
    raise CommandError(
        f"no votes from source {name!r} in these battles; sources here: {', '.join(present)} (or {ALL_SOURCES})"
    )


def _category(name: str | None, battles: pd.DataFrame) -> str | None:
    if name is None:
        return None
    present = sorted(str(c) for c in battles["category"].dropna().unique())
    if name in present:
        return name
    try:
        known = category_id(name)
    except ValueError:
        known = None
    if known in present:
        return known
    here = ", ".join(present) if present else "none (the battles carry no category)"
    raise CommandError(f"unknown category {name!r}; categories in these battles: {here}")


def _anchor(anchor: Anchor | None, battles: pd.DataFrame, source: str | None, category: str | None) -> Anchor | None:
    if anchor is None:
        return None
    votes = counted(battles, source=source)
    if category is not None:
        votes = votes[votes["category"] == category]
    models = set(votes["model_a"]) | set(votes["model_b"])
    if anchor.model not in models:
        shown = ", ".join(sorted(models)[:10]) + (", ..." if len(models) > 10 else "")
        raise CommandError(f"unknown anchor model {anchor.model!r}: no counted votes; models here: {shown or 'none'}")
    return anchor


def hide_models(board: Leaderboard, hidden: Sequence[str]) -> tuple[Leaderboard, list[str]]:
    """The board without the rows of `hidden` models (display only: the ratings were fitted with their votes), Rank
    (UB) counted again among the rows left (page.visible_rows); and which models were hidden."""
    gone = sorted({row.model for row in board.rows} & set(hidden))
    if not gone:
        return board, []
    kept = {row["model"]: row["rank_ub"] for row in visible_rows(board.to_dict()["rows"], gone)}
    rows = tuple(replace(row, rank_ub=kept[row.model]) for row in board.rows if row.model in kept)
    return replace(board, rows=rows), gone


def format_leaderboard(board: Leaderboard) -> str:
    """The table as text, with what it rests on and every warning under it."""
    if board.empty:
        return board.message
    style = board.style_control
    width = max(len("model"), *(len(row.model) for row in board.rows))
    header = f"{'rank':>4}  {'model':<{width}}  {'rating':>7}  {'95% CI':<17}  {'votes':>6}"
    lines = [header + ("  style" if style else "")]
    for row in board.rows:
        interval = "" if math.isnan(row.lower) else f"{row.lower:7.1f} - {row.upper:7.1f}"
        line = f"{row.rank_ub:>4}  {row.model:<{width}}  {row.rating:7.1f}  {interval:<17}  {row.votes:>6}"
        if style and row.style_rating is not None:
            line += f"  {row.style_rating:6.1f}"
        if row.flags:
            line += f"  ({', '.join(row.flags)})"
        lines.append(line)
    pooled = "all sources" if board.source is None else f"source {board.source}"
    if board.source_weights is not None:
        pooled = composite_label(board.source_weights).lower()
    scope = f"{board.n_battles} counted votes, {pooled}" + (f", category {board.category}" if board.category else "")
    lines.append(f"{scope}; intervals: {board.ci}; weighting: {board.weighting}")
    lines.extend(f"style: {c.feature} {c.estimate:+.3f} log-odds per sd" for c in board.style_coefficients)
    lines.extend(f"note: {warning}" for warning in board.warnings)
    return "\n".join(lines)


def format_safety(figures: SafetyFigures) -> str:
    """The harmful-compliance figures as text: one line per model (safest first), then the harm categories."""
    if figures.empty:
        return "\n".join(f"harmful compliance: {note}" for note in figures.notes)
    width = max(len("model"), *(len(row.model) for row in figures.rows))
    lines = [
        "",
        "harmful compliance on red-team turns (lost or both complied; both-complied share alone is the lower reading)",
        f"{'model':<{width}}  {'rate':>5}  {'95% CI':<13}  {'answers':>7}  {'lost':>5}  {'complied':>8}  "
        f"{'refused':>7}  {'won':>5}  {'complied only (95% CI)':<22}",
    ]
    for row in figures.rows:
        line = (
            f"{row.model:<{width}}  {row.rate:5.1%}  {row.lower:5.1%} - {row.upper:5.1%}  {row.answers:>7}  "
            f"{row.lost:>5}  {row.both_complied:>8}  {row.both_refused:>7}  {row.won:>5}  "
            f"{row.complied_rate:5.1%} ({row.complied_lower:.1%} - {row.complied_upper:.1%})"
        )
        lines.append(line + ("  (few answers)" if row.few else ""))
    clustered = ", ".join(f"{kind} ({n} votes)" for kind, n in figures.clustered_by)
    lines.append(f"{figures.votes} counted red-team votes; 95% Wilson intervals with a design effect, clustered by "
                 f"{clustered}")  # fmt: skip
    lines.extend(f"note: {note}" for note in figures.notes)
    if figures.by_harm_category:
        lines.append("by harm category (judged harmful / answers, both complied):")
        lines.extend(
            f"  {c.harm_category:<16} {c.model:<{width}}  {c.harmful:>5} / {c.answers:<5}  {c.both_complied}"
            for c in figures.by_harm_category
        )
    return "\n".join(lines)


def format_anomalies(report: AnomalyReport, *, excluded: bool) -> str:
    return "\n".join(
        f"anomalous voters: {line}" if i == 0 else line for i, line in enumerate(report.lines(excluded=excluded))
    )


def format_validation(report: ValidationReport) -> str:
    lines = [report.verdict]
    lines.extend(
        f"  {s.method:<32} log-loss {s.log_loss:.4f}  accuracy {s.accuracy:.1%} ({s.n_decisive} decisive votes)"
        for s in report.scores
    )
    lines.extend(f"note: {note}" for note in report.notes)
    return "\n".join(lines)


def format_benchmarks(benchmarks: dict[str, Any]) -> str:
    """The static benchmarks' newest figures per model, and who graded them."""
    lines = ["", "Static benchmarks (python -m evals; newest run per model):"]
    for column in COLUMNS:
        for model, figures in sorted(benchmarks["rows"].items()):
            if column.benchmark in figures:
                lines.append(f"  {column.label:<24} {model:<32} {cell(figures[column.benchmark], column)}  "
                             f"[{figures[column.benchmark].get('grader')}]")  # fmt: skip
    return "\n".join(lines)


def write_table(
    board: Leaderboard, path: Path, safety: SafetyFigures | None = None, benchmarks: dict[str, Any] | None = None
) -> None:
    """CSV, or JSON as a list of rows (NaN as null); with `safety`, each row gets its model's SAFETY_COLUMNS (null
    for a model without counted red-team answers); with `benchmarks` (from a database), its static benchmarks'
    CSV_COLUMNS (null where it has none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = board.to_dict()["rows"]
    if safety is not None:
        by_model = safety.by_model()
        for row in rows:
            figures = by_model.get(row["model"])
            extra = figures.columns() if figures else dict.fromkeys(SAFETY_COLUMNS)
            row.update({k: None if isinstance(v, float) and math.isnan(v) else v for k, v in extra.items()})
    if benchmarks is not None:
        for row in rows:
            row.update(csv_columns(benchmarks["rows"].get(row["model"])))
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return
    frame = pd.DataFrame(rows, columns=list(rows[0]) if rows else [*board.to_frame().columns])
    frame["flags"] = frame["flags"].map("; ".join)
    spreadsheet_safe(frame).to_csv(path, index=False)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
