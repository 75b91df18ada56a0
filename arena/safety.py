"""Input checks and flags: message cleaning, identity-leak detection, voter hashing, inert display text."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# C0/C1 control characters except tab, newline and carriage return; PostgreSQL rejects NUL outright.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_LONE_SURROGATES = re.compile(r"[\ud800-\udfff]")


class InputError(ValueError):
    """The user's input cannot be used; the message says why and is fit to show in the UI."""


@dataclass(frozen=True)
class CleanMessage:
    text: str
    notices: tuple[str, ...] = ()


def clean_message(raw: object, *, max_chars: int) -> CleanMessage:
    """Validate and normalise a user message, or raise InputError with a message for the user."""
    if raw is None:
        raise InputError("Type a message first.")
    if not isinstance(raw, str):
        raise InputError(f"A message must be text, not {type(raw).__name__}.")
    notices: list[str] = []
    text = raw
    if _LONE_SURROGATES.search(text):
        text = _LONE_SURROGATES.sub("\ufffd", text)
        notices.append("Invalid unicode characters were replaced with \ufffd.")
    text, removed = _CONTROL_CHARS.subn("", text)
    if removed:
        notices.append(f"{removed} control character{'s' if removed != 1 else ''} removed.")
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").strip()
    if not text:
        raise InputError("The message is empty. Type something to ask both models.")
    if len(text) > max_chars:
        raise InputError(
            f"The message is {len(text):,} characters long; the limit is {max_chars:,}. Please shorten it."
        )
    return CleanMessage(text=text, notices=tuple(notices))


def storable(text: str | None) -> str | None:
    """Text any database accepts: no NUL, no lone surrogates (model output is not trusted either)."""
    if text is None:
        return None
    return _LONE_SURROGATES.sub("\ufffd", text.replace("\x00", ""))


@dataclass(frozen=True)
class IdentityMatcher:
    """Finds model or vendor names in text, on word boundaries, ignoring case."""

    pattern: re.Pattern[str] | None

    @classmethod
    def from_words(cls, words: Iterable[str]) -> IdentityMatcher:
        unique = sorted({w.strip().lower() for w in words if w.strip()}, key=len, reverse=True)
        if not unique:
            return cls(None)
        alternatives = "|".join(re.escape(w) for w in unique)
        # \w-boundaries that also treat '-' and '.' as part of a name, so "gpt-4" does not match "gpt-4o"'s
        # prefix only, and "tii" does not match "tiia".
        return cls(re.compile(rf"(?<![\w.-])(?:{alternatives})(?![\w-])", re.IGNORECASE))

    def find(self, *texts: str | None) -> list[str]:
        if self.pattern is None:
            return []
        found: list[str] = []
        for text in texts:
            if text:
                found.extend(m.group(0).lower() for m in self.pattern.finditer(text))
        return sorted(set(found))


def voter_hash(salt: str, ip: str | None, session: str | None) -> str:
    """Salted hash of IP + browser session: stable for one visitor, not reversible to the IP."""
    material = f"{salt}\x1f{ip or '-'}\x1f{session or '-'}".encode()
    return hashlib.sha256(material).hexdigest()


def session_hash(salt: str, session: str | None) -> str:
    """Salted hash of the browser session, used to tie a battle to the session that started it."""
    return hashlib.sha256(f"{salt}\x1fsession\x1f{session or '-'}".encode()).hexdigest()


_CODE_SPANS = re.compile(r"(```.*?(?:```|$)|`[^`\n]*`)", re.DOTALL)


def inert_markdown(text: str) -> str:
    """Markdown safe to render: HTML outside code is escaped so that it shows as text, never runs.

    Code spans and fenced blocks are left alone: markdown already shows their content literally.
    """
    parts = _CODE_SPANS.split(text)
    for i in range(0, len(parts), 2):  # even indexes are outside code
        # Escaping '<' is enough to stop any tag; '>' stays so that markdown quotes still work.
        parts[i] = parts[i].replace("&", "&amp;").replace("<", "&lt;")
    return "".join(parts)
