"""Helpers for tests/test_browser.py: the system Chromium, screenshots, and what a person sees in a chat pane.

Playwright cannot download its own browsers on these machines, so the tests drive Debian's `chromium` package
(`.ci/run` installs it). Without it the browser tests are skipped with the reason, except in CI (env CI set),
where they fail: a skip there would hide a broken install.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("ARENA_TEST_CHROMIUM", "/usr/bin/chromium"))
# No sandbox: CI runs as root. The rest keeps Chromium off the network, which these machines do not have.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts" / "browser"
# Screenshots that the README shows: written only on request, so that a test run never rewrites tracked files.
PUBLISHED = {"arena-after-vote": REPO / "docs" / "arena.png", "leaderboard-page": REPO / "docs" / "leaderboard.png"}
INSTALL_HINT = "apt-get install -y chromium fonts-noto-color-emoji && pip install -e '.[dev]'"
# How long an `expect(...)` waits for the page to get there. Playwright's own 5 s is too short when the suite runs
# two workers and the other one is training or generating: CI saw a re-rendered table arrive after more than 5 s.
# A passing assertion returns as soon as it holds, so this costs nothing unless something is wrong.
EXPECT_TIMEOUT_MS = 20_000


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM}"
    return None


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def browser_marks() -> list[pytest.MarkDecorator]:
    """Module marks: skip loudly outside CI when the browser is missing (in CI the `browser` fixture fails)."""
    reason = missing_browser()
    return [
        pytest.mark.skipif(
            reason is not None and not in_ci(), reason=f"browser tests SKIPPED: {reason} ({INSTALL_HINT})"
        )
    ]


def fail_if_missing_in_ci() -> None:
    reason = missing_browser()
    if reason is not None:
        pytest.fail(f"{reason}; CI must run the browser tests: {INSTALL_HINT}", pytrace=False)


@contextmanager
def system_chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, closed when the block ends (fails in CI when it is missing)."""
    fail_if_missing_in_ci()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def visitor(
    browser: Any, url: str, *, timeout_ms: int, height: int = 900, permissions: tuple[str, ...] = ()
) -> Iterator[Any]:
    """A new visitor (own cookies, own Gradio session) on `url`; fails if the page raised a JavaScript error."""
    context = browser.new_context(viewport={"width": 1280, "height": height})
    context.set_default_timeout(timeout_ms)
    if permissions:
        context.grant_permissions(list(permissions))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(url)
        yield page
        assert not errors, f"JavaScript errors in the page: {errors}"
    finally:
        context.close()


@dataclass
class Screenshots:
    """Numbered full-page screenshots under test-artifacts/browser/, in the order the steps happened."""

    folder: Path = ARTIFACTS
    publish: bool = field(default_factory=lambda: os.environ.get("UPDATE_SCREENSHOTS") == "1")
    taken: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):  # a stale picture from an earlier run would mislead whoever looks
            old.unlink(missing_ok=True)  # another test worker may have removed it first

    def take(self, page: Any, name: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        if self.publish and name in PUBLISHED:
            shutil.copyfile(path, PUBLISHED[name])
        return path


# Samples the latest answer of each pane every 25 ms, from before the message is sent until the answers are
# complete: the only way to see streaming, since a wait on the final text cannot tell a stream from one update.
WATCH_STREAMS = """(ids) => {
    window.__samples = Object.fromEntries(ids.map((id) => [id, []]));
    const sample = () => {
        for (const id of ids) {
            const bots = document.querySelectorAll(`#${id} [data-testid="bot"]`);
            const text = bots.length ? bots[bots.length - 1].innerText.trim() : "";
            const seen = window.__samples[id];
            if (text && text !== "…" && seen[seen.length - 1] !== text) seen.push(text);
        }
    };
    window.__watch = setInterval(sample, 25);
}"""

STOP_WATCHING = """() => { clearInterval(window.__watch); return window.__samples; }"""


def bot_texts(page: Any, chat_id: str) -> list[str]:
    return [text.strip() for text in page.locator(f"#{chat_id} [data-testid='bot']").all_inner_texts()]


def user_texts(page: Any, chat_id: str) -> list[str]:
    return [text.strip() for text in page.locator(f"#{chat_id} [data-testid='user']").all_inner_texts()]


def tab_to(page: Any, selector: str, *, backwards: bool = False, max_presses: int = 60) -> int:
    """Press Tab (or Shift+Tab) until the element matching `selector` has the focus; returns the presses."""
    key = "Shift+Tab" if backwards else "Tab"
    target = page.locator(selector)
    for presses in range(1, max_presses + 1):
        page.keyboard.press(key)
        if target.evaluate("(el) => el === document.activeElement || el.contains(document.activeElement)"):
            return presses
    focused = page.evaluate("() => document.activeElement?.outerHTML?.slice(0, 200)")
    raise AssertionError(f"{max_presses} x {key} never reached {selector}; the focus is on {focused}")


# ---- script injection: what could run, and whether anything did --------------------------------------------

# Elements that run script, load something or take the focus by themselves: none may come out of text that a
# person, a model or an uploaded file wrote.
LIVE_ELEMENTS = "script, img, iframe, object, embed, svg, math, style, base, meta, input, details"

# Live elements and elements with an on* attribute inside `roots` (a CSS selector), as outerHTML excerpts.
LIVE_MARKUP_IN = """([roots, live]) => {
    const found = [];
    for (const root of document.querySelectorAll(roots)) {
        for (const el of [root, ...root.querySelectorAll("*")]) {
            const handlers = el.getAttributeNames().filter((name) => name.toLowerCase().startsWith("on"));
            if (el.matches(live) || handlers.length) found.push(el.outerHTML.slice(0, 300));
        }
    }
    return found;
}"""

# An href as a browser reads its scheme: lower-cased, without whitespace and control characters.
_BARE_HREF = (
    """(el) => (el.getAttribute("href") || "").toLowerCase().replace(/[\\s\\u0000-\\u001f\\u007f-\\u009f]/g, "")"""
)

# Every element of the page with an href whose scheme could run script (the attribute as written, bared, and
# for links the protocol the browser resolved), as outerHTML excerpts.
SCRIPT_LINKS = (
    """(schemes) => {
    const bare = """
    + _BARE_HREF
    + """;
    return [...document.querySelectorAll("[href]")]
        .filter((el) => schemes.some((s) => bare(el).startsWith(s) || (el.protocol || "").toLowerCase() === s))
        .map((el) => el.outerHTML.slice(0, 300));
}"""
)

# Records, from now on, every live element or on* attribute or script link that appears inside `roots`, even
# for a moment: a streamed answer is rendered once per update, and a half-written tag that ran on the way would
# leave no trace in the final page. READ_LIVE_MARKUP returns what was seen.
WATCH_LIVE_MARKUP = (
    """([roots, live, schemes]) => {
    window.__liveMarkup = [];
    const bare = """
    + _BARE_HREF
    + """;
    const scriptLink = (el) => schemes.some((s) => bare(el).startsWith(s));
    const inspect = (el, parent) => {
        if (!(el.closest(roots) || (parent && parent.closest && parent.closest(roots)))) return;
        const handlers = el.getAttributeNames().filter((name) => name.toLowerCase().startsWith("on"));
        if (el.matches(live) || handlers.length || scriptLink(el)) window.__liveMarkup.push(el.outerHTML.slice(0, 300));
    };
    window.__liveObserver = new MutationObserver((records) => {
        for (const record of records) {
            if (record.type === "attributes") {
                inspect(record.target, null);
                continue;
            }
            for (const node of record.addedNodes) {
                if (node.nodeType !== Node.ELEMENT_NODE) continue;
                for (const el of [node, ...node.querySelectorAll("*")]) inspect(el, record.target);
            }
        }
    });
    window.__liveObserver.observe(document.body, { childList: true, subtree: true, attributes: true });
}"""
)

# What WATCH_LIVE_MARKUP recorded since the last read, each excerpt once.
READ_LIVE_MARKUP = """() => [...new Set(window.__liveMarkup.splice(0))]"""

# window.__xss in a frame (the page or an iframe a payload made): undefined unless a payload ran.
XSS_MARKER = """() => window.__xss === undefined ? null : String(window.__xss)"""


def xss_markers(page: Any) -> list[str]:
    """The values payloads left in window.__xss, in the page and in each of its frames."""
    found = []
    for frame in page.frames:
        try:
            value = frame.evaluate(XSS_MARKER)
        except Exception as exc:  # a frame that navigated away or cannot be reached is suspicious in itself
            value = f"(frame {frame.url!r} unreadable: {exc})"
        if value is not None:
            found.append(value)
    return found


def collapse(text: str) -> str:
    """Whitespace as a reader sees it: runs of it are one space (tabs and newlines included)."""
    return " ".join(text.split())


def record_dialogs(page: Any) -> list[str]:
    """The messages of the alert/confirm/prompt dialogs the page opens from now on (each dismissed at once)."""
    seen: list[str] = []

    def dismiss(dialog: Any) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return seen
