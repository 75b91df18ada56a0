"""Real arena rows for tests, written through the arena's own storage code."""

from __future__ import annotations

from facts.vocabulary import HELPFULNESS
from store import NewTurn, Store


def voted_battle(
    storage: Store,
    winner: str = "model_a",
    *,
    model_a: str = "alpha",
    model_b: str = "beta",
    prompt: str = "Write a haiku.",
    answer_a: str = "a",
    answer_b: str = "b",
    voter_id: str = "v",
    mode: str = "anonymous",
    client_id: str | None = None,
    network_id: str | None = None,
    criterion: str = HELPFULNESS,
    harm_category: str | None = None,
) -> str:
    """A one-turn battle with a human vote on it; returns the battle id."""
    battle = storage.battles.create(
        mode=mode,
        model_a=model_a,
        model_b=model_b,
        swapped=False,
        params_a={},
        params_b={},
        session_id="s",
        voter_id=voter_id,
        criterion=criterion,
    )
    storage.battles.add_turn(battle.id, NewTurn(user_message=prompt, answer_a=answer_a, answer_b=answer_b))
    storage.battles.record_vote(
        battle_id=battle.id,
        turn=1,
        winner=winner,
        voter_id=voter_id,
        client_id=client_id,
        network_id=network_id,
        harm_category=harm_category,
    )
    return battle.id
