"""Specification of judge audits of uploaded files off the request path (arena/upload_audits.py): one file at a
time, one waiting file per person, a short queue, and every upload deleted once its audit ends."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from arena.upload_audits import AuditRefused, AuditResult, UploadAudits, audit_result
from leaderboard.audit_import import SourceMapping
from leaderboard.judge_audit import audit_judges


class GatedAudit:
    """An audit that waits until the test opens its gate; records the files it audited, one at a time."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.running = 0
        self.most_at_once = 0
        self.audited: list[str] = []
        self.mappings: list[SourceMapping] = []
        self._lock = threading.Lock()

    def __call__(self, path: Path, name: str, mapping: SourceMapping) -> AuditResult:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.gate.wait(10)
        with self._lock:
            self.running -= 1
            self.audited.append(name)
            self.mappings.append(mapping)
        if name == "broken.csv":
            raise ValueError(f"{name}: malformed CSV")
        return AuditResult(f"report of {name}", {"judges": [], "human": None})


def upload(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("model_a,model_b,winner\n")
    return path


def test_one_file_per_person_at_a_time_and_the_refused_upload_is_deleted(tmp_path: Path) -> None:
    audit = GatedAudit()
    audits = UploadAudits(audit)
    first = audits.submit("alice", upload(tmp_path, "a.csv"), "a.csv")
    second = upload(tmp_path, "b.csv")
    with pytest.raises(AuditRefused, match="previous file is still being audited"):
        audits.submit("alice", second, "b.csv")
    assert not second.exists()
    audit.gate.set()
    assert first.future.result(10).markdown == "report of a.csv"
    again = audits.submit("alice", upload(tmp_path, "c.csv"), "c.csv")
    assert again.future.result(10).markdown == "report of c.csv", "after the report, the next file is welcome"
    audits.shutdown()


def test_files_are_audited_one_at_a_time_in_the_order_they_came(tmp_path: Path) -> None:
    audit = GatedAudit()
    audits = UploadAudits(audit)
    tickets = [audits.submit(person, upload(tmp_path, f"{person}.csv"), f"{person}.csv") for person in "abc"]
    assert [audits.ahead_of(t) for t in tickets][1:] == [1, 2]
    audit.gate.set()
    for ticket in tickets:
        ticket.future.result(10)
    assert audit.most_at_once == 1 and audit.audited == ["a.csv", "b.csv", "c.csv"]
    audits.shutdown()


def test_the_queue_is_short_and_says_so(tmp_path: Path) -> None:
    audit = GatedAudit()
    audits = UploadAudits(audit, max_waiting=2)
    audits.submit("a", upload(tmp_path, "a.csv"), "a.csv")
    audits.submit("b", upload(tmp_path, "b.csv"), "b.csv")
    late = upload(tmp_path, "c.csv")
    with pytest.raises(AuditRefused, match="busy"):
        audits.submit("c", late, "c.csv")
    assert not late.exists()
    audit.gate.set()
    audits.shutdown()


def test_every_upload_is_deleted_whether_its_audit_succeeded_failed_or_was_cancelled(tmp_path: Path) -> None:
    audit = GatedAudit()
    audits = UploadAudits(audit)
    ok, broken, dropped = (upload(tmp_path, n) for n in ("ok.csv", "broken.csv", "dropped.csv"))
    tickets = [audits.submit(p.stem, p, p.name) for p in (ok, broken, dropped)]
    assert tickets[2].future.cancel(), "a file still waiting can be dropped (the person left)"
    audit.gate.set()
    assert tickets[0].future.result(10).markdown == "report of ok.csv"
    with pytest.raises(ValueError, match="malformed CSV"):
        tickets[1].future.result(10)
    assert not ok.exists() and not broken.exists() and not dropped.exists()
    assert "dropped.csv" not in audit.audited
    audits.shutdown()


def test_the_audit_is_told_which_rows_are_llm_judges(tmp_path: Path) -> None:
    audit = GatedAudit()
    audit.gate.set()
    audits = UploadAudits(audit)
    mapping = SourceMapping.from_text("gpt-4, gpt-3.5")
    audits.submit("alice", upload(tmp_path, "a.csv"), "a.csv", mapping).future.result(10)
    audits.submit("bob", upload(tmp_path, "b.csv"), "b.csv").future.result(10)
    assert audit.mappings == [SourceMapping(llm_judges=frozenset({"gpt-4", "gpt-3.5"})), SourceMapping()]
    audits.shutdown()


def test_an_audit_result_holds_the_report_as_markdown_and_as_json() -> None:
    rows = [
        {"model_a": "alpha", "model_b": "beta", "winner": winner, "source": source, "battle_id": f"b{i}"}
        for source, winners in (("human", ["model_a", "model_b", "tie"]), ("judge:gpt-4", ["model_a", "tie", "tie"]))
        for i, winner in enumerate(winners * 4)
    ]
    result = audit_result(audit_judges(pd.DataFrame(rows), rounds=10))
    assert "Judge audit" in result.markdown and "judge:gpt-4" in result.markdown
    assert [judge["source"] for judge in result.report["judges"]] == ["judge:gpt-4"]
    assert result.report["human"]["source"] == "human" and result.report["judges"][0]["verdicts"] == 12
