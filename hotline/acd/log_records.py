"""How the routing service writes the router's events (and its own) to the event log."""

from __future__ import annotations

from typing import Any

from hotline.acd.decisions import Offer
from hotline.acd.events import RoutingEvent
from hotline.acd.model import Channel, Contact
from hotline.acd.outbox import LogRecord
from hotline.acd.restore import ENTRY_EVENTS, logged_timeout


def router_record(event: RoutingEvent, offer: Offer | None, entered: Contact | None) -> LogRecord:
    """The log record of a router event. `offer`: the live offer a "contact.offer"
    announces; `entered`: the contact a join or restore put in a queue."""
    data: dict[str, Any] = {"at": event.at}
    if event.channel is not None:
        data["channel"] = event.channel.value
    if event.from_state is not None:
        data["from"] = event.from_state.value
    if event.to_state is not None:
        data["to"] = event.to_state.value
    if event.reason is not None:
        data["reason"] = event.reason
    if event.type == "contact.offer":
        data["explanation"] = event.detail
        if offer is not None:
            data["ring_timeout"] = offer.ring_timeout
            if offer.ring_group:
                data["ring_group"] = list(offer.ring_group)
    elif event.detail is not None:
        data["detail"] = event.detail
    if event.type in ENTRY_EVENTS and entered is not None:
        # All it takes to put the contact back at its place after a restart.
        data["priority"] = entered.priority
        data["skills"] = dict(entered.skills)
        data["timeout"] = logged_timeout(entered.timeout)
        data["waited"] = round(max(0.0, event.at - entered.entered_at), 3)
    return LogRecord(
        type=event.type,
        data=data,
        contact_id=event.contact,
        queue=event.queue,
        agent=event.agent,
    )


def agent_record(type: str, at: float, agent: str, channel: Channel) -> LogRecord:
    """A service event about an agent's channel (agent.reachable, agent.unreachable)."""
    return LogRecord(
        type=type,
        data={"at": at, "channel": channel.value},
        contact_id=None,
        queue=None,
        agent=agent,
    )
