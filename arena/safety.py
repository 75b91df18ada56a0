"""Input checks and flags: text cleaning, identity leaks and probes, voter hashing.

Showing text safely is ui/display.py's job."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import ipaddress
import itertools
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


# ---- identity: model and vendor names, and questions that ask a model who it is ------------------------------
#
# Both are matched on a normalised view of the text, so that what a reader sees as "GPT-4" or "who are you" is
# found however it is spelled: format characters (zero-width, soft hyphen, bidi marks) and other invisible ones
# dropped, NFKC (full-width, mathematical letters), case and accents folded, dashes unified; then Cyrillic/Greek
# look-alike letters read as Latin, letters spaced or dotted apart as one word ("g p t", "c.l.a.u.d.e") and
# leetspeak as letters ("cl4ude", "wh0 4re y0u"). No pattern has a repetition inside a repetition or two
# repetitions that can trade the same characters (the `{0,3}?` word gaps are bounded), so each character is tried
# a bounded number of times: a 20k-character hostile message stays linear (tests/test_identity_probes.py).

# Invisible characters that are neither format characters (Cf, dropped by visible_text) nor marks (Mn, dropped
# with the accents): Hangul fillers, the braille blank.
_INVISIBLE = "\u115f\u1160\u3164\uffa0\u2800"
_FOLD_TABLE = str.maketrans(
    {
        **dict.fromkeys(_INVISIBLE, None),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63", "-"),  # dashes and minus
        **dict.fromkeys("\u2018\u2019\u02bc\u2032\u00b4`", "'"),  # apostrophes
        # Letters NFKD does not decompose; people type them without the stroke anyway.
        "ı": "i", "ł": "l", "đ": "d", "ø": "o", "ħ": "h",
    }
)  # fmt: skip
# Letters that look like Latin ones (after case folding): Cyrillic, Greek, Armenian, IPA, small capitals.
_LOOKALIKES = (
    "аa вb сc еe һh іi јj кk мm нh оo пn рp тt уy хx ѕs ԁd ԛq ԝw ӏl гr ьb "
    "αa βb γy εe ηn ιi κk νv οo ρp τt υu χx ωw ϲc "
    "օo սu հh ոn ɑa ɡg ɩi ʟl "
    "ᴀa ʙb ᴄc ᴅd ᴇe ꜰf ɢg ʜh ɪi ᴊj ᴋk ᴍm ɴn ᴏo ᴘp ʀr ꜱs ᴛt ᴜu ᴠv ᴡw ʏy ᴢz"
)
_HOMOGLYPHS = str.maketrans({pair[0]: pair[1] for pair in _LOOKALIKES.split()})
# Leetspeak read back as letters, inside words that mix letters and digits ("wh0 4re y0u").
_UNLEET = str.maketrans("0134579@$", "oieastgas")
_LEET_CLASSES = {"a": "[a4@]", "e": "[e3]", "i": "[i1]", "l": "[l1]", "o": "[o0]", "s": "[s5$]", "t": "[t7]"}
_SPACES = re.compile(r"[^\S\n]+")
_NEWLINES = re.compile(r" ?\n[ \n]*")


def _fold(text: str) -> str:
    """Case- and accent-insensitive form, whitespace runs as one space (or one newline): "Quién  ERES" and
    "quien eres" compare equal; ’ is an apostrophe; invisible characters and combining marks are gone."""
    decomposed = unicodedata.normalize("NFKD", visible_text(text).casefold())
    # Mn: accents, and also variation selectors and the combining grapheme joiner (invisible, combining class 0).
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return _NEWLINES.sub("\n", _SPACES.sub(" ", stripped.translate(_FOLD_TABLE)))


# A run of three or more single letters set apart by spaces, dots, dashes...: "g p t", "c.l.a.u.d.e". Digits
# stay apart, so "q w e n 2.5" reads "qwen 2.5".
_SPACED_LETTERS = re.compile(r"(?<![^\W_])[^\W\d_](?:[ ._*·/|-]{1,2}[^\W\d_](?![^\W_])){2,}")
_SPACED_APART = re.compile(r"[ ._*·/|-]")
_WORD = re.compile(r"[\w@$]+")


def _joined(text: str) -> str:
    """Letters spaced or dotted apart as one word: "c.l.a.u.d.e 3" reads "claude 3"."""
    return _SPACED_LETTERS.sub(lambda m: _SPACED_APART.sub("", m.group(0)), text)


def _unleet(word: re.Match[str]) -> str:
    token = word.group(0)
    mixed = any(c.isalpha() for c in token) and any(not c.isalpha() for c in token)
    return token.translate(_UNLEET) if mixed else token


def _latin(folded: str) -> str:
    """Look-alike letters as Latin and leetspeak words as letters: "wһо 4re y0u" reads "who are you"."""
    return _WORD.sub(_unleet, folded.translate(_HOMOGLYPHS))


def _leet(word: str) -> str:
    """A regex for `word` that also accepts leetspeak spellings ("cl4ude"), for words of four letters or more
    without digits ("t11" is not "tii"; "gpt-40" is not "gpt-4o"), and where the word has a space any of space,
    '-', '_' or nothing ("hugging face")."""
    leet = sum(c.isalpha() for c in word) >= 4 and not any(c.isdigit() for c in word)
    parts = []
    for c in word:
        if c == " ":
            parts.append("[ _-]?")
        else:
            parts.append(_LEET_CLASSES.get(c, re.escape(c)) if leet else re.escape(c))
    return "".join(parts)


# Model families whose names take version and size suffixes: "llama3", "llama-3.1-70b-instruct", "gpt4o",
# "qwen2.5-72b", "claude 3.5 sonnet", "mixtral-8x7b", "phi-3-mini". A family's suffixed names are matched when an
# identity word starts with one of its stems (a word list without "llama" matches no llama either). The bare
# stem is matched only if it is an identity word itself: "llama" and "gemma" are (a contender saying "I am Gemma"
# is named; a prompt about a llama or a girl called Gemma loses its vote, the cheaper mistake), "phi" and "yi"
# are not (a Greek letter, a surname), so "philosophy" never matches and "phi-3" always does. Then what may come
# between the stem and its version: a space where "claude 3" can only be a model; only a dash or nothing where
# the stem is also an ordinary word or variable ("phi 2", "falcon 9"; "phi1"/"phi2" are angles, "phi3" is not).
_FAMILIES = (
    ("gpt|chat gpt|chatgpt", "[-_ ]?"),
    ("claude", "[-_ ]?"),
    ("llama|meta llama|codellama|tinyllama", "[-_ ]?"),
    ("mistral|mixtral|ministral|codestral|pixtral|magistral", "[-_ ]?"),
    ("qwen|qwq|codeqwen", "[-_ ]?"),
    ("gemma|codegemma", "[-_ ]?"),
    ("gemini", "[-_ ]?"),
    ("deepseek", "[-_ ]?"),
    ("grok", "[-_ ]?"),
    ("smollm", "[-_ ]?"),
    ("phi", "(?:-|(?=[34]))"),
    ("yi", "-"),
    ("falcon", "[-_]?"),
    ("vicuna|koala|alpaca", "[-_]?"),
    ("olmo|tulu", "[-_]?"),
    ("hermes|openhermes|nous hermes", "[-_]?"),
    ("chatglm|glm", "[-_]?"),
    ("palm", "[-_]?"),
    ("dbrx", "[-_]?"),
    ("command", "-"),
    ("zephyr", "-"),
    ("starling|openchat|nemotron|wizardlm|internlm|baichuan|stablelm", "[-_]?"),
)
_SIZE = r"\d{1,2}x\d{1,3}b|\d{1,4}(?:\.\d{1,2})?[bmk]"  # 7b, 1.5b, 135m, 16k, 8x7b
_VERSION = r"[vr]?\d(?:\.\d{1,2}){0,2}[a-z]?"  # 3, 3.5, 3.1.2, 4o, v2, r1; not 40 (the lookahead after it)
_DATE = r"\d{4}(?:-?\d{2}){0,2}"  # 0613, 20240620, 2024-08-06
_VARIANT = (
    r"instruct|chat|it|base|hf|mini|nano|turbo|preview|latest|exp|opus|sonnet|haiku|instant|pro|flash|ultra|lite|"
    r"large|medium|small|tiny|coder|code|math|vl|vision|max|plus|moe|beta|alpha|omni|reasoning|thinking|distill|o"
)
_PART = rf"(?:{_SIZE}|{_VERSION}|{_DATE}|{_VARIANT})(?![a-z0-9])"


def _family_pattern(stems: str, separator: str) -> str:
    stem = "|".join(_leet(s) for s in stems.split("|"))
    # The first suffix is a version or a size ("gpt4o", "mistral-7b"), or after a dash a variant ("gemini-pro",
    # "command-r+", "gpt-j"); then up to five more parts ("-3.5-sonnet-20240620", ":8b", " instruct").
    first = rf"{separator}(?:{_SIZE}|{_VERSION})(?![a-z0-9])|-(?:{_VARIANT}|r\+?|a|j|neox?|oss)(?![a-z0-9+])"
    return rf"(?:{stem})(?:{first})(?:[-_ :/]{_PART}){{0,5}}"


def _bounded(word: str) -> str:
    before = r"(?<![a-z0-9_.-])" if word[0].isascii() and word[0].isalnum() else ""
    after = r"(?![a-z0-9_-])" if word[-1].isascii() and word[-1].isalnum() else ""
    return before + _leet(word) + after


@functools.lru_cache(maxsize=64)
def _name_patterns(words: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    if not words:
        return ()
    compact = {re.sub(r"[^a-z0-9]", "", w) for w in words}
    families = [
        _family_pattern(stems, separator)
        for stems, separator in _FAMILIES
        if any(k.startswith(s.replace(" ", "")) for s in stems.split("|") for k in compact)
    ]
    # Boundaries that also treat '-' and '.' as part of a name, so "gpt-4" does not match "gpt-4o"'s prefix only,
    # and "tii" does not match "tiia". ASCII ones, so a name written against Chinese or Japanese text counts
    # ("你是不是deepseek"). Longest words first: at one place the longest listed name wins.
    exact = re.compile("|".join(_bounded(w) for w in words))
    if not families:
        return (exact,)
    return exact, re.compile(rf"(?<![a-z0-9_.-])(?:{'|'.join(families)})(?![a-z0-9])")


@dataclass(frozen=True)
class IdentityMatcher:
    """Finds model or vendor names in text, on word boundaries, ignoring case, accents and obfuscation; with the
    versioned and sized names of the families the words name ("llama" also finds "llama-3.1-70b")."""

    patterns: tuple[re.Pattern[str], ...]

    @classmethod
    def from_words(cls, words: Iterable[str]) -> IdentityMatcher:
        folded = {_fold(w).strip() for w in words}
        return cls(_name_patterns(tuple(sorted((w for w in folded if w), key=lambda w: (-len(w), w)))))

    def find(self, *texts: str | None) -> list[str]:
        found: set[str] = set()
        for text in texts:
            if text and self.patterns:
                latin = _fold(text).translate(_HOMOGLYPHS)
                for view in {latin, _joined(latin)}:
                    found.update(_longest(m for p in self.patterns for m in p.finditer(view)))
        return sorted({unicodedata.normalize("NFC", name) for name in found})  # Hangul syllables recomposed


def _longest(matches: Iterable[re.Match[str]]) -> list[str]:
    """The matched names, without those inside a longer one ("claude" in "claude 3.5 sonnet")."""
    spans = sorted((m.start(), -m.end(), m.group(0)) for m in matches)
    kept, reach = [], -1
    for _start, neg_end, name in spans:
        if -neg_end > reach:
            kept.append(name)
            reach = -neg_end
    return kept


# Questions that ask a contender who it is. Its answer names it (or makes it guess), so the vote is no longer
# blind even when no model or vendor word appears. Written naturally and folded like the text they match (so
# accents are optional, and no uppercase escapes: folding would turn \S into \s). Asking the model to describe
# itself counts; asking it to write about the user ("describe yourself in a cover letter for me", a quoted
# interview question) does not.
_YOU = r"(?:you|u)"
_WHICH = r"(?:which|what|wat|wut)"  # typed in a hurry too
_AI_NOUN = r"(?:model|llm|ai|a\.i\.|bot|chatbot|assistant|language\s+model|version|gpt|engine|neural\s+network)"
_MAKE = (
    r"(?:created|built|trained|developed|designed|programmed|coded|engineered|invented|fine-?tuned|released|"
    r"launched|owns|operates|produced|deployed|hosts)"
)
# "describe yourself ..." about the user's own writing: a cover letter, an interview answer, a profile.
_FOR_THE_USER = (
    r"(?![^.?!\n]{0,80}\b(?:cover\s+letter|letter|resume|cv|interview|job|application|linkedin|dating|profile|"
    r"essay|college|scholarship|employer|recruiter|hiring|candidate|classmates|coworkers|colleagues|bio)\b)"
)
_LATIN_NAME = r"(?!(?:an?\s)?(?:ai|bot|robot|chatbot|human)\s?[^a-z0-9])[a-z][a-z0-9 ._-]{0,24}"
_PROBE_SOURCES: dict[str, tuple[str, ...]] = {
    "en": (
        r"\bwho\s+(?:are|r)\s+(?:you|u|ya)\b(?!\s+(?:to|with|and|in|at|for|if|when|that|than|gonna|the|a|an|"
        r"\w+ing)\b)",
        r"\bwho\s+(?:am\s+i|i\s+am|i'm|im|is\s+this|are\s+we)\s+(?:talking|speaking|chatting|texting|dealing)\s+"
        r"(?:to|with)\b",
        rf"\bwhat\s+(?:exactly\s+|really\s+|actually\s+)?(?:are|r)\s+{_YOU}\b(?:\s?,?\s?(?:exactly|really|actually|"
        r"anyway|then|precisely|even|now))?\s?(?:[?!.,]|$)",
        rf"\b(?:what|which)\s+(?:kind|sort|type)\s+of\s+(?:[\w-]+\s+){{0,2}}?(?:thing|entity|being|creature|"
        rf"program|system|software|machine|intelligence|{_AI_NOUN})\s+(?:are\s+{_YOU}|r\s+u|is\s+this)\b",
        rf"\b{_WHICH}\s+(?:[\w-]+\s+){{0,3}}?{_AI_NOUN}\s+(?:are|r)\s+{_YOU}\b(?!\s+(?!using|running|based)"
        r"\w+ing\b)",
        # ... and inside a sentence: "tell me which model you are", "what model you're running on".
        rf"\b{_WHICH}\s+(?:[\w-]+\s+){{0,3}}?{_AI_NOUN}\s+{_YOU}(?:'re|\s+are|\s+r)?\s?(?:[?!.,]|$|(?:really\s+)?are\b|"
        r"(?:run|running|based|built)\s+on\b|were\s+trained\b)",
        r"\b(?:newest|latest|older|newer|current|which|what)\s+version\s+of\s+(?:you|u)\b",
        r"\bwho\s+(?:originally\s+)?(?:made|created|built|trained|developed|designed|owns|runs)\s+this\s+(?:assistant|"
        r"chatbot|chat\s?bot|bot|ai|model|llm|language\s+model|chat)\b",
        r"\bwhat(?:'s|s|\s+is)\s+under\s+(?:the|your)\s+hood\s?(?:[?!.]|$)",
        rf"\b(?:which|what)\s+(?:[\w-]+\s+){{0,3}}?{_AI_NOUN}\s+(?:is\s+this\s?(?:[?!.,]|$)|am\s+i\s+(?:talking|"
        r"speaking|chatting|using|interacting)|(?:powers|runs|drives|underlies|is\s+behind|is\s+powering|is\s+"
        r"running)\s+(?:you|u|this)\b|do\s+(?:you|u)\s+run\s+on)",
        r"\bwhat(?:'s|s|\s+is)\s+(?:your|ur|yr)\s+(?:(?:real|actual|true|full|official|model|code|internal|given|"
        r"proper|own)\s+)?name\b",
        r"\b(?:your|ur)\s+(?:model|llm|ai)\s+(?:name|id|number|version|family|size|type|card)\b",
        r"\b(?:what|how)\s+(?:should|do|can|shall|may)\s+i\s+(?:call|address|refer\s+to)\s+(?:you|u)\b",
        r"\bwhat\s+(?:are\s+(?:you|u)\s+called|do\s+(?:they|people|others|users)\s+call\s+(?:you|u))\b",
        r"\b(?:do|did)\s+(?:you|u)\s+have\s+(?:a|any)\s+name\b|\bhave\s+(?:you|u)\s+got\s+a\s+name\b",
        r"\b(?:tell\s+me|give\s+me|say|state|write|print|type|sign\s+with)\s+your\s+(?:real\s+|true\s+|actual\s+|"
        r"full\s+|model\s+)?name\b",
        r"\b(?:may|can|could)\s+i\s+(?:know|have|ask|get)\s+(?:for\s+)?your\s+name\b|\byour\s+name,?\s+please\b",
        rf"\bwho\s+(?:originally\s+|actually\s+|exactly\s+|really\s+)?{_MAKE}\s+{_YOU}\b",
        rf"\bwho\s+(?:originally\s+|actually\s+)?(?:made|wrote|runs)\s+{_YOU}\s?(?:[?!.,]|$|and\b|or\b)",
        r"\bwho(?:'s|s|\s+is|\s+are)\s+(?:your|ur)\s+(?:creators?|developers?|makers?|authors?|owners?|company|"
        r"vendor|provider|parent\s+company|manufacturer|trainers?|programmers?|designers?|inventors?|builders?|"
        r"engineers?|team|lab|organi[sz]ation)\b",
        rf"\b(?:which|what)\s+(?:company|organi[sz]ation|lab|team|firm|vendor|provider|corporation|startup|business|"
        rf"group|people|country)\s+(?:(?:\w+\s+)?(?:made|{_MAKE})\s+{_YOU}\b|(?:are|r)\s+{_YOU}\s+(?:from|by|with|"
        rf"made\s+by|built\s+by)\b|do\s+{_YOU}\s+(?:come\s+from|belong\s+to|work\s+for|represent)\b|is\s+behind\s+"
        r"(?:you|u|this)\b)",
        rf"\bwho(?:'s|s|\s+is)\s+behind\s+{_YOU}\b|\bwho\s+do\s+{_YOU}\s+(?:work\s+for|belong\s+to|represent)\b",
        rf"\bwhere\s+(?:do\s+{_YOU}\s+come\s+from|are\s+{_YOU}\s+from|were\s+{_YOU}\s+(?:made|created|developed|"
        r"trained|built|designed))\b",
        rf"\b(?:are|were)\s+{_YOU}\s+(?:\w+\s+)?(?:made|created|developed|trained|built|owned|powered|designed|"
        r"programmed|fine-?tuned|released)\s+by\b",
        rf"\b(?:are|were)\s+{_YOU}\s+(?:based|built|trained|fine-?tuned|distilled)\s+(?:on|from|off)\b",
        rf"\bby\s+whom\s+(?:were|are)\s+{_YOU}\b|\bhow\s+were\s+{_YOU}\s+(?:made|created|built|trained|developed)\b",
        rf"\b(?:tell\s+(?:me|us)|talk|say\s+something)\s+(?:a\s+(?:little\s+)?bit\s+|something\s+|more\s+|"
        rf"a\s+little\s+)?about\s+yourself\b{_FOR_THE_USER}",
        rf"\b(?:describe|introduce|present|identify)\s+yourself\b{_FOR_THE_USER}",
        rf"\b(?:tell\s+me|explain|say|state|reveal|disclose|confirm|know|wonder|ask\s+you)\s+(?:who|what)\s+{_YOU}\s+"
        r"(?:really\s+)?are\b(?!\s+(?:\w+ing|to|going|gonna|about|doing|up)\b)",
        r"\b(?:state|reveal|disclose|confirm|tell\s+me|know|about|name)\s+your\s+(?:true\s+|real\s+|actual\s+)?"
        r"(?:identity|name|model|origin|creators?|developers?|makers?|version)\b",
        r"\bwhat\s+do\s+(?:you|u)\s+call\s+yourself\b|\bname\s+yourself\b",
        r"\b(?:model|llm|ai|engine)\s+(?:behind|powering|running)\s+(?:you|u|this\s+(?:chat|assistant|bot|conversation|"
        r"app|site))\b",
        r"\bwhat(?:'s|s|\s+is)\s+your\s+(?:true\s+|real\s+|actual\s+)?identity\b|\byour\s+(?:true|real|actual|"
        r"hidden|secret)\s+(?:identity|name|model)\b",
        r"\bwhat(?:'s|s|\s+is)\s+your\s+(?:current\s+|exact\s+|model\s+)?version\b(?!\s+of\b)",
        r"\bwhat(?:'s|s|\s+is|\s+are)\s+your\s+(?:model\s+|neural\s+(?:network\s+)?|max(?:imum)?\s+)?"
        r"(?:architecture|parameter\s+count|number\s+of\s+parameters|model\s+size|context\s+(?:window|length|size)|training\s+data(?:set)?|"
        r"base\s+model|underlying\s+(?:model|llm|architecture)|foundation\s+model|knowledge\s+cut-?\s?off|cut-?\s?off"
        r"(?:\s+date)?|specs|specifications|weights)\b",
        r"\bhow\s+many\s+(?:parameters|params|weights|layers)\s+(?:do\s+(?:you|u)\s+have|are\s+(?:you|u)|were\s+"
        r"(?:you|u)\s+trained|you\s+have|is\s+your\s+model)\b|\bhow\s+(?:big|large)\s+is\s+your\s+(?:model|neural\s+"
        r"network|context\s+window)\b",
        r"\b(?:knowledge|training|data)[\s-]?cut[\s-]?off\b",
        r"\bwhen\s+(?:were|was)\s+(?:you|u|your\s+(?:model|data|training|knowledge))\s+(?:last\s+)?(?:trained|"
        r"updated|released|created|made|built|launched)\b",
        r"\bhow\s+(?:recent|current|up[\s-]to[\s-]date|old|fresh)\s+(?:is|are)\s+your\s+(?:knowledge|data|training|"
        r"information|info)\b",
        r"\b(?:until|up\s+to)\s+(?:when|what\s+(?:date|year|month))\s+(?:is|does|do|are)\s+your\s+(?:knowledge|"
        r"data|training|information)\b|\byour\s+(?:knowledge|training(?:\s+data)?)\s+(?:go|goes|extend|extends|"
        r"run|runs|end|ends|stop|stops)\b",
        r"\b(?:describe|explain)\s+your\s+(?:own\s+)?(?:architecture|training(?:\s+process|\s+data)?|model|weights|"
        r"internals)\b",
        # The system prompt names the model more often than not.
        r"\b(?:what(?:'s|s|\s+is)|show|print|repeat|reveal|tell\s+me|output|display|give\s+me)\s+(?:me\s+)?your\s+"
        r"(?:system\s+(?:prompt|message|instructions)|initial\s+(?:prompt|instructions)|hidden\s+(?:prompt|"
        r"instructions)|pre-?prompt)\b",
        r"\b(?:print|show|repeat|reveal|output|display|recite|quote|dump|leak)\s+(?:me\s+)?(?:the\s+)?(?:\w+\s+){0,3}?"
        r"(?:of\s+)?your\s+(?:\w+\s+)?(?:instructions|system\s+prompt|guidelines)\b",
        r"\b(?:print|show|repeat|reveal|output|display|recite|copy|dump)\s+(?:me\s+)?(?:everything|all|the\s+(?:text|"
        r"words|messages?))\s+(?:written\s+|that\s+is\s+|that's\s+)?above\b",
        r"\b(?:your|any|the)\s+(?:hidden|secret|initial|original|developer)\s+(?:instructions|system\s+prompt)\b",
        r"\bare\s+(?:you|u)\s+(?:an?\s+)?(?:gpt|chatgpt|claude|gemini|bard|llama|mistral|mixtral|qwen|deepseek|grok|"
        r"copilot|phi|gemma|smollm|falcon|command|kimi|ernie|bing|pi|jais|doubao|hunyuan)\b",
    ),
    "fr": (
        r"\bqui\s+(?:es[\s-]+tu|êtes[\s-]+vous|est[\s-]+tu)\b|\b(?:t'es|tu\s+es|vous\s+êtes)\s+qui\b",
        r"\b(?:quel|c'est\s+quoi)\s+(?:est\s+)?(?:ton|votre)\s+(?:vrai\s+)?nom\b",
        r"\bcomment\s+(?:tu\s+t'appelles|t'appelles[\s-]+tu|vous\s+appelez[\s-]+vous|vous\s+vous\s+appelez|dois[\s-]+"
        r"je\s+(?:t'|vous\s+)appeler|je\s+(?:dois|peux)\s+(?:t'|vous\s+)appeler)\b|\btu\s+t'appelles\s+comment\b",
        r"\b(?:quel|quelle)\s+(?:\w+\s+){0,2}?(?:modèle|ia|llm|version|intelligence\s+artificielle)(?:\s+[\w']+){0,2}?"
        r"\s+(?:es[\s-]+tu|êtes[\s-]+vous|utilises[\s-]+tu)\b|\btu\s+es\s+quel(?:le)?\s+(?:modèle|ia|version)\b",
        r"\bqui\s+(?:t'a|vous\s+a)\s+(?:\w+\s+)?(?:créé|conçu|entraîné|développé|fait|programmé|fabriqué|construit|"
        r"formé)e?s?\b|\bpar\s+qui\s+(?:as[\s-]+tu|avez[\s-]+vous)\s+été\b",
        r"\b(?:présente|présentez)[\s-](?:toi|vous)\b",
        r"\b(?:parle|parlez|raconte|racontez)[\s-](?:moi|nous)\s+(?:un\s+peu\s+)?(?:de|sur)\s+(?:toi|vous)\b",
        r"\b(?:décris|décrivez)[\s-](?:toi|vous)\b",
        r"\b(?:ta|votre)\s+date\s+(?:de\s+coupure|limite)\b|\bcoupure\s+de\s+(?:tes|vos)\s+connaissances\b",
        r"\bcombien\s+de\s+paramètres\s+(?:as[\s-]+tu|avez[\s-]+vous)\b",
        r"\bquelle\s+est\s+(?:ton|ta|votre)\s+(?:architecture|version)\b",
    ),
    "es": (
        r"\bquién\s+(?:eres|es\s+usted|sois)\b",
        r"\bcómo\s+(?:te\s+llamas|se\s+llama\s+usted|debo\s+llamarte|puedo\s+llamarte)\b",
        r"\bcuál\s+es\s+(?:tu|su)\s+nombre\b",
        r"\b(?:qué|cuál)\s+(?:\w+\s+){0,2}?(?:modelo|ia|llm|versión|inteligencia\s+artificial)(?:\s+\w+){0,2}?\s+"
        r"(?:eres|es\s+usted|estás\s+usando|usas)\b",
        r"\b(?:en|sobre)\s+qué\s+modelo\s+(?:estás|eres|está)\s+(?:basad|construid|entrenad)[oa]\b",
        r"\bquién\s+te\s+(?:\w+\s+)?(?:creó|hizo|entrenó|desarrolló|programó|diseñó|construyó|fabricó)\b",
        r"\bqué\s+empresa\s+te\s+(?:creó|hizo|entrenó|desarrolló)\b",
        r"(?:^|[.!?¡,]\s?|por\s+favor,?\s)preséntate\b|\bdescríbete\b",
        r"\b(?:háblame|cuéntame|dime\s+algo)\s+(?:un\s+poco\s+)?(?:de|sobre|acerca\s+de)\s+ti\b",
        r"\b(?:tu|su)\s+fecha\s+(?:de\s+)?(?:corte|límite)\b|\bcorte\s+de\s+(?:tu|su)s?\s+conocimientos?\b",
        r"\bcuántos\s+parámetros\s+tienes\b",
    ),
    "de": (
        r"\bwer\s+(?:bist\s+du|sind\s+sie|seid\s+ihr)\b",
        r"\bwie\s+(?:heißt\s+du|heißen\s+sie|ist\s+dein\s+name|lautet\s+dein\s+name|soll\s+ich\s+dich\s+nennen)\b",
        r"\bwas\s+ist\s+dein\s+name\b|\bhast\s+du\s+(?:einen|nen)\s+namen\b",
        r"\b(?:welches|welche|was\s+für\s+ein)\s+(?:\w+\s+){0,2}?(?:modell|ki|ki-modell|sprachmodell|llm|version)"
        r"(?:\s+\w+){0,2}?\s+(?:bist\s+du|sind\s+sie)\b|\bauf\s+welchem\s+modell\s+(?:basierst\s+du|basieren\s+sie)\b",
        r"\bwer\s+hat\s+dich\s+(?:\w+\s+)?(?:erstellt|entwickelt|trainiert|gemacht|programmiert|gebaut|erschaffen|"
        r"geschaffen|entworfen)\b",
        r"\bvon\s+(?:wem|welcher\s+firma|welchem\s+unternehmen)\s+(?:wurdest\s+du|bist\s+du)\s+(?:\w+\s+)?(?:erstellt|"
        r"entwickelt|trainiert|gemacht|programmiert|gebaut)\b",
        r"\b(?:was|welches\s+(?:\w+\s+)?(?:modell|sprachmodell|llm|ki))\s+steckt\s+hinter\s+dir\b",
        r"\bstell(?:e)?\s+dich\s+(?:bitte\s+|mal\s+|kurz\s+)?vor\b",
        r"\berzähl(?:e)?\s+(?:mir\s+)?(?:etwas\s+|was\s+|ein\s+bisschen\s+)?(?:über|von)\s+dich\b",
        r"\bbeschreib(?:e)?\s+dich\b",
        r"\bdein\s+(?:wissensstand|wissensstichtag|trainingsstand|stichtag)\b",
        r"\bwie\s+viele\s+parameter\s+(?:hast\s+du|haben\s+sie)\b",
    ),
    "it": (
        r"\bchi\s+sei\b(?!\s+(?:tu\s+)?per\b)",
        r"\bcome\s+ti\s+chiami\b|\bqual\s?'?\s?è\s+il\s+tuo\s+nome\b",
        r"\b(?:che|quale)\s+(?:\w+\s+){0,2}?(?:modello|ia|llm|versione|intelligenza\s+artificiale)(?:\s+\w+){0,2}?\s+"
        r"(?:sei|stai\s+usando)\b|\bsu\s+quale\s+modello\s+sei\s+basato\b",
        r"\bchi\s+ti\s+ha\s+(?:\w+\s+)?(?:creato|addestrato|sviluppato|fatto|programmato|costruito|progettato|"
        r"allenato)\b|\bda\s+chi\s+sei\s+stat[oa]\s+(?:creat|addestrat|sviluppat)[oa]\b",
        r"(?:^|[.!?,]\s?)presentati\b|\bparlami\s+(?:un\s+po'?\s+)?di\s+te\b|\bdescriviti\b|\bdimmi\s+(?:chi|cosa)\s+"
        r"sei\b",
    ),
    "pt": (
        r"\bquem\s+(?:é\s+você|és\s+tu|é\s+vc|você\s+é|vc\s+é|é\s+o\s+senhor)\b",
        r"\bqual\s+(?:é\s+)?(?:o\s+)?(?:seu|teu)\s+nome\b",
        r"\bcomo\s+(?:você\s+se\s+chama|vc\s+se\s+chama|te\s+chamas|se\s+chama\s+você|devo\s+te\s+chamar|posso\s+te\s+"
        r"chamar)\b",
        r"\b(?:que|qual)\s+(?:\w+\s+){0,2}?(?:modelo|ia|llm|versão|inteligência\s+artificial)(?:\s+\w+){0,2}?\s+"
        r"(?:é\s+você|você\s+é|vc\s+é|és\s+tu|você\s+está\s+usando)\b|\b(?:você|vc)\s+é\s+(?:qual|que)\s+(?:modelo|ia|versão)\b",
        r"\bquem\s+te\s+(?:\w+\s+)?(?:criou|treinou|desenvolveu|fez|programou|construiu|projetou)\b|\bquem\s+"
        r"(?:criou|treinou|desenvolveu|fez|programou)\s+(?:você|vc)\b",
        r"\bapresente-se\b|\bapresenta-te\b|\bdescreva-se\b|\bdescreve-te\b",
        r"\b(?:fale|fala|conte|conta)(?:[\s-]me)?\s+(?:um\s+pouco\s+)?(?:sobre|de)\s+(?:você|vc|ti)\b",
        r"\b(?:sua|tua)\s+data\s+de\s+corte\b",
    ),
    "ru": (
        r"\bкто\s+(?:ты|вы)\b|\b(?:ты|вы)\s+кто\b",
        r"\bкак\s+(?:тебя|вас)\s+(?:зовут|называть|звать)\b|\b(?:твоё|твое|ваше)\s+имя\b",
        r"\b(?:какая|какой|что\s+за)\s+(?:ты|вы)\s+(?:\w+\s+)?(?:модель|нейросеть|ии|версия|llm|бот|чат-?бот)\b",
        r"\b(?:какая|какой|что\s+за)\s+(?:\w+\s+)?(?:модель|нейросеть|ии|версия|бот)\s+(?:ты|вы)\b",
        r"\bна\s+(?:какой|чем|базе\s+какой)\s+(?:модели\s+)?(?:ты|вы)\s+(?:основан|работаешь|построен|сделан|"
        r"базируешься|работаете)",
        r"\bкто\s+(?:тебя|вас)\s+(?:\w+\s+)?(?:создал|обучил|разработал|сделал|написал|натренировал|придумал|"
        r"запрограммировал)и?\b",
        r"\b(?:кем|какой\s+компанией)\s+(?:ты|вы)\s+(?:был[аио]?\s+)?(?:создан|обучен|разработан|сделан)",
        r"\bрасскаж(?:и|ите)\s+(?:мне\s+)?(?:немного\s+)?о\s+себе\b|\bпредставь(?:ся|тесь)\b|\bопиши(?:те)?\s+себя\b",
        r"\b(?:какая|какой)\s+у\s+(?:тебя|вас)\s+(?:версия|архитектура|дата\s+отсечения|срез\s+знаний)\b",
        r"\b(?:дата|срок)\s+(?:отсечения|среза|актуальности)\s+(?:твоих\s+|ваших\s+)?знаний\b",
        r"\bсколько\s+у\s+(?:тебя|вас)\s+параметров\b",
    ),
    # Chinese and Japanese have no spaces between words: whole phrases, simplified and traditional.
    "zh": (
        r"(?:你|您|妳)(?:到底|究竟)?是(?:谁|誰)",
        r"(?:你|您)(?:到底|究竟)?(?:是|叫)(?:什么|什麼|啥|哪个|哪個|哪种|哪種|哪一个|哪一個)(?:模型|大模型|语言模型|"
        r"語言模型|ai|人工智能|版本|东西|東西|名字|公司)",
        r"(?:你|您)叫(?:什么|什麼|啥)|(?:你|您)的名字|(?:怎么|怎麼|如何)(?:称呼|稱呼)(?:你|您)",
        r"(?:谁|誰)(?:创造|創造|开发|開發|训练|訓練|制造|製造|设计|設計|发明|發明|做|造|创建|創建)了?(?:你|您)",
        r"(?:你|您)是?由?(?:谁|誰|哪家公司|哪个公司|哪個公司)(?:创造|創造|开发|開發|训练|訓練|制造|製造|设计|設計|做|"
        r"创建|創建|研发|研發)",
        r"(?:你|您)是(?:哪家|哪个|哪個)公司|(?:你|您)是?(?:基于|基於)(?:什么|什麼|哪个|哪個)",
        r"(?:你|您)(?:用|使用)的是(?:什么|什麼|哪个|哪個)模型|(?:你|您)(?:的底层|的底層|背后的|背後的)模型",
        r"(?:介绍|介紹)(?:一下|下)?(?:你|您)自己|(?:你|您|请|請)先?(?:做|作)?(?:一下|个|個)?自我(?:介绍|介紹)",
        r"(?:你|您)的?(?:知识|知識|训练数据|訓練數據)的?截止|(?:你|您)有多少(?:个|個)?(?:参数|參數)",
        r"(?:你|您)(?:是|的)(?:什么|什麼|哪个|哪個)?版本",
        rf"(?:你|您)(?:是不是|是)\s?{_LATIN_NAME}(?:吗|嗎|么|麼|吧|呢)",
    ),
    "ja": (
        r"(?:あなた|君|きみ|お前|おまえ|あんた)(?:は|って)?(?:誰|だれ|何者|なにもの)",
        r"(?:あなた|君|きみ|お前|おまえ)の名前|お名前(?:は|を教えて)",
        r"(?:あなた|君|きみ)(?:は|って)(?:何|なん|どの|どんな|なに)(?:の|という|て)?(?:ai|モデル|言語モデル|llm|"
        r"バージョン)",
        r"(?:何|なん|どの|どんな)(?:という)?(?:ai|モデル|言語モデル|llm)(?:です|なの)か",
        r"(?:誰|だれ|どこ|どの会社)が(?:あなた|君|きみ)を(?:作|つく|開発|訓練|学習|トレーニング|作成|設計)",
        r"(?:あなた|君|きみ)を(?:作|つく|開発|訓練|学習|トレーニング|作成|設計)(?:っ|し|させ)?たのは(?:誰|だれ|どこ)",
        r"自己紹介(?:して|をして|してください|してくれ|をお願い|お願い)",
        r"(?:あなた|君|きみ)(?:自身)?(?:について|のことを)(?:教えて|話して|説明して)",
        r"(?:あなた|君)の(?:バージョン|知識|学習データ|パラメータ|アーキテクチャ)|知識の(?:カットオフ|期限)",
        rf"(?:あなた|君|きみ)(?:は|って)\s?{_LATIN_NAME}(?:ですか|なの|か|だよね)",
    ),
    "ko": (
        r"(?:너|넌|너는|당신|당신은|니가|네가|그쪽은|님은)\s?(?:도대체\s?)?누구",
        r"(?:너|네|니|당신|너의|당신의)\s?이름",
        r"(?:너|넌|너는|당신|당신은)\s?(?:무슨|어떤|어느)\s?(?:ai\s?|인공지능\s?)?(?:모델|버전|ai)",
        r"(?:무슨|어떤|어느)\s?(?:ai\s?|인공지능\s?|언어\s?)?모델(?:이야|이에요|이니|인가요|입니까|이냐|이세요)",
        r"누가\s?(?:너를|널|당신을)\s?(?:만들|개발|훈련|학습|창조|설계)",
        r"(?:너를|널|당신을)\s?(?:만든|개발한|훈련시킨|학습시킨|훈련한)\s?(?:사람|회사|곳)",
        r"자기\s?소개\s?(?:해|좀|를\s?해|부탁|하세요|해줘|해\s?줘|해주세요)",
        r"(?:너|당신)에\s?대해서?\s?(?:알려|말해|소개|설명|얘기)",
        r"(?:너|당신)의\s?(?:버전|지식|학습\s?데이터|파라미터)|지식\s?(?:컷오프|마감|기준일)",
        rf"(?:너|넌|너는|당신은?|니가|네가)\s?{_LATIN_NAME}(?:야|니|이야|이니|인가요|입니까|이에요|예요|냐)",
    ),
    "ar": (
        r"(?<!\w)(?:من|مين)\s+(?:انت|أنت|انتي|انتم|أنتم|تكون|حضرتك)(?!\w)",
        r"(?<!\w)(?:ما|شو|ايش|إيش|وش|ما\s+هو)\s+اسمك(?!\w)|(?<!\w)اسمك\s+(?:ايه|إيه|ايش|شو|وش)(?!\w)",
        r"(?<!\w)(?:اي|أي|ما|ما\s+هو|ما\s+هي)\s+(?:نوع\s+)?(?:نموذج|موديل|نسخة|إصدار|اصدار)\s+(?:\w+\s+)?(?:انت|أنت)(?!\w)",
        r"(?<!\w)(?:نموذجك|إصدارك|اصدارك|نسختك)(?!\w)",
        r"(?<!\w)(?:من|مين)\s+(?:الذي\s+|اللي\s+)?(?:صنعك|أنشأك|انشاك|طورك|دربك|برمجك|صممك|خلقك|ابتكرك)(?!\w)",
        r"(?<!\w)(?:عرف|عرفنا|عرفني)\s+(?:عن\s+|ب)?نفسك(?!\w)|(?<!\w)صف\s+نفسك(?!\w)",
        r"(?<!\w)(?:حدثني|حدثنا|أخبرني|اخبرني|كلمني|احكي\s+لي)\s+عن\s+نفسك(?!\w)",
    ),
    # Devanagari vowel signs are not word characters, so no \b; Hindi typed in Latin letters too.
    "hi": (
        r"(?:तुम|आप|तू)\s+(?:कौन|क्या)\s+(?:हो|हैं|है)",
        r"(?:तुम्हारा|आपका|तेरा)\s+नाम",
        r"(?:कौन\s+सा|कौनसा)\s+(?:एआई\s+)?(?:मॉडल|मोडल|संस्करण|वर्जन)",
        r"(?:तुम्हें|तुम्हे|आपको|तुझे)\s+(?:किसने|किस\s+ने)\s+(?:बनाया|विकसित|प्रशिक्षित|ट्रेन|तैयार)",
        r"(?:अपने|खुद\s+के)\s+बारे\s+में\s+(?:कुछ\s+)?(?:बताओ|बताइए|बताइये|बताएं|बता)|अपना\s+परिचय\s+(?:दो|दीजिए|दीजिये|दें|दे)",
        r"\b(?:tum|aap|ap|tu)\s+(?:kaun|kon)\s+(?:ho|hain|hai|h)\b|\b(?:tumhara|aapka|apka|tera)\s+naam\s+(?:kya|batao)\b",
        r"\b(?:tumhe|tumhein|aapko|apko|tujhe)\s+(?:kisne|kis\s+ne)\s+banaya\b|\bapne\s+(?:baare|bare)\s+(?:me|mein|main)"
        r"\s+(?:kuch\s+)?(?:batao|bataiye|btao)\b",
    ),
    "tr": (
        r"\b(?:sen|siz)\s+(?:kimsin|kimsiniz|nesin|nesiniz)\b|\bkimsin(?:iz)?\b",
        r"\b(?:adın|adınız|ismin|isminiz)\s+(?:ne|nedir)\b",
        r"\bhangi\s+(?:\w+\s+){0,2}?(?:modelsin|modelsiniz|yapay\s+zekasın|sürümsün|versiyonsun)\b|\b(?:sen|siz)\s+"
        r"hangi\s+(?:model|yapay\s+zeka|sürüm|versiyon)",
        r"\b(?:seni|sizi)\s+(?:kim|hangi\s+şirket)\s+(?:\w+\s+)?(?:yaptı|yarattı|geliştirdi|eğitti|oluşturdu|"
        r"programladı|tasarladı)\b",
        r"\bkendini(?:zi)?\s+(?:tanıt|anlat|tarif\s+et)|\bkendinden\s+(?:biraz\s+)?bahset",
    ),
    "pl": (
        r"\bkim\s+(?:jesteś|pan\s+jest|pani\s+jest|jesteście)\b",
        r"\bjak\s+(?:się\s+nazywasz|masz\s+na\s+imię|mam\s+(?:cię|do\s+ciebie)\s+(?:nazywać|mówić))\b|\bjakie\s+"
        r"(?:jest\s+)?twoje\s+imię\b",
        r"\b(?:jakim|którym)\s+(?:\w+\s+)?(?:modelem|ai|llm)\s+jesteś\b|\b(?:jaki|który)\s+(?:\w+\s+)?model\s+jesteś\b",
        r"\bkto\s+(?:cię|ciebie)\s+(?:\w+\s+)?(?:stworzył|wytrenował|zrobił|zaprojektował|opracował|wyszkolił|zbudował|"
        r"zaprogramował)",
        r"\bprzez\s+kogo\s+(?:zostałeś|jesteś|byłeś)\s+(?:\w+\s+)?(?:stworzony|wytrenowany|opracowany|zrobiony)\b",
        r"\bprzedstaw\s+się\b|\bopowiedz\s+(?:mi\s+)?(?:coś\s+|trochę\s+)?o\s+sobie\b|\bopisz\s+(?:siebie|się)\b",
    ),
    "nl": (
        r"\bwie\s+(?:ben\s+(?:jij|je)|bent\s+u)\b",
        r"\bhoe\s+(?:heet\s+(?:je|jij|u)|moet\s+ik\s+(?:je|jou|u)\s+noemen)\b|\bwat\s+is\s+(?:je|jouw|uw)\s+naam\b",
        r"\b(?:welk|wat\s+voor)\s+(?:\w+\s+){0,2}?(?:model|ai-model|taalmodel|ai|llm|versie)\s+(?:ben\s+(?:je|jij)|"
        r"bent\s+u)\b",
        r"\bwie\s+heeft\s+(?:je|jou|u)\s+(?:\w+\s+)?(?:gemaakt|getraind|ontwikkeld|gebouwd|gecreëerd|ontworpen|"
        r"geprogrammeerd)\b|\bdoor\s+wie\s+(?:ben\s+je|bent\s+u|werd\s+je)\s+(?:\w+\s+)?(?:gemaakt|getraind|ontwikkeld|"
        r"gebouwd)\b",
        # Not "stel je voor dat ...": that is "imagine that ...".
        r"\bstel\s+(?:je|jezelf|u|uzelf)\s+(?:eens\s+|even\s+|kort\s+)?voor\s?(?:[.!?]|$)",
        r"\bvertel\s+(?:(?:me|eens|iets|wat)\s+){0,3}over\s+(?:jezelf|uzelf)\b|\bbeschrijf\s+(?:jezelf|uzelf)\b",
    ),
    # Vietnamese folds to letters without tones ("bạn là ai" -> "ban la ai"), which is also how many type it.
    "vi": (
        r"\b(?:bạn|mày|cậu|em|anh|chị)\s+là\s+ai\b",
        r"\b(?:bạn|mày|cậu)\s+tên\s+(?:là\s+)?gì\b|\btên\s+(?:của\s+)?(?:bạn|mày|cậu)\s+là\s+gì\b",
        r"\b(?:bạn|mày|cậu)\s+là\s+(?:mô\s+hình|model|ai|phiên\s+bản|trí\s+tuệ\s+nhân\s+tạo)\s+(?:gì|nào)\b",
        r"\b(?:ai|công\s+ty\s+nào)\s+(?:đã\s+)?(?:tạo\s+ra|tạo|phát\s+triển|huấn\s+luyện|đào\s+tạo|xây\s+dựng|làm\s+"
        r"ra)\s+(?:ra\s+)?(?:bạn|mày|cậu)\b",
        r"\b(?:bạn|mày)\s+(?:được|do)\s+(?:ai|công\s+ty\s+nào)\s+(?:tạo|phát\s+triển|huấn\s+luyện|làm)|\b(?:bạn|mày)"
        r"\s+được\s+(?:tạo\s+ra|phát\s+triển|huấn\s+luyện)\s+bởi\s+ai\b",
        r"\b(?:hãy\s+)?(?:tự\s+)?giới\s+thiệu\s+(?:về\s+)?(?:bản\s+thân\s+(?:bạn|đi|mình)|chính\s+bạn|bạn)\b|\b(?:bạn|"
        r"mày)\s+(?:hãy\s+)?(?:tự\s+)?giới\s+thiệu\b",
        r"\b(?:kể|nói)\s+(?:cho\s+tôi\s+)?(?:nghe\s+)?về\s+(?:bản\s+thân\s+)?(?:bạn|mày)\s?(?:[?.!,]|$|đi\b)",
    ),
    "id": (
        r"\bsiapa\s+(?:kamu|anda|dirimu|kau|engkau|lu|lo|elo)\b|\b(?:kamu|anda|kau|lu|lo)\s+siapa\b",
        r"\b(?:siapa|apa)\s+nama\s?(?:mu|kamu|anda)\b|\bnama\s?(?:mu|kamu|anda)\s+siapa\b",
        r"\b(?:kamu|anda)\s+(?:itu\s+)?(?:model|ai|versi|llm)\s+(?:\w+\s+)?apa\b|\b(?:model|ai|versi)\s+apa\s+"
        r"(?:kamu|anda|dirimu)\b",
        r"\bsiapa\s+(?:yang\s+)?(?:membuat|menciptakan|melatih|mengembangkan|merancang|memprogram)\s?(?:mu|kamu|anda)"
        r"\b|\bsiapa\s+(?:pembuat|pencipta|pengembang)\s?(?:mu|kamu|anda)\b",
        r"\bperkenalkan\s+(?:dirimu|diri\s+(?:kamu|anda|mu))\b|\b(?:ceritakan|jelaskan|deskripsikan|gambarkan)\s+"
        r"(?:sedikit\s+)?(?:tentang\s+)?(?:dirimu|diri\s+(?:kamu|anda|mu))\b",
    ),
}
# The same questions typed without spaces or with their letters spaced apart ("w h o a r e y o u" reads
# "whoareyou", "what's y o u r n a m e" reads "what's yourname").
_RUN_TOGETHER_PHRASES = (
    "who are you", "who r u", "what are you", "what's your name", "whats your name", "what is your name",
    "what model are you", "which model are you", "what llm are you", "who made you", "who created you",
    "who trained you", "who built you", "introduce yourself", "tell me about yourself", "describe yourself",
    "identify yourself",
)  # fmt: skip
# A quotation is somebody else's question ("a detective asks, 'Who are you really?'"), unless the quote opens the
# message or the line (a pasted question).
_NOT_QUOTED = r"(?<![^\n][\"'“«„‘])"
_RUN_TOGETHER = re.compile(
    _NOT_QUOTED + "(?<![a-z])(?:" + "|".join(" ?".join(p.split()) for p in _RUN_TOGETHER_PHRASES) + ")(?![a-z])"
)
_PROBES = tuple(
    re.compile(_NOT_QUOTED + _fold(source), re.MULTILINE) for sources in _PROBE_SOURCES.values() for source in sources
)
# Encoded questions ("decode this base64 and answer it"): runs of base64 that decode to text are read as well.
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{16,4096}={0,2}")


def _decoded(text: str) -> list[str]:
    decoded = []
    for m in itertools.islice(_BASE64.finditer(text), 20):
        token = m.group(0)
        try:
            plain = base64.b64decode(token + "=" * (-len(token) % 4), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
        if " " in plain and all(c.isprintable() or c.isspace() for c in plain):
            decoded.append(plain)
    return decoded


def find_identity_probes(text: str | None) -> list[str]:
    """The phrases in `text` that ask a model who it is (folded to lower case, without accents), sorted."""
    if not text:
        return []
    found: set[str] = set()
    for plain in (text, *_decoded(visible_text(text))):
        folded = _fold(plain)
        latin = _latin(folded)
        found.update(m.group(0) for view in {folded, latin} for p in _PROBES for m in p.finditer(view))
        # Written out with its spaces, a phrase is _PROBES' to judge (with their exceptions), not this one's.
        run_together = (m.group(0) for m in _RUN_TOGETHER.finditer(_joined(latin)))
        found.update(m for m in run_together if m not in _RUN_TOGETHER_PHRASES)
    return sorted({unicodedata.normalize("NFC", " ".join(m.split()).rstrip("?!., ")) for m in found})


def voter_hash(salt: str, ip: str | None, session: str | None) -> str:
    """Salted hash of IP + browser session: stable for one visitor, not reversible to the IP."""
    material = f"{salt}\x1f{ip or '-'}\x1f{session or '-'}".encode()
    return hashlib.sha256(material).hexdigest()


def client_hash(salt: str, ip: str | None) -> str:
    """Salted hash of the client address alone: the key of the per-address rate limits."""
    return hashlib.sha256(f"{salt}\x1fclient\x1f{ip or '-'}".encode()).hexdigest()


def network_hash(salt: str, ip: str | None) -> str:
    """Salted hash of the address's network: IPv4 /24, IPv6 /48 (a home or small office gets a /48 or /56, so a
    /64 would let one attacker be many networks). An unparsable address is its own network."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        network = ip or "-"
    else:
        prefix = 24 if address.version == 4 else 48
        mapped = getattr(address, "ipv4_mapped", None)
        if mapped is not None:  # ::ffff:a.b.c.d is the IPv4 address
            address, prefix = mapped, 24
        network = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    return hashlib.sha256(f"{salt}\x1fnetwork\x1f{network}".encode()).hexdigest()


def session_hash(salt: str, session: str | None) -> str:
    """Salted hash of the browser session, used to tie a battle to the session that started it."""
    return hashlib.sha256(f"{salt}\x1fsession\x1f{session or '-'}".encode()).hexdigest()
