"""A real HTTP server on 127.0.0.1 speaking the OpenAI Chat Completions protocol, scripted per test.

The `openai` client sends through its own httpx fork, which mocking libraries do not intercept; a server on
a real socket also exercises what mocks cannot: chunked SSE, timeouts, a connection cut mid-answer.

A test queues replies (`server.add(...)`), each a list of events played in order. Streaming requests get them
as SSE events ending in `data: [DONE]`; non-streaming requests get one JSON completion built from the same
script. A request with no queued reply gets `streamed("Hello", " world")`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Text:
    """One streamed piece of the answer."""

    text: str


@dataclass(frozen=True)
class Finish:
    """The chunk carrying finish_reason."""

    reason: str = "stop"


@dataclass(frozen=True)
class Usage:
    """The trailing usage chunk; only sent when the request asked for it (stream_options.include_usage)."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Sleep:
    """Say nothing for a while: before the headers (first event) it delays the answer, later it stalls it."""

    seconds: float


@dataclass(frozen=True)
class Raw:
    """Bytes sent as they are, e.g. an SSE event whose data is not JSON."""

    data: str


@dataclass(frozen=True)
class Cut:
    """Close the socket at once, mid-answer."""


@dataclass(frozen=True)
class Status:
    """An HTTP error instead of an answer (the first and only event)."""

    code: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "scripted failure"


Event = Text | Finish | Usage | Sleep | Raw | Cut | Status


def streamed(*pieces: str, reason: str = "stop", usage: tuple[int, int] | None = (11, 2)) -> list[Event]:
    """A normal answer: the pieces, the finish chunk, and the usage chunk."""
    events: list[Event] = [Text(p) for p in pieces]
    events.append(Finish(reason))
    if usage is not None:
        events.append(Usage(*usage))
    return events


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class OpenAIServer:
    """Start with `start()`, stop with `stop()`; `base_url` ends in /v1 like a real deployment."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._replies: dict[str | None, deque[list[Event]]] = {}
        self.responder: Callable[[dict[str, Any]], list[Event] | None] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="openai-test-server", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> OpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes every scripted Sleep so that handler threads end now
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def add(self, *replies: Sequence[Event], model: str | None = None) -> None:
        """Queue replies, for any model, or only for requests naming `model` (they go first)."""
        with self._lock:
            self._replies.setdefault(model, deque()).extend(list(r) for r in replies)

    # --- used by the handler ---------------------------------------------------------------------------

    def _next_reply(self, model: object, body: dict[str, Any] | None = None) -> list[Event]:
        """A queued reply first; else the responder's reply to this request (a judge that reads the prompt)."""
        with self._lock:
            for key in (model if isinstance(model, str) else None, None):
                queue = self._replies.get(key)
                if queue:
                    return queue.popleft()
        if self.responder is not None and body is not None and (reply := self.responder(body)) is not None:
            return reply
        return streamed("Hello", " world")

    def _enter(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)


def _handler_for(server: OpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        owner = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked SSE, as uvicorn (vLLM) and axum (TGI) serve it
    owner: OpenAIServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest output is for the tests

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        recorded = RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        self.owner._enter(recorded)
        try:
            events = self.owner._next_reply(body.get("model"), body)
            if body.get("stream"):
                self._stream(events, body)
            else:
                self._complete(events, body)
        except OSError:
            self.close_connection = True  # the client went away (it timed out): nothing more to send
        finally:
            self.owner._leave()

    def _stream(self, events: list[Event], body: dict[str, Any]) -> None:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        started = False
        for event in events:
            if isinstance(event, Status):
                self._send_status(event)
                return
            if isinstance(event, Sleep):
                self.owner._sleep(event.seconds)
                continue
            if isinstance(event, Cut):
                self._cut()
                return
            if not started:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                started = True
            if isinstance(event, Raw):
                self._send_chunk(event.data)
            elif isinstance(event, Text):
                self._send_event(_chunk(body, {"content": event.text}, None))
            elif isinstance(event, Finish):
                self._send_event(_chunk(body, {}, event.reason))
            elif include_usage:
                usage = {"prompt_tokens": event.prompt_tokens, "completion_tokens": event.completion_tokens}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                self._send_event({**_chunk(body, {}, None), "choices": [], "usage": usage})
        if not started:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
        self._send_chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _complete(self, events: list[Event], body: dict[str, Any]) -> None:
        text, reason, usage = "", "stop", None
        for event in events:
            if isinstance(event, Status):
                self._send_status(event)
                return
            if isinstance(event, Sleep):
                self.owner._sleep(event.seconds)
            elif isinstance(event, Cut):
                self._cut()
                return
            elif isinstance(event, Raw):
                self._send_bytes(200, event.data.encode(), "application/json")
                return
            elif isinstance(event, Text):
                text += event.text
            elif isinstance(event, Finish):
                reason = event.reason
            else:
                usage = {"prompt_tokens": event.prompt_tokens, "completion_tokens": event.completion_tokens}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        message = {"role": "assistant", "content": text}
        answer = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": message, "finish_reason": reason}],
        }
        if usage is not None:
            answer["usage"] = usage
        self._send_json(200, answer)

    def _send_status(self, status: Status) -> None:
        error = {"error": {"message": status.message, "type": "server_error", "code": status.code}}
        data = json.dumps(error).encode()
        self.send_response(status.code)
        for name, value in status.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_json(self, code: int, payload: dict[str, Any]) -> None:
        self._send_bytes(code, json.dumps(payload).encode(), "application/json")

    def _send_bytes(self, code: int, data: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_event(self, payload: dict[str, Any]) -> None:
        self._send_chunk(f"data: {json.dumps(payload)}\n\n")

    def _send_chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _cut(self) -> None:
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


def _chunk(body: dict[str, Any], delta: dict[str, str], finish_reason: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", ""),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
