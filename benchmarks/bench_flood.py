"""Measurement: the generation queue under a flood of requests, against the real app (`app.py`, uvicorn).

Contenders answer in one second (a scripted OpenAI-protocol server on 127.0.0.1, tests/openai_server.py), four
answers are written at once (ARENA_GENERATION_CONCURRENCY=4), and the app believes 127.0.0.1's X-Forwarded-For
so that one machine can play many addresses. The queue settings are the defaults (64 waiting requests, 4 per
address). Three floods of 200 raw `/gradio_api/queue/join` requests, each from 200 new sessions:
- one address, nobody listening (a script that fires requests and leaves);
- 200 addresses, nobody listening (the same from a botnet);
- 200 addresses that all listen (a real crowd).
After each, a person from a new address sends a message and waits for the answer. Reported: how the joins
were answered (200 queued, 422 over the per-address share, 503 busy), how many answers the contenders were
asked for, and how long the newcomer waited. The table goes into RELIABILITY.md.

    python -m benchmarks.bench_flood
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

from benchmarks.bench_load import _start_app, _stub_models
from benchmarks.report import write_section

SECTION = "## 6. The queue under a flood"
REPO = Path(__file__).resolve().parent.parent
FLOOD = 200


def _join(url: str, index: int, address: str) -> tuple[int, str]:
    session = uuid.uuid4().hex[:11]
    body = {"data": ["What is two plus two?", None], "fn_index": index, "session_hash": session}
    response = httpx.post(f"{url}/gradio_api/queue/join", json=body, headers={"X-Forwarded-For": address}, timeout=60)
    return response.status_code, session


def _listen(url: str, session: str, address: str, timeout: float = 600) -> bool:
    with httpx.stream(
        "GET",
        f"{url}/gradio_api/queue/data",
        params={"session_hash": session},
        headers={"X-Forwarded-For": address},
        timeout=timeout,
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return bool(message.get("success"))
    return False


def _newcomer(url: str, index: int) -> float:
    """Seconds until a person's answer is complete, trying again every second while the arena is busy (503)."""
    address = f"192.0.2.{uuid.uuid4().int % 250 + 1}"
    started = time.perf_counter()
    while True:
        status, session = _join(url, index, address)
        if status != 503 or time.perf_counter() - started > 300:
            break
        time.sleep(1.0)
    if status != 200 or not _listen(url, session, address):
        return float("nan")
    return time.perf_counter() - started


def flood(url: str, index: int, stub: object, *, addresses: int, listen: bool) -> dict[str, object]:
    requests_before = len(stub.requests)  # type: ignore[attr-defined]
    statuses: Counter[int] = Counter()
    listeners: list[threading.Thread] = []
    answered: list[bool] = []
    lock = threading.Lock()

    def one(number: int) -> None:
        address = f"198.51.{number % addresses // 250}.{number % addresses % 250 + 1}"
        status, session = _join(url, index, address)
        with lock:
            statuses[status] += 1
        if status == 200 and listen:
            ok = _listen(url, session, address)
            with lock:
                answered.append(ok)

    started = time.perf_counter()
    for number in range(FLOOD):
        thread = threading.Thread(target=one, args=(number,))
        thread.start()
        listeners.append(thread)
    for thread in listeners:
        thread.join(900)
    asked = len(stub.requests) - requests_before  # type: ignore[attr-defined]
    wait = _newcomer(url, index)
    return {
        "statuses": statuses,
        "asked": asked,
        "answered": sum(answered),
        "flood_seconds": time.perf_counter() - started,
        "newcomer_seconds": wait,
    }


def main(argv: list[str] | None = None) -> int:
    from tests.openai_server import OpenAIServer, Sleep, streamed

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    stub = OpenAIServer().start()
    stub.add(*[[Sleep(1.0), *streamed("Four.")] for _ in range(4 * FLOOD)])
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        env = {
            "ARENA_MODELS": str(_stub_models(tmp / "stub-models.yaml", stub.base_url)),
            "STUB_API_KEY": "local",
            "ARENA_PRELOAD_MODELS": "false",
            "ARENA_SCHEDULER_ENABLED": "false",
            "ARENA_FORWARDED_ALLOW_IPS": "127.0.0.1",
            "ARENA_GENERATION_CONCURRENCY": "4",
            # The defaults under test (bench_load turns them off for its single-address crowd).
            "ARENA_GENERATIONS_PER_CLIENT": "4",
            "ARENA_QUEUE_MAX_SIZE": "64",
        }
        process, url = _start_app(tmp / "data", env, tmp / "app.log")
        try:
            config = httpx.get(f"{url}/config").json()
            index = next(int(d["id"]) for d in config["dependencies"] if d.get("api_name") == "send")
            alone = _newcomer(url, index)
            rows = [
                ("one address, nobody listens", flood(url, index, stub, addresses=1, listen=False)),
                ("200 addresses, nobody listens", flood(url, index, stub, addresses=FLOOD, listen=False)),
                ("200 addresses, all listen", flood(url, index, stub, addresses=FLOOD, listen=True)),
            ]
        finally:
            process.terminate()
            process.wait(60)
            stub.stop()
    lines = [
        SECTION,
        "",
        "Command: `python -m benchmarks.bench_flood`. The app as served, defaults for the queue (64 waiting, 4 per",
        "address), 4 answers written at once, contenders that take 1 s per answer. Each flood: 200 joins from 200 new",
        "sessions at once. Then a newcomer from another address sends a message (again each second while told the",
        "arena is busy) and waits for the whole answer",
        f"(alone, before any flood: {alone:.1f} s).",
        "",
        "| flood | queued (200) | over the address's share (422) | busy (503) | answers asked of the contenders (2 per "
        "battle) | battles answered | newcomer's wait, s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, result in rows:
        statuses: Counter[int] = result["statuses"]  # type: ignore[assignment]
        lines.append(
            f"| {label} | {statuses[200]} | {statuses[422]} | {statuses[503]} | {result['asked']} "
            f"| {result['answered']} | {result['newcomer_seconds']:.1f} |"
        )
    lines += [
        "",
        "Requests whose session never opens its event stream are dropped when they reach a worker, without a token",
        "generated; the queue drains at once and a newcomer waits about as long as alone. A real crowd beyond the",
        "queue's size is told the arena is busy (503) rather than waiting in an unbounded line. Before these limits",
        "the same 200 requests were all queued and all generated although nobody listened, and a 201st waited about",
        "an hour.",
    ]
    section = "\n".join(lines) + "\n"
    print(section)
    if not args.no_write:
        write_section(REPO / "RELIABILITY.md", SECTION, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
