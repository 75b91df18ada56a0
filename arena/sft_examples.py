"""Saving direct-chat answers as training examples, and exporting them for operators. No Gradio here.

What is saved comes from the server's record of the conversation (the battle's stored turns, current attempts only),
never from text the client sends; the one client input is the person's edit of the last answer, treated as hostile:
it must be text, at most `max_edit_chars` long, control characters and lone surrogates are removed, and it is
NFC-normalised and trimmed. An edit that is empty (invisible characters do not count) or the same as the answer is
no edit. HTML in an edit is kept as text: it is training data (an answer about HTML holds tags), and every place
that shows it renders it through the UI's sanitiser, never as markup.

Refused, with a sentence for the person: no conversation, another session's conversation, a battle that is not
direct chat, a reply still streaming, no answer yet, a conversation that moved on since the edit was made (the
client's `turn`), an answer the model did not finish or left empty unless the person wrote one, an earlier empty
answer in the conversation, saving too fast. Saving the same answer with the same edit again stores nothing new;
a different edit is a new version (store.sft_examples).
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from arena.admin import AdminService
from arena.battles import (
    DATABASE_DOWN,
    ArenaError,
    ArenaService,
    Busy,
    Caller,
    DatabaseUnavailable,
    RateLimited,
)
from arena.ratelimit import SlidingWindowLimiter
from arena.safety import InputError, clean_text, storable
from leaderboard.task_mix import MixReport, mix_report
from store import DATABASE_ERRORS, NewSftExample, SftExampleView, SftSetSummary, Store
from store.sft_examples import DEFAULT_SET, chat_record

log = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 60.0
UNFINISHED = ("error", "cancelled")


class NothingToSave(ArenaError):
    pass


class ConversationMoved(ArenaError):
    """The answer the person edited is no longer the conversation's last one."""


@dataclass(frozen=True)
class SaveConfig:
    set_name: str = DEFAULT_SET
    # An edit may be longer than the model's capped answer, but not a dump: about four pages of text.
    max_edit_chars: int = 16_000
    rate_limit_saves: int = 20  # per voter per minute; 0 = no limit
    rate_limit_saves_per_client: int = 60  # per client address per minute, over all its sessions


@dataclass(frozen=True)
class SaveOutcome:
    example: SftExampleView
    created: bool  # False: the same answer with the same edit was saved already
    notices: tuple[str, ...] = ()  # what cleaning the edit changed

    @property
    def message(self) -> str:
        what = "your edit of the answer" if self.example.edited_answer is not None else "the model's answer as it is"
        if not self.created:
            return f"✅ Already saved ({what}); nothing changed since."
        again = f", version {self.example.version}" if self.example.version > 1 else ""
        return f"✅ Saved as a training example ({what}{again})."


@dataclass
class SavedExamples:
    """The rules for saving: the conversation and its state come from `arena` (ArenaService), which also decides
    whose conversation it is and whether a reply is streaming."""

    arena: ArenaService
    config: SaveConfig = field(default_factory=SaveConfig)
    _limits: tuple[SlidingWindowLimiter, SlidingWindowLimiter] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        clock = self.arena.clock
        self._limits = (
            SlidingWindowLimiter(self.config.rate_limit_saves, RATE_WINDOW_SECONDS, clock=clock),
            SlidingWindowLimiter(self.config.rate_limit_saves_per_client, RATE_WINDOW_SECONDS, clock=clock),
        )

    @property
    def store(self) -> Store:
        return self.arena.store

    def save(self, caller: Caller, battle_id: str | None, edited: object, *, turn: object = None) -> SaveOutcome:
        """Save the last answer of the caller's direct chat, with `edited` (the person's rewrite; None or empty:
        none) as the answer to train on. `turn`: the turn the edit was made on, when the client knows it."""
        self._limit(caller)
        if isinstance(edited, str) and len(edited) > 2 * self.config.max_edit_chars:
            # Refused before any normalisation pass over it: what is trimmed later cannot make this fit.
            raise InputError(
                f"The edited answer is {len(edited):,} characters long; the limit is {self.config.max_edit_chars:,}."
            )
        edit = clean_text(edited, what="edited answer", max_chars=self.config.max_edit_chars, required=False)
        battle = self.arena.battle(caller, battle_id)
        if battle.mode != "direct":
            raise ArenaError("Only answers from Direct chat can be saved as training examples.")
        if self.arena.is_generating(battle.id):
            raise Busy("Wait for the answer to finish before saving it.")
        if battle.last_turn == 0:
            raise NothingToSave("There is no answer to save yet: send a message and wait for the answer.")
        if turn is not None and _turn_number(turn) != battle.last_turn:
            raise ConversationMoved(
                "The conversation has a newer answer than the one you edited. Check the box below the chat "
                "and save again."
            )
        last = battle.turns[-1]
        original = last.answer_a or ""
        edited_text = edit.text or None
        if edited_text is not None and edited_text == _normalised(original):
            edited_text = None  # the answer as it was, perhaps with its whitespace trimmed: no edit
        if edited_text is None and (last.finish_a in UNFINISHED or last.error_a or not original.strip()):
            raise NothingToSave(
                "The model did not finish this answer. Write the answer you would want in the box to save it, or "
                "ask again."
            )
        messages: list[dict[str, str]] = []
        for stored in battle.turns:
            if stored is not last and not (stored.answer_a or "").strip():
                raise NothingToSave(
                    f"Answer {stored.index} of this conversation is empty, so it cannot be training data. Start a "
                    "new conversation to save examples."
                )
            messages += [
                {"role": "user", "content": stored.user_message},
                {"role": "assistant", "content": stored.answer_a or ""},
            ]
        new = NewSftExample(
            set_name=self.config.set_name,
            battle_id=battle.id,
            turn=last.index,
            attempt=last.attempt,
            messages=tuple(messages),
            original_answer=original,
            edited_answer=storable(edited_text),
            model=battle.model_a,
            saved_by=caller.voter_id,
        )
        try:
            saved = self.store.sft_examples.save(new)
        except DATABASE_ERRORS as exc:
            log.warning("database unavailable while saving a training example: %s", exc)
            raise DatabaseUnavailable(DATABASE_DOWN) from exc
        return SaveOutcome(saved.example, saved.created, edit.notices)

    def _limit(self, caller: Caller) -> None:
        per_voter, per_client = self._limits
        wait = per_voter.hit(caller.voter_id)
        if wait <= 0 and caller.client_id:
            wait = per_client.hit(caller.client_id)
        if wait > 0:
            raise RateLimited(f"You are saving examples too fast; try again in {max(1, math.ceil(wait))} s.")


@dataclass(frozen=True)
class Export:
    path: Path
    records: int
    set_name: str

    @property
    def message(self) -> str:
        return f"✅ {self.records:,} example{'s' if self.records != 1 else ''} of {self.set_name!r} as chat JSONL."


@dataclass
class SavedExamplesAdmin:
    """The operator's side: which sets exist, and their export. Every call checks the admin token first."""

    admin: AdminService
    folder: Path  # where export files are written (private to the server; the UI hands them to the browser)

    def sets(self, token: str | None, *, client: str = "") -> list[SftSetSummary]:
        self.admin.check(token, client=client)
        return self.admin.store.sft_examples.sets()

    def export(self, token: str | None, set_name: object, *, client: str = "") -> Export:
        """Write one set's newest versions as chat JSONL into a new file of `folder`; AdminDenied for a wrong
        token (nothing read or written), InputError for an unknown or empty set."""
        self.admin.check(token, client=client)
        set_name = self._known(set_name, "export")
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        # The name carries the set, and a random part so that two exports never share a file.
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in set_name)[:64]
        path = _unique_path(self.folder, f"saved-{safe}", ".jsonl")
        records = self.admin.store.sft_examples.write_chat_jsonl(path, set_name)
        if records == 0:
            raise InputError(f"The set {set_name!r} holds no examples.")
        return Export(path, records, set_name)

    def mix(self, token: str | None, set_name: object, *, client: str = "") -> MixReport:
        """One set's task mix (the newest version of each answer, edits included) against InstructGPT's use cases,
        with its prompt and answer lengths (leaderboard.task_mix)."""
        self.admin.check(token, client=client)
        set_name = self._known(set_name, "show")
        return mix_report([chat_record(example) for example in self.admin.store.sft_examples.latest(set_name)])

    def _known(self, set_name: object, doing: str) -> str:
        """`set_name` when it names a stored set (whatever a client sends), else InputError listing them."""
        names = {summary.set_name for summary in self.admin.store.sft_examples.sets()}
        if not isinstance(set_name, str) or set_name not in names:
            known = ", ".join(sorted(names)) or "none yet"
            raise InputError(f"Pick a saved set to {doing} (sets: {known}).")
        return set_name


def _unique_path(folder: Path, stem: str, suffix: str) -> Path:
    return folder / f"{stem}-{secrets.token_hex(8)}{suffix}"


def _turn_number(value: object) -> int | None:
    """The client's idea of the turn, as a number (a JSON client may send a float or a string)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) and number.is_integer() else None


def _normalised(text: str) -> str:
    """The stored answer as an edit of it would come back once cleaned (for "the same as the answer")."""
    try:
        return clean_text(text, what="answer", max_chars=max(len(text), 1), required=False).text
    except InputError:
        return text
