"""In a real browser (Chromium through Playwright): the app as a person uses it, on the embedded model.

The app runs as in tests/test_app_e2e.py (real Gradio server, SQLite, SmolLM2-135M, answers capped at a few
tokens). Two extra contenders, not anonymous, are served by tests/openai_server.py so that a model's answer can
be scripted (HTML in it) without waiting for the CPU. Every step leaves a screenshot in test-artifacts/browser/;
with UPDATE_SCREENSHOTS=1 the arena after a vote and the leaderboard page also become docs/arena.png and
docs/leaderboard.png, the README's pictures.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from app import build_arena
from arena.settings import Settings
from arena.ui import CSS, theme
from models.registry import DEFAULT_MODELS_FILE
from tests.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    STOP_WATCHING,
    WATCH_STREAMS,
    Screenshots,
    bot_texts,
    browser_marks,
    fail_if_missing_in_ci,
    tab_to,
    user_texts,
)
from tests.openai_server import OpenAIServer, Sleep, Text, streamed

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

pytestmark = browser_marks()

MAX_NEW_TOKENS = 16  # enough to see an answer grow token by token, short enough for 2 shared cores
GENERATION_TIMEOUT_MS = 150_000  # two streams on a busy 2-core machine; a stuck stream still fails
UI_TIMEOUT_MS = 20_000
LOCAL = ("smollm2-135m-greedy", "smollm2-135m-creative", "smollm2-135m-concise")
SCRIPTED = ("scripted-a", "scripted-b")  # served by tests/openai_server.py, side-by-side and direct chat only

XSS_MESSAGE = '<img src=x onerror="window.__xss=1"> and <script>window.__xss=2</script>'
# Split mid-tag on purpose: each streamed update renders a half-written tag first.
XSS_ANSWER = (
    "<img src=x onerr",
    'or="window.__xss=3"> then <scr',
    "ipt>window.__xss=4</script> and ",
    "[a link](javascript:window.__xss=5)",
    ' <a href="javascript:window.__xss=6">another</a> end.',
)


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


# ---- the app and the browser ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunningArena:
    url: str
    server: OpenAIServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_models_file(folder: Path, server: OpenAIServer) -> Path:
    """The shipped local contenders (their real names and descriptions appear in the screenshots) + 2 scripted."""
    shipped = yaml.safe_load(DEFAULT_MODELS_FILE.read_text(encoding="utf-8"))["models"]
    entries = [entry for entry in shipped if entry["name"] in LOCAL]
    for name in SCRIPTED:
        entries.append(
            {
                "name": name,
                "backend": "openai",
                "anonymous": False,
                "options": {"base_url": server.base_url, "model": name, "no_api_key": True, "max_retries": 0},
                "description": "A scripted test server speaking the OpenAI protocol.",
            }
        )
    path = folder / "models.yaml"
    path.write_text(yaml.safe_dump({"models": entries}, sort_keys=False), encoding="utf-8")
    return path


ADMIN_TOKEN = "operator-token-for-the-browser-test"


@pytest.fixture(scope="module")
def running_arena(tmp_path_factory: pytest.TempPathFactory, converted_model: Any) -> Iterator[RunningArena]:
    data_dir = tmp_path_factory.mktemp("browser-app")
    server = OpenAIServer().start()
    settings = Settings(
        data_dir=data_dir,
        models_file=write_models_file(data_dir, server),
        model_cache_dir=converted_model.cache_dir,
        max_new_tokens=MAX_NEW_TOKENS,
        port=free_port(),
        judge_model="",  # no background judge competing for the CPU
        admin_token=ADMIN_TOKEN,
    )
    arena = build_arena(settings)
    # The theme and CSS the served app gets (create_server), so that the screenshots look like production.
    arena.demo.launch(
        server_name="127.0.0.1",
        server_port=settings.port,
        prevent_thread_lock=True,
        ssr_mode=False,
        quiet=True,
        css=CSS,
        theme=theme(),
    )
    try:
        yield RunningArena(f"http://127.0.0.1:{settings.port}/", server)
    finally:
        arena.demo.close()
        arena.storage.dispose()
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    fail_if_missing_in_ci()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def shots() -> Screenshots:
    return Screenshots()


@pytest.fixture
def page(
    browser: Browser, running_arena: RunningArena, shots: Screenshots, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A new visitor (own cookies, own Gradio session) on the arena's front page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(running_arena.url)
    _expect()(opened.locator("#input textarea")).to_be_editable()
    try:
        yield opened
        assert not errors, f"JavaScript errors in the page: {errors}"
    finally:
        shots.take(opened, f"{request.node.name.removeprefix('test_')[:40]}-end")
        context.close()


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def choose(page: Page, label: str, option: str) -> None:
    """Pick a dropdown option the way a person does: open the list, click the entry."""
    combobox = page.get_by_role("combobox", name=label, exact=True)
    combobox.click()
    # Other tabs' dropdowns keep their lists in the page: take the entry from this one's own list.
    page.locator(f"[id='{combobox.get_attribute('aria-controls')}']").get_by_role(
        "option", name=option, exact=True
    ).click()
    _expect()(combobox).to_have_value(option)


def settle(page: Page, *elem_ids: str) -> None:
    """Wait until no event is running for these components (a picker's change event clears the textbox)."""
    page.wait_for_timeout(150)  # the event has to be dispatched before its status shows
    for elem_id in elem_ids:
        _expect()(page.locator(f"#{elem_id} > [data-testid='status-tracker']")).to_have_class(re.compile(r"\bhide\b"))


def revealed(notice: Locator) -> dict[str, str]:
    """{"A": name, "B": name} from the reveal line ("Model A was <name>: description")."""
    return dict(re.findall(r"Model ([AB]) was ([\w.-]+)", notice.inner_text()))


def chat_label(page: Page, chat_id: str) -> Locator:
    return page.locator(f"#{chat_id} [data-testid='block-label']")


def vote_buttons(page: Page, prefix: str = "") -> list[Locator]:
    return [page.locator(f"#{prefix}vote_{name}") for name in ("a", "b", "tie", "bothbad")]


# ---- 1. a battle, streamed, voted on, revealed --------------------------------------------------------------


@dataclass(frozen=True)
class Battle:
    samples: dict[str, list[str]]
    how_much: str
    names: dict[str, str]
    labels: tuple[str, str]
    can_follow_up: bool  # the textbox takes a second turn once both answers are complete


@pytest.fixture(scope="module")
def voted_battle(browser: Browser, running_arena: RunningArena, shots: Screenshots) -> Iterator[Battle]:
    """A person's first battle: ask, watch both answers stream, "A is better", "Much better", see the names.

    A module fixture because the leaderboard test checks that this very vote shows up.
    """
    expect = _expect()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(running_arena.url)
        textbox = page.locator("#input textarea")
        expect(textbox).to_be_editable()
        shots.take(page, "arena-start")
        page.evaluate(WATCH_STREAMS, ["chat_a", "chat_b"])
        textbox.fill("Explain how a rainbow forms.")
        page.locator("#send").click()
        expect(page.locator("#chat_a [data-testid='bot']")).not_to_have_text("", timeout=GENERATION_TIMEOUT_MS)
        shots.take(page, "arena-streaming")
        expect(page.locator("#vote_a")).to_be_enabled(timeout=GENERATION_TIMEOUT_MS)
        samples = page.evaluate(STOP_WATCHING)
        can_follow_up = textbox.is_editable()
        shots.take(page, "arena-answered")

        page.locator("#vote_a").click()
        expect(page.locator("#strength_much")).to_be_visible()
        how_much = page.locator("#notice").inner_text()
        shots.take(page, "arena-how-much")
        page.locator("#strength_much").click()
        expect(page.locator("#notice")).to_contain_text("Model B was")
        for button in vote_buttons(page):
            expect(button).to_be_disabled()
        expect(chat_label(page, "chat_a")).to_contain_text("Model A: ")
        expect(chat_label(page, "chat_b")).to_contain_text("Model B: ")
        shots.take(page, "arena-after-vote")
        labels = (chat_label(page, "chat_a").inner_text().strip(), chat_label(page, "chat_b").inner_text().strip())
        yield Battle(samples, how_much, revealed(page.locator("#notice")), labels, can_follow_up)
    finally:
        context.close()


def test_a_person_watches_both_answers_stream_votes_and_sees_who_they_were(voted_battle: Battle) -> None:
    for chat_id, seen in voted_battle.samples.items():
        assert len(seen) >= 2, f"{chat_id} showed its answer in one piece, not streamed: {seen}"
        assert len(seen[-1]) > len(seen[0]), f"{chat_id} did not grow: {seen}"
    assert "How much better" in voted_battle.how_much
    assert "was" not in voted_battle.how_much, "the names stay hidden until the strength is given"
    names = voted_battle.names
    assert set(names) == {"A", "B"} and names["A"] != names["B"]
    assert set(names.values()) <= set(LOCAL), "anonymous battles only draw anonymous contenders"
    assert voted_battle.labels == (f"Model A: {names['A']}", f"Model B: {names['B']}")


def test_after_the_answers_the_person_can_type_a_follow_up(voted_battle: Battle) -> None:
    assert voted_battle.can_follow_up


# ---- 2. the leaderboard -------------------------------------------------------------------------------------


def test_the_leaderboard_shows_the_vote_after_a_refresh(
    voted_battle: Battle, page: Page, running_arena: RunningArena, shots: Screenshots
) -> None:
    expect = _expect()
    page.goto(running_arena.url + "leaderboard")
    table = page.locator("#lbp_table")
    # The vote made the stored snapshot stale; a refresh recomputes it in the background, a later one shows it.
    for _ in range(30):
        page.locator("#lbp_refresh").click()
        settle(page, "lbp_table")
        if all(name in table.inner_text() for name in voted_battle.names.values()):
            break
        page.wait_for_timeout(500)
    expect(page.locator("#lbp_header")).to_contain_text("votes recorded:")
    for name in voted_battle.names.values():
        expect(table).to_contain_text(name)
    shots.take(page, "leaderboard-page")

    page.goto(running_arena.url)
    open_tab(page, "Leaderboard")
    page.locator("#lb_refresh").click()
    for name in voted_battle.names.values():
        expect(page.locator("#lb_table")).to_contain_text(name)
    shots.take(page, "leaderboard-tab")


# ---- 3. direct chat and side-by-side -----------------------------------------------------------------------


def test_direct_chat_answers_and_side_by_side_shows_the_chosen_names(page: Page, shots: Screenshots) -> None:
    expect = _expect()
    open_tab(page, "Direct chat")
    choose(page, "Model", "smollm2-135m-greedy")
    settle(page, "direct_chat")
    page.locator("#direct_input textarea").fill("What is the capital of France?")
    page.locator("#direct_send").click()
    expect(page.locator("#direct_chat [data-testid='bot']")).not_to_have_text("", timeout=GENERATION_TIMEOUT_MS)
    expect(page.locator("#direct_input textarea")).to_be_editable(timeout=GENERATION_TIMEOUT_MS)
    assert user_texts(page, "direct_chat") == ["What is the capital of France?"]
    [answer] = bot_texts(page, "direct_chat")
    assert answer and answer != "…"
    shots.take(page, "direct-chat")

    open_tab(page, "Side-by-side")
    choose(page, "Model A", "smollm2-135m-concise")
    choose(page, "Model B", "scripted-b")  # one local stream instead of two: the CPU is the bottleneck
    settle(page, "sxs_chat_a", "sxs_input")
    page.locator("#sxs_input textarea").fill("Say hello.")
    page.locator("#sxs_send").click()
    expect(page.locator("#sxs_vote_tie")).to_be_enabled(timeout=GENERATION_TIMEOUT_MS)
    assert bot_texts(page, "sxs_chat_a")[-1] and bot_texts(page, "sxs_chat_b") == ["Hello world"]
    page.locator("#sxs_vote_tie").click()
    notice = page.locator("#sxs_notice")
    expect(notice).to_contain_text("Model B was")
    assert revealed(notice) == {"A": "smollm2-135m-concise", "B": "scripted-b"}
    expect(chat_label(page, "sxs_chat_a")).to_have_text("Model A: smollm2-135m-concise")
    expect(chat_label(page, "sxs_chat_b")).to_have_text("Model B: scripted-b")
    shots.take(page, "side-by-side-after-vote")


# ---- 4. keyboard only ---------------------------------------------------------------------------------------


def test_a_battle_can_be_fought_with_the_keyboard_alone(page: Page, shots: Screenshots) -> None:
    expect = _expect()
    page.locator("body").focus()
    tab_to(page, "#input textarea")
    page.keyboard.type("Name three fruits.")
    page.keyboard.press("Enter")
    expect(page.locator("#chat_a [data-testid='user']")).to_have_text("Name three fruits.")
    expect(page.locator("#vote_b")).to_be_enabled(timeout=GENERATION_TIMEOUT_MS)
    shots.take(page, "keyboard-answered")
    tab_to(page, "#vote_b")
    page.keyboard.press("Enter")
    expect(page.locator("#strength_clearly")).to_be_visible()
    tab_to(page, "#strength_clearly")
    page.keyboard.press("Space")
    expect(page.locator("#notice")).to_contain_text("Model B was")
    for button in vote_buttons(page):
        expect(button).to_be_disabled()
    shots.take(page, "keyboard-after-vote")


# ---- 5. HTML in messages and answers stays text ------------------------------------------------------------


def scripted_html_answer(server: OpenAIServer, model: str) -> None:
    events: list[Any] = []
    for piece in XSS_ANSWER:
        events += [Text(piece), Sleep(0.05)]
    server.add(events + streamed(), model=model)  # streamed() with no pieces: the finish and usage chunks


def assert_inert(page: Page, chat_id: str) -> None:
    chat = page.locator(f"#{chat_id}")
    assert chat.locator("[data-testid='bot'] img, [data-testid='user'] img").count() == 0
    assert chat.locator("[data-testid='bot'] script, [data-testid='user'] script").count() == 0
    # The href as the browser resolved it, so that " javascript:" or entity-encoded variants count too.
    protocols = chat.locator("a[href]").evaluate_all("(links) => links.map((a) => a.protocol)")
    assert "javascript:" not in protocols, protocols
    assert page.evaluate("() => window.__xss") is None


def test_html_in_messages_and_answers_is_shown_as_text_and_never_runs(
    page: Page, running_arena: RunningArena, shots: Screenshots
) -> None:
    expect = _expect()
    server = running_arena.server
    open_tab(page, "Side-by-side")
    choose(page, "Model A", "scripted-a")
    choose(page, "Model B", "scripted-b")
    settle(page, "sxs_chat_a", "sxs_input")
    for model in SCRIPTED:
        scripted_html_answer(server, model)
    page.locator("#sxs_input textarea").fill(XSS_MESSAGE)
    page.locator("#sxs_send").click()
    expect(page.locator("#sxs_vote_a")).to_be_enabled(timeout=UI_TIMEOUT_MS)
    for chat_id in ("sxs_chat_a", "sxs_chat_b"):
        assert user_texts(page, chat_id) == [XSS_MESSAGE]
        [answer] = bot_texts(page, chat_id)
        assert '<img src=x onerror="window.__xss=3">' in answer and "<script>window.__xss=4</script>" in answer
        assert_inert(page, chat_id)
    shots.take(page, "xss-side-by-side")

    open_tab(page, "Direct chat")
    choose(page, "Model", "scripted-a")
    settle(page, "direct_chat")
    scripted_html_answer(server, "scripted-a")
    page.locator("#direct_input textarea").fill(XSS_MESSAGE)
    page.locator("#direct_send").click()
    expect(page.locator("#direct_chat [data-testid='bot']")).to_contain_text("end.")
    assert user_texts(page, "direct_chat") == [XSS_MESSAGE]
    page.wait_for_timeout(300)  # a failed <img> fires onerror asynchronously: give it the chance to run
    assert_inert(page, "direct_chat")
    assert_inert(page, "sxs_chat_a")
    shots.take(page, "xss-direct-chat")


# ---- 6. the Admin tab ----------------------------------------------------------------------------------------


def test_the_admin_tab_opens_only_with_the_token_and_queues_a_job(page: Page, shots: Screenshots) -> None:
    expect = _expect()
    open_tab(page, "Admin")
    message = page.locator("#admin_message")
    page.locator("#admin_token input").fill("a guess")
    page.locator("#admin_open").click()
    expect(message).to_contain_text("Wrong admin token")
    expect(page.locator("#admin_models")).not_to_contain_text("smollm2-135m-greedy")

    page.locator("#admin_token input").fill(ADMIN_TOKEN)
    page.locator("#admin_open").click()
    expect(page.locator("#admin_models")).to_contain_text("smollm2-135m-greedy")
    page.locator("#admin_run_now").click()  # the first job, leaderboard, is selected
    expect(message).to_contain_text("Requested leaderboard")
    # This app was launched without the scheduler, so the request waits for a lease holder to claim it.
    expect(page.locator("#admin_history")).to_contain_text("requested")
    shots.take(page, "admin-tab")
