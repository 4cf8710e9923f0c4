"""The evaluations table: a supervisor's scoring of one contact with one form."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.store.coltypes import BigId, JSONDoc, UTCDateTime
from hotline.store.models import Base


class EvaluationRow(Base):
    """One evaluation: the answers as given, and the scores worked out when submitted
    (a later change of the form's file does not change a stored score)."""

    __tablename__ = "evaluations"
    __table_args__ = (
        Index(None, "contact_id"),
        Index(None, "created_at"),
        Index(None, "agent"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"))
    form: Mapped[str] = mapped_column(String(64))
    evaluator: Mapped[str] = mapped_column(String(100))
    agent: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answers: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    score: Mapped[float | None] = mapped_column(Float())
    passed: Mapped[bool] = mapped_column()
    sections: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    questions: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    failed_by: Mapped[list[Any]] = mapped_column(JSONDoc)
    comment: Mapped[str] = mapped_column(Text())
