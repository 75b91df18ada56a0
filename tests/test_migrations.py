"""Specification of the database setup: the engine factory and the Alembic migrations, on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Engine, UniqueConstraint, event, inspect, text

from facts.categories import classify_prompt
from facts.style import unique_token_share
from store.engine import DatabaseURLError, make_engine, writer
from store.migrate import alembic_config, current_revision, head_revision, migrate
from store.tables import Base

REPO_ROOT = Path(__file__).resolve().parent.parent
TABLES = {
    "models", "battles", "turns", "votes", "leaderboard_snapshots", "judgments", "training_runs", "scheduler_leases",
    "job_runs", "address_days", "flagged_sources", "reward_evaluations", "benchmark_runs", "benchmark_items",
    "sft_examples",
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


def test_the_alembic_command_line_migrates_the_database_the_app_opens(tmp_path: Path) -> None:
    """No ARENA_DATABASE_URL: the settings' data folder, from the environment or from the ARENA_CONFIG file."""
    from_env, from_file = tmp_path / "env-data", tmp_path / "file-data"
    config = tmp_path / "arena.yaml"
    config.write_text(f"data_dir: {from_file}\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    for env, folder in (({"ARENA_DATA_DIR": str(from_env)}, from_env), ({"ARENA_CONFIG": str(config)}, from_file)):
        result = subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=REPO_ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        engine = make_engine(f"sqlite:///{folder / 'arena.db'}")
        try:
            assert current_revision(engine) == head_revision()
        finally:
            engine.dispose()


def test_votes_from_before_the_facts_get_the_rules_verdict_and_their_facts_by_a_resumable_backfill(
    db_engine: Engine,
) -> None:
    from facts.style import style_features
    from store import Store
    from store.backfill import backfill_facts, pending_battles

    with writer(db_engine).begin() as connection:
        command.upgrade(alembic_config(connection), "0005")
    rows = [  # (battle, mode, error flag, leak flag, notes, stored reason before the rule existed)
        ("clean", "anonymous", False, False, "", None),
        ("flagged-after-vote", "anonymous", True, False, "", None),
        ("probe", "anonymous", False, True, "identity probe: who are you", "a model or vendor was named"),
        ("shown", "side_by_side", False, False, "", None),
    ]  # fmt: skip
    with writer(db_engine).begin() as connection:
        for number, (battle, mode, error, leak, notes, reason) in enumerate(rows):
            connection.execute(
                text(
                    "INSERT INTO battles (id, mode, model_a, model_b, swapped, params_a, params_b, session_id, "
                    "voter_id, state, flag_error, flag_identity_leak, flag_length_limit, flag_notes, tokens_a, "
                    "tokens_b, created_at, updated_at) VALUES (:id, :mode, 'alpha', 'beta', false, '{}', '{}', 's', "
                    "'v', 'voted', :error, :leak, false, :notes, 0, 0, :now, :now)"
                ),
                {
                    "id": battle,
                    "mode": mode,
                    "error": error,
                    "leak": leak,
                    "notes": notes,
                    "now": f"2026-11-0{number + 1}",
                },
            )
            for index, (message, answer_a, answer_b) in enumerate(
                [(f"Write a poem about {battle}.", "# Title\n- a\n- b", "**bold** text"), ("Shorter.", "ok", "- x")],
                start=1,
            ):
                connection.execute(
                    text(
                        'INSERT INTO turns (battle_id, "index", attempt, superseded, user_message, answer_a, '
                        "answer_b, prompt_tokens_a, prompt_tokens_b, completion_tokens_a, completion_tokens_b, "
                        "created_at) VALUES (:b, :i, 0, false, :m, :a, :bb, 0, 0, 0, 0, :now)"
                    ),
                    {"b": battle, "i": index, "m": message, "a": answer_a, "bb": answer_b, "now": "2026-11-01"},
                )
            connection.execute(
                text(
                    "INSERT INTO votes (battle_id, turn, winner, voter_id, source, excluded_reason, created_at) "
                    "VALUES (:b, 2, 'model_a', 'v', 'human', :reason, :now)"
                ),
                {"b": battle, "reason": reason, "now": "2026-11-02"},
            )
    migrate(db_engine)
    store = Store(db_engine)
    frame = store.votes.read(texts=True)
    reasons = {
        battle: None if pd.isna(reason) else reason
        for battle, reason in zip(frame["battle_id"], frame["excluded_reason"], strict=True)
    }
    assert reasons == {
        "clean": None,
        "flagged-after-vote": "a model failed to answer",
        "probe": "a model was asked who it is (identity probe)",
        "shown": "the models were not anonymous",
    }, "every stored verdict is the one rule's"
    assert pending_battles(store.db) == 4

    class Interrupted(Exception):
        pass

    def stop_after_one(done: int, total: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        backfill_facts(store.db, batch_size=1, progress=stop_after_one)
    assert pending_battles(store.db) == 3, "the first batch was committed before the stop"
    report = backfill_facts(store.db, batch_size=2)
    assert (report.battles, pending_battles(store.db)) == (3, 0)
    assert backfill_facts(store.db).battles == 0, "nothing left: a second run does nothing"

    row = store.votes.read(texts=True).set_index("battle_id").loc["clean"]
    expected = {
        **(style_features("# Title\n- a\n- b") + style_features("ok")).columns("a"),
        **(style_features("**bold** text") + style_features("- x")).columns("b"),
    }
    assert {column: row[column] for column in expected} == expected
    assert row["category"] == classify_prompt("Write a poem about clean.")
    assert (row["unique_a"], row["unique_b"]) == (unique_token_share("ok"), unique_token_share("- x"))


def test_votes_with_facts_from_before_the_unique_token_share_get_all_their_facts_again(db_engine: Engine) -> None:
    """0007 adds each side's unique-token share and hands every older vote back to the backfill, which
    recomputes all its text-derived facts; until then the vote's style reads as missing, never stale."""
    from store import NewTurn, Store
    from store.backfill import backfill_facts, pending_battles

    with writer(db_engine).begin() as connection:
        command.upgrade(alembic_config(connection), "0006")
    store = Store(db_engine)  # the tables as the ORM declares them: only the unique columns are missing yet
    with writer(db_engine).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO battles (id, mode, model_a, model_b, swapped, params_a, params_b, session_id, voter_id, "
                "state, flag_error, flag_identity_leak, flag_length_limit, flag_notes, tokens_a, tokens_b, "
                "created_at, updated_at) VALUES ('old', 'anonymous', 'alpha', 'beta', false, '{}', '{}', 's', 'v', "
                "'voted', false, false, false, '', 0, 0, '2026-11-01', '2026-11-01')"
            )
        )
        connection.execute(
            text(
                'INSERT INTO turns (battle_id, "index", attempt, superseded, user_message, answer_a, answer_b, '
                "prompt_tokens_a, prompt_tokens_b, completion_tokens_a, completion_tokens_b, created_at) VALUES "
                "('old', 1, 0, false, 'Say it twice.', 'echo echo', 'one two', 0, 0, 0, 0, '2026-11-01')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO votes (battle_id, turn, winner, voter_id, source, created_at, model_a, model_b, mode, "
                "category, len_a, len_b, header_a, header_b, list_a, list_b, bold_a, bold_b) VALUES ('old', 1, "
                "'model_b', 'v', 'human', '2026-11-02', 'alpha', 'beta', 'anonymous', 'other', 2, 2, 0, 0, 0, 0, "
                "0, 0)"
            )
        )
    migrate(db_engine)
    assert pending_battles(store.db) == 1
    before = store.votes.read(audit=True).iloc[0]
    assert pd.isna(before["len_a"]) and pd.isna(before["unique_a"]), "missing until the backfill, not stale"
    backfill_facts(store.db)
    after = store.votes.read(audit=True).iloc[0]
    assert (after["len_a"], after["unique_a"], after["unique_b"]) == (2, 0.5, 1.0)
    assert after["category"] == classify_prompt("Say it twice.")
    new = store.battles.create(
        mode="anonymous", model_a="alpha", model_b="beta", swapped=False, params_a={}, params_b={},
        session_id="s", voter_id="v",
    )  # fmt: skip
    store.battles.add_turn(new.id, NewTurn(user_message="hi", answer_a="a a a a", answer_b=""))
    store.battles.record_vote(battle_id=new.id, turn=1, winner="tie", voter_id="w")
    written = store.votes.read(audit=True).set_index("battle_id").loc[new.id]
    assert written["unique_a"] == 0.25 and pd.isna(written["unique_b"]), "written with the vote; no token: none"


def test_the_criterion_revision_keeps_every_battle_turn_vote_and_judgment(db_engine: Engine) -> None:
    """0010 adds what a battle and a vote judge. On SQLite a rebuilt battles table would be dropped first, and the
    drop would cascade to every turn, vote and judgment: the revision must add the battles column in place, and
    existing rows must come out as helpfulness battles and votes."""
    with writer(db_engine).begin() as connection:
        command.upgrade(alembic_config(connection), "0009")
        connection.execute(
            text(
                "INSERT INTO battles (id, mode, model_a, model_b, swapped, params_a, params_b, session_id, voter_id, "
                "state, flag_error, flag_identity_leak, flag_length_limit, flag_notes, tokens_a, tokens_b, "
                "created_at, updated_at) VALUES ('b1', 'anonymous', 'alpha', 'beta', false, '{}', '{}', 's', 'v', "
                "'voted', false, false, false, '', 0, 0, '2026-12-01', '2026-12-01')"
            )
        )
        connection.execute(
            text(
                'INSERT INTO turns (battle_id, "index", attempt, superseded, user_message, answer_a, answer_b, '
                "prompt_tokens_a, prompt_tokens_b, completion_tokens_a, completion_tokens_b, created_at) VALUES "
                "('b1', 1, 0, false, 'hi', 'a', 'b', 0, 0, 0, 0, '2026-12-01')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO votes (battle_id, turn, winner, voter_id, source, created_at, model_a, model_b, mode) "
                "VALUES ('b1', 1, 'model_a', 'v', 'human', '2026-12-01', 'alpha', 'beta', 'anonymous')"
            )
        )
        connection.execute(
            text(
                'INSERT INTO judgments (battle_id, turn, judge, judge_model, prompt_version, scale, "order", '
                "raw_text, outcome, prompt_tokens, completion_tokens, created_at) VALUES ('b1', 1, 'judge:j', 'm', "
                "'v1', 'arena_hard', 'original', '[[A>B]]', 'consistent', 0, 0, '2026-12-01')"
            )
        )
    migrate(db_engine)
    with db_engine.connect() as connection:
        counts = [connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in ("turns", "judgments")]
        assert counts == [1, 1]
        assert connection.execute(text("SELECT criterion FROM battles")).all() == [("helpfulness",)]
        assert connection.execute(text("SELECT criterion, harm_category FROM votes")).all() == [("helpfulness", None)]
