"""Style features of an answer, the covariates of style control: length and markdown elements.

Markdown is counted the way Chatbot Arena's style-control pipeline counts it (fastchat's
``count_markdown_elements``), line by line:

- headers: lines starting with 1 to 6 ``#`` and a space or tab;
- list items: lines starting (after any indentation) with ``1.``-style numbers or ``-``, ``*``, ``+``, then a
  space or tab;
- bold spans: ``**x**`` or ``__x__`` within one line.

Two deliberate departures, both so that code is not mistaken for formatting: markdown inside fenced code
blocks (``` or ~~~ fences; an unclosed fence runs to the end, as in CommonMark) is ignored, where Chatbot
Arena's ``[^`]*`` pattern gives up on blocks that contain a backtick; and inline code spans are ignored for
bold, so ``__init__`` is not bold.

Tokens are NOT a model tokenizer's count: Chatbot Arena uses tiktoken, but a tokenizer is a heavy dependency
and would make the covariate depend on which one is installed. ``tokens`` counts words and punctuation marks
(``\\w+|[^\\w\\s]``, Unicode-aware), over the whole text including code. Every source (the arena's database,
LLMFAO, imported files without precomputed features) goes through this one function, so the covariate means
the same thing in every fit; only its scale differs from BPE tokens, which style control normalizes away.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# The columns of the battles schema (and of the `turns` table), per side: len_a, len_b, header_a, ...
STYLE_FEATURES = ("len", "header", "list", "bold")
STYLE_COLUMNS = tuple(f"{feature}_{side}" for feature in STYLE_FEATURES for side in ("a", "b"))

_TOKEN = re.compile(r"\w+|[^\w\s]")
_HEADER = re.compile(r"^#{1,6}[ \t]", re.MULTILINE)
_LIST_ITEM = re.compile(r"^[ \t]*(?:\d+\.|[-*+])[ \t]", re.MULTILINE)  # ordered or unordered
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_INLINE_CODE = re.compile(r"(`+)[^\n]*?\1")
# CommonMark lets a fence be indented by up to three spaces; its info string ("```python") follows.
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass(frozen=True)
class StyleFeatures:
    """Counts for one answer, or summed over the answers of one side of a conversation."""

    tokens: int = 0
    headers: int = 0
    lists: int = 0
    bold: int = 0

    def __add__(self, other: StyleFeatures) -> StyleFeatures:
        return StyleFeatures(
            self.tokens + other.tokens,
            self.headers + other.headers,
            self.lists + other.lists,
            self.bold + other.bold,
        )

    def columns(self, side: str) -> dict[str, int]:
        """The schema's style columns for side "a" or "b": len_<side>, header_<side>, list_<side>, bold_<side>."""
        if side not in ("a", "b"):
            raise ValueError(f"side must be 'a' or 'b', got {side!r}")
        return {
            f"len_{side}": self.tokens,
            f"header_{side}": self.headers,
            f"list_{side}": self.lists,
            f"bold_{side}": self.bold,
        }


def count_tokens(text: str) -> int:
    """Words and punctuation marks: the tokenizer-free length every source uses."""
    return len(_TOKEN.findall(text))


def unique_token_share(text: str | None) -> float | None:
    """Distinct tokens (case-folded) over all tokens of one answer: low for an answer that repeats itself. A
    fact of the answer the judge audit measures preferences against; None for an answer without a token."""
    tokens = [token.casefold() for token in _TOKEN.findall(text or "")]
    return len(set(tokens)) / len(tokens) if tokens else None


def style_features(text: str) -> StyleFeatures:
    """Length and markdown counts of one answer (empty or None-like text counts as nothing)."""
    if not text:
        return StyleFeatures()
    # The substring checks skip regex passes that cannot match: the database loader styles every answer.
    prose = _outside_code_fences(text) if "```" in text or "~~~" in text else text
    bold = 0
    if "**" in prose or "__" in prose:
        bold = len(_BOLD.findall(_INLINE_CODE.sub("", prose) if "`" in prose else prose))
    return StyleFeatures(
        tokens=count_tokens(text),
        headers=len(_HEADER.findall(prose)) if "#" in prose else 0,
        lists=len(_LIST_ITEM.findall(prose)),
        bold=bold,
    )


def conversation_features(answers: Iterable[str | None]) -> StyleFeatures:
    """Summed over one side's answers, as Chatbot Arena does for multi-turn battles (None: no answer)."""
    total = StyleFeatures()
    for answer in answers:
        total += style_features(answer or "")
    return total


def _outside_code_fences(text: str) -> str:
    """The lines of `text` outside fenced code blocks (the fences themselves dropped too)."""
    kept: list[str] = []
    fence: str | None = None
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
                continue
            kept.append(line)
        elif _closes(match, fence, line):
            fence = None
    return "\n".join(kept)


def _closes(match: re.Match[str] | None, fence: str, line: str) -> bool:
    """A closing fence: the opening's character, at least as long, and no info string after it."""
    if match is None:
        return False
    marker = match.group(1)
    return marker[0] == fence[0] and len(marker) >= len(fence) and not line.strip().strip(fence[0])
