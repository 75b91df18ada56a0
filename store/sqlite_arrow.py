"""Run one SELECT on a SQLite file through ADBC and write the rows to standard output as an Arrow IPC stream.

Started by store.columnar as a process of its own: ADBC's SQLite driver links its own copy of SQLite, which
must never share a process with the app's (two copies in one process corrupt a database: sqlite.org, "How To
Corrupt An SQLite Database", 2.2.1). In its own process it is one more reader, as SQLite expects.

    python store/sqlite_arrow.py PATH < statement.sql > rows.arrows     (a script: no package imported)

Exit status 0 when the stream is complete, 3 when the driver refused the statement or its rows; either way
nothing but a whole stream is written. The caller reads through the app's own driver after any failure.
"""

from __future__ import annotations

import sys

REFUSED = 3


def main(argv: list[str] | None = None) -> int:
    path = (argv if argv is not None else sys.argv[1:])[0]
    statement = sys.stdin.read()
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa

    try:
        with adbc.connect(path) as connection, connection.cursor() as cursor:
            # Types are inferred from the first batch: a big one sees more values (a column NULL for the first
            # thousand rows would otherwise be taken for integers).
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "65536"})
            cursor.execute(statement)
            # All rows before the first byte out: the driver infers each column's type from the first rows and
            # may refuse a later one; the caller must then get nothing, not part of the rows.
            table = cursor.fetch_arrow_table()
        with pa.ipc.new_stream(sys.stdout.buffer, table.schema) as writer:
            # the driver's batches are of 1,024 rows: fewer, bigger ones cost the reader less per row
            for batch in table.combine_chunks().to_batches(max_chunksize=65_536):
                writer.write_batch(batch)
    except BrokenPipeError:  # the reader stopped early: nothing more to say
        return 0
    except Exception as exc:  # a type the driver cannot infer (an OSError), a busy file, ...: the caller reads
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main())
