"""Benchmark: simulated people running battles and votes against the real app, over its HTTP API.

    python -m benchmarks.bench_load                          # stub backend, then the embedded model
    python -m benchmarks.bench_load --users 16 --seconds 45 --skip-embedded --no-write

Each simulated user is a gradio_client session doing what a person does in the Arena tab: send a message
(streamed), vote "A is better", answer "much better", start a new round; again until time is up. The app runs
as its own process (`app.py`, uvicorn, SQLite in WAL mode, scheduler on), exactly as served.
- Stub backend: four anonymous contenders on a real OpenAI-protocol HTTP server on 127.0.0.1 that answers at
  once (tests/openai_server.py), so the figures are the arena's own cost: Gradio, the service, the database.
- Embedded model: the shipped SmolLM2 contenders, answers capped at 32 new tokens.
Baseline, same run: one user alone. Reported: sustained votes/s, p50/p99 latency of the first streamed token
and of a vote (the "A is better" click, which writes the vote), errors, and the database's vote count against
the acknowledged votes (any difference is a lost vote and fails the run).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.report import write_section

SECTION = "## Load (issue 7)"
REPO = Path(__file__).resolve().parent.parent


@dataclass
class UserStats:
    first_token: list[float] = field(default_factory=list)
    vote: list[float] = field(default_factory=list)
    acknowledged: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Result:
    backend: str
    users: int
    seconds: float
    votes_per_s: float
    first_token_p50: float
    first_token_p99: float
    vote_p50: float
    vote_p99: float
    acknowledged: int
    stored: int
    errors: int


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stub_models(path: Path, base_url: str) -> Path:
    entries = "".join(
        f"""  - name: stub-{i}
    backend: openai
    options: {{base_url: "{base_url}", model: stub-{i}, api_key_env: STUB_API_KEY, max_concurrent: 64}}
    generation: {{max_new_tokens: 16, temperature: 0.0}}
"""
        for i in range(4)
    )
    path.write_text("models:\n" + entries)
    return path


def _start_app(data_dir: Path, env_extra: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "ARENA_DATA_DIR": str(data_dir), "ARENA_PORT": str(port), "ARENA_RATE_LIMIT_MESSAGES": "0",
        "ARENA_RATE_LIMIT_VOTES": "0", "ARENA_JUDGE_MODEL": "", "ARENA_GENERATION_CONCURRENCY": "32",
        # Every simulated person comes from 127.0.0.1: per-address limits would measure the limits, not the app.
        "ARENA_RATE_LIMIT_MESSAGES_PER_CLIENT": "0", "ARENA_RATE_LIMIT_VOTES_PER_CLIENT": "0",
        "ARENA_GENERATIONS_PER_CLIENT": "0",
        "ARENA_LOG_FORMAT": "text", **env_extra,
    }  # fmt: skip
    process = subprocess.Popen(  # the app in its own process, as served
        [sys.executable, "app.py"], cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"the app did not become ready; see {log}")


def _answer_text(chat: object) -> str:
    if not isinstance(chat, list) or not chat or not isinstance(chat[-1], dict):
        return ""
    if chat[-1].get("role") != "assistant":
        return ""
    content = chat[-1].get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


def _user(url: str, deadline: list[float], stats: UserStats, start: threading.Barrier) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    start.wait()
    turn = 0
    while time.monotonic() < deadline[0]:
        turn += 1
        try:
            began = time.perf_counter()
            job = client.submit(f"Question {turn}: what is {turn} plus {turn}?", api_name="/send")
            first = None
            for update in job:
                if first is None and (_answer_text(update[0]) or _answer_text(update[1])):
                    first = time.perf_counter() - began
            final = job.outputs()[-1] if job.outputs() else None
            if first is None or final is None or not (_answer_text(final[0]) and _answer_text(final[1])):
                stats.errors.append(f"turn {turn}: no answer")
                client.predict(api_name="/new_round")
                continue
            stats.first_token.append(first)
            began = time.perf_counter()
            step_one = client.predict(api_name="/vote_a")
            stats.vote.append(time.perf_counter() - began)
            if "How much better" not in str(step_one[0]):
                stats.errors.append(f"turn {turn}: vote refused: {str(step_one[0])[:120]}")
            else:
                stats.acknowledged += 1  # the vote row is written by this call
            client.predict(api_name="/strength_much")
            client.predict(api_name="/new_round")
        except Exception as exc:  # a failed request is a data point, not the end of the run
            stats.errors.append(f"turn {turn}: {type(exc).__name__}: {exc}"[:200])
    client.close()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_load(url: str, db_url: str, users: int, seconds: float, backend: str) -> Result:
    from store import Store

    storage = Store.open(db_url)
    before = storage.votes.count(source="human")
    stats = [UserStats() for _ in range(users)]
    barrier = threading.Barrier(users + 1)
    deadline_holder: list[float] = []

    def user(i: int) -> None:
        _user(url, deadline_holder, stats[i], barrier)

    # Clients connect first (not timed); the clock starts when all are ready.
    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    deadline_holder.append(started + seconds)  # set before the barrier opens: every user reads it after
    barrier.wait()
    for thread in threads:
        thread.join(timeout=seconds + 300)
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    stored = storage.votes.count(source="human") - before
    storage.dispose()
    first = [x for s in stats for x in s.first_token]
    votes = [x for s in stats for x in s.vote]
    acknowledged = sum(s.acknowledged for s in stats)
    errors = [e for s in stats for e in s.errors]
    for error in errors[:5]:
        print(f"  {backend} x{users}: {error}", file=sys.stderr)
    return Result(
        backend=backend, users=users, seconds=elapsed, votes_per_s=acknowledged / elapsed,
        first_token_p50=_percentile(first, 0.5), first_token_p99=_percentile(first, 0.99),
        vote_p50=_percentile(votes, 0.5), vote_p99=_percentile(votes, 0.99),
        acknowledged=acknowledged, stored=stored, errors=len(errors),
    )  # fmt: skip


def measure(
    users: int, seconds: float, embedded_users: int, embedded_seconds: float, skip_embedded: bool
) -> list[Result]:
    sys.path.insert(0, str(REPO))
    from tests.openai_server import OpenAIServer

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        root = Path(tmp)
        stub = OpenAIServer().start()
        try:
            models = _stub_models(root / "stub-models.yaml", stub.base_url)
            data = root / "stub"
            process, url = _start_app(
                data, {"ARENA_MODELS": str(models), "STUB_API_KEY": "local", "ARENA_PRELOAD_MODELS": "false"},
                root / "stub-app.log",
            )  # fmt: skip
            try:
                db = f"sqlite:///{data / 'arena.db'}"
                results.append(run_load(url, db, 1, seconds, "stub"))
                results.append(run_load(url, db, users, seconds, "stub"))
            finally:
                process.terminate()
                process.wait(timeout=60)
        finally:
            stub.stop()
        if not skip_embedded:
            data = root / "embedded"
            process, url = _start_app(data, {"ARENA_MAX_NEW_TOKENS": "32"}, root / "embedded-app.log")
            try:
                db = f"sqlite:///{data / 'arena.db'}"
                results.append(run_load(url, db, 1, embedded_seconds, "embedded"))
                results.append(run_load(url, db, embedded_users, embedded_seconds, "embedded"))
            finally:
                process.terminate()
                process.wait(timeout=60)
    return results


def render(results: list[Result]) -> str:
    lines = [
        SECTION,
        "",
        "Command: `python -m benchmarks.bench_load`. " + " ".join(__doc__.split("\n\n")[2].split()),
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on 2 CPU cores; the load generator (gradio_client sessions) runs on "
        "the same 2 cores as the app, so these are floors.",
        "",
        "| Backend | Users | Seconds | Votes/s | vs 1 user | First token p50 / p99 (s) | Vote p50 / p99 (s) "
        "| Acknowledged | In the database | Lost | Errors |",
        "|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|",
    ]
    for result in results:
        baseline = next(r for r in results if r.backend == result.backend and r.users == 1)
        ratio = result.votes_per_s / baseline.votes_per_s if baseline.votes_per_s else float("nan")
        lines.append(
            f"| {result.backend} | {result.users} | {result.seconds:.0f} | {result.votes_per_s:.2f} | {ratio:.2f}x "
            f"| {result.first_token_p50:.3f} / {result.first_token_p99:.3f} | {result.vote_p50:.3f} / "
            f"{result.vote_p99:.3f} | {result.acknowledged} | {result.stored} | "
            f"{result.acknowledged - result.stored} | {result.errors} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=45)
    parser.add_argument("--embedded-users", type=int, default=4)
    parser.add_argument("--embedded-seconds", type=float, default=60)
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = measure(args.users, args.seconds, args.embedded_users, args.embedded_seconds, args.skip_embedded)
    text = render(results)
    print(text)
    if not args.no_write:
        write_section(REPO / "BENCHMARKS.md", SECTION, text)
    lost = sum(r.acknowledged - r.stored for r in results)
    if lost:
        print(f"LOST VOTES: {lost}", file=sys.stderr)
    return 1 if lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
