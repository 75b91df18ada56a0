"""Models served over the OpenAI Chat Completions protocol with SSE streaming: OpenAI, TGI's Messages API,
vLLM, SGLang.

One `OpenAIChatBackend` per endpoint and served model holds one long-lived `openai.OpenAI` client (a client
made per request breaks streaming, and its connection pool is what makes the next request cheap) and one
semaphore limiting the requests in flight. Every failure ends the stream with an error chunk; nothing raises
out of `stream`.

Token counts: the server's `usage` when it streams one (stream_options.include_usage), otherwise an
approximation of about four characters per token plus a few tokens per message for the chat template. No
tokenizer is loaded: the served model's tokenizer is unknown here, and the counts only feed statistics.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai

from models.remote_options import NO_KEY, OpenAIOptions
from models.types import BackendError, ChatMessage, FinishReason, GenerationRequest, StreamChunk

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
# Role markers and separators a chat template adds around each message, and the assistant header after them.
TEMPLATE_TOKENS_PER_MESSAGE = 4
TEMPLATE_TOKENS_PER_PROMPT = 2
RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))
MAX_SERVER_MESSAGE = 200


def approximate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


class OpenAIChatBackend:
    """A ChatBackend for one served model behind an OpenAI-compatible endpoint.

    Retries (exponential backoff with jitter, or the server's Retry-After) happen only on 429 and 5xx
    answers before any text was streamed; once the person has seen text, a failure ends the answer with an
    error chunk instead, since a retry would show a different answer.
    """

    def __init__(self, options: OpenAIOptions) -> None:
        self.options = options
        self.name = options.model
        self._slots = threading.BoundedSemaphore(options.max_concurrent)
        self._client: openai.OpenAI | None = None
        self._client_lock = threading.Lock()
        self._random = random.Random()

    # --- ChatBackend -----------------------------------------------------------------------------------

    def count_tokens(self, messages: tuple[ChatMessage, ...]) -> int:
        """An approximation (see the module docstring): the served model's tokenizer is not available here."""
        content = sum(approximate_tokens(m.content) + TEMPLATE_TOKENS_PER_MESSAGE for m in messages)
        return content + TEMPLATE_TOKENS_PER_PROMPT

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        deadline = time.monotonic() + self.options.total_timeout_s
        try:
            client = self._get_client()
        except BackendError as exc:
            yield StreamChunk(finish_reason="error", error=str(exc))
            return
        # The slot is held through retries too: backing off must not let other requests pile onto a server
        # that just said it is overloaded.
        if not self._slots.acquire(timeout=self.options.total_timeout_s):
            yield self._busy()
            return
        try:
            yield from self._stream_with_retries(client, request, deadline)
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def complete(self, request: GenerationRequest) -> StreamChunk:
        """The whole answer in one non-streamed call (for callers with no one watching, like a judge).

        Returns one final chunk: the full `text` with finish_reason and token counts, or an error chunk.
        """
        deadline = time.monotonic() + self.options.total_timeout_s
        try:
            client = self._get_client()
        except BackendError as exc:
            return StreamChunk(finish_reason="error", error=str(exc))
        if not self._slots.acquire(timeout=self.options.total_timeout_s):
            return self._busy()
        try:
            body = {**self._body(request), "stream": False}
            body.pop("stream_options", None)
            response, failure = self._create(client, body, deadline)
            if failure is not None:
                return failure
            choice = response.choices[0] if response.choices else None
            if choice is None:
                return self._error("answered without any choice")
            text = choice.message.content or ""
            finish: FinishReason = "length" if choice.finish_reason == "length" else "stop"
            return self._final(finish, request, text, response.usage)
        except Exception as exc:  # a malformed body: the contract is an error chunk, never an exception
            return self._failed(f"sent an answer that could not be read ({type(exc).__name__})", exc)
        finally:
            self._slots.release()

    # --- internals -------------------------------------------------------------------------------------

    def _get_client(self) -> openai.OpenAI:
        # Made on first use, not at load: a missing key is then reported on the answer that needs it, and
        # loading the registry never needs the environment of the serving machine.
        with self._client_lock:
            if self._client is None:
                opts = self.options
                self._client = openai.OpenAI(
                    api_key=self._api_key(),
                    base_url=opts.base_url,
                    timeout=openai.Timeout(
                        opts.read_timeout_s, connect=opts.connect_timeout_s, read=opts.read_timeout_s
                    ),
                    max_retries=0,  # retries are ours: only before the first token, within the total time limit
                    default_headers=opts.extra_headers or None,
                )
            return self._client

    def _api_key(self) -> str:
        env = self.options.api_key_env
        if env is None:
            return NO_KEY
        key = os.environ.get(env, "")
        if not key:
            raise BackendError(
                f"The model {self.name!r} cannot be reached: the environment variable {env} holding its API key "
                "is not set."
            )
        return key

    def _stream_with_retries(
        self, client: openai.OpenAI, request: GenerationRequest, deadline: float
    ) -> Iterator[StreamChunk]:
        response, failure = self._create(client, self._body(request), deadline)
        if failure is not None:
            yield failure
            return
        with response:
            yield from self._read(response, request, deadline)

    def _create(self, client: openai.OpenAI, body: dict[str, Any], deadline: float) -> tuple[Any, StreamChunk | None]:
        """Send the request, retrying 429 and 5xx; (response, None), or (None, the error chunk to end with)."""
        attempt = 0
        while True:
            try:
                return client.chat.completions.create(**body), None
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status not in RETRY_STATUSES or attempt >= self.options.max_retries:
                    return None, self._failed(f"answered HTTP {status}{_server_message(exc)}", exc)
                delay = self._retry_delay(attempt, exc.response.headers)
                if time.monotonic() + delay > deadline:
                    what = f"answered HTTP {status} and asked to wait {delay:.0f} s, past the time limit"
                    return None, self._failed(what, exc)
                log.warning("model %s answered HTTP %d; retry %d in %.2f s", self.name, status, attempt + 1, delay)
                time.sleep(delay)
                attempt += 1
            except openai.APITimeoutError as exc:
                return None, self._failed(f"did not answer within {self.options.read_timeout_s:g} s", exc)
            except openai.APIConnectionError as exc:
                return None, self._failed("could not be reached", exc)
            except openai.OpenAIError as exc:
                return None, self._failed(f"refused the request ({type(exc).__name__})", exc)

    def _read(self, response: Any, request: GenerationRequest, deadline: float) -> Iterator[StreamChunk]:
        pieces: list[str] = []
        finish: FinishReason | None = None
        usage: Any = None
        try:
            for chunk in response:
                usage = getattr(chunk, "usage", None) or usage
                for choice in getattr(chunk, "choices", None) or ():
                    text = getattr(getattr(choice, "delta", None), "content", None)
                    if text:
                        pieces.append(text)
                        yield StreamChunk(text=text)
                    reason = getattr(choice, "finish_reason", None)
                    if reason:
                        # tool_calls and content_filter also end the answer; only "length" says it was cut short.
                        finish = "length" if reason == "length" else "stop"
                if time.monotonic() > deadline:
                    yield self._error(f"took longer than {self.options.total_timeout_s:g} s to answer; stopped")
                    return
        except Exception as exc:
            problem = _stream_problem(exc, self.options.read_timeout_s)
            if finish is None:
                yield self._failed(problem, exc)
                return
            # The answer itself is complete; only the trailing usage chunk was lost.
            log.warning("model %s: %s after its last token; keeping the answer", self.name, problem)
        if finish is None:
            yield self._error("stopped streaming before saying its answer was finished")
            return
        final = self._final(finish, request, "".join(pieces), usage)
        yield StreamChunk(
            finish_reason=final.finish_reason,
            prompt_tokens=final.prompt_tokens,
            completion_tokens=final.completion_tokens,
        )

    def _final(self, finish: FinishReason, request: GenerationRequest, text: str, usage: Any) -> StreamChunk:
        """The last chunk: the server's token counts when it sent them, else approximations."""
        prompt_tokens = getattr(usage, "prompt_tokens", None) or self.count_tokens(request.messages)
        completion_tokens = getattr(usage, "completion_tokens", None) or approximate_tokens(text)
        return StreamChunk(
            text=text, finish_reason=finish, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        params = request.params
        body: dict[str, Any] = {
            "model": self.options.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "temperature": params.temperature,
            "top_p": params.top_p,
            self.options.max_tokens_field: params.max_new_tokens,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if self.options.stream_usage:
            body["stream_options"] = {"include_usage": True}
        if self.options.sampling_extras:
            extras = {"repetition_penalty": params.repetition_penalty, "min_tokens": params.min_new_tokens}
            if params.top_k:
                extras["top_k"] = params.top_k
            body["extra_body"] = extras
        return body

    def _retry_delay(self, attempt: int, headers: Any) -> float:
        asked = _retry_after(headers)
        if asked is not None:
            return asked
        ceiling = min(self.options.backoff_max_s, self.options.backoff_base_s * 2**attempt)
        # Equal jitter: at least half the backoff, so that clients told "429" together do not come back together.
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)

    def _busy(self) -> StreamChunk:
        return self._error(f"was busy: no free slot among {self.options.max_concurrent} within the time limit")

    def _error(self, what: str) -> StreamChunk:
        return StreamChunk(finish_reason="error", error=f"The model {self.name!r} {what}.")

    def _failed(self, what: str, exc: BaseException) -> StreamChunk:
        # The log gets the endpoint (people see only the sentence). The exception's text holds the server's
        # message, never the Authorization header.
        log.warning("model %s at %s %s: %s: %s", self.name, self.options.base_url, what, type(exc).__name__, exc)
        return self._error(what)


def _retry_after(headers: Any) -> float | None:
    """Seconds the server asked us to wait: retry-after-ms (OpenAI), or Retry-After in seconds or as a date."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message:
        return ""
    # Shown to people: a server may put a whole stack trace in its message.
    return f" ({message[:MAX_SERVER_MESSAGE]}…)" if len(message) > MAX_SERVER_MESSAGE else f" ({message})"


def _stream_problem(exc: Exception, read_timeout_s: float) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return f"stalled for more than {read_timeout_s:g} s while answering"
    if isinstance(exc, json.JSONDecodeError):
        return "sent a malformed chunk (not JSON) while answering"
    if isinstance(exc, openai.APIConnectionError):
        return "was cut off while answering (the connection closed)"
    if isinstance(exc, openai.APIError):
        return f"reported an error while answering ({exc.message})"
    return f"failed while answering ({type(exc).__name__})"
