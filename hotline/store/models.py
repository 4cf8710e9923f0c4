"""SQLAlchemy declarative models: the database schema of the store.

Tables: customers, contacts and the append-only contact_events log. Callbacks,
recordings, transcripts and surveys come later, each as a new migration under
`hotline/store/migrations/versions/`. Any change here needs a migration: a test checks
that the migrated schema matches these models on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, MetaData, String, Table, Text, UniqueConstraint
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


def table_of(model: type[Base]) -> Table:
    """The table a model maps (typed as a Table: SQLAlchemy types it as any FromClause)."""
    table = model.__table__
    assert isinstance(table, Table), f"{model.__name__} maps {table!r}, not a table"
    return table


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


class RoutingEpochRow(Base):
    """A routing domain's fencing epoch: raised by each new leader (hotline/cluster)."""

    __tablename__ = "routing_epochs"

    domain: Mapped[str] = mapped_column(String(100), primary_key=True)
    epoch: Mapped[int] = mapped_column(BigId)
    leader: Mapped[str] = mapped_column(String(200))
    since: Mapped[datetime] = mapped_column(UTCDateTime())


class WebSessionRow(Base):
    """A web login session; only a hash of its token is stored."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index(None, "expires_at"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChatSessionRow(Base):
    """A chat conversation's thread (web widget or messenger), across reopen and reconnect.

    `token` is the widget's secret for resuming; `external_id` the messenger's chat id
    (or the widget's visitor cookie) that recognises the customer next time.
    """

    __tablename__ = "chat_sessions"
    __table_args__ = (
        UniqueConstraint("token"),
        Index(None, "kind", "external_id"),
        Index(None, "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    token: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(200))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"))
    language: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    agent: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChatMessageRow(Base):
    """One chat message, stored as it arrives; `seq` orders a session's messages and is
    what a reconnecting client resumes from. `client_id` makes a resent message a no-op."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        UniqueConstraint("session_id", "seq"),
        UniqueConstraint("session_id", "client_id"),
        Index(None, "contact_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.id"))
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"))
    seq: Mapped[int] = mapped_column()
    sender: Mapped[str] = mapped_column(String(16))
    agent: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(String(8000))
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    client_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChatAttachmentRow(Base):
    """A file sent in a chat: its metadata here, its bytes under the state folder."""

    __tablename__ = "chat_attachments"
    __table_args__ = (Index(None, "session_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.id"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CallbackRow(Base):
    """A callback that keeps the customer's place: the contact to call back, the number,
    and where it stands. `entered_at` is when the customer first entered the queue (the
    place kept); `seq` breaks ties. Written before the customer is told it is booked."""

    __tablename__ = "callbacks"
    __table_args__ = (
        UniqueConstraint("contact_id"),
        Index(None, "state", "entered_at"),
        Index(None, "number", "requested_at"),
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"))
    origin_contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"))
    queue: Mapped[str] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column()
    language: Mapped[str] = mapped_column(String(16))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TranscriptRow(Base):
    """The text of a recorded conversation or voicemail (one per recording), with its
    keyword flags and sentiment; `words` holds each word's time and confidence."""

    __tablename__ = "transcripts"
    __table_args__ = (
        UniqueConstraint("recording"),
        Index(None, "contact_id"),
        Index(None, "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"))
    recording: Mapped[str] = mapped_column(String(200))
    queue: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(16))
    engine: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text())
    word_count: Mapped[int] = mapped_column()
    confidence: Mapped[float] = mapped_column(Float())
    words: Mapped[list[Any]] = mapped_column(JSONDoc)
    flags: Mapped[list[Any]] = mapped_column(JSONDoc)
    sentiment: Mapped[float | None] = mapped_column(Float())


# The knowledge base's rows live in their own module; imported here so Base.metadata
# (migrations, schema checks) has every table.
from hotline.store import blob_rows as _blob_rows  # noqa: E402, F401
from hotline.store import evaluation_rows as _evaluation_rows  # noqa: E402, F401
from hotline.store import knowledge_rows as _knowledge_rows  # noqa: E402, F401
