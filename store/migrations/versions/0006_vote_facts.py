"""Facts about a vote stored with it: each turn's style (summed per side up to it), each battle's category, and
every vote's eligibility verdict rewritten from its battle's flags by the one rule (facts.eligibility). Stored
snapshots get a kind (the leaderboard, the judge audit).

The verdicts are rewritten here, in the migration's transaction: before, a battle flagged after its votes left
them counting in some readers. Stored snapshots are dropped, so the next refresh rates the votes by the new
verdicts. The style and category columns start empty for old rows and are filled by store.backfill (batched,
resumable), which the app runs in the background at start-up and on its schedule.

The rule and the style columns are copied here as they were at this revision, not imported: a migration must
do the same thing whatever the code becomes later.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000
STYLE_COLUMNS = ("len_a", "len_b", "header_a", "header_b", "list_a", "list_b", "bold_a", "bold_b")


def _verdict(mode: str, identity_leak: bool, error: bool, notes: str) -> str | None:
    """facts.eligibility at revision 0006."""
    reasons = []
    if mode != "anonymous":
        reasons.append("the models were not anonymous")
    if identity_leak:
        probed = "identity probe: " in notes
        if "identity words: " in notes or not probed:
            reasons.append("a model or vendor was named in the conversation")
        if probed:
            reasons.append("a model was asked who it is (identity probe)")
    if error:
        reasons.append("a model failed to answer")
    return "; ".join(reasons) or None


def upgrade() -> None:
    with op.batch_alter_table("battles") as battles:
        battles.add_column(sa.Column("category", sa.String(length=32), nullable=True))
    with op.batch_alter_table("turns") as turns:
        for column in STYLE_COLUMNS:
            turns.add_column(sa.Column(column, sa.Integer(), nullable=True))
    with op.batch_alter_table("leaderboard_snapshots") as snapshots:
        snapshots.add_column(sa.Column("kind", sa.String(length=32), nullable=False, server_default="leaderboard"))
        snapshots.add_column(sa.Column("excluded_total", sa.Integer(), nullable=False, server_default="0"))
    _rewrite_verdicts()
    op.execute("DELETE FROM leaderboard_snapshots")


def downgrade() -> None:
    with op.batch_alter_table("leaderboard_snapshots") as snapshots:
        snapshots.drop_column("excluded_total")
        snapshots.drop_column("kind")
    with op.batch_alter_table("turns") as turns:
        for column in STYLE_COLUMNS:
            turns.drop_column(column)
    with op.batch_alter_table("battles") as battles:
        battles.drop_column("category")


def _rewrite_verdicts() -> None:
    connection = op.get_bind()
    battles = connection.execute(
        sa.text(
            "SELECT id, mode, flag_identity_leak, flag_error, flag_notes FROM battles "
            "WHERE id IN (SELECT DISTINCT battle_id FROM votes)"
        )
    ).all()
    updates = [
        {"battle_id": row[0], "verdict": _verdict(row[1], bool(row[2]), bool(row[3]), row[4] or "")} for row in battles
    ]
    statement = sa.text("UPDATE votes SET excluded_reason = :verdict WHERE battle_id = :battle_id")
    for start in range(0, len(updates), _BATCH):
        connection.execute(statement, updates[start : start + _BATCH])
