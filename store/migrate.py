"""Schema upgrades at app start: `migrate(engine)` brings the database to the newest Alembic revision.

Safe to call at every start and from several processes at once: the upgrade runs in one transaction that
first takes a lock — a PostgreSQL transaction-level advisory lock (per schema), or SQLite's write lock via
BEGIN IMMEDIATE — so a second process waits, then finds the schema already at head and does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from store.engine import writer

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# First key of the two-key advisory lock ("Aren" in ASCII); the second key is the schema, so test schemas
# in one database do not wait for each other.
_PG_LOCK_CLASS = 0x4172656E


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config for the packaged migrations; env.py uses `connection` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside one write transaction that holds the migration lock until commit."""
    with writer(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            # COALESCE: current_schema() is NULL when no schema on the search_path exists, and the
            # function is strict, so a NULL key would silently skip the lock.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(CAST(:cls AS integer), hashtext(COALESCE(current_schema(), '')))"),
                {"cls": _PG_LOCK_CLASS},
            )
        yield connection


def migrate(engine: Engine) -> None:
    """Upgrade the database behind `engine` to the head revision (no-op when already there)."""
    with migration_connection(engine) as connection:
        command.upgrade(alembic_config(connection), "head")


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
