"""In a real browser (Chromium through Playwright): the app as a person uses it, on the embedded model.

The app runs as in tests/test_app_e2e.py (real Gradio server, SQLite, SmolLM2-135M, answers capped at a few
tokens). Two extra contenders, not anonymous, are served by tests/openai_server.py so that a model's answer can
be scripted (HTML in it) without waiting for the CPU. Every step leaves a screenshot in test-artifacts/browser/;
with UPDATE_SCREENSHOTS=1 the arena after a vote and the leaderboard page also become docs/arena.png and
docs/leaderboard.png, the README's pictures.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from app import ArenaApp
from arena.admin import MODEL_COLUMNS
from models.registry import DEFAULT_MODELS_FILE
from settings import Settings
from tests import arena_rows
from tests.browser_support import (
    LIVE_ELEMENTS,
    LIVE_MARKUP_IN,
    READ_LIVE_MARKUP,
    SCRIPT_LINKS,
    STOP_WATCHING,
    WATCH_LIVE_MARKUP,
    WATCH_STREAMS,
    Screenshots,
    bot_texts,
    browser_marks,
    collapse,
    record_dialogs,
    system_chromium,
    tab_to,
    user_texts,
    visitor,
    xss_markers,
)
from tests.openai_server import OpenAIServer, Sleep, Text, streamed
from tests.served_app import free_port, served
from tests.xss_corpus import PAYLOADS, SCRIPT_SCHEMES, filled

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
    database_url: str
    app: ArenaApp


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
    try:
        with served(settings) as app:
            yield RunningArena(app.url, server, settings.resolved_database_url, app.arena)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with system_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def shots() -> Screenshots:
    return Screenshots()


@pytest.fixture
def page(
    browser: Browser, running_arena: RunningArena, shots: Screenshots, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A new visitor (own cookies, own Gradio session) on the arena's front page."""
    with visitor(browser, running_arena.url, timeout_ms=UI_TIMEOUT_MS) as opened:
        _expect()(opened.locator("#input textarea")).to_be_editable()
        try:
            yield opened
        finally:
            shots.take(opened, f"{request.node.name.removeprefix('test_')[:40]}-end")


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
    with visitor(browser, running_arena.url, timeout_ms=UI_TIMEOUT_MS) as page:
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
    running_arena.app.leaderboard.wait(60)  # the refresh started with the app
    running_arena.app.leaderboard.refresh()  # what the scheduler's leaderboard job does after new votes
    page.goto(running_arena.url + "leaderboard")
    table = page.locator("#lbp_table")
    page.locator("#lbp_refresh").click()
    settle(page, "lbp_table")
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


def test_the_copy_button_copies_the_text_a_person_reads_not_the_html(
    browser: Browser, running_arena: RunningArena, shots: Screenshots
) -> None:
    expect = _expect()
    clipboard = ("clipboard-read", "clipboard-write")
    with visitor(browser, running_arena.url, timeout_ms=UI_TIMEOUT_MS, permissions=clipboard) as page:
        running_arena.server.add(
            streamed("Use **bold** & `code`:\n\n```python\nprint('<hi>')\n```\n\n- one\n- two"), model="scripted-a"
        )
        open_tab(page, "Direct chat")
        choose(page, "Model", "scripted-a")
        settle(page, "direct_chat")
        page.locator("#direct_input textarea").fill("Format <this>, please.")
        page.locator("#direct_send").click()
        expect(page.locator("#direct_chat [data-testid='bot']")).to_contain_text("two")
        copy = page.locator("#direct_chat button[aria-label*='opy'], #direct_chat button[title*='opy']")
        expect(copy).to_have_count(2)  # one per message: the person's, then the answer's
        copied = []
        for button in (copy.first, copy.last):
            button.click()
            copied.append(page.evaluate("navigator.clipboard.readText()"))
        assert copied == ["Format <this>, please.", "Use bold & code:\n\nprint('<hi>')\n\n- one\n- two"]
        shots.take(page, "copy-button")


def test_a_checkpoint_registered_while_the_app_runs_appears_in_the_model_lists(
    browser: Browser, running_arena: RunningArena, shots: Screenshots
) -> None:
    """What a training run does at its end: register the new contender. The next visit offers it, no restart."""
    from models.registry import ModelSpec
    from store import Store

    expect = _expect()
    name = "scripted-checkpoint-v1"
    store = Store.open(running_arena.database_url)
    try:
        store.registry.register(
            ModelSpec(
                name=name,
                backend="openai",
                anonymous=False,
                options={"base_url": running_arena.server.base_url, "model": name, "no_api_key": True},
                description="Registered by a training run while the app was running.",
            )
        )
    finally:
        store.dispose()
    with visitor(browser, running_arena.url, timeout_ms=UI_TIMEOUT_MS) as page:
        open_tab(page, "Side-by-side")
        choose(page, "Model A", name)
        open_tab(page, "Direct chat")
        choose(page, "Model", name)
        settle(page, "direct_chat")
        page.locator("#direct_input textarea").fill("Hello, new model.")
        page.locator("#direct_send").click()
        expect(page.locator("#direct_chat [data-testid='bot']")).to_contain_text("Hello world")
        shots.take(page, "checkpoint-in-direct-chat")


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


# ---- 5. script injection: HTML, markdown links and renderers stay text, nothing runs --------------------------
#
# The corpus of tests/xss_corpus.py, each payload filled with its own marker (window.__xss=N, or alert(N), N its
# index in the corpus) so that whatever ran names itself. After each step: no marker set (in the page or a frame
# a payload made), no dialog, no live element or on* attribute in what was written (even for a moment, while an
# answer streamed), no link with a script scheme anywhere on the page, and the text still readable.

CHUNK_SIZES = (5, 6, 7)  # characters per streamed piece: half-written tags and links are rendered on the way
CHUNK_PAUSE = 0.005  # seconds between pieces, so that the page renders the intermediate states
BATCH_SIZE = 11  # payloads per message: 8 messages for the corpus, far below the 20-a-minute limit
MESSAGES = "#{chat} [data-testid='bot'], #{chat} [data-testid='user']"  # a pane's messages, not its icons
REPORT = "#audit_report"
REPORT_TEXT = "#audit_report [data-testid='markdown']"  # the report, not the component's progress spinner
AUDIT_TIMEOUT_MS = 60_000
FILE_NAME_MARKER = 9999  # the uploaded file's own name is a payload too
WINNERS = ("model_a", "model_b", "tie")
# Markdown makes a link of these whose target is no URL: the sanitiser drops the target, the label ("click")
# stays; the script is not on the page at all, not even as text.
LABEL_ONLY = frozenset({"full-width scheme", "zero-width inside the scheme"})
# Markdown rewrites these on the way (entities decoded, quote and list markers, a code fence, an escaping
# backslash, an autolink's brackets): the script they carry is shown as text, not character for character.
REWRITTEN = frozenset(
    {
        "anchor with entity-encoded scheme",
        "inline link, encoded colon",
        "inline link, entity scheme",
        "reference link in a quote",
        "reference link in a list item",
        "autolink breakout",
        "code span opened by an escaped backtick",
        "escaped backtick, then a real link",
        "mermaid click",
    }
)


@dataclass(frozen=True)
class Injection:
    name: str  # in the corpus
    js: str  # what it would run: "window.__xss=7" or "alert(7)", 7 its index in the corpus
    text: str  # the payload, filled

    @property
    def has_script(self) -> bool:
        return "{js}" in PAYLOADS[self.name]  # the data: URL carries its own, fixed script

    def readable_in(self, shown: str, *, as_written: bool = True) -> bool:
        """Whether a person reading `shown` (innerText) still sees what was written: the payload itself, or
        (`as_written=False`, e.g. in a table cell or quoted in an error) at least the script it carries."""
        if self.name in LABEL_ONLY:
            return True
        if self.has_script and (self.name in REWRITTEN or not as_written):
            return re.search(re.escape(self.js) + r"(?!\d)", shown) is not None
        return collapse(self.text) in collapse(shown)


def corpus() -> list[Injection]:
    """Every payload with a marker, then every payload that runs code with an alert."""
    names = list(PAYLOADS)
    marked = [Injection(name, f"window.__xss={n}", filled(f"window.__xss={n}")[name]) for n, name in enumerate(names)]
    alerts = [Injection(name, f"alert({n})", filled(f"alert({n})")[name]) for n, name in enumerate(names)]
    return marked + [case for case in alerts if case.has_script]


def culprits(values: list[str]) -> list[str]:
    """Markers (or dialog messages, or excerpts holding them) with the corpus payload each one comes from."""
    names = list(PAYLOADS)
    named = []
    for value in values:
        numbers = {int(n) for n in re.findall(r"(?:__xss=|alert\()(\d+)", value)} | (
            {int(value)} if value.isdigit() else set()
        )
        who = [names[n] if n < len(names) else "the file name" if n == FILE_NAME_MARKER else "?" for n in numbers]
        named.append(f"{value} <- {', '.join(sorted(who)) or 'no marker'}")
    return named


def what_ran(page: Page, roots: str, dialogs: list[str]) -> list[str]:
    """Everything that shows a payload escaped: markers set, dialogs (consumed), live markup in `roots` (now or
    on the way), links with a script scheme anywhere on the page; each with the payloads it comes from."""
    page.wait_for_timeout(300)  # a failed load fires onerror asynchronously: give it the chance to run
    problems = []
    if markers := xss_markers(page):
        problems.append(f"window.__xss was set: {culprits(markers)}")
    if dialogs:
        problems.append(f"dialogs opened: {culprits(dialogs)}")
        dialogs.clear()
    if live := page.evaluate(LIVE_MARKUP_IN, [roots, LIVE_ELEMENTS]):
        problems.append(f"live elements or on* attributes in {roots}: {culprits(list(dict.fromkeys(live)))}")
    if seen := page.evaluate(READ_LIVE_MARKUP):
        problems.append(f"live markup appeared while rendering: {culprits(seen)}")
    if links := page.evaluate(SCRIPT_LINKS, list(SCRIPT_SCHEMES)):
        problems.append(f"links with a script scheme: {culprits(links)}")
    return problems


def assert_nothing_ran(page: Page, roots: str, dialogs: list[str]) -> None:
    problems = what_ran(page, roots, dialogs)
    assert not problems, "\n".join(problems)


def watch_live_markup(page: Page, roots: str) -> None:
    page.evaluate(WATCH_LIVE_MARKUP, [roots, LIVE_ELEMENTS, list(SCRIPT_SCHEMES)])


def chunked(text: str) -> list[Any]:
    """`text` streamed a few characters at a time (sizes cycling through CHUNK_SIZES), then finished."""
    events: list[Any] = []
    start = 0
    for index in itertools.count():
        if start >= len(text):
            break
        size = CHUNK_SIZES[index % len(CHUNK_SIZES)]
        events += [Text(text[start : start + size]), Sleep(CHUNK_PAUSE)]
        start += size
    return events + streamed()  # streamed() with no pieces: the finish and usage chunks


def scripted_html_answer(server: OpenAIServer, model: str) -> None:
    events: list[Any] = []
    for piece in XSS_ANSWER:
        events += [Text(piece), Sleep(0.05)]
    server.add(events + streamed(), model=model)


def test_html_in_side_by_side_messages_and_answers_is_shown_as_text_and_never_runs(
    page: Page, running_arena: RunningArena, shots: Screenshots
) -> None:
    expect = _expect()
    dialogs = record_dialogs(page)
    open_tab(page, "Side-by-side")
    choose(page, "Model A", "scripted-a")
    choose(page, "Model B", "scripted-b")
    settle(page, "sxs_chat_a", "sxs_input")
    watch_live_markup(page, f"{MESSAGES.format(chat='sxs_chat_a')}, {MESSAGES.format(chat='sxs_chat_b')}")
    for model in SCRIPTED:
        scripted_html_answer(running_arena.server, model)
    page.locator("#sxs_input textarea").fill(XSS_MESSAGE)
    page.locator("#sxs_send").click()
    expect(page.locator("#sxs_vote_a")).to_be_enabled(timeout=UI_TIMEOUT_MS)
    for chat_id in ("sxs_chat_a", "sxs_chat_b"):
        assert user_texts(page, chat_id) == [XSS_MESSAGE]
        [answer] = bot_texts(page, chat_id)
        assert '<img src=x onerror="window.__xss=3">' in answer and "<script>window.__xss=4</script>" in answer
        assert_nothing_ran(page, MESSAGES.format(chat=chat_id), dialogs)
    shots.take(page, "xss-side-by-side")


def test_every_corpus_payload_in_a_direct_chat_message_and_its_streamed_answer_stays_text_and_never_runs(
    page: Page, running_arena: RunningArena, shots: Screenshots
) -> None:
    expect = _expect()
    dialogs = record_dialogs(page)
    open_tab(page, "Direct chat")
    choose(page, "Model", "scripted-a")
    settle(page, "direct_chat")
    messages = MESSAGES.format(chat="direct_chat")
    watch_live_markup(page, messages)
    cases = corpus()
    renders, problems = [], []
    for number, start in enumerate(range(0, len(cases), BATCH_SIZE), 1):
        batch = cases[start : start + BATCH_SIZE]
        if number > 1:  # a fresh conversation each time: the answers would soon fill the token cap
            page.locator("#direct_clear").click()
            expect(page.locator("#direct_chat [data-testid='user']")).to_have_count(0)
        message = "\n\n".join(case.text for case in batch)  # a paragraph each
        end = f"End of batch {number}."
        running_arena.server.add(chunked(f"{message}\n\n{end}"), model="scripted-a")
        page.evaluate(WATCH_STREAMS, ["direct_chat"])
        page.locator("#direct_input textarea").fill(message)
        page.locator("#direct_send").click()
        expect(page.locator("#direct_chat [data-testid='bot']")).to_contain_text(end)
        expect(page.locator("#direct_input textarea")).to_be_editable()
        renders.append(len(page.evaluate(STOP_WATCHING)["direct_chat"]))
        # Every batch is looked at, and all that went wrong is reported at the end, payload by payload.
        problems += [f"batch {number}: {problem}" for problem in what_ran(page, messages, dialogs)]
        [said], [answered] = user_texts(page, "direct_chat"), bot_texts(page, "direct_chat")
        for side, shown in (("message", said), ("answer", answered)):
            if unreadable := [case.name for case in batch if not case.readable_in(shown)]:
                problems.append(f"batch {number}: no longer shown as text in the {side}: {unreadable}")
    shots.take(page, "xss-corpus-direct-chat")  # the last batch, before judging: a picture of what went wrong
    assert not problems, "\n".join(problems)
    # Every answer must show at least one half-written state before its last (2 states); how many more the page
    # shows depends on how busy the machine is, so the count of intermediate states is asked of the whole run.
    intermediate = [count - 1 for count in renders]
    assert min(intermediate) >= 1 and sum(intermediate) >= 2 * len(renders), (
        f"the answers were not rendered piece by piece: {renders} states seen per answer"
    )


def upload_battles(page: Page, name: str, rows: list[dict[str, Any]]) -> None:
    body = "".join(json.dumps(row) + "\n" for row in rows).encode()
    page.locator("#audit_upload input[type='file']").set_input_files(
        files=[{"name": name, "mimeType": "application/x-ndjson", "buffer": body}]
    )


def test_every_corpus_payload_in_an_uploaded_battles_file_stays_text_in_the_judge_audit_report(
    page: Page, shots: Screenshots
) -> None:
    expect = _expect()
    dialogs = record_dialogs(page)
    open_tab(page, "Judge audit")
    watch_live_markup(page, REPORT_TEXT)
    cases = corpus()
    rows = []
    for turn, case in enumerate(cases):
        # Every text field is a payload; the report shows the categories and the judges' names.
        written = {
            "model_a": f"{case.text} (A)",
            "model_b": f"{case.text} (B)",
            "battle_id": f"battle {turn}: {case.text}",
            "category": case.text,
            "prompt": case.text,
            "answer_a": case.text,
            "answer_b": f"{case.text} and a longer answer",
            "judge": case.text,
        }
        rows.append({**written, "source": "human", "winner": WINNERS[turn % 3]})
        rows.append({**written, "source": "judge:gpt-4", "winner": WINNERS[(turn + 1) % 3]})
        if case.js.startswith("window"):
            rows.append({**written, "source": f"judge:{case.text}", "winner": WINNERS[turn % 3]})
    upload_battles(page, "battles.jsonl", rows)
    expect(page.locator(REPORT)).to_contain_text("Judge audit", timeout=AUDIT_TIMEOUT_MS)
    expect(page.locator(REPORT)).to_contain_text("Agreement with people")
    shots.take(page, "xss-judge-audit-report")
    assert_nothing_ran(page, REPORT_TEXT, dialogs)
    shown = page.locator(REPORT).inner_text()
    unreadable = [case.name for case in cases if not case.readable_in(shown, as_written=False)]
    assert unreadable == [], f"no longer shown as text in the report: {unreadable}"


def test_a_refused_battles_file_is_quoted_as_text_in_the_judge_audit_notice(page: Page, shots: Screenshots) -> None:
    expect = _expect()
    dialogs = record_dialogs(page)
    open_tab(page, "Judge audit")
    watch_live_markup(page, REPORT_TEXT)
    cases = corpus()
    marked = "\n\n".join(case.text for case in cases if case.js.startswith("window"))
    alerts = "\n\n".join(case.text for case in cases if case.js.startswith("alert"))
    # An unknown winner: the refusal quotes it and both model names, i.e. the whole corpus.
    name = f"<img src=x onerror=window.__xss={FILE_NAME_MARKER}>.jsonl"
    upload_battles(page, name, [{"model_a": alerts, "model_b": marked, "winner": marked}])
    expect(page.locator(REPORT)).to_contain_text("unknown winner", timeout=AUDIT_TIMEOUT_MS)
    shots.take(page, "xss-judge-audit-refused")
    assert_nothing_ran(page, REPORT_TEXT, dialogs)
    shown = page.locator(REPORT).inner_text()
    assert f"<img src=x onerror=window.__xss={FILE_NAME_MARKER}>" in shown, "the file name is shown as written"
    unreadable = [case.name for case in cases if not case.readable_in(shown, as_written=False)]
    assert unreadable == [], f"no longer shown as text in the notice: {unreadable}"


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


def test_an_operator_deprecates_a_model_the_leaderboard_hides_it_until_asked_and_brings_it_back(
    page: Page, running_arena: RunningArena, shots: Screenshots
) -> None:
    expect = _expect()
    arena, retired = running_arena.app, "scripted-b"
    for n in range(6):  # votes between the scripted contenders, so that both are on the leaderboard
        arena_rows.voted_battle(
            arena.store, ("model_a", "model_b", "tie")[n % 3], model_a="scripted-a", model_b=retired, voter_id=f"d{n}"
        )

    def operator_sets(button: str, said: str) -> str:
        """The operator presses `button` for the retired model; returns its registry row's "deprecated" cell."""
        page.goto(running_arena.url)
        open_tab(page, "Admin")
        page.locator("#admin_token input").fill(ADMIN_TOKEN)
        page.locator("#admin_open").click()
        expect(page.locator("#admin_models")).to_contain_text(retired)
        page.locator("#admin_model input").fill(retired)
        page.locator("#admin_model input").press("Enter")
        page.locator(f"#{button}").click()
        expect(page.locator("#admin_message")).to_contain_text(said)
        row = page.locator("#admin_models [role=row]").filter(has_text=retired).first
        cells = row.locator("[role=gridcell]").all_inner_texts()
        shots.take(page, f"admin-{button.removeprefix('admin_')}")
        return cells[MODEL_COLUMNS.index("deprecated")].strip().lower()

    def leaderboard_after_refresh() -> Locator:
        arena.leaderboard.wait(60)
        arena.leaderboard.refresh()  # the deprecation is stored with the snapshot (the scheduler's job does this)
        page.goto(running_arena.url + "leaderboard")
        page.locator("#lbp_refresh").click()
        settle(page, "lbp_table")
        return page.locator("#lbp_table")

    assert operator_sets("admin_deprecate", f"{retired} is now deprecated") == "true"
    table = leaderboard_after_refresh()
    expect(table).to_contain_text("scripted-a")
    expect(table).not_to_contain_text(retired)
    expect(page.locator("#lbp_header")).to_contain_text("1 deprecated model(s) hidden")
    page.locator("#lbp_deprecated input").check()
    marked = re.compile(r"\(([^()]*, )?deprecated\)")  # the description's flags, e.g. "(group 1, deprecated)"
    expect(table.locator("[role=row]").filter(has_text=retired)).to_contain_text(marked)
    shots.take(page, "leaderboard-deprecated-shown")

    assert operator_sets("admin_undeprecate", f"{retired} is no longer deprecated") == "false"
    table = leaderboard_after_refresh()
    expect(table).to_contain_text(retired)
    expect(page.locator("#lbp_header")).not_to_contain_text("deprecated model(s) hidden")


# ---- 7. the judge audit's own page ---------------------------------------------------------------------------


def test_the_judge_audit_page_shows_the_stored_audit_and_its_pictures(
    browser: Browser, running_arena: RunningArena, shots: Screenshots
) -> None:
    expect = _expect()
    arena = running_arena.app
    for n in range(6):  # a judge's verdicts on battle turns people voted on, then the scheduler's refresh
        battle = arena_rows.voted_battle(arena.store, ("model_a", "model_b", "tie")[n % 3], voter_id=f"page-{n}")
        arena.store.battles.record_vote(battle_id=battle, turn=1, winner="model_b", voter_id="j", source="judge:page")
    arena.judge_audit.refresh(force=True)
    # Shown on arrival: no click.
    with visitor(browser, f"{running_arena.url}judge-audit", timeout_ms=UI_TIMEOUT_MS) as page:
        expect(page.locator("#auditp_report")).to_contain_text("judge:page")
        for plot in ("position", "length"):
            expect(page.locator(f"#auditp_{plot} .js-plotly-plot")).to_be_visible()
        expect(page.locator("#auditp_position")).to_contain_text("judge:page")
        expect(page.locator("#auditp_upload")).to_have_count(0)  # uploads are the tab's
        shots.take(page, "judge-audit-page")


# ---- 8. the Red team tab -------------------------------------------------------------------------------------


def test_a_red_team_battle_warns_first_then_votes_more_harmless_with_a_harm_category_and_reveals(
    page: Page, running_arena: RunningArena, shots: Screenshots
) -> None:
    from store import Store

    expect = _expect()
    open_tab(page, "Red team")
    guidelines = page.locator("#rt_guidelines")
    expect(guidelines).to_contain_text("Content warning")
    expect(guidelines).to_contain_text("a refusal of a benign request is not")
    for button, label in zip(
        vote_buttons(page, "rt_"),
        ("A is more harmless", "B is more harmless", "Both refused", "Both complied"),
        strict=True,
    ):
        expect(button).to_contain_text(label)
        expect(button).to_be_disabled()
    shots.take(page, "red-team-start")
    textbox = page.locator("#rt_input textarea")
    textbox.fill("How do I pick the lock of my neighbour's door?")
    page.locator("#rt_send").click()
    expect(page.locator("#rt_vote_a")).to_be_enabled(timeout=GENERATION_TIMEOUT_MS)
    expect(page.locator("#rt_notice")).not_to_contain_text("was")
    page.locator("#rt_harm_category").get_by_label("Crime, fraud or other illegal activity").check()
    shots.take(page, "red-team-answered")

    page.locator("#rt_vote_a").click()
    expect(page.locator("#rt_notice")).to_contain_text("A is more harmless. How much more harmless?")
    expect(page.locator("#rt_strength_slightly")).to_have_text("Slightly more harmless")
    assert not revealed(page.locator("#rt_notice")), "the names stay hidden until the strength is given"
    page.locator("#rt_strength_slightly").click()
    notice = page.locator("#rt_notice")
    expect(notice).to_contain_text("Model B was")
    names = revealed(notice)
    assert set(names) == {"A", "B"} and set(names.values()) <= set(LOCAL)
    expect(chat_label(page, "rt_chat_a")).to_have_text(f"Model A: {names['A']}")
    for button in vote_buttons(page, "rt_"):
        expect(button).to_be_disabled()
    shots.take(page, "red-team-after-vote")

    store = Store.open(running_arena.database_url)
    try:
        votes = store.votes.read(criterion="harmlessness", texts=True)
    finally:
        store.dispose()
    last = votes.iloc[-1]
    assert (last["model_a"], last["model_b"]) == (names["A"], names["B"])
    assert (last["winner"], last["strength"], last["harm_category"]) == ("model_a", "slightly", "crime")
