"""One shape of survey.answered: chat rows rewritten as calls log them.

Calls logged one event per survey, {survey, node, answers: {question: score}}; chats
logged one event per answered question, {question, score, channel, survey, node}.
Every chat row becomes {survey, node, answers: {question: score}} (one answer each;
the channel is the contact's). The event log is append-only except for this rewrite.

Downgrade leaves the rows as they are: the code before this revision reads both shapes.

Revision ID: 0006_survey_answered_shape
Revises: 0005_speech
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_survey_answered_shape"
down_revision: str | None = "0005_speech"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies as they were at this revision.
JSON_DOC = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)
EVENTS = sa.table(
    "contact_events",
    sa.column("id", sa.BigInteger()),
    sa.column("type"),
    sa.column("data", JSON_DOC),
)
SURVEY_ANSWERED = "survey.answered"
#: The flow language's default survey name, for a row that does not name its survey.
DEFAULT_SURVEY = "csat"


def one_shape(data: dict[str, Any]) -> dict[str, Any] | None:
    """The row's data in the one shape; None when it has it already."""
    if "answers" in data:
        return None
    return {
        "survey": data.get("survey", DEFAULT_SURVEY),
        "node": data.get("node", ""),  # unknown: no chat release logged a survey without it
        "answers": {str(data.get("question", "")): data.get("score")},
    }


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(EVENTS.c.id, EVENTS.c.data).where(EVENTS.c.type == SURVEY_ANSWERED)
    ).all()
    changes = [
        {"row_id": row.id, "new_data": new}
        for row in rows
        if (new := one_shape(row.data or {})) is not None
    ]
    if changes:
        conn.execute(
            EVENTS.update()
            .where(EVENTS.c.id == sa.bindparam("row_id"))
            .values(data=sa.bindparam("new_data", type_=JSON_DOC)),
            changes,
        )


def downgrade() -> None:
    pass
