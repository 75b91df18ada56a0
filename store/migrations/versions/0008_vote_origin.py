"""Where a human vote came from (salted hashes of its address and network), the voter's own exclusion reasons,
the daily counter per address, and the sources the stuffing screen flagged.

Old votes get the new columns empty: they were cast before the cap and count as they did.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("votes") as votes:
        votes.add_column(sa.Column("client_id", sa.String(64), nullable=True))
        votes.add_column(sa.Column("network_id", sa.String(64), nullable=True))
        votes.add_column(sa.Column("voter_reason", sa.Text(), nullable=True))
        votes.create_index("ix_votes_client_id", ["client_id"])
        votes.create_index("ix_votes_network_id", ["network_id"])
    op.create_table(
        "address_days",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("votes", sa.Integer(), nullable=False),
    )
    op.create_table(
        "flagged_sources",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("flagged_sources")
    op.drop_table("address_days")
    with op.batch_alter_table("votes") as votes:
        votes.drop_index("ix_votes_network_id")
        votes.drop_index("ix_votes_client_id")
        votes.drop_column("voter_reason")
        votes.drop_column("network_id")
        votes.drop_column("client_id")
