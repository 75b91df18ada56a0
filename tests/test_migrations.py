"""Specification of the database setup: the engine factory and the Alembic migrations, on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Engine, UniqueConstraint, event, inspect, text

from arena.db import Base, DatabaseURLError, current_revision, head_revision, make_engine, migrate, writer
from arena.db.migrate import alembic_config

REPO_ROOT = Path(__file__).resolve().parent.parent
TABLES = {
    "models", "battles", "turns", "votes", "leaderboard_snapshots", "judgments", "training_runs", "scheduler_leases",
    "job_runs",
}  # fmt: skip


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    """An engine on an empty database (not migrated)."""
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _schema_diff(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def _table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


# --- migrations ---------------------------------------------------------------------------------------


def test_migrations_create_exactly_the_schema_the_orm_declares(db_engine: Engine) -> None:
    migrate(db_engine)
    assert _schema_diff(db_engine) == []


def test_constraints_and_indexes_carry_the_naming_convention_names(db_engine: Engine) -> None:
    migrate(db_engine)
    inspector = inspect(db_engine)
    for table in Base.metadata.sorted_tables:
        expected_ix = {ix.name for ix in table.indexes}
        # PostgreSQL also lists the index behind each unique constraint; those are checked as constraints.
        indexes = {ix["name"] for ix in inspector.get_indexes(table.name) if "duplicates_constraint" not in ix}
        assert indexes == expected_ix, table.name
        expected_uq = {c.name for c in table.constraints if isinstance(c, UniqueConstraint)}
        assert {uq["name"] for uq in inspector.get_unique_constraints(table.name)} == expected_uq, table.name
        expected_ck = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        assert {ck["name"] for ck in inspector.get_check_constraints(table.name)} == expected_ck, table.name
        expected_fk = {fk.name for fk in table.foreign_key_constraints}
        assert {fk["name"] for fk in inspector.get_foreign_keys(table.name)} == expected_fk, table.name
        if db_engine.dialect.name == "postgresql":  # SQLite does not keep primary key names
            assert inspector.get_pk_constraint(table.name)["name"] == table.primary_key.name


def test_migrate_is_idempotent_and_records_the_head_revision(db_engine: Engine) -> None:
    assert current_revision(db_engine) is None
    migrate(db_engine)
    migrate(db_engine)
    assert current_revision(db_engine) == head_revision()
    assert _table_names(db_engine) == TABLES
    assert _schema_diff(db_engine) == []


def test_concurrent_starts_migrate_once_without_errors(db_url: str) -> None:
    engines = [make_engine(db_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def start(engine: Engine) -> None:
        barrier.wait()
        try:
            migrate(engine)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert not any(t.is_alive() for t in threads), "a migration hung"
        assert errors == []
        assert current_revision(engines[0]) == head_revision()
        assert _schema_diff(engines[0]) == []
    finally:
        for engine in engines:
            engine.dispose()


def test_downgrade_to_base_removes_every_table_and_upgrade_restores_them(db_engine: Engine) -> None:
    migrate(db_engine)
    with writer(db_engine).begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert _table_names(db_engine) == set()
    migrate(db_engine)
    assert _schema_diff(db_engine) == []


def test_alembic_command_line_upgrades_the_database_named_by_the_env_var(db_url: str) -> None:
    env = {**os.environ, "ARENA_DATABASE_URL": db_url}
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()


# --- engine -------------------------------------------------------------------------------------------


def test_sqlite_file_engine_uses_wal_foreign_keys_busy_timeout_and_normal_sync(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'arena.db'}")
    try:
        with engine.connect() as connection:
            pragma = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
        assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000, "synchronous": 1}
        assert (tmp_path / "nested" / "dir" / "arena.db").exists()
    finally:
        engine.dispose()


def test_sqlite_writes_begin_immediate_and_reads_begin_deferred(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'arena.db'}")
    begins: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("BEGIN"):
            begins.append(statement)

    try:
        with writer(engine).begin() as connection:
            connection.execute(text("SELECT 1"))
        with engine.begin() as connection:
            connection.execute(text("SELECT 1"))
        assert begins == ["BEGIN IMMEDIATE", "BEGIN"]
    finally:
        engine.dispose()


def test_sqlite_rolls_back_ddl_with_its_transaction(tmp_path: Path) -> None:
    # Manual BEGIN makes DDL transactional, which is what keeps a failed migration all-or-nothing.
    engine = make_engine(f"sqlite:///{tmp_path / 'arena.db'}")
    try:
        with pytest.raises(RuntimeError), writer(engine).begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            raise RuntimeError("fail after the DDL")
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_in_memory_sqlite_shares_one_database_across_connections() -> None:
    engine = make_engine("sqlite://")
    try:
        migrate(engine)
        assert _table_names(engine) == TABLES
    finally:
        engine.dispose()


def test_postgresql_urls_are_rewritten_to_the_psycopg_driver() -> None:
    engine = make_engine("postgresql://someone:secret@db.example:5432/arena")
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.pool._pre_ping  # type: ignore[attr-defined]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url",
    ["mysql://u@h/db", "postgresql+psycopg2://u@h/db", "oracle://h/db", "not a url", "", "postgresql://u@h"],
)
def test_unsupported_or_malformed_urls_are_refused_with_the_accepted_forms(url: str) -> None:
    with pytest.raises(DatabaseURLError, match=r"sqlite|PostgreSQL URL names no database"):
        make_engine(url)


def test_url_errors_do_not_echo_passwords() -> None:
    with pytest.raises(DatabaseURLError) as info:
        make_engine("mysql://user:hunter2@host/db")
    assert "hunter2" not in str(info.value)
