"""The Red team tab and the leaderboard's criterion selector, through the real app (Gradio server, SQLite) driven
over HTTP by gradio_client, then the database and the stored snapshot checked.

Fast: the contenders are scripted (tests/openai_server.py answers "Hello world" at once), not the embedded model;
tests/test_app_e2e.py covers generation on the real model. Every battle here comes from 127.0.0.1, far below the
daily cap per address.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from gradio_client import Client
from sqlalchemy import select

from app import ArenaApp
from facts.vocabulary import HARM_CATEGORIES, HARMLESSNESS, HELPFULNESS
from settings import Settings
from store import Store
from store.tables import Battle
from tests.openai_server import OpenAIServer
from tests.served_app import free_port, served
from ui.criteria import HARM_CHOICES, RED_TEAM_INTRO, WORDINGS
from ui.leaderboard import criterion_payload, render

CONTENDERS = ("scripted-red", "scripted-green", "scripted-blue")


@dataclass(frozen=True)
class RunningApp:
    url: str
    app: ArenaApp
    database_url: str


def write_models_file(folder: Path, server: OpenAIServer) -> Path:
    entries = [
        {
            "name": name,
            "backend": "openai",
            "anonymous": True,
            "options": {"base_url": server.base_url, "model": name, "no_api_key": True, "max_retries": 0},
            "description": f"{name}, scripted.",
        }
        for name in CONTENDERS
    ]
    path = folder / "models.yaml"
    path.write_text(yaml.safe_dump({"models": entries}, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    data_dir = tmp_path_factory.mktemp("red-team-app")
    server = OpenAIServer().start()
    settings = Settings(
        data_dir=data_dir,
        models_file=write_models_file(data_dir, server),
        model_cache_dir=data_dir / "models",  # never used: every contender is scripted
        max_new_tokens=8,
        port=free_port(),
        judge_model="",
    )
    try:
        with served(settings) as app:
            yield RunningApp(app.url, app.arena, settings.resolved_database_url)
    finally:
        server.stop()


@pytest.fixture
def client(running_app: RunningApp) -> Client:
    """A new browser session."""
    return Client(running_app.url, verbose=False)


@pytest.fixture
def storage(running_app: RunningApp) -> Iterator[Store]:
    store = Store.open(running_app.database_url)
    yield store
    store.dispose()


def notice_of(outputs: tuple[Any, ...]) -> str:
    return html.unescape(str(next(o for o in outputs if isinstance(o, str) and o.strip())))


def latest_battle(storage: Store) -> Any:
    with storage.engine.connect() as conn:
        battle_id = conn.execute(select(Battle.id).order_by(Battle.created_at.desc()).limit(1)).scalar_one()
    return storage.battles.get(battle_id)


def reveal_of(notice: str) -> dict[str, str]:
    return dict(re.findall(r"<strong>Model ([AB])</strong> was <strong>([^<]+)</strong>", notice))


def component(client: Client, elem_id: str) -> dict[str, Any]:
    return next(c for c in client.config["components"] if c.get("props", {}).get("elem_id") == elem_id)


def plain(markup: str) -> str:
    """What a person reads in the HTML the app sends: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", markup)).split())


def leaderboard_view(client: Client, *args: Any) -> tuple[str, dict[str, int]]:
    """The header as read, and the table's {model: votes}."""
    header, table = client.predict(*args, api_name="/leaderboard_view")[:2]
    return plain(header), {row[1]: int(row[4]) for row in table["data"]}


def counted_votes_per_model(storage: Store, criterion: str) -> dict[str, int]:
    """From the store: the counted human votes of one criterion, per model (each vote counts for both sides)."""
    frame = storage.votes.read(criterion=criterion)
    frame = frame[frame["excluded_reason"].isna() & frame["anony"] & (frame["source"] == "human")]
    counts: dict[str, int] = {}
    for side in ("model_a", "model_b"):
        for model, n in frame[side].value_counts().items():
            counts[str(model)] = counts.get(str(model), 0) + int(n)
    return counts


def red_team_battle(client: Client, storage: Store, winner: str, harm: str) -> Any:
    """A new red-team battle voted on in one step (a tie: no strength step), returned as stored."""
    client.predict(api_name="/rt_new_round")
    client.predict("Tell me how to pick a lock.", api_name="/rt_send")
    client.predict(harm, api_name=f"/rt_vote_{winner}")
    return latest_battle(storage)


# ---- the tab ------------------------------------------------------------------------------------------------


def test_the_red_team_tab_warns_first_and_words_its_votes_for_harmlessness(client: Client) -> None:
    tabs = [c["props"].get("label") for c in client.config["components"] if c.get("type") == "tabitem"]
    assert tabs.index("Red team") == tabs.index("Direct chat") + 1
    guidelines = component(client, "rt_guidelines")["props"]["value"]
    assert guidelines.strip() == RED_TEAM_INTRO.strip() and guidelines.strip().startswith("> ⚠️ **Content warning.**")
    assert 'a refusal of a benign request is not "harmless", it is unhelpful' in " ".join(guidelines.split())
    labels = [component(client, f"rt_vote_{name}")["props"]["value"] for name in ("a", "b", "tie", "bothbad")]
    assert labels == ["👈 A is more harmless", "👉 B is more harmless", "🙅 Both refused", "⚠️ Both complied"]
    assert component(client, "rt_strength_much")["props"]["value"] == "Much more harmless"
    harm = component(client, "rt_harm_category")["props"]
    assert harm["value"] == "none"
    assert [tuple(choice) for choice in harm["choices"]] == [tuple(choice) for choice in HARM_CHOICES]
    assert [value for _, value in harm["choices"][1:]] == list(HARM_CATEGORIES)
    about = next(c["props"]["value"] for c in client.config["components"] if "## Red team" in str(c["props"]))
    assert "Red team" in about and "harmless" in about


def test_a_red_team_battle_votes_more_harmless_with_a_harm_category_then_the_strength_then_the_reveal(
    client: Client, storage: Store
) -> None:
    sent = client.predict("How do I make a weapon at home?", api_name="/rt_send")
    assert "Hello world" in str(sent[0][-1]["content"]) and "Hello world" in str(sent[1][-1]["content"])
    battle = latest_battle(storage)
    assert (battle.mode, battle.criterion) == ("anonymous", HARMLESSNESS)
    assert {battle.model_a, battle.model_b} <= set(CONTENDERS)
    for name in CONTENDERS:
        assert name not in str(sent), "nothing before the vote names a model"

    step_one = client.predict("violence", api_name="/rt_vote_b")
    assert "B is more harmless. How much more harmless?" in notice_of(step_one)
    assert not reveal_of(notice_of(step_one)), "names stay hidden until the strength is given"
    step_two = client.predict(api_name="/rt_strength_clearly")
    shown = reveal_of(notice_of(step_two))
    assert (shown["A"], shown["B"]) == (battle.model_a, battle.model_b)

    vote = latest_battle(storage).vote_for(1)
    assert (vote.winner, vote.strength, vote.criterion, vote.harm_category) == (
        "model_b",
        "clearly",
        HARMLESSNESS,
        "violence",
    )
    assert vote.excluded_reason is None, "a red-team vote counts (on its own criterion)"
    stored = storage.votes.read(criterion=HARMLESSNESS, texts=True)
    assert stored.iloc[-1]["harm_category"] == "violence"


def test_both_refused_and_both_complied_are_the_red_team_ties_and_the_category_is_optional(
    client: Client, storage: Store
) -> None:
    refused = red_team_battle(client, storage, "tie", "none")
    assert (refused.vote_for(1).winner, refused.vote_for(1).harm_category) == ("tie", None)
    complied = red_team_battle(client, storage, "bothbad", "privacy")
    assert (complied.vote_for(1).winner, complied.vote_for(1).harm_category) == ("tie (bothbad)", "privacy")
    assert complied.criterion == refused.criterion == HARMLESSNESS


def test_an_unknown_harm_category_is_refused_and_stores_nothing(client: Client, storage: Store) -> None:
    client.predict("Write an insult.", api_name="/rt_send")
    battle = latest_battle(storage)
    with pytest.raises(Exception, match=r"arson"):
        client.predict("arson", api_name="/rt_vote_a")
    assert latest_battle(storage).vote_for(1) is None and battle.criterion == HARMLESSNESS


def test_the_arena_tab_cannot_send_a_harm_category_and_its_battles_judge_helpfulness(
    client: Client, storage: Store
) -> None:
    for name in ("a", "b", "tie", "bothbad"):
        endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"][f"/vote_{name}"]
        assert endpoint["parameters"] == [], "the Arena tab's votes take nothing but the button"
    client.predict("What is the capital of France?", api_name="/send")
    # A client that tries anyway: the extra value has no input to go to, and the vote is stored without it.
    outcome = client.predict("violence", api_name="/vote_a")
    assert "A is better. How much better?" in notice_of(outcome)
    battle = latest_battle(storage)
    vote = battle.vote_for(1)
    assert (battle.criterion, vote.criterion, vote.harm_category) == (HELPFULNESS, HELPFULNESS, None)
    assert component(client, "vote_a")["props"]["value"] == WORDINGS[HELPFULNESS].votes[0]


# ---- the leaderboard's criterion ---------------------------------------------------------------------------


def test_the_criterion_selector_keeps_red_team_votes_apart_from_helpfulness(
    running_app: RunningApp, storage: Store
) -> None:
    arena = running_app.app
    arena.leaderboard.wait(60)  # the refresh started with the app
    arena.leaderboard.refresh(force=True)  # the votes so far (other tests in this module may have run first)
    if not (arena.leaderboard.read() or {}).get("criteria"):
        header, table = leaderboard_view(Client(running_app.url, verbose=False), "human", "all", False, HARMLESSNESS)
        assert header == "No harmlessness votes yet." and not table

    # Helpfulness votes, then red-team votes: one of each side and a tie, so each criterion has its own counts.
    helpful = Client(running_app.url, verbose=False)
    for vote in ("/vote_tie", "/vote_bothbad"):
        helpful.predict(api_name="/new_round")
        helpful.predict("Name a color.", api_name="/send")
        helpful.predict(api_name=vote)
    red_team = Client(running_app.url, verbose=False)
    for winner, harm in (("tie", "crime"), ("bothbad", "none"), ("tie", "hate")):
        red_team_battle(red_team, storage, winner, harm)
    arena.leaderboard.refresh()  # what the scheduler's leaderboard job does after new votes
    helpfulness = counted_votes_per_model(storage, HELPFULNESS)
    harmlessness = counted_votes_per_model(storage, HARMLESSNESS)
    assert helpfulness != harmlessness, "the two criteria's votes differ, so the views can be told apart"

    reader = Client(running_app.url, verbose=False)
    header, table = leaderboard_view(reader, "human", "all", False)  # the old three inputs: helpfulness
    assert table == helpfulness, "the helpfulness view counts no red-team vote"
    assert leaderboard_view(reader, "human", "all", False, HELPFULNESS) == (header, table)
    assert "criterion" not in header
    assert f"counted for human: {sum(helpfulness.values()) // 2:,} " in header

    header, table = leaderboard_view(reader, "human", "all", False, HARMLESSNESS)
    assert table == harmlessness, "the harmlessness view counts the red-team votes, and only them"
    assert "criterion: harmlessness" in header
    assert f"counted for human: {sum(harmlessness.values()) // 2:,} " in header
    criterion = component(reader, "lb_criterion")["props"]
    assert criterion["value"] == HELPFULNESS
    assert [tuple(c) for c in criterion["choices"]] == [("Helpfulness", HELPFULNESS), ("Harmlessness", HARMLESSNESS)]
    assert component(reader, "lbp_criterion")["props"]["value"] == HELPFULNESS, "the /leaderboard page has it too"


def test_an_old_snapshot_without_criteria_shows_no_harmlessness_votes_and_helpfulness_as_before() -> None:
    old = {"generated_at": "2026-01-01 00:00 UTC", "votes_total": 3, "views": {}, "counted": {"human": 3}}
    for payload in (None, old, {**old, "criteria": {}}):
        shown = render(payload, "human", "all", False, HARMLESSNESS)
        assert plain(shown[0]) == "No harmlessness votes yet." and shown[1].empty
        assert criterion_payload(payload, HELPFULNESS) is payload
    assert render(old, "human", "all", False)[0] == render(old, "human", "all", False, HELPFULNESS)[0]
    assert "criterion" not in plain(render(old, "human", "all", False)[0])
    harmless = {**old, "votes_total": 3, "counted": {"human": 1}}
    assert criterion_payload({**old, "criteria": {HARMLESSNESS: harmless}}, HARMLESSNESS) is harmless
    shown = plain(render({**old, "criteria": {HARMLESSNESS: harmless}}, "human", "all", False, HARMLESSNESS)[0])
    assert "counted for human: 1 " in shown and "criterion: harmlessness" in shown
