"""In a real browser (Chromium through Playwright): "Your leaderboard" in the Arena tab says how many votes are
left, then, right after the vote that reaches ARENA_PERSONAL_MIN_VOTES (1 here), shows the person's table without a
click on Refresh.

The app runs as in tests/test_browser.py (real Gradio server, SQLite, the embedded SmolLM2-135M with answers capped
at a few tokens). Screenshots go to test-artifacts/browser-personal/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from settings import Settings
from tests.browser_support import ARTIFACTS, Screenshots, browser_marks, system_chromium, visitor
from tests.served_app import free_port, served

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = browser_marks()

GENERATION_TIMEOUT_MS = 150_000
UI_TIMEOUT_MS = 20_000


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
    with served(settings) as app:
        yield app.url


@pytest.fixture
def page(app_url: str) -> Iterator[Page]:
    with system_chromium() as browser, visitor(browser, app_url, timeout_ms=UI_TIMEOUT_MS) as opened:
        yield opened


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
