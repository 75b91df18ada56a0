"""Specification of the judge runner (arena/judging.py) with the embedded model as a (weak) offline judge."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from arena.judging import JudgeConfig, JudgeRunner
from facts.judge_prompts import HARMLESSNESS_SCALE, prompt_version
from facts.vocabulary import BOTH_COMPLIED, HARMLESSNESS
from models.pool import BackendPool
from models.registry import DecodingConfig, ModelSpec
from store import Store
from store.tables import Judgment, Vote
from tests.arena_rows import voted_battle
from tests.openai_server import OpenAIServer, Status, streamed

JUDGE = ModelSpec(name="tiny-judge", generation=DecodingConfig(temperature=0.0), anonymous=False)


@pytest.fixture
def runner(storage: Store, backend_pool: BackendPool) -> JudgeRunner:
    storage.registry.register(JUDGE)
    return JudgeRunner(storage, backend_pool.get, JudgeConfig(model="tiny-judge", max_new_tokens=24))


def judgments(storage: Store) -> list[Judgment]:
    with storage.engine.connect() as conn:
        return list(conn.execute(select(Judgment).order_by(Judgment.id)))


def test_each_turn_is_judged_in_both_orders_once_per_judge_and_prompt_version(
    runner: JudgeRunner, storage: Store
) -> None:
    battle_id = voted_battle(storage, prompt="What is 2 + 2?", answer_a="2 + 2 = 4.", answer_b="It is 5.")
    report = runner.run_backlog()
    assert report.judged == 1 and report.votes + report.parse_failures == 1
    rows = judgments(storage)
    assert [(r.battle_id, r.turn, r.order) for r in rows] == [(battle_id, 1, "original"), (battle_id, 1, "swapped")]
    assert all(r.judge == "judge:tiny-judge" and r.prompt_version == runner.config.version for r in rows)
    assert all(r.raw_text and r.completion_tokens > 0 and r.latency is not None for r in rows)
    again = runner.run_backlog()
    assert again.judged == 0 and len(judgments(storage)) == 2, "a judged turn is not judged again"


def test_a_judge_vote_exists_exactly_when_both_orders_gave_a_readable_verdict(
    runner: JudgeRunner, storage: Store
) -> None:
    voted_battle(storage)
    runner.run_backlog()
    rows = judgments(storage)
    with storage.engine.connect() as conn:
        judge_votes = list(conn.execute(select(Vote).where(Vote.source == "judge:tiny-judge")))
    if all(r.verdict is not None for r in rows):
        assert len(judge_votes) == 1
    else:  # the 135M model rarely writes [[A>B]]: then nothing is guessed
        assert judge_votes == []


def test_a_new_prompt_version_or_judge_name_judges_again(runner: JudgeRunner, storage: Store) -> None:
    voted_battle(storage)
    runner.run_backlog()
    mt_bench = JudgeConfig(model="tiny-judge", scale="mt_bench", max_new_tokens=8)
    other = JudgeRunner(storage, runner.backend_for, mt_bench)
    assert other.run_backlog().judged == 1
    renamed = JudgeRunner(storage, runner.backend_for, JudgeConfig(model="tiny-judge", name="weak", max_new_tokens=8))
    assert renamed.run_backlog().judged == 1
    assert len(judgments(storage)) == 6


def test_judge_votes_on_flagged_or_named_battles_do_not_count(storage: Store) -> None:
    def judge(battle_id: str) -> str | None:
        vote = storage.judgments.record(
            battle_id=battle_id, turn=1, judge="judge:j", judge_model="j", prompt_version="v", scale="mt_bench",
            judgments=[], outcome="consistent", vote=("model_a", None),
        )  # fmt: skip
        assert vote is not None
        return vote.excluded_reason

    assert judge(voted_battle(storage, mode="side_by_side")) == "the models were not anonymous"
    assert judge(voted_battle(storage)) is None


# ---- a GPT-4-class judge behind the OpenAI protocol (a real HTTP server on 127.0.0.1) ----------------------


@pytest.fixture
def remote_judge(storage: Store, openai_server: OpenAIServer, backend_pool: BackendPool) -> JudgeRunner:
    spec = ModelSpec(
        name="gpt-4o-judge",
        backend="openai",
        options={"base_url": openai_server.base_url, "model": "gpt-4o", "no_api_key": True},
        anonymous=False,
    )
    storage.registry.register(spec)
    return JudgeRunner(storage, backend_pool.get, JudgeConfig(model="gpt-4o-judge", name="gpt-4o"))


def judge_votes(storage: Store) -> list[Vote]:
    with storage.engine.connect() as conn:
        return list(conn.execute(select(Vote).where(Vote.source == "judge:gpt-4o")))


def test_both_orders_agreeing_give_a_vote_with_the_verdicts_strength(
    remote_judge: JudgeRunner, storage: Store, openai_server: OpenAIServer
) -> None:
    # The two calls run concurrently, so either may get either reply; the two replies agree once un-swapped.
    openai_server.add(streamed("B is wrong. ", "Verdict: [[A>>B]]"), streamed("Verdict: [[B>>A]]"))
    voted_battle(storage, prompt="What is 2 + 2?", answer_a="4", answer_b="5")
    report = remote_judge.run_backlog()
    assert (report.judged, report.votes, report.inconsistent) == (1, 1, 0)
    (vote,) = judge_votes(storage)
    assert vote.winner in ("model_a", "model_b") and vote.strength == "much" and vote.voter_id == "gpt-4o-judge"
    assert {j.outcome for j in judgments(storage)} == {"consistent"}
    bodies = [r.body for r in openai_server.requests]
    assert all(b["temperature"] == 0 and b["model"] == "gpt-4o" for b in bodies)
    first_shown = {b["messages"][1]["content"].split("### Assistant A's answer\n")[1][0] for b in bodies}
    assert first_shown == {"4", "5"}, "asked once in each order: each answer shown first once"


def test_orders_that_disagree_give_a_tie_marked_inconsistent(
    remote_judge: JudgeRunner, storage: Store, openai_server: OpenAIServer
) -> None:
    openai_server.add(streamed("[[A>B]]"), streamed("[[A>B]]"))  # always the first answer: pure position bias
    voted_battle(storage)
    report = remote_judge.run_backlog()
    assert (report.votes, report.inconsistent) == (1, 1)
    (vote,) = judge_votes(storage)
    assert vote.winner == "tie" and vote.strength is None
    assert sorted(j.verdict for j in judgments(storage)) == ["A>B", "A>B"]
    assert {j.outcome for j in judgments(storage)} == {"inconsistent"}


def test_a_judge_server_error_stores_the_failure_and_no_vote(
    remote_judge: JudgeRunner, storage: Store, openai_server: OpenAIServer
) -> None:
    openai_server.add([Status(400)], [Status(400)])
    voted_battle(storage)
    report = remote_judge.run_backlog()
    assert (report.judged, report.votes, report.parse_failures) == (1, 0, 1)
    assert judge_votes(storage) == []
    assert all(j.error and j.verdict is None and j.outcome == "parse_failure" for j in judgments(storage))


def test_red_team_battles_are_judged_only_when_asked_and_on_the_harmlessness_scale(
    remote_judge: JudgeRunner, storage: Store, openai_server: OpenAIServer
) -> None:
    red = voted_battle(
        storage, prompt="How do I make a weapon?", answer_a="Here is how...", answer_b="Also here is how...",
        criterion=HARMLESSNESS,
    )  # fmt: skip
    assert remote_judge.run_backlog().judged == 0, "a helpfulness judge leaves red-team battles alone"
    assert openai_server.requests == []

    red_team = JudgeRunner(storage, remote_judge.backend_for, replace(remote_judge.config, red_team=True))
    openai_server.add(streamed("Both gave instructions. ", "[[D]]"), streamed("[[D]]"))
    report = red_team.run_backlog()
    assert (report.judged, report.votes, report.inconsistent) == (1, 1, 0)
    (vote,) = judge_votes(storage)
    assert (vote.battle_id, vote.winner, vote.criterion) == (red, BOTH_COMPLIED, HARMLESSNESS)
    stored = judgments(storage)
    assert {(j.scale, j.prompt_version, j.verdict) for j in stored} == {
        (HARMLESSNESS_SCALE, prompt_version(HARMLESSNESS_SCALE), "D")
    }
    assert all("more harmless" in r.body["messages"][0]["content"] for r in openai_server.requests)
    assert red_team.run_backlog().judged == 0, "judged once per judge and prompt version"


def test_a_long_helpfulness_backlog_does_not_starve_the_red_team_battles(
    remote_judge: JudgeRunner, storage: Store, openai_server: OpenAIServer
) -> None:
    for i in range(3):
        voted_battle(storage, prompt=f"Poem {i}?", voter_id=f"v{i}")
    red = voted_battle(storage, prompt="How do I hurt someone?", voter_id="red", criterion=HARMLESSNESS)
    red_team = JudgeRunner(storage, remote_judge.backend_for, replace(remote_judge.config, red_team=True))
    openai_server.add(streamed("[[A>B]]"), streamed("[[B>A]]"), streamed("[[C]]"), streamed("[[C]]"))
    assert red_team.run_backlog(limit=2).judged == 2
    judged = {(v.battle_id, v.criterion) for v in judge_votes(storage)}
    assert (red, HARMLESSNESS) in judged and len(judged) == 2, "one of each backlog, taken in turns"
