"""Query results as Arrow record batches, for reads of millions of rows (the leaderboard's votes).

At that size Python row objects cost more than the database does. A PostgreSQL read of one statement goes
through ADBC (Apache Arrow's database connectivity; PostgreSQL's binary COPY) straight into columnar batches:
ten million votes arrive without a Python object per value. SQLite is read through the stdlib driver's cursor,
chunk by chunk, into the same batches: ADBC's SQLite driver links its own copy of SQLite, and two copies in one
process corrupt a database (closing a file in one copy drops the POSIX locks the other holds; sqlite.org,
"How To Corrupt An SQLite Database", 2.2.1), which is what the app's own writes saw when it was tried.

    arrow_batches(engine, query)         -> Iterator[pa.RecordBatch]   (own connection: one statement, one snapshot)
    cursor_batches(connection, query)    -> Iterator[pa.RecordBatch]   (the caller's connection and transaction)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Engine, Select

BATCH_ROWS = 65_536


def compiled_sql(query: Select[Any], dialect: Any) -> str:
    """The statement with its parameters inlined (they are the app's own constants, never user input)."""
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def arrow_batches(engine: Engine, query: Select[Any]) -> Iterator[pa.RecordBatch]:
    if engine.dialect.name != "postgresql":
        with engine.connect() as connection:
            yield from cursor_batches(connection, query)
        return
    import adbc_driver_postgresql.dbapi as adbc

    libpq = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with closing(adbc.connect(libpq)) as connection, closing(connection.cursor()) as cursor:
        cursor.execute(compiled_sql(query, engine.dialect))
        yield from cursor.fetch_record_batch()


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
