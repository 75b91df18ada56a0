"""Input checks and flags: text cleaning, identity leaks and probes, voter hashing.

Showing text safely is ui/display.py's job."""

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


def visible_text(text: str) -> str:
    """What a reader sees of `text`: NFKC-normalised, without format characters (zero-width spaces and joiners,
    bidi marks, the BOM: Unicode category Cf). For deciding that a message is empty and for matching words; the
    stored text keeps those characters (emoji sequences and right-to-left text need them)."""
    folded = unicodedata.normalize("NFKC", _LONE_SURROGATES.sub("\ufffd", text))
    return "".join(c for c in folded if unicodedata.category(c) != "Cf")


def clean_text(raw: object, *, what: str, max_chars: int, required: bool = True) -> CleanMessage:
    """Any text a client sends (a message, a system prompt): checked and normalised, or InputError saying why.

    Lone surrogates (which no encoder accepts) become U+FFFD and control characters are removed, each with a
    notice; the text is NFC-normalised and trimmed, format characters at either end included. A text that has
    nothing visible left is empty: an error when `required`, else "".
    """
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise InputError(f"The {what} must be text, not {type(raw).__name__}.")
    notices: list[str] = []
    text = raw
    if _LONE_SURROGATES.search(text):
        text = _LONE_SURROGATES.sub("\ufffd", text)
        notices.append(f"The {what} held invalid characters (unpaired UTF-16 surrogates); each became \ufffd.")
    text, removed = _CONTROL_CHARS.subn("", text)
    if removed:
        notices.append(f"{removed} control character{'s' if removed != 1 else ''} removed.")
    text = _trim(unicodedata.normalize("NFC", text).replace("\r\n", "\n"))
    if not visible_text(text).strip():
        if required:
            raise InputError(f"The {what} is empty (invisible characters do not count). Type something to send.")
        return CleanMessage(text="", notices=tuple(notices))
    if len(text) > max_chars:
        raise InputError(f"The {what} is {len(text):,} characters long; the limit is {max_chars:,}. Please shorten it.")
    return CleanMessage(text=text, notices=tuple(notices))


def clean_message(raw: object, *, max_chars: int) -> CleanMessage:
    """Validate and normalise a user message, or raise InputError with a message for the user."""
    if raw is None:
        raise InputError("Type a message first.")
    return clean_text(raw, what="message", max_chars=max_chars)


def _trim(text: str) -> str:
    """Whitespace and format characters off both ends."""
    start, end = 0, len(text)
    while start < end and (text[start].isspace() or unicodedata.category(text[start]) == "Cf"):
        start += 1
    while end > start and (text[end - 1].isspace() or unicodedata.category(text[end - 1]) == "Cf"):
        end -= 1
    return text[start:end]


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
                # On what a reader sees: "gpt\u200b-4" or a full-width "ＧＰＴ-4" still names the model.
                found.extend(m.group(0).lower() for m in self.pattern.finditer(visible_text(text)))
        return sorted(set(found))


def _fold(text: str) -> str:
    """Case- and accent-insensitive form: "Quién ERES" and "quien eres" compare equal; ’ is an apostrophe."""
    decomposed = unicodedata.normalize("NFKD", visible_text(text).casefold().replace("\u2019", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Questions that ask a contender who it is. Its answer names it (or makes it guess), so the vote is no longer
# blind even when no model or vendor word appears. Written naturally and folded like the text they match.
_PROBE_SOURCES = (
    # English
    r"\bwho\s+(?:are|r)\s+(?:you|u|ya)\b(?!\s+(?:talking|going|to|with|kidding|calling|looking|voting|meeting|"
    r"referring|asking|rooting|and))",
    r"\bwhat\s+(?:are\s+you|r\s+u)\s*[?!.]*\s*$",
    r"\b(?:which|what)\s+(?:[\w-]+\s+){0,3}?(?:model|llm|ai|bot|chatbot|version)\s+(?:are\s+you|r\s+u|is\s+this|"
    r"am\s+i\s+(?:talking|speaking|chatting)|powers\s+you|is\s+behind)",
    r"\bwhat(?:'s|\s+is)\s+your\s+(?:real\s+|actual\s+|model\s+|official\s+)?name\b",
    r"\byour\s+model\s+name\b",
    r"\bwhat\s+(?:should|do|can)\s+i\s+call\s+you\b",
    r"\bwho\s+(?:made|created|built|trained|developed|designed|programmed|owns)\s+you\b",
    r"\bwho\s+is\s+your\s+(?:creator|developer|maker|author|owner|company|vendor)\b",
    r"\b(?:which|what)\s+company\s+(?:made|created|built|trained|developed|owns)\s+you\b",
    r"\bare\s+(?:you|u)\s+(?:an?\s+)?(?:gpt|chatgpt|claude|gemini|bard|llama|mistral|mixtral|qwen|deepseek|grok|"
    r"copilot|phi|gemma|smollm|falcon|command)\b",
    r"\bintroduce\s+yourself\b",
    # French
    r"\bqui\s+(?:es[\s-]+tu|êtes[\s-]+vous)\b",
    r"\bquel\s+est\s+(?:ton|votre)\s+nom\b",
    r"\bcomment\s+(?:tu\s+t'appelles|t'appelles[\s-]+tu|vous\s+appelez[\s-]+vous)\b",
    r"\bquel\s+modèle\s+(?:es[\s-]+tu|êtes[\s-]+vous)\b",
    # Spanish
    r"\bquién\s+eres\b",
    r"\bqué\s+modelo\s+eres\b",
    r"\bcómo\s+te\s+llamas\b",
    r"\bcuál\s+es\s+tu\s+nombre\b",
    r"\bquién\s+te\s+(?:creó|hizo|entrenó)\b",
    # German
    r"\bwer\s+(?:bist\s+du|sind\s+sie)\b",
    r"\bwie\s+(?:heißt\s+du|heißen\s+sie|ist\s+dein\s+name)\b",
    r"\bwelches\s+(?:\w+\s+)?modell\s+(?:bist\s+du|sind\s+sie)\b",
    # Italian and Portuguese
    r"\bchi\s+sei\b",
    r"\bcome\s+ti\s+chiami\b",
    r"\bche\s+modello\s+sei\b",
    r"\bquem\s+(?:é\s+você|és\s+tu)\b",
    r"\bqual\s+(?:é\s+)?o\s+seu\s+nome\b",
    r"\bcomo\s+(?:você\s+se\s+chama|te\s+chamas)\b",
    # Russian
    r"\bкто\s+(?:ты|вы)\b",
    r"\bкак\s+(?:тебя|вас)\s+зовут\b",
    r"\bкакая\s+(?:ты\s+)?модель\b",
    # Chinese and Japanese (no word boundaries to rely on)
    r"你是谁|您是谁|你是什么模型|你是哪个模型|你叫什么|你的名字",
    r"あなたは誰|あなたはだれ|あなたの名前|君は誰|何のモデル|どのモデル",
)
_PROBES = tuple(re.compile(_fold(source), re.MULTILINE) for source in _PROBE_SOURCES)


def find_identity_probes(text: str | None) -> list[str]:
    """The phrases in `text` that ask a model who it is (folded to lower case, without accents), sorted."""
    if not text:
        return []
    folded = _fold(text)
    return sorted({" ".join(m.group(0).split()).rstrip("?!. ") for p in _PROBES for m in p.finditer(folded)})


def voter_hash(salt: str, ip: str | None, session: str | None) -> str:
    """Salted hash of IP + browser session: stable for one visitor, not reversible to the IP."""
    material = f"{salt}\x1f{ip or '-'}\x1f{session or '-'}".encode()
    return hashlib.sha256(material).hexdigest()


def client_hash(salt: str, ip: str | None) -> str:
    """Salted hash of the client address alone: the key of the per-address rate limits."""
    return hashlib.sha256(f"{salt}\x1fclient\x1f{ip or '-'}".encode()).hexdigest()


def session_hash(salt: str, session: str | None) -> str:
    """Salted hash of the browser session, used to tie a battle to the session that started it."""
    return hashlib.sha256(f"{salt}\x1fsession\x1f{session or '-'}".encode()).hexdigest()
