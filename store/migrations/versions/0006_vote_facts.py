"""Facts about a vote stored with it: the pair and mode of its battle, its first message's category, each
side's style up to the voted turn, and its eligibility verdict rewritten from its battle's flags by the one rule
(facts.eligibility). Stored snapshots get a kind (the leaderboard, the judge audit) and the number of votes that
did not count when they were made.

The verdicts are rewritten here, in the migration's transaction: before, a battle flagged after its votes left
them counting in some readers. Stored snapshots are dropped, so the next refresh rates the votes by the new
verdicts. The other facts start empty for old votes and are filled by store.backfill (batched, resumable),
which the app runs in the background at start-up and on its schedule.

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
    with op.batch_alter_table("votes") as votes:
        votes.add_column(sa.Column("model_a", sa.String(length=128), nullable=True))
        votes.add_column(sa.Column("model_b", sa.String(length=128), nullable=True))
        votes.add_column(sa.Column("mode", sa.String(length=16), nullable=True))
        votes.add_column(sa.Column("category", sa.String(length=32), nullable=True))
        for column in STYLE_COLUMNS:
            votes.add_column(sa.Column(column, sa.Integer(), nullable=True))
    with op.batch_alter_table("leaderboard_snapshots") as snapshots:
        snapshots.add_column(sa.Column("kind", sa.String(length=32), nullable=False, server_default="leaderboard"))
        snapshots.add_column(sa.Column("excluded_total", sa.Integer(), nullable=False, server_default="0"))
    # The battle's pair and mode, by SQL; the text-derived facts (category, style) by store.backfill.
    op.execute(
        "UPDATE votes SET "
        "model_a = (SELECT battles.model_a FROM battles WHERE battles.id = votes.battle_id), "
        "model_b = (SELECT battles.model_b FROM battles WHERE battles.id = votes.battle_id), "
        "mode = (SELECT battles.mode FROM battles WHERE battles.id = votes.battle_id)"
    )
    _rewrite_verdicts()
    op.execute("DELETE FROM leaderboard_snapshots")


def downgrade() -> None:
    with op.batch_alter_table("leaderboard_snapshots") as snapshots:
        snapshots.drop_column("excluded_total")
        snapshots.drop_column("kind")
    with op.batch_alter_table("votes") as votes:
        for column in reversed(("model_a", "model_b", "mode", "category", *STYLE_COLUMNS)):
            votes.drop_column(column)


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
