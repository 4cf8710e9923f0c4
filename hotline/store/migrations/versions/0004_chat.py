"""Chat: sessions, messages (stored as they arrive) and attachments' metadata.

Revision ID: 0004_chat
Revises: 0003_callbacks
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_chat"
down_revision: str | None = "0003_callbacks"
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
        "chat_sessions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.String(36), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("agent", sa.String(100), nullable=True),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chat_sessions"),
        sa.UniqueConstraint("token", name="uq_chat_sessions_token"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_chat_sessions_customer_id_customers"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_chat_sessions_contact_id_contacts"
        ),
    )
    op.create_index("ix_chat_sessions_kind_external_id", "chat_sessions", ["kind", "external_id"])
    op.create_index("ix_chat_sessions_customer_id", "chat_sessions", ["customer_id"])

    op.create_table(
        "chat_messages",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("contact_id", sa.String(36), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(16), nullable=False),
        sa.Column("agent", sa.String(100), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.String(8000), nullable=False),
        sa.Column("data", JSON_DOC, nullable=False),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chat_messages"),
        sa.UniqueConstraint("session_id", "seq", name="uq_chat_messages_session_id_seq"),
        sa.UniqueConstraint(
            "session_id", "client_id", name="uq_chat_messages_session_id_client_id"
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["chat_sessions.id"], name="fk_chat_messages_session_id_chat_sessions"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_chat_messages_contact_id_contacts"
        ),
    )
    op.create_index("ix_chat_messages_contact_id", "chat_messages", ["contact_id"])

    op.create_table(
        "chat_attachments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chat_attachments"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["chat_sessions.id"],
            name="fk_chat_attachments_session_id_chat_sessions",
        ),
    )
    op.create_index("ix_chat_attachments_session_id", "chat_attachments", ["session_id"])


def downgrade() -> None:
    op.drop_table("chat_attachments")
    op.drop_table("chat_messages")
    op.drop_table("chat_sessions")
