"""Reward-model evaluations: each reward model's scores on each evaluation set, for the reward-model leaderboard.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reward_evaluations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("reward_model", sa.String(length=512), nullable=False),
        sa.Column("eval_set", sa.String(length=256), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("pairs", sa.Integer(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=False),
        sa.Column("low", sa.Float(), nullable=True),
        sa.Column("high", sa.Float(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_evaluations")),
    )
    op.create_index("ix_reward_evaluations_model_set", "reward_evaluations", ["reward_model", "eval_set"])


def downgrade() -> None:
    op.drop_index("ix_reward_evaluations_model_set", table_name="reward_evaluations")
    op.drop_table("reward_evaluations")
