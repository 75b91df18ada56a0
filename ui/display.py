"""Text as the browser gets it: markdown rendered to HTML by markdown-it-py, then cleaned by nh3's allow-list.

Everything a person sees that a client or a model could have written (messages, answers, notices quoting input,
model descriptions) goes through `display_html`. Sanitising the rendered HTML, not the markdown source, is the
point: escaping markdown by hand was bypassed (a code span opened by an escaped backtick; a reference-style link
definition with a `javascript:` target, inside a quote or a list), while an allow-list over the final HTML holds
whatever the markdown parser makes of its input.

The result is one line (newlines become `&#10;`, which HTML reads as the same character): a markdown renderer
in the browser (gr.Markdown) then sees a single HTML block and passes it through instead of parsing parts of it
as markdown again. Chatbots are built with `render_markdown=False` and take it as HTML directly.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

# `html: False`: HTML written in a message is shown as text, never parsed as HTML. Line breaks as typed, like
# GitHub comments and the chat UIs people know.
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False, "breaks": True}).enable(
    ["table", "strikethrough"]
)


def _image_as_link(renderer: Any, tokens: Any, index: int, options: Any, env: Any) -> str:
    """An image becomes a link to it, labelled with its alt text: nothing loads until someone clicks."""
    token = tokens[index]
    src = escapeHtml(token.attrGet("src") or "")
    label = escapeHtml(token.content or token.attrGet("src") or "image")
    return f'<a href="{src}">🖼 {label}</a>'


_MARKDOWN.add_render_rule("image", _image_as_link)

# What markdown produces, minus images: an image would load a URL chosen by a model or a client the moment the
# answer shows (a tracking pixel that tells a server who reads which side before the vote).
ALLOWED_TAGS = frozenset(
    {"p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
     "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td"}
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
# Absolute links to web pages and mail only; relative ones would point into the arena's own endpoints.
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})

_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(ALLOWED_URL_SCHEMES),
    url_relative="deny",
    link_rel="noopener noreferrer nofollow ugc",
    strip_comments=True,
)

_LONE_SURROGATES = re.compile(r"[\ud800-\udfff]")


@functools.lru_cache(maxsize=2048)
def display_html(text: str | None) -> str:
    """`text` (markdown) as safe, single-line HTML. Cached: a streamed answer re-renders the turns before it."""
    if not text:
        return ""
    # A lone surrogate cannot be encoded for the browser; the Unicode replacement character shows where it was.
    source = _LONE_SURROGATES.sub("\ufffd", text)
    html = _CLEANER.clean(_MARKDOWN.render(source))
    return html.strip().replace("\r", "").replace("\n", "&#10;")
