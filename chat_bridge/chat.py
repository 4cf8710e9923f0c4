"""One live chat: its thread's messages (numbered, stored before they are delivered),
who receives them, and the customer's input waiting for the flow.

A `LiveChat` is the in-memory side of a `chat_sessions` row. Every message — the
customer's, the flow's, the agent's — goes through `post`: it gets the next sequence
number, is committed to the store (with its `chat.message` event), and only then is
sent to the customer's open connections (widget tabs or a messenger) and to the agent.
A client that reconnects asks for everything after the last number it saw.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from chat_bridge.text_port import Button, Input
from hotline.contacts import ContactLifecycle
from hotline.flows.port import CallerGone
from hotline.store.chats import ChatMessage, ChatSession, ChatStore

log = logging.getLogger(__name__)

State = Literal["new", "flow", "queued", "agent", "closed"]
Sender = Literal["customer", "agent", "system"]

#: A sink takes a frame for the customer; it must not block (a connection queues it).
Sink = Callable[[dict[str, Any]], None]


@dataclass
class LiveChat:
    """The live state of one chat session."""

    session: ChatSession
    store: ChatStore
    seq: int = 0
    client_ids: dict[str, int] = field(default_factory=dict)
    state: State = "new"
    contact_id: str | None = None
    customer_id: int | None = None
    language: str = "en"
    agent: str | None = None
    queue: str | None = None
    #: The flow this chat runs (chat.flow, or an entry's).
    flow: str = "chat"
    sinks: set[Sink] = field(default_factory=set)
    #: Called with each stored message (the agent hub forwards it to the agent's desk).
    watchers: list[Callable[[LiveChat, ChatMessage], None]] = field(default_factory=list)
    inbox: asyncio.Queue[Input | None] = field(default_factory=asyncio.Queue)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: The next customer message answers a sensitive question: store it masked.
    sensitive_next: bool = False
    #: What the customer's next message answers while queued ("callback_phone").
    pending: str | None = None
    #: Set when the agent part of the chat is over (closed, transferred, customer gone).
    agent_done: asyncio.Event = field(default_factory=asyncio.Event)
    #: Where the agent transferred the chat, if they did: (queue).
    transfer_to: str | None = None
    #: Skills the transferred chat requires (an agent's own skill: to that agent only).
    transfer_skills: dict[str, int] | None = None
    #: The customer ended the chat (close button, or inactivity).
    customer_left: bool = False
    closed_by: str | None = None
    #: chat.closed is logged for the current contact (by the agent's close).
    closed_logged: bool = False
    #: The current contact's lifecycle (hotline/contacts): open, outcomes, close.
    contact: ContactLifecycle | None = None
    task: asyncio.Task[None] | None = None
    last_customer: float = 0.0
    last_agent: float = 0.0
    #: Live (unstored) frames: typing, queue position.
    last_queue_frame: dict[str, Any] | None = None

    @property
    def agent_seen(self) -> bool:
        """An agent took the current contact."""
        return self.contact is not None and self.contact.run.agent_answered

    def agent_answered(self) -> None:
        """An agent took the current contact (it is served, whatever happens next)."""
        if self.contact is not None:
            self.contact.run.agent_answered = True

    @property
    def id(self) -> str:
        return self.session.id

    @property
    def token(self) -> str:
        return self.session.token

    @property
    def kind(self) -> str:
        return self.session.kind

    # ---- messages -------------------------------------------------------------------

    async def post(
        self,
        sender: Sender,
        text: str,
        *,
        kind: str = "text",
        agent: str | None = None,
        client_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> tuple[ChatMessage, bool]:
        """Store a message, then deliver it. Returns (message, new); a customer message
        resent with a client id already stored is not stored again (new is False)."""
        async with self.lock:
            if client_id is not None and client_id in self.client_ids:
                seq = self.client_ids[client_id]
                return ChatMessage(self.id, seq, sender, kind, text, client_id=client_id), False
            draft = ChatMessage(
                session_id=self.id,
                seq=0,  # numbered by the store, from the last stored (not from memory)
                sender=sender,
                kind=kind,
                text=text,
                contact_id=self.contact_id,
                agent=agent,
                data=data or {},
                client_id=client_id,
            )
            # Committed before anyone sees it; ChatNotHeld if this process lost the chat.
            message, new = await self.store.add_message(draft)
            self.seq = max(self.seq, message.seq)
            if client_id is not None:
                self.client_ids[client_id] = message.seq
            if not new:  # stored already (by this chat's copy on another process)
                return message, False
        self.send({"v": 1, "type": "message", **message.public()})
        for watcher in list(self.watchers):
            try:
                watcher(self, message)
            except Exception:
                log.exception("chat %s: watcher failed", self.id)
        return message, True

    def send(self, frame: dict[str, Any]) -> None:
        """A frame to every open connection of the customer."""
        for sink in list(self.sinks):
            try:
                sink(frame)
            except Exception:
                log.exception("chat %s: sink failed", self.id)

    def set_state(self, state: State) -> None:
        self.state = state
        self.send({"v": 1, "type": "state", "state": state})

    # ---- the text port's conversation ------------------------------------------------

    async def say(self, text: str, *, buttons: Sequence[Button] = (), **data: Any) -> None:
        if self.customer_left:
            raise CallerGone
        payload = dict(data)
        if buttons:
            payload["buttons"] = [{"value": b.value, "label": b.label} for b in buttons]
        self.sensitive_next = bool(payload.get("sensitive"))
        if payload.get("closing"):
            self.closed_by = payload["closing"]
        # A flow's file is an attachment message, like an agent's (chat_bridge/text_port).
        kind = "attachment" if "attachment" in payload else "text"
        await self.post("system", text, kind=kind, data=payload)

    async def next_input(self, timeout: float) -> Input | None:
        if self.customer_left:
            raise CallerGone
        try:
            item = await asyncio.wait_for(self.inbox.get(), timeout)
        except TimeoutError:
            return None
        if item is None:  # the chat was closed while we waited
            raise CallerGone
        return item

    async def end(self) -> None:
        self.closed_by = self.closed_by or "flow"

    def gone(self) -> None:
        """The customer left: wake the flow so it ends."""
        self.customer_left = True
        self.inbox.put_nowait(None)
        if not self.agent:  # with an agent, the agent's close (and wrap-up) ends it
            self.agent_done.set()
