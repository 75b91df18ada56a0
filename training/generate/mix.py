"""The task mix of an SFT set against InstructGPT's use cases (or H4's, or yours), its prompt and answer lengths,
and a sampler that draws a training set to a target mix (leaderboard.task_mix does the work; this reads and writes).

    python -m training.generate mix data/self_instruct.jsonl data/role_play.jsonl --plot mix.html
    python -m training.generate mix data/self_instruct.jsonl --target h4 --format json
    python -m training.generate mix data/*.jsonl --target mine.json --sample 500 --out data/sft_mixed.jsonl --seed 1
    python -m training.generate mix --db sqlite:///data/arena.db --set direct-chat

Inputs: JSONL files of chat records ({"messages": [...]}), Self-Instruct records ({"instruction", "input",
"output"}) or Self-Instruct seed tasks ({"instruction", "instances": [...]}), in any mix; and with --set (or --db)
the examples people saved from direct chat (the newest version of each, store.sft_examples), read from the database
without creating or migrating it. A line that is not JSON or fits no layout is counted and reported (file:line),
never fatal; a missing file, or a file without one readable record, is exit 2. --target is "instructgpt" (default),
"h4" (InstructGPT's shares with "Other" given to code) or a JSON file {"use case": share, ...} (weights, normalised).
--sample N draws N records without replacement (seeded), stratified by use case to the target's shares as closely
as the set allows, and writes them unchanged (so in their own layout) to --out, atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 256 * 1024 * 1024  # per input file
MAX_RECORDS = 2_000_000  # over all inputs: each record is held in memory and classified
MAX_TARGET_BYTES = 64 * 1024
PROBLEMS_SHOWN = 10


class InputError(ValueError):
    """Bad arguments or input: exit 2 with this message."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE", help="JSONL files of SFT records")
    parser.add_argument(
        "--target",
        default="instructgpt",
        help='"instructgpt" (default), "h4", or a JSON file mapping use cases to shares',
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="how to print the report")
    parser.add_argument("--plot", type=Path, metavar="OUT.html", help="write the mix and length plot (HTML) here")
    parser.add_argument("--sample", type=int, metavar="N", help="draw N records matching the target mix")
    parser.add_argument("--out", type=Path, metavar="SAMPLED.jsonl", help="where --sample writes the drawn records")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    parser.add_argument("--db", help="database URL of saved examples (default: the arena's settings, with --set)")
    parser.add_argument("--set", dest="set_name", help="read this saved set (direct-chat examples) from the database")


@dataclass
class Inputs:
    records: list[Any]  # every decoded JSON value, in input order
    origins: list[str]  # where each came from: "file:line" or "set NAME #i"
    unparsed: list[tuple[int, str, str]]  # (position among all lines, origin, reason) of lines that are not JSON
    positions: list[int]  # each record's position among all lines (records and unparsed lines interleave)
    sources: list[dict[str, Any]]  # per file or set: its name and counts


def run(args: argparse.Namespace) -> int:
    from leaderboard.task_mix import TargetError, mix_report, sample_to_mix

    try:
        _check_arguments(args)
        target = _target(args.target)
        inputs = _read_inputs(args)
        report = mix_report(inputs.records, target, unparsed=len(inputs.unparsed))
        sample = sample_to_mix(inputs.records, target, args.sample, seed=args.seed) if args.sample else None
        if sample is not None and not sample.records:
            print("error: no record falls in a use case the target gives a share; nothing was written", file=sys.stderr)
            return 1
        if args.plot is not None:
            _write_atomically(args.plot, lambda path: report.figure().write_html(str(path), include_plotlyjs=True))
        if sample is not None:
            _write_atomically(args.out, lambda path: _write_jsonl(path, sample.records))
    except (InputError, TargetError, OSError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    problems = _problems(inputs, report.problems)
    if args.format == "json":
        from facts.json_safe import dumps

        payload = {
            "sources": inputs.sources,
            "report": report.to_dict(),
            "problems": [{"where": where, "reason": reason} for where, reason in problems],
            "sample": None if sample is None else {**sample.to_dict(), "out": str(args.out)},
            "plot": None if args.plot is None else str(args.plot),
        }
        print(dumps(payload, indent=2))
        return 0
    print(report.markdown())
    if problems:
        print(f"\nUnreadable ({report.unreadable:,}; the first {len(problems)}):")
        print("\n".join(f"- {where}: {reason}" for where, reason in problems))
    if sample is not None:
        drawn = len(sample.records)
        print(f"\n{sample.markdown()}\n\nwrote {drawn:,} record{'s' if drawn != 1 else ''} to {args.out}")
    if args.plot is not None:
        print(f"wrote the plot to {args.plot}")
    return 0


def _check_arguments(args: argparse.Namespace) -> None:
    reading_db = args.set_name is not None or args.db is not None
    if not args.files and not reading_db:
        raise InputError("give at least one JSONL file, or --set NAME (and --db URL) to read a saved set")
    if args.sample is not None and args.out is None:
        raise InputError("--sample N needs --out SAMPLED.jsonl")
    if args.out is not None and args.sample is None:
        raise InputError("--out is where --sample writes; give --sample N too")
    if args.sample is not None and not 1 <= args.sample <= MAX_RECORDS:
        raise InputError(f"--sample must be between 1 and {MAX_RECORDS:,}, got {args.sample}")
    inputs = {path.resolve() for path in args.files}
    for option, path in (("--out", args.out), ("--plot", args.plot)):
        if path is None:
            continue
        if path.resolve() in inputs:
            raise InputError(f"{option} {path} is one of the input files; write somewhere else")
        if path.is_dir():
            raise InputError(f"{option} {path} is a folder; give a file name")
    if args.out is not None and args.plot is not None and args.out.resolve() == args.plot.resolve():
        raise InputError("--out and --plot name the same file")


def _target(value: str) -> Any:
    if value.casefold() in ("instructgpt", "h4"):
        return value.casefold()
    path = Path(value)
    if not path.is_file():
        raise InputError(f"--target {value!r} is neither instructgpt, h4 nor a JSON file")
    if path.stat().st_size > MAX_TARGET_BYTES:
        raise InputError(f"--target {path} is larger than {MAX_TARGET_BYTES // 1024} KiB")
    try:
        target = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"--target {path} is not JSON ({exc})") from exc
    if not isinstance(target, dict):
        raise InputError(f'--target {path} must hold a JSON object {{"use case": share, ...}}')
    return target


def _read_inputs(args: argparse.Namespace) -> Inputs:
    from leaderboard.task_mix import parse_record

    inputs = Inputs([], [], [], [], [])
    streams = [(str(path), _lines_of(path)) for path in args.files]
    if args.set_name is not None or args.db is not None:
        streams.append(_saved_set(args.db, args.set_name))
    for name, lines in streams:
        readable = seen = 0
        for where, value, reason in lines:
            seen += 1
            if len(inputs.records) + len(inputs.unparsed) >= MAX_RECORDS:
                raise InputError(f"more than {MAX_RECORDS:,} records; split the set")
            position = len(inputs.records) + len(inputs.unparsed)
            if reason is not None:
                inputs.unparsed.append((position, where, reason))
                continue
            inputs.records.append(value)
            inputs.origins.append(where)
            inputs.positions.append(position)
            try:
                parse_record(value)
                readable += 1
            except ValueError:
                pass
        if readable == 0:
            raise InputError(f"{name}: no readable record ({seen} line{'s' if seen != 1 else ''})")
        inputs.sources.append({"source": name, "records": seen, "readable": readable})
    return inputs


def _lines_of(path: Path) -> Iterator[tuple[str, Any, str | None]]:
    """(file:line, decoded value, None) or (file:line, None, why it is not JSON) for each non-blank line. Lines end
    at "\\n" only: a JSON string may hold U+2028 and other characters str.splitlines would split at."""
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InputError(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; split it")
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            where = f"{path}:{number}"
            try:
                yield where, json.loads(raw.decode("utf-8"), parse_constant=_no_constant), None
            except UnicodeDecodeError:
                yield where, None, "not UTF-8"
            except json.JSONDecodeError as exc:
                yield where, None, f"not JSON ({exc.msg} at column {exc.colno})"
            except ValueError as exc:  # NaN / Infinity: not JSON, and unwritable to a strict reader
                yield where, None, f"not JSON ({exc})"
            except RecursionError:
                yield where, None, "not JSON (nested too deeply)"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _saved_set(url: str | None, set_name: str | None) -> tuple[str, Iterator[tuple[str, Any, str | None]]]:
    """The saved direct-chat examples (newest version of each) of one set, or of all, as chat records."""
    from store import DATABASE_ERRORS, Store, StoreError
    from store.sft_examples import chat_record

    if url is None:
        from settings import Settings

        url = Settings().resolved_database_url
    name = f"saved set {set_name!r}" if set_name else "every saved set"
    try:
        store = Store.open_existing(url)
        try:
            examples = store.sft_examples.latest(set_name)
        finally:
            store.dispose()
    except (StoreError, *DATABASE_ERRORS) as exc:
        raise InputError(_one_line(exc)) from exc
    if not examples:
        raise InputError(f"{name}: no saved examples in this database")
    records = [(f"{name} #{i}", chat_record(example), None) for i, example in enumerate(examples, start=1)]
    return name, iter(records)


def _problems(inputs: Inputs, report_problems: tuple[tuple[int, str], ...]) -> list[tuple[str, str]]:
    """The first unreadable inputs, in input order: lines that are not JSON and records in no known layout."""
    layout = [(inputs.positions[index], inputs.origins[index], reason) for index, reason in report_problems]
    return [(where, reason) for _, where, reason in sorted(inputs.unparsed + layout)][:PROBLEMS_SHOWN]


def _write_jsonl(path: Path, records: tuple[Any, ...]) -> None:
    with path.open("w", encoding="utf-8") as stream:
        for record in records:
            # ensure_ascii: no line separator a text holds (U+2028, ...) can split a record for any reader
            stream.write(json.dumps(record, allow_nan=False) + "\n")


def _write_atomically(path: Path, write: Any) -> None:
    """`write(temporary path)`, then move it into place: a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A hidden name beside the target (same file system, so the move is atomic), created with the usual mode.
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
