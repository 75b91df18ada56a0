"""Specification of the leaderboard refresh at scale: the page built from the narrow read (facts stored with each
vote, labels as codes, no answer text) is the page the per-vote computation builds from the texts (style and
category recomputed for every vote, as the refresh did before the facts were stored), on SQLite and PostgreSQL;
and the snapshot holds exactly the votes its watermark names (a vote written during a refresh is counted by the
next one)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from facts.categories import classify_prompt
from facts.style import STYLE_COLUMNS, StyleFeatures, style_features
from leaderboard.page import build_page_payload
from leaderboard.service import SnapshotService
from store import NewTurn, Store

MODELS = ("alpha", "beta", "gamma", "delta", "epsilon")
STRENGTH = {"alpha": 1.2, "beta": 0.6, "gamma": 0.0, "delta": -0.5, "epsilon": -1.0}
PROMPTS = (
    "Write a Python function that reverses a list.",
    "What is 17 * 23 + 4?",
    "Write a short poem about the sea.",
    "Explain photosynthesis to a child.",
    "hi there",
    "Give me three ideas for a birthday party.",
)
ANSWERS = (
    "Sure.",
    "# Answer\n\n- one\n- two\n- three\n\n**Done**.",
    "1. first\n2. second\n\n```python\n# not a header\n- not a list\n```\nThat is all.",
    "__Short__ and plain, but with a longer explanation that goes on for a while about the details of it.",
    "## Steps\n1. a\n2. b\n\n**bold** and **bolder**",
)


def populate(storage: Store, battles: int = 120, seed: int = 3) -> None:
    """A small arena with everything the leaderboard reads: multi-turn battles with a regenerated turn, every
    category, judge verdicts beside human votes, named (non-anonymous) battles, a battle flagged after its
    votes, and voters who vote many times."""
    rng = np.random.default_rng(seed)
    for number in range(battles):
        a, b = rng.choice(len(MODELS), 2, replace=False)
        mode = "side_by_side" if number % 17 == 0 else "anonymous"
        created = storage.battles.create(
            mode=mode, model_a=MODELS[a], model_b=MODELS[b], swapped=bool(number % 2), params_a={}, params_b={},
            session_id=f"s{number}", voter_id=f"v{number % 9}",
        )  # fmt: skip
        turns = 1 + int(number % 5 == 0)
        for index in range(1, turns + 1):
            prompt = PROMPTS[(number + index) % len(PROMPTS)]
            answer = lambda: ANSWERS[int(rng.integers(len(ANSWERS)))]  # noqa: E731
            storage.battles.add_turn(created.id, NewTurn(user_message=prompt, answer_a=answer(), answer_b=answer()))
            if index == 2 and number % 10 == 0:  # a regenerated answer replaces the first attempt
                storage.battles.add_turn(
                    created.id, NewTurn(user_message=prompt, answer_a=answer(), answer_b=answer()), regenerate=True
                )
            p = 1 / (1 + math.exp(STRENGTH[MODELS[b]] - STRENGTH[MODELS[a]]))
            draw = rng.random()
            winner = "model_a" if draw < p * 0.85 else "model_b" if draw < 0.85 else "tie"
            storage.battles.record_vote(
                battle_id=created.id, turn=index, winner=winner, voter_id=f"voter-{int(rng.zipf(1.6)) % 12}"
            )
            if number % 3 == 0:
                verdict = "model_a" if rng.random() < p else "model_b"
                storage.battles.record_vote(
                    battle_id=created.id, turn=index, winner=verdict, voter_id="judge-run", source="judge:gpt-4"
                )
        if number == 7:  # flagged after its votes were stored: they stop counting everywhere
            storage.battles.flag(created.id, identity_leak=True)


def per_vote_battles(storage: Store) -> pd.DataFrame:
    """The oracle: every vote's style and category computed again from the texts the voter saw, one vote at a
    time, over the frame with conversations; nothing stored with the vote is used for them."""
    frame = storage.votes.read(conversations=True)
    styles: list[dict[str, float]] = []
    categories: list[str | None] = []
    for row in frame.itertuples(index=False):
        sides = {}
        for side, messages, answer in (("a", row.messages_a, row.answer_a), ("b", row.messages_b, row.answer_b)):
            earlier = [m["content"] for m in messages if m["role"] == "assistant"]
            total = sum((style_features(text) for text in [*earlier, answer or ""]), StyleFeatures())
            sides.update(total.columns(side))
        styles.append(sides)
        categories.append(classify_prompt(row.prompt) if row.prompt is not None else None)
    oracle = frame.drop(columns=[*STYLE_COLUMNS, "category"]).assign(category=categories)
    oracle = pd.concat([oracle, pd.DataFrame(styles, columns=list(STYLE_COLUMNS), dtype=float)], axis=1)
    # plain strings, as the per-vote path had them: no categories, no float32
    for column in ("model_a", "model_b", "winner", "judge", "source", "excluded_reason"):
        oracle[column] = oracle[column].astype(object).where(oracle[column].notna(), None)
    return oracle


def assert_same(left: Any, right: Any, path: str = "payload") -> None:
    """Equal structures; numbers equal within 1e-6 (ratings in Elo, coefficients, shares)."""
    if isinstance(left, dict):
        assert isinstance(right, dict) and set(left) == set(right), f"{path}: keys {set(left) ^ set(right)}"
        for key in left:
            assert_same(left[key], right[key], f"{path}.{key}")
    elif isinstance(left, list | tuple):
        assert isinstance(right, list | tuple) and len(left) == len(right), f"{path}: lengths differ"
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            assert_same(a, b, f"{path}[{index}]")
    elif isinstance(left, float) or isinstance(right, float):
        if left is None or right is None:
            assert left is right, f"{path}: {left!r} != {right!r}"
        elif math.isnan(left) or math.isnan(right):
            assert math.isnan(left) and math.isnan(right), f"{path}: {left!r} != {right!r}"
        else:
            assert left == pytest.approx(right, abs=1e-6, rel=0), f"{path}: {left!r} != {right!r}"
    else:
        assert left == right, f"{path}: {left!r} != {right!r}"


def test_the_narrow_read_builds_the_page_the_per_vote_computation_builds(storage: Store) -> None:
    populate(storage)
    narrow = storage.votes.read()
    oracle = per_vote_battles(storage)
    assert narrow[["prompt", "answer_a", "answer_b"]].isna().all().all(), "the refresh reads no answer text"
    assert len(narrow) == len(oracle) > 150
    assert oracle["category"].nunique() >= 4 and (oracle["excluded_reason"].notna()).any()

    fast = build_page_payload(narrow, {}, len(narrow), min_category_votes=5)
    slow = build_page_payload(oracle, {}, len(oracle), min_category_votes=5)

    fast.pop("generated_at"), slow.pop("generated_at")
    assert_same(fast, slow)
    views = fast["views"]
    assert any("style" in key for key in views) and any("judge:gpt-4" in key for key in views), list(views)
    assert sum(1 for key in views if "category" in key or ":" in key) >= 3, list(views)


def test_the_judge_audit_from_stored_facts_is_the_audit_from_the_texts(storage: Store) -> None:
    from leaderboard.judge_audit import audit_judges, render_markdown

    populate(storage)
    facts = storage.votes.read(audit=True)
    assert facts[["prompt", "answer_a", "answer_b"]].isna().all().all(), "no answer text read"
    texts = per_vote_battles(storage).drop(columns=["unique_a", "unique_b"])  # the audit computes them again

    from_facts, from_texts = audit_judges(facts), audit_judges(texts)

    # Every figure is the same; only the line saying where the answers came from differs (texts, or none).
    (read_from_facts,) = [line for line in from_facts.columns if line.startswith("answers:")]
    (read_from_texts,) = [line for line in from_texts.columns if line.startswith("answers:")]
    assert read_from_facts.startswith("answers: none") and read_from_texts.startswith("answers: answer_a")
    same_reading = dataclasses.replace(from_facts, columns=from_texts.columns)
    assert render_markdown(same_reading) == render_markdown(from_texts)
    assert from_facts.judges and from_facts.judges[0].unique_token_slope == from_texts.judges[0].unique_token_slope
    assert not math.isnan(from_facts.judges[0].unique_token_slope.value)


def test_a_vote_written_during_a_refresh_is_counted_by_the_next(storage: Store) -> None:
    populate(storage, battles=12)
    late = storage.battles.create(
        mode="anonymous", model_a="alpha", model_b="beta", swapped=False, params_a={}, params_b={},
        session_id="late", voter_id="late",
    )  # fmt: skip
    storage.battles.add_turn(late.id, NewTurn(user_message="hello", answer_a="a", answer_b="b"))
    written: list[int] = []

    def compute(mark: Any) -> dict[str, Any]:
        if not written:  # the vote lands after the watermark was read, before the votes are
            written.append(storage.battles.record_vote(battle_id=late.id, turn=1, winner="model_a", voter_id="x").id)
        battles = storage.votes.read(upto=mark.last_vote_id)
        return {"votes_total": mark.votes_total, "rows": len(battles)}

    service = SnapshotService("leaderboard", storage.snapshots, storage.votes.watermark, compute)
    first = service.refresh()
    assert first is not None and first.payload["rows"] == first.payload["votes_total"], "the snapshot is its mark"
    assert service.is_stale(first), "the vote written meanwhile makes the snapshot stale"
    second = service.refresh()
    assert second is not None and second.payload["rows"] == first.payload["rows"] + 1
    assert not service.is_stale(second)


def test_a_big_sqlite_read_in_a_child_process_gives_the_frame_the_driver_gives(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above store.columnar.SQLITE_CHILD_ROWS a SQLite file is read by ADBC in a process of its own; below it by
    the app's driver. Both give the same frame, and a column the child's driver cannot type (NULL for its first
    batch, text afterwards) still reads."""
    import store.columnar as columnar

    storage = Store.open(f"sqlite:///{tmp_path / 'arena.db'}")
    try:
        populate(storage, battles=40)
        in_process = storage.votes.read()
        read_by_child: list[bool] = []
        child = columnar._sqlite_in_child

        def recorded(database: str, sql: str) -> Any:
            batches = child(database, sql)
            read_by_child.append(batches is not None)
            return batches

        monkeypatch.setattr(columnar, "_sqlite_in_child", recorded)
        monkeypatch.setattr(columnar, "SQLITE_CHILD_ROWS", 0)
        pd.testing.assert_frame_equal(storage.votes.read(), in_process)
        assert read_by_child == [True], "the child read it, not the fallback"
        assert in_process["excluded_reason"].notna().any()
    finally:
        storage.dispose()


def test_the_sqlite_child_reads_what_it_is_given_or_refuses_with_nothing(tmp_path: Any) -> None:
    import sqlite3

    from store.columnar import _sqlite_in_child

    path = tmp_path / "mixed.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (id INTEGER, label TEXT)")
        connection.executemany("INSERT INTO t VALUES (?, ?)", [(i, None if i < 70_000 else "x") for i in range(70_010)])
    import pyarrow as pa

    batches = _sqlite_in_child(str(path), "SELECT id, coalesce(label, '') AS label FROM t ORDER BY id")
    assert batches is not None
    table = pa.Table.from_batches(batches)
    assert table.num_rows == 70_010 and table.column("label").to_pylist()[-10:] == ["x"] * 10
    # NULL for the driver's first batch, text after: refused as a whole, never half the rows
    assert _sqlite_in_child(str(path), "SELECT id, label FROM t ORDER BY id") is None
    assert _sqlite_in_child(str(path), "SELECT nothing FROM nowhere") is None
