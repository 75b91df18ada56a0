"""Saved training examples: direct-chat answers people saved, with their edits, as supervised (SFT) sets; and their
export as the chat JSONL `python -m training.sft --chat` reads.

An example is keyed by its set, battle, turn and attempt (the answer it is about). Saving the same answer again with
the same edit (or again without one) is idempotent: the stored row is returned and nothing is written. Saving it
with a different edit writes a new version, so the "rephrase until good" history is kept; readers and the export
take the newest version of each answer, so one answer is never trained on twice. Each save is one transaction: the
row is written whole or not at all.

Export format, one line per answer (newest version), oldest first:

    {"messages": [{"role": "user", "content": ...}, ..., {"role": "assistant", "content": <edit or answer>}],
     "provenance": {"source": "direct-chat", "set": ..., "example_id": ..., "battle_id": ..., "turn": ...,
                    "attempt": ..., "version": ..., "model": ..., "edited": true|false,
                    "original_answer": <only when edited>, "saved_by": <voter hash>, "saved_at": <ISO time>}}

Lines are written with non-ASCII characters escaped, so that no line separator a text may hold (U+2028, U+0085,
...) splits a record for a reader that splits lines the way `str.splitlines` does.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.exc import IntegrityError

from store.db import Database, utc_or_none
from store.errors import Conflict, NotFound, is_unique_violation
from store.tables import Battle, SftExample, utcnow
from store.views import NewSftExample, SftExampleView, SftSetSummary, column_values, view_of

DEFAULT_SET = "direct-chat"
SET_NAME_MAX_CHARS = 64
SOURCE = "direct-chat"
ROLES = ("user", "assistant")


@dataclass(frozen=True)
class SavedExample:
    example: SftExampleView
    created: bool  # False: this very answer and edit were stored already (nothing was written)


class SftExamples:
    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, new: NewSftExample) -> SavedExample:
        """Store `new` as the newest version of its answer, or return the stored one when it says the same. Raises
        NotFound when its battle does not exist, ValueError when `new` is malformed (a caller's bug)."""
        _check(new)
        # Two replicas saving different edits of one answer at once may both pick the same next version on
        # PostgreSQL; the loser's unique violation rolls its transaction back and it reads again.
        for _ in range(3):
            try:
                return self._save_once(new)
            except IntegrityError as exc:
                if not is_unique_violation(exc):
                    raise
        raise Conflict("this answer is being saved elsewhere at the same moment; try again")

    def _save_once(self, new: NewSftExample) -> SavedExample:
        with self._db.writing() as session:
            if session.get(Battle, new.battle_id) is None:
                raise NotFound(f"no battle {new.battle_id}")
            newest = session.scalars(
                _versions(new.set_name, new.battle_id, new.turn, new.attempt)
                .order_by(SftExample.version.desc())
                .limit(1)
            ).first()
            if (
                newest is not None
                and newest.edited_answer == new.edited_answer
                and newest.original_answer == new.original_answer
            ):
                return SavedExample(_view(newest), created=False)
            values = column_values(new, NewSftExample)
            values["messages"] = [{"role": m["role"], "content": m["content"]} for m in new.messages]
            row = SftExample(
                id=str(uuid.uuid4()), version=1 if newest is None else newest.version + 1, created_at=utcnow(), **values
            )
            session.add(row)
            session.flush()
            return SavedExample(_view(row), created=True)

    def versions(self, set_name: str, battle_id: str, turn: int, attempt: int) -> list[SftExampleView]:
        """Every stored version of one answer in one set, oldest first."""
        with self._db.reading() as session:
            rows = session.scalars(_versions(set_name, battle_id, turn, attempt).order_by(SftExample.version))
            return [_view(row) for row in rows]

    def latest(self, set_name: str | None = None) -> list[SftExampleView]:
        """The newest version of each saved answer (of one set, or of all), oldest save first."""
        with self._db.reading() as session:
            query = _newest_rows(select(SftExample), set_name).order_by(SftExample.created_at, SftExample.id)
            return [_view(row) for row in session.scalars(query)]

    def sets(self) -> list[SftSetSummary]:
        """Each set that holds an example, by name."""
        with self._db.reading() as session:
            counts = select(
                SftExample.set_name, func.count(), func.sum(case((SftExample.edited_answer.is_not(None), 1), else_=0))
            )
            newest = session.execute(_newest_rows(counts, None).group_by(SftExample.set_name)).all()
            totals = dict(
                session.execute(select(SftExample.set_name, func.count()).group_by(SftExample.set_name)).all()  # type: ignore[arg-type]
            )
            last = dict(
                session.execute(
                    select(SftExample.set_name, func.max(SftExample.created_at)).group_by(SftExample.set_name)
                ).all()  # type: ignore[arg-type]
            )
        return [
            SftSetSummary(
                set_name=name,
                examples=int(examples),
                edited=int(edited or 0),
                versions=int(totals.get(name, 0)),
                last_saved_at=utc_or_none(last.get(name)),
            )
            for name, examples, edited in sorted(newest)
        ]

    def write_chat_jsonl(self, path: Path, set_name: str | None = None) -> int:
        """Write the newest version of each answer (of one set, or of all) to `path` as chat JSONL, replacing the
        file atomically; returns how many records. Nothing saved: returns 0 and writes nothing (an empty file
        would silently replace a good export)."""
        examples = self.latest(set_name)
        if not examples:
            return 0
        write_chat_jsonl(examples, path)
        return len(examples)


def chat_record(example: SftExampleView) -> dict[str, Any]:
    """One example as a chat record: the conversation with the edit, when there is one, as the last answer."""
    messages = [{"role": m["role"], "content": m["content"]} for m in example.messages]
    messages[-1] = {"role": "assistant", "content": example.answer}
    provenance: dict[str, Any] = {
        "source": SOURCE,
        "set": example.set_name,
        "example_id": example.id,
        "battle_id": example.battle_id,
        "turn": example.turn,
        "attempt": example.attempt,
        "version": example.version,
        "model": example.model,
        "edited": example.edited_answer is not None,
    }
    if example.edited_answer is not None:
        provenance["original_answer"] = example.original_answer
    provenance["saved_by"] = example.saved_by
    provenance["saved_at"] = example.created_at.isoformat() if example.created_at else None
    return {"messages": messages, "provenance": provenance}


def write_chat_jsonl(examples: Sequence[SftExampleView], path: Path) -> None:
    """`examples` as chat JSONL at `path`: written to a hidden temporary file beside it, then moved into place, so
    a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            for example in examples:
                stream.write(json.dumps(chat_record(example)) + "\n")  # ensure_ascii: see the module's docstring
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _check(new: NewSftExample) -> None:
    if not new.set_name or len(new.set_name) > SET_NAME_MAX_CHARS:
        raise ValueError(f"a set name must have 1 to {SET_NAME_MAX_CHARS} characters, got {new.set_name!r}")
    if new.turn < 1 or new.attempt < 0:
        raise ValueError(f"turn {new.turn} attempt {new.attempt}: turns count from 1, attempts from 0")
    roles = [m.get("role") for m in new.messages]
    if len(roles) < 2 or any(role not in ROLES for role in roles) or roles[-2:] != ["user", "assistant"]:
        raise ValueError(f"the messages must be user and assistant turns ending with the answer, got {roles}")
    last: Mapping[str, str] = new.messages[-1]
    if last.get("content") != new.original_answer:
        raise ValueError("the last message must be the model's original answer")
    if new.edited_answer is not None and not new.edited_answer.strip():
        raise ValueError("an empty edit is no edit: pass None")


def _versions(set_name: str, battle_id: str, turn: int, attempt: int) -> Select[tuple[SftExample]]:
    return select(SftExample).where(
        SftExample.set_name == set_name,
        SftExample.battle_id == battle_id,
        SftExample.turn == turn,
        SftExample.attempt == attempt,
    )


def _newest_rows(query: Select[Any], set_name: str | None) -> Select[Any]:
    """`query` narrowed to the newest version of each answer (of one set, or of all)."""
    newest = select(
        SftExample.set_name,
        SftExample.battle_id,
        SftExample.turn,
        SftExample.attempt,
        func.max(SftExample.version).label("version"),
    ).group_by(SftExample.set_name, SftExample.battle_id, SftExample.turn, SftExample.attempt)
    if set_name is not None:
        newest = newest.where(SftExample.set_name == set_name)
    sub = newest.subquery("newest")
    return query.join(
        sub,
        and_(
            SftExample.set_name == sub.c.set_name,
            SftExample.battle_id == sub.c.battle_id,
            SftExample.turn == sub.c.turn,
            SftExample.attempt == sub.c.attempt,
            SftExample.version == sub.c.version,
        ),
    )


def _view(row: SftExample) -> SftExampleView:
    return view_of(SftExampleView, row, messages=tuple(dict(m) for m in row.messages))
