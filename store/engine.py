"""Engine factory: SQLite (default, one file) or PostgreSQL, tuned for many short concurrent writes.

SQLite transactions
-------------------
The stdlib driver is switched to manual transaction control (``isolation_level = None``) and the engine emits
``BEGIN`` itself from the "begin" event. A plain (deferred) ``BEGIN`` only takes the write lock at the first
write; when two such transactions both read and then write, one of them fails at once with "database is
locked" (SQLite cannot wait for the lock without risking a deadlock, so busy_timeout does not apply). Write
transactions therefore start with ``BEGIN IMMEDIATE``, which takes the write lock up front and *does* wait
for it (busy_timeout). Reads keep the deferred ``BEGIN`` so that, in WAL mode, they never block or wait.

To get an immediate transaction, use an engine derived with ``writer(engine)`` (the execution option
``sqlite_immediate=True``); on PostgreSQL the option is ignored, so callers need not care which database
they run on. Every write path of the store goes through such an engine (store.db.Database.writer).

The side effect of manual control is welcome: DDL becomes transactional on SQLite too, so a migration runs
in one transaction, all or nothing.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from facts.json_safe import dumps  # JSON columns: NaN and infinities stored as null, which PostgreSQL accepts

SQLITE_BUSY_TIMEOUT_S = 30.0
IMMEDIATE_OPTION = "sqlite_immediate"

_SQLITE_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite"})
_POSTGRES_DRIVERS = frozenset({"postgresql", "postgresql+psycopg"})
_SUPPORTED = "sqlite:///path/to/file.db, sqlite:// (in memory), postgresql://user@host:port/dbname"


class DatabaseURLError(ValueError):
    """The database URL is malformed or names a database this app does not support."""


def make_engine(url: str | URL, **engine_options: Any) -> Engine:
    """An Engine for `url`, configured for this app. Extra keyword arguments go to `create_engine`.

    ``postgresql://`` is rewritten to ``postgresql+psycopg://`` (psycopg 3 is the only driver installed).
    In-memory SQLite (``sqlite://``) uses one shared connection (StaticPool): it suits single-threaded unit
    tests, not concurrent writers, whose transactions would interleave on that one connection.
    """
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, engine_options)
    return _postgres_engine(parsed, engine_options)


def writer(engine: Engine) -> Engine:
    """The same engine (shared pool) whose transactions start with BEGIN IMMEDIATE on SQLite."""
    return engine.execution_options(**{IMMEDIATE_OPTION: True})


def parse_database_url(url: str | URL) -> URL:
    """Validate `url` and normalise the driver name. Raises DatabaseURLError with the accepted forms."""
    if isinstance(url, str):
        if not url.strip():
            raise DatabaseURLError(f"empty database URL; expected one of: {_SUPPORTED}")
        try:
            parsed = make_url(url.strip())
        except ArgumentError as exc:
            raise DatabaseURLError(f"malformed database URL {url!r}; expected one of: {_SUPPORTED}") from exc
    else:
        parsed = url
    if parsed.drivername in _SQLITE_DRIVERS:
        return parsed.set(drivername="sqlite+pysqlite")
    if parsed.drivername in _POSTGRES_DRIVERS:
        if not parsed.database:
            raise DatabaseURLError(f"PostgreSQL URL names no database: {_safe(parsed)}")
        return parsed.set(drivername="postgresql+psycopg")
    raise DatabaseURLError(f"unsupported database URL {_safe(parsed)}; expected one of: {_SUPPORTED}")


def is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _sqlite_engine(url: URL, engine_options: dict[str, Any]) -> Engine:
    memory = is_memory_sqlite(url)
    options: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}, "json_serializer": dumps}
    if memory:
        options["poolclass"] = StaticPool
        options["connect_args"]["check_same_thread"] = False
    elif url.database is not None and not url.query.get("uri"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    options.update(engine_options)
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _sqlite_connect_memory if memory else _sqlite_connect_file)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect_file(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    _sqlite_connect_memory(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    try:
        # journal_mode is stored in the file; switching needs an exclusive lock, so only ask when needed.
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            _switch_to_wal(cursor)
        # NORMAL is durable in WAL mode except for the last commits before a power loss, and much faster.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """PRAGMA journal_mode=WAL fails at once with "database is locked" while another connection of a new
    file (a second process starting at the same moment) holds a lock: the busy handler does not cover it, so
    retry until the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _sqlite_connect_memory(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """Settings every SQLite connection needs, in memory or not."""
    # The driver must not open transactions behind our back: _sqlite_begin emits BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(IMMEDIATE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _postgres_engine(url: URL, engine_options: dict[str, Any]) -> Engine:
    # pre_ping: the server may restart or drop idle connections while the app waits for votes.
    options: dict[str, Any] = {"pool_pre_ping": True, "json_serializer": dumps}
    options.update(engine_options)
    return create_engine(url, **options)
