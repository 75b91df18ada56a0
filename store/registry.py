"""The model registry: seeded from the registry file at start-up, checkpoints registered at run time."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.registry import ModelSpec
from store.db import Database
from store.errors import Conflict, NotFound, is_unique_violation
from store.tables import ModelRecord, utcnow
from store.views import SyncReport

ORIGINS = ("config", "runtime")
_SYNC_ATTEMPTS = 3


class Registry:
    def __init__(self, db: Database) -> None:
        self._db = db

    def sync(self, specs: Iterable[ModelSpec]) -> SyncReport:
        """Make the config-origin rows match the registry file; runtime rows are never touched.

        Retried when a concurrent start inserted the same names first (PostgreSQL READ COMMITTED).
        """
        specs = list(specs)
        names = [s.name for s in specs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names listed twice: {', '.join(duplicates)}")
        attempt = 1
        while True:
            try:
                with self._db.writing() as session:
                    return _sync(session, specs)
            except IntegrityError as exc:
                if not is_unique_violation(exc) or attempt >= _SYNC_ATTEMPTS:
                    raise
                attempt += 1

    def register(self, spec: ModelSpec, origin: str = "runtime") -> ModelSpec:
        """Add a model (a new checkpoint, say). Conflict when the name is taken."""
        if origin not in ORIGINS:
            raise ValueError(f"unknown model origin {origin!r}; expected one of {ORIGINS}")
        try:
            with self._db.writing() as session:
                if session.scalar(select(exists().where(ModelRecord.name == spec.name))):
                    raise Conflict(f"a model named {spec.name!r} is already registered")
                record = new_model_record(spec, origin, utcnow())
                session.add(record)
                session.flush()
                return _spec(record)
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise Conflict(f"a model named {spec.name!r} is already registered") from exc
            raise

    def models(
        self, *, enabled_only: bool = True, anonymous_only: bool = False, deprecated: bool | None = None
    ) -> list[ModelSpec]:
        """Registered models in registration order, each with its current `enabled` and `deprecated` flags.
        `deprecated`: None, every model; False, those not deprecated (the pool of anonymous battles); True, only
        the deprecated ones."""
        query = select(ModelRecord).order_by(ModelRecord.id)
        if enabled_only:
            query = query.where(ModelRecord.enabled.is_(True))
        if anonymous_only:
            query = query.where(ModelRecord.anonymous.is_(True))
        if deprecated is not None:
            query = query.where(ModelRecord.deprecated.is_(bool(deprecated)))
        with self._db.reading() as session:
            return [_spec(r) for r in session.scalars(query)]

    def get(self, name: str) -> ModelSpec:
        with self._db.reading() as session:
            return _spec(_record(session, name))

    def set_enabled(self, name: str, enabled: bool) -> ModelSpec:
        with self._db.writing() as session:
            record = _record(session, name)
            record.enabled = enabled
            record.updated_at = utcnow()
            session.flush()
            return _spec(record)

    def set_deprecated(self, name: str, deprecated: bool) -> ModelSpec:
        """Take a model out of anonymous battles (deprecated) or bring it back; NotFound for an unknown name."""
        with self._db.writing() as session:
            record = _record(session, name)
            record.deprecated = bool(deprecated)
            record.updated_at = utcnow()
            session.flush()
            return _spec(record)

    def deprecated(self) -> list[str]:
        """The names of the deprecated models, in registration order (plain columns, like descriptions)."""
        with self._db.reading() as session:
            query = select(ModelRecord.name).where(ModelRecord.deprecated.is_(True)).order_by(ModelRecord.id)
            return [str(name) for name in session.scalars(query)]

    def descriptions(self) -> dict[str, str]:
        """Model -> description, every registered model (plain columns: a row whose spec no longer validates
        must not stop a reader)."""
        with self._db.reading() as session:
            rows = session.execute(select(ModelRecord.name, ModelRecord.description)).all()
        return {str(name): str(description or "") for name, description in rows}

    def provenance(self) -> dict[str, str]:
        """Model -> provenance text, where there is one (the judge audit's self-preference)."""
        with self._db.reading() as session:
            rows = session.execute(select(ModelRecord.name, ModelRecord.provenance)).all()
        return {str(name): str(text) for name, text in rows if text}


def _sync(session: Session, specs: list[ModelSpec]) -> SyncReport:
    records = {r.name: r for r in session.scalars(select(ModelRecord))}
    now = utcnow()
    added: list[str] = []
    updated: list[str] = []
    skipped: list[str] = []
    kept_disabled: list[str] = []
    for spec in specs:
        record = records.get(spec.name)
        if record is None:
            session.add(new_model_record(spec, "config", now))
            added.append(spec.name)
        elif record.origin != "config":
            skipped.append(spec.name)
        else:
            if _update(record, spec, now):
                updated.append(spec.name)
            if spec.enabled and not record.enabled:
                kept_disabled.append(spec.name)
    in_file = {s.name for s in specs}
    disabled: list[str] = []
    for record in records.values():
        if record.origin == "config" and record.name not in in_file and record.enabled:
            record.enabled = False
            record.updated_at = now
            disabled.append(record.name)
    return SyncReport(tuple(added), tuple(updated), tuple(disabled), tuple(skipped), tuple(kept_disabled))


def new_model_record(spec: ModelSpec, origin: str, now: datetime) -> ModelRecord:
    return ModelRecord(
        name=spec.name,
        backend=spec.backend,
        weights=spec.weights,
        spec=spec.model_dump(mode="json"),
        description=spec.description,
        anonymous=spec.anonymous,
        enabled=spec.enabled,
        deprecated=spec.deprecated,
        provenance=spec.provenance,
        origin=origin,
        created_at=now,
        updated_at=now,
    )


def _update(record: ModelRecord, spec: ModelSpec, now: datetime) -> bool:
    """Copy the file's entry into the row; `enabled` only ever goes down, `deprecated` only up. True when anything
    changed."""
    fields = {
        "spec": spec.model_dump(mode="json"),
        "backend": spec.backend,
        "weights": spec.weights,
        "description": spec.description,
        "anonymous": spec.anonymous,
        "provenance": spec.provenance,
    }
    if not spec.enabled:
        fields["enabled"] = False
    if spec.deprecated:  # like `enabled`, the file only ever deprecates: an operator's word stands otherwise
        fields["deprecated"] = True
    changed = {k: v for k, v in fields.items() if getattr(record, k) != v}
    for key, value in changed.items():
        setattr(record, key, value)
    if changed:
        record.updated_at = now
    return bool(changed)


def _record(session: Session, name: str) -> ModelRecord:
    record = session.scalar(select(ModelRecord).where(ModelRecord.name == name))
    if record is None:
        raise NotFound(f"no model named {name!r}")
    return record


def _spec(record: ModelRecord) -> ModelSpec:
    return ModelSpec.model_validate({**record.spec, "enabled": record.enabled, "deprecated": bool(record.deprecated)})
