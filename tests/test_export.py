"""The dataset export (store.export), on rows written through the arena's own Store, SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq
import pytest
import yaml

import store.export as export_module
from facts.categories import classify_prompt
from models.registry import ModelSpec
from store import NewTurn, Store
from store.export import ExportError, build_export, main, write_export

REPO = Path(__file__).resolve().parent.parent
SALT = "pepper-salt-3f9a1c"
JUDGE = "judge:gpt-4o"
JUDGE_REGISTRY_MODEL = "judge-registry-model-7"  # what a judge vote stores as its voter_id


def _hash(text: str) -> str:
    return hashlib.sha256(f"{SALT}\0{text}".encode()).hexdigest()


@dataclass(frozen=True)
class Arena:
    """What the fixture wrote: battle ids by role, the hashed ids that must never be exported, vote times."""

    multi_turn: str  # alpha vs beta: turn 2 regenerated; human model_a "much" and a judge model_b on turn 2
    tie: str
    both_bad: str
    leaked: str  # flagged (a model named) before the vote
    error_after_vote: str  # flagged (a model failed) after the vote: its verdict is rewritten
    side_by_side: str  # names shown
    secrets: tuple[str, ...]
    started: float
    finished: float


def _battle(
    storage: Store,
    who: str,
    turns: list[tuple[str, str, str]],
    *,
    model_a: str = "alpha",
    model_b: str = "beta",
    mode: str = "anonymous",
) -> str:
    battle = storage.battles.create(
        mode=mode,
        model_a=model_a,
        model_b=model_b,
        swapped=False,
        params_a={"temperature": 0.7},
        params_b={},
        session_id=_hash(f"session {who}"),
        voter_id=_hash(f"voter {who}"),
    )
    for user, answer_a, answer_b in turns:
        storage.battles.add_turn(battle.id, NewTurn(user_message=user, answer_a=answer_a, answer_b=answer_b))
    return battle.id


def _vote(storage: Store, battle_id: str, who: str, winner: str, *, turn: int = 1, **options: Any) -> int:
    return storage.battles.record_vote(
        battle_id=battle_id, turn=turn, winner=winner, voter_id=_hash(f"voter {who}"), **options
    ).id


def _write_arena(storage: Store) -> Arena:
    started = time.time()
    multi = _battle(storage, "ann", [("What is a monad?", "a1", "b1"), ("Shorter, please.", "a2-OLD", "b2-OLD")])
    storage.battles.add_turn(
        multi, NewTurn(user_message="Shorter, please.", answer_a="a2", answer_b="b2"), regenerate=True
    )
    vote_id = _vote(storage, multi, "ann", "model_a", turn=2)
    storage.battles.set_vote_strength(vote_id, "much")
    storage.battles.record_vote(battle_id=multi, turn=2, winner="model_b", voter_id=JUDGE_REGISTRY_MODEL, source=JUDGE)

    tie = _battle(storage, "bob", [("Write a haiku about rain.", "drops", "puddles")], model_a="gamma")
    _vote(storage, tie, "bob", "tie")
    both_bad = _battle(storage, "cy", [("hi", "bad one", "bad two")], model_b="gamma")
    _vote(storage, both_bad, "cy", "tie (bothbad)")

    leaked = _battle(storage, "dee", [("Who made you?", "I am alpha", "no idea")])
    storage.battles.flag(leaked, identity_leak=True, note="identity words: alpha")
    _vote(storage, leaked, "dee", "model_b")
    error_after_vote = _battle(storage, "eve", [("2+2?", "4", "5")])
    _vote(storage, error_after_vote, "eve", "model_a")
    storage.battles.flag(error_after_vote, error=True)
    side_by_side = _battle(storage, "fay", [("Tell me a joke.", "joke a", "joke b")], mode="side_by_side")
    _vote(storage, side_by_side, "fay", "model_a")

    people = ("ann", "bob", "cy", "dee", "eve", "fay")
    secrets = (
        *(_hash(f"voter {p}") for p in people),
        *(_hash(f"session {p}") for p in people),
        SALT,
        JUDGE_REGISTRY_MODEL,
    )
    return Arena(multi, tie, both_bad, leaked, error_after_vote, side_by_side, secrets, started, time.time())


@pytest.fixture
def arena(storage: Store) -> Arena:
    return _write_arena(storage)


def _export(db_url: str, out: Path, *args: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = main(["--db", db_url, "--out", str(out), *args], echo=lines.append)
    return code, lines


def _load(kind: str, path: Path, cache: Path) -> list[dict[str, Any]]:
    if kind == "dir":
        dataset = datasets.load_dataset(str(path), split="train", cache_dir=str(cache))
    else:
        dataset = datasets.load_dataset(kind, data_files=str(path), split="train", cache_dir=str(cache))
    return list(dataset)


def _by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, int, str], dict[str, Any]]:
    return {(row["battle_id"], row["turn"], row["source"]): row for row in rows}


def _messages(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in pairs]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_round_trips_through_datasets_with_the_conversations_as_written(
    arena: Arena, db_url: str, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / "export"
    code, lines = _export(db_url, out, "--format", fmt, "--source", "all")
    assert code == 0, lines
    data_file = out / f"train.{fmt}"
    direct = _load("json" if fmt == "jsonl" else "parquet", data_file, tmp_path / "cache")
    through_card = _load("dir", out, tmp_path / "cache")
    assert direct == through_card

    rows = _by_key(through_card)
    multi_a = _messages(
        ("user", "What is a monad?"), ("assistant", "a1"), ("user", "Shorter, please."), ("assistant", "a2")
    )
    multi_b = _messages(
        ("user", "What is a monad?"), ("assistant", "b1"), ("user", "Shorter, please."), ("assistant", "b2")
    )
    expected = {
        (arena.multi_turn, 2, "human"): ("alpha", "beta", "model_a", "much", "human", multi_a, multi_b),
        (arena.multi_turn, 2, JUDGE): ("alpha", "beta", "model_b", None, "gpt-4o", multi_a, multi_b),
        (arena.tie, 1, "human"): (
            "gamma", "beta", "tie", None, "human",
            _messages(("user", "Write a haiku about rain."), ("assistant", "drops")),
            _messages(("user", "Write a haiku about rain."), ("assistant", "puddles")),
        ),
        (arena.both_bad, 1, "human"): (
            "alpha", "gamma", "tie (bothbad)", None, "human",
            _messages(("user", "hi"), ("assistant", "bad one")),
            _messages(("user", "hi"), ("assistant", "bad two")),
        ),
    }  # fmt: skip
    got = {
        key: (
            r["model_a"],
            r["model_b"],
            r["winner"],
            r["strength"],
            r["judge"],
            r["conversation_a"],
            r["conversation_b"],
        )
        for key, r in rows.items()
    }
    assert got == expected
    for (battle_id, turn, _), row in rows.items():
        assert row["question_id"] == f"{battle_id}-{turn}"
        assert (row["anony"], row["mode"]) == (True, "anonymous")
        assert arena.started - 1 <= row["tstamp"] <= arena.finished + 1
        assert row["category"] == classify_prompt(row["conversation_a"][0]["content"])
    assert "excluded_reason" not in through_card[0]
    # The superseded attempt is nowhere in the files.
    assert b"2-OLD" not in data_file.read_bytes()
    if fmt == "jsonl":
        assert b"2-OLD" not in b"".join(p.read_bytes() for p in out.iterdir())


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_no_voter_id_session_id_or_salt_in_any_output_file(arena: Arena, db_url: str, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "export"
    # The widest export: every source, flagged votes too.
    code, lines = _export(db_url, out, "--format", fmt, "--source", "all", "--include-flagged")
    assert code == 0, lines
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["README.md", f"train.{fmt}"]
    texts = [f.read_bytes() for f in files]
    if fmt == "parquet":  # compressed pages could hide a string from a byte search: search the values too
        texts.append(json.dumps(pq.read_table(out / "train.parquet").to_pylist()).encode())
    for secret in arena.secrets:
        for text in texts:
            assert secret.encode() not in text, f"{secret!r} leaked into the export"
    rows = _load("dir", out, tmp_path / "cache")
    assert len(rows) == 7
    assert {row["judge"] for row in rows} == {"human", "gpt-4o"}


def test_flagged_votes_are_out_by_default_and_in_with_their_reason(arena: Arena, db_url: str, tmp_path: Path) -> None:
    code, lines = _export(db_url, tmp_path / "default")
    assert code == 0, lines
    default = _load("dir", tmp_path / "default", tmp_path / "cache")
    assert {row["battle_id"] for row in default} == {arena.multi_turn, arena.tie, arena.both_bad}

    code, lines = _export(db_url, tmp_path / "flagged", "--include-flagged")
    assert code == 0, lines
    flagged = _load("dir", tmp_path / "flagged", tmp_path / "cache")
    reasons = {row["battle_id"]: (row["anony"], row["excluded_reason"]) for row in flagged}
    assert reasons == {
        arena.multi_turn: (True, None),
        arena.tie: (True, None),
        arena.both_bad: (True, None),
        arena.leaked: (True, "a model or vendor was named in the conversation"),
        # Flagged after the vote: the verdict stored with the vote was rewritten with the flag.
        arena.error_after_vote: (True, "a model failed to answer"),
        arena.side_by_side: (False, "the models were not anonymous"),
    }
    side_by_side = next(row for row in flagged if row["battle_id"] == arena.side_by_side)
    assert side_by_side["mode"] == "side_by_side"


def test_source_selects_human_a_judge_or_all(arena: Arena, db_url: str, tmp_path: Path) -> None:
    selections = {"human": {"human"}, JUDGE: {JUDGE}, "all": {"human", JUDGE}}
    for source, expected in selections.items():
        out = tmp_path / source.replace(":", "-")
        code, lines = _export(db_url, out, "--source", source)
        assert code == 0, lines
        rows = _load("dir", out, tmp_path / "cache")
        assert {row["source"] for row in rows} == expected
    judged = _load("dir", tmp_path / "judge-gpt-4o", tmp_path / "cache")
    assert [(row["battle_id"], row["judge"], row["winner"]) for row in judged] == [
        (arena.multi_turn, "gpt-4o", "model_b")
    ]

    code, lines = _export(db_url, tmp_path / "nobody", "--source", "judge:nobody")
    assert code == 2
    assert lines[0].startswith("error: no votes to export") and f"sources present: human, {JUDGE}" in lines[0]
    assert not (tmp_path / "nobody").exists()
    code, lines = _export(db_url, tmp_path / "people", "--source", "people")
    assert (code, lines) == (2, ["error: unknown source 'people'; use 'human', 'all' or 'judge:<name>'"])


def test_the_cli_exits_0_and_prints_one_summary_line(arena: Arena, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "export"
    result = subprocess.run(
        [sys.executable, "-m", "store.export", "--db", db_url, "--out", str(out), "--format", "parquet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith(f"exported 3 votes (3 battles, 3 models) to {out / 'train.parquet'}")
    assert "left out 3 flagged and 1 of other sources" in result.stdout


def test_the_card_describes_the_data_and_carries_the_license(
    arena: Arena, storage: Store, db_url: str, tmp_path: Path
) -> None:
    storage.registry.register(ModelSpec(name="alpha", description="A tiny\nmodel | for tests"))
    storage.registry.register(ModelSpec(name="delta", description="never battled"))
    code, lines = _export(db_url, tmp_path / "default")
    assert code == 0, lines
    card = (tmp_path / "default" / "README.md").read_text(encoding="utf-8")
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["license"] == "cc-by-4.0"
    assert header["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "train.jsonl"}]}]
    body = card.split("---\n", 2)[2]
    for fact in ("- Votes: 3 (human: 3)", "- Battles: 3", "- Models: 3", "Votes left out as flagged: 3."):
        assert fact in body
    for column in ("question_id", "conversation_a", "strength", "judge", "tstamp"):
        assert f"| `{column}` |" in body
    assert "| `excluded_reason` |" not in body  # documented only when exported
    assert "| alpha | 2 | A tiny model \\| for tests |" in body
    assert "| gamma | 2 |  |" in body
    assert "delta" not in body

    code, lines = _export(db_url, tmp_path / "cc0", "--license", "cc0-1.0")
    assert code == 0, lines
    assert yaml.safe_load((tmp_path / "cc0" / "README.md").read_text().split("---\n")[1])["license"] == "cc0-1.0"
    code, lines = _export(db_url, tmp_path / "bad", "--license", "MIT\nconfigs: []")
    assert code == 2 and lines[0].startswith("error: license 'MIT\\nconfigs: []' is not a license id")
    assert not (tmp_path / "bad").exists()


def test_the_card_types_columns_that_are_all_null(storage: Store, db_url: str, tmp_path: Path) -> None:
    # Only a tie: strength is null in every row, which the JSON loader alone would type as null.
    battle_id = _battle(storage, "gus", [("Name a colour.", "red", "blue")])
    _vote(storage, battle_id, "gus", "tie")
    code, lines = _export(db_url, tmp_path / "export")
    assert code == 0, lines
    dataset = datasets.load_dataset(str(tmp_path / "export"), split="train", cache_dir=str(tmp_path / "cache"))
    assert dataset.features["strength"] == datasets.Value("string")
    assert dataset.features["conversation_a"] == datasets.List(
        {"role": datasets.Value("string"), "content": datasets.Value("string")}
    )


def test_an_empty_database_is_exit_2_and_leaves_an_earlier_export_alone(
    storage: Store, db_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    code, lines = _export(db_url, out)
    assert (code, lines) == (2, ["error: the database has no votes yet; nothing was written"])
    assert not out.exists()

    _write_arena(storage)
    assert _export(db_url, out)[0] == 0
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    empty = Store.open(f"sqlite:///{tmp_path / 'empty.db'}")
    empty.dispose()
    code, lines = _export(f"sqlite:///{tmp_path / 'empty.db'}", out)
    assert code == 2 and "no votes yet" in lines[0]
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before


def test_a_wrong_database_url_is_a_clear_error_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "arena.db"
    code, lines = _export(f"sqlite:///{missing}", tmp_path / "export")
    assert (code, lines) == (2, [f"error: no database file at {missing}; check --db"])
    assert not missing.parent.exists()

    plain = tmp_path / "plain.db"
    plain.touch()  # a SQLite file that is not an arena database
    code, lines = _export(f"sqlite:///{plain}", tmp_path / "export")
    assert code == 2 and lines[0].endswith("holds no arena tables; check --db")
    code, lines = _export("mysql://somewhere/arena", tmp_path / "export")
    assert code == 2 and lines[0].startswith("error: unsupported database URL")


def test_a_bad_format_is_refused_with_the_choices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "export"), "--format", "csv"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    # Python 3.12 started quoting the choices; the message is the same otherwise.
    assert "argument --format: invalid choice: 'csv' (choose from" in error
    assert "jsonl" in error and "parquet" in error
    assert not (tmp_path / "export").exists()


def test_writes_replace_files_whole_and_switching_format_leaves_one_copy(
    storage: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_arena(storage)
    export = build_export(storage.votes.read(conversations=True))
    out = tmp_path / "export"
    with pytest.raises(ExportError, match="unknown format 'csv'"):
        write_export(export, out, fmt="csv")
    write_export(export, out)
    before = {f.name: f.read_bytes() for f in out.iterdir()}

    def half_then_crash(export: Any, path: Path) -> None:
        path.write_text('{"question_id": "half', encoding="utf-8")
        raise OSError("disk full")

    monkeypatch.setattr(export_module, "_write_jsonl", half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        write_export(export, out)
    # The reader still sees the previous export whole, and no temporary file is left behind.
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    monkeypatch.undo()

    write_export(export, out, fmt="parquet")
    assert sorted(f.name for f in out.iterdir()) == ["README.md", "train.parquet"]
    rows = _load("dir", out, tmp_path / "cache")
    assert len(rows) == len(export.rows) == 3
