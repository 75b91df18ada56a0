"""Alembic environment, used both by `migrate(engine)` and by the `alembic` command line.

Programmatic use passes an open connection (already holding the migration lock, inside a transaction)
through ``config.attributes["connection"]``. From the command line (`alembic upgrade head`), the database is
the one the app opens: the settings' resolved URL (ARENA_DATABASE_URL, else ARENA_DATA_DIR's arena.db, from the
environment or the ARENA_CONFIG file).
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from store.engine import make_engine, parse_database_url
from store.migrate import migration_connection
from store.tables import Base

target_metadata = Base.metadata


def database_url() -> str:
    # The alembic command line is a composition root: the settings are built here, once.
    from settings import Settings

    return Settings().resolved_database_url


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    # The caller's transaction is already open, so this does not commit on its own: all or nothing.
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    engine = make_engine(database_url())
    try:
        with migration_connection(engine) as locked:
            run_migrations(locked)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    url = parse_database_url(database_url())
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


# Only the command line has an ini file; migrate() must not reconfigure the app's logging.
if context.config.config_file_name is not None and "connection" not in context.config.attributes:
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
