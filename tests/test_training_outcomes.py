"""Did training help? Each registered checkpoint against its base, read from the stored snapshot and runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from facts.schema import normalize_battles
from leaderboard.page import build_page_payload
from leaderboard.training_outcomes import outcomes_table, training_outcomes
from models.registry import ModelSpec
from store import NewTrainingRun, Store
from store.views import VoteWatermark
from training.checkpoints import contender_spec
from training.evaluate import main


def _payload(new_wins: int, base_wins: int, others: int = 40) -> dict[str, Any]:
    """Human votes: new vs base head to head, and both against a third model, alternating sides."""
    rows = []
    for i in range(new_wins + base_wins):
        a, b = ("new", "base") if i % 2 else ("base", "new")
        winner_is_new = i < new_wins
        rows.append({"model_a": a, "model_b": b, "winner": "model_a" if (a == "new") == winner_is_new else "model_b"})
    for i in range(others):
        for model in ("new", "base"):
            rows.append({"model_a": model, "model_b": "other", "winner": "model_a" if i % 2 else "model_b"})
    frame = normalize_battles(pd.DataFrame(rows))
    return build_page_payload(frame, {}, len(frame))


def _run(report: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "id": "run-1",
        "kind": "rlhf",
        "method": "dpo",
        "gate_passed": True,
        "registered_model": "new",
        "finished_at": "2026-12-03T12:00:00+00:00",
        "report": report
        or {"evaluation": {"policy_vs_base": {"mean_reward_gain": 0.25, "prompts": 12}}, "registration": {}},
        **fields,
    }


def test_a_checkpoint_that_beats_its_base_head_to_head_helped() -> None:
    (outcome,) = training_outcomes([_run()], {"new": "base"}, _payload(new_wins=80, base_wins=20))
    assert outcome.head_to_head is not None
    assert (outcome.head_to_head.votes, outcome.head_to_head.score) == (100, pytest.approx(0.8))
    assert (round(outcome.head_to_head.low, 4), round(outcome.head_to_head.high, 4)) == (0.7112, 0.8666)  # Wilson
    assert outcome.verdict == "helped: beats base head to head"
    assert outcome.rating is not None and outcome.base_rating is not None
    assert outcome.rating.rating > outcome.base_rating.rating
    assert outcome.training_gain == "reward +0.250 over base on 12 held-out prompts"
    assert outcome.judged == "—"  # no checkpoint evaluation stored yet


def test_the_judges_view_is_shown_once_the_checkpoint_was_judged() -> None:
    judged = {"judge": "gpt-4o-judge", "summary": {"all": {"judged": 40,
              "win_rate": {"estimate": 0.65, "low": 0.5, "high": 0.78, "n": 40},
              "length_controlled_win_rate": {"estimate": 0.58, "low": 0.41, "high": 0.73, "n": 40}}}}  # fmt: skip
    report = {"evaluation": {}, "registration": {}, "checkpoint_evaluation": judged}
    (outcome,) = training_outcomes([_run(report)], {"new": "base"}, None)
    assert outcome.judged == "65% [50%, 78%], length-controlled 58% [41%, 73%] by gpt-4o-judge on 40 prompts"


def test_a_checkpoint_that_loses_hurt_and_one_with_few_votes_is_not_known_yet() -> None:
    (hurt,) = training_outcomes([_run()], {"new": "base"}, _payload(new_wins=15, base_wins=85))
    assert hurt.verdict == "hurt: loses to base head to head"
    (unknown,) = training_outcomes([_run()], {"new": "base"}, _payload(new_wins=3, base_wins=2, others=4))
    assert unknown.verdict == "not known yet: 5 head-to-head votes with base, intervals overlap"


def test_no_votes_no_base_and_forced_registrations_are_said_plainly() -> None:
    forced = {"evaluation": {}, "registration": {"forced": True, "reason": "demo"}}
    (fresh,) = training_outcomes([_run(forced, gate_passed=False)], {"new": "base"}, None)
    assert (fresh.rating, fresh.head_to_head, fresh.forced_reason) == (None, None, "demo")
    assert fresh.verdict.startswith("not known yet: 0 head-to-head votes")
    columns, rows = outcomes_table([fresh])
    row = dict(zip(columns, rows[0], strict=True))
    assert (row["Arena rating"], row["Gate"], row["Training measured"]) == ("no votes yet", "forced: demo", "—")
    (orphan,) = training_outcomes([_run()], {"new": None}, None)
    assert orphan.verdict == "no base named: nothing to compare with"
    assert training_outcomes([_run(registered_model=None)], {}, None) == ()  # runs that registered nothing


def test_the_cli_reads_the_stored_runs_registry_and_snapshot(storage: Store, db_url: str) -> None:
    storage.registry.sync([ModelSpec(name="base"), ModelSpec(name="other")])
    (like,) = [s for s in storage.registry.models() if s.name == "base"]
    spec = contender_spec(Path("/tmp/merged"), like=like, description="d", provenance="p", prefix="new")
    run = NewTrainingRun("rlhf", "cpu-smoke", "/tmp/run", True, _run()["report"], datetime.now(UTC), "dpo")
    stored = storage.training_runs.record(run, spec, version_prefix="new")
    payload = json.loads(json.dumps(_payload(80, 20)).replace('"new"', f'"{stored.registered_model}"'))
    storage.snapshots.save(payload, VoteWatermark(last_vote_id=0, votes_total=180, excluded_total=0), 0.1)
    messages: list[str] = []
    assert main(["outcomes", "--db", db_url, "--format", "json"], echo=messages.append) == 0
    (outcome,) = json.loads(messages[0])["outcomes"]
    assert (outcome["model"], outcome["base"]) == ("new-v1", "base")
    assert outcome["verdict"] == "helped: beats base head to head"
    messages.clear()
    assert main(["outcomes", "--db", db_url], echo=messages.append) == 0
    assert messages[0].startswith("| Checkpoint | Base |") and "new-v1" in messages[2]


def test_the_cli_refuses_a_database_that_is_not_there(tmp_path: Path) -> None:
    messages: list[str] = []
    assert main(["outcomes", "--db", f"sqlite:///{tmp_path}/missing.db"], echo=messages.append) == 2
    assert messages[0].startswith("error: no database file")
