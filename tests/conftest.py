"""Shared pytest fixtures. Each section belongs to one part of the app; add new fixtures in their own section."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from store import Store

if TYPE_CHECKING:  # torch loads in seconds: only the tests that use a model pay for it
    from models.backends.local import LocalEngine
    from models.pool import BackendPool
    from tests.openai_server import OpenAIServer

# =====================================================================================================
# Database fixtures (store)
#
# `db_url` runs a test once on SQLite (a file under tmp_path, so WAL is real) and once on PostgreSQL, where
# each test gets a fresh schema, named on the connection's search_path and dropped afterwards. Without a
# PostgreSQL server the PostgreSQL half is skipped loudly, or fails when the CI env var is set.
# =====================================================================================================

POSTGRES_URL = os.environ.get("ARENA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
_POSTGRES_DOWN = pytest.StashKey[str]()


def _libpq_conninfo(url: str) -> str:
    """The SQLAlchemy URL as a libpq connection string, for admin work with plain psycopg."""
    parsed = make_url(url)
    parts = {
        "host": parsed.host or "127.0.0.1",
        "port": str(parsed.port or 5432),
        "dbname": parsed.database or "",
        "user": parsed.username or "postgres",
    }
    if parsed.password:
        parts["password"] = parsed.password
    return " ".join(f"{k}={v}" for k, v in parts.items())


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> str:
    """The PostgreSQL URL, checked once per run."""
    try:
        with psycopg.connect(_libpq_conninfo(POSTGRES_URL), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        problem = " ".join(str(exc).split())
    else:
        return POSTGRES_URL
    message = f"PostgreSQL at {make_url(POSTGRES_URL).render_as_string()} does not answer ({problem})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the PostgreSQL tests: start the server.", pytrace=False)
    request.config.stash[_POSTGRES_DOWN] = message
    pytest.skip(f"!!! {message}: PostgreSQL tests SKIPPED !!!")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    message = config.stash.get(_POSTGRES_DOWN, None)
    if message:
        terminalreporter.write_sep("!", "PostgreSQL tests were SKIPPED", red=True, bold=True)
        terminalreporter.write_line(f"{message}. Start it with:")
        terminalreporter.write_line("  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")


@pytest.fixture
def postgres_schema_url(postgres_server: str) -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema (dropped after the test)."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    conninfo = _libpq_conninfo(postgres_server)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_url(postgres_server).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'arena.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def storage(db_url: str) -> Iterator[Store]:
    """A migrated, empty database behind the data-access layer."""
    store = Store.open(db_url)
    try:
        yield store
    finally:
        store.dispose()


# =====================================================================================================
# Model fixtures (models.embedded, models.backends.local)
#
# The embedded model is converted once per run into a cache under pytest's base temp dir (about 30 s), so
# the tests never touch ~/.cache. Two processes convert at once, which also exercises the conversion lock.
# =====================================================================================================


@dataclass(frozen=True)
class ConvertedModel:
    cache_dir: Path
    folder: Path
    process_logs: tuple[str, ...]  # stderr of each of the two converting processes


_CONVERT_SCRIPT = """
import logging, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
from models.embedded import ensure_converted
print(ensure_converted(Path(sys.argv[1])))
"""


@pytest.fixture(scope="session")
def converted_model(tmp_path_factory: pytest.TempPathFactory) -> ConvertedModel:
    cache_dir = tmp_path_factory.getbasetemp() / "model-cache"
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _CONVERT_SCRIPT, str(cache_dir)],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, f"converting the embedded model failed:\n{stderr}"
    folders = {Path(stdout.strip()) for stdout, _ in outputs}
    assert len(folders) == 1, f"the two processes disagree on the folder: {folders}"
    return ConvertedModel(cache_dir, folders.pop(), tuple(stderr for _, stderr in outputs))


@pytest.fixture(scope="session")
def backend_pool(converted_model: ConvertedModel) -> BackendPool:
    """Engines for the whole run, loaded on first use from the converted cache."""
    from models.pool import BackendPool

    return BackendPool(converted_model.cache_dir)


@pytest.fixture(scope="session")
def engine(backend_pool: BackendPool) -> LocalEngine:
    """The embedded model in float32, shared by the whole run and by `backend_pool` (treat it as read-only)."""
    from models.registry import ModelSpec

    return cast("LocalEngine", backend_pool.get(ModelSpec(name="test-embedded")))


@pytest.fixture(scope="session")
def int8_engine(backend_pool: BackendPool) -> LocalEngine:
    from models.registry import ModelSpec

    return cast("LocalEngine", backend_pool.get(ModelSpec(name="test-int8", quantization="int8-dynamic")))


# =====================================================================================================
# Remote model fixtures (models.backends.openai_compat)
#
# `openai_server` is a real HTTP server on 127.0.0.1 speaking the OpenAI Chat Completions protocol, scripted
# by each test (see tests/openai_server.py); it stops, ending any scripted stall, when the test ends.
# =====================================================================================================


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    from tests.openai_server import OpenAIServer

    server = OpenAIServer().start()
    try:
        yield server
    finally:
        server.stop()
