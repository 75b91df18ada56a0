"""Query results as Arrow record batches, for reads of millions of rows (the leaderboard's votes).

At that size Python row objects cost more than the database does. A PostgreSQL read of one statement goes
through ADBC (Apache Arrow's database connectivity; PostgreSQL's binary COPY) straight into columnar batches:
ten million votes arrive without a Python object per value. A SQLite file is read by ADBC's SQLite driver too,
but in a child process (store.sqlite_arrow) that streams Arrow IPC back: the driver links its own copy of SQLite,
and two copies in one process corrupt a database (closing a file in one copy drops the POSIX locks the other
holds; sqlite.org, "How To Corrupt An SQLite Database", 2.2.1), which is what the app's own writes saw when it
was tried in-process. A million votes: about 3 CPU-s that way, against 7 through the stdlib driver's cursor,
which stays the fallback (an in-memory database, a statement the driver refuses) and the reader inside a
caller's transaction.

    arrow_batches(engine, query)         -> Iterator[pa.RecordBatch]   (own connection: one statement, one snapshot)
    cursor_batches(connection, query)    -> Iterator[pa.RecordBatch]   (the caller's connection and transaction)
"""

from __future__ import annotations

import importlib.util
import logging
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Engine, Select
from sqlalchemy.exc import DBAPIError

BATCH_ROWS = 65_536
# Below this many rows the stdlib driver reads a SQLite file faster than a child process starts and imports
# Arrow (about 0.6 s); above it the child wins (a million rows: 3 CPU-s against 7).
SQLITE_CHILD_ROWS = 300_000
log = logging.getLogger(__name__)


def compiled_sql(query: Select[Any], dialect: Any) -> str:
    """The statement with its parameters inlined (they are the app's own constants, never user input)."""
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def arrow_batches(engine: Engine, query: Select[Any], *, rows: int | None = None) -> Iterator[pa.RecordBatch]:
    """`rows`: about how many rows the query returns, if known (a small SQLite read is not worth a process)."""
    if engine.dialect.name == "sqlite" and (rows is None or rows >= SQLITE_CHILD_ROWS):
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            batches = _sqlite_in_child(database, compiled_sql(query, engine.dialect))
            if batches is not None:
                yield from batches
                return
    if engine.dialect.name != "postgresql":
        with engine.connect() as connection:
            yield from cursor_batches(connection, query)
        return
    import adbc_driver_postgresql.dbapi as adbc

    libpq = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    sql = compiled_sql(query, engine.dialect)
    try:
        with closing(adbc.connect(libpq)) as connection, closing(connection.cursor()) as cursor:
            cursor.execute(sql)
            yield from _prefetched(cursor.fetch_record_batch())
    except adbc.Error as exc:  # the same error the rest of the store raises, whichever driver read
        raise DBAPIError(sql, None, exc) from exc


def _prefetched(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """The batches read on a thread of their own, `depth` ahead of the caller: the database sending, the driver
    decoding (it releases the GIL) and the caller converting the previous batch then overlap. The reader's
    errors are raised here, in the caller's thread."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def pump() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        ready.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(_END)
        except BaseException as exc:  # handed to the caller's thread, which raises it
            ready.put(exc)

    reader = threading.Thread(target=pump, name="arrow-prefetch", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # unblock a pump waiting on a full queue, then let it finish
            with suppress(queue.Empty):
                ready.get(timeout=0.1)
        reader.join()


_END = object()


def cursor_batches(connection: Connection, query: Select[Any]) -> Iterator[pa.RecordBatch]:
    names = list(query.selected_columns.keys())
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(compiled_sql(query, connection.dialect))
        while rows := cursor.fetchmany(BATCH_ROWS):
            columns = [pa.array(values) for values in zip(*rows, strict=True)]
            yield pa.RecordBatch.from_arrays(columns, names=names)
    finally:
        cursor.close()


def _sqlite_in_child(database: str, sql: str) -> list[pa.RecordBatch] | None:
    """The rows of `sql` read by store.sqlite_arrow in a process of its own; None when ADBC's SQLite driver is
    not installed or refused the statement (the caller reads through the app's driver instead)."""
    if importlib.util.find_spec("adbc_driver_sqlite") is None:
        return None
    with tempfile.TemporaryFile() as errors:
        # Run as a script, not `-m store.sqlite_arrow`: importing the store package would cost the child a second.
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("sqlite_arrow.py")), str(Path(database).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        try:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(sql.encode())
            process.stdin.close()
            try:
                batches = list(pa.ipc.open_stream(process.stdout))
            except pa.ArrowInvalid:  # nothing written: the child refused or failed
                batches = None
            status = process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if status == 0 and batches is not None:
            return batches
        errors.seek(0)
        detail = " ".join(errors.read().decode(errors="replace").split())[-500:]
        log.warning("reading through the app's SQLite driver: the ADBC reader ended with %s (%s)", status, detail)
        return None
