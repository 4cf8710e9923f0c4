"""Initial schema: customers, contacts and the contact event log.

Revision ID: 0001
Revises:
Create Date: 2025-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
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
        "customers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("chat_id", sa.String(200), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("attributes", JSON_DOC, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("phone", name="uq_customers_phone"),
    )
    op.create_index("ix_customers_email", "customers", ["email"])
    op.create_index("ix_customers_chat_id", "customers", ["chat_id"])

    op.create_table(
        "contacts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("destination", sa.String(200), nullable=False),
        sa.Column("started_at", UTC_TS, nullable=False),
        sa.Column("ended_at", UTC_TS, nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("flow", sa.String(200), nullable=True),
        sa.Column("flow_version", sa.String(200), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("node", sa.String(200), nullable=True),
        sa.Column("variables", JSON_DOC, nullable=False),
        sa.Column("asterisk_channel", sa.String(200), nullable=True),
        sa.Column("asterisk_node", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_contacts_customer_id_customers"
        ),
    )
    op.create_index("ix_contacts_started_at", "contacts", ["started_at"])
    op.create_index("ix_contacts_customer_id", "contacts", ["customer_id"])
    op.create_index("ix_contacts_asterisk_channel", "contacts", ["asterisk_channel"])

    op.create_table(
        "contact_events",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("contact_id", sa.String(36), nullable=True),
        sa.Column("ts", UTC_TS, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(100), nullable=True),
        sa.Column("agent", sa.String(100), nullable=True),
        sa.Column("data", JSON_DOC, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contact_events"),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_contact_events_contact_id_contacts"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_contact_events_contact_id_id", "contact_events", ["contact_id", "id"])
    op.create_index("ix_contact_events_ts", "contact_events", ["ts"])
    op.create_index("ix_contact_events_type_ts", "contact_events", ["type", "ts"])
    op.create_index("ix_contact_events_queue_ts", "contact_events", ["queue", "ts"])
    op.create_index("ix_contact_events_agent_ts", "contact_events", ["agent", "ts"])


def downgrade() -> None:
    op.drop_table("contact_events")
    op.drop_table("contacts")
    op.drop_table("customers")
