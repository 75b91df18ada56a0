"""Specification of what the browser is given: markdown rendered, then cleaned by an allow-list (ui/display.py).

The HTML is checked by parsing it, not by looking for strings: every tag must be on the allow-list, every
attribute allowed for its tag, every link absolute http(s) or mailto. The same payloads run in Chromium in
tests/test_browser.py.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlparse

import pytest

from tests.xss_corpus import PAYLOADS, filled
from ui.display import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, ALLOWED_URL_SCHEMES, display_html

REL = {"rel"}  # added by the sanitiser to every link


class Inspector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            if name not in ALLOWED_ATTRIBUTES.get(tag, set()) | (REL if tag == "a" else set()):
                self.problems.append(f"attribute {name} on <{tag}>")
            if name == "href":
                self.links.append(value or "")
                scheme = urlparse(value or "").scheme.lower()
                if scheme not in ALLOWED_URL_SCHEMES:
                    self.problems.append(f"link {value!r}")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def inspect(html: str) -> Inspector:
    inspector = Inspector()
    inspector.feed(html)
    inspector.close()
    return inspector


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_no_payload_yields_a_tag_attribute_or_link_outside_the_allow_list(name: str) -> None:
    payload = filled("alert(7)")[name]
    for text in (payload, f"Sure, here it is: {payload} done.", f"1. item\n2. {payload}", f"> quoted {payload}"):
        html = display_html(text)
        assert inspect(html).problems == [], f"{name}: {html}"
        assert "\n" not in html, "one line: a markdown renderer in the page takes it as one HTML block"


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_every_prefix_of_a_streamed_payload_is_clean_too(name: str) -> None:
    # An answer arrives a few characters at a time, and each update is rendered: a half-written tag or link
    # must be as harmless as the whole.
    payload = filled("alert(7)")[name]
    for end in range(1, len(payload) + 1):
        html = display_html(f"answer: {payload[:end]}")
        assert inspect(html).problems == [], f"{name}[:{end}]: {html}"


def test_what_was_written_is_still_readable_as_text() -> None:
    shown = inspect(display_html("<script>alert(1)</script> and <b>bold?</b>"))
    assert "".join(shown.text) == "<script>alert(1)</script> and <b>bold?</b>"


def test_markdown_people_use_still_renders() -> None:
    html = display_html(
        "# Title\n**bold** *em* ~~gone~~ `code`\n\n- one\n- two\n\n1. first\n\n> quote\n\n"
        "```python\nprint('<hi>')\n\n\nx = 1\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "[docs](https://example.org/x?a=1&b=2) <mailto:me@example.org>"
    )
    for tag in ("<h1>", "<strong>", "<em>", "<s>", "<code>", "<ul>", "<ol>", "<blockquote>", "<pre>", "<table>"):
        assert tag in html, tag
    assert 'href="https://example.org/x?a=1&amp;b=2"' in html and 'href="mailto:me@example.org"' in html
    assert "print('&lt;hi&gt;')&#10;&#10;&#10;x = 1" in html, "code keeps its blank lines, encoded"
    assert 'rel="noopener noreferrer nofollow ugc"' in html


def test_relative_links_and_images_do_not_reach_the_page() -> None:
    html = display_html("[x](/gradio_api/file=/etc/passwd) ![tracker](https://evil.example/pixel.png)")
    inspector = inspect(html)
    assert inspector.links == ["https://evil.example/pixel.png"], "the image is a link to click, never loaded"
    assert "<img" not in html and "tracker" in "".join(inspector.text)


def test_a_lone_surrogate_renders_as_a_replacement_character() -> None:
    html = display_html("a \udc00 b")
    assert html == "<p>a \ufffd b</p>"
    html.encode("utf-8")


def test_empty_and_missing_text_render_as_nothing() -> None:
    assert display_html("") == "" and display_html(None) == ""
