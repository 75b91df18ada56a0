"""Optional moderation of what people send, before any model sees it or anything is stored.

`ArenaService` calls `Moderator.check(text)` and fails closed: a moderator that raises (down, slow, broken)
refuses the message, exactly like a flagged one, so an outage never lets unchecked text through.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import openai

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)

DEFAULT_OPENAI_MODEL = "omni-moderation-latest"


@dataclass(frozen=True)
class ModerationVerdict:
    flagged: bool
    categories: tuple[str, ...] = ()  # the flagged categories, e.g. ("harassment", "violence/graphic")


class ModerationUnavailable(RuntimeError):
    """The moderator could not give a verdict (error, timeout, unreadable answer)."""


@runtime_checkable
class Moderator(Protocol):
    def check(self, text: str) -> ModerationVerdict:
        """The verdict on one message; raises when there is none to give."""
        ...


class OpenAIModerator:
    """POST /v1/moderations through the `openai` client (OpenAI, or any server speaking that endpoint)."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        model: str = DEFAULT_OPENAI_MODEL,
        timeout: float = 10.0,
        max_retries: int = 1,
    ) -> None:
        self.model = model
        # One long-lived client: its connection pool is reused by every message.
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)

    def check(self, text: str) -> ModerationVerdict:
        try:
            response = self._client.moderations.create(input=text, model=self.model)
            result = response.results[0]
            categories = result.categories.model_dump(by_alias=True) if result.categories else {}
            return ModerationVerdict(
                flagged=bool(result.flagged), categories=tuple(sorted(k for k, v in categories.items() if v))
            )
        except Exception as exc:
            raise ModerationUnavailable(f"{type(exc).__name__}: {exc}") from exc


def moderator_from_settings(settings: Settings) -> Moderator | None:
    """The moderator the settings ask for (ARENA_MODERATION), or None when moderation is off."""
    if not settings.moderation:
        return None
    api_key = settings.resolved_moderation_api_key
    if not api_key:
        # Refusing to start beats starting with a moderator that refuses every message.
        raise ValueError("ARENA_MODERATION=openai needs an API key: set OPENAI_API_KEY or ARENA_MODERATION_API_KEY")
    log.info("moderating messages with %s", settings.moderation_model)
    return OpenAIModerator(
        api_key=api_key,
        base_url=settings.moderation_base_url or None,
        model=settings.moderation_model,
        timeout=settings.moderation_timeout_seconds,
    )
