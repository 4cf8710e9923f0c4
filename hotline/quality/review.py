"""Reviewing contacts: the searchable list and everything about one contact.

Search filters contacts by start time, channel and outcome (the contact's status), by
the queue it was in and the agent who handled it (from its events), and by a keyword
said in its transcript or written in its chat. The review of one contact gathers its
event timeline, wrap-up code and notes, chat thread, transcripts (with word timings,
to follow the recording), recordings and evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from hotline.store import Store
from hotline.store.chats import MESSAGES, ChatStore
from hotline.store.coltypes import as_utc
from hotline.store.notes import contact_annotations
from hotline.store.store import CONTACTS, EVENTS, _all
from hotline.store.transcripts import TRANSCRIPTS, Transcripts

#: Events naming the queue a contact was in and the agent who handled it.
ROUTED = ("contact.join", "contact.answered", "queue.connected")
HANDLED = ("contact.answered", "queue.connected")
CHANNELS = ("voice", "chat", "callback", "outbound")
OUTCOMES = ("active", "completed", "abandoned", "failed", "lost", "transferred")
MAX_RESULTS = 500


class SearchError(ValueError):
    """A search refused; the message names the field."""


@dataclass(frozen=True)
class Search:
    start: datetime
    end: datetime
    queue: str | None = None
    agent: str | None = None
    channel: str | None = None
    outcome: str | None = None
    keyword: str | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise SearchError("to must be after from")
        if self.channel is not None and self.channel not in CHANNELS:
            raise SearchError(f"channel must be one of {', '.join(CHANNELS)}")
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise SearchError(f"outcome must be one of {', '.join(OUTCOMES)}")
        if self.keyword is not None and not 2 <= len(self.keyword) <= 200:
            raise SearchError("keyword must be 2 to 200 characters")
        if not 1 <= self.limit <= MAX_RESULTS:
            raise SearchError(f"limit must be 1 to {MAX_RESULTS}")


async def search_contacts(store: Store, search: Search) -> list[dict[str, Any]]:
    """Contacts matching every filter given, newest first, with queue and agents."""
    query = select(CONTACTS).where(
        CONTACTS.c.started_at >= as_utc(search.start, "from"),
        CONTACTS.c.started_at < as_utc(search.end, "to"),
    )
    if search.channel:
        query = query.where(CONTACTS.c.channel == search.channel)
    if search.outcome:
        query = query.where(CONTACTS.c.status == search.outcome)
    if search.queue:
        in_queue = select(EVENTS.c.contact_id).where(
            EVENTS.c.type.in_(ROUTED), EVENTS.c.queue == search.queue
        )
        query = query.where(CONTACTS.c.id.in_(in_queue))
    if search.agent:
        by_agent = select(EVENTS.c.contact_id).where(
            EVENTS.c.type.in_(HANDLED), EVENTS.c.agent == search.agent
        )
        query = query.where(CONTACTS.c.id.in_(by_agent))
    if search.keyword:
        word = search.keyword.lower()
        said = select(TRANSCRIPTS.c.contact_id).where(
            func.lower(TRANSCRIPTS.c.text).contains(word, autoescape=True)
        )
        written = select(MESSAGES.c.contact_id).where(
            MESSAGES.c.contact_id.is_not(None),
            func.lower(MESSAGES.c.text).contains(word, autoescape=True),
        )
        query = query.where(or_(CONTACTS.c.id.in_(said), CONTACTS.c.id.in_(written)))
    query = query.order_by(CONTACTS.c.started_at.desc(), CONTACTS.c.id.desc()).limit(search.limit)
    rows = await store.read(lambda conn: _all(conn, query), "search contacts")
    ids = [row.id for row in rows]
    routed = await _routing(store, ids)
    found = []
    for row in rows:
        queue, agents = routed.get(row.id, (None, []))
        ended = row.ended_at
        found.append(
            {
                "id": row.id,
                "channel": row.channel,
                "direction": row.direction,
                "from": row.source,
                "to": row.destination,
                "started_at": row.started_at.isoformat(),
                "ended_at": ended.isoformat() if ended else None,
                "seconds": round((ended - row.started_at).total_seconds(), 1) if ended else None,
                "outcome": row.status,
                "queue": queue,
                "agents": agents,
            }
        )
    return found


async def _routing(store: Store, ids: list[str]) -> dict[str, tuple[str | None, list[str]]]:
    """Per contact: the last queue it was in and the agents who handled it, in order."""
    if not ids:
        return {}
    query = (
        select(EVENTS.c.contact_id, EVENTS.c.type, EVENTS.c.queue, EVENTS.c.agent)
        .where(EVENTS.c.contact_id.in_(ids), EVENTS.c.type.in_(ROUTED))
        .order_by(EVENTS.c.id)
    )
    rows = await store.read(lambda conn: _all(conn, query), "contact routing")
    found: dict[str, tuple[str | None, list[str]]] = {}
    for row in rows:
        queue, agents = found.get(row.contact_id, (None, []))
        if row.type in HANDLED and row.agent and row.agent not in agents:
            agents = [*agents, row.agent]
        found[row.contact_id] = (row.queue or queue, agents)
    return found


async def review(store: Store, contact_id: str) -> dict[str, Any] | None:
    """Everything about one contact, or None if there is no such contact.

    Transcripts come with each word's timing; recordings by name only (the file is
    served, and its access logged, on its own)."""
    contact = await store.contact(contact_id)
    if contact is None:
        return None
    events = await store.events(contact_id)
    annotations = (await contact_annotations(store, [contact_id]))[contact_id]
    messages = await ChatStore(store).contact_messages(contact_id)
    transcripts = await Transcripts(store).for_contact(contact_id)
    routed = (await _routing(store, [contact_id])).get(contact_id, (None, []))
    recordings = [
        {
            "name": e.data.get("name"),
            "duration": e.data.get("duration"),
            "format": e.data.get("format"),
            "at": e.ts.isoformat(),
        }
        for e in events
        if e.type == "recording.saved" and e.data.get("outcome", "recorded") == "recorded"
    ]
    return {
        "contact": {
            "id": contact.id,
            "channel": contact.channel,
            "direction": contact.direction,
            "from": contact.source,
            "to": contact.destination,
            "started_at": contact.started_at.isoformat(),
            "ended_at": contact.ended_at.isoformat() if contact.ended_at else None,
            "outcome": contact.status,
            "language": contact.language,
            "queue": routed[0],
            "agents": routed[1],
        },
        "timeline": [
            {
                "id": e.id,
                "at": e.ts.isoformat(),
                "type": e.type,
                "queue": e.queue,
                "agent": e.agent,
                "data": {k: v for k, v in e.data.items() if k not in ("file", "asterisk_file")},
            }
            for e in events
        ],
        "wrap_up": annotations["wrap_up"],
        "notes": annotations["notes"],
        "chat": [m.public() for m in messages],
        "transcripts": [t.public(words=True) for t in transcripts],
        "recordings": recordings,
    }


def recording_file(events: list[Any], name: str) -> str | None:
    """The stored file of the contact's recording `name` (never a path from a URL)."""
    found = [
        e.data["file"]
        for e in events
        if e.type == "recording.saved" and e.data.get("name") == name and e.data.get("file")
    ]
    return str(found[-1]) if found else None
