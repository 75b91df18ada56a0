"""Specification of the app's edge against hostile clients, through the real HTTP endpoints of `app.py`.

The app runs as served (its own process, uvicorn with the settings of app.uvicorn_options), with contenders
served by tests/openai_server.py so that no model uses the CPU. Requests are sent the way an attacker sends them:
raw JSON to Gradio's queue (any event, any payload, any header), half-written HTTP requests on raw sockets.
Each test names the attack it stands for; RELIABILITY.md lists them with what held.

Three apps, because the settings under test differ:
- `edge`: behind a trusted proxy (127.0.0.1 is named in ARENA_FORWARDED_ALLOW_IPS), so each test is its own
  client by its X-Forwarded-For; small upload limits; an admin token; a 1 s deadline for request heads.
- `exposed`: the default, no proxy trusted: X-Forwarded-For must change nothing.
- `flooded`: one generation at a time, slow contenders, a queue of 6: the queue's limits.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.bench_load import _start_app, _stub_models
from tests.gradio_http import Joined, app_config, fn_index, join, listen, outputs, raw_join_body
from tests.openai_server import OpenAIServer, Sleep, streamed

ADMIN_TOKEN = "edge-test-admin-token-7f3a"
SECRET = "TOP-SECRET-conversations-of-real-people-91c2"


@dataclass
class RunningApp:
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    cache_dir: Path
    log: Path
    stub: OpenAIServer
    config: dict[str, Any]

    def battles(self) -> int:
        with sqlite3.connect(self.data_dir / "arena.db") as db:
            return int(db.execute("SELECT count(*) FROM battles").fetchone()[0])

    def user_messages(self) -> list[str]:
        with sqlite3.connect(self.data_dir / "arena.db") as db:
            return [row[0] for row in db.execute("SELECT user_message FROM turns ORDER BY created_at")]

    def index(self, **where: str) -> int:
        return fn_index(self.config, **where)


def start(tmp: Path, stub: OpenAIServer, **settings: str) -> RunningApp:
    cache = tmp / "gradio-cache"
    env = {
        "ARENA_MODELS": str(_stub_models(tmp / "stub-models.yaml", stub.base_url)),
        "STUB_API_KEY": "local",
        "ARENA_PRELOAD_MODELS": "false",
        "ARENA_SCHEDULER_ENABLED": "false",
        "GRADIO_TEMP_DIR": str(cache),
        **settings,
    }
    process, url = _start_app(tmp / "data", env, tmp / "app.log")
    return RunningApp(url, process, tmp / "data", cache, tmp / "app.log", stub, app_config(url))


def stop(app: RunningApp) -> None:
    app.process.terminate()
    try:
        app.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        app.process.kill()
    app.stub.stop()


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start(
        tmp_path_factory.mktemp("edge"),
        OpenAIServer().start(),
        ARENA_FORWARDED_ALLOW_IPS="127.0.0.1",
        ARENA_ADMIN_TOKEN=ADMIN_TOKEN,
        ARENA_ADMIN_MAX_FAILURES="3",
        ARENA_UPLOAD_MAX_MB="1",
        ARENA_UPLOAD_MAX_ROWS="50",
        ARENA_HTTP_HEAD_TIMEOUT_SECONDS="1",
    )
    yield app
    stop(app)


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start(
        tmp_path_factory.mktemp("exposed"),
        OpenAIServer().start(),
        ARENA_RATE_LIMIT_MESSAGES_PER_CLIENT="3",
    )
    yield app
    stop(app)


def client_headers(address: str | None = None) -> dict[str, str]:
    """A client of its own behind the trusted proxy (the `edge` app believes 127.0.0.1's X-Forwarded-For)."""
    return {"X-Forwarded-For": address or f"198.51.100.{uuid.uuid4().int % 250 + 1}"}


def notice_text(messages: list[dict[str, Any]]) -> str:
    return " ".join(str(value) for value in outputs(messages) if isinstance(value, str))


def send(app: RunningApp, message: Any, *, headers: dict[str, str], session: str | None = None) -> list[dict[str, Any]]:
    joined = join(app.url, app.index(api_name="send"), [message, None], session=session, headers=headers)
    assert joined.status == 200, joined.body
    return listen(app.url, joined.session, headers=headers)


# =====================================================================================================
# 1. Server files through the judge-audit upload
# =====================================================================================================


def upload(app: RunningApp, name: str, content: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """What a browser does: POST the file to Gradio's upload endpoint, then hand the returned path to the event."""
    response = httpx.post(f"{app.url}/gradio_api/upload", files={"files": (name, content)}, headers=headers)
    assert response.status_code == 200, response.text
    (path,) = response.json()
    return {"path": path, "orig_name": name, "size": len(content), "meta": {"_type": "gradio.FileData"}}


def audit(app: RunningApp, payload: Any, headers: dict[str, str]) -> str:
    index = app.index(elem_id="audit_upload", trigger="upload")
    joined = join(app.url, index, [payload, ""], headers=headers)  # the file, and no LLM judges named
    assert joined.status == 200, joined.body
    return notice_text(listen(app.url, joined.session, headers=headers, timeout=120))


def cached_files(app: RunningApp) -> list[Path]:
    return [p for p in app.cache_dir.rglob("*") if p.is_file()] if app.cache_dir.exists() else []


def test_a_server_path_handed_to_the_upload_event_is_refused_and_never_reaches_the_cache(
    edge: RunningApp, tmp_path: Path
) -> None:
    secret = tmp_path / "people.json"
    secret.write_text(json.dumps([{"model_a": SECRET, "model_b": "b", "winner": "model_a"}]))
    for path in (str(secret), f"{secret.parent}/../{secret.parent.name}/people.json", f"file://{secret}"):
        shown = audit(
            edge, {"path": path, "orig_name": "x.json", "meta": {"_type": "gradio.FileData"}}, client_headers()
        )
        # Refused by Gradio's own check (once the mounted app counts as launched) or by the arena's.
        assert "not uploaded by a user" in shown or "did not arrive through the upload button" in shown
        assert SECRET not in shown and "/gradio-cache" not in shown, "no content, no cache path"
    copies = [p for p in cached_files(edge) if SECRET in p.read_text(errors="replace")]
    assert copies == [], "the secret was copied into Gradio's cache, from where /gradio_api/file= serves it"


def test_a_url_handed_to_the_upload_event_is_not_fetched(edge: RunningApp) -> None:
    requests_before = len(edge.stub.requests)
    url = edge.stub.base_url.replace("/v1", "/secret.json")
    shown = audit(edge, {"path": url, "url": url, "meta": {"_type": "gradio.FileData"}}, client_headers())
    assert shown and "Judge audit" not in shown
    assert len(edge.stub.requests) == requests_before


def test_an_uploaded_file_is_audited_and_then_deleted(edge: RunningApp) -> None:
    rows = [
        {"model_a": "alpha", "model_b": "beta", "winner": winner, "source": source, "battle_id": f"b{i}"}
        for source, winners in (("human", ["model_a", "model_b", "tie"]), ("judge:gpt-4", ["model_a", "tie", "tie"]))
        for i, winner in enumerate(winners * 4)
    ]
    headers = client_headers()
    payload = upload(edge, "votes.jsonl", "\n".join(json.dumps(r) for r in rows).encode(), headers)
    report = audit(edge, payload, headers)
    assert "Judge audit" in report and "Position bias" in report and "judge:gpt-4" in report
    assert not Path(payload["path"]).exists(), "the upload is deleted once its audit ends"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("many.jsonl", "\n".join(json.dumps({"model_a": "a", "model_b": "b", "winner": "tie"}) for _ in range(60)),
         "more than 50 battles"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("half.json", '[{"model_a": "a", ', "malformed JSON"),
        ("bad.csv", "model_a,model_b\n\"a,b\n", "malformed CSV"),
        # a line Arrow's JSON reader would recurse through until the process crashed
        ("deep.jsonl", '{"model_a": "a", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "nested too deeply"),
        ("fake.parquet", "PAR1 but not Parquet", "not a readable Parquet file"),
    ],
)  # fmt: skip
def test_hostile_files_get_a_sentence_naming_the_file_not_the_server_path(
    edge: RunningApp, name: str, content: str, reason: str
) -> None:
    headers = client_headers()
    payload = upload(edge, name, content.encode(), headers)
    shown = audit(edge, payload, headers)
    assert reason in shown and name in shown
    assert str(edge.cache_dir) not in shown and "Traceback" not in shown
    assert not Path(payload["path"]).exists()


def test_uploads_do_not_outlive_the_app_nor_survive_a_crash(tmp_path: Path) -> None:
    # What a killed process left: an upload two hours old (deleted at start-up) and a fresh one (kept: it may be
    # another replica's on the same machine).
    cache = tmp_path / "gradio-cache"
    stale, fresh = cache / "a" / "left.json", cache / "b" / "fresh.json"
    for path in (stale, fresh):
        path.parent.mkdir(parents=True)
        path.write_text("[]")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    app = start(tmp_path, OpenAIServer().start())
    try:
        assert not stale.exists() and fresh.exists()
        uploaded = Path(upload(app, "never-audited.json", b"[]", {})["path"])
        assert uploaded.exists()
    finally:
        stop(app)
    assert not uploaded.exists(), "Gradio deletes what this process created when it stops"


def test_a_file_over_the_size_limit_is_refused_at_the_upload(edge: RunningApp) -> None:
    response = httpx.post(
        f"{edge.url}/gradio_api/upload",
        files={"files": ("big.csv", b"x" * (2 * 1024 * 1024))},
        headers=client_headers(),
    )
    assert response.status_code == 413


# =====================================================================================================
# 2. Text at the edge: invisible messages and lone surrogates over the raw API
# =====================================================================================================


@pytest.mark.parametrize("invisible", ["\u200b\u200c\u200d\ufeff\u2060", "\u200e\u200f\u202a\u202c", " \u200b \n"])
def test_a_message_of_invisible_characters_is_refused_and_nothing_is_stored(edge: RunningApp, invisible: str) -> None:
    before = edge.battles()
    messages = send(edge, invisible, headers=client_headers())
    assert "empty" in notice_text(messages)
    assert edge.battles() == before


def test_a_lone_surrogate_over_the_raw_api_is_replaced_with_a_sentence_and_the_stream_survives(
    edge: RunningApp,
) -> None:
    headers = client_headers()
    session = uuid.uuid4().hex[:11]
    index = edge.index(api_name="send")
    log_before = len(edge.log.read_bytes())
    # json.dumps would refuse to write this; a hostile client writes the escape by hand.
    body = raw_join_body(index, '["\\udc00 hello \\ud800", null]', session)
    joined: Joined = join(edge.url, index, [], session=session, headers=headers, raw_body=body)
    assert joined.status == 200, joined.body
    messages = listen(edge.url, session, headers=headers)
    assert all(m.get("msg") != "unexpected_error" for m in messages)
    completed = messages[-1]
    assert completed.get("msg") == "process_completed" and completed.get("success"), completed
    assert "surrogate" in notice_text(messages)
    assert "\ufffd hello \ufffd" in edge.user_messages()
    assert b"Traceback" not in edge.log.read_bytes()[log_before:]


# =====================================================================================================
# 3. Client identity: only a configured proxy's X-Forwarded-For is believed
# =====================================================================================================


def test_without_a_trusted_proxy_a_spoofed_address_is_ignored_and_the_limit_holds(exposed: RunningApp) -> None:
    health = httpx.get(f"{exposed.url}/healthz", headers={"X-Forwarded-For": "203.0.113.9"}).json()
    assert health["client"] == "127.0.0.1"
    # Three messages a minute per address: new sessions and invented addresses do not make a new client.
    notices = [
        notice_text(
            send(exposed, "Hi", headers={"X-Forwarded-For": f"203.0.113.{i}", "cf-connecting-ip": f"192.0.2.{i}"})
        )
        for i in range(4)
    ]
    assert all("too fast" not in n for n in notices[:3]), notices
    assert "too fast" in notices[3]


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(edge: RunningApp) -> None:
    health = httpx.get(f"{edge.url}/healthz", headers={"X-Forwarded-For": "1.2.3.4, 203.0.113.77"}).json()
    assert health["client"] == "203.0.113.77", "the right-most untrusted hop, not what the client wrote first"


# =====================================================================================================
# 4. Work limits: abandoned requests, slow connections
# =====================================================================================================


def test_a_queued_generation_whose_session_never_listens_is_dropped_before_any_token(edge: RunningApp) -> None:
    before, requests_before = edge.battles(), len(edge.stub.requests)
    joins = [
        join(edge.url, edge.index(api_name="send"), ["Anyone there?", None], headers=client_headers()) for _ in range(3)
    ]
    assert all(j.status == 200 for j in joins)
    time.sleep(4)  # the 2 s grace for a stream to open, and some
    assert edge.battles() == before and len(edge.stub.requests) == requests_before
    # A client that listens is served as usual.
    messages = send(edge, "Anyone there?", headers=client_headers())
    assert messages[-1].get("success") and edge.battles() == before + 1


def test_half_sent_requests_are_closed_after_the_head_deadline_and_the_app_keeps_serving(edge: RunningApp) -> None:
    host, port = edge.url.removeprefix("http://").split(":")
    sockets = []
    for _ in range(50):
        sock = socket.create_connection((host, int(port)), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        sockets.append(sock)
    silent = socket.create_connection((host, int(port)), timeout=5)  # connects and never sends a byte
    started = time.monotonic()
    assert httpx.get(f"{edge.url}/healthz", timeout=5).status_code == 200, "serves while they hang"
    for sock in [*sockets, silent]:
        sock.settimeout(5)
        assert sock.recv(1024) == b"", "closed by the server"
        sock.close()
    assert time.monotonic() - started < 5


def test_a_head_trickled_a_byte_at_a_time_does_not_push_its_deadline_back(edge: RunningApp) -> None:
    host, port = edge.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    started, closed = time.monotonic(), False
    try:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"a" * 100:
            sock.sendall(bytes([byte]))
            time.sleep(0.1)
    except OSError:
        closed = True
    if not closed:
        sock.settimeout(3)
        closed = sock.recv(1024) == b""
    sock.close()
    assert closed and time.monotonic() - started < 4


# =====================================================================================================
# 5. Admin token guessing
# =====================================================================================================


def admin_open(app: RunningApp, token: str, headers: dict[str, str]) -> str:
    joined = join(app.url, app.index(elem_id="admin_open"), [token], headers=headers)
    assert joined.status == 200, joined.body
    return notice_text(listen(app.url, joined.session, headers=headers))


def test_admin_token_guesses_are_limited_per_address_and_no_token_is_logged(edge: RunningApp) -> None:
    guesser = client_headers("192.0.2.66")
    for guess in ("guess-1", "guess-2", "guess-3"):
        assert "Wrong admin token" in admin_open(edge, guess, guesser)
    assert "Too many wrong tokens" in admin_open(edge, ADMIN_TOKEN, guesser), "locked, even with the right token"
    assert "Wrong admin token" not in admin_open(edge, ADMIN_TOKEN, client_headers("192.0.2.67")), "others are not"
    log = edge.log.read_text(errors="replace")
    assert "wrong admin token" in log
    assert all(secret not in log for secret in (ADMIN_TOKEN, "guess-1", "guess-2", "guess-3"))


# =====================================================================================================
# 6. The queue under a flood
# =====================================================================================================


@pytest.fixture(scope="module")
def flooded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    stub = OpenAIServer().start()
    app = start(
        tmp_path_factory.mktemp("flooded"),
        stub,
        ARENA_FORWARDED_ALLOW_IPS="127.0.0.1",
        ARENA_GENERATION_CONCURRENCY="1",
        ARENA_QUEUE_MAX_SIZE="6",
        ARENA_GENERATIONS_PER_CLIENT="2",
    )
    yield app
    stop(app)


def keep_listening(
    app: RunningApp, joined: Joined, headers: dict[str, str], into: list[list[dict[str, Any]]]
) -> threading.Thread:
    thread = threading.Thread(target=lambda: into.append(listen(app.url, joined.session, headers=headers, timeout=120)))
    thread.start()
    return thread


def test_one_client_may_queue_only_its_share_of_answers(flooded: RunningApp) -> None:
    flooded.stub.add(*[[Sleep(1.5), *streamed("slow")] for _ in range(8)])
    me = client_headers("198.51.100.200")
    index = flooded.index(api_name="send")
    listened: list[list[dict[str, Any]]] = []
    threads = []
    for _ in range(2):
        joined = join(flooded.url, index, ["Hi", None], headers=me)
        assert joined.status == 200
        threads.append(keep_listening(flooded, joined, me, listened))
    third = join(flooded.url, index, ["Hi", None], headers=me)
    assert third.status == 422 and "already have 2 answers waiting" in json.dumps(third.body)
    other = join(flooded.url, index, ["Hi", None], headers=client_headers("198.51.100.201"))
    assert other.status == 200, "another client is not affected"
    threads.append(keep_listening(flooded, other, client_headers("198.51.100.201"), listened))
    for thread in threads:
        thread.join(120)
    assert len(listened) == 3 and all(m[-1].get("success") for m in listened)


def test_a_full_queue_tells_newcomers_the_arena_is_busy_and_recovers(flooded: RunningApp) -> None:
    flooded.stub.add(*[[Sleep(1.0), *streamed("slow")] for _ in range(20)])
    index = flooded.index(api_name="send")
    statuses, listened, threads = [], [], []
    for i in range(10):
        headers = client_headers(f"198.51.100.{10 + i}")
        joined = join(flooded.url, index, ["Hi", None], headers=headers)
        statuses.append(joined.status)
        if joined.status == 200:
            threads.append(keep_listening(flooded, joined, headers, listened))
        else:
            assert joined.status == 503 and "Queue is full" in json.dumps(joined.body)
    assert statuses.count(503) >= 3, statuses
    for thread in threads:
        thread.join(180)
    assert all(m[-1].get("success") for m in listened), "everyone admitted was answered"
    later = join(flooded.url, index, ["Hi", None], headers=client_headers("198.51.100.99"))
    assert later.status == 200, "the queue drained and admits again"
    listen(flooded.url, later.session, headers=client_headers("198.51.100.99"))
