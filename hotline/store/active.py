"""Contacts still open: what a restarted controller must take over or close."""

from __future__ import annotations

from sqlalchemy import select

from hotline.store.records import Contact, ContactStatus
from hotline.store.store import CONTACTS, Store, _all


async def active_contacts(store: Store, channel: str) -> list[Contact]:
    """Every contact of `channel` (voice, chat, callback) whose status is still active,
    oldest first."""
    query = (
        select(CONTACTS)
        .where(CONTACTS.c.status == ContactStatus.ACTIVE.value, CONTACTS.c.channel == channel)
        .order_by(CONTACTS.c.started_at, CONTACTS.c.id)
    )
    rows = await store.read(lambda conn: _all(conn, query), "active_contacts")
    return [Contact(**row._mapping) for row in rows]
