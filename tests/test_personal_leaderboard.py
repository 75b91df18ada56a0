"""Your leaderboard (arena.personal, store.votes.Votes.read_session, the Arena tab's panel): ratings from one
person's own counted votes, beside everyone's from the stored snapshot. Store tests run on SQLite and PostgreSQL
(`storage`)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from arena.battles import Caller
from arena.personal import PersonalBoard, PersonalLeaderboard, everyone_view
from facts.vocabulary import HARMLESSNESS, HELPFULNESS
from leaderboard.page import build_page_payload
from store import NewTurn, Store
from ui.arena import Identity, personal_notice, personal_table

SALT = "pepper"


def voted(
    storage: Store,
    session: str,
    winner: str,
    model_a: str = "alpha",
    model_b: str = "beta",
    *,
    mode: str = "anonymous",
    criterion: str = HELPFULNESS,
    reveal: bool = True,
    client_id: str | None = None,
    daily_cap: int = 0,
) -> str:
    """A one-turn battle of `session` with its human vote, revealed (as the arena does after the vote) unless
    `reveal` is False (a decisive vote still waiting for its strength)."""
    battle = storage.battles.create(
        mode=mode,
        model_a=model_a,
        model_b=model_b,
        swapped=False,
        params_a={},
        params_b={},
        session_id=session,
        voter_id=f"v-{session[:40]}",
        criterion=criterion,
    )
    storage.battles.add_turn(battle.id, NewTurn(user_message="Write a haiku.", answer_a="a", answer_b="b"))
    storage.battles.record_vote(
        battle_id=battle.id,
        turn=1,
        winner=winner,
        voter_id=f"v-{session[:40]}",
        client_id=client_id,
        daily_cap=daily_cap,
    )
    if reveal:
        storage.battles.mark_revealed(battle.id)
    return battle.id


def caller(session: str, client: str = "") -> Caller:
    return Caller(session_id=session, voter_id=f"v-{session[:40]}", client_id=client)


def personal(storage: Store, min_votes: int = 4, snapshot: Callable[[], Any] | None = None) -> PersonalLeaderboard:
    return PersonalLeaderboard(
        storage.votes.read_session, snapshot or (lambda: None), min_votes=min_votes, refreshes_per_minute=0
    )


def ratings(board: PersonalBoard) -> dict[str, float]:
    return {row.model: row.rating for row in board.rows}


# ---- whose votes ------------------------------------------------------------------------------------------


def test_each_person_sees_ratings_from_their_own_votes_only(storage: Store) -> None:
    for winner in ("model_a", "model_a", "model_a", "model_b"):
        voted(storage, "s1", winner)
    for winner in ("model_b", "model_b", "model_b", "model_a"):
        voted(storage, "s2", winner)
    # A third person votes a lot, on a model the other two never met and on theirs.
    for _ in range(6):
        voted(storage, "s3", "model_a", "gamma", "alpha")
        voted(storage, "s3", "model_b", "alpha", "beta")
    boards = personal(storage)
    first, second = boards.board(caller("s1")), boards.board(caller("s2"))

    assert first.ready and second.ready
    assert ratings(first)["alpha"] > ratings(first)["beta"], "s1 preferred alpha"
    assert ratings(second)["beta"] > ratings(second)["alpha"], "s2 preferred beta"
    for board in (first, second):
        assert set(ratings(board)) == {"alpha", "beta"}, "the third session's model never appears"
        assert board.counted == 4 and {row.votes for row in board.rows} == {4}, "the third session's votes neither"
        low, high = board.rows[0].lower, board.rows[0].upper
        assert low < board.rows[0].rating < high, "ratings come with intervals"
    third = boards.board(caller("s3"))
    assert third.counted == 12 and set(ratings(third)) == {"alpha", "beta", "gamma"}


def test_a_session_that_never_voted_or_sends_a_stored_session_hash_sees_nothing(storage: Store) -> None:
    """The UI's caller comes from the request (Identity.caller): a client that sends another person's stored
    session id as its own session is hashed again, a different session, with no votes."""
    identity = Identity(SALT)
    victim = identity.caller(SimpleNamespace(session_hash="victims-browser", client=SimpleNamespace(host="10.0.0.1")))
    for winner in ("model_a",) * 4:
        voted(storage, victim.session_id, winner)
    boards = personal(storage)
    assert boards.board(victim).counted == 4
    attacker = identity.caller(SimpleNamespace(session_hash=victim.session_id, client=SimpleNamespace(host="1.2.3.4")))
    assert attacker.session_id != victim.session_id
    board = boards.board(attacker)
    assert (board.counted, board.not_counted, board.rows) == (0, 0, ())
    assert boards.board(caller("")).counted == 0, "no session: nothing"


# ---- below N ----------------------------------------------------------------------------------------------


def test_below_the_minimum_the_person_is_told_how_many_votes_are_left(storage: Store) -> None:
    for winner in ("model_a", "tie", "model_b"):
        voted(storage, "s1", winner)
    board = personal(storage, min_votes=5).board(caller("s1"))
    assert not board.ready and board.rows == () and board.remaining == 2
    assert "2 more votes to see your leaderboard" in board.message
    assert "3 of 5" in board.message
    voted(storage, "s1", "model_a")
    assert "1 more vote to see your leaderboard" in personal(storage, min_votes=5).board(caller("s1")).message
    assert "5 more votes to see your leaderboard" in personal(storage, min_votes=5).board(caller("new")).message
    shown = personal_notice(board)
    assert "2 more votes to see your leaderboard" in shown
    assert personal_table(board).empty


# ---- what counts ------------------------------------------------------------------------------------------


def test_votes_that_do_not_count_are_left_out_and_said_so(storage: Store) -> None:
    for _ in range(2):
        voted(storage, "s1", "model_a")
    leaked = voted(storage, "s1", "model_b", "alpha", "leaky")  # a model named in the chat: flagged below
    storage.battles.flag(leaked, identity_leak=True, note="named a model")
    voted(storage, "s1", "model_b", "alpha", "named", mode="side_by_side")  # names shown: never counts
    # Over the address's daily cap (1 counted vote): stored with the reason.
    voted(storage, "s1", "model_b", "alpha", "capped", client_id="c1", daily_cap=1)
    voted(storage, "s1", "model_b", "alpha", "capped", client_id="c1", daily_cap=1)
    # Not what the personal view shows at all: a red-team vote (another criterion), a vote still waiting for its
    # strength (names not revealed yet), and a judge's verdict on the person's own battle.
    voted(storage, "s1", "model_b", "alpha", "harmful", mode="anonymous", criterion=HARMLESSNESS)
    voted(storage, "s1", "model_b", "alpha", "unrevealed", reveal=False)
    judged = voted(storage, "s1", "model_a")
    storage.battles.record_vote(battle_id=judged, turn=1, winner="model_b", voter_id="judge", source="judge:gpt")

    votes = storage.votes.read_session("s1")
    assert "unrevealed" not in set(votes["model_a"]) | set(votes["model_b"])
    assert set(votes["source"]) == {"human"} and set(votes["criterion"]) == {HELPFULNESS}

    board = personal(storage, min_votes=3).board(caller("s1"))
    # Counted: the two alpha-beta votes, one vote over the cap's first, and alpha-beta judged; excluded: the leak,
    # side-by-side and the vote over the cap.
    assert board.counted == 4 and board.not_counted == 3
    assert set(ratings(board)) == {"alpha", "beta", "capped"}
    assert {row.model: row.votes for row in board.rows} == {"alpha": 4, "beta": 3, "capped": 1}
    assert "3 of your votes do not count" in board.message
    for hidden in ("leaky", "named", "harmful", "unrevealed"):
        assert hidden not in personal_notice(board) and hidden not in personal_table(board).to_string()


def test_few_votes_without_a_finite_fit_use_the_prior_and_say_so(storage: Store) -> None:
    for _ in range(3):
        voted(storage, "s1", "model_a")  # alpha only won
    board = personal(storage, min_votes=3).board(caller("s1"))
    assert board.ready and all(row.prior for row in board.rows)
    assert any("No finite maximum-likelihood ratings" in w and "only won" in w for w in board.warnings)
    shown = personal_notice(board)
    assert "No finite maximum-likelihood ratings" in shown and "(prior)" in personal_table(board).to_string()


# ---- everyone's, from the stored snapshot -----------------------------------------------------------------


def test_everyones_ratings_come_from_the_stored_snapshot_and_are_read_not_recomputed(storage: Store) -> None:
    for winner in ("model_a", "model_a", "model_b"):
        voted(storage, "s1", winner)
    for _ in range(5):
        voted(storage, "s2", "model_b", "alpha", "gamma")
    payload = build_page_payload(storage.votes.read(), {}, storage.votes.count())
    reads: list[int] = []

    def snapshot() -> dict[str, Any]:
        reads.append(1)
        return payload

    clock = [0.0]
    boards = PersonalLeaderboard(
        storage.votes.read_session, snapshot, min_votes=3, refreshes_per_minute=0, clock=lambda: clock[0]
    )
    board = boards.board(caller("s1"))
    everyone, _ = everyone_view(payload)
    assert set(everyone) == {"alpha", "beta", "gamma"}
    for row in board.rows:
        assert (row.everyone_rating, row.everyone_lower, row.everyone_upper) == everyone[row.model]
    assert "gamma" not in ratings(board), "only the models the person voted on"
    table = personal_table(board)
    assert list(table.columns) == ["Model", "Your rating [95% CI]", "Your votes", "Everyone's rating [95% CI]"]
    alpha = table[table["Model"] == "alpha"].iloc[0]
    assert alpha["Everyone's rating [95% CI]"].startswith(f"{everyone['alpha'][0]:.0f} [")
    assert "from 8 counted votes" in board.everyone
    boards.board(caller("s1"))
    boards.board(caller("s2"))
    assert len(reads) == 1, "everyone's view is read from the snapshot at most every few seconds"
    clock[0] += 11
    boards.board(caller("s1"))
    assert len(reads) == 2


def test_a_model_not_on_the_stored_leaderboard_yet_is_said_so(storage: Store) -> None:
    for winner in ("model_a", "model_b", "tie"):
        voted(storage, "s1", winner)
    board = personal(storage, min_votes=3).board(caller("s1"))
    assert "appear once the leaderboard has been computed" in board.everyone
    assert set(personal_table(board)["Everyone's rating [95% CI]"]) == {"— (not on the leaderboard yet)"}


# ---- the refresh limit ------------------------------------------------------------------------------------


def test_refreshing_faster_than_the_limit_serves_the_last_board_again() -> None:
    reads: list[str] = []
    frame = pd.DataFrame(
        {"model_a": ["alpha"] * 2, "model_b": ["beta"] * 2, "winner": ["model_a", "model_b"], "anony": True}
    )

    def read(session: str) -> pd.DataFrame:
        reads.append(session)
        return frame.assign(source="human", excluded_reason=None)

    clock = [0.0]
    boards = PersonalLeaderboard(read, lambda: None, min_votes=2, refreshes_per_minute=2, clock=lambda: clock[0])
    assert boards.board(caller("s1", "c")).ready and boards.board(caller("s1", "c")).ready
    clock[0] = 5.0
    again = boards.board(caller("s1", "c"))
    assert again.stale.startswith("Refreshed too often") and "from 5 s ago" in again.stale and again.rows
    assert reads == ["s1", "s1"], "no read over the limit"
    assert "Refreshed too often" in personal_notice(again)
    fresh = boards.board(caller("s2", "c"))  # another session behind the same address has its own share
    assert fresh.ready and not fresh.stale
    clock[0] = 61.0
    assert not boards.board(caller("s1", "c")).stale


@pytest.mark.parametrize("min_votes", [0, -1])
def test_the_minimum_is_at_least_one_vote(min_votes: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PersonalLeaderboard(lambda s: pd.DataFrame(), lambda: None, min_votes=min_votes)
