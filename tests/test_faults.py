"""Fault injection: what a person sees, and what the database keeps, when a part of the arena fails.

1. A contender's server is down, too slow, stalls or cuts the connection mid-answer (ArenaService on real
   SQLite and PostgreSQL, contenders on the scripted OpenAI-protocol server of tests/openai_server.py).
2. PostgreSQL restarts while simulated people vote through the running app (`app.py` in its own process).
3. The app is killed with SIGKILL in the middle of a vote (SQLite file database), then started again.

The figures of each run (votes acknowledged / stored / lost, outage and recovery times, what the person saw) go
to test-artifacts/faults/*.json and to stdout; RELIABILITY.md quotes them. Timings are recorded, never asserted.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exists, func, select
from sqlalchemy.exc import OperationalError

from arena.battles import (
    ANONYMOUS_ERROR,
    DATABASE_DOWN,
    ArenaConfig,
    ArenaService,
    Caller,
    DatabaseUnavailable,
    TurnUpdate,
)
from benchmarks.bench_load import _answer_text, _start_app, _stub_models
from models.pool import BackendPool
from models.registry import ModelSpec
from models.types import ChatBackend
from store import Store
from store.tables import Battle, Turn, Vote
from tests.openai_server import Cut, Event, OpenAIServer, Sleep, Text, streamed
from tests.served_app import free_port

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts" / "faults"
VOTE_ACK = "How much better"
STRENGTH_ACK = "your vote is recorded"
# What a person must never get: Gradio's bare "Error" (a handler raised, verbose errors off), or the raw text of
# an exception (a driver message naming the database host, a Traceback).
CRASH_SIGNS = re.compile(r"has not enabled verbose error reporting|\(\w+(\.\w+)*Error\)|sqlalche\.me|Traceback")
USERS = 4


def record(name: str, figures: dict[str, Any]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(figures, indent=2, sort_keys=True, default=str) + "\n")
    print(f"\n[faults] {name}: {json.dumps(figures, sort_keys=True, default=str)}")


# =====================================================================================================
# 1. A contender's backend fails: down, slow, stalled, cut mid-answer
# =====================================================================================================

ALICE = Caller(session_id="session-alice", voter_id="voter-alice")
# Short limits, so that a slow server costs the person about a second instead of the default minute.
TIMEOUTS = {"connect_timeout_s": 1.0, "read_timeout_s": 1.0, "total_timeout_s": 5.0, "max_retries": 0}


def remote(name: str, base_url: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        backend="openai",
        options={"base_url": base_url, "model": name, "no_api_key": True, **TIMEOUTS},
        generation={"max_new_tokens": 16, "temperature": 0.0},  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class BackendFault:
    name: str
    script: Sequence[Event] | None  # None: nothing listens at the contender's address
    stored_error: str  # in the turn's stored error (the full text; the person sees ANONYMOUS_ERROR)


BACKEND_FAULTS = [
    BackendFault("down", None, "could not be reached"),
    BackendFault("slow", [Sleep(30), *streamed("Too", " late")], "did not answer within 1 s"),
    BackendFault("stalled", [Text("Half an"), Sleep(30), *streamed(" answer")], "stalled for more than 1 s"),
    BackendFault("cut", [Text("Half an"), Text(" answer"), Cut()], "was cut off while answering"),
]


def fixed_pairs(pairs: list[tuple[str, str]]) -> Callable[[Sequence[str], random.Random], tuple[str, str]]:
    """A sampler handing out the given pairs in order: the faulty contender in the first battle only."""
    queue = list(pairs)

    def sample(names: Sequence[str], rng: random.Random) -> tuple[str, str]:
        pair = queue.pop(0)
        assert set(pair) <= set(names)
        return pair

    return sample


def table_counts(storage: Store) -> dict[str, int]:
    with storage.engine.connect() as conn:
        return {
            t.__tablename__: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (Battle, Turn, Vote)
        }


@pytest.mark.parametrize("fault", BACKEND_FAULTS, ids=[f.name for f in BACKEND_FAULTS])
def test_a_failing_backend_is_told_to_the_person_flags_the_battle_and_the_next_battle_is_served(
    storage: Store, openai_server: OpenAIServer, fault: BackendFault
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"  # a port just freed: nothing listens there
    flaky = remote("flaky", dead if fault.script is None else openai_server.base_url)
    steady, other = remote("steady", openai_server.base_url), remote("other", openai_server.base_url)
    storage.registry.sync([flaky, steady, other])
    if fault.script is not None:
        openai_server.add(fault.script, model="flaky")
    pool = BackendPool()
    used: list[ChatBackend] = []

    def backend_for(spec: ModelSpec) -> ChatBackend:
        used.append(pool.get(spec))
        return used[-1]

    service = ArenaService(
        storage,
        backend_for,
        ArenaConfig(max_new_tokens=16),
        sampler=fixed_pairs([("flaky", "steady"), ("steady", "other")]),
        rng=random.Random(3),
    )
    try:
        began = time.monotonic()
        updates: list[TurnUpdate] = list(service.send(ALICE, None, "What is two plus two?"))
        waited = time.monotonic() - began
        final = updates[-1]
        battle = storage.battles.get(final.battle_id)
        flaky_side = 0 if battle.model_a == "flaky" else 1

        # The person: a plain sentence on the failed side (no model name: the battle is anonymous), and a notice.
        assert final.done
        errors = (final.error_a, final.error_b)
        assert errors[flaky_side] == ANONYMOUS_ERROR and errors[1 - flaky_side] is None
        notice = next(n for n in final.notices if "failed to answer" in n)
        assert "will not count" in notice
        answers = (final.answer_a, final.answer_b)
        assert answers[1 - flaky_side] == "Hello world", "the healthy side answers in full"

        # The database: one battle, one turn with the real error, flagged; nothing else.
        assert battle.flag_error and battle.state == "error"
        assert table_counts(storage) == {"battles": 1, "turns": 1, "votes": 0}
        turn = battle.turns[0]
        stored_error = turn.error_a if flaky_side == 0 else turn.error_b
        assert stored_error is not None and fault.stored_error in stored_error
        assert (turn.finish_a, turn.finish_b)[flaky_side] == "error"
        assert (turn.finish_a, turn.finish_b)[1 - flaky_side] == "stop"

        # The vote is stored, and says why it does not count; the battle stays flagged.
        outcome = service.vote(ALICE, battle.id, "model_b")
        assert outcome.vote.excluded_reason == "a model failed to answer"
        assert any("will not count" in n for n in outcome.notices)
        service.set_strength(ALICE, battle.id, "much")
        stored = storage.battles.get(battle.id)
        assert stored.state == "error" and stored.flag_error
        vote = stored.vote_for(1)
        assert vote is not None and vote.excluded_reason == "a model failed to answer" and vote.strength == "much"

        # The next battle is served normally and its vote counts.
        second = list(service.send(ALICE, None, "And three plus three?"))[-1]
        assert (second.error_a, second.error_b) == (None, None) and not second.notices
        assert second.answer_a == second.answer_b == "Hello world"
        assert service.vote(ALICE, second.battle_id, "tie").vote.excluded_reason is None
        assert table_counts(storage) == {"battles": 2, "turns": 2, "votes": 2}
    finally:
        for backend in set(used):
            close = getattr(backend, "close", None)
            if close is not None:
                close()
    record(
        f"backend-{fault.name}-{storage.engine.dialect.name}",
        {
            "fault": fault.name,
            "database": storage.engine.dialect.name,
            "seconds_until_the_turn_ended": round(waited, 2),
            "person_saw_on_failed_side": ANONYMOUS_ERROR,
            "person_saw_notice": notice,
            "stored_error": stored_error,
            "vote_excluded_reason": vote.excluded_reason,
        },
    )


# =====================================================================================================
# Simulated people voting through the running app (tests 2 and 3)
# =====================================================================================================


@dataclass
class Trouble:
    at: float  # monotonic
    step: str
    kind: str  # "notice": a sentence for the person; "crash": a bare or raw error; "connection": no app
    text: str


@dataclass
class Voters:
    """People doing send -> "A is better" -> "much better" -> new round until told to stop."""

    url: str
    users: int = USERS
    stop: threading.Event = field(default_factory=threading.Event)
    acknowledged: dict[str, float] = field(default_factory=dict)  # the turn's message -> when its vote was acked
    strengths: set[str] = field(default_factory=set)
    troubles: list[Trouble] = field(default_factory=list)
    voting: int = 0  # votes in flight
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for user in range(self.users):
            thread = threading.Thread(target=self._run, args=(user,), name=f"voter-{user}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def finish(self, timeout: float = 60, *, app_alive: bool = True) -> None:
        self.stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        # A client whose server was killed may wait on its event stream forever; only a live app must answer.
        assert not app_alive or not any(t.is_alive() for t in self._threads), "a simulated person hung"

    def acked_after(self, moment: float) -> list[float]:
        with self._lock:
            return sorted(t for t in self.acknowledged.values() if t > moment)

    def _trouble(self, step: str, kind: str, text: str) -> None:
        with self._lock:
            self.troubles.append(Trouble(time.monotonic(), step, kind, " ".join(text.split())[:300]))

    def _run(self, user: int) -> None:
        from gradio_client import Client

        client = Client(self.url, verbose=False)
        turn = 0
        try:
            while not self.stop.is_set():
                turn += 1
                message = f"Person {user}, question {turn}: what is {turn} plus {user}?"
                try:
                    self._battle(client, message)
                except Exception as exc:  # what the person would see; the run goes on
                    kind = "connection"
                    if type(exc).__name__ == "AppError":  # the app answered with an error
                        kind = "crash" if CRASH_SIGNS.search(str(exc)) else "notice"
                    self._trouble("request", kind, f"{type(exc).__name__}: {exc}")
                    if kind == "connection":
                        time.sleep(0.2)  # the app is gone: do not spin
                try:
                    client.predict(api_name="/new_round")
                except Exception:  # the next iteration records what went wrong
                    time.sleep(0.2)
        finally:
            client.close()

    @staticmethod
    def _kind(notice: object) -> str:
        text = str(notice or "").strip()
        return "crash" if not text or CRASH_SIGNS.search(text) else "notice"

    def _battle(self, client: Any, message: str) -> bool:
        job = client.submit(message, api_name="/send")
        for _ in job:
            pass
        final = job.outputs()[-1] if job.outputs() else None
        if final is None:
            job.result()  # raises what the person got instead of an answer
            raise AssertionError("no update and no error")
        if not (_answer_text(final[0]) and _answer_text(final[1])):
            self._trouble("send", self._kind(final[2]), str(final[2]))
            return False
        with self._lock:
            self.voting += 1
        try:
            step_one = client.predict(api_name="/vote_a")
        finally:
            with self._lock:
                self.voting -= 1
        if VOTE_ACK not in str(step_one[0]):
            self._trouble("vote", self._kind(step_one[0]), str(step_one[0]))
            return False
        with self._lock:
            self.acknowledged[message] = time.monotonic()
        step_two = client.predict(api_name="/strength_much")
        if STRENGTH_ACK not in str(step_two[0]):
            self._trouble("strength", self._kind(step_two[0]), str(step_two[0]))
            return False
        with self._lock:
            self.strengths.add(message)
        return True


def summarize(troubles: list[Trouble], since: float) -> list[dict[str, Any]]:
    """Distinct errors the people got: how many, and when (seconds after the fault) the first and last came."""
    groups: dict[tuple[str, str, str], list[float]] = {}
    for trouble in troubles:
        # Digits vary (ports, times) within one kind of error: group without them.
        key = (trouble.step, trouble.kind, re.sub(r"\d+", "#", trouble.text[:160]))
        groups.setdefault(key, []).append(trouble.at - since)
    return [
        {"step": step, "kind": kind, "text": text, "count": len(at), "first_s": round(min(at), 2),
         "last_s": round(max(at), 2)}
        for (step, kind, text), at in sorted(groups.items(), key=lambda item: min(item[1]))
    ]  # fmt: skip


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def one_battle_and_vote(url: str, message: str) -> None:
    """A new person's battle and two-step vote, through the app."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    try:
        final = client.predict(message, api_name="/send")
        assert _answer_text(final[0]) and _answer_text(final[1]), final
        assert VOTE_ACK in str(client.predict(api_name="/vote_a")[0])
        assert STRENGTH_ACK in str(client.predict(api_name="/strength_much")[0])
    finally:
        client.close()


@dataclass(frozen=True)
class Integrity:
    votes: int
    acknowledged_missing: list[str]
    strength_missing: list[str]
    votes_without_turn: int
    votes_without_battle: int
    turns_without_battle: int
    voted_without_vote: int
    stored_unacknowledged: int


def check_integrity(storage: Store, voters: Voters) -> Integrity:
    with storage.engine.connect() as conn:
        rows = conn.execute(
            select(Turn.user_message, Vote.strength)
            .join(Vote, (Vote.battle_id == Turn.battle_id) & (Vote.turn == Turn.index))
            .where(Vote.source == "human", Turn.superseded.is_(False))
        ).all()

        def count(query: Any) -> int:
            return int(conn.execute(query).scalar_one())

        stored = {message: strength for message, strength in rows}
        turn_of_vote = exists().where(Turn.battle_id == Vote.battle_id, Turn.index == Vote.turn)
        return Integrity(
            votes=count(select(func.count()).select_from(Vote)),
            acknowledged_missing=sorted(m for m in voters.acknowledged if m not in stored),
            strength_missing=sorted(m for m in voters.strengths if stored.get(m) != "much"),
            votes_without_turn=count(select(func.count()).select_from(Vote).where(~turn_of_vote)),
            votes_without_battle=count(
                select(func.count()).select_from(Vote).where(~exists().where(Battle.id == Vote.battle_id))
            ),
            turns_without_battle=count(
                select(func.count()).select_from(Turn).where(~exists().where(Battle.id == Turn.battle_id))
            ),
            voted_without_vote=count(
                select(func.count())
                .select_from(Battle)
                .where(
                    Battle.state == "voted",
                    ~exists().where(Vote.battle_id == Battle.id, Vote.source == "human"),
                )
            ),
            stored_unacknowledged=len(set(stored) - set(voters.acknowledged)),
        )


def assert_nothing_lost_or_half_written(integrity: Integrity) -> None:
    assert integrity.acknowledged_missing == [], "acknowledged votes are missing from the database"
    assert integrity.strength_missing == [], "acknowledged strengths are missing from the database"
    assert integrity.votes_without_turn == 0
    assert integrity.votes_without_battle == 0
    assert integrity.turns_without_battle == 0
    assert integrity.voted_without_vote == 0


@pytest.fixture
def stub_server() -> Iterator[OpenAIServer]:
    server = OpenAIServer().start()
    try:
        yield server
    finally:
        server.stop()


def app_env(tmp_path: Path, stub: OpenAIServer, **extra: str) -> dict[str, str]:
    return {
        "ARENA_MODELS": str(_stub_models(tmp_path / "stub-models.yaml", stub.base_url)),
        "STUB_API_KEY": "local", "ARENA_PRELOAD_MODELS": "false", "ARENA_GENERATION_CONCURRENCY": "8",
        "ARENA_RETRAIN_CHECK_SECONDS": "3600",  # a retraining run would take the CPU from the people voting
        **extra,
    }  # fmt: skip


def stop_app(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# =====================================================================================================
# 2. PostgreSQL restarts while people vote
# =====================================================================================================


def postgres_version() -> str:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions or shutil.which("pg_ctlcluster") is None:
        pytest.skip("no local PostgreSQL cluster to restart (pg_ctlcluster, /etc/postgresql)")
    return versions[-1]


def pg_ctl(version: str, action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True,
        capture_output=True,
        timeout=120,
    )


def postgres_answers() -> bool:
    done = subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-t", "1"], check=False, timeout=10)
    return done.returncode == 0


@pytest.mark.postgres
@pytest.mark.serial  # every other PostgreSQL test would see the restart: run alone (Makefile)
def test_a_postgres_restart_during_voting_loses_no_vote_and_the_app_recovers_by_itself(
    postgres_schema_url: str, stub_server: OpenAIServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    version = postgres_version()
    env = app_env(tmp_path, stub_server, ARENA_DATABASE_URL=postgres_schema_url)
    process, url = _start_app(tmp_path / "data", env, tmp_path / "app.log")
    voters = Voters(url)
    storage = Store.open(postgres_schema_url)
    try:
        voters.start()
        wait_until(lambda: len(voters.acknowledged) >= 8, 60, "votes before the restart")
        before = len(voters.acknowledged)

        injected = time.monotonic()
        pg_ctl(version, "restart")
        wait_until(postgres_answers, 60, "PostgreSQL to answer again")
        back = time.monotonic()
        wait_until(lambda: len(voters.acked_after(back)) >= 8, 90, "votes after the restart")
        voters.finish()

        assert process.poll() is None, "the app process died"
        assert ready(url), "/readyz is not 200 after the restart"
        integrity = check_integrity(storage, voters)
        one_battle_and_vote(url, "After the restart: what is one plus one?")
        after = storage.votes.count(source="human")
    finally:
        voters.stop.set()
        stop_app(process)
        storage.dispose()
        if not postgres_answers():  # never leave the shared server down for the rest of the suite
            pg_ctl(version, "start")
            wait_until(postgres_answers, 60, "PostgreSQL to start")

    first_after = voters.acked_after(back)[0]
    during = [t for t in voters.troubles if t.at >= injected]
    record(
        "postgres-restart",
        {
            "users": voters.users,
            "injected": f"pg_ctlcluster {version} main restart",
            "seconds_postgres_unavailable": round(back - injected, 2),
            "seconds_from_restart_to_next_acknowledged_vote": round(first_after - injected, 2),
            "acknowledged_before_restart": before,
            "acknowledged": len(voters.acknowledged),
            "stored_votes": integrity.votes,
            "stored_but_not_acknowledged": integrity.stored_unacknowledged,
            "lost": len(integrity.acknowledged_missing),
            "errors_seen": summarize(voters.troubles, injected),
            "errors_during_outage": {kind: sum(t.kind == kind for t in during) for kind in ("notice", "crash")},
        },
    )
    assert_nothing_lost_or_half_written(integrity)
    assert after == integrity.votes + 1, "the vote after the restart is stored"
    assert not [t for t in voters.troubles if t.kind == "connection"], "the app stopped answering"
    crashes = [t for t in voters.troubles if t.kind == "crash"]
    assert not crashes, f"the person got an error, not a sentence: {crashes[:3]}"


# =====================================================================================================
# 3. The app is killed (SIGKILL) in the middle of a vote, then started again on the same data
# =====================================================================================================


def test_an_app_killed_mid_vote_keeps_every_acknowledged_vote_and_serves_after_a_restart(
    stub_server: OpenAIServer, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    database = data / "arena.db"
    env = app_env(tmp_path, stub_server)
    process, url = _start_app(data, env, tmp_path / "app.log")
    voters = Voters(url)
    restarted: subprocess.Popen[bytes] | None = None
    try:
        voters.start()
        wait_until(lambda: len(voters.acknowledged) >= 12, 90, "votes before the kill")
        # Kill while a vote request is on its way: its transaction is either committed or not there at all.
        wait_until(lambda: voters.voting > 0, 30, "a vote in flight")
        in_flight = voters.voting
        killed = time.monotonic()
        process.kill()
        process.wait(timeout=10)
        voters.finish(timeout=10, app_alive=False)

        with sqlite3.connect(database) as conn:
            integrity_check = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            foreign_key_problems = conn.execute("PRAGMA foreign_key_check").fetchall()
        storage = Store.open(f"sqlite:///{database}")
        try:
            integrity = check_integrity(storage, voters)
        finally:
            storage.dispose()

        relaunched = time.monotonic()
        restarted, url = _start_app(data, env, tmp_path / "app-restarted.log")
        serving = time.monotonic()
        one_battle_and_vote(url, "After the kill: what is one plus one?")
        storage = Store.open(f"sqlite:///{database}")
        try:
            after = storage.votes.count(source="human")
        finally:
            storage.dispose()
    finally:
        voters.stop.set()
        if process.poll() is None:
            process.kill()
        if restarted is not None:
            stop_app(restarted)

    record(
        "sigkill-sqlite",
        {
            "users": voters.users,
            "injected": "SIGKILL to the app process while a vote request was in flight",
            "votes_in_flight_at_kill": in_flight,
            "acknowledged": len(voters.acknowledged),
            "stored_votes": integrity.votes,
            "stored_but_not_acknowledged": integrity.stored_unacknowledged,
            "lost": len(integrity.acknowledged_missing),
            "integrity_check": integrity_check,
            "seconds_from_relaunch_to_ready": round(serving - relaunched, 2),
            "errors_seen": summarize(voters.troubles, killed),
        },
    )
    assert integrity_check == ["ok"]
    assert foreign_key_problems == []
    assert_nothing_lost_or_half_written(integrity)
    assert after == integrity.votes + 1, "the vote after the restart is stored"


# =====================================================================================================
# 4. A lost database connection reaches the person as a sentence, never as the driver's text
# =====================================================================================================


def test_a_database_outage_is_a_sentence_for_the_person_not_the_drivers_error(
    storage: Store, openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.registry.sync([remote(name, openai_server.base_url) for name in ("left", "right")])
    service = ArenaService(storage, BackendPool().get, ArenaConfig(max_new_tokens=8), rng=random.Random(0))
    updates = list(service.send(ALICE, None, "Hello?"))
    battle_id = updates[-1].battle_id
    driver_text = 'connection to server at "10.0.0.7", port 5432 failed: the database system is starting up'

    def down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT ...", {}, Exception(driver_text))

    monkeypatch.setattr(storage.battles, "record_vote", down)
    with pytest.raises(DatabaseUnavailable) as refused:
        service.vote(ALICE, battle_id, "model_a")
    assert str(refused.value) == DATABASE_DOWN and "10.0.0.7" not in str(refused.value)

    monkeypatch.setattr(storage.battles, "add_turn", down)  # fails at the end of a streamed turn, while it is consumed
    with pytest.raises(DatabaseUnavailable, match="not answering"):
        list(service.send(ALICE, battle_id, "And now?"))

    monkeypatch.setattr(storage.registry, "models", down)  # fails before anything starts
    with pytest.raises(DatabaseUnavailable):
        service.send(ALICE, None, "A new battle")
