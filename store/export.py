"""Export the arena's conversations and votes as a Hugging Face dataset, one row per vote.

    python -m store.export --out exports/arena
    python -m store.export --out exports/arena --format parquet --db postgresql://arena@db:5432/arena
    python -m store.export --out exports/all --source all --include-flagged --license cc0-1.0
    python -m store.export --out exports/hh --layout hh-rlhf                  # red-team data, store.red_team_export

The rows follow the released Chatbot Arena conversations (lmsys/chatbot_arena_conversations): question_id,
model_a, model_b, winner, judge, conversation_a, conversation_b, turn, anony, tstamp, plus battle_id, strength,
source, mode, category, pair_probability and pool_size (how the pair was drawn: null for older battles) and, with
--include-flagged only, excluded_reason. `DIR/train.jsonl` (or
`DIR/train.parquet`) and a dataset card `DIR/README.md` are written; `datasets.load_dataset(DIR)` reads them.
That is `--layout arena`, the default; `--layout hh-rlhf` and `--layout red-team-attempts` export the red-team
battles in Anthropic's layouts instead (store.red_team_export), under the same decisions.

Decisions:
- Which votes. By default the votes that count in the ratings, by the verdict stored with each vote
  (facts.eligibility; rewritten whenever its battle's flags change, so a flag raised after the vote keeps it
  out here as everywhere). --include-flagged exports them all, with the reason.
- Privacy. Voter hashes, session hashes and generation parameters never leave the database: `judge` is
  "human" or the judge's name. The conversation texts are exported as stored (not scrubbed of personal
  information); the card says so, and the operator reviews them before publishing.
- Conversations hold each side's current attempts only (a regenerated answer replaced the old one in what
  the voter saw), up to and including the voted turn's answers, read through the one votes reader
  (store.votes, with conversations).
- Nothing to export (an empty database, or every vote filtered out) is exit 2 with a message and writes
  nothing: an empty dataset would silently replace a good export when --db points to the wrong database.
- Each file is written to a temporary file in DIR and moved into place with os.replace, so a reader sees
  the old file or the new one, never half of one. The data file is replaced before the card.
- The database is opened with Store.open_existing: never created or migrated (a wrong --db is an error, not
  a new empty database).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.exc import SQLAlchemyError

from facts.vocabulary import HARMLESSNESS, HELPFULNESS, HUMAN, JUDGE_PREFIX
from store import Store, StoreError

FORMATS = ("jsonl", "parquet")
ALL_SOURCES = "all"
DEFAULT_LICENSE = "cc-by-4.0"
DATA_STEM = "train"
CARD = "README.md"
ARENA_LAYOUT, HH_RLHF, RED_TEAM_ATTEMPTS = "arena", "hh-rlhf", "red-team-attempts"
LAYOUTS = (ARENA_LAYOUT, HH_RLHF, RED_TEAM_ATTEMPTS)

Message = dict[str, str]

_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
_SCHEMA = pa.schema(
    [
        ("question_id", pa.string()),
        ("battle_id", pa.string()),
        ("turn", pa.int64()),
        ("model_a", pa.string()),
        ("model_b", pa.string()),
        ("winner", pa.string()),
        ("strength", pa.string()),
        ("judge", pa.string()),
        ("source", pa.string()),
        ("conversation_a", pa.list_(_MESSAGE)),
        ("conversation_b", pa.list_(_MESSAGE)),
        ("anony", pa.bool_()),
        ("mode", pa.string()),
        ("category", pa.string()),
        ("tstamp", pa.float64()),
        ("criterion", pa.string()),
        ("harm_category", pa.string()),
        ("pair_probability", pa.float64()),
        ("pool_size", pa.int64()),
        ("excluded_reason", pa.string()),
    ]
)
_COLUMN_DOCS = {
    "question_id": "`<battle_id>-<turn>`: one question, i.e. one turn of one battle. A human vote and judge "
    "verdicts on the same turn share it (export with `--source all` to compare them).",
    "battle_id": "The battle (one conversation with two anonymous models); a multi-turn battle gives one row per "
    "voted turn.",
    "turn": "The voted turn, 1-based.",
    "model_a": 'The model shown on the left ("Model A").',
    "model_b": 'The model shown on the right ("Model B").',
    "winner": "`model_a`, `model_b`, `tie` or `tie (bothbad)` (both answers bad).",
    "strength": "How much better the winner was: `slightly`, `clearly`, `much`; null for ties and when none was "
    "given (a voter who left before the second step, a judge on a three-way scale).",
    "judge": "`human` for a person, else the judge's name. Never a voter id.",
    "source": "`human` or `judge:<name>`.",
    "conversation_a": "Model A's side: `{role, content}` messages from the first user message to the voted turn's "
    "answer. Regenerated answers appear in their final attempt only.",
    "conversation_b": "Model B's side, the same way. The user messages are the same on both sides.",
    "anony": "Whether the names were hidden while voting.",
    "mode": "`anonymous` (names hidden until the vote) or `side_by_side` (names shown).",
    "criterion": "What the vote judged: `helpfulness`, or `harmlessness` in a red-team battle (an anonymous battle "
    "where the person tried to make the models produce harmful output; there `tie` means both refused and "
    "`tie (bothbad)` both complied). Only exports made with `--include-red-team` hold harmlessness "
    "votes: red-team conversations contain attempts at harmful content.",
    "harm_category": "The harm a red-team attempt went for, when the voter said (violence, self_harm, crime, hate, "
    "sexual, privacy, misinformation, other); null otherwise.",
    "category": "Category of the battle's first user message, by the arena's rule-based classifier (facts.categories).",
    "tstamp": "Time of the vote, unix seconds (UTC).",
    "pair_probability": "The probability the battle's pair (unordered) had when it was drawn, under the arena's "
    "sampling policy then (active sampling, burn-in of new models and the uniform floor included); null for "
    "side-by-side battles and battles from before it was stored. To estimate the ratings of uniform sampling, "
    "weigh a vote by (2 / (pool_size * (pool_size - 1))) / pair_probability; null: weight 1.",
    "pool_size": "How many models the pair was drawn from; null where pair_probability is.",
    "excluded_reason": "Why the vote does not count in the ratings (null: it counts). Present only in exports made "
    "with `--include-flagged`.",
}
_LICENSE_ID = re.compile(r"^[a-z0-9][a-z0-9.+-]{0,63}$")


class ExportError(ValueError):
    """A request that cannot be exported; the message says what to change."""


class Dataset(Protocol):
    """What write_export and the command need of a layout's export (Export here, store.red_team_export's)."""

    @property
    def rows(self) -> tuple[dict[str, Any], ...]: ...

    @property
    def columns(self) -> tuple[str, ...]: ...

    @property
    def schema(self) -> pa.Schema: ...

    def card(self, *, fmt: str, license_id: str) -> str: ...

    def summary(self, data_path: Path, card_path: Path) -> str: ...

    def why_empty(self, source: str) -> str: ...


@dataclass(frozen=True)
class Export:
    """The rows to publish and what was left out of them."""

    rows: tuple[dict[str, Any], ...]
    include_flagged: bool
    votes_in_database: int
    flagged_left_out: int  # among the selected sources
    other_sources: int  # votes of sources not selected
    sources_present: tuple[str, ...]
    descriptions: Mapping[str, str]  # model -> registry description, for the card

    @property
    def columns(self) -> tuple[str, ...]:
        names = _SCHEMA.names
        return tuple(n for n in names if n != "excluded_reason" or self.include_flagged)

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([_SCHEMA.field(name) for name in self.columns])

    def card(self, *, fmt: str, license_id: str) -> str:
        return dataset_card(self, fmt=fmt, license_id=license_id)

    def summary(self, data_path: Path, card_path: Path) -> str:
        battles = len({row["battle_id"] for row in self.rows})
        models = len({name for row in self.rows for name in (row["model_a"], row["model_b"])})
        return (
            f"exported {len(self.rows)} votes ({battles} battles, {models} models) to {data_path} "
            f"and {card_path}; left out {self.flagged_left_out} flagged and {self.other_sources} "
            "of other sources"
        )

    def why_empty(self, source: str) -> str:
        return _nothing_to_export(self, source)


# --- building rows (pure) ---------------------------------------------------------------------------------


def build_export(
    frame: pd.DataFrame,
    *,
    source: str = HUMAN,
    include_flagged: bool = False,
    descriptions: Mapping[str, str] | None = None,
) -> Export:
    """The dataset rows from a `store.votes.read(conversations=True)` frame, oldest vote first.

    `source`: "human", "judge:<name>" or "all". A malformed source is an ExportError; a well-formed one with
    no votes gives no rows (the caller says which sources exist).
    """
    _check_source(source)
    present = tuple(sorted(str(s) for s in frame["source"].dropna().unique())) if len(frame) else ()
    rows: list[dict[str, Any]] = []
    flagged = other = 0
    for record in frame.to_dict("records"):
        if source != ALL_SOURCES and record["source"] != source:
            other += 1
            continue
        reason = _excluded_reason(record)
        if reason is not None and not include_flagged:
            flagged += 1
            continue
        if record["messages_a"] is None or record["messages_b"] is None:
            # The reader found no current turn at the voted index: no conversation to publish.
            flagged += 1
            continue
        row = _row(record)
        if include_flagged:
            row["excluded_reason"] = reason
        rows.append(row)
    models = {name for row in rows for name in (row["model_a"], row["model_b"])}
    return Export(
        rows=tuple(rows),
        include_flagged=include_flagged,
        votes_in_database=len(frame),
        flagged_left_out=flagged,
        other_sources=other,
        sources_present=present,
        descriptions={name: text for name, text in (descriptions or {}).items() if name in models},
    )


def _check_source(source: str) -> None:
    if source in (HUMAN, ALL_SOURCES):
        return
    if source.startswith(JUDGE_PREFIX) and len(source) > len(JUDGE_PREFIX):
        return
    raise ExportError(f"unknown source {source!r}; use {HUMAN!r}, {ALL_SOURCES!r} or 'judge:<name>'")


def _excluded_reason(record: Mapping[str, Any]) -> str | None:
    """The verdict stored with the vote (facts.eligibility): read, never recomputed."""
    stored = record.get("excluded_reason")
    return None if _missing(stored) else str(stored)


def _row(record: Mapping[str, Any]) -> dict[str, Any]:
    battle_id, turn, source = str(record["battle_id"]), int(record["turn"]), str(record["source"])
    return {
        "question_id": f"{battle_id}-{turn}",
        "battle_id": battle_id,
        "turn": turn,
        "model_a": str(record["model_a"]),
        "model_b": str(record["model_b"]),
        "winner": str(record["winner"]),
        "strength": None if _missing(record.get("strength")) else str(record["strength"]),
        "judge": HUMAN if source == HUMAN else source.removeprefix(JUDGE_PREFIX),
        "source": source,
        "conversation_a": _conversation(record["messages_a"], record["answer_a"]),
        "conversation_b": _conversation(record["messages_b"], record["answer_b"]),
        "anony": bool(record["anony"]),
        "mode": str(record["mode"]),
        "category": None if _missing(record.get("category")) else str(record["category"]),
        "tstamp": float(record["tstamp"]),
        "criterion": str(record.get("criterion") or HELPFULNESS),
        "harm_category": None if _missing(record.get("harm_category")) else str(record["harm_category"]),
        "pair_probability": None if _missing(record.get("pair_probability")) else float(record["pair_probability"]),
        "pool_size": None if _missing(record.get("pool_size")) else int(record["pool_size"]),
    }


def _conversation(prompt: Sequence[Mapping[str, str]], answer: Any) -> list[Message]:
    # The reader stops at the voted user message (a training prompt); the voter also saw the answer.
    messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]
    messages.append({"role": "assistant", "content": "" if _missing(answer) else str(answer)})
    return messages


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


# --- reading the database ---------------------------------------------------------------------------------


def export_from_database(
    url: str,
    *,
    source: str = HUMAN,
    include_flagged: bool = False,
    include_red_team: bool = False,
    layout: str = ARENA_LAYOUT,
) -> Dataset:
    """Read the arena database at `url` (never created or migrated) and build the export. Red-team battles (their
    harmlessness votes and the attempts at harmful content in them) only with `include_red_team`, or in a red-team
    layout, which holds nothing else."""
    _check_source(source)
    if layout not in LAYOUTS:
        raise ExportError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    red_team_layout = layout != ARENA_LAYOUT
    criterion = HARMLESSNESS if red_team_layout else None if include_red_team else HELPFULNESS
    store = Store.open_existing(url)
    try:
        frame = store.votes.read(conversations=True, criterion=criterion)
        descriptions = store.registry.descriptions()
        votes_in_database = store.votes.count() if red_team_layout else len(frame)
    finally:
        store.dispose()
    if red_team_layout:
        from store.red_team_export import build_red_team_export  # it builds on this module's helpers

        return build_red_team_export(
            frame,
            layout=layout,
            source=source,
            include_flagged=include_flagged,
            descriptions=descriptions,
            votes_in_database=votes_in_database,
        )
    return build_export(frame, source=source, include_flagged=include_flagged, descriptions=descriptions)


# --- writing ----------------------------------------------------------------------------------------------


def write_export(export: Dataset, out_dir: Path, *, fmt: str = "jsonl", license_id: str = DEFAULT_LICENSE) -> Path:
    """Write the data file and the card into `out_dir`; returns the data file's path. Each file is replaced
    atomically. A data file of the other format left by an earlier export is removed, so the folder holds
    one copy of the data."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    _check_license(license_id)
    if not export.rows:
        raise ExportError("no rows to write")
    out_dir.mkdir(parents=True, exist_ok=True)
    data_path = out_dir / f"{DATA_STEM}.{fmt}"
    if fmt == "jsonl":
        _atomic_write(data_path, lambda path: _write_jsonl(export, path))
    else:
        _atomic_write(data_path, lambda path: pq.write_table(_table(export), path))
    _atomic_write(
        out_dir / CARD,
        lambda path: path.write_text(export.card(fmt=fmt, license_id=license_id), encoding="utf-8"),
    )
    for other in FORMATS:
        stale = out_dir / f"{DATA_STEM}.{other}"
        if other != fmt and stale.exists():
            stale.unlink()
    return data_path


def _check_license(license_id: str) -> None:
    # It goes into the card's YAML verbatim: a Hub license id only (lowercase letters, digits, ".", "-", "+").
    if not _LICENSE_ID.match(license_id):
        raise ExportError(f"license {license_id!r} is not a license id such as cc-by-4.0, cc0-1.0, odc-by or other")


def _table(export: Dataset) -> pa.Table:
    return pa.Table.from_pylist([{c: row[c] for c in export.columns} for row in export.rows], schema=export.schema)


def _write_jsonl(export: Dataset, path: Path) -> None:
    with path.open("w", encoding="utf-8") as stream:
        for row in export.rows:
            stream.write(json.dumps({c: row[c] for c in export.columns}, ensure_ascii=False) + "\n")


def _atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    # The temporary file is in the same folder (os.replace is atomic only within one file system) and is
    # hidden with a .tmp suffix, so a glob for *.jsonl or *.parquet never matches it.
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        with temporary.open("rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


# --- the dataset card -------------------------------------------------------------------------------------


def dataset_card(export: Export, *, fmt: str, license_id: str) -> str:
    """The README.md of the dataset: YAML header (license, configs, features), columns, collection, counts."""
    rows = export.rows
    battles = {row["battle_id"] for row in rows}
    appearances = Counter(name for row in rows for name in (row["model_a"], row["model_b"]))
    by_source = Counter(row["source"] for row in rows)
    by_winner = Counter(row["winner"] for row in rows)
    first, last = (_date(min(r["tstamp"] for r in rows)), _date(max(r["tstamp"] for r in rows))) if rows else ("", "")
    # The features: without them the JSON loader types an all-null column (strength in a ties-only export) as null.
    header = card_front_matter(
        license_id=license_id,
        pretty_name="Huggy Arena conversations",
        tags=("human-feedback", "preference", "chatbot-arena"),
        rows=len(rows),
        fmt=fmt,
        schema=export.schema,
    )
    columns = "\n".join(f"| `{name}` | {_COLUMN_DOCS[name]} |" for name in export.columns)
    models = "\n".join(
        f"| {name} | {count} | {_cell(export.descriptions.get(name, ''))} |"
        for name, count in sorted(appearances.items(), key=lambda item: (-item[1], item[0]))
    )
    selection = (
        "All votes, including those that do not count in the ratings; `excluded_reason` says why."
        if export.include_flagged
        else "Only votes that count in the arena's ratings: anonymous battles, no model or vendor named in the "
        "conversation, no backend error. Votes left out as flagged: "
        f"{export.flagged_left_out}."
    )
    return f"""{header}

# Huggy Arena conversations

Conversations with pairs of anonymous chat models and the votes on them, exported from a Huggy Arena
instance in the layout of [lmsys/chatbot_arena_conversations](https://huggingface.co/datasets/lmsys/chatbot_arena_conversations):
one row per vote.

```python
from datasets import load_dataset

votes = load_dataset("path/to/this/folder", split="train")
```

## Counts

- Votes: {len(rows)} ({_counts(by_source)})
- Outcomes: {_counts(by_winner)}
- Battles: {len(battles)}
- Models: {len(appearances)}
- Votes cast from {first} to {last} (UTC)

## How the votes were collected

A person opens the arena and chats with two models at once, shown side by side as "Model A" and "Model B".
The pair is drawn by the arena's sampler and the left/right order is random, so position says nothing about
the model. Their names stay hidden until the vote. The vote has two steps: first which answer is better
(A, B, tie, or both bad), then, for a decisive vote, how much better (slightly, clearly, much); the names are
revealed after that. A conversation can go on for several turns, and each turn can get its own vote. A
person may regenerate the last answers before voting; only the final attempt is in the conversations.
Rows with `source` `judge:<name>` are verdicts of an LLM judge on the same turns, asked in both orders
(A first, then B first); when the two orders disagree the verdict is a tie.

{selection}

## Columns

| column | meaning |
|---|---|
{columns}

## What was removed

- Voter ids (salted hashes of a network address and a browser session), session ids and generation
  parameters are not exported. `judge` is `human` or the judge's name.
- The texts are exported as typed and generated: they were not scrubbed of personal information. Review
  them before publishing.

## Models

| model | rows | description |
|---|---|---|
{models}
"""


def card_front_matter(
    *, license_id: str, pretty_name: str, tags: Sequence[str], rows: int, fmt: str, schema: pa.Schema
) -> str:
    """A dataset card's YAML header: license, name, tags, size, the data file and its typed features."""
    return "\n".join(
        [
            "---",
            f"license: {license_id}",
            f"pretty_name: {pretty_name}",
            "task_categories:",
            "- text-generation",
            "tags:",
            *(f"- {tag}" for tag in tags),
            "size_categories:",
            f"- {_size_category(rows)}",
            "configs:",
            "- config_name: default",
            "  data_files:",
            "  - split: train",
            f"    path: {DATA_STEM}.{fmt}",
            "dataset_info:",
            "  features:",
            *_yaml_features(schema),
            "---",
        ]
    )


def _yaml_features(schema: pa.Schema) -> list[str]:
    lines: list[str] = []
    for field in schema:
        lines.append(f"  - name: {field.name}")
        if pa.types.is_list(field.type) and pa.types.is_struct(field.type.value_type):  # chat messages
            lines.append("    list:")
            for sub in field.type.value_type:
                lines += [f"    - name: {sub.name}", f"      dtype: {_DTYPES[sub.type]}"]
        elif pa.types.is_list(field.type):
            lines.append(f"    list: {_DTYPES[field.type.value_type]}")
        else:
            lines.append(f"    dtype: {_DTYPES[field.type]}")
    return lines


_DTYPES = {pa.string(): "string", pa.int64(): "int64", pa.bool_(): "bool", pa.float64(): "float64"}


def _size_category(rows: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return label
    return "1M<n<10M"


def _date(tstamp: float) -> str:
    return datetime.fromtimestamp(tstamp, UTC).strftime("%Y-%m-%d %H:%M")


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in sorted(counter.items()))


def _cell(text: str) -> str:
    # A description is free text from the registry: keep it on one table row.
    return " ".join(text.split()).replace("|", "\\|")


# --- command line -----------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m store.export", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for train.<format> and README.md")
    parser.add_argument("--format", choices=FORMATS, default="jsonl", help="data file format (default: jsonl)")
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default=ARENA_LAYOUT,
        help="arena (default: Chatbot Arena's rows, one per vote); hh-rlhf (Anthropic's chosen/rejected pairs) or "
        "red-team-attempts (Anthropic's red-team attempts): red-team battles only, --include-red-team implied",
    )
    parser.add_argument("--db", help="database URL (default: the arena's settings)")
    parser.add_argument("--source", default=HUMAN, help="votes to export: human (default), all, or judge:<name>")
    parser.add_argument(
        "--include-flagged",
        action="store_true",
        help="also export votes that do not count in the ratings, with excluded_reason",
    )
    parser.add_argument(
        "--include-red-team",
        action="store_true",
        help="also export red-team battles (harmlessness votes; their conversations hold attempts at harmful content); "
        "implied by the red-team layouts",
    )
    parser.add_argument(
        "--license", default=DEFAULT_LICENSE, help=f"the card's license id (default: {DEFAULT_LICENSE})"
    )
    return parser


def main(argv: Sequence[str] | None = None, *, echo: Callable[[str], None] = print) -> int:
    """Exit 0 after writing the export, 2 with `error: ...` when there is nothing (or nothing valid) to do."""
    args = _parser().parse_args(argv)
    try:
        _check_license(args.license)
        url = args.db
        if url is None:
            from settings import Settings

            url = Settings().resolved_database_url
        export = export_from_database(
            url,
            source=args.source,
            include_flagged=args.include_flagged,
            include_red_team=args.include_red_team,
            layout=args.layout,
        )
        if not export.rows:
            raise ExportError(export.why_empty(args.source))
        data_path = write_export(export, args.out, fmt=args.format, license_id=args.license)
    except (ValueError, OSError, SQLAlchemyError, StoreError) as exc:
        echo(f"error: {_one_line(exc)}")
        return 2
    echo(export.summary(data_path, args.out / CARD))
    return 0


def _nothing_to_export(export: Export, source: str) -> str:
    if export.votes_in_database == 0:
        return "the database has no votes yet; nothing was written"
    present = ", ".join(export.sources_present)
    return (
        f"no votes to export: of {export.votes_in_database} votes in the database, {export.other_sources} are from "
        f"other sources than {source!r} and {export.flagged_left_out} are flagged (sources present: {present}); "
        "try --source all or --include-flagged. Nothing was written"
    )


def _one_line(exc: BaseException) -> str:
    # SQLAlchemy errors carry the statement and a link over several lines; the first line says what failed.
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
