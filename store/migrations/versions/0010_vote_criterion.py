"""Red-team battles and what a vote judges: each battle and each vote stores its criterion (helpfulness, or
harmlessness in a red-team battle), and a vote optionally the harm category the attempt went for.

Old battles and votes are helpfulness ones: no red-team battle existed before this revision. The battles table
gets its column by ALTER TABLE ADD COLUMN, never a rebuild: on SQLite a rebuild drops the table, and the drop
cascades to every turn, vote and judgment (foreign keys are on). The votes table, which nothing references, is
rebuilt by batch mode for its CHECK constraints.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HARM_CATEGORIES = ("violence", "self_harm", "crime", "hate", "sexual", "privacy", "misinformation", "other")


def upgrade() -> None:
    op.add_column("battles", sa.Column("criterion", sa.String(16), nullable=False, server_default="helpfulness"))
    with op.batch_alter_table("votes") as votes:
        votes.add_column(sa.Column("criterion", sa.String(16), nullable=False, server_default="helpfulness"))
        votes.add_column(sa.Column("harm_category", sa.String(16), nullable=True))
        votes.create_check_constraint(op.f("ck_votes_criterion"), "criterion IN ('helpfulness', 'harmlessness')")
        votes.create_check_constraint(
            op.f("ck_votes_harm_category"), f"harm_category IS NULL OR harm_category IN {HARM_CATEGORIES!r}"
        )


def downgrade() -> None:
    with op.batch_alter_table("votes") as votes:
        votes.drop_constraint(op.f("ck_votes_harm_category"), type_="check")
        votes.drop_constraint(op.f("ck_votes_criterion"), type_="check")
        votes.drop_column("harm_category")
        votes.drop_column("criterion")
    op.drop_column("battles", "criterion")
