"""Routing epochs: the fencing token of each routing domain's leader.

A routing leader (hotline/cluster/leader.py) increments its domain's epoch in the
transaction in which it takes over; every routing write checks it (hotline/store/
epochs.py), so a deposed leader's writes are refused.

Revision ID: 0008_routing_epochs
Revises: 0007_knowledge
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_routing_epochs"
down_revision: str | None = "0007_knowledge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "routing_epochs",
        sa.Column("domain", sa.String(100), nullable=False),
        sa.Column("epoch", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("leader", sa.String(200), nullable=False),
        sa.Column("since", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_routing_epochs")),
    )


def downgrade() -> None:
    op.drop_table("routing_epochs")
