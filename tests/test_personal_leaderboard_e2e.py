"""End to end: "Your leaderboard" in the real app (Gradio server, SQLite, the embedded model), driven over HTTP by
gradio_client sessions as a browser would, with ARENA_PERSONAL_MIN_VOTES set to 2."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client

from app import ArenaApp
from facts.vocabulary import HUMAN
from leaderboard.page import view_key
from settings import Settings
from tests.served_app import free_port, served


@pytest.fixture(scope="module")
def running_app(tmp_path_factory: pytest.TempPathFactory, converted_model: Any) -> Iterator[tuple[str, ArenaApp]]:
    data_dir: Path = tmp_path_factory.mktemp("personal-app-data")
    settings = Settings(
        data_dir=data_dir,
        model_cache_dir=converted_model.cache_dir,
        max_new_tokens=8,
        port=free_port(),
        judge_model="",
        personal_min_votes=2,  # the setting under test (ARENA_PERSONAL_MIN_VOTES), small for a short test
    )
    with served(settings) as app:
        yield app.url, app.arena


def text(markup: Any) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", str(markup)))


def revealed(outputs: tuple[Any, ...]) -> set[str]:
    notice = next(o for o in outputs if isinstance(o, str) and "was" in o)
    return set(re.findall(r"<strong>Model [AB]</strong> was <strong>([^<]+)</strong>", notice))


def yours(client: Client) -> tuple[str, list[list[Any]]]:
    notice, table = client.predict(api_name="/personal_leaderboard")
    if isinstance(table, dict) and table.get("__type__") == "update":  # the table is shown or hidden with its rows
        table = table.get("value")
    return text(notice), (table or {}).get("data") or []


def test_after_n_votes_a_person_sees_their_own_leaderboard_and_nobody_elses(
    running_app: tuple[str, ArenaApp],
) -> None:
    url, arena = running_app
    person, other = Client(url, verbose=False), Client(url, verbose=False)
    assert "2 more votes to see your leaderboard" in yours(person)[0]

    person.predict("Name a fruit.", api_name="/send")
    first = revealed(person.predict(api_name="/vote_tie"))  # a tie reveals the names at once
    notice, rows = yours(person)
    assert "1 more vote to see your leaderboard" in notice and rows == []

    person.predict(api_name="/new_round")
    person.predict("Name a color.", api_name="/send")
    person.predict(api_name="/vote_a")
    notice, rows = yours(person)
    assert "1 more vote to see your leaderboard" in notice, "a vote waiting for its strength shows no names yet"
    second = revealed(person.predict(api_name="/strength_much"))

    arena.leaderboard.refresh(force=True)  # what the scheduler does; the personal view only reads it
    everyone = {row["model"]: row for row in arena.leaderboard.read()["views"][view_key(HUMAN, None, False)]["rows"]}
    notice, rows = yours(person)
    assert "Your ratings from your 2 counted votes" in notice
    models = {row[0] for row in rows}
    assert models == first | second, "exactly the models of the person's revealed votes"
    for model, rating, votes, theirs in rows:
        assert re.fullmatch(r"\d+ \[\d+, \d+\]( \(prior\))?", rating), rating
        assert votes == (model in first) + (model in second)
        assert theirs.startswith(f"{everyone[model]['rating']:.0f} ["), "everyone's from the stored snapshot"

    notice, rows = yours(other)
    assert "2 more votes to see your leaderboard" in notice and rows == [], "another session sees none of it"
