"""Chat attachments' bytes in the database, by content (issue 20: every web process
serves every file).

Revision ID: 0010_attachment_blobs
Revises: 0009_evaluations
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_attachment_blobs"
down_revision: str | None = "0009_evaluations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of hotline.store.coltypes' UTCDateTime as it was at this revision.
UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "attachment_blobs",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_attachment_blobs"),
    )


def downgrade() -> None:
    op.drop_table("attachment_blobs")
