"""What a restarted controller does with each chat that was going on (pure logic).

A chat's place comes from its contact's events, read the way voice callers' are
(`hotline/acd/restore.py` `place_of`): waiting in a queue since its original entry, or
answered by an agent. Agents' chat presence comes from their own state events: the
desk's socket died with the old controller, so a logged-in agent comes back logged in,
held as unreachable until their desk reconnects.

A chat in the middle of its flow (a menu, a collect, the survey after the agent) has
no place: the flow interpreter (`hotline/flows/interpreter.py`) only runs a flow from
its start node, and a node's progress (retries, the subflow stack, answers stored
masked) is not in the log. Such a chat starts the flow again as a new contact, and the
old contact ends `lost`, reason `controller_restart`, as a voice caller mid-IVR does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hotline.acd.model import Channel
from hotline.acd.restore import Logged, Place, place_of
from hotline.acd.service import UNREACHABLE_REASON
from hotline.flows.services import QueueRequest

#: Why a contact that could not be carried on ended `lost` (the voice side's word).
RESTART_REASON = "controller_restart"


class Resume(StrEnum):
    """How a chat carries on."""

    QUEUED = "queued"  # back in its queue at its place
    AGENT = "agent"  # still with its agent
    RESTART = "restart"  # the flow again, as a new contact


@dataclass(frozen=True)
class ChatPlan:
    """One open chat and how it carries on."""

    contact_id: str
    how: Resume
    place: Place | None
    language: str | None


@dataclass(frozen=True)
class Presence:
    """An agent's chat channel as the log last showed it: logged in, available or
    paused with a reason of the agent's own."""

    paused: str | None = None


def plan_chat(contact_id: str, events: Iterable[Logged]) -> ChatPlan:
    """How the chat of this contact carries on, from its events in log order."""
    events = list(events)
    place = place_of(contact_id, events)
    language = last_language(events)
    if place is None or place.channel is not Channel.CHAT:
        return ChatPlan(contact_id, Resume.RESTART, None, language)
    how = Resume.QUEUED if place.waiting else Resume.AGENT
    return ChatPlan(contact_id, how, place, language)


def last_language(events: Iterable[Logged]) -> str | None:
    """The language the flow last chose (`flow.language`), if any."""
    chosen = None
    for event in events:
        if event.type == "flow.language" and (event.data or {}).get("language"):
            chosen = str(event.data["language"])
    return chosen


def chat_presence(events: Iterable[Logged]) -> Presence | None:
    """The agent's chat channel from their state events in log order; None when they
    were logged out of chat (or never logged in)."""
    last: tuple[str, str | None] | None = None
    for event in events:
        data: dict[str, Any] = event.data or {}
        if data.get("channel") == Channel.CHAT.value and data.get("to"):
            last = (str(data["to"]), data.get("reason"))
    if last is None or last[0] == "offline":
        return None
    state, reason = last
    if state == "paused" and reason and reason != UNREACHABLE_REASON:
        return Presence(paused=str(reason))
    return Presence()


def request_of(place: Place, language: str) -> QueueRequest:
    """The queue request a restored chat carries on with (a transfer re-queues it with
    the same priority, skills and max wait)."""
    return QueueRequest(
        place.queue, place.priority, dict(place.skills), place.timeout, language, {}
    )
