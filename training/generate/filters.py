"""The filters every generated text passes before it is kept (Self-Instruct's, Wang et al. 2022, section 2.3).

`screen(text, answer, kept)` returns every verdict, always all of them, in this fixed order (`VERDICT_NAMES`):

- `empty_output`: the answer is blank (after dropping invisible format characters).
- `length`: the text has between `min_words` and `max_words` whitespace-separated words, both included.
- `banned_words`: none of the banned words (whole words, case-insensitive) occurs in the text; Self-Instruct's list
  names what a text model cannot do (images, files, audio, ...).
- `duplicate`: the text is not one of the kept texts once whitespace and case are normalised.
- `rouge_l`: the ROUGE-L F-measure against the most similar kept text is below `rouge_threshold`; the detail names
  the score and that text (truncated).
- `form`: the text starts with neither punctuation nor a non-ASCII character (Self-Instruct drops both: a stray
  list marker or another language); `FilterConfig(check_form=False)` makes it pass with "not checked".

ROUGE-L uses the `rouge-score` package's tokenizer and its LCS scoring on tokens. Each kept text is tokenized once
when added; a check then visits only kept texts sharing a token with the candidate (an inverted index), in order of
an upper bound on their score (shared tokens bound the LCS), and stops when no remaining text can beat the best.
The result is exactly the maximum over every kept text, without a quadratic number of LCS tables.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rouge_score import rouge_scorer, tokenizers

BANNED_WORDS: tuple[str, ...] = (
    "image",
    "images",
    "graph",
    "graphs",
    "picture",
    "pictures",
    "file",
    "files",
    "map",
    "maps",
    "draw",
    "plot",
    "go to",
    "video",
    "audio",
    "music",
    "flowchart",
    "diagram",
)
VERDICT_NAMES: tuple[str, ...] = ("empty_output", "length", "banned_words", "duplicate", "rouge_l", "form")
_DETAIL_TEXT_CHARS = 80


@dataclass(frozen=True)
class FilterVerdict:
    name: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class FilterConfig:
    rouge_threshold: float = 0.7
    min_words: int = 3
    max_words: int = 150
    banned_words: tuple[str, ...] = BANNED_WORDS
    check_form: bool = True


def normalise(text: str) -> str:
    """The text as compared for exact duplicates: NFKC, no format characters (zero-width, bidi), casefolded,
    whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(char for char in text if unicodedata.category(char) != "Cf")
    return " ".join(text.casefold().split())


class KeptTexts:
    """The kept texts, for the ROUGE-L and exact-duplicate checks (tokenized once each, on `add`)."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self._tokenizer = tokenizers.DefaultTokenizer(use_stemmer=False)  # Self-Instruct's setting
        self._texts: list[str] = []
        self._tokens: list[list[str]] = []
        self._normalised: set[str] = set()
        # token -> [(index of a kept text, how often the token occurs in it)]
        self._index: defaultdict[str, list[tuple[int, int]]] = defaultdict(list)
        for text in texts:
            self.add(text)

    def __len__(self) -> int:
        return len(self._texts)

    def add(self, text: str) -> None:
        position = len(self._texts)
        tokens = self._tokenizer.tokenize(text)
        self._texts.append(text)
        self._tokens.append(tokens)
        self._normalised.add(normalise(text))
        for token, count in Counter(tokens).items():
            self._index[token].append((position, count))

    def contains(self, text: str) -> bool:
        """Whether the text is already kept, up to whitespace, case and invisible characters."""
        return normalise(text) in self._normalised

    def most_similar(self, text: str) -> tuple[float, str | None]:
        """The best ROUGE-L F-measure of `text` against every kept text, and that text (None when nothing
        shares a token with it: every score is 0)."""
        tokens = self._tokenizer.tokenize(text)
        if not tokens:
            return 0.0, None
        shared: defaultdict[int, int] = defaultdict(int)
        for token, count in Counter(tokens).items():
            for position, kept_count in self._index.get(token, ()):
                shared[position] += min(count, kept_count)
        # The LCS is at most the number of shared tokens, so F <= 2 * shared / (len(a) + len(b)).
        bounds = sorted(
            (
                (2 * common / (len(tokens) + len(self._tokens[position])), position)
                for position, common in shared.items()
            ),
            reverse=True,
        )
        best_score, best_position = 0.0, None
        for bound, position in bounds:
            if bound <= best_score:
                break
            # rouge_score's LCS scoring on tokens (its public `score` would re-tokenize both texts every time).
            score = rouge_scorer._score_lcs(self._tokens[position], tokens).fmeasure
            if score > best_score:
                best_score, best_position = score, position
        if best_position is None:
            return 0.0, None
        return best_score, self._texts[best_position]


def _banned_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    alternatives = "|".join(r"\s+".join(re.escape(part) for part in word.split()) for word in words)
    return re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)


def _truncate(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_TEXT_CHARS else text[: _DETAIL_TEXT_CHARS - 3] + "..."


def screen(text: str, answer: str, kept: KeptTexts, config: FilterConfig = FilterConfig()) -> tuple[FilterVerdict, ...]:
    """Every verdict on a candidate `text` (an instruction, a user turn) with its `answer`, in `VERDICT_NAMES`
    order. Example: `passed(screen("Name three fruits.", "Apple, pear, plum.", KeptTexts(seeds)))`."""
    answer_blank = not normalise(answer)
    words = len(text.split())
    banned = _banned_pattern(config.banned_words)
    found = sorted({" ".join(match.group(0).lower().split()) for match in banned.finditer(text)}) if banned else []
    duplicate = kept.contains(text)
    score, closest = kept.most_similar(text)
    stripped = text.strip()
    first = stripped[:1]
    bad_form = not first or first in string.punctuation or not first.isascii()
    if not config.check_form:
        form_detail = "not checked"
    elif bad_form:
        form_detail = f"starts with {first!r}" if first else "empty text"
    else:
        form_detail = ""
    return (
        FilterVerdict("empty_output", not answer_blank, "the output is blank" if answer_blank else ""),
        FilterVerdict(
            "length",
            config.min_words <= words <= config.max_words,
            f"{words} words (bounds {config.min_words}-{config.max_words})",
        ),
        FilterVerdict("banned_words", not found, f"contains {', '.join(found)}" if found else ""),
        FilterVerdict("duplicate", not duplicate, "already kept" if duplicate else ""),
        FilterVerdict(
            "rouge_l",
            score < config.rouge_threshold,
            f"ROUGE-L {score:.3f} with {_truncate(closest)!r}" if closest is not None else "ROUGE-L 0.000",
        ),
        FilterVerdict("form", not config.check_form or not bad_form, form_detail),
    )


def passed(verdicts: Iterable[FilterVerdict]) -> bool:
    return all(verdict.passed for verdict in verdicts)
