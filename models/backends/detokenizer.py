"""Turning a growing list of token ids into text deltas, one token at a time."""

from __future__ import annotations

from typing import Protocol


class Decoder(Protocol):
    def decode(self, token_ids: list[int], skip_special_tokens: bool = ...) -> str: ...


class IncrementalDetokenizer:
    """Emit the text each new token adds, so that the deltas concatenate to `decode(all tokens)`.

    Decoding tokens one by one is wrong twice over: a multi-byte character split across byte-level BPE tokens
    decodes to U+FFFD halves, and SentencePiece-style tokenizers drop a token's leading space when it is decoded
    alone. So we decode a short window that starts a few tokens back (its text is already known) and emit the
    new suffix, holding it back while it ends in U+FFFD (an incomplete character). The window keeps each step
    O(1) instead of decoding the whole answer again.
    """

    def __init__(self, decoder: Decoder) -> None:
        self._decoder = decoder
        self._ids: list[int] = []
        self._prefix_offset = 0  # start of the context window
        self._read_offset = 0  # end of the text already emitted

    @property
    def token_ids(self) -> list[int]:
        return self._ids

    def push(self, token_id: int) -> str:
        """Add one token; return the text that can be shown now (possibly empty)."""
        self._ids.append(token_id)
        prefix = self._decode(self._ids[self._prefix_offset : self._read_offset])
        full = self._decode(self._ids[self._prefix_offset :])
        if len(full) <= len(prefix) or full.endswith("\ufffd"):
            return ""
        self._prefix_offset, self._read_offset = self._read_offset, len(self._ids)
        return full[len(prefix) :]

    def flush(self) -> str:
        """The text still held back (an incomplete character at the very end decodes as U+FFFD)."""
        prefix = self._decode(self._ids[self._prefix_offset : self._read_offset])
        full = self._decode(self._ids[self._prefix_offset :])
        self._prefix_offset = self._read_offset = len(self._ids)
        return full[len(prefix) :]

    def _decode(self, ids: list[int]) -> str:
        return self._decoder.decode(ids, skip_special_tokens=True) if ids else ""
