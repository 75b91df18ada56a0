"""Helpers for tests/test_browser.py: the system Chromium, screenshots, and what a person sees in a chat pane.

Playwright cannot download its own browsers on these machines, so the tests drive Debian's `chromium` package
(`.ci/run` installs it). Without it the browser tests are skipped with the reason, except in CI (env CI set),
where they fail: a skip there would hide a broken install.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
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


@dataclass
class Screenshots:
    """Numbered full-page screenshots under test-artifacts/browser/, in the order the steps happened."""

    folder: Path = ARTIFACTS
    publish: bool = field(default_factory=lambda: os.environ.get("UPDATE_SCREENSHOTS") == "1")
    taken: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):  # a stale picture from an earlier run would mislead whoever looks
            old.unlink()

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
