"""The judge audit through the real app (Gradio server in-process, SQLite; no model is loaded, none is needed):
the tab's /judge_audit endpoint and the /judge-audit page show the stored audit with its figures and never
recompute it, a snapshot stored before the figures existed shows its markdown alone, and an uploaded file is
audited with the LLM judges its form names."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client

from app import ArenaApp
from settings import Settings
from store.snapshots import JUDGE_AUDIT
from tests.arena_rows import voted_battle
from tests.gradio_http import app_config, fn_index, join, listen, outputs
from tests.served_app import free_port, served
from ui.arena import AUDIT_PLOTS

PLOTS = len(AUDIT_PLOTS)


@dataclass(frozen=True)
class AuditApp:
    url: str  # without the trailing slash
    arena: ArenaApp
    config: dict[str, Any]


@pytest.fixture(scope="module")
def audit_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditApp]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("audit-app"), preload_models=False, judge_model="", port=free_port()
    )
    with served(settings) as app:
        arena, url = app.arena, app.url.rstrip("/")
        arena.judge_audit.wait(60)  # the refresh started with the app (no votes yet)
        winners = ("model_a", "model_b", "tie")
        for n in range(18):
            battle = voted_battle(
                arena.store, winners[n % 3], answer_a="Short.", answer_b="A much longer answer than the other one."
            )
            arena.store.battles.record_vote(
                battle_id=battle, turn=1, winner="model_b" if n % 4 else "model_a", voter_id="j", source="judge:e2e"
            )
        arena.judge_audit.refresh(force=True)  # what the scheduler's judge-audit job does
        yield AuditApp(url, arena, app_config(url))


def figure(plot: Any) -> dict[str, Any]:
    """A gr.Plot output as the browser gets it: plotly's JSON."""
    assert isinstance(plot, dict) and plot["type"] == "plotly", plot
    return json.loads(plot["plot"])


def traces(plot: Any) -> dict[str, dict[str, Any]]:
    return {trace["name"]: trace for trace in figure(plot)["data"]}


def run(app: AuditApp, index: int, data: list[Any]) -> list[Any]:
    joined = join(app.url, index, data)
    assert joined.status == 200, joined.body
    return outputs(listen(app.url, joined.session, timeout=120))


def page_events(app: AuditApp) -> list[dict[str, Any]]:
    ids = set(app.config["page"]["judge-audit"]["dependencies"])
    return [d for d in app.config["dependencies"] if d["id"] in ids]


def test_the_tab_endpoint_shows_the_stored_audit_with_its_figures(audit_app: AuditApp) -> None:
    stored = audit_app.arena.judge_audit.read()
    assert stored is not None and {"markdown", "report", "votes_total"} <= set(stored)
    report, *plots = Client(audit_app.url, verbose=False).predict(api_name="/judge_audit")
    assert "judge:e2e" in report and "Computed over 36 votes" in report
    assert len(plots) == PLOTS
    position = traces(plots[0])
    (judge,) = stored["report"]["judges"]
    assert position["judges"]["x"] == pytest.approx([judge["position"]["first_wins"]["value"]])
    assert position["people (baseline)"]["x"] == pytest.approx(
        [stored["report"]["human"]["position"]["first_wins"]["value"]]
    )
    assert set(traces(plots[1])) == {"judge:e2e", "people"}, "the length figure: the judge and people"
    assert traces(plots[2]) and traces(plots[3]), "agreement by category and by entropy group"
    assert figure(plots[4])["layout"]["annotations"][0]["text"].startswith("No data"), "no self-trained model here"


def test_the_judge_audit_page_reads_the_same_snapshot_and_never_recomputes(audit_app: AuditApp) -> None:
    response = httpx.get(f"{audit_app.url}/judge-audit", timeout=30)
    assert response.status_code == 200
    events = page_events(audit_app)
    assert events and {e["api_visibility"] for e in events} == {"private"}, "the page copy adds no API names"
    before = audit_app.arena.store.snapshots.latest(JUDGE_AUDIT)
    battle = voted_battle(audit_app.arena.store, "model_a")
    audit_app.arena.store.battles.record_vote(
        battle_id=battle, turn=1, winner="model_a", voter_id="late", source="judge:late"
    )
    on_visit = next(e for e in events if any(trigger == "load" for _, trigger in e["targets"]))
    for index in (on_visit["id"], fn_index(audit_app.config, elem_id="auditp_run")):
        report, *plots = run(audit_app, index, [])
        assert "judge:e2e" in report and "judge:late" not in report, "the stored audit, as it was"
        assert [set(traces(plot)) for plot in plots[:2]] == [{"people (baseline)", "judges"}, {"judge:e2e", "people"}]
    after = audit_app.arena.store.snapshots.latest(JUDGE_AUDIT)
    assert after is not None and before is not None and after.id == before.id, "a page read stores nothing"


def upload(app: AuditApp, rows: list[dict[str, Any]], judges: Any) -> list[Any]:
    """What the browser does: the file to Gradio's upload endpoint, then its path and the judges box to the event."""
    content = "\n".join(json.dumps(row) for row in rows).encode()
    response = httpx.post(f"{app.url}/gradio_api/upload", files={"files": ("votes.jsonl", content)})
    (path,) = response.json()
    payload = {"path": path, "orig_name": "votes.jsonl", "size": len(content), "meta": {"_type": "gradio.FileData"}}
    shown = run(app, fn_index(app.config, elem_id="audit_upload", trigger="upload"), [payload, judges])
    assert not Path(path).exists(), "the upload is deleted once its audit ends, or when it is refused"
    return shown


def test_an_uploaded_file_is_audited_with_the_judges_the_form_names(audit_app: AuditApp) -> None:
    rows = []
    for n in range(12):
        common = {"model_a": "alpha", "model_b": "beta", "battle_id": f"b{n}", "prompt": "Say hi.",
                  "answer_a": "Hi.", "answer_b": "Hello there, how are you today?"}  # fmt: skip
        rows.append({**common, "winner": ("model_a", "model_b", "tie")[n % 3], "judge": f"person-{n}"})
        rows.append({**common, "winner": "model_b", "judge": "gpt-4"})
    shown = {judges: upload(audit_app, rows, judges) for judges in ("gpt-4", "")}
    report, *plots = shown["gpt-4"]
    assert "judge:gpt-4" in report and len(plots) == PLOTS
    assert traces(plots[0])["judges"]["x"] == [0.0], "gpt-4 always picks the answer shown second"
    refused, *nothing = shown[""]
    assert "LLM judges" in refused and nothing == [None] * PLOTS, "without names the file is ambiguous: it says so"


@pytest.mark.parametrize(("judges", "reason"), [(["gpt-4"], "must be given as text"), ("gpt-4," * 1000, "too long")])
def test_a_judges_box_no_form_sends_is_refused_in_a_sentence(audit_app: AuditApp, judges: Any, reason: str) -> None:
    row = {"model_a": "alpha", "model_b": "beta", "winner": "tie", "judge": "gpt-4"}
    notice, *plots = upload(audit_app, [row], judges)
    assert reason in notice and plots == [None] * PLOTS


def test_a_snapshot_stored_before_the_figures_shows_its_markdown_alone(audit_app: AuditApp) -> None:
    """Last here: it stores an old-style snapshot as the newest."""
    store = audit_app.arena.store
    store.snapshots.save({"markdown": "## An old audit", "votes_total": 3}, store.votes.watermark(), 0.1, JUDGE_AUDIT)
    report, *plots = Client(audit_app.url, verbose=False).predict(api_name="/judge_audit")
    assert "An old audit" in report and "Computed over 3 votes" in report
    assert plots == [None] * PLOTS
