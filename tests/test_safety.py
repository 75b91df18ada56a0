"""Specification of input cleaning, identity-leak detection and voter hashing (display: tests/test_display.py)."""

from __future__ import annotations

import pytest

from arena.safety import (
    IdentityMatcher,
    InputError,
    clean_message,
    clean_text,
    client_hash,
    session_hash,
    visible_text,
    voter_hash,
)


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


INVISIBLE = ["\u200b", "\u200c", "\u200d", "\ufeff", "\u2060", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066"]


@pytest.mark.parametrize("invisible", INVISIBLE)
def test_a_message_of_only_invisible_characters_is_empty(invisible: str) -> None:
    with pytest.raises(InputError, match="empty"):
        clean_message(invisible * 5 + " \n" + invisible, max_chars=100)


def test_invisible_characters_around_a_message_are_trimmed_and_inside_it_kept() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # an emoji sequence joined by U+200D
    clean = clean_message(f"\u200b\ufeff {family} is one emoji \u2060", max_chars=100)
    assert clean.text == f"{family} is one emoji"


def test_what_a_reader_sees_is_nfkc_without_format_characters() -> None:
    assert visible_text("g\u200bp\u200dt-\ufeff4") == "gpt-4"
    assert visible_text("ＧＰＴ－４") == "GPT-4"
    assert visible_text("\u200e\u200f") == ""


def test_a_lone_surrogate_anywhere_becomes_a_replacement_character_with_a_sentence() -> None:
    for raw, expected in (("a\ud800b", "a\ufffdb"), ("\udfff\udfff x", "\ufffd\ufffd x"), ("\udc00", "\ufffd")):
        clean = clean_message(raw, max_chars=100)
        assert clean.text == expected
        clean.text.encode("utf-8")  # storable and sendable
        assert any("surrogate" in notice for notice in clean.notices)


def test_an_optional_text_may_be_empty_and_other_types_are_refused() -> None:
    assert clean_text("\u200b", what="system prompt", max_chars=10, required=False).text == ""
    assert clean_text(None, what="system prompt", max_chars=10, required=False).text == ""
    with pytest.raises(InputError, match="system prompt must be text"):
        clean_text(["x"], what="system prompt", max_chars=10, required=False)


def test_identity_words_are_found_through_invisible_and_full_width_characters() -> None:
    matcher = IdentityMatcher.from_words(["gpt-4", "openai"])
    assert matcher.find("made by Open\u200bAI") == ["openai"]
    assert matcher.find("I am ＧＰＴ-4") == ["gpt-4"]


def test_the_client_hash_depends_on_the_address_only() -> None:
    assert client_hash("salt", "203.0.113.7") == client_hash("salt", "203.0.113.7")
    assert client_hash("salt", "203.0.113.7") != client_hash("salt", "203.0.113.8")
    assert client_hash("salt", "203.0.113.7") != client_hash("pepper", "203.0.113.7")
    assert "203.0.113.7" not in client_hash("salt", "203.0.113.7")
