"""Wrap-up codes and notes of contacts, read from the contact event log.

A transfer's note (`call.transferred`) is a note of the contact too: it comes with the
call to whoever takes it next.

Both are events (`contact.wrapup`, `contact.note`; a chat's code is in its
`chat.closed`), so they are in the log with everything else and need no table of
their own. The last code given to a contact counts (an agent may correct it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from hotline.store.store import EVENTS, Store, _all

_TYPES = ("contact.wrapup", "contact.note", "chat.closed", "call.transferred")
#: Events that say which agent handled a contact, and in which queue.
_HANDLED = ("contact.answered", "queue.connected")
#: Longest note, in characters.
MAX_NOTE = 2000


async def contact_annotations(
    store: Store, contact_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Per contact: its wrap-up code (or None) and its notes, oldest first."""
    ids = sorted(set(contact_ids))
    found: dict[str, dict[str, Any]] = {cid: {"wrap_up": None, "notes": []} for cid in ids}
    if not ids:
        return found
    query = (
        select(EVENTS)
        .where(EVENTS.c.contact_id.in_(ids), EVENTS.c.type.in_(_TYPES))
        .order_by(EVENTS.c.id)
    )
    rows = await store.read(lambda conn: _all(conn, query), "annotations")
    for row in rows:
        entry = found[row.contact_id]
        data = row.data or {}
        if row.type == "contact.note":
            entry["notes"].append(
                {"text": data.get("text"), "by": data.get("by"), "at": row.ts.isoformat()}
            )
        elif row.type == "call.transferred":
            if data.get("note"):  # the transferring agent's note goes with the call
                entry["notes"].append(
                    {
                        "text": data["note"],
                        "by": data.get("agent") or data.get("by"),
                        "at": row.ts.isoformat(),
                        "transfer": data.get("to"),
                    }
                )
        elif row.type == "contact.wrapup" or data.get("wrap_up"):
            entry["wrap_up"] = data.get("code") or data.get("wrap_up")
    return found


async def handled_by(store: Store, contact_id: str) -> tuple[list[str], str | None]:
    """The agents who answered the contact (in order) and the queue it was answered in."""
    agents: list[str] = []
    queue = None
    for event in await store.events(contact_id):
        if event.type in _HANDLED:
            agent = event.agent or event.data.get("agent")
            if isinstance(agent, str) and agent not in agents:
                agents.append(agent)
            queue = event.queue or event.data.get("queue") or queue
    return agents, queue
