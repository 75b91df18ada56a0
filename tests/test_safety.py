"""Specification of input cleaning, identity-leak detection, voter hashing and inert display text."""

from __future__ import annotations

import pytest

from arena.safety import IdentityMatcher, InputError, clean_message, inert_markdown, session_hash, voter_hash


@pytest.mark.parametrize("raw", ["", "   ", "\n\t \n", None, "\x00\x01"])
def test_empty_or_whitespace_message_is_refused_with_a_clear_message(raw: object) -> None:
    with pytest.raises(InputError, match=r"empty|Type a message"):
        clean_message(raw, max_chars=100)


def test_non_text_message_is_refused() -> None:
    with pytest.raises(InputError, match="must be text"):
        clean_message(12, max_chars=100)


def test_a_100000_character_message_is_refused_naming_its_length_and_the_limit() -> None:
    with pytest.raises(InputError, match=r"100,000 characters.*limit is 8,000"):
        clean_message("x" * 100_000, max_chars=8000)


def test_control_characters_are_removed_and_the_person_is_told() -> None:
    clean = clean_message("hel\x00lo\x07 wor\x1bld\tok\nline", max_chars=100)
    assert clean.text == "hello world\tok\nline"
    assert any("3 control characters removed" in n for n in clean.notices)


def test_lone_surrogates_become_replacement_characters_so_the_text_can_be_stored() -> None:
    clean = clean_message("bad \ud800 unicode", max_chars=100)
    assert clean.text == "bad \ufffd unicode"
    clean.text.encode("utf-8")  # storable in PostgreSQL
    assert clean.notices


def test_a_normal_message_is_kept_as_typed_apart_from_surrounding_space() -> None:
    clean = clean_message("  Explain <b>HTML</b> & 🤗 émojis  ", max_chars=100)
    assert clean.text == "Explain <b>HTML</b> & 🤗 émojis"
    assert clean.notices == ()


def test_identity_words_match_on_word_boundaries_ignoring_case() -> None:
    matcher = IdentityMatcher.from_words(["gpt-4", "openai", "llama", "meta ai", "smollm2-135m-greedy"])
    assert matcher.find("I am GPT-4, made by OpenAI.") == ["gpt-4", "openai"]
    assert matcher.find("Meta AI trained me") == ["meta ai"]
    assert matcher.find("you are smollm2-135m-greedy") == ["smollm2-135m-greedy"]
    assert matcher.find("a llama is an animal", None, "") == ["llama"]
    assert matcher.find("llamas", "metadata", "gpt-40") == []


def test_an_empty_word_list_matches_nothing() -> None:
    assert IdentityMatcher.from_words([" ", ""]).find("gpt-4 openai") == []


def test_voter_hash_is_stable_salted_and_does_not_contain_the_ip() -> None:
    a = voter_hash("salt", "203.0.113.7", "session-1")
    assert a == voter_hash("salt", "203.0.113.7", "session-1")
    assert a != voter_hash("other-salt", "203.0.113.7", "session-1")
    assert a != voter_hash("salt", "203.0.113.8", "session-1")
    assert a != voter_hash("salt", "203.0.113.7", "session-2")
    assert "203.0.113.7" not in a and len(a) == 64
    assert session_hash("salt", "s") != session_hash("salt", "t")


def test_html_outside_code_is_escaped_so_it_shows_as_text() -> None:
    shown = inert_markdown('<script>alert(1)</script><img src=x onerror="alert(2)"> R&D')
    assert "<script" not in shown and "<img" not in shown
    assert "&lt;script&gt;" not in shown  # '>' is kept for markdown quotes; '<' alone defuses tags
    assert shown.startswith("&lt;script>alert(1)&lt;/script>")
    assert "R&amp;D" in shown


def test_code_spans_and_fences_are_left_alone_because_markdown_shows_them_literally() -> None:
    text = "Use `<div>` here:\n```html\n<script>x()</script>\n```\nand <b>this</b>"
    shown = inert_markdown(text)
    assert "`<div>`" in shown
    assert "```html\n<script>x()</script>\n```" in shown
    assert shown.endswith("and &lt;b>this&lt;/b>")


def test_an_unclosed_fence_still_counts_as_code() -> None:
    assert inert_markdown("```\n<i>") == "```\n<i>"
