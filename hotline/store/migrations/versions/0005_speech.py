"""Speech: transcripts of recordings, with keyword flags and sentiment.

Revision ID: 0005_speech
Revises: 0004_chat
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_speech"
down_revision: str | None = "0004_chat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of hotline.store.coltypes as they were at this revision.
UTC_TS = sa.DateTime(timezone=True)
JSON_DOC = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "transcripts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("contact_id", sa.String(36), nullable=False),
        sa.Column("recording", sa.String(200), nullable=False),
        sa.Column("queue", sa.String(100), nullable=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("engine", sa.String(32), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("words", JSON_DOC, nullable=False),
        sa.Column("flags", JSON_DOC, nullable=False),
        sa.Column("sentiment", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_transcripts"),
        sa.UniqueConstraint("recording", name="uq_transcripts_recording"),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_transcripts_contact_id_contacts"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_transcripts_contact_id", "transcripts", ["contact_id"])
    op.create_index("ix_transcripts_created_at", "transcripts", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_transcripts_created_at", "transcripts")
    op.drop_index("ix_transcripts_contact_id", "transcripts")
    op.drop_table("transcripts")
