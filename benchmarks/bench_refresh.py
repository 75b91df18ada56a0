"""Benchmark: the stored leaderboard snapshot refreshed from N votes, on SQLite and PostgreSQL.

Each database is filled once by benchmarks.arena_fill (realistic votes through the write path's facts: answers
of a few hundred characters, 24 models, Zipf voters, every category, judge verdicts, flagged battles; short
answers with --short-texts) and kept for later runs. Then, each in a fresh process, in this order:
  scan      one full scan of the votes table: every row and column through the driver, in batches; and one
            of the database (votes, battles and turns with their texts), the baseline the refresh is held to
            (at most 2x at 100k);
  refresh   the stored-snapshot refresh the scheduler runs: the watermark, the narrow read (store.votes), the
            page payload (leaderboard.page: every source, category and style-control view, matrices, validation,
            the anomaly test), the snapshot saved;
  per-vote  the refresh as it was before the facts were stored: answers and prompts read with every vote, each
            vote's style and category computed from its texts (facts.style, facts.categories), then the same
            payload (run only where it finishes within --per-vote-limit votes);
  audit     the judge audit's stored snapshot, from the stored facts (no answer text).
Wall and CPU seconds, peak resident memory of the process, and the refresh's stages.

With --propensities (issue 20), only the refresh, with inverse-propensity weights against without: each size is
also filled into a second database by `arena_fill --propensities` (the same votes, but anonymous pairs drawn by
active sampling, each battle and vote storing its pair probability and pool size), and the refresh of each
database runs --repeats times in fresh processes, alternating (the baseline measured in the same run, under the
same load); medians, the ratio with / without, and what the stored snapshot's views say about their weighting.

    python -m benchmarks.bench_refresh                                 # 100k and 1M on SQLite and PostgreSQL
    python -m benchmarks.bench_refresh --sizes 100000 1000000 10000000  # and 10M on PostgreSQL, short answers
    python -m benchmarks.bench_refresh --sizes 100000 --engines sqlite --no-write
    python -m benchmarks.bench_refresh --sizes 100000 1000000 --propensities --no-write
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.process import REPO, Measured, load_average, run_measured
from benchmarks.report import write_section

SECTION = "## Leaderboard refresh (issue 13)"
PROPENSITY_SECTION = "## Leaderboard refresh with propensities (issue 20)"
IPW_NOTE = "Pairs were not drawn uniformly"  # the start of leaderboard.weights' note on a weighted view
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"


def database_url(engine: str, votes: int, short_texts: bool, folder: Path, propensities: bool = False) -> str:
    name = f"arena_refresh_{votes}{'_short' if short_texts else ''}{'_ipw' if propensities else ''}"
    if engine == "sqlite":
        return f"sqlite:///{folder / (name + '.db')}"
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
    return f"{POSTGRES}/{name}"


def ensure_filled(url: str, votes: int, short_texts: bool, propensities: bool = False) -> float | None:
    """Fill the database unless it already holds the votes at the current schema; the fill's wall seconds, or
    None if kept. A database filled under an older schema is made again: a migration may hand its facts back
    to the backfill."""
    from sqlalchemy import create_engine

    from store import Store
    from store.migrate import current_revision, head_revision

    engine = create_engine(url)
    try:
        stale = current_revision(engine) not in (None, head_revision())
    finally:
        engine.dispose()
    if stale:
        recreate(url)
    store = Store.open(url)
    try:
        present = store.votes.count()
    finally:
        store.dispose()
    if present == votes:
        return None
    if present:
        raise SystemExit(f"{url} holds {present:,} votes, not {votes:,}: drop it first")
    argv = ["-m", "benchmarks.arena_fill", "--db", url, "--votes", str(votes), *(["--short-texts"] * short_texts),
            *(["--propensities"] * propensities)]  # fmt: skip
    return run_measured(argv).wall


def recreate(url: str) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{parsed.database}"')


# ---- what the child processes run --------------------------------------------------------------------------


def _clock() -> tuple[float, float]:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the SQLite reader runs in a child process
    return time.perf_counter(), time.process_time() + children.ru_utime + children.ru_stime


def _since(start: tuple[float, float]) -> dict[str, float]:
    wall, cpu = _clock()
    return {"wall": wall - start[0], "cpu": cpu - start[1]}


def child(mode: str, url: str) -> dict[str, Any]:
    from store import Store

    store = Store.open(url)
    stages: dict[str, dict[str, float]] = {}
    try:
        if mode == "scan":
            start = _clock()
            rows = _scan(store, "votes")
            stages["scan"] = _since(start)
            start = _clock()
            for table in ("votes", "battles", "turns"):
                _scan(store, table)
            stages["database"] = _since(start)
            return {"rows": rows, "stages": stages}
        from leaderboard.judge_audit import audit_judges, render_markdown
        from leaderboard.page import build_page_payload
        from leaderboard.service import SnapshotService
        from store.snapshots import JUDGE_AUDIT, LEADERBOARD

        def compute(mark: Any) -> dict[str, Any]:
            start = _clock()
            if mode == "audit":
                battles = store.votes.read(audit=True, upto=mark.last_vote_id)
            elif mode == "refresh":
                battles = store.votes.read(upto=mark.last_vote_id)
            else:
                battles = _per_vote(store, mark)
            stages["read"] = _since(start)
            start = _clock()
            if mode == "audit":
                report = audit_judges(battles, self_trained=store.registry.provenance())
                payload = {"markdown": render_markdown(report), "votes_total": mark.votes_total}
            else:
                payload = build_page_payload(battles, store.registry.descriptions(), mark.votes_total)
            stages["payload"] = _since(start)
            return payload

        # The snapshot services as app.py builds them, without the web app's imports around them.
        kind = JUDGE_AUDIT if mode == "audit" else LEADERBOARD
        service = SnapshotService(kind, store.snapshots, store.votes.watermark, compute)
        start = _clock()
        snapshot = service.refresh(force=True)
        stages["total"] = _since(start)
        assert snapshot is not None
        result: dict[str, Any] = {"rows": snapshot.votes_total, "stages": stages}
        if mode == "refresh":  # what the stored snapshot's views say about their weighting (issue 20)
            views = snapshot.payload["views"]
            result["weighting"] = dict(Counter(str(view.get("weighting")) for view in views.values()))
            notes = {key: [str(w) for w in view.get("warnings", ()) if str(w).startswith(IPW_NOTE)]
                     for key, view in views.items()}  # fmt: skip
            result["ipw_noted"] = sum(1 for noted in notes.values() if noted)  # views whose warnings say so
            result["ipw_note"] = next(([key, noted[0]] for key, noted in notes.items() if noted), None)
        return result
    finally:
        store.dispose()


def _scan(store: Any, table: str) -> int:
    rows = 0
    with store.engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=65_536).exec_driver_sql(
            f"SELECT * FROM {table}"
        )
        for partition in result.partitions():
            rows += len(partition)
    return rows


def _per_vote(store: Any, mark: Any) -> Any:
    """The votes with their texts, then style and category computed from the texts, vote by vote."""
    import pandas as pd

    from facts.categories import classify_prompt
    from facts.style import STYLE_COLUMNS, style_features

    battles = store.votes.read(texts=True, upto=mark.last_vote_id)
    rows = []
    for prompt, answer_a, answer_b in zip(battles["prompt"], battles["answer_a"], battles["answer_b"], strict=True):
        rows.append(
            {
                **style_features(answer_a or "").columns("a"),
                **style_features(answer_b or "").columns("b"),
                "category": classify_prompt(prompt) if prompt is not None else None,
            }
        )
    computed = pd.DataFrame(rows, columns=[*STYLE_COLUMNS, "category"])
    return battles.drop(columns=[*STYLE_COLUMNS, "category"]).join(computed)


def measure(mode: str, url: str, repo: Path = REPO) -> tuple[Measured, dict[str, Any]]:
    """One fresh process of `mode` on `url`, run from `repo` (this checkout, or a baseline's worktree)."""
    measured = run_measured(["-m", "benchmarks.bench_refresh", "--child", mode, url], repo=repo)
    return measured, json.loads(measured.stdout.strip().splitlines()[-1])


# ---- the run -----------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    args.folder.mkdir(parents=True, exist_ok=True)
    for engine in args.engines:
        for votes in args.sizes:
            if engine == "sqlite" and votes > args.sqlite_limit:
                continue  # the targets at ten million are PostgreSQL's
            short = short_texts(args, votes)
            url = database_url(engine, votes, short, args.folder)
            fill = ensure_filled(url, votes, short)
            load = load_average()
            scan = measure("scan", url)
            refresh = measure("refresh", url)
            audit = measure("audit", url)
            per_vote = measure("per-vote", url) if votes <= args.per_vote_limit else None
            row = {"engine": engine, "votes": votes, "short": short, "fill": fill, "load": (load, load_average()),
                   "scan": scan, "refresh": refresh, "audit": audit, "stages": refresh[1]["stages"],
                   "per_vote": per_vote}  # fmt: skip
            print(summary_line(row), flush=True)
            results.append(row)
    return results


def run_propensities(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The refresh with propensities against without, alternating fresh processes (module docstring)."""
    results = []
    args.folder.mkdir(parents=True, exist_ok=True)
    for engine in args.engines:
        for votes in args.sizes:
            if engine == "sqlite" and votes > args.sqlite_limit:
                continue
            short = short_texts(args, votes)
            urls = {weighted: database_url(engine, votes, short, args.folder, weighted) for weighted in (False, True)}
            fills = {weighted: ensure_filled(url, votes, short, weighted) for weighted, url in urls.items()}
            load = load_average()
            runs: dict[bool, list[tuple[Measured, dict[str, Any]]]] = {False: [], True: []}
            for _ in range(args.repeats):
                for weighted in (False, True):
                    runs[weighted].append(measure("refresh", urls[weighted]))
            row = {"engine": engine, "votes": votes, "short": short, "fill": fills, "load": (load, load_average()),
                   "runs": runs}  # fmt: skip
            print(propensity_line(row), flush=True)
            results.append(row)
    return results


def _median(runs: list[tuple[Measured, dict[str, Any]]], what: str) -> float:
    """The median over the repeats: "process" (wall), "rss", or a stage's "<stage>.<wall|cpu>"."""
    if what == "process":
        return statistics.median(measured.wall for measured, _ in runs)
    if what == "rss":
        return statistics.median(measured.rss_mb for measured, _ in runs)
    stage, clock = what.split(".")
    return statistics.median(result["stages"][stage][clock] for _, result in runs)


def propensity_line(row: dict[str, Any]) -> str:
    without, weighted = row["runs"][False], row["runs"][True]
    before, after = _median(without, "total.wall"), _median(weighted, "total.wall")
    return (
        f"{row['engine']} {row['votes']:,}: refresh {before:.2f} s without weights, {after:.2f} s with "
        f"({after / before:.2f}x), "
        f"peak RSS {_median(without, 'rss'):,.0f} / {_median(weighted, 'rss'):,.0f} MB; weighting of the views: "
        f"{weighted[-1][1].get('weighting')} with, {without[-1][1].get('weighting')} without"
    )


def _pair(runs: dict[bool, list], what: str, digits: int = 2) -> str:
    without, weighted = _median(runs[False], what), _median(runs[True], what)
    return f"{without:,.{digits}f} / {weighted:,.{digits}f}"


def _ratio(runs: dict[bool, list], what: str) -> str:
    return f"{_median(runs[True], what) / _median(runs[False], what):.2f}x"


def propensity_report(args: argparse.Namespace, results: list[dict[str, Any]]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        PROPENSITY_SECTION,
        "",
        f"Command: `python -m benchmarks.bench_refresh --sizes {' '.join(map(str, args.sizes))} --engines "
        f"{' '.join(args.engines)} --propensities --repeats {args.repeats}"
        f"{' --short-texts' if args.short_texts else ''}`. Two databases per size, filled by `benchmarks.arena_fill` "
        "as in the section above: the baseline (no propensity stored: every vote weighs 1, the unweighted path) and "
        "the same votes filled with `--propensities` (each anonymous battle's pair drawn by active sampling, "
        "arena.active_sampling.pair_probabilities, rule ours, floor 0.2, the distribution recomputed every 20 "
        "battles from the standings so far; the battle and its votes store the drawn pair's probability and pool "
        "size 24; side-by-side battles none), so every view weights its votes by inverse propensity. The stored-"
        "snapshot refresh of each runs "
        f"{args.repeats} times in fresh processes, alternating; medians. Measured {when} on 2 CPU cores shared with "
        "other work (the ratio, baseline and weighted measured in the same run, is the figure to read), SQLite "
        "(file, WAL) and PostgreSQL 15 on localhost. Refresh seconds are the work inside the process (imports "
        "excluded); peak RSS is the whole process's.",
        "",
        "| Database | Votes | Refresh wall (s): without / with | Ratio | Refresh CPU (s): without / with | Ratio | "
        "Read (narrow) wall: without / with | Page payload wall: without / with | Process peak RSS (MB): without / "
        "with | Ratio | Views weighted (with) | Load (1 min) |",
        "|---|---:|---|---:|---|---:|---|---|---|---:|---|---|",
    ]
    for row in results:
        runs = row["runs"]
        weighted = runs[True][-1][1]
        views = sum(weighted.get("weighting", {}).values())
        lines.append(
            f"| {row['engine']} | {_votes(row)} | {_pair(runs, 'total.wall')} | {_ratio(runs, 'total.wall')} | "
            f"{_pair(runs, 'total.cpu')} | {_ratio(runs, 'total.cpu')} | {_pair(runs, 'read.wall')} | "
            f"{_pair(runs, 'payload.wall')} | {_pair(runs, 'rss', 0)} | {_ratio(runs, 'rss')} | "
            f"{weighted.get('weighting', {}).get('propensity', 0)} of {views} ({weighted.get('ipw_noted', 0)} noted) | "
            f"{row['load'][0]:.1f} / {row['load'][1]:.1f} |"
        )
    lines += ["", *_weighting_check(results), ""]
    return "\n".join(lines)


def _weighting_check(results: list[dict[str, Any]]) -> list[str]:
    """What the stored snapshots' views said about their weighting, checked on every refresh measured."""
    weighted = [result for row in results for _, result in row["runs"][True]]
    baseline = [result for row in results for _, result in row["runs"][False]]

    def every(results: list[dict[str, Any]], scheme: str, noted: bool) -> bool:
        return all(
            set(r.get("weighting", {})) == {scheme} and (r.get("ipw_noted", 0) > 0) == noted for r in results
        ) and all(not noted or r["ipw_noted"] == sum(r["weighting"].values()) for r in results)

    example = next((r["ipw_note"] for r in weighted if r.get("ipw_note")), None)
    lines = [
        ("Every view of every weighted snapshot says weighting \"propensity\" and carries the note"
         if every(weighted, "propensity", True)
         else f"NOT every weighted view says \"propensity\" with the note: {[r.get('weighting') for r in weighted]}")
        + (f", e.g. (view `{example[0]}`): \"{example[1]}\"" if example else "."),
        ("Every view of every baseline snapshot says \"none\", with no note."
         if every(baseline, "none", False)
         else f"NOT every baseline view says \"none\": {[r.get('weighting') for r in baseline]}"),
    ]  # fmt: skip
    return lines


def _votes(row: dict[str, Any]) -> str:
    return f"{row['votes']:,}{' (short answers)' if row['short'] else ''}"


def short_texts(args: argparse.Namespace, votes: int) -> bool:
    return args.short_texts or votes >= args.short_texts_from


def summary_line(row: dict[str, Any]) -> str:
    per_vote = row["per_vote"]
    return (
        f"{row['engine']} {row['votes']:,}: scan {row['scan'][1]['stages']['scan']['wall']:.2f} s, refresh "
        f"{row['stages']['total']['wall']:.2f} s ({row['refresh'][0].wall:.2f} s, {row['refresh'][0].rss_mb:,.0f} MB "
        "as a process)" + (f", per-vote {per_vote[1]['stages']['total']['wall']:.2f} s" if per_vote else "")
    )


def report(args: argparse.Namespace, results: list[dict[str, Any]]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        SECTION,
        "",
        f"Command: `python -m benchmarks.bench_refresh --sizes {' '.join(map(str, args.sizes))} --engines "
        f"{' '.join(args.engines)}{' --short-texts' if args.short_texts else ''}`. Votes from "
        "`benchmarks.arena_fill` (24 models, one-turn battles, answers of a few hundred characters"
        f"{'' if args.short_texts else f'; from {args.short_texts_from:,} votes on'}"
        f"{'; here' if args.short_texts else ''} one short part each, as the issue allows at ten million; SQLite up "
        f"to {args.sqlite_limit:,}), Zipf voters over 50,000, every category, "
        "a judge on 20% of battles, 3% flagged). Each figure is one fresh process: wall and CPU seconds and "
        f"peak resident memory (RSS, Python and imports included). Measured {when} on 2 CPU cores, SQLite "
        "(file, WAL) and PostgreSQL 15 on localhost. Scan: every row and column of the votes table through the "
        "driver; of the database: every row and column of votes, battles and turns (prompts and answers). "
        "Refresh: the stored snapshot as the scheduler computes it (watermark, narrow read, every page "
        "view, save). Per-vote: the refresh as it was before the facts were stored (texts read, style and "
        "category computed for each vote). Scan, refresh and per-vote seconds are the work inside the process "
        "(imports and start-up excluded); the process column is the whole process, start-up included. Targets: "
        "1M votes under 10 s, 10M under 60 s and 2 GB, refresh at most 2x the scan at 100k.",
        "",
        "| Database | Votes | Scan: votes / database (s) | Refresh wall / CPU (s) | Refresh vs scan: votes / "
        "database | Refresh process wall (s) / peak RSS (MB) | Per-vote wall / CPU (s) | Per-vote vs refresh (CPU) "
        "| Load (1 min) |",
        "|---|---:|---|---|---|---|---|---:|---|",
    ]
    for row in results:
        scan, database = row["scan"][1]["stages"]["scan"], row["scan"][1]["stages"]["database"]
        process, refresh = row["refresh"][0], row["stages"]["total"]
        per_vote = row["per_vote"][1]["stages"]["total"] if row["per_vote"] else None
        old = (
            f"{per_vote['wall']:.2f} / {per_vote['cpu']:.2f} | {per_vote['cpu'] / refresh['cpu']:.1f}x"
            if per_vote
            else "not run | "
        )
        lines.append(
            f"| {row['engine']} | {_votes(row)} | {scan['wall']:.2f} / {database['wall']:.2f} | "
            f"{refresh['wall']:.2f} / {refresh['cpu']:.2f} | {refresh['wall'] / scan['wall']:.2f}x / "
            f"{refresh['wall'] / database['wall']:.2f}x | {process.wall:.2f} / "
            f"{process.rss_mb:,.0f} | {old} | {row['load'][0]:.1f} / {row['load'][1]:.1f} |"
        )
    lines += [
        "",
        "How each stage grows with the votes (wall / CPU seconds inside the refresh process; imports excluded):",
        "",
        "| Database | Votes | Read (narrow) | Page payload | Refresh total | Judge audit: read / audit / total "
        "| Judge audit process peak RSS (MB) |",
        "|---|---:|---|---|---|---|---:|",
    ]
    for row in results:
        stages, audit = row["stages"], row["audit"][1]["stages"]
        cells = [f"{stages[k]['wall']:.2f} / {stages[k]['cpu']:.2f}" for k in ("read", "payload", "total")]
        audit_cells = " / ".join(f"{audit[k]['wall']:.2f}" for k in ("read", "payload", "total"))
        lines.append(
            f"| {row['engine']} | {_votes(row)} | {' | '.join(cells)} | {audit_cells} | {row['audit'][0].rss_mb:,.0f} |"
        )
    lines += [
        "",
        "How: the facts of a vote (models, mode, category, style counts, unique-token shares, whether it counts) "
        "are stored with the vote when it is written, so a refresh reads one narrow scan of the votes table and no "
        "text. Both databases send it through ADBC as Arrow columns: PostgreSQL by binary COPY, SQLite from a "
        "child process (its driver must not share the app's process) above 300,000 votes, through the app's own "
        "driver below; labels become integer codes at once, into one buffer per column (about 60 bytes a vote), "
        "while a second thread fetches the next batch. Times and voter ids travel raw (computing EXTRACT and CASE "
        "per row cost PostgreSQL a fifth of the read). Ratings come from per-pair counts, style control from "
        "votes tagged with their pair (sums by bincount: no sort), the anomaly test from integer codes; online Elo "
        "and validation walk "
        "numeric arrays. Memory: the page copies one source's narrow columns at a time, per-vote temporaries "
        "(counts, style-control sums, anomaly evidence) are made in blocks of a million votes, and freed memory "
        "is given back between stages (leaderboard.memory). The judge audit reads the same columns plus battle "
        "ids and unique-token shares, groups integer turn keys, and bootstraps only turns with two votes or more "
        "(wall seconds, in its own process).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--engines", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--short-texts", action="store_true", help="fill every size with short answers")
    parser.add_argument("--short-texts-from", type=int, default=5_000_000, help="short answers from this size on")
    parser.add_argument("--sqlite-limit", type=int, default=1_000_000, help="largest SQLite size measured")
    parser.add_argument("--per-vote-limit", type=int, default=1_000_000, help="run per-vote up to this many votes")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/arena-refresh"), help="where SQLite files live")
    parser.add_argument("--no-write", action="store_true", help="print the section, do not touch BENCHMARKS.md")
    parser.add_argument(
        "--propensities", action="store_true", help="the refresh with inverse-propensity weights against without"
    )
    parser.add_argument("--repeats", type=int, default=3, help="refreshes of each database (--propensities)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child(args.child[0], args.child[1])
        result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    if args.propensities:
        heading, section = PROPENSITY_SECTION, propensity_report(args, run_propensities(args))
    else:
        heading, section = SECTION, report(args, run(args))
    print(section)
    if not args.no_write:
        write_section(REPO / "BENCHMARKS.md", heading, section)


if __name__ == "__main__":
    sys.exit(main())
