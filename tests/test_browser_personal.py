"""In a real browser (Chromium through Playwright): "Your leaderboard" in the Arena tab says how many votes are
left, then, right after the vote that reaches ARENA_PERSONAL_MIN_VOTES (1 here), shows the person's table without a
click on Refresh.

The app runs as in tests/test_browser.py (real Gradio server, SQLite, the embedded SmolLM2-135M with answers capped
at a few tokens). Screenshots go to test-artifacts/browser-personal/.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from app import build_arena
from settings import Settings
from tests.browser_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Screenshots, browser_marks, fail_if_missing_in_ci
from ui.arena import CSS, HEAD, theme

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = browser_marks()

GENERATION_TIMEOUT_MS = 150_000
UI_TIMEOUT_MS = 20_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory, converted_model: Any) -> Iterator[str]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("browser-personal"),
        model_cache_dir=converted_model.cache_dir,
        max_new_tokens=8,
        port=free_port(),
        judge_model="",
        personal_min_votes=1,
    )
    arena = build_arena(settings)
    arena.demo.launch(
        server_name="127.0.0.1",
        server_port=settings.port,
        prevent_thread_lock=True,
        ssr_mode=False,
        quiet=True,
        css=CSS,
        head=HEAD,
        theme=theme(),
    )
    try:
        yield f"http://127.0.0.1:{settings.port}/"
    finally:
        arena.demo.close()
        arena.store.dispose()


@pytest.fixture
def page(app_url: str) -> Iterator[Page]:
    fail_if_missing_in_ci()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(UI_TIMEOUT_MS)
            opened = context.new_page()
            errors: list[str] = []
            opened.on("pageerror", lambda error: errors.append(str(error)))
            opened.goto(app_url)
            yield opened
            assert not errors, f"JavaScript errors in the page: {errors}"
        finally:
            browser.close()


def test_your_leaderboard_appears_right_after_the_vote_that_reaches_the_minimum(page: Page) -> None:
    from playwright.sync_api import expect

    shots = Screenshots(ARTIFACTS.with_name("browser-personal"))
    notice, table = page.locator("#personal_notice"), page.locator("#personal_table")
    page.get_by_text("Your leaderboard", exact=True).click()  # open the accordion: it shows the board
    expect(notice).to_contain_text("1 more vote to see your leaderboard")
    expect(table).to_be_hidden()

    page.locator("#input textarea").fill("Name a fruit.")
    page.locator("#send").click()
    expect(page.locator("#vote_tie")).to_be_enabled(timeout=GENERATION_TIMEOUT_MS)
    page.locator("#vote_tie").click()
    expect(page.locator("#notice")).to_contain_text("Model B was")
    names = set(re.findall(r"Model [AB] was ([\w.-]+)", page.locator("#notice").inner_text()))

    # No click on Refresh: the vote itself refreshed the board.
    expect(notice).to_contain_text("Your ratings from your 1 counted vote")
    expect(table).to_be_visible()
    for name in names:
        expect(table).to_contain_text(name)
    expect(table).to_contain_text("Everyone's rating")
    shots.take(page, "personal-after-vote")
