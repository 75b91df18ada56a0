"""Leaderboard snapshots: the computed leaderboard the page reads.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leaderboard_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_vote_id", sa.Integer(), nullable=False),
        sa.Column("votes_total", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leaderboard_snapshots")),
    )
    op.create_index("ix_leaderboard_snapshots_created_at", "leaderboard_snapshots", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_leaderboard_snapshots_created_at", table_name="leaderboard_snapshots")
    op.drop_table("leaderboard_snapshots")
