"""In a real browser (Chromium through Playwright): a person improves a Direct chat answer and saves it as a training
example, and an operator exports the saved set from the Admin tab.

The app runs as in tests/test_browser.py (real Gradio server, SQLite, the embedded SmolLM2-135M with answers capped
at a few tokens). Screenshots go to test-artifacts/browser-sft-save/ (not test_browser.py's folder, which that
module empties when it starts).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from app import ArenaApp
from models.registry import DEFAULT_MODELS_FILE
from settings import Settings
from tests.browser_support import ARTIFACTS, Screenshots, browser_marks, system_chromium, visitor
from tests.served_app import free_port, served
from training.sft import read_examples

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = browser_marks()

MODEL = "smollm2-135m-greedy"
ADMIN_TOKEN = "operator-token-for-the-save-test"
MAX_NEW_TOKENS = 8
GENERATION_TIMEOUT_MS = 150_000
UI_TIMEOUT_MS = 20_000
EDIT = "Paris is the capital of France.\nIt sits on the Seine. <b>not markup</b>"


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory, converted_model: Any) -> Iterator[tuple[str, ArenaApp]]:
    data_dir = tmp_path_factory.mktemp("sft-save-app")
    shipped = yaml.safe_load(DEFAULT_MODELS_FILE.read_text(encoding="utf-8"))["models"]
    models_file = data_dir / "models.yaml"
    models_file.write_text(yaml.safe_dump({"models": [m for m in shipped if m["name"] == MODEL]}), encoding="utf-8")
    settings = Settings(
        data_dir=data_dir,
        models_file=models_file,
        model_cache_dir=converted_model.cache_dir,
        max_new_tokens=MAX_NEW_TOKENS,
        port=free_port(),
        judge_model="",
        admin_token=ADMIN_TOKEN,
    )
    with served(settings) as app:
        yield app.url, app.arena


@pytest.fixture(scope="module")
def shots() -> Screenshots:
    return Screenshots(folder=ARTIFACTS.parent / "browser-sft-save")


@pytest.fixture
def page(arena: tuple[str, ArenaApp], shots: Screenshots) -> Iterator[Page]:
    with system_chromium() as browser, visitor(browser, arena[0], timeout_ms=UI_TIMEOUT_MS, height=1000) as opened:
        try:
            yield opened
        finally:
            shots.take(opened, "end")


def test_a_person_improves_a_direct_chat_answer_saves_it_and_an_operator_exports_it(
    page: Page, arena: tuple[str, ArenaApp], shots: Screenshots, tmp_path: Path
) -> None:
    expect, store = _expect(), arena[1].store
    page.get_by_role("tab", name="Direct chat", exact=True).click()
    edit, save, notice = (
        page.locator("#direct_edit textarea"),
        page.locator("#direct_save"),
        page.locator("#direct_save_notice"),
    )
    expect(save).to_be_disabled()  # no answer yet: nothing to save
    expect(edit).not_to_be_editable()

    page.locator("#direct_input textarea").fill("What is the capital of France?")
    page.locator("#direct_send").click()
    # The save button is enabled by the answer's last update only (the textbox may still be editable before the
    # first streamed update arrives).
    expect(save).to_be_enabled(timeout=GENERATION_TIMEOUT_MS)
    expect(page.locator("#direct_input textarea")).to_be_editable()
    [battle_id] = [b for b in _direct_battles(store)]
    stored_answer = store.battles.get(battle_id).turns[-1].answer_a
    assert stored_answer and edit.input_value() == stored_answer, "the box holds the server's answer to improve"

    edit.fill(EDIT)
    save.click()
    expect(notice).to_contain_text("Saved as a training example (your edit of the answer)")
    [example] = store.sft_examples.latest("direct-chat")
    assert (example.battle_id, example.original_answer, example.edited_answer) == (battle_id, stored_answer, EDIT)
    assert [m["content"] for m in example.messages] == ["What is the capital of France?", stored_answer]
    shots.take(page, "direct-chat-saved")
    save.click()
    expect(notice).to_contain_text("Already saved")
    assert len(store.sft_examples.versions("direct-chat", battle_id, 1, 0)) == 1

    page.get_by_role("tab", name="Admin", exact=True).click()
    page.locator("#admin_token input").fill("a guess")
    page.locator("#admin_sft_export").click()
    expect(page.locator("#admin_sft_message")).to_contain_text("Wrong admin token")
    expect(page.locator("#admin_sft_file a")).to_have_count(0)

    page.locator("#admin_token input").fill(ADMIN_TOKEN)
    page.locator("#admin_open").click()
    expect(page.locator("#admin_sft_sets")).to_contain_text("direct-chat")
    combobox = page.get_by_role("combobox", name="Saved set", exact=True)
    combobox.click()
    page.locator(f"[id='{combobox.get_attribute('aria-controls')}']").get_by_role(
        "option", name="direct-chat", exact=True
    ).click()
    page.locator("#admin_sft_export").click()
    expect(page.locator("#admin_sft_message")).to_contain_text("1 example of 'direct-chat'")
    link = page.locator("#admin_sft_file a").first
    expect(link).to_have_attribute("href", re.compile(r"saved-direct-chat-.*\.jsonl"))
    response = page.request.get(str(link.get_attribute("href")))
    assert response.ok
    downloaded = tmp_path / "saved.jsonl"
    downloaded.write_bytes(response.body())
    [record] = read_examples(downloaded, "chat")
    assert record["prompt"] == [{"role": "user", "content": "What is the capital of France?"}]
    assert record["completion"] == [{"role": "assistant", "content": EDIT}]

    page.locator("#admin_sft_mix").click()
    expect(page.locator("#admin_sft_mix_report")).to_contain_text("1 records against InstructGPT's use cases")
    expect(page.locator("#admin_sft_mix_plot .js-plotly-plot")).to_have_count(1)
    shots.take(page, "admin-saved-sets")


def _direct_battles(store: Any) -> list[str]:
    from sqlalchemy import select

    from store.tables import Battle

    with store.engine.connect() as connection:
        return list(connection.execute(select(Battle.id).where(Battle.mode == "direct")).scalars())
