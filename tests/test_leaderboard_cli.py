"""Specification of `python -m leaderboard`: battles in, a rating table out, one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from facts.style import style_features
from leaderboard.__main__ import main
from leaderboard.io import write_battles
from store import Store
from tests.arena_rows import voted_battle
from tests.shared_data import require_llmfao

REPO = Path(__file__).resolve().parents[1]
ROW_KEYS = {"model", "rating", "lower", "upper", "rank_ub", "votes"}


def battles() -> pd.DataFrame:
    """Three models, strong > middle > weak, human and judge votes, two categories, style features filled."""
    rows = []
    plan = [("strong", "middle", 8, 2), ("middle", "weak", 7, 3), ("strong", "weak", 9, 1)]
    for model_a, model_b, wins_a, wins_b in plan:
        for number in range(wins_a + wins_b):
            winner = "model_a" if number < wins_a else "model_b"
            for source in ("human", "judge:gpt-4"):
                rows.append(
                    {
                        "model_a": model_a,
                        "model_b": model_b,
                        "winner": winner if source == "human" else "tie",
                        "source": source,
                        "judge": "voter" if source == "human" else "gpt-4",
                        "category": "coding" if number < 4 else "creative_writing",
                        "tstamp": float(len(rows)),
                        **style_features("x " * (10 + number)).columns("a"),
                        **style_features("# h\n- y " * (1 + number % 3)).columns("b"),
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture
def battles_file(tmp_path: Path) -> Path:
    path = tmp_path / "battles.jsonl"
    write_battles(battles(), path)
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_prints_the_table_and_writes_json_rows(
    battles_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "table.json"
    code, out, _ = run(["--battles", str(battles_file), "--out", str(out_file)], capsys)

    assert code == 0
    rows = json.loads(out_file.read_text())
    assert isinstance(rows, list) and all(set(row) >= ROW_KEYS for row in rows)
    assert [row["model"] for row in rows] == ["strong", "middle", "weak"]
    assert [row["votes"] for row in rows] == [20, 20, 20]  # human votes only, by default
    assert rows[0]["lower"] < rows[0]["rating"] < rows[0]["upper"]
    lines = out.splitlines()
    assert lines[1].split()[:2] == ["1", "strong"] and "30 counted votes, source human" in out


def test_writes_csv(battles_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "table.csv"
    assert run(["--battles", str(battles_file), "--out", str(out_file), "--ci", "none"], capsys)[0] == 0
    table = pd.read_csv(out_file)
    assert set(table.columns) >= ROW_KEYS and table["model"].tolist() == ["strong", "middle", "weak"]
    assert table["lower"].isna().all()  # ci none: no interval


def test_sources_stay_apart_unless_all_is_asked(
    battles_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    judge, pooled = tmp_path / "judge.json", tmp_path / "all.json"
    assert run(["--battles", str(battles_file), "--source", "judge:gpt-4", "--out", str(judge)], capsys)[0] == 0
    assert run(["--battles", str(battles_file), "--source", "all", "--out", str(pooled)], capsys)[0] == 0
    judge_rows = json.loads(judge.read_text())
    assert {row["votes"] for row in judge_rows} == {20}
    assert max(r["rating"] for r in judge_rows) - min(r["rating"] for r in judge_rows) < 1  # the judge only tied
    assert {row["votes"] for row in json.loads(pooled.read_text())} == {40}


def test_category_by_id_or_display_name(battles_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    by_id, by_name = tmp_path / "id.json", tmp_path / "name.json"
    assert run(["--battles", str(battles_file), "--category", "coding", "--out", str(by_id)], capsys)[0] == 0
    assert (
        run(["--battles", str(battles_file), "--category", "Creative writing", "--out", str(by_name)], capsys)[0] == 0
    )
    # Each vote counts for both of its models: 4 and 6 votes per pair of models, 3 pairs.
    assert sum(row["votes"] for row in json.loads(by_id.read_text())) == 2 * 12
    assert sum(row["votes"] for row in json.loads(by_name.read_text())) == 2 * 18


def test_the_anchor_pins_a_model(battles_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "table.json"
    assert run(["--battles", str(battles_file), "--anchor", "middle=1200", "--out", str(out_file)], capsys)[0] == 0
    ratings = {row["model"]: row["rating"] for row in json.loads(out_file.read_text())}
    assert ratings["middle"] == pytest.approx(1200.0)


def test_style_control_and_validation_are_reported(battles_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--battles", str(battles_file), "--style-control", "--validate"], capsys)
    assert code == 0
    assert "style: len" in out
    assert "coin flip" in out and "bradley-terry" in out


def test_anomalous_voters_are_excluded_and_reported_unless_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "c0ffee" * 10
    path = tmp_path / "battles.jsonl"
    honest = [{"model_a": "strong", "model_b": "weak", "winner": "model_a", "judge": f"v{i % 20}"} for i in range(400)]
    write_battles(
        pd.DataFrame(honest + [{"model_a": "weak", "model_b": "strong", "winner": "model_a", "judge": secret}] * 30),
        path,
    )
    code, out, _ = run(["--battles", str(path), "--ci", "none"], capsys)
    assert code == 0 and "400 counted votes" in out
    assert "anomalous voters: 1 of 21 voters" in out and "30 of 430 human votes are excluded" in out
    assert secret not in out and f"{secret[:8]}…" in out
    code, out, _ = run(["--battles", str(path), "--ci", "none", "--keep-anomalous"], capsys)
    assert code == 0 and "430 counted votes" in out and "still count" in out
    code, out, _ = run(["--battles", str(path), "--ci", "none", "--anomaly-min-votes", "31"], capsys)
    assert code == 0 and "430 counted votes" in out and "No anomalous voters" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source", "judge:claude"], "no votes from source 'judge:claude'.*sources here: human, judge:gpt-4"),
        (["--category", "math"], "unknown category 'math'; categories in these battles: coding, creative_writing"),
        (["--category", "poetry"], "unknown category 'poetry'"),
        (["--anchor", "gpt-9=1200"], "unknown anchor model 'gpt-9'.*middle, strong, weak"),
    ],
)
def test_unknown_names_are_one_line_errors(
    battles_file: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(["--battles", str(battles_file), *argv], capsys)
    assert code == 1
    assert re.search(message, one_line_error(err)), err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--battles", "a.json", "--db", "sqlite:///x.db"],
        ["--battles", "a.json", "--ci", "jackknife"],
        ["--battles", "a.json", "--anchor", "gpt-4"],
        ["--battles", "a.json", "--anchor", "gpt-4=high"],
        ["--battles", "a.json", "--rounds", "0"],
        ["--battles", "a.json", "--min-votes", "-1"],
        ["--battles", "a.json", "--out", "table.txt"],
        ["--battles", "a.json", "--anomaly-alpha", "1.5"],
        ["--battles", "a.json", "--anomaly-min-votes", "0"],
    ],
)
def test_bad_arguments_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_unreadable_files_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["--battles", str(tmp_path / "missing.json")], capsys)
    assert code == 1 and "missing.json: no such file" in one_line_error(err)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"model_a": "x", "model_b": "y", "winner": "tie"}\nnot json\n')
    code, _, err = run(["--battles", str(broken)], capsys)
    assert code == 1 and "line 2 is not valid JSON" in one_line_error(err)


def test_style_control_without_style_features_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plain.csv"
    write_battles(battles().drop(columns=["len_a", "len_b"]), path)
    code, _, err = run(["--battles", str(path), "--style-control"], capsys)
    assert code == 1
    one_line_error(err)


def test_no_counted_votes_is_an_empty_table_not_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "excluded.json"
    write_battles(battles().assign(excluded_reason="identity leak"), path)
    code, out, _ = run(["--battles", str(path)], capsys)
    assert code == 0 and "No counted votes" in out


def test_reads_the_arena_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    storage = Store.open(url)
    try:
        for number in range(6):
            voted_battle(storage, "model_a" if number < 4 else "model_b", voter_id=f"v{number}")
    finally:
        storage.dispose()
    out_file = tmp_path / "table.json"

    code, out, _ = run(["--db", url, "--category", "creative_writing", "--out", str(out_file)], capsys)

    assert code == 0, out
    assert [row["model"] for row in json.loads(out_file.read_text())] == ["alpha", "beta"]


def test_a_missing_database_file_is_an_error_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nowhere" / "arena.db"
    code, _, err = run(["--db", f"sqlite:///{path}"], capsys)
    assert code == 2 and "no database file" in one_line_error(err)
    assert not path.parent.exists()
    code, _, err = run(["--db", "mysql://localhost/arena"], capsys)
    assert code == 2 and "unsupported database URL" in one_line_error(err)


def test_the_llmfao_import_and_the_leaderboard_as_commands(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    imported, table = tmp_path / "llmfao.jsonl", tmp_path / "table.json"
    steps = [
        [sys.executable, "-m", "leaderboard.llmfao", str(require_llmfao()), "--out", str(imported)],
        [
            sys.executable,
            "-m",
            "leaderboard",
            "--battles",
            str(imported),
            "--source",
            "judge:gpt-4",
            "--out",
            str(table),
        ],
    ]
    for step in steps:
        done = subprocess.run(step, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr

    rows = json.loads(table.read_text())
    assert len(rows) == 59  # every LLMFAO model
    assert sum(row["votes"] for row in rows) == 2 * 2139  # each GPT-4 verdict counts for both its models
    assert "2139 counted votes, source judge:gpt-4" in done.stdout
