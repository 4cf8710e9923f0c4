"""Callbacks that keep the customer's place in a queue.

Revision ID: 0003_callbacks
Revises: 0002_web_sessions
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_callbacks"
down_revision: str | None = "0002_web_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of hotline.store.coltypes as they were at this revision.
UTC_TS = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column("seq", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("contact_id", sa.String(36), nullable=False),
        sa.Column("origin_contact_id", sa.String(36), nullable=True),
        sa.Column("queue", sa.String(100), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("entered_at", UTC_TS, nullable=False),
        sa.Column("requested_at", UTC_TS, nullable=False),
        sa.Column("scheduled_for", UTC_TS, nullable=True),
        sa.Column("next_attempt_at", UTC_TS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=True),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_callbacks"),
        sa.UniqueConstraint("contact_id", name="uq_callbacks_contact_id"),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_callbacks_contact_id_contacts"
        ),
        sa.ForeignKeyConstraint(
            ["origin_contact_id"], ["contacts.id"], name="fk_callbacks_origin_contact_id_contacts"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_callbacks_state_entered_at", "callbacks", ["state", "entered_at"])
    op.create_index("ix_callbacks_number_requested_at", "callbacks", ["number", "requested_at"])


def downgrade() -> None:
    op.drop_table("callbacks")
