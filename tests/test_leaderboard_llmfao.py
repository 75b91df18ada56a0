"""Specification of leaderboard.llmfao: the LLMFAO votes (CC BY 4.0, Dmitry Ustalov; llmonitor.com) as battles."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import astuple
from pathlib import Path

import pandas as pd
import pytest

from facts.categories import classify_prompt
from facts.style import style_features
from leaderboard.io import read_battles
from leaderboard.llmfao import LLMFAOError, load_llmfao, main
from tests.shared_data import LLMFAO

LLMFAO_PRESENT = (LLMFAO / "crowd-comparisons.csv").exists()
pytestmark = pytest.mark.skipif(not LLMFAO_PRESENT, reason=f"LLMFAO DATA NOT FOUND at {LLMFAO}")
FILES = {
    "human": "crowd-comparisons.csv",
    "judge:gpt-4": "gpt4-crowd-comparisons.csv",
    "judge:gpt-3.5": "gpt3-crowd-comparisons.csv",
}


@pytest.fixture(scope="module")
def battles() -> pd.DataFrame:
    return load_llmfao(LLMFAO)


def csv_rows(name: str, folder: Path = LLMFAO) -> list[dict[str, str]]:
    with (folder / name).open(newline="", encoding="utf-8") as source:
        return list(csv.DictReader(source))


def jsonl(name: str, folder: Path = LLMFAO) -> list[dict[str, object]]:
    with (folder / name).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def test_every_vote_of_every_source_is_a_row(battles: pd.DataFrame) -> None:
    assert battles["source"].value_counts().to_dict() == {"human": 8931, "judge:gpt-4": 2139, "judge:gpt-3.5": 2139}
    assert battles["judge"][battles["source"] == "human"].nunique() == 124
    assert set(battles["judge"][battles["source"] != "human"]) == {"gpt-4", "gpt-3.5"}


def test_every_pair_is_judged_by_all_three_sources(battles: pd.DataFrame) -> None:
    pair_ids = {str(pair["id"]) for pair in jsonl("pairs-crowd.jsonl")}
    assert len(pair_ids) == 2139
    for source in FILES:
        assert set(battles.loc[battles["source"] == source, "battle_id"]) == pair_ids, source
    # One verdict per pair from each judge.
    judged = battles[battles["source"] != "human"]
    assert not judged.duplicated(["source", "battle_id"]).any()


@pytest.mark.parametrize("source", FILES)
def test_sides_winners_and_voters_follow_the_csv_row_by_row(battles: pd.DataFrame, source: str) -> None:
    rows = csv_rows(FILES[source])
    mine = battles[battles["source"] == source]
    winners = {"left": "model_a", "right": "model_b", "tie": "tie"}
    assert mine["model_a"].tolist() == [r["left"] for r in rows]
    assert mine["model_b"].tolist() == [r["right"] for r in rows]
    assert mine["winner"].tolist() == [winners[r["winner"]] for r in rows]
    assert mine["battle_id"].tolist() == [r["id"] for r in rows]
    assert mine["tstamp"].tolist() == [float(n) for n in range(len(rows))]
    if source == "human":
        assert mine["judge"].tolist() == [r["worker"] for r in rows]


def test_each_answer_belongs_to_the_model_on_its_side(battles: pd.DataFrame) -> None:
    names = {model["id"]: model["name"] for model in jsonl("models.jsonl")}
    answers = {}
    for pair in jsonl("pairs-crowd.jsonl"):
        answers[(str(pair["id"]), names[pair["model_x"]])] = pair["result_x"]
        answers[(str(pair["id"]), names[pair["model_y"]])] = pair["result_y"]
    for row in battles.itertuples():
        assert row.answer_a == answers[(row.battle_id, row.model_a)]
        assert row.answer_b == answers[(row.battle_id, row.model_b)]


def test_style_prompt_and_category_come_from_the_texts(battles: pd.DataFrame) -> None:
    sample = battles.sample(300, random_state=0)
    for row in sample.itertuples():
        assert (row.len_a, row.header_a, row.list_a, row.bold_a) == astuple(style_features(row.answer_a))
        assert (row.len_b, row.header_b, row.list_b, row.bold_b) == astuple(style_features(row.answer_b))
        assert row.category == classify_prompt(row.prompt)
    prompt_types = {str(p["id"]): p["type"] for p in jsonl("pairs-crowd.jsonl")}
    assert (battles["prompt_type"] == battles["battle_id"].map(prompt_types)).all()
    assert battles["anony"].all() and (battles["turn"] == 1).all() and battles["excluded_reason"].isna().all()


def test_sources_can_be_chosen(battles: pd.DataFrame) -> None:
    judges = load_llmfao(LLMFAO, sources=("judge:gpt-4",))
    assert len(judges) == 2139 and set(judges["source"]) == {"judge:gpt-4"}
    with pytest.raises(LLMFAOError, match=r"unknown LLMFAO source.*'judge:claude'"):
        load_llmfao(LLMFAO, sources=("judge:claude",))


def copy_of_llmfao(tmp_path: Path) -> Path:
    folder = tmp_path / "llmfao"
    folder.mkdir()
    for name in ("models.jsonl", "pairs-crowd.jsonl", *FILES.values()):
        shutil.copy(LLMFAO / name, folder / name)
    return folder


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_answers_follow_the_names_when_the_right_model_is_pairs_model_x(tmp_path: Path) -> None:
    folder = copy_of_llmfao(tmp_path)
    rows = csv_rows("gpt4-crowd-comparisons.csv")[:3]
    shown_swapped = {**rows[0], "left": rows[0]["right"], "right": rows[0]["left"]}
    write_csv(folder / "gpt4-crowd-comparisons.csv", [shown_swapped, *rows[1:]])
    pair = next(p for p in jsonl("pairs-crowd.jsonl") if str(p["id"]) == rows[0]["id"])

    first = load_llmfao(folder, sources=("judge:gpt-4",)).iloc[0]

    assert (first["model_a"], first["model_b"]) == (rows[0]["right"], rows[0]["left"])
    assert (first["answer_a"], first["answer_b"]) == (pair["result_y"], pair["result_x"])


def test_a_row_whose_models_are_not_the_pairs_is_an_error(tmp_path: Path) -> None:
    folder = copy_of_llmfao(tmp_path)
    rows = csv_rows("gpt3-crowd-comparisons.csv")[:2]
    write_csv(folder / "gpt3-crowd-comparisons.csv", [rows[0], {**rows[1], "left": "Somebody Else"}])
    with pytest.raises(LLMFAOError, match=r"gpt3-crowd-comparisons\.csv: row 3: left/right 'Somebody Else'"):
        load_llmfao(folder, sources=("judge:gpt-3.5",))


def test_an_unknown_verdict_is_an_error(tmp_path: Path) -> None:
    folder = copy_of_llmfao(tmp_path)
    rows = csv_rows("gpt3-crowd-comparisons.csv")[:1]
    write_csv(folder / "gpt3-crowd-comparisons.csv", [{**rows[0], "winner": "both"}])
    with pytest.raises(LLMFAOError, match="row 2: unknown winner 'both'"):
        load_llmfao(folder, sources=("judge:gpt-3.5",))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    folder = copy_of_llmfao(tmp_path)
    (folder / "pairs-crowd.jsonl").unlink()
    with pytest.raises(LLMFAOError, match=r"pairs-crowd\.jsonl: no such file"):
        load_llmfao(folder)
    with pytest.raises(LLMFAOError, match="not a folder"):
        load_llmfao(tmp_path / "absent")


def test_the_command_writes_a_battles_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "llmfao.jsonl"
    assert main([str(LLMFAO), "--out", str(out), "--source", "judge:gpt-4", "--source", "judge:gpt-3.5"]) == 0
    assert "wrote 4278 battles (judge:gpt-4 2139, judge:gpt-3.5 2139)" in capsys.readouterr().out
    expected = load_llmfao(LLMFAO, sources=("judge:gpt-4", "judge:gpt-3.5"))
    written = read_battles(out)
    assert list(written.columns) == list(expected.columns)
    assert values(written) == values(expected)


def values(frame: pd.DataFrame) -> list[list[object]]:
    """The cells, missing ones as None: the file keeps values, not pandas' choice of dtype for a null column."""
    plain = frame.astype(object)
    return plain.where(plain.notna(), None).to_numpy().tolist()


def test_the_command_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(LLMFAO), "--out", str(tmp_path / "out.xlsx")])
    assert exit_info.value.code == 2 and "--out must end in one of" in capsys.readouterr().err
    assert main([str(tmp_path), "--out", str(tmp_path / "out.json")]) == 1
    assert "models.jsonl: no such file" in capsys.readouterr().err
