"""Specification of facts.style: the style-control covariates, counted as Chatbot Arena counts them."""

from __future__ import annotations

import pytest

from facts.style import StyleFeatures, conversation_features, count_tokens, style_features


@pytest.mark.parametrize(
    ("text", "headers"),
    [
        ("# One\n## Two\n###### Six", 3),
        ("####### seven hashes is not a header", 0),
        ("#hashtag is not a header", 0),
        ("text # not at line start", 0),
        ("  # indented", 0),  # Chatbot Arena's pattern anchors the '#' at the line start
    ],
)
def test_headers_are_lines_starting_with_one_to_six_hashes_and_a_space(text: str, headers: int) -> None:
    assert style_features(text).headers == headers


@pytest.mark.parametrize(
    ("text", "lists"),
    [
        ("1. one\n2. two\n10. ten", 3),
        ("- a\n* b\n+ c", 3),
        ("- a\n  - nested\n    1. deeper", 3),
        ("**bold** line\n---\n-5 degrees\n3.14 is pi", 0),
        ("in a sentence: 1. first - second", 0),
    ],
)
def test_list_items_are_ordered_or_unordered_markers_at_line_start(text: str, lists: int) -> None:
    assert style_features(text).lists == lists


@pytest.mark.parametrize(
    ("text", "bold"),
    [
        ("**one** and __two__ and **three**", 3),
        ("** not closed", 0),
        ("**across\nlines**", 0),
        ("call `__init__` and `**kwargs**`", 0),  # inline code is not formatting
    ],
)
def test_bold_spans_use_double_stars_or_underscores_on_one_line(text: str, bold: int) -> None:
    assert style_features(text).bold == bold


def test_markdown_inside_fenced_code_is_ignored_but_its_tokens_count() -> None:
    code = "# comment\n- item\n**bold**"
    text = f"## Real header\n\n```python\n{code}\n```\n\n~~~\n{code}\n~~~\n- real item"
    features = style_features(text)
    assert (features.headers, features.lists, features.bold) == (1, 1, 0)
    assert features.tokens == count_tokens(text) > count_tokens("## Real header\n- real item")


def test_a_fence_closes_only_with_its_own_character_and_at_least_its_length() -> None:
    text = "````\n```\n# inside\n````\n# outside"
    assert style_features(text).headers == 1
    text = "```\n~~~\n# inside\n```\n# outside"
    assert style_features(text).headers == 1


def test_an_unclosed_fence_runs_to_the_end() -> None:
    assert style_features("# title\n```\n# inside\n- inside").headers == 1
    assert style_features("# title\n```\n# inside\n- inside").lists == 0


def test_tokens_count_words_and_punctuation_marks() -> None:
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("don't") == 3
    assert count_tokens("x = f(2.5)") == 8
    assert count_tokens("Grüße, 世界") == 3
    assert count_tokens("   ") == 0


def test_empty_text_has_no_features() -> None:
    assert style_features("") == StyleFeatures(0, 0, 0, 0)


def test_a_conversation_sums_its_answers_and_skips_missing_ones() -> None:
    first, second = "# A\n- x\n**b**", "1. y\n2. z"
    total = conversation_features([first, None, second])
    assert total == style_features(first) + style_features(second)
    assert (total.headers, total.lists, total.bold) == (1, 3, 1)


def test_columns_name_the_schema_style_columns_of_a_side() -> None:
    features = StyleFeatures(tokens=10, headers=1, lists=2, bold=3)
    assert features.columns("a") == {"len_a": 10, "header_a": 1, "list_a": 2, "bold_a": 3}
    assert features.columns("b") == {"len_b": 10, "header_b": 1, "list_b": 2, "bold_b": 3}
    with pytest.raises(ValueError, match="side"):
        features.columns("c")
