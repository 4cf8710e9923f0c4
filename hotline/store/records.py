"""What the store returns: plain frozen dataclasses, and the allowed enum values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    """How the contact reached us (or we reached them)."""

    VOICE = "voice"
    CHAT = "chat"
    CALLBACK = "callback"
    #: An agent's outbound call (click-to-call): the agent's phone first, then the customer.
    OUTBOUND = "outbound"


class Direction(StrEnum):
    """Who started the contact."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class ContactStatus(StrEnum):
    """A contact's summary status; every status but ACTIVE is final."""

    ACTIVE = "active"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    FAILED = "failed"
    LOST = "lost"
    TRANSFERRED = "transferred"


@dataclass(frozen=True)
class Customer:
    """A customer record."""

    id: int
    created_at: datetime
    display_name: str | None
    phone: str | None
    email: str | None
    chat_id: str | None
    language: str | None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Contact:
    """A contact (call, chat or callback) with its current summary."""

    id: str
    channel: str
    direction: str
    customer_id: int | None
    source: str
    destination: str
    started_at: datetime
    ended_at: datetime | None
    status: str
    flow: str | None
    flow_version: str | None
    language: str | None
    node: str | None
    variables: dict[str, Any]
    asterisk_channel: str | None
    asterisk_node: str | None


@dataclass(frozen=True)
class LoggedEvent:
    """One entry of the contact event log; `id` gives the global order."""

    id: int
    contact_id: str | None
    ts: datetime
    type: str
    queue: str | None
    agent: str | None
    data: dict[str, Any]
