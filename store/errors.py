"""The errors the store raises on purpose."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

# What the database raises when it does not answer (restarting, unreachable): services catch these to tell the
# person in a sentence, without importing SQLAlchemy themselves.
DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


class StoreError(Exception):
    """Base class of the errors the store raises on purpose."""


class NotFound(StoreError):
    """No battle, vote or model with that key."""


class DuplicateVote(StoreError):
    """This turn of this battle already has a vote from this source."""


class Conflict(StoreError):
    """The current state of the stored data does not allow this change."""


def is_unique_violation(exc: IntegrityError) -> bool:
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)  # psycopg
    if sqlstate is not None:
        return bool(sqlstate == "23505")
    # sqlite3 (Python 3.11+) names the extended result code.
    return getattr(orig, "sqlite_errorname", "") in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")
