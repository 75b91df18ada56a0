"""The app under test, served on a free loopback port with the theme, CSS and head that production serves.

The UI tests (browser and gradio_client alike) start the app this way, so that what they click and screenshot is
what a visitor gets. Production mounts the same Blocks on FastAPI (app.create_server); launching it directly
keeps the scheduler out of the tests' way, which tests/test_scheduler.py covers on its own.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from app import ArenaApp, build_arena
from settings import Settings
from ui.arena import CSS, HEAD, theme


def free_port() -> int:
    """A loopback port nothing listens on right now (a race with other processes is possible but rare)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ServedApp:
    url: str  # with the trailing slash
    arena: ArenaApp


@contextmanager
def served(settings: Settings) -> Iterator[ServedApp]:
    """Build the arena from `settings` and serve it on `settings.port` until the block ends."""
    arena = build_arena(settings)
    try:
        arena.demo.launch(
            server_name="127.0.0.1",
            server_port=settings.port,
            prevent_thread_lock=True,
            ssr_mode=False,
            quiet=True,
            css=CSS,
            head=HEAD,
            theme=theme(),
        )
        yield ServedApp(f"http://127.0.0.1:{settings.port}/", arena)
    finally:
        arena.demo.close()
        arena.close()  # as production shuts down: the scheduler (never started here), upload audits, the store
