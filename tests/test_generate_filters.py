"""The filters a generated instruction passes before it is kept (training/generate/filters.py): Self-Instruct's
ROUGE-L, length, banned-word, duplicate and empty-output rules, plus its form rule, each named in every verdict."""

from __future__ import annotations

import json
import random

import pytest
from rouge_score import rouge_scorer

from training.generate.filters import (
    BANNED_WORDS,
    VERDICT_NAMES,
    FilterConfig,
    KeptTexts,
    passed,
    screen,
)
from training.generate.self_instruct import SEED_TASKS_FILE

SEEDS = [json.loads(line)["instruction"] for line in SEED_TASKS_FILE.read_text().splitlines()]
ANSWER = "A good answer."


def verdict(text: str, name: str, kept: KeptTexts | None = None, answer: str = ANSWER, **config: object):
    verdicts = screen(text, answer, kept if kept is not None else KeptTexts(), FilterConfig(**config))  # type: ignore[arg-type]
    return next(v for v in verdicts if v.name == name)


def test_every_verdict_is_given_in_a_fixed_order_whether_the_text_passes_or_not() -> None:
    kept = KeptTexts(SEEDS)
    good = screen("Name three rivers that flow through more than two countries.", ANSWER, kept)
    bad = screen("!", "", kept)
    assert [v.name for v in good] == [v.name for v in bad] == list(VERDICT_NAMES)
    assert VERDICT_NAMES == ("empty_output", "length", "banned_words", "duplicate", "rouge_l", "form")
    assert passed(good) and all(v.passed for v in good)
    assert not passed(bad) and {v.name for v in bad if not v.passed} == {"empty_output", "length", "form"}


def test_a_near_duplicate_by_rouge_l_is_rejected_and_the_close_kept_text_is_named() -> None:
    kept = KeptTexts(["Write a short poem about the sea at night.", "List the planets of the solar system."])
    near = verdict("Write a short poem about the sea at night time.", "rouge_l", kept)
    assert not near.passed
    assert "Write a short poem about the sea at night." in near.detail and "ROUGE-L 0.9" in near.detail
    far = verdict("Explain how a bicycle gear works.", "rouge_l", kept)
    assert far.passed


def test_the_rouge_l_threshold_rejects_at_the_threshold_and_above() -> None:
    kept = KeptTexts(["one two three four"])
    # "one two three five" against "one two three four": LCS 3 of 4 each way, F = 0.75.
    assert not verdict("one two three five", "rouge_l", kept, rouge_threshold=0.75).passed
    assert verdict("one two three five", "rouge_l", kept, rouge_threshold=0.76).passed


def test_most_similar_is_exactly_the_best_rouge_l_of_the_rouge_score_package_over_every_kept_text() -> None:
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    kept = KeptTexts(SEEDS)
    words = " ".join(SEEDS).split()
    rng = random.Random(7)
    probes = [" ".join(rng.sample(words, rng.randint(3, 25))) for _ in range(40)] + SEEDS[:5]
    for probe in probes:
        expected = max(scorer.score(seed, probe)["rougeL"].fmeasure for seed in SEEDS)
        score, closest = kept.most_similar(probe)
        assert score == pytest.approx(expected, abs=1e-12)
        assert closest is not None and scorer.score(closest, probe)["rougeL"].fmeasure == pytest.approx(expected)
    assert KeptTexts(SEEDS).most_similar("zzzz qqqq") == (0.0, None), "nothing shared: score 0, no text"
    assert KeptTexts().most_similar("anything at all") == (0.0, None)


def test_banned_words_are_whole_words_in_any_case() -> None:
    assert "file" in BANNED_WORDS and "go to" in BANNED_WORDS and len(BANNED_WORDS) == 18
    upload = verdict("Upload the FILE to the shared drive.", "banned_words")
    assert not upload.passed and upload.detail == "contains file"
    assert not verdict("Tell me how to go  to the station.", "banned_words").passed, "a phrase, any spacing"
    assert not verdict("Draw a simple diagram of a cell.", "banned_words").passed
    for innocent in ("Update your profile with a new bio.", "Explain why mapping functions are useful.",
                     "Who is the gopher in the story?", "Describe a graphic novel."):  # fmt: skip
        assert verdict(innocent, "banned_words").passed, innocent
    assert not verdict("Summarise the plot of a film.", "banned_words").passed
    assert verdict("Summarise the plot of a film.", "banned_words", banned_words=()).passed, "the list is a setting"


def test_an_empty_or_invisible_output_is_rejected() -> None:
    for blank in ("", "   \n\t", "\u200b\u200d\ufeff"):
        empty = verdict("Name three rivers in Europe.", "empty_output", answer=blank)
        assert not empty.passed and empty.detail == "the output is blank"
    assert verdict("Name three rivers in Europe.", "empty_output", answer="Rhine").passed


def test_length_counts_words_within_inclusive_bounds() -> None:
    assert not verdict("Name rivers.", "length").passed, "2 words: below the default 3"
    assert verdict("Name three rivers.", "length").passed
    assert verdict(" ".join(["word"] * 150), "length").passed
    too_long = verdict(" ".join(["word"] * 151), "length")
    assert not too_long.passed and too_long.detail == "151 words (bounds 3-150)"
    assert verdict("Rivers.", "length", min_words=1, max_words=1).passed


def test_an_exact_duplicate_up_to_case_and_whitespace_is_rejected() -> None:
    kept = KeptTexts(["List the planets of the solar system."])
    assert not verdict("  list the PLANETS of the\nsolar system. ", "duplicate", kept).passed
    assert verdict("List the moons of the solar system.", "duplicate", kept).passed
    kept.add("Name three rivers in Europe.")
    assert len(kept) == 2 and not verdict("Name three rivers in Europe.", "duplicate", kept).passed


def test_form_rejects_a_text_starting_with_punctuation_or_a_non_ascii_character() -> None:
    assert not verdict("- Name three rivers.", "form").passed
    assert not verdict("¿Cómo estás hoy amigo?", "form").passed
    assert verdict("Name three rivers.", "form").passed
    unchecked = verdict("- Name three rivers.", "form", check_form=False)
    assert unchecked.passed and unchecked.detail == "not checked"
