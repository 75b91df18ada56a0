"""Specification of saved training examples: direct-chat answers a person saves (with their edit) into an SFT set
(store.sft_examples, arena.sft_examples), on SQLite and PostgreSQL, and their export as the chat JSONL that
`python -m training.sft --chat` reads: from the Admin tab's service behind the operator token, and from
`python -m training.generate export-saved`."""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from arena.admin import AdminDenied, AdminService
from arena.battles import ArenaConfig, ArenaError, ArenaService, Busy, Caller, NotYourBattle, RateLimited
from arena.safety import InputError
from arena.sft_examples import ConversationMoved, NothingToSave, SaveConfig, SavedExamples, SavedExamplesAdmin
from models.pool import BackendPool
from models.registry import DecodingConfig, ModelSpec
from store import NewSftExample, NewTurn, NotFound, Store
from store.tables import SftExample
from training.generate import saved_export
from training.sft import read_examples

ALICE = Caller(session_id="session-alice", voter_id="voter-alice", client_id="client-alice")
BOB = Caller(session_id="session-bob", voter_id="voter-bob", client_id="client-bob")
MODEL = ModelSpec(name="tiny-greedy", generation=DecodingConfig(temperature=0.0, max_new_tokens=6))
TOKEN = "operator-secret"


@pytest.fixture
def arena(storage: Store, backend_pool: BackendPool) -> ArenaService:
    storage.registry.sync([MODEL])
    return ArenaService(storage, backend_pool.get, ArenaConfig(max_new_tokens=6), rng=random.Random(3))


@pytest.fixture
def saver(arena: ArenaService) -> SavedExamples:
    return SavedExamples(arena)


def rows(storage: Store) -> int:
    with storage.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(SftExample)).scalar_one())


def direct_battle(storage: Store, *turns: tuple[str, str], caller: Caller = ALICE, **last: object) -> str:
    """A direct chat as the arena stores it (arena/battles.py), with `turns` (message, answer); `last` overrides
    fields of the last turn (finish_a, error_a)."""
    battle = storage.battles.create(
        mode="direct", model_a=MODEL.name, model_b=None, swapped=False, params_a={}, params_b={},
        session_id=caller.session_id, voter_id=caller.voter_id,
    )  # fmt: skip
    for number, (message, answer) in enumerate(turns, start=1):
        extra = last if number == len(turns) else {}
        fields = {"finish_a": "stop", **extra}
        storage.battles.add_turn(battle.id, NewTurn(user_message=message, answer_a=answer, **fields))  # type: ignore[arg-type]
    return battle.id


def new_example(battle_id: str, edited: str | None = None, **changes: object) -> NewSftExample:
    values: dict[str, object] = {
        "set_name": "direct-chat",
        "battle_id": battle_id,
        "turn": 1,
        "attempt": 0,
        "messages": ({"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue"}),
        "original_answer": "Blue",
        "edited_answer": edited,
        "model": MODEL.name,
        "saved_by": "voter-alice",
        **changes,
    }
    return NewSftExample(**values)  # type: ignore[arg-type]


SAY_HI: dict[str, object] = {
    "messages": ({"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi!"}),
    "original_answer": "Hi!",
}


# ---- the store --------------------------------------------------------------------------------------


def test_a_saved_example_is_stored_whole_and_saving_it_again_changes_nothing(storage: Store) -> None:
    battle_id = direct_battle(storage, ("Name a colour.", "Blue"))
    first = storage.sft_examples.save(new_example(battle_id, "Blue, like the sky."))
    assert first.created
    example = first.example
    assert (example.set_name, example.battle_id, example.turn, example.attempt, example.version) == (
        "direct-chat", battle_id, 1, 0, 1,
    )  # fmt: skip
    assert [dict(m) for m in example.messages] == [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue"},
    ]
    assert (example.original_answer, example.edited_answer, example.answer) == (
        "Blue", "Blue, like the sky.", "Blue, like the sky.",
    )  # fmt: skip
    assert example.model == MODEL.name and example.saved_by == "voter-alice" and example.created_at is not None
    again = storage.sft_examples.save(new_example(battle_id, "Blue, like the sky."))
    assert not again.created and again.example.id == example.id
    assert rows(storage) == 1, "idempotent: nothing written the second time"


def test_a_different_edit_of_the_same_answer_is_a_new_version_and_readers_take_the_newest(storage: Store) -> None:
    battle_id = direct_battle(storage, ("Name a colour.", "Blue"))
    storage.sft_examples.save(new_example(battle_id, "Blue, like the sky."))
    second = storage.sft_examples.save(new_example(battle_id, "Cobalt blue."))
    unedited = storage.sft_examples.save(new_example(battle_id, None))
    assert (second.example.version, unedited.example.version) == (2, 3)
    versions = storage.sft_examples.versions("direct-chat", battle_id, 1, 0)
    assert [v.edited_answer for v in versions] == ["Blue, like the sky.", "Cobalt blue.", None], "history is kept"
    [latest] = storage.sft_examples.latest("direct-chat")
    assert latest.version == 3 and latest.answer == "Blue"
    other = direct_battle(storage, ("Say hi.", "Hi!"))
    storage.sft_examples.save(new_example(other, None, set_name="greetings", **SAY_HI))
    [summary, greetings] = storage.sft_examples.sets()
    assert (summary.set_name, summary.examples, summary.edited, summary.versions) == ("direct-chat", 1, 0, 3)
    assert (greetings.set_name, greetings.examples) == ("greetings", 1)
    assert len(storage.sft_examples.latest()) == 2


def test_an_example_of_a_battle_that_does_not_exist_or_a_malformed_one_stores_nothing(storage: Store) -> None:
    with pytest.raises(NotFound):
        storage.sft_examples.save(new_example("no-such-battle"))
    battle_id = direct_battle(storage, ("Name a colour.", "Blue"))
    for malformed in (
        new_example(battle_id, original_answer="Red"),  # not the last message
        new_example(battle_id, set_name=""),
        new_example(battle_id, messages=({"role": "assistant", "content": "Blue"},)),
        new_example(battle_id, edited="   "),
    ):
        with pytest.raises(ValueError):
            storage.sft_examples.save(malformed)
    assert rows(storage) == 0


def test_the_export_is_chat_jsonl_that_training_sft_reads_with_the_edit_as_the_answer(
    storage: Store, tmp_path: Path
) -> None:
    edited = direct_battle(storage, ("Name a colour.", "Blue"))
    as_is = direct_battle(storage, ("Say hi.", "Hi!"))
    storage.sft_examples.save(new_example(edited, "Blue, like the sky.\u2028With a line separator."))
    storage.sft_examples.save(new_example(as_is, None, **SAY_HI))
    out = tmp_path / "saved.jsonl"
    assert storage.sft_examples.write_chat_jsonl(out, "direct-chat") == 2
    first, second = read_examples(out, "chat")
    assert first["prompt"] == [{"role": "user", "content": "Name a colour."}]
    assert first["completion"] == [{"role": "assistant", "content": "Blue, like the sky.\u2028With a line separator."}]
    assert second["completion"] == [{"role": "assistant", "content": "Hi!"}]
    records = [json.loads(line) for line in out.read_text().split("\n") if line]
    provenance = records[0]["provenance"]
    assert provenance["edited"] is True and provenance["original_answer"] == "Blue"
    assert {"source", "set", "example_id", "battle_id", "turn", "attempt", "version", "model", "saved_by",
            "saved_at"} <= set(provenance)  # fmt: skip
    assert records[1]["provenance"]["edited"] is False and "original_answer" not in records[1]["provenance"]
    empty = tmp_path / "empty.jsonl"
    assert storage.sft_examples.write_chat_jsonl(empty, "no-such-set") == 0
    assert not empty.exists(), "nothing to export writes nothing"


# ---- the saving rules (arena.sft_examples) ---------------------------------------------------------------


def test_what_is_saved_is_the_servers_conversation_with_the_persons_edit_of_the_last_answer(
    saver: SavedExamples, storage: Store
) -> None:
    battle_id = direct_battle(storage, ("Name a fruit.", "Apple"), ("And a colour?", "Red"))
    outcome = saver.save(ALICE, battle_id, "  Red, like the apple.\r\n", turn=2)
    assert outcome.created and "Saved as a training example (your edit" in outcome.message
    [example] = storage.sft_examples.latest()
    assert [(m["role"], m["content"]) for m in example.messages] == [
        ("user", "Name a fruit."), ("assistant", "Apple"), ("user", "And a colour?"), ("assistant", "Red"),
    ]  # fmt: skip
    assert (example.turn, example.original_answer, example.edited_answer) == (2, "Red", "Red, like the apple.")
    assert example.saved_by == ALICE.voter_id and example.set_name == "direct-chat"
    assert (example.model, example.battle_id) == (MODEL.name, battle_id)


@pytest.mark.parametrize(
    ("edit", "stored"),
    [
        (None, None),
        ("", None),
        ("\u200b \u200d\ufeff\n", None),  # only invisible characters: no edit
        ("Red  \n", None),  # the answer itself, trimmed: no edit
        ("Bold <b>red</b> <script>alert(1)</script>", "Bold <b>red</b> <script>alert(1)</script>"),  # kept as text
        ("Red\x00 and\x1b[31m green\x07", "Red and[31m green"),  # control characters removed
        ("Red \udc00 lone", "Red \ufffd lone"),  # a lone surrogate (from JSON) replaced
    ],
)
def test_a_hostile_edit_is_cleaned_and_an_empty_or_unchanged_one_is_no_edit(
    saver: SavedExamples, storage: Store, edit: str | None, stored: str | None
) -> None:
    battle_id = direct_battle(storage, ("A colour?", "Red"))
    outcome = saver.save(ALICE, battle_id, edit)
    assert outcome.example.edited_answer == stored
    if edit and ("\x00" in edit or "\udc00" in edit):
        assert outcome.notices, "the person is told what was removed"


@pytest.mark.parametrize(
    ("edit", "error"),
    [("x" * 16_001, "16,001 characters"), ("x" * 10_000_000, "limit is 16,000"), ({"text": "Red"}, "must be text")],
)
def test_an_edit_too_long_or_not_text_is_refused_and_nothing_is_stored(
    saver: SavedExamples, storage: Store, edit: object, error: str
) -> None:
    battle_id = direct_battle(storage, ("A colour?", "Red"))
    with pytest.raises(InputError, match=error):
        saver.save(ALICE, battle_id, edit)
    assert rows(storage) == 0


def test_nothing_is_saved_before_there_is_an_answer_or_from_a_conversation_not_ones_own(
    saver: SavedExamples, arena: ArenaService, storage: Store
) -> None:
    with pytest.raises(ArenaError, match="no conversation yet"):
        saver.save(ALICE, None, "An answer")
    started = arena.start(ALICE, "direct", [MODEL.name])
    with pytest.raises(NothingToSave, match="no answer to save yet"):
        saver.save(ALICE, started.id, "An answer")
    battle_id = direct_battle(storage, ("A colour?", "Red"))
    with pytest.raises(NotYourBattle):
        saver.save(BOB, battle_id, "Blue")
    with pytest.raises(NotYourBattle):
        saver.save(ALICE, "no-such-battle", "Blue")
    anonymous = storage.battles.create(
        mode="anonymous", model_a="a", model_b="b", swapped=False, params_a={}, params_b={},
        session_id=ALICE.session_id, voter_id=ALICE.voter_id,
    )  # fmt: skip
    storage.battles.add_turn(anonymous.id, NewTurn(user_message="Hi", answer_a="A", answer_b="B"))
    with pytest.raises(ArenaError, match="Only answers from Direct chat"):
        saver.save(ALICE, anonymous.id, "Better")
    assert rows(storage) == 0


def test_an_unfinished_answer_is_saved_only_with_the_persons_own_answer(saver: SavedExamples, storage: Store) -> None:
    failed = direct_battle(storage, ("A colour?", "Re"), finish_a="error", error_a="connection lost")
    with pytest.raises(NothingToSave, match="did not finish"):
        saver.save(ALICE, failed, None)
    assert saver.save(ALICE, failed, "Red.").example.edited_answer == "Red."
    empty_before = direct_battle(storage, ("A colour?", ""), ("Another?", "Green"))
    with pytest.raises(NothingToSave, match="Answer 1 of this conversation is empty"):
        saver.save(ALICE, empty_before, "Green.")
    assert rows(storage) == 1


def test_a_save_for_an_older_answer_than_the_last_is_refused(saver: SavedExamples, storage: Store) -> None:
    battle_id = direct_battle(storage, ("A fruit?", "Apple"), ("A colour?", "Red"))
    for stale in (1, "1", 7, "abc", 1.5):
        with pytest.raises(ConversationMoved):
            saver.save(ALICE, battle_id, "Apple, green.", turn=stale)
    assert saver.save(ALICE, battle_id, "Red.", turn=2.0).created
    assert rows(storage) == 1


def test_saving_the_same_answer_twice_is_idempotent_and_a_new_edit_is_a_new_version(
    saver: SavedExamples, storage: Store
) -> None:
    battle_id = direct_battle(storage, ("A colour?", "Red"))
    first = saver.save(ALICE, battle_id, "Crimson.")
    again = saver.save(ALICE, battle_id, "Crimson.\n")
    assert not again.created and again.example.id == first.example.id and "Already saved" in again.message
    newer = saver.save(ALICE, battle_id, "Scarlet.")
    assert newer.created and newer.example.version == 2 and "version 2" in newer.message
    assert rows(storage) == 2 and [e.answer for e in storage.sft_examples.latest()] == ["Scarlet."]


def test_nothing_saves_while_the_next_reply_is_streaming(
    saver: SavedExamples, arena: ArenaService, storage: Store
) -> None:
    """With the embedded model: a second message starts streaming; a save then is refused (it would save the first
    answer as if it were the last); once the reply is stored, that reply is the one saved."""
    first = list(arena.send(ALICE, None, "Name a colour.", mode="direct", models=[MODEL.name]))[-1]
    updates = arena.send(ALICE, first.battle_id, "And a fruit?")
    next(updates)  # the reply is streaming
    with pytest.raises(Busy, match="Wait for the answer to finish"):
        saver.save(ALICE, first.battle_id, "Blue.")
    final = list(updates)[-1]
    assert rows(storage) == 0
    saved = saver.save(ALICE, first.battle_id, "An apple.", turn=2).example
    assert saved.turn == 2 and saved.original_answer == final.answer_a and saved.edited_answer == "An apple."
    assert [m["content"] for m in saved.messages] == ["Name a colour.", first.answer_a, "And a fruit?", final.answer_a]


def test_saving_too_fast_is_refused(arena: ArenaService, storage: Store) -> None:
    saver = SavedExamples(arena, SaveConfig(rate_limit_saves=2))
    battle_id = direct_battle(storage, ("A colour?", "Red"))
    saver.save(ALICE, battle_id, "One.")
    saver.save(ALICE, battle_id, "Two.")
    with pytest.raises(RateLimited, match="saving examples too fast"):
        saver.save(ALICE, battle_id, "Three.")
    assert rows(storage) == 2


# ---- the export: operators only ------------------------------------------------------------------------


@pytest.fixture
def exports(storage: Store, tmp_path: Path) -> Iterator[SavedExamplesAdmin]:
    admin = AdminService(TOKEN, storage, (), lambda job, who: 0)
    yield SavedExamplesAdmin(admin, tmp_path / "exports")


def test_only_the_operators_token_exports_and_a_wrong_or_missing_one_exports_nothing(
    exports: SavedExamplesAdmin, saver: SavedExamples, storage: Store, tmp_path: Path
) -> None:
    saver.save(ALICE, direct_battle(storage, ("A colour?", "Red")), "Crimson.")
    for wrong in (None, "", "operator-secreT", "operator-secret ", 12345):
        with pytest.raises(AdminDenied):
            exports.export(wrong, "direct-chat", client="client-mallory")  # type: ignore[arg-type]
        with pytest.raises(AdminDenied):
            exports.sets(wrong)  # type: ignore[arg-type]
    assert not (tmp_path / "exports").exists() or not any((tmp_path / "exports").iterdir())
    switched_off = SavedExamplesAdmin(AdminService("", storage, (), lambda job, who: 0), tmp_path / "off")
    with pytest.raises(AdminDenied, match="Admin tab is off"):
        switched_off.export("", "direct-chat")
    done = exports.export(TOKEN, "direct-chat")
    assert done.records == 1 and "1 example" in done.message
    [example] = read_examples(done.path, "chat")
    assert example["completion"] == [{"role": "assistant", "content": "Crimson."}]
    with pytest.raises(InputError, match="Pick a saved set"):
        exports.export(TOKEN, "../../etc/passwd")


def test_wrong_tokens_from_one_address_are_refused_before_comparing_after_five(
    exports: SavedExamplesAdmin,
) -> None:
    for _ in range(5):
        with pytest.raises(AdminDenied, match="Wrong admin token"):
            exports.export("guess", "direct-chat", client="client-mallory")
    with pytest.raises(AdminDenied, match="Too many wrong tokens"):
        exports.export(TOKEN, "direct-chat", client="client-mallory")


# ---- python -m training.generate export-saved ---------------------------------------------------------------


def export_saved(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    saved_export.add_arguments(parser)
    return saved_export.run(parser.parse_args(list(argv)))


def test_the_command_line_exports_a_set_and_says_so(
    saver: SavedExamples, storage: Store, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saver.save(ALICE, direct_battle(storage, ("A colour?", "Red")), "Crimson.")
    saver.save(ALICE, direct_battle(storage, ("A fruit?", "Apple")), None)
    out = tmp_path / "out" / "saved.jsonl"
    assert export_saved("--db", db_url, "--out", str(out), "--set", "direct-chat") == 0
    assert "wrote 2 saved examples" in capsys.readouterr().out
    assert [e["completion"][0]["content"] for e in read_examples(out, "chat")] == ["Crimson.", "Apple"]


def test_the_command_line_refuses_bad_input_with_one_line_and_writes_nothing(
    storage: Store, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "saved.jsonl"
    cases = [
        (("--db", db_url, "--out", str(out)), "nobody has saved a training example"),
        (("--db", f"sqlite:///{tmp_path / 'missing.db'}", "--out", str(out)), "no database file"),
        (("--db", "mysql://u@h/db", "--out", str(out)), "sqlite"),
        (("--db", db_url, "--out", str(tmp_path)), "is a folder"),
    ]
    for argv, error in cases:
        assert export_saved(*argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and error in err and err.count("\n") == 1, err
    saved = SavedExamples(ArenaService(storage, lambda spec: None))  # type: ignore[arg-type,return-value]
    saved.save(ALICE, direct_battle(storage, ("A colour?", "Red")), None)
    assert export_saved("--db", db_url, "--out", str(out), "--set", "other") == 2
    assert "no saved examples in set 'other' (sets: direct-chat)" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "missing.db").exists()


def test_an_operator_sees_a_sets_task_mix_against_instructgpts_use_cases(
    exports: SavedExamplesAdmin, saver: SavedExamples, storage: Store
) -> None:
    saver.save(ALICE, direct_battle(storage, ("Write a short poem about the sea.", "Waves.")), "Waves roll in.")
    saver.save(ALICE, direct_battle(storage, ("What is the capital of France?", "Paris")), None)
    with pytest.raises(AdminDenied):
        exports.mix("a guess", "direct-chat")
    with pytest.raises(InputError, match="Pick a saved set"):
        exports.mix(TOKEN, "other")
    report = exports.mix(TOKEN, "direct-chat")
    assert (report.n, report.unreadable, report.target_name) == (2, 0, "instructgpt")
    counts = {row.use_case: row.count for row in report.rows}
    assert counts["generation"] == 1 and counts["open_qa"] == 1
    assert report.answer_lengths.count == 2, "the edited answer is measured, as it will be trained on"
    assert "InstructGPT" in report.markdown() and report.figure().data
