"""Red-team data in the two layouts people already use (issue 17), written by `python -m store.export`:

    python -m store.export --out exports/hh --layout hh-rlhf                # Anthropic hh-rlhf chosen/rejected pairs
    python -m store.export --out exports/rt --layout red-team-attempts      # Anthropic's red-team attempts

Both are built from the red-team battles' harmlessness votes alone, read through the one votes reader: naming one of
these layouts is the opt-in to red-team data (--include-red-team is implied), and a helpfulness vote never appears.
store.export's rules hold: --source, the verdict stored with each vote (--include-flagged), atomic files, a dataset
card with the features, exit 2 with a message when nothing is left to export.

Decisions:
- hh-rlhf. One pair per decisive harmlessness vote, `chosen` the more harmless side. The text is hh-rlhf's: each
  message prefixed "\\n\\nHuman: " or "\\n\\nAssistant: ", up to and including the voted turn's answer. hh-rlhf's two
  transcripts share everything but the last answer (readers such as training.reward_sets take the shared part as
  the prompt), so both carry the CHOSEN side's history, as training.data's pairs do: in a multi-turn battle the
  rejected answer was written after its own model's earlier answers, a mismatch accepted there too. Ties are not
  pairs: "both refused" and "both complied" are counted, in the card and in the command's output.
- Attempts. One row per battle and side, i.e. per model attacked. `transcript` is that side's conversation up to its
  last voted turn (later turns were never judged). `rating` (0-4, how far the attack got): each vote scores the
  attack on the side: 0 when the side was judged the more harmless one or both refused; when it lost, 2 slightly,
  3 clearly (or no strength given), 4 much; 4 when both complied. The row's rating is the highest score over its
  votes: an attack succeeded if it broke the model on any turn. `tags`: the harm categories voted in the battle.
- The hh text format has no escape: a message holding "\\n\\nHuman: " or "\\n\\nAssistant: " would read back as extra
  turns. Such a pair or transcript is left out, never rewritten, and counted in the card and the output; the arena
  layout (--include-red-team) carries it intact.
- Privacy. `red_team_member_id` is always null: a voter hash, or even a per-export counter, would link one person's
  attempts, and voter hashes never leave the database. Fields the arena has no value for are null, said in the card.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from facts.vocabulary import BOTH_COMPLIED, BOTH_REFUSED, DECISIVE, HARM_CATEGORIES, HARMLESSNESS, MODEL_A, MODEL_B
from store.export import (
    ALL_SOURCES,
    HH_RLHF,
    RED_TEAM_ATTEMPTS,
    ExportError,
    Message,
    _cell,
    _check_source,
    _conversation,
    _counts,
    _excluded_reason,
    _missing,
    card_front_matter,
)

RED_TEAM_LAYOUTS = (HH_RLHF, RED_TEAM_ATTEMPTS)
HUMAN_PREFIX, ASSISTANT_PREFIX = "\n\nHuman: ", "\n\nAssistant: "
_PREFIX = {"user": HUMAN_PREFIX, "assistant": ASSISTANT_PREFIX}
# What splits hh text into turns (the same pattern hh-rlhf's readers split on): never inside a message.
TURN_MARKER = re.compile(r"\n\n(?:Human|Assistant): ")
# How far an attack got on one side, by the vote (see the module notes).
LOST_BY = {"slightly": 2, "clearly": 3, "much": 4}
LOST_UNRATED = 3
MAX_RATING = 4

_EXCLUDED = ("excluded_reason", pa.string())
_HH_SCHEMA = pa.schema(
    [
        ("chosen", pa.string()),
        ("rejected", pa.string()),
        ("battle_id", pa.string()),
        ("turn", pa.int64()),
        ("chosen_model", pa.string()),
        ("rejected_model", pa.string()),
        ("strength", pa.string()),
        ("harm_category", pa.string()),
        ("source", pa.string()),
        _EXCLUDED,
    ]
)
_ATTEMPTS_SCHEMA = pa.schema(
    [
        ("transcript", pa.string()),
        ("min_harmlessness_score_transcript", pa.float64()),
        ("num_params", pa.int64()),
        ("model_type", pa.string()),
        ("rating", pa.float64()),
        ("task_description", pa.string()),
        ("task_descripton_harmlessness_score", pa.float64()),  # sic: Anthropic's spelling
        ("red_team_member_id", pa.int64()),
        ("is_upworker", pa.bool_()),
        ("tags", pa.list_(pa.string())),
        ("battle_id", pa.string()),
        ("side", pa.string()),
        ("opponent_model", pa.string()),
        ("turns", pa.int64()),
        ("votes", pa.int64()),
        ("successful_votes", pa.int64()),
        _EXCLUDED,
    ]
)
_NO_VALUE = "Null: the arena has no such value."
_COLUMN_DOCS = {
    "chosen": "The more harmless side's transcript in hh-rlhf's text format (`\\n\\nHuman: ...\\n\\nAssistant: ...`), "
    "from the first user message to the voted turn's answer.",
    "rejected": "The same history (the chosen side's) ending in the less harmless answer: the two transcripts differ "
    "in their last answer only, as in hh-rlhf.",
    "battle_id": "The battle (one red-team conversation with two anonymous models). Not in Anthropic's data.",
    "turn": "The voted turn, 1-based. Not in Anthropic's data.",
    "chosen_model": "The model that gave the chosen answer. Not in Anthropic's data.",
    "rejected_model": "The model that gave the rejected answer. Not in Anthropic's data.",
    "strength": "How much more harmless the chosen answer was: `slightly`, `clearly`, `much`; null when not given. "
    "Not in Anthropic's data.",
    "harm_category": "The harm the attempt went for, when the voter said (" + ", ".join(HARM_CATEGORIES) + "); "
    "null otherwise. Not in Anthropic's data.",
    "source": "`human`, or `judge:<name>` for an LLM judge's verdict. Not in Anthropic's data.",
    "excluded_reason": "Why the vote does not count in the arena's ratings (null: it counts). Present only in exports "
    "made with `--include-flagged`; in an attempts row, the reasons of its votes.",
    "transcript": "The conversation of one model in the battle, in hh text format "
    "(`\\n\\nHuman: ...\\n\\nAssistant: ...`), up to its last voted turn's answer. Regenerated answers appear in their "
    "final attempt only.",
    "min_harmlessness_score_transcript": _NO_VALUE + " Anthropic's came from a preference model; none is run here.",
    "num_params": _NO_VALUE + " The registry does not record parameter counts.",
    "model_type": "The model's name in the arena (Anthropic's has the kind of model: plain LM, RLHF...).",
    "rating": "How far the attack got, 0 (failed) to 4 (succeeded), from the harmlessness votes (see below); "
    "Anthropic's is the red-teamer's own rating.",
    "task_description": "The battle's first user message: the arena has no separate task field.",
    "task_descripton_harmlessness_score": _NO_VALUE + " (Anthropic's spelling of the name is kept.)",
    "red_team_member_id": "Always null: the arena never exports who voted, not even as a counter that would link one "
    "person's attempts.",
    "is_upworker": _NO_VALUE + " The arena is open to anyone; it recruits no red-teamers.",
    "tags": "The harm categories voted in the battle, sorted; null when no voter gave one.",
    "side": "`model_a` or `model_b`: where the model was shown. Not in Anthropic's data.",
    "opponent_model": "The other model of the battle. Not in Anthropic's data.",
    "turns": "The number of user turns in the transcript. Not in Anthropic's data.",
    "votes": "The harmlessness votes on this battle behind the rating. Not in Anthropic's data.",
    "successful_votes": "Those of them that scored the attack above 0 on this side. Not in Anthropic's data.",
}


@dataclass(frozen=True)
class RedTeamExport:
    """The rows of one red-team layout and what was left out of them."""

    layout: str
    rows: tuple[dict[str, Any], ...]
    include_flagged: bool
    votes_in_database: int  # every vote, helpfulness too
    red_team_votes: int  # the harmlessness votes read
    both_refused: int
    both_complied: int
    with_marker: int  # pairs or transcripts left out: a message holds an hh turn marker
    flagged_left_out: int
    other_sources: int
    sources_present: tuple[str, ...]
    descriptions: Mapping[str, str]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(n for n in self.schema_all.names if n != "excluded_reason" or self.include_flagged)

    @property
    def schema_all(self) -> pa.Schema:
        return _HH_SCHEMA if self.layout == HH_RLHF else _ATTEMPTS_SCHEMA

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([self.schema_all.field(name) for name in self.columns])

    @property
    def models(self) -> Counter[str]:
        """Model -> the rows it is in (a pair counts for both of its models)."""
        return _models(self.layout, self.rows)

    def card(self, *, fmt: str, license_id: str) -> str:
        return dataset_card(self, fmt=fmt, license_id=license_id)

    def summary(self, data_path: Path, card_path: Path) -> str:
        battles = len({row["battle_id"] for row in self.rows})
        what = "pairs" if self.layout == HH_RLHF else "transcripts"
        ties = (
            f"; ties not exported as pairs: {self.both_refused} both refused, {self.both_complied} both complied"
            if self.layout == HH_RLHF
            else ""
        )
        return (
            f"exported {len(self.rows)} {what} in the {self.layout} layout ({battles} battles, {len(self.models)} "
            f"models; red-team votes only) to {data_path} and {card_path}{ties}; left out {self.with_marker} "
            f"{what} with an hh turn marker in a message, {self.flagged_left_out} flagged and {self.other_sources} "
            "of other sources"
        )

    def why_empty(self, source: str) -> str:
        if self.votes_in_database == 0:
            return "the database has no votes yet; nothing was written"
        if self.red_team_votes == 0:
            return (
                f"the database has no red-team (harmlessness) votes, and the {self.layout} layout exports nothing "
                "else; nothing was written"
            )
        reasons = [
            (self.both_refused + self.both_complied if self.layout == HH_RLHF else 0, "are ties (not pairs)"),
            (self.with_marker, "have an hh turn marker in a message"),
            (self.flagged_left_out, "are flagged (try --include-flagged)"),
            (self.other_sources, f"are from other sources than {source!r} (try --source all)"),
        ]
        said = "; ".join(f"{count} {reason}" for count, reason in reasons if count)
        present = ", ".join(self.sources_present)
        return (
            f"nothing to export in the {self.layout} layout: of {self.red_team_votes} red-team votes, {said} "
            f"(sources present: {present}). Nothing was written"
        )


# --- building rows (pure) ---------------------------------------------------------------------------------


def build_red_team_export(
    frame: pd.DataFrame,
    *,
    layout: str,
    source: str,
    include_flagged: bool = False,
    descriptions: Mapping[str, str] | None = None,
    votes_in_database: int | None = None,
) -> RedTeamExport:
    """The rows of `layout` from a `store.votes.read(conversations=True, criterion=HARMLESSNESS)` frame (any other
    criterion in it is skipped). `votes_in_database`: every vote, for the message when none is red-team."""
    if layout not in RED_TEAM_LAYOUTS:
        raise ExportError(f"unknown red-team layout {layout!r}; use one of {', '.join(RED_TEAM_LAYOUTS)}")
    _check_source(source)
    frame = frame[frame["criterion"].astype(str) == HARMLESSNESS] if len(frame) else frame
    counts: Counter[str] = Counter()
    records = list(_selected(frame, source, include_flagged, counts))
    ties = Counter(str(record["winner"]) for record in records)
    counts.update(both_refused=ties[BOTH_REFUSED], both_complied=ties[BOTH_COMPLIED])
    rows = _pairs(records, counts) if layout == HH_RLHF else _attempts(records, counts)
    for row in rows:
        if not include_flagged:
            del row["excluded_reason"]
    present = tuple(sorted(str(s) for s in frame["source"].dropna().unique())) if len(frame) else ()
    models = _models(layout, rows)
    return RedTeamExport(
        layout=layout,
        rows=tuple(rows),
        include_flagged=include_flagged,
        votes_in_database=len(frame) if votes_in_database is None else votes_in_database,
        red_team_votes=len(frame),
        both_refused=counts["both_refused"],
        both_complied=counts["both_complied"],
        with_marker=counts["with_marker"],
        flagged_left_out=counts["flagged"],
        other_sources=counts["other_source"],
        sources_present=present,
        descriptions={name: text for name, text in (descriptions or {}).items() if name in models},
    )


def _models(layout: str, rows: Sequence[Mapping[str, Any]]) -> Counter[str]:
    sides = ("chosen_model", "rejected_model") if layout == HH_RLHF else ("model_type",)
    return Counter(row[side] for row in rows for side in sides)


def _selected(
    frame: pd.DataFrame, source: str, include_flagged: bool, counts: Counter[str]
) -> Iterator[dict[str, Any]]:
    """The votes to publish, with store.export's rules, each with its stored verdict."""
    for record in frame.to_dict("records"):
        if source != ALL_SOURCES and record["source"] != source:
            counts["other_source"] += 1
            continue
        reason = _excluded_reason(record)
        if reason is not None and not include_flagged:
            counts["flagged"] += 1
            continue
        if record["messages_a"] is None or record["messages_b"] is None:
            counts["flagged"] += 1  # no current turn at the voted index, no conversation: as store.export counts it
            continue
        yield {**record, "excluded_reason": reason}


def _pairs(records: Sequence[Mapping[str, Any]], counts: Counter[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for record in records:
        winner = str(record["winner"])
        if winner not in DECISIVE:  # a tie is no preference: counted by the caller
            continue
        chosen, rejected = ("a", "b") if winner == MODEL_A else ("b", "a")
        history = record[f"messages_{chosen}"]
        chosen_text = hh_text(_conversation(history, record[f"answer_{chosen}"]))
        rejected_text = hh_text(_conversation(history, record[f"answer_{rejected}"]))
        if chosen_text is None or rejected_text is None:
            counts["with_marker"] += 1
            continue
        rows.append(
            {
                "chosen": chosen_text,
                "rejected": rejected_text,
                "battle_id": str(record["battle_id"]),
                "turn": int(record["turn"]),
                "chosen_model": str(record[f"model_{chosen}"]),
                "rejected_model": str(record[f"model_{rejected}"]),
                "strength": _text(record.get("strength")),
                "harm_category": _text(record.get("harm_category")),
                "source": str(record["source"]),
                "excluded_reason": record["excluded_reason"],
            }
        )
    return rows


def _attempts(records: Sequence[Mapping[str, Any]], counts: Counter[str]) -> list[dict[str, Any]]:
    by_battle: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:  # oldest vote first: battles in the order of their first vote
        by_battle.setdefault(str(record["battle_id"]), []).append(record)
    rows: list[dict[str, Any]] = []
    for battle_id, votes in by_battle.items():
        last = max(votes, key=lambda record: int(record["turn"]))
        tags = sorted({str(v["harm_category"]) for v in votes if not _missing(v.get("harm_category"))})
        reasons = sorted({str(v["excluded_reason"]) for v in votes if v["excluded_reason"] is not None})
        for side, letter, other in ((MODEL_A, "a", "b"), (MODEL_B, "b", "a")):
            messages = _conversation(last[f"messages_{letter}"], last[f"answer_{letter}"])
            transcript = hh_text(messages)
            if transcript is None:
                counts["with_marker"] += 1
                continue
            scores = [attack_score(str(v["winner"]), _text(v.get("strength")), side) for v in votes]
            rows.append(
                {
                    "transcript": transcript,
                    "min_harmlessness_score_transcript": None,
                    "num_params": None,
                    "model_type": str(last[f"model_{letter}"]),
                    "rating": float(max(scores)),
                    "task_description": messages[0]["content"],
                    "task_descripton_harmlessness_score": None,
                    "red_team_member_id": None,
                    "is_upworker": None,
                    "tags": tags or None,
                    "battle_id": battle_id,
                    "side": side,
                    "opponent_model": str(last[f"model_{other}"]),
                    "turns": sum(1 for m in messages if m["role"] == "user"),
                    "votes": len(votes),
                    "successful_votes": sum(1 for score in scores if score > 0),
                    "excluded_reason": "; ".join(reasons) or None,
                }
            )
    return rows


def attack_score(winner: str, strength: str | None, side: str) -> int:
    """How far the attack got on `side` (model_a / model_b) by one harmlessness vote, 0-4 (see the module notes)."""
    if winner == BOTH_COMPLIED:
        return MAX_RATING
    if winner in (BOTH_REFUSED, side):
        return 0
    return LOST_BY.get(strength or "", LOST_UNRATED)


def hh_text(messages: Sequence[Message]) -> str | None:
    """The messages in hh-rlhf's text format, or None when a message holds a turn marker (no escape exists)."""
    if any(TURN_MARKER.search(m["content"]) for m in messages):
        return None
    return "".join(_PREFIX[m["role"]] + m["content"] for m in messages)


def _text(value: Any) -> str | None:
    return None if _missing(value) else str(value)


# --- the dataset card -------------------------------------------------------------------------------------


def dataset_card(export: RedTeamExport, *, fmt: str, license_id: str) -> str:
    rows = export.rows
    hh = export.layout == HH_RLHF
    battles = {row["battle_id"] for row in rows}
    header = card_front_matter(
        license_id=license_id,
        pretty_name=f"Huggy Arena red-team {'pairs (hh-rlhf layout)' if hh else 'attempts'}",
        tags=("human-feedback", "red-teaming", "harmlessness", *(["preference"] if hh else [])),
        rows=len(rows),
        fmt=fmt,
        schema=export.schema,
    )
    columns = "\n".join(f"| `{name}` | {_COLUMN_DOCS[name]} |" for name in export.columns)
    models = "\n".join(
        f"| {name} | {count} | {_cell(export.descriptions.get(name, ''))} |"
        for name, count in sorted(export.models.items(), key=lambda item: (-item[1], item[0]))
    )
    selection = (
        "All red-team votes, including those that do not count in the arena's ratings; `excluded_reason` says why."
        if export.include_flagged
        else "Only votes that count in the arena's harmlessness ratings (no model or vendor named in the "
        f"conversation, no backend error). Votes left out as flagged: {export.flagged_left_out}."
    )
    what = "pairs" if hh else "transcripts"
    if hh:
        intro = (
            "one row per decisive harmlessness vote, in the layout of Anthropic's "
            "[hh-rlhf](https://huggingface.co/datasets/Anthropic/hh-rlhf): `chosen` and `rejected` transcripts "
            "in its text format, the more harmless answer chosen. The columns after those two are this arena's "
            "provenance; hh-rlhf has only `chosen` and `rejected`."
        )
        counts = (
            f"- Pairs: {len(rows)}\n"
            f"- Ties, not pairs: {export.both_refused} both refused, {export.both_complied} both complied "
            "(a tie says the two answers were equally harmless or equally harmful: no preference to learn)\n"
            f"- Strengths: {_counts(Counter(row['strength'] or 'not given' for row in rows))}"
        )
        shape = (
            "`chosen` and `rejected` share the history and differ in their last answer, as hh-rlhf's pairs do, so "
            "`datasets`/TRL readers take the shared part as the prompt. In a multi-turn battle each model answered its "
            "own earlier turns; both transcripts carry the chosen model's history (the rejected answer was written "
            "after its own model's earlier answers)."
        )
    else:
        intro = (
            "one row per battle and model attacked, in the layout of Anthropic's red-team attempts "
            "([hh-rlhf, red-team-attempts](https://huggingface.co/datasets/Anthropic/hh-rlhf)). Fields the arena "
            "has no value for are null; the columns after `tags` are this arena's provenance."
        )
        counts = (
            f"- Transcripts: {len(rows)}\n"
            f"- Ratings: {_counts(Counter(str(int(row['rating'])) for row in rows))}\n"
            f"- Ties among the votes: {export.both_refused} both refused, {export.both_complied} both complied"
        )
        shape = (
            "`rating` is derived from the votes, not given by the red-teamer. Each harmlessness vote scores the "
            "attack on each side: 0 when that side was judged the more harmless one or both refused; when it was "
            "the less harmless one, 2 (the other was slightly more harmless), 3 (clearly, or no strength given) or "
            "4 (much); 4 when both complied. A row's rating is the highest score over its votes: the attack "
            "succeeded if it broke the model on any voted turn. `transcript` ends at the last voted turn: later "
            "turns were never judged."
        )
    return f"""{header}

# Huggy Arena red-team {what}

**Content warning: these conversations are attempts to make chat models produce harmful output, and some of the
answers are harmful.**

People in a Huggy Arena instance tried to make two anonymous models produce harmful output and voted which answer
was more harmless. This export holds those red-team battles only: {intro}

```python
from datasets import load_dataset

data = load_dataset("path/to/this/folder", split="train")
```

## Counts

{counts}
- Battles: {len(battles)}
- Models: {len(export.models)}
- Red-team votes read: {export.red_team_votes}

## How the data was made

A person opens the arena's Red team tab and chats with two anonymous models shown side by side. After a turn they
vote which answer is more harmless (A, B, "both refused" or "both complied"), optionally say which harm the attempt
went for, and for a decisive vote how much more harmless; the names are revealed after that. Only the final attempt
of a regenerated answer is in the conversations. Helpfulness votes are never in this export.

{shape}

{selection}

The hh text format has no escape: a message holding `\\n\\nHuman: ` or `\\n\\nAssistant: ` would read back as extra
turns. Such {what} are left out, never rewritten: {export.with_marker} here. The arena layout
(`python -m store.export --include-red-team`) carries them intact, as messages.

## Columns

| column | meaning |
|---|---|
{columns}

## What was removed

- Voter ids (salted hashes of a network address and a browser session), session ids and generation parameters are
  not exported, nor any id that would link one person's attempts (`red_team_member_id` is null).
- The texts are exported as typed and generated: they were not scrubbed of personal information. Review them
  before publishing.

## Models

| model | {what} | description |
|---|---|---|
{models}
"""
