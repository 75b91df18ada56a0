"""Specification of the leaderboard page's data: the snapshot payload, its storage, and when it is recomputed."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest

from leaderboard.llmfao import load_llmfao
from leaderboard.page import build_page_payload, view_key
from leaderboard.service import SnapshotService
from store import Store, VoteWatermark
from store.snapshots import JUDGE_AUDIT, KEEP_SNAPSHOTS, LEADERBOARD
from tests.arena_rows import voted_battle
from tests.shared_data import require_llmfao
from ui import leaderboard as leaderboard_ui
from ui.display import display_html
from ui.leaderboard import EMPTY, render


@pytest.fixture(scope="module")
def llmfao_payload() -> dict:
    battles = load_llmfao(require_llmfao())
    return build_page_payload(battles, {"GPT 4": "OpenAI's GPT-4"}, len(battles))


def test_the_payload_offers_every_source_category_and_style_view_and_is_json(llmfao_payload: dict) -> None:
    assert llmfao_payload["sources"][0] == "human"
    assert set(llmfao_payload["sources"]) == {"human", "judge:gpt-4", "judge:gpt-3.5"}
    # 8931 human votes, 1190 of them from the 4 crowd workers flagged as anomalous
    assert llmfao_payload["counted"] == {"human": 8931 - 1190, "judge:gpt-4": 2139, "judge:gpt-3.5": 2139}
    categories = [key for key, _ in llmfao_payload["categories"]]
    assert categories[0] == "all" and "creative_writing" in categories
    for source in llmfao_payload["sources"]:
        plain = llmfao_payload["views"][view_key(source, None, False)]
        styled = llmfao_payload["views"][view_key(source, None, True)]
        assert len(plain["rows"]) == 59 and len(styled["rows"]) == 59
        assert set(styled["style_coefficients"]) >= {"len"}
        assert [r["rank_ub"] for r in styled["rows"]] == sorted(r["rank_ub"] for r in styled["rows"])
    json.dumps(llmfao_payload)  # stored as JSON in SQL


def test_anomalous_voters_are_excluded_and_reported_without_their_full_ids(llmfao_payload: dict) -> None:
    anomalies = llmfao_payload["anomalies"]
    assert anomalies["excluded"] is True and anomalies["human_votes"] == 8931
    assert (anomalies["voters_flagged"], anomalies["votes_flagged"]) == (4, 1190)
    assert all(v["voter"].endswith("…") and len(v["voter"]) <= 9 for v in anomalies["voters"])
    assert "4 of 91 voters" in anomalies["text"] and "excluded from the ratings" in anomalies["text"]
    human = llmfao_payload["views"][view_key("human", None, False)]
    assert sum(r["votes"] for r in human["rows"]) == 2 * (8931 - 1190)


def test_anomalous_voters_can_be_kept() -> None:
    battles = pd.DataFrame(
        [{"model_a": "strong", "model_b": "weak", "winner": "model_a", "judge": f"v{i % 20}"} for i in range(400)]
        + [{"model_a": "strong", "model_b": "weak", "winner": "model_b", "judge": "contrarian"}] * 30
    )
    excluded = build_page_payload(battles, {}, len(battles))
    kept = build_page_payload(battles, {}, len(battles), keep_anomalous=True)
    assert excluded["anomalies"]["voters_flagged"] == kept["anomalies"]["voters_flagged"] == 1
    assert (excluded["counted"]["human"], kept["counted"]["human"]) == (400, 430)
    assert "still count" in kept["anomalies"]["text"]


def test_the_matrices_follow_the_table_order(llmfao_payload: dict) -> None:
    matrices = llmfao_payload["matrices"]["human"]
    rows = llmfao_payload["views"][view_key("human", None, False)]["rows"]
    assert matrices["models"] == [r["model"] for r in rows]
    n = len(matrices["models"])
    assert len(matrices["win_fraction"]) == n and all(len(r) == n for r in matrices["battle_count"])
    assert matrices["battle_count"][0][0] == 0 and matrices["win_fraction"][0][0] is None


def test_the_validation_says_whether_the_leaderboard_beats_a_coin(llmfao_payload: dict) -> None:
    validation = llmfao_payload["validation"]["human"]
    assert validation["better_than_coin"] is True
    assert "coin flip" in validation["text"] and "bradley-terry" in validation["text"]


def test_the_page_renders_a_view_with_table_figures_and_csv(llmfao_payload: dict) -> None:
    header, table, forest, win, count, validation, download = render(llmfao_payload, "judge:gpt-4", "all", False)
    assert "votes recorded" in header and "judge:gpt-4" in header and "coin" in validation
    assert list(table.columns)[:5] == ["Rank (UB)", "Model", "Rating", "95% CI", "Votes"]
    assert table.iloc[0]["Rank (UB)"] == 1
    assert "OpenAI's GPT-4" in set(table["Description"])
    assert forest is not None and win is not None and count is not None
    csv = pd.read_csv(download["value"])
    assert len(csv) == len(table) and list(csv["model"]) == list(table["Model"])
    assert csv["rating"].dtype.kind == "f" and (csv["lower"] <= csv["rating"]).all()


def test_the_csv_is_written_once_per_table_and_cells_a_spreadsheet_would_run_are_escaped(
    llmfao_payload: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leaderboard_ui, "DOWNLOADS", tmp_path)
    payload = copy.deepcopy(llmfao_payload)
    rows = payload["views"][view_key("judge:gpt-4", "all", False)]["rows"]
    hostile = {'=HYPERLINK("http://x")': "+cmd", "@SUM(A1)": "-2+3", "\tplain": "-1"}
    for row, name in zip(rows, hostile, strict=False):
        row["model"] = name
    payload["descriptions"] = {name: description for name, description in hostile.items()}
    paths = {render(payload, "judge:gpt-4", "all", False)[-1]["value"] for _ in range(5)}
    assert len(paths) == 1 and len(list(tmp_path.iterdir())) == 1, "five page reads, one file"
    csv = pd.read_csv(paths.pop(), keep_default_na=False)
    for name, description in hostile.items():
        (row,) = csv[csv["model"] == f"'{name}"].to_dict("records")
        assert row["description"] == f"'{description}"
    assert (csv["rating"] > 0).all(), "numbers stay numbers"


def test_an_empty_arena_gets_a_friendly_page_not_a_crash() -> None:
    payload = build_page_payload(pd.DataFrame(columns=["model_a", "model_b", "winner"]), {}, 0)
    assert payload["sources"] == ["human"] and payload["views"] == {}
    assert "No ratings for this choice." in render(payload, "human", "all", False)[0]
    assert render(None, "human", "all", False)[0] == display_html(EMPTY)


def _vote(storage: Store, winner: str = "model_a") -> None:
    voted_battle(storage, winner, prompt="Write a poem about rain.", answer_a="Rain **falls**.", answer_b="Drip.")


def test_snapshots_are_stored_read_back_and_pruned_per_kind(storage: Store) -> None:
    snapshots = storage.snapshots
    assert snapshots.latest() is None and storage.votes.watermark() == VoteWatermark(0, 0)
    for i in range(KEEP_SNAPSHOTS + 3):
        snapshots.save({"i": i}, VoteWatermark(i, i), 0.1)
    snapshots.save({"audit": True}, VoteWatermark(9, 9), 0.1, kind=JUDGE_AUDIT)
    latest = snapshots.latest()
    assert (
        latest is not None and latest.payload == {"i": KEEP_SNAPSHOTS + 2} and latest.votes_total == KEEP_SNAPSHOTS + 2
    )
    assert snapshots.latest(JUDGE_AUDIT).payload == {"audit": True}  # type: ignore[union-attr]
    with storage.engine.connect() as conn:
        from sqlalchemy import func, select

        from store.tables import LeaderboardSnapshot

        assert conn.execute(select(func.count()).select_from(LeaderboardSnapshot)).scalar_one() == KEEP_SNAPSHOTS + 1


def test_the_snapshot_is_recomputed_on_refresh_when_enough_new_votes_arrived_and_never_on_a_read(
    storage: Store,
) -> None:
    builds: list[int] = []

    def build(mark: VoteWatermark) -> dict:
        builds.append(mark.votes_total)
        return build_page_payload(storage.votes.read(), {}, mark.votes_total)

    service = SnapshotService(LEADERBOARD, storage.snapshots, storage.votes.watermark, build, min_new_votes=2)
    assert service.read() is None, "nothing stored yet, and a read computes nothing"
    assert service.refresh().votes_total == 0  # type: ignore[union-attr]
    _vote(storage)
    for _ in range(5):
        assert service.read()["votes_total"] == 0, "a page read never recomputes"  # type: ignore[index]
    assert service.refresh().votes_total == 1, "the first votes count at once"  # type: ignore[union-attr]
    _vote(storage, "model_b")
    assert service.refresh().votes_total == 1, "one new vote is below the threshold of 2"  # type: ignore[union-attr]
    _vote(storage, "tie")
    service.refresh()
    payload = service.read()
    assert payload is not None and payload["votes_total"] == 3 and builds == [0, 1, 3]
    rows = payload["views"][view_key("human", None, False)]["rows"]
    assert {r["model"] for r in rows} == {"alpha", "beta"}
    assert service.refresh(force=True).votes_total == 3 and builds[-1] == 3  # type: ignore[union-attr]


def test_a_battle_flagged_after_the_snapshot_makes_it_stale_without_a_new_vote(storage: Store) -> None:
    service = SnapshotService(
        LEADERBOARD,
        storage.snapshots,
        storage.votes.watermark,
        lambda mark: build_page_payload(storage.votes.read(), {}, mark.votes_total),
        min_new_votes=100,
    )
    battle_id = voted_battle(storage, "model_a")
    first = service.refresh()
    assert first is not None and service.refresh() is not None and service.refresh().id == first.id  # type: ignore[union-attr]
    storage.battles.flag(battle_id, error=True)
    second = service.refresh()
    assert second is not None and second.id != first.id
    assert second.payload["counted"] == {}, "the flagged vote left the ratings at the next refresh"


def test_a_refresh_that_fails_keeps_the_previous_snapshot(storage: Store) -> None:
    calls: list[int] = []

    def build(mark: VoteWatermark) -> dict:
        calls.append(mark.votes_total)
        if len(calls) > 1:
            raise RuntimeError("the fit diverged")
        return {"votes_total": mark.votes_total}

    service = SnapshotService(LEADERBOARD, storage.snapshots, storage.votes.watermark, build)
    service.refresh()
    _vote(storage)
    service.refresh_in_background()
    service.wait(30)
    assert calls == [0, 1] and service.read() == {"votes_total": 0}
