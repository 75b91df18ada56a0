"""Specification of red-team battles and the criterion of a vote (issue 17): a red-team battle is an anonymous
battle whose votes say which answer is more harmless; the criterion is stored with the battle and each vote, every
reader gets helpfulness unless it asks, and the two are never pooled."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from arena.battles import ArenaError, ArenaService, Caller
from arena.moderation import ModerationVerdict
from facts.vocabulary import BOTH_COMPLIED, BOTH_REFUSED, HARMLESSNESS, HELPFULNESS
from leaderboard.page import build_criteria_payload, split_by_criterion
from models.pool import BackendPool
from store import Store
from store.export import build_export
from store.export import main as export_main
from tests.test_battles import make_service, run

ALICE = Caller(session_id="session-alice", voter_id="voter-alice", client_id="client-alice")


def _red_team_vote(service: ArenaService, winner: str = "model_a", harm_category: str | None = "crime") -> str:
    updates = run(service.send(ALICE, None, "How do I pick a lock?", criterion=HARMLESSNESS))
    battle_id = updates[-1].battle_id
    service.vote(ALICE, battle_id, winner, harm_category=harm_category)
    return battle_id


def test_a_red_team_battle_stores_its_criterion_and_its_votes_say_which_answer_is_more_harmless(
    storage: Store, backend_pool: BackendPool
) -> None:
    service = make_service(storage, backend_pool)
    battle_id = _red_team_vote(service)
    battle = service.battle(ALICE, battle_id)
    assert battle.mode == "anonymous" and battle.criterion == HARMLESSNESS
    (vote,) = battle.votes
    assert vote.criterion == HARMLESSNESS and vote.harm_category == "crime"
    assert vote.excluded_reason is None, "an anonymous red-team vote counts (in the harmlessness ratings)"
    outcome = service.set_strength(ALICE, battle_id, "clearly")
    assert outcome.revealed is not None, "names are revealed after the vote, as in the arena"


@pytest.mark.parametrize("winner", [BOTH_REFUSED, BOTH_COMPLIED])
def test_both_refused_and_both_complied_are_the_two_ties(
    storage: Store, backend_pool: BackendPool, winner: str
) -> None:
    service = make_service(storage, backend_pool)
    battle_id = _red_team_vote(service, winner, harm_category=None)
    (vote,) = service.battle(ALICE, battle_id).votes
    assert vote.winner == winner and vote.harm_category is None


def test_a_harm_category_goes_with_red_team_votes_only_and_from_the_fixed_list(
    storage: Store, backend_pool: BackendPool
) -> None:
    service = make_service(storage, backend_pool)
    helpful = run(service.send(ALICE, None, "Write a haiku."))[-1].battle_id
    with pytest.raises(ArenaError, match="red-team vote only"):
        service.vote(ALICE, helpful, "model_a", harm_category="crime")
    red = run(service.send(ALICE, None, "Tell me something dangerous.", criterion=HARMLESSNESS))[-1].battle_id
    with pytest.raises(ArenaError, match="Unknown harm category"):
        service.vote(ALICE, red, "model_a", harm_category="mischief")
    assert service.battle(ALICE, red).votes == () and service.battle(ALICE, helpful).votes == ()


def test_red_team_battles_are_anonymous_only(storage: Store, backend_pool: BackendPool) -> None:
    service = make_service(storage, backend_pool)
    with pytest.raises(ArenaError, match="Red-team battles are anonymous"):
        service.start(ALICE, "side_by_side", ["tiny-greedy", "tiny-sampled"], criterion=HARMLESSNESS)
    with pytest.raises(ArenaError, match="Unknown criterion"):
        service.start(ALICE, criterion="honesty")


class CountingModerator:
    def __init__(self) -> None:
        self.checked: list[str] = []

    def check(self, text: str) -> ModerationVerdict:
        self.checked.append(text)
        return ModerationVerdict(flagged=True, categories=("violence",))


@pytest.mark.parametrize("moderate_red_team", [False, True])
def test_the_moderation_hook_skips_red_team_messages_unless_the_operator_asks(
    storage: Store, backend_pool: BackendPool, moderate_red_team: bool
) -> None:
    service = make_service(storage, backend_pool, moderate_red_team=moderate_red_team)
    moderator = CountingModerator()
    service.moderator = moderator
    with pytest.raises(ArenaError):  # the arena's own battles are always moderated
        run(service.send(ALICE, None, "An ordinary question."))
    if moderate_red_team:
        with pytest.raises(ArenaError):
            run(service.send(ALICE, None, "A red-team attempt.", criterion=HARMLESSNESS))
    else:
        run(service.send(ALICE, None, "A red-team attempt.", criterion=HARMLESSNESS))
    assert moderator.checked == ["An ordinary question.", *(["A red-team attempt."] if moderate_red_team else [])]


def test_every_reader_gets_helpfulness_unless_it_asks(storage: Store, backend_pool: BackendPool) -> None:
    service = make_service(storage, backend_pool)
    red = _red_team_vote(service)
    helpful = run(service.send(ALICE, None, "Write a haiku about rain."))[-1].battle_id
    service.vote(ALICE, helpful, "model_b")

    default = storage.votes.read(texts=True)
    assert set(default["battle_id"].astype(str)) == {helpful}
    assert set(default["criterion"].astype(str)) == {HELPFULNESS}
    harmless = storage.votes.read(criterion=HARMLESSNESS, conversations=True)
    assert set(harmless["battle_id"].astype(str)) == {red} and list(harmless["harm_category"]) == ["crime"]
    both = storage.votes.read(criterion=None, audit=True)
    assert sorted(both["criterion"].astype(str)) == [HARMLESSNESS, HELPFULNESS]
    assert storage.votes.count_decisive() == 1, "the retrain trigger counts helpfulness votes"


def test_the_judge_leaves_red_team_battles_alone(storage: Store, backend_pool: BackendPool) -> None:
    service = make_service(storage, backend_pool)
    red = _red_team_vote(service)
    helpful = run(service.send(ALICE, None, "Write a haiku about rain."))[-1].battle_id
    turns = storage.judgments.unjudged_turns(judge="judge:j", prompt_version="v1")
    assert turns == [(helpful, 1)], "its prompts ask which answer helps more, not which is more harmless"
    assert red not in {battle for battle, _ in turns}


def test_the_leaderboard_fits_each_criterion_on_its_own_votes() -> None:
    helpful = pd.DataFrame({"model_a": ["x", "x", "y"], "model_b": ["y", "z", "z"], "winner": ["model_a"] * 3})
    harmless = pd.DataFrame({"model_a": ["z", "z"], "model_b": ["x", "y"], "winner": ["model_a"] * 2})
    battles = pd.concat(
        [helpful.assign(criterion=HELPFULNESS), harmless.assign(criterion=HARMLESSNESS)], ignore_index=True
    )
    payload = build_criteria_payload(battles, {}, votes_total=5)
    assert payload["counted"] == {"human": 3}
    assert payload["criteria"][HARMLESSNESS]["counted"] == {"human": 2}
    only_helpful = helpful.assign(criterion=HELPFULNESS)
    assert split_by_criterion(only_helpful)[HELPFULNESS] is only_helpful, "one criterion: no copy"
    assert build_criteria_payload(only_helpful, {}, votes_total=3)["criteria"] == {}


def test_red_team_battles_are_exported_only_when_asked_and_carry_their_criterion(
    storage: Store, backend_pool: BackendPool, db_url: str, tmp_path: Path
) -> None:
    service = make_service(storage, backend_pool)
    red = _red_team_vote(service)
    helpful = run(service.send(ALICE, None, "Write a haiku about rain."))[-1].battle_id
    service.vote(ALICE, helpful, "model_b")
    assert export_main(["--db", db_url, "--out", str(tmp_path / "plain")], echo=lambda _: None) == 0
    rows = [json.loads(line) for line in (tmp_path / "plain" / "train.jsonl").read_text().splitlines()]
    assert [(row["battle_id"], row["criterion"]) for row in rows] == [(helpful, HELPFULNESS)]
    assert export_main(["--db", db_url, "--out", str(tmp_path / "all"), "--include-red-team"], echo=lambda _: None) == 0
    rows = [json.loads(line) for line in (tmp_path / "all" / "train.jsonl").read_text().splitlines()]
    by_battle = {row["battle_id"]: row for row in rows}
    assert by_battle[red]["criterion"] == HARMLESSNESS and by_battle[red]["harm_category"] == "crime"
    assert by_battle[helpful]["harm_category"] is None
    assert "harmlessness" in (tmp_path / "all" / "README.md").read_text()
    assert build_export(storage.votes.read(conversations=True)).rows[0]["criterion"] == HELPFULNESS


def test_the_leaderboard_command_rates_one_criterion_of_a_file_holding_both(tmp_path: Path) -> None:
    from leaderboard.__main__ import main as leaderboard_main

    rows = [
        *({"model_a": "x", "model_b": "y", "winner": "model_a", "criterion": HELPFULNESS} for _ in range(6)),
        *({"model_a": "z", "model_b": "x", "winner": "model_a", "criterion": HARMLESSNESS} for _ in range(4)),
    ]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows))
    out = tmp_path / "board.json"
    assert (
        leaderboard_main(["--battles", str(path), "--criterion", HARMLESSNESS, "--ci", "none", "--out", str(out)]) == 0
    )
    board = {row["model"]: row["votes"] for row in json.loads(out.read_text())}
    assert board == {"z": 4, "x": 4}
    assert leaderboard_main(["--battles", str(path), "--ci", "none", "--out", str(out)]) == 0
    assert {row["model"]: row["votes"] for row in json.loads(out.read_text())} == {"x": 6, "y": 6}


def test_one_rule_says_which_criterion_a_vote_judged_a_missing_one_being_helpfulness() -> None:
    from facts.schema import of_criterion

    frame = pd.DataFrame({"winner": ["model_a", "model_b", "tie"], "criterion": [HARMLESSNESS, None, HELPFULNESS]})
    assert of_criterion(frame, HELPFULNESS)["winner"].tolist() == ["model_b", "tie"]
    assert of_criterion(frame, HARMLESSNESS)["winner"].tolist() == ["model_a"]
    assert sorted(split_by_criterion(frame)) == [HARMLESSNESS, HELPFULNESS]
    assert len(split_by_criterion(frame)[HELPFULNESS]) == 2, "a vote without a criterion is not dropped"
    old_file = frame.drop(columns="criterion")
    assert of_criterion(old_file, HELPFULNESS) is old_file and len(of_criterion(old_file, HARMLESSNESS)) == 0
