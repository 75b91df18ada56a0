"""Each side's unique-token share stored with the vote, so that the judge audit, like the leaderboard, reads the
votes table alone and no answer text.

Old votes get the new columns empty and their style column len_a cleared: store.backfill (batched, resumable,
run by the app in the background at start-up and on its schedule) then recomputes every text-derived fact of
those votes, the new ones included, with the write path's own function. Until it reaches a vote, readers see
that vote's style as missing (style control leaves such votes out with a message), never a stale value.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("votes") as votes:
        votes.add_column(sa.Column("unique_a", sa.Float(), nullable=True))
        votes.add_column(sa.Column("unique_b", sa.Float(), nullable=True))
    # len_a is NULL exactly for the votes whose facts the backfill still has to compute
    op.execute("UPDATE votes SET len_a = NULL")


def downgrade() -> None:
    with op.batch_alter_table("votes") as votes:
        votes.drop_column("unique_b")
        votes.drop_column("unique_a")
