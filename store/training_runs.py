"""Finished training runs (reward model, RLHF, SFT): their reports, and the contender a run registered."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.registry import ModelSpec
from store.db import Database
from store.errors import Conflict, is_unique_violation
from store.registry import new_model_record
from store.tables import TRAINING_KINDS, ModelRecord, TrainingRun, utcnow
from store.views import NewTrainingRun, TrainingRunView, view_of

_ATTEMPTS = 3


class TrainingRuns:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self, run: NewTrainingRun, register: ModelSpec | None = None, *, version_prefix: str | None = None
    ) -> TrainingRunView:
        """Store a run's report and, when `register` is given, its contender, in ONE transaction: a crash or a
        name clash leaves neither row, so no checkpoint is ever half-registered.

        With `version_prefix`, the contender is named `<prefix>-v<N>`, N one above the highest version of that
        prefix ever registered (disabled ones included, so a name is never reused for other weights).
        """
        if run.kind not in TRAINING_KINDS:
            raise ValueError(f"unknown training kind {run.kind!r}; expected one of {TRAINING_KINDS}")
        attempt = 1
        while True:
            try:
                with self._db.writing() as session:
                    name = None
                    if register is not None:
                        spec = register
                        if version_prefix is not None:
                            spec = spec.model_copy(update={"name": _next_version(session, version_prefix)})
                            spec = ModelSpec.model_validate(spec.model_dump())  # the new name must be valid too
                        if session.scalar(select(exists().where(ModelRecord.name == spec.name))):
                            raise Conflict(f"a model named {spec.name!r} is already registered")
                        session.add(new_model_record(spec, "runtime", utcnow()))
                        name = spec.name
                    record = TrainingRun(
                        id=str(uuid.uuid4()),
                        kind=run.kind,
                        recipe=run.recipe,
                        method=run.method,
                        out_dir=run.out_dir,
                        gate_passed=run.gate_passed,
                        registered_model=name,
                        report=dict(run.report),
                        started_at=run.started_at,
                        finished_at=utcnow(),
                    )
                    session.add(record)
                    session.flush()
                    return view_of(TrainingRunView, record)
            except IntegrityError as exc:
                # Two runs finishing at once can pick the same version; the loser takes the next one.
                if not is_unique_violation(exc) or version_prefix is None or attempt >= _ATTEMPTS:
                    raise
                attempt += 1

    def attach(self, registered_model: str, key: str, value: Mapping[str, Any]) -> str | None:
        """Add `value` under `key` to the report of the run that registered `registered_model` (an evaluation
        made after the run); the run's id, or None when no run registered that model."""
        with self._db.writing() as session:
            run = session.scalars(
                select(TrainingRun).where(TrainingRun.registered_model == registered_model).limit(1)
            ).first()
            if run is None:
                return None
            run.report = {**run.report, key: dict(value)}  # a new object: the JSON column sees the change
            return run.id

    def runs(self, kind: str | None = None) -> list[TrainingRunView]:
        """Stored runs, oldest first."""
        query = select(TrainingRun).order_by(TrainingRun.finished_at, TrainingRun.id)
        if kind is not None:
            query = query.where(TrainingRun.kind == kind)
        with self._db.reading() as session:
            return [view_of(TrainingRunView, r) for r in session.scalars(query)]


def _next_version(session: Session, prefix: str) -> str:
    pattern = re.compile(rf"^{re.escape(prefix)}-v(\d+)$")
    names = session.scalars(select(ModelRecord.name).where(ModelRecord.name.startswith(f"{prefix}-v", autoescape=True)))
    versions = [int(m.group(1)) for m in map(pattern.match, names) if m]
    return f"{prefix}-v{max(versions, default=0) + 1}"
