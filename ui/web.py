"""The HTTP edge of the app: slow connections, who is listening, and how many answers one client may queue.

Client addresses are uvicorn's job (its proxy-header support, configured in app.py with the proxies the operator
trusts); nothing here reads a header a client could set.

- `h11_with_head_timeout`: uvicorn times out idle keep-alive connections, but a client that connects and sends
  its request head slowly, or never, holds the connection forever ("slowloris"). This protocol class closes a
  connection whose request head is not complete within a deadline.
- `StreamListeners` + `QueueMiddleware`: which Gradio sessions have their event stream open. A queued generation
  whose session never opened one (a script that only POSTs /queue/join) has nobody to answer: it is dropped
  before any token is generated. Gradio itself cancels a session's queued and running events when its stream
  closes. The middleware also takes joins one at a time, which makes the queue's size limit hold.
- `GenerationGate`: at most N generation requests per client address waiting in Gradio's queue or running, checked
  when a request joins the queue (a Gradio validator), so one client cannot fill the queue for everyone.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def h11_with_head_timeout(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, closing connections whose request head takes longer than `seconds` to arrive."""

    class HeadTimeoutH11Protocol(H11Protocol):
        _head_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()  # a connection that never sends a byte is as stuck as one that sends half a head

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            # IDLE: the request head has begun (or not) but is not complete. Armed once per head, not per byte:
            # a client trickling a byte at a time must not keep pushing its deadline back.
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self._arm()
            else:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._head_deadline is None:
                self._head_deadline = self.loop.call_later(seconds, self._head_too_slow)

        def _disarm(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _head_too_slow(self) -> None:
            self._head_deadline = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                # Between requests a keep-alive connection is uvicorn's (timeout_keep_alive); this closes it too.
                self.transport.close()

    HeadTimeoutH11Protocol.__name__ = f"HeadTimeoutH11Protocol_{seconds:g}s"
    return HeadTimeoutH11Protocol


class StreamListeners:
    """Which Gradio sessions have their event stream open (counted by `QueueMiddleware`), and when each session
    last joined the queue (recorded by the generation validator)."""

    GRACE_SECONDS = 2.0  # from joining the queue to opening the stream, for a browser or gradio_client
    MAX_SESSIONS = 100_000

    def __init__(self) -> None:
        self._open: Counter[str] = Counter()
        self._joined: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self.installed = False  # no middleware, no evidence: `someone_listens` then assumes yes

    def opened(self, session: str) -> None:
        with self._lock:
            self._open[session] += 1

    def closed(self, session: str) -> None:
        with self._lock:
            self._open[session] -= 1
            if self._open[session] <= 0:
                del self._open[session]

    def joined(self, session: str | None) -> None:
        if session is None:
            return
        with self._lock:
            self._joined[session] = time.monotonic()
            self._joined.move_to_end(session)
            while len(self._joined) > self.MAX_SESSIONS:
                self._joined.popitem(last=False)

    def listening(self, session: str) -> bool:
        with self._lock:
            return self._open.get(session, 0) > 0

    def someone_listens(self, session: str | None, *, poll: float = 0.05) -> bool:
        """Whether `session` has an event stream open, waiting for one until `GRACE_SECONDS` after it joined the
        queue (a request that waited in the queue longer than that is judged at once)."""
        if not self.installed or session is None:
            return True
        with self._lock:
            joined = self._joined.get(session, time.monotonic())
        deadline = joined + self.GRACE_SECONDS
        while not self.listening(session):
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)
        return True


class QueueMiddleware:
    """ASGI middleware around Gradio's queue routes.

    - Counts open `GET .../gradio_api/queue/data?session_hash=...` streams per session (`StreamListeners`).
    - Admits one `POST .../gradio_api/queue/join` at a time. Gradio checks the queue's size, then awaits the
      event's validator, then appends: concurrent joins would all pass the size check (200 simultaneous joins
      all entered a queue of 64 here), and the per-client count of `GenerationGate` would race the same way.
      A join takes milliseconds, so taking them in turn costs nothing a person notices.
    """

    def __init__(self, app: ASGIApp, listeners: StreamListeners) -> None:
        self.app = app
        self.listeners = listeners
        self._join_lock: asyncio.Lock | None = None
        listeners.installed = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "http" and scope.get("method") == "POST" and _is(scope, "/gradio_api/queue/join"):
            if self._join_lock is None:
                self._join_lock = asyncio.Lock()
            async with self._join_lock:
                await self.app(scope, receive, send)
            return
        session = _stream_session(scope)
        if session is None:
            await self.app(scope, receive, send)
            return
        self.listeners.opened(session)
        try:
            await self.app(scope, receive, send)
        finally:
            self.listeners.closed(session)


def _is(scope: Scope, suffix: str) -> bool:
    return str(scope.get("path", "")).endswith(suffix)


def _stream_session(scope: Scope) -> str | None:
    if scope.get("type") != "http" or scope.get("method") != "GET" or not _is(scope, "/gradio_api/queue/data"):
        return None
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_hash")
    return values[0] if values else None


class GenerationGate:
    """At most `per_client` generation events per client address queued or running in a Gradio app.

    Reads Gradio's queue (`Blocks._queue`): Gradio has no public per-client count. tests/test_web_limits.py
    floods the real queue, so a Gradio release that changes these internals fails there, not in production.
    """

    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self._blocks: Any = None
        self._concurrency_ids: frozenset[str] = frozenset()

    def attach(self, blocks: Any, concurrency_ids: Iterable[str]) -> None:
        self._blocks = blocks
        self._concurrency_ids = frozenset(concurrency_ids)

    def in_flight(self, host: str | None) -> int:
        queue = getattr(self._blocks, "_queue", None)
        if queue is None or host is None:
            return 0
        events = [
            event
            for concurrency_id, waiting in list(queue.event_queue_per_concurrency_id.items())
            if concurrency_id in self._concurrency_ids
            for event in list(waiting.queue)
        ]
        events += [
            event
            for job in list(queue.active_jobs)
            if job
            for event in job
            if event.concurrency_id in self._concurrency_ids
        ]
        return sum(1 for event in events if client_host(event.request) == host)

    def refusal(self, host: str | None) -> str | None:
        """Why this client may not queue one more answer now, or None."""
        if self.per_client <= 0:
            return None
        waiting = self.in_flight(host)
        if waiting < self.per_client:
            return None
        return f"You already have {waiting} answers waiting or being written. Wait for them to finish, then send again."


def client_host(request: Any) -> str | None:
    """The connection's client address (set by uvicorn, from proxy headers only for trusted proxies)."""
    client = getattr(request, "client", None)
    return getattr(client, "host", None)
