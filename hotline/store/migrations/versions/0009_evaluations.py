"""Quality: evaluations of contacts with the YAML evaluation forms (issue 18).

Revision ID: 0009_evaluations
Revises: 0008_routing_epochs
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_evaluations"
down_revision: str | None = "0008_routing_epochs"
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
        "evaluations",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("contact_id", sa.String(36), nullable=False),
        sa.Column("form", sa.String(64), nullable=False),
        sa.Column("evaluator", sa.String(100), nullable=False),
        sa.Column("agent", sa.String(100), nullable=False),
        sa.Column("queue", sa.String(100), nullable=True),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("answers", JSON_DOC, nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("sections", JSON_DOC, nullable=False),
        sa.Column("questions", JSON_DOC, nullable=False),
        sa.Column("failed_by", JSON_DOC, nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evaluations"),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_evaluations_contact_id_contacts"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_evaluations_contact_id", "evaluations", ["contact_id"])
    op.create_index("ix_evaluations_created_at", "evaluations", ["created_at"])
    op.create_index("ix_evaluations_agent", "evaluations", ["agent"])


def downgrade() -> None:
    op.drop_index("ix_evaluations_agent", "evaluations")
    op.drop_index("ix_evaluations_created_at", "evaluations")
    op.drop_index("ix_evaluations_contact_id", "evaluations")
    op.drop_table("evaluations")
