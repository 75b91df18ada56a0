"""Specification of how every command line meets a database it cannot use: one `error: ...` line and exit code 2,
never a traceback; a read-only command given a SQLite file that does not exist creates nothing. Every command
spells the option `--db`."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/test"  # nothing listens on port 1: refused at once


def run(main: Callable[..., int], argv: Sequence[str], *, echo: bool = False) -> tuple[int, str]:
    """Exit code and everything the command printed (stdout, stderr, or its echo)."""
    printed: list[str] = []
    stream = io.StringIO()
    with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
        code = main(list(argv), echo=printed.append) if echo else main(list(argv))
    return code, stream.getvalue() + "\n".join(printed)


def leaderboard(db: str) -> tuple[int, str]:
    from leaderboard.__main__ import main

    return run(main, ["--db", db])


def export(db: str, out: Path) -> tuple[int, str]:
    from store.export import main

    return run(main, ["--db", db, "--out", str(out)], echo=True)


def judge_audit(db: str) -> tuple[int, str]:
    from arena.judge import main

    return run(main, ["audit", "--db", db, "--rounds", "5"])


def backfill(db: str) -> tuple[int, str]:
    from store.backfill import main

    return run(main, ["--db", db])


def evals_list(db: str) -> tuple[int, str]:
    from evals.__main__ import main

    return run(main, ["list", "--db", db])


def evals_run(db: str) -> tuple[int, str]:
    from evals.__main__ import main

    return run(main, ["over-refusal", "smollm2-135m-greedy", "--limit", "1", "--db", db])


READ_ONLY = {"leaderboard": leaderboard, "judge audit": judge_audit, "backfill": backfill, "evals list": evals_list}


@pytest.mark.parametrize("name", list(READ_ONLY))
def test_a_read_only_command_on_a_missing_sqlite_file_says_so_and_creates_nothing(name: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "arena.db"
    code, printed = READ_ONLY[name](f"sqlite:///{missing}")
    assert code == 2 and "error:" in printed and "no database file" in printed, printed
    assert "Traceback" not in printed
    assert not missing.parent.exists()


def test_the_export_on_a_missing_sqlite_file_says_so_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "arena.db"
    code, printed = export(f"sqlite:///{missing}", tmp_path / "out")
    assert code == 2 and "no database file" in printed and not missing.parent.exists()


@pytest.mark.parametrize("name", [*READ_ONLY, "export", "reward", "rlhf", "evals run"])
def test_an_unreachable_postgresql_is_one_error_line_and_exit_code_2(name: str, tmp_path: Path) -> None:
    if name == "export":
        code, printed = export(UNREACHABLE, tmp_path / "out")
    elif name == "evals run":
        code, printed = evals_run(UNREACHABLE)
    elif name in ("reward", "rlhf"):
        module = __import__(f"training.{name}", fromlist=["main"])
        argv = ["--from-votes", "--recipe", "cpu-smoke", "--out", str(tmp_path / "run"), "--db", UNREACHABLE]
        code, printed = run(module.main, argv, echo=True)
    else:
        code, printed = READ_ONLY[name](UNREACHABLE)
    assert code == 2, printed
    assert "error:" in printed and "does not answer" in printed and "Traceback" not in printed, printed


def test_the_old_spelling_of_the_database_option_still_works_for_training(tmp_path: Path) -> None:
    from training.reward import main

    argv = ["--from-votes", "--recipe", "cpu-smoke", "--out", str(tmp_path / "run"), "--database-url", UNREACHABLE]
    code, printed = run(main, argv, echo=True)
    assert code == 2 and "does not answer" in printed
