"""Specification of leaderboard.io: battles files in JSON, JSONL, CSV and Parquet, and Chatbot Arena's clean-battle
files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from facts.schema import COLUMNS, normalize_battles
from leaderboard.io import BattlesFileError, read_battles, write_battles

FORMATS = ("json", "jsonl", "csv", "parquet")


def battles() -> pd.DataFrame:
    """Every schema column, with the values that break naive writers and readers."""
    return normalize_battles(
        pd.DataFrame(
            {
                "model_a": ["alpha", "NA", "gamma, the third"],
                "model_b": ["None", "alpha", "beta"],
                "winner": ["model_a", "tie", "tie (bothbad)"],
                "judge": ["007", "", "gpt-4"],
                "source": ["human", "human", "judge:gpt-4"],
                "turn": [1, 2, 1],
                "anony": [True, False, True],
                "tstamp": [1_700_000_000.25, 1_700_000_001.5, 0.0],
                "excluded_reason": [None, "battle was not anonymous", None],
                "category": ["coding", None, "math"],
                "battle_id": ["0017", "b-2", None],
                "prompt": ['Say "hi",\nthen stop.', None, "Grüße 世界"],
                "answer_a": ["# hi\n- a", "\n", "x, y"],
                "answer_b": ["**hi**", "ok", None],
                "len_a": [3, 1, 4],
                "len_b": [5, 1, 2],
                "header_a": [1, 0, 0],
                "header_b": [0, 0, 0],
                "list_a": [1, 0, 0],
                "list_b": [0, 0, 0],
                "bold_a": [0, 0, 0],
                "bold_b": [1, 0, 0],
            }
        )
    )


@pytest.mark.parametrize("extension", FORMATS)
def test_a_written_file_reads_back_unchanged(tmp_path: Path, extension: str) -> None:
    path = tmp_path / f"battles.{extension}"
    original = battles()
    write_battles(original, path)
    pd.testing.assert_frame_equal(plain(read_battles(path)), plain(original))


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Labels read as categories compared by their values."""
    return frame.assign(
        **{c: frame[c].astype("str") for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)}
    )


def test_csv_cannot_tell_an_empty_text_from_a_missing_one(tmp_path: Path) -> None:
    frame = pd.DataFrame({"model_a": ["x"], "model_b": ["y"], "winner": ["tie"], "answer_a": [""]})
    write_battles(frame, tmp_path / "b.csv")
    write_battles(frame, tmp_path / "b.json")
    assert pd.isna(read_battles(tmp_path / "b.csv").at[0, "answer_a"])
    assert read_battles(tmp_path / "b.json").at[0, "answer_a"] == ""


@pytest.mark.parametrize("extension", FORMATS)
def test_missing_optional_columns_get_their_defaults(tmp_path: Path, extension: str) -> None:
    path = tmp_path / f"minimal.{extension}"
    write_battles(pd.DataFrame({"model_a": ["x"], "model_b": ["y"], "winner": ["model_b"]}), path)
    row = read_battles(path).iloc[0]
    assert list(read_battles(path).columns) == list(COLUMNS)
    assert (row["source"], row["judge"], row["turn"], bool(row["anony"])) == ("human", "", 1, True)
    assert pd.isna(row["excluded_reason"]) and pd.isna(row["len_a"])


def test_json_is_a_list_of_objects_and_jsonl_one_object_a_line(tmp_path: Path) -> None:
    write_battles(battles(), tmp_path / "b.json")
    write_battles(battles(), tmp_path / "b.jsonl")
    listed = json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))
    lines = (tmp_path / "b.jsonl").read_text(encoding="utf-8").splitlines()
    assert [row["model_a"] for row in listed] == ["alpha", "NA", "gamma, the third"]
    assert [json.loads(line) for line in lines] == listed
    assert listed[0]["excluded_reason"] is None and listed[0]["anony"] is True


@pytest.mark.parametrize("extension", ["json", "jsonl", "parquet"])
def test_chatbot_arena_clean_battles_load_with_their_metadata(tmp_path: Path, extension: str) -> None:
    arena_row = {
        "model_a": "gpt-4-0613",
        "model_b": "claude-2.1",
        "winner": "tie (bothbad)",
        "judge": "arena_user_973",
        "turn": 2,
        "anony": True,
        "language": "English",
        "tstamp": 1709251200.5,
        "conv_metadata": {
            "sum_user_tokens": 40,
            "sum_assistant_a_tokens": 312,
            "sum_assistant_b_tokens": 95,
            "header_count_a": {"h1": 1, "h2": 2, "h3": 0, "h4": 0, "h5": 0, "h6": 0},
            "list_count_a": {"ordered": 3, "unordered": 4},
            "bold_count_a": {"**": 5, "__": 1},
            "header_count_b": {"h1": 0, "h2": 0, "h3": 0, "h4": 0, "h5": 0, "h6": 0},
            "list_count_b": {"ordered": 0, "unordered": 0},
            "bold_count_b": {"**": 0, "__": 0},
        },
        "is_code": False,
        "dedup_tag": {"high_freq": False, "sampled": True},
        "category_tag": {"criteria_v0.1": {"specificity": True}},
        "question_id": "a1b2c3d4e5f6",
    }
    rows = [arena_row, {**arena_row, "conv_metadata": None, "winner": "model_a"}]
    path = tmp_path / f"clean_battle_20240301_public.{extension}"
    if extension == "json":
        path.write_text(json.dumps(rows))
    elif extension == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:  # Parquet keeps the nested metadata as a struct column
        pd.DataFrame(rows).to_parquet(path)

    frame = read_battles(path)

    first = frame.iloc[0]
    assert (first["model_a"], first["winner"], first["judge"], first["turn"]) == (
        "gpt-4-0613",
        "tie (bothbad)",
        "arena_user_973",
        2,
    )
    assert first["battle_id"] == "a1b2c3d4e5f6"
    assert first[["len_a", "len_b", "header_a", "list_a", "bold_a", "bold_b"]].tolist() == [312, 95, 3, 7, 6, 0]
    assert first["language"] == "English" and dict(first["dedup_tag"]) == {"high_freq": False, "sampled": True}
    assert frame.iloc[1][["len_a", "header_b"]].isna().all()  # no metadata: unknown, not zero


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BattlesFileError, match=r"nowhere\.jsonl: no such file"):
        read_battles(tmp_path / "nowhere.jsonl")


def test_an_unknown_extension_lists_the_formats(tmp_path: Path) -> None:
    (tmp_path / "battles.xlsx").write_text("")
    with pytest.raises(BattlesFileError, match=r"unknown battles format '\.xlsx'.*\.jsonl"):
        read_battles(tmp_path / "battles.xlsx")
    with pytest.raises(BattlesFileError, match="unknown battles format"):
        write_battles(battles(), tmp_path / "battles.txt")


def test_malformed_json_names_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('[\n{"model_a": "x", "model_b": "y", "winner": "tie"},\n{"model_a": "x",, }\n]')
    with pytest.raises(BattlesFileError, match=r"b\.json: malformed JSON at line 3, column 17"):
        read_battles(path)


def test_json_lines_in_a_json_file_get_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(
        '{"model_a": "x", "model_b": "y", "winner": "tie"}\n{"model_a": "x", "model_b": "y", "winner": "tie"}\n'
    )
    with pytest.raises(BattlesFileError, match=r"line 2.*name the file \.jsonl"):
        read_battles(path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [('{"battles": []}', "expected a JSON list of battle objects, found a dict"), ("[1]", "item 0 .* not an object")],
)
def test_json_must_be_a_list_of_objects(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(BattlesFileError, match=problem):
        read_battles(path)


def test_malformed_jsonl_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    good = '{"model_a": "x", "model_b": "y", "winner": "tie"}'
    path.write_text(f"{good}\n\n{good}\n{{oops\n")
    with pytest.raises(BattlesFileError, match=r"b\.jsonl: line 4 is not valid JSON"):
        read_battles(path)
    path.write_text(f"{good}\n[1, 2]\n")
    with pytest.raises(BattlesFileError, match="line 2 is a list, not an object"):
        read_battles(path)


def test_blank_lines_in_jsonl_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text('\n{"model_a": "x", "model_b": "y", "winner": "tie"}\n\n')
    assert len(read_battles(path)) == 1


@pytest.mark.parametrize("extension", FORMATS)
def test_missing_required_columns_are_named_with_the_file(tmp_path: Path, extension: str) -> None:
    path = tmp_path / f"b.{extension}"
    write_battles(pd.DataFrame({"model_a": ["x"], "loser": ["y"]}), path)
    with pytest.raises(BattlesFileError, match=rf"b\.{extension}: .*lacks the column\(s\) model_b, winner"):
        read_battles(path)


def test_an_unknown_winner_names_its_row(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    rows = [{"model_a": "x", "model_b": "y", "winner": w} for w in ("tie", "left")]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(BattlesFileError, match="row 1 has an unknown winner 'left'"):
        read_battles(path)


def test_a_style_column_that_is_not_numeric_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("model_a,model_b,winner,len_a\nx,y,tie,long\n")
    with pytest.raises(BattlesFileError, match="style column len_a"):
        read_battles(path)


def test_an_empty_list_is_an_empty_table(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text("[]")
    frame = read_battles(path)
    assert frame.empty and list(frame.columns) == list(COLUMNS)


def test_an_empty_csv_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("")
    with pytest.raises(BattlesFileError, match="empty file"):
        read_battles(path)


def test_writing_creates_missing_folders(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "b.jsonl"
    write_battles(battles(), path)
    assert len(read_battles(path)) == 3


def test_a_column_whose_type_changes_half_way_is_read_as_the_schema_says(tmp_path: Path) -> None:
    """Arrow's reader infers a column's type from the first rows and refuses a change; the file still reads."""
    rows = [{"model_a": "x", "model_b": "y", "winner": "tie", "judge": 7}] * 3 + [
        {"model_a": "x", "model_b": "y", "winner": "tie", "judge": "voter-8", "turn": None}
    ]
    (tmp_path / "mixed.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "mixed.csv").write_text("model_a,model_b,winner,turn\nx,y,tie,1\nx,y,tie,two\n")
    assert read_battles(tmp_path / "mixed.jsonl")["judge"].tolist() == ["7", "7", "7", "voter-8"]
    with pytest.raises(BattlesFileError, match=r"mixed\.csv: the turn column"):
        read_battles(tmp_path / "mixed.csv")  # a turn that is not a number is an error, not a crash


@pytest.mark.parametrize("extension", ["json", "jsonl"])
def test_deep_nesting_is_refused_quickly_by_every_reader(tmp_path: Path, extension: str) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    row = '{"model_a": "x", "model_b": "y", "winner": "tie", "extra": ' + nested + "}"
    path = tmp_path / f"deep.{extension}"
    path.write_text(f"[{row}]" if extension == "json" else row + "\n")
    with pytest.raises(BattlesFileError, match="nested too deeply"):
        read_battles(path)


def test_a_file_that_is_not_parquet_is_named(tmp_path: Path) -> None:
    (tmp_path / "fake.parquet").write_text("model_a,model_b,winner\n")
    with pytest.raises(BattlesFileError, match=r"fake\.parquet: not a readable Parquet file"):
        read_battles(tmp_path / "fake.parquet")


def test_a_parquet_file_is_held_to_the_limits_before_it_is_unpacked(tmp_path: Path) -> None:
    from leaderboard.io import ReadLimits

    rows = 50_000
    frame = pd.DataFrame({"model_a": ["x"] * rows, "model_b": ["y"] * rows, "winner": ["tie"] * rows,
                          "prompt": ["a" * 400] * rows})  # fmt: skip
    frame.to_parquet(tmp_path / "b.parquet")
    assert len(read_battles(tmp_path / "b.parquet", limits=ReadLimits())) == rows
    with pytest.raises(BattlesFileError, match="more than 1,000 battles"):
        read_battles(tmp_path / "b.parquet", limits=ReadLimits(max_rows=1_000))
    with pytest.raises(BattlesFileError, match="unpacks to"):
        read_battles(tmp_path / "b.parquet", limits=ReadLimits(max_bytes=100_000, max_unpacked_ratio=20))


def test_text_that_looks_like_a_date_stays_the_text_it_was(tmp_path: Path) -> None:
    rows = [{"model_a": "x", "model_b": "y", "winner": "tie", "battle_id": "2024-01-01", "judge": "2024-02-03"}]
    (tmp_path / "dates.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows * 3))
    frame = read_battles(tmp_path / "dates.jsonl")
    assert (str(frame.at[0, "battle_id"]), str(frame.at[0, "judge"])) == ("2024-01-01", "2024-02-03")


def _conversation_row(first_user: str = "Hi", answer_a: object = "A", answer_b: object = "B", **extra: object) -> dict:
    return {
        "model_a": "x",
        "model_b": "y",
        "winner": "model_a",
        "conversation_a": [{"role": "user", "content": first_user}, {"role": "assistant", "content": answer_a}],
        "conversation_b": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": answer_b}],
        **extra,
    }


def test_clean_battle_conversations_become_the_prompt_and_both_answers(tmp_path: Path) -> None:
    path = tmp_path / "battles.jsonl"
    rows = [_conversation_row(), _conversation_row(first_user="Hello?"), _conversation_row(answer_b=5)]
    rows.append(
        _conversation_row()
        | {"conversation_a": [{"role": "human", "content": "Hi"}, {"role": "assistant", "content": "A"}]}
    )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    frame = read_battles(path)
    assert (frame.loc[0, "prompt"], frame.loc[0, "answer_a"], frame.loc[0, "answer_b"]) == ("Hi", "A", "B")
    assert list(frame.loc[0, "messages_a"]) == [{"role": "user", "content": "Hi"}]
    # Two sides that do not answer the same first message, a non-text answer, an unknown role: no texts for that
    # row only (the readers that need words count it as missing text); one odd row spoils no other.
    for row in (1, 2, 3):
        assert pd.isna(frame.loc[row, "answer_a"]) and pd.isna(frame.loc[row, "answer_b"]), row
