"""Saved training examples: direct-chat answers people saved, with their edits, as supervised (SFT) sets
(store.sft_examples).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sft_examples",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("set_name", sa.String(length=64), nullable=False),
        sa.Column("battle_id", sa.String(length=36), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("original_answer", sa.Text(), nullable=False),
        sa.Column("edited_answer", sa.Text(), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("saved_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["battle_id"], ["battles.id"], name=op.f("fk_sft_examples_battle_id_battles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sft_examples")),
        sa.UniqueConstraint(
            "set_name", "battle_id", "turn", "attempt", "version", name=op.f("uq_sft_examples_set_name")
        ),
    )
    op.create_index("ix_sft_examples_battle_id", "sft_examples", ["battle_id"])
    op.create_index("ix_sft_examples_saved_by", "sft_examples", ["saved_by"])
    op.create_index("ix_sft_examples_set_name_created_at", "sft_examples", ["set_name", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_sft_examples_set_name_created_at", table_name="sft_examples")
    op.drop_index("ix_sft_examples_saved_by", table_name="sft_examples")
    op.drop_index("ix_sft_examples_battle_id", table_name="sft_examples")
    op.drop_table("sft_examples")
