"""Active pair sampling: each battle (and each vote on it) stores the probability its pair was drawn with and the
size of the pool it was drawn from; a model can be deprecated (kept out of anonymous battles).

Existing battles and votes get NULL (read as drawn uniformly: weight 1), existing models are not deprecated. Every
column is added in place by ALTER TABLE ADD COLUMN, never a rebuild: on SQLite a rebuilt battles table would be
dropped first, and the drop would cascade to every turn, vote and judgment (foreign keys are on).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("battles", "votes"):
        op.add_column(table, sa.Column("pair_probability", sa.Float(), nullable=True))
        op.add_column(table, sa.Column("pool_size", sa.Integer(), nullable=True))
    op.add_column("models", sa.Column("deprecated", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("models", "deprecated")
    for table in ("votes", "battles"):
        op.drop_column(table, "pool_size")
        op.drop_column(table, "pair_probability")
