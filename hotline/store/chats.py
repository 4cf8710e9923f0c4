"""The chat part of the store: sessions, messages (written as they arrive, in batches
that commit together) and attachments' metadata; customers found by chat id or e-mail.

Each message's `chat.message` event is written in the message's own transaction
(not through `Store.append`, so listeners do not see it: a wallboard counts chats from
chat.started/chat.closed, not one event per line typed).

Built on `Store.write`/`Store.read`, like every feature store. Sequence numbers are
given here, in the write's transaction, from the session's last stored message (its
session row locked first on PostgreSQL, so two writers of one chat number one after the
other): not from a process's memory, which may be stale when several web processes
take a chat from one another (issue #20). A customer message whose client id is stored
already is not stored again. With a `fence` (chat_bridge/claims.py), a message is
written only if the fence says, in the same transaction, that this process holds its
chat's claim; otherwise it is refused (`ChatNotHeld`) and nothing of it is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hotline.events import EventType
from hotline.store.coltypes import utcnow
from hotline.store.models import (
    ChatAttachmentRow,
    ChatMessageRow,
    ChatSessionRow,
    CustomerRow,
    table_of,
)
from hotline.store.notes import contact_annotations
from hotline.store.raw_rows import DriverOp, RawInserter
from hotline.store.records import Contact, Customer, LoggedEvent
from hotline.store.store import CONTACTS, EVENTS, Store

SESSIONS = table_of(ChatSessionRow)
MESSAGES = table_of(ChatMessageRow)
ATTACHMENTS = table_of(ChatAttachmentRow)
CUSTOMERS = table_of(CustomerRow)

SESSION_FIELDS = frozenset({"customer_id", "contact_id", "language", "state", "agent"})


@dataclass(frozen=True)
class ChatSession:
    id: str
    token: str
    kind: str
    external_id: str | None
    customer_id: int | None
    contact_id: str | None
    language: str | None
    state: str
    agent: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ChatMessage:
    """One message; `sender` is customer, agent or system."""

    session_id: str
    seq: int
    sender: str
    kind: str
    text: str
    contact_id: str | None = None
    agent: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    client_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None

    def public(self) -> dict[str, Any]:
        """What the widget and the desk are sent."""
        return {
            "seq": self.seq,
            "from": self.sender,
            "kind": self.kind,
            "text": self.text,
            "agent": self.agent,
            "data": self.data,
            "client_id": self.client_id,
            "at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class ChatAttachment:
    id: str
    session_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    path: str
    created_at: datetime


class ChatNotHeld(Exception):
    """A message refused: this process does not hold its chat's claim (any more)."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"chat {session_id} is not run by this process any more")
        self.session_id = session_id


class ChatFence(Protocol):
    """Which chats this process may write messages to (several web processes)."""

    async def holding(self, conn: AsyncConnection, session_ids: Sequence[str]) -> set[str]:
        """Those of `session_ids` whose claim this process holds, checked on `conn`
        (the write's own transaction): database work only."""
        ...

    def fenced(self, session_id: str) -> None:
        """A message to `session_id` was refused: this process must stop serving it."""
        ...


#: (stored message, new) per message written; None: refused by the fence.
Written = tuple[ChatMessage, bool] | None


class ChatStore:
    """Chat sessions and messages in the Hotline database."""

    def __init__(self, store: Store, *, batch: int = 500) -> None:
        self.store = store
        self.batch = batch
        self._pending: list[tuple[ChatMessage, asyncio.Future[Written]]] = []
        self._writer: asyncio.Task[None] | None = None
        #: Set on a web process (chat_bridge/cluster.py): messages only to chats held.
        self.fence: ChatFence | None = None

    # sessions

    async def create_session(
        self,
        kind: str,
        *,
        external_id: str | None = None,
        customer_id: int | None = None,
        language: str | None = None,
    ) -> ChatSession:
        now = utcnow()
        values: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "token": secrets.token_urlsafe(32),
            "kind": kind,
            "external_id": external_id,
            "customer_id": customer_id,
            "contact_id": None,
            "language": language,
            "state": "new",
            "agent": None,
            "created_at": now,
            "updated_at": now,
        }
        await self.store.write(lambda c: c.execute(insert(SESSIONS).values(values)), "chat session")
        return ChatSession(**values)

    async def session(self, session_id: str) -> ChatSession | None:
        query = select(SESSIONS).where(SESSIONS.c.id == session_id)
        return _session(await self.store.read(lambda c: _first(c, query), "chat session"))

    async def session_by_token(self, token: str) -> ChatSession | None:
        query = select(SESSIONS).where(SESSIONS.c.token == token)
        return _session(await self.store.read(lambda c: _first(c, query), "chat session"))

    async def session_for_external(self, kind: str, external_id: str) -> ChatSession | None:
        """The newest session of this messenger user (or widget visitor)."""
        query = (
            select(SESSIONS)
            .where(SESSIONS.c.kind == kind, SESSIONS.c.external_id == external_id)
            .order_by(SESSIONS.c.created_at.desc())
            .limit(1)
        )
        return _session(await self.store.read(lambda c: _first(c, query), "chat session"))

    async def open_sessions(self) -> list[ChatSession]:
        """Sessions whose chat was going on (in the flow, queued or with an agent) with
        their contact still active: what a restarted controller carries on, oldest first."""
        query = (
            select(SESSIONS)
            .join(CONTACTS, CONTACTS.c.id == SESSIONS.c.contact_id)
            .where(SESSIONS.c.state != "closed", CONTACTS.c.status == "active")
            .order_by(SESSIONS.c.created_at, SESSIONS.c.id)
        )
        rows = await self.store.read(lambda c: _all(c, query), "open chat sessions")
        return [ChatSession(**row._mapping) for row in rows]

    async def agent_events(self, agent: str, limit: int = 200) -> list[LoggedEvent]:
        """The agent's latest state events (agent.*), oldest first: enough to find the
        last state of each of their channels."""
        query = (
            select(EVENTS)
            .where(EVENTS.c.agent == agent, EVENTS.c.type.like("agent.%"))
            .order_by(EVENTS.c.ts.desc(), EVENTS.c.id.desc())  # the (agent, ts) index
            .limit(limit)
        )
        rows = await self.store.read(lambda c: _all(c, query), "agent events")
        return [LoggedEvent(**row._mapping) for row in reversed(rows)]

    async def update_session(self, session_id: str, **fields: Any) -> None:
        unknown = set(fields) - SESSION_FIELDS
        if unknown:
            raise TypeError(f"update_session: cannot set {', '.join(sorted(unknown))}")
        stmt = (
            update(SESSIONS)
            .where(SESSIONS.c.id == session_id)
            .values(**fields, updated_at=utcnow())
        )
        await self.store.write(lambda c: c.execute(stmt), "chat session update")

    async def link_customer(
        self, session_id: str, contact_id: str | None, customer_id: int
    ) -> None:
        """The chat turned out to be this customer's (an e-mail or phone they gave)."""

        async def op(conn: AsyncConnection) -> None:
            await conn.execute(
                update(SESSIONS)
                .where(SESSIONS.c.id == session_id)
                .values(customer_id=customer_id, updated_at=utcnow())
            )
            if contact_id is not None:
                await conn.execute(
                    update(CONTACTS)
                    .where(CONTACTS.c.id == contact_id)
                    .values(customer_id=customer_id)
                )

        await self.store.write(op, "chat customer link")

    # messages

    async def add_message(self, message: ChatMessage) -> tuple[ChatMessage, bool]:
        """Store one message, numbered here (its `seq` is ignored); returns once it is
        committed: (the message as stored, new). A customer message with a client id
        stored already comes back as stored then, with new False. Messages arriving
        while a write is under way are committed together in the next transaction.
        Raises ChatNotHeld (nothing written) if the fence refuses it."""
        future: asyncio.Future[Written] = asyncio.get_running_loop().create_future()
        self._pending.append((message, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())
        written = await future
        if written is None:
            if self.fence is not None:
                self.fence.fenced(message.session_id)
            raise ChatNotHeld(message.session_id)
        return written

    async def _write_pending(self) -> None:
        while self._pending:
            chunk, self._pending = self._pending[: self.batch], self._pending[self.batch :]
            op = NumberedMessages([m for m, _ in chunk], self.fence)
            # A fence is asked on the connection: such a write goes through SQLAlchemy.
            write = op if self.fence is None else op.__call__
            try:
                results = await self.store.write(write, "chat messages")
            except Exception as error:
                for _, future in chunk:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), written in zip(chunk, results, strict=True):
                if not future.done():
                    future.set_result(written)

    async def flush(self) -> None:
        """Wait until every message handed in so far is written."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer

    async def messages(
        self, session_id: str, after: int = 0, limit: int = 1000
    ) -> list[ChatMessage]:
        """A session's messages with seq > after, in order."""
        query = (
            select(MESSAGES)
            .where(MESSAGES.c.session_id == session_id, MESSAGES.c.seq > after)
            .order_by(MESSAGES.c.seq)
            .limit(limit)
        )
        rows = await self.store.read(lambda c: _all(c, query), "chat messages")
        return [_message(row) for row in rows]

    async def contact_messages(self, contact_id: str) -> list[ChatMessage]:
        query = select(MESSAGES).where(MESSAGES.c.contact_id == contact_id).order_by(MESSAGES.c.seq)
        rows = await self.store.read(lambda c: _all(c, query), "chat messages")
        return [_message(row) for row in rows]

    async def last_seq(self, session_id: str) -> int:
        query = select(func.max(MESSAGES.c.seq)).where(MESSAGES.c.session_id == session_id)

        async def op(conn: AsyncConnection) -> int:
            return int((await conn.execute(query)).scalar() or 0)

        return await self.store.read(op, "chat last seq")

    async def client_ids(self, session_id: str) -> dict[str, int]:
        """client_id -> seq of the session's customer messages (resends are no-ops)."""
        query = select(MESSAGES.c.client_id, MESSAGES.c.seq).where(
            MESSAGES.c.session_id == session_id, MESSAGES.c.client_id.is_not(None)
        )
        rows = await self.store.read(lambda c: _all(c, query), "chat client ids")
        return {row.client_id: row.seq for row in rows}

    # attachments

    async def add_attachment(
        self,
        session_id: str,
        *,
        filename: str,
        content_type: str,
        size: int,
        sha256: str,
        path: str,
        attachment_id: str | None = None,
    ) -> ChatAttachment:
        values: dict[str, Any] = {
            "id": attachment_id or str(uuid.uuid4()),
            "session_id": session_id,
            "filename": filename,
            "content_type": content_type,
            "size": size,
            "sha256": sha256,
            "path": path,
            "created_at": utcnow(),
        }
        await self.store.write(lambda c: c.execute(insert(ATTACHMENTS).values(values)), "attach")
        return ChatAttachment(**values)

    async def attachment(self, attachment_id: str) -> ChatAttachment | None:
        query = select(ATTACHMENTS).where(ATTACHMENTS.c.id == attachment_id)
        row = await self.store.read(lambda c: _first(c, query), "attachment")
        return None if row is None else ChatAttachment(**row._mapping)

    # customers

    async def customer_for_chat_id(self, chat_id: str) -> Customer:
        """The customer known by this chat id (widget visitor, messenger user), created
        if new."""
        query = select(CUSTOMERS).where(CUSTOMERS.c.chat_id == chat_id).order_by(CUSTOMERS.c.id)

        async def op(conn: AsyncConnection) -> Row[Any]:
            row = (await conn.execute(query)).first()
            if row is not None:
                return row
            values = {"created_at": utcnow(), "chat_id": chat_id, "attributes": {}}
            await conn.execute(insert(CUSTOMERS).values(values))
            return (await conn.execute(query)).one()

        return Customer(**(await self.store.write(op, "customer for chat id"))._mapping)

    async def customer_for_email(self, email: str) -> Customer | None:
        query = (
            select(CUSTOMERS)
            .where(func.lower(CUSTOMERS.c.email) == email.lower())
            .order_by(CUSTOMERS.c.id)
        )
        row = await self.store.read(lambda c: _first(c, query), "customer for email")
        return None if row is None else Customer(**row._mapping)

    async def history(self, customer_id: int, limit: int = 20) -> list[Contact]:
        """The customer's contacts on every channel, newest first."""
        query = (
            select(CONTACTS)
            .where(CONTACTS.c.customer_id == customer_id)
            .order_by(CONTACTS.c.started_at.desc())
            .limit(limit)
        )
        rows = await self.store.read(lambda c: _all(c, query), "customer history")
        return [Contact(**row._mapping) for row in rows]


class NumberedMessages(DriverOp):
    """A store write op: number `messages` after their sessions' last stored ones and
    insert them with their `chat.message` events, in the batch's transaction (database
    work only, as a write op must be: it may be run again on its own). On SQLite's
    writer it runs on the driver (hotline/store/raw_rows.py: SQLAlchemy's statement
    building was a fifth of the chat server's CPU at 1,000 messages a second), unless a
    fence must be asked on the connection (then `_write_pending` passes it as a plain
    callable)."""

    def __init__(self, messages: list[ChatMessage], fence: ChatFence | None) -> None:
        self.messages = messages
        self.fence = fence
        self.ids = sorted({m.session_id for m in messages})
        self.client_ids = sorted({m.client_id for m in messages if m.client_id is not None})

    async def __call__(self, conn: AsyncConnection) -> list[Written]:
        ids = self.ids
        if conn.dialect.name == "postgresql":
            # Writers of one chat queue here (in session id order: no deadlock between
            # two batches); the fence and the numbering below then see the last commit.
            lock = select(SESSIONS.c.id).where(SESSIONS.c.id.in_(ids)).order_by(SESSIONS.c.id)
            await conn.execute(lock.with_for_update())
        held = set(ids) if self.fence is None else await self.fence.holding(conn, ids)
        mine = sorted(held)
        last: dict[str, int] = {}
        known: dict[tuple[str, str], int] = {}
        if mine:
            query = (
                select(MESSAGES.c.session_id, func.max(MESSAGES.c.seq))
                .where(MESSAGES.c.session_id.in_(mine))
                .group_by(MESSAGES.c.session_id)
            )
            last = {row[0]: int(row[1] or 0) for row in (await conn.execute(query)).all()}
            if self.client_ids:
                query = select(MESSAGES.c.session_id, MESSAGES.c.client_id, MESSAGES.c.seq).where(
                    MESSAGES.c.session_id.in_(mine), MESSAGES.c.client_id.in_(self.client_ids)
                )
                known = {(r[0], r[1]): int(r[2]) for r in (await conn.execute(query)).all()}
        results, rows, events = self._numbered(held, last, known)
        if rows:
            await conn.execute(insert(MESSAGES), rows)
        if events:
            await conn.execute(insert(EVENTS), events)
        return results

    def on_driver(self, raw: RawInserter) -> list[Written]:
        assert self.fence is None, "a fenced write runs through SQLAlchemy (_write_pending)"
        ids = self.ids
        marks = ", ".join("?" * len(ids))
        table = MESSAGES.name
        last = {
            sid: int(seq or 0)
            for sid, seq in raw.rows(
                f'SELECT session_id, MAX(seq) FROM "{table}" '
                f"WHERE session_id IN ({marks}) GROUP BY session_id",
                ids,
            )
        }
        known: dict[tuple[str, str], int] = {}
        if self.client_ids:
            wanted = ", ".join("?" * len(self.client_ids))
            known = {
                (sid, client): int(seq)
                for sid, client, seq in raw.rows(
                    f'SELECT session_id, client_id, seq FROM "{table}" '
                    f"WHERE session_id IN ({marks}) AND client_id IN ({wanted})",
                    [*ids, *self.client_ids],
                )
            }
        results, rows, events = self._numbered(set(ids), last, known)
        for row in rows:
            raw.insert_one(MESSAGES, row)
        for event in events:
            raw.insert_one(EVENTS, event)
        return results

    def _numbered(
        self, held: set[str], last: dict[str, int], known: dict[tuple[str, str], int]
    ) -> tuple[list[Written], list[dict[str, Any]], list[dict[str, Any]]]:
        """What each message becomes (numbered, a retry stored already, or refused) and
        the message and event rows to insert; `last` and `known` are updated."""
        results: list[Written] = []
        rows: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for message in self.messages:
            sid = message.session_id
            if sid not in held:
                results.append(None)
                continue
            if message.client_id is not None and (sid, message.client_id) in known:
                results.append((replace(message, seq=known[(sid, message.client_id)]), False))
                continue
            seq = last.get(sid, 0) + 1
            last[sid] = seq
            stored = replace(message, seq=seq)
            if message.client_id is not None:
                known[(sid, message.client_id)] = seq
            rows.append(_message_row(stored))
            if stored.contact_id is not None:
                events.append(_message_event(stored))
            results.append((stored, True))
        return results, rows, events


def _message_row(m: ChatMessage) -> dict[str, Any]:
    return {
        "session_id": m.session_id,
        "contact_id": m.contact_id,
        "seq": m.seq,
        "sender": m.sender,
        "agent": m.agent,
        "kind": m.kind,
        "text": m.text,
        "data": m.data,
        "client_id": m.client_id,
        "created_at": m.created_at,
    }


def _message_event(m: ChatMessage) -> dict[str, Any]:
    """The message's `chat.message` event, committed in the same transaction."""
    return {
        "contact_id": m.contact_id,
        "ts": m.created_at,
        "type": EventType.CHAT_MESSAGE.value,
        "queue": None,
        "agent": m.agent,
        "data": {"from": m.sender, "message_id": m.seq, "session": m.session_id, "kind": m.kind},
    }


def _message(row: Row[Any]) -> ChatMessage:
    return ChatMessage(**row._mapping)


def _session(row: Row[Any] | None) -> ChatSession | None:
    return None if row is None else ChatSession(**row._mapping)


async def _first(conn: AsyncConnection, query: Any) -> Row[Any] | None:
    return (await conn.execute(query)).first()


async def _all(conn: AsyncConnection, query: Any) -> list[Row[Any]]:
    return list((await conn.execute(query)).all())


async def customer_card(store: Store, chats: ChatStore, contact_id: str) -> dict[str, Any]:
    """What an agent sees of a contact: who the customer is, what the flow collected
    (language, account, reason...) and their previous contacts on every channel."""
    contact = await store.contact(contact_id)
    if contact is None:
        return {"contact_id": contact_id, "known": False}
    customer = await store.customer(contact.customer_id) if contact.customer_id else None
    collected: dict[str, Any] = dict(contact.variables)
    language = contact.language
    for event in await store.events(contact_id):
        if event.type == "flow.variable" and event.data.get("name"):
            collected[event.data["name"]] = event.data.get("value")
        elif event.type == "flow.language":
            language = event.data.get("language")
    history = []
    if customer is not None:
        history = [
            {
                "contact_id": c.id,
                "channel": c.channel,
                "started_at": c.started_at.isoformat(),
                "status": c.status,
                "flow": c.flow,
                "source": c.source,
            }
            for c in await chats.history(customer.id)
            if c.id != contact_id
        ]
    # Each contact's wrap-up code and notes, this one's too (hotline/store/notes.py).
    notes = await contact_annotations(store, [contact_id, *(str(h["contact_id"]) for h in history)])
    for item in history:
        item.update(notes[str(item["contact_id"])])
    return {
        "contact_id": contact_id,
        "known": True,
        "notes": notes[contact_id]["notes"],
        "channel": contact.channel,
        "source": contact.source,
        "started_at": contact.started_at.isoformat(),
        "language": language,
        "collected": {k: v for k, v in collected.items() if v is not None},
        "customer": None
        if customer is None
        else {
            "id": customer.id,
            "name": customer.display_name,
            "phone": customer.phone,
            "email": customer.email,
            "chat_id": customer.chat_id,
        },
        "history": history,
    }
