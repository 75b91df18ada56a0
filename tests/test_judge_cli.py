"""Specification of `python -m arena.judge audit`."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.judge import main
from facts.vocabulary import BOTH_COMPLIED, HARMLESSNESS
from store import Store
from tests.arena_rows import voted_battle
from tests.shared_data import require_llmfao


def test_the_audit_of_the_llmfao_judges_against_the_crowd(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "audit.md"
    assert main(["audit", "--llmfao", str(require_llmfao()), "--rounds", "50", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.strip() == capsys.readouterr().out.strip()
    for heading in ("Position bias", "Length bias", "Unique-token preference", "Agreement with people"):
        assert heading in text
    assert "| judge:gpt-4 | 1,831 |" in text and "| judge:gpt-3.5 | 1,831 |" in text


def test_the_audit_of_the_arena_reads_its_counted_votes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    store = Store.open(url)
    battles = [voted_battle(store, winner, prompt=f"Question {i}?") for i, winner in enumerate(["model_a"] * 4)]
    for battle_id, verdict in zip(battles, ["model_a", "model_a", "model_b", "model_a"], strict=True):
        store.battles.record_vote(battle_id=battle_id, turn=1, winner=verdict, voter_id="j", source="judge:j")
    store.battles.flag(battles[3], error=True)  # its votes leave every reader, the audit included
    store.dispose()

    assert main(["audit", "--db", url, "--rounds", "20"]) == 0
    report = capsys.readouterr().out
    assert "| judge:j | 3 |" in report, "three counted verdicts; the flagged battle's is out"
    assert "no judge verdicts" not in report and "no human votes" not in report


def test_the_red_team_judge_is_audited_on_harmlessness_votes_apart_from_the_helpfulness_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    store = Store.open(url)
    red = [
        voted_battle(store, winner, prompt=f"Harm {i}?", criterion=HARMLESSNESS)
        for i, winner in enumerate(["model_a", "model_b", BOTH_COMPLIED, "model_a"])
    ]
    for battle_id, verdict in zip(red, ["model_a", "model_b", BOTH_COMPLIED, "model_b"], strict=True):
        store.battles.record_vote(battle_id=battle_id, turn=1, winner=verdict, voter_id="j", source="judge:j")
    voted_battle(store, prompt="A poem?")  # a person's helpfulness vote: no judge verdict on it
    store.dispose()

    assert main(["audit", "--db", url, "--rounds", "20", "--criterion", "harmlessness", "--format", "json"]) == 0
    harmless = capsys.readouterr().out
    assert '"judge:j"' in harmless and "no judge verdicts" not in harmless
    assert main(["audit", "--db", url, "--rounds", "20"]) == 0
    assert "no judge verdicts: nothing to audit" in capsys.readouterr().out, "helpfulness: the judge never voted"


def test_an_arena_without_judge_votes_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'arena.db'}"
    store = Store.open(url)
    voted_battle(store)
    store.dispose()
    assert main(["audit", "--db", url, "--rounds", "20"]) == 0
    assert "no judge verdicts: nothing to audit" in capsys.readouterr().out


def test_an_unreadable_battles_file_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--battles", str(tmp_path / "missing.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "missing.jsonl" in err and "Traceback" not in err
