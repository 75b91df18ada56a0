"""Initial schema: models, battles, turns, votes.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Hand-checked against store/tables.py. Constraint and index names follow its naming convention and are
spelled out (op.f) so the migration does not depend on the ORM module as it changes later. The CHECK
lists are frozen copies of WINNERS, STRENGTHS, BATTLE_MODES and BATTLE_STATES as of this revision.
No server defaults: every default is applied by the ORM in Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("weights", sa.Text(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("provenance", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("name", name=op.f("uq_models_name")),
    )

    op.create_table(
        "battles",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("model_a", sa.String(length=128), nullable=False),
        sa.Column("model_b", sa.String(length=128), nullable=True),
        sa.Column("swapped", sa.Boolean(), nullable=False),
        sa.Column("params_a", sa.JSON(), nullable=False),
        sa.Column("params_b", sa.JSON(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("voter_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("flag_error", sa.Boolean(), nullable=False),
        sa.Column("flag_identity_leak", sa.Boolean(), nullable=False),
        sa.Column("flag_length_limit", sa.Boolean(), nullable=False),
        sa.Column("flag_notes", sa.Text(), nullable=False),
        sa.Column("tokens_a", sa.Integer(), nullable=False),
        sa.Column("tokens_b", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revealed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("mode IN ('anonymous', 'side_by_side', 'direct')", name=op.f("ck_battles_mode")),
        sa.CheckConstraint("state IN ('active', 'voted', 'error', 'closed')", name=op.f("ck_battles_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_battles")),
    )
    op.create_index(op.f("ix_battles_created_at"), "battles", ["created_at"])
    op.create_index(op.f("ix_battles_session_id"), "battles", ["session_id"])
    op.create_index(op.f("ix_battles_voter_id"), "battles", ["voter_id"])

    op.create_table(
        "turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("battle_id", sa.String(length=36), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        sa.Column("user_message", sa.Text(), nullable=False),
        sa.Column("answer_a", sa.Text(), nullable=False),
        sa.Column("answer_b", sa.Text(), nullable=True),
        sa.Column("prompt_tokens_a", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens_b", sa.Integer(), nullable=False),
        sa.Column("completion_tokens_a", sa.Integer(), nullable=False),
        sa.Column("completion_tokens_b", sa.Integer(), nullable=False),
        sa.Column("finish_a", sa.String(length=16), nullable=True),
        sa.Column("finish_b", sa.String(length=16), nullable=True),
        sa.Column("error_a", sa.Text(), nullable=True),
        sa.Column("error_b", sa.Text(), nullable=True),
        # SQLAlchemy 2.1 maps a plain `float` annotation to Double (double precision on PostgreSQL).
        sa.Column("latency_a", sa.Double(), nullable=True),
        sa.Column("latency_b", sa.Double(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["battle_id"], ["battles.id"], name=op.f("fk_turns_battle_id_battles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_turns")),
        sa.UniqueConstraint("battle_id", "index", "attempt", name=op.f("uq_turns_battle_index_attempt")),
    )
    op.create_index(op.f("ix_turns_battle_id"), "turns", ["battle_id"])

    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("battle_id", sa.String(length=36), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("winner", sa.String(length=16), nullable=False),
        sa.Column("strength", sa.String(length=16), nullable=True),
        sa.Column("voter_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("excluded_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("strength_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("winner IN ('model_a', 'model_b', 'tie', 'tie (bothbad)')", name=op.f("ck_votes_winner")),
        sa.CheckConstraint(
            "strength IS NULL OR strength IN ('slightly', 'clearly', 'much')", name=op.f("ck_votes_strength")
        ),
        sa.ForeignKeyConstraint(
            ["battle_id"], ["battles.id"], name=op.f("fk_votes_battle_id_battles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_votes")),
        sa.UniqueConstraint("battle_id", "turn", "source", name=op.f("uq_votes_battle_turn_source")),
    )
    op.create_index(op.f("ix_votes_battle_id"), "votes", ["battle_id"])
    op.create_index(op.f("ix_votes_created_at"), "votes", ["created_at"])
    op.create_index(op.f("ix_votes_voter_id"), "votes", ["voter_id"])


def downgrade() -> None:
    # Indexes go with their tables.
    op.drop_table("votes")
    op.drop_table("turns")
    op.drop_table("battles")
    op.drop_table("models")
