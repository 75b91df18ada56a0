"""Judge audits of uploaded battles files, off the request path: one file at a time, one waiting file per person.

An upload can hold millions of rows, so its audit never runs inside the web request that brought it: it goes
to a single worker thread (memory stays bounded by one file at a time), each person (client address) may have
one file queued or running, and the queue itself is short. The uploaded file is deleted once its audit ends,
whether it succeeded, failed or was cancelled before it started.

The audit itself is given (app.py): `audit(path, name, mapping) -> AuditResult`, where `mapping` says which rows
of the file are LLM judges (leaderboard.audit_import.SourceMapping, from the upload form); the result is the
report as markdown and as JSON (leaderboard.judge_audit.report_json), from which the page draws its figures.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leaderboard.audit_import import SourceMapping
from leaderboard.judge_audit import AuditReport, render_markdown, report_json

log = logging.getLogger(__name__)


class AuditRefused(Exception):
    """The upload was not queued; the message says why, for the person."""


@dataclass(frozen=True)
class AuditResult:
    markdown: str  # render_markdown(report)
    report: dict[str, Any]  # report_json(report): what the figures are drawn from


def audit_result(report: AuditReport) -> AuditResult:
    return AuditResult(render_markdown(report), report_json(report))


Audit = Callable[[Path, str, SourceMapping], AuditResult]
NO_MAPPING = SourceMapping()  # the file's own `source` column decides who is a judge


@dataclass(frozen=True)
class AuditTicket:
    future: Future[AuditResult]
    name: str
    number: int  # order of arrival


class UploadAudits:
    """`audit(path, name, mapping) -> AuditResult` runs on one worker thread; `submit` refuses a second file per
    person."""

    def __init__(self, audit: Audit, *, max_waiting: int = 8) -> None:
        self._audit = audit
        self._max_waiting = max_waiting
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-audit")
        self._pending: dict[str, AuditTicket] = {}
        self._arrivals = 0
        self._lock = threading.Lock()

    def submit(self, person: str, path: Path, name: str, mapping: SourceMapping = NO_MAPPING) -> AuditTicket:
        with self._lock:
            mine = self._pending.get(person)
            if mine is not None and not mine.future.done():
                path.unlink(missing_ok=True)
                raise AuditRefused("Your previous file is still being audited: wait for its report, then upload again.")
            if sum(not t.future.done() for t in self._pending.values()) >= self._max_waiting:
                path.unlink(missing_ok=True)
                raise AuditRefused("The auditor is busy with other people's files. Please try again in a minute.")
            self._arrivals += 1
            ticket = AuditTicket(self._executor.submit(self._audit, path, name, mapping), name, self._arrivals)
            self._pending[person] = ticket
        ticket.future.add_done_callback(lambda _: self._finished(person, ticket, path))
        return ticket

    def ahead_of(self, ticket: AuditTicket) -> int:
        """How many files wait or run before this one (0 when it is running or done)."""
        if ticket.future.running() or ticket.future.done():
            return 0
        with self._lock:
            return sum(not t.future.done() and t.number < ticket.number for t in self._pending.values())

    def _finished(self, person: str, ticket: AuditTicket, path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:  # a file we cannot delete is the cache cleaner's job; the audit is done anyway
            log.warning("could not delete an audited upload: %s", exc)
        with self._lock:
            if self._pending.get(person) is ticket:
                del self._pending[person]

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
