"""SQLAlchemy declarative models: the database schema of the store.

Tables: customers, contacts and the append-only contact_events log. Callbacks,
recordings, transcripts and surveys come later, each as a new migration under
`hotline/store/migrations/versions/`. Any change here needs a migration: a test checks
that the migrated schema matches these models on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hotline.store.coltypes import BigId, JSONDoc, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with named constraints (so migrations can refer to them)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CustomerRow(Base):
    """A person who contacts the centre; identified by phone, chat id or e-mail."""

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("phone"),
        Index(None, "email"),
        Index(None, "chat_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    display_name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(320))
    chat_id: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(16))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


class ContactRow(Base):
    """One conversation (call, chat or callback) and its current summary."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index(None, "started_at"),
        Index(None, "customer_id"),
        Index(None, "asterisk_channel"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    source: Mapped[str] = mapped_column(String(200))
    destination: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(32))
    flow: Mapped[str | None] = mapped_column(String(200))
    flow_version: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(16))
    node: Mapped[str | None] = mapped_column(String(200))
    variables: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    asterisk_channel: Mapped[str | None] = mapped_column(String(200))
    asterisk_node: Mapped[str | None] = mapped_column(String(200))


class ContactEventRow(Base):
    """One entry of the append-only event log; `id` gives the global order."""

    __tablename__ = "contact_events"
    __table_args__ = (
        Index(None, "contact_id", "id"),
        Index(None, "ts"),
        Index(None, "type", "ts"),
        Index(None, "queue", "ts"),
        Index(None, "agent", "ts"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"))
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    type: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(100))
    agent: Mapped[str | None] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
