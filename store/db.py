"""The database handle every part of the store shares: the engine, its write engine, sessions, and the write
and snapshot disciplines.

- Writes: one transaction each, on an engine whose SQLite transactions start with BEGIN IMMEDIATE
  (store.engine.writer), queued on a process lock first on SQLite (its busy handler polls in sleeps of up to
  100 ms; handing the lock over in-process is faster), never re-entrant.
- Reads that must see one moment (the votes reader's several statements): REPEATABLE READ on PostgreSQL; a
  SQLite read transaction already is one snapshot.
- Times: SQLite hands back naive datetimes for timezone-aware columns; they were written in UTC (`utc`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from store.engine import writer


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.writer = writer(engine)
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(self.writer, expire_on_commit=False)
        self._write_queue: AbstractContextManager[Any] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """An ORM session in one write transaction, committed at the end of the block."""
        with self._write_queue, self._write.begin() as session:
            yield session

    @contextmanager
    def writing_core(self) -> Iterator[Connection]:
        """A connection in one write transaction, for the hot paths where ORM overhead shows."""
        with self._write_queue, self.writer.begin() as connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._read.begin() as session:
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction in which every statement sees the same committed data."""
        with self.engine.connect() as connection:
            if self.engine.dialect.name == "postgresql":
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection


def utc(value: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite returns naive ones, written in UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)
