"""One measured child process: wall seconds, CPU seconds (its threads and the workers it reaped) and peak RSS."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Measured:
    wall: float
    cpu: float
    rss_mb: float
    stdout: str


def run_measured(argv: list[str], *, env: dict[str, str] | None = None, repo: Path = REPO) -> Measured:
    """Run `argv` (a list after the interpreter: ["-m", "module", ...]) from the repository root (`repo`: another
    checkout, such as a baseline's worktree); raise with the tail of its stderr if it fails."""
    environment = {**os.environ, "PYTHONPATH": str(repo), **(env or {})}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, *argv], cwd=repo, env=environment, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # the child's usage, its reaped children included
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({process.returncode}):\n{err.read()[-3000:]}")
        return Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read())


def load_average() -> float:
    return os.getloadavg()[0]
