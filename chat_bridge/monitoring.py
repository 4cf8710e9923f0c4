"""Supervisors on live chats (issue 18): read a chat as it happens, whisper a private
note to its agent, take it over.

- Read: the thread so far, then each new message as it is stored (a watcher on the
  `LiveChat`), and the notes; it ends when the supervisor stops reading, or the
  agent's part of the chat ends (closed, transferred, taken over). monitor.started
  and monitor.ended (mode "read") are in the contact's log.
- Whisper: a note for the agent only. It is logged (`chat.whisper`) before it is shown
  on the agent's desk (and to whoever reads the chat); it never goes through the
  chat's `post`, so neither the customer's widget nor a messenger can ever get it,
  and it is not in the thread the customer is sent on reconnecting.
- Take over: for a supervisor who is an agent too (`agents:` with `role: supervisor`):
  the agent's desk is told, `chat.taken_over` is logged, and the chat goes to the
  supervisor through the agents' own transfer to a named agent (the routing engine
  counts it on the supervisor, within their chat capacity), accepted at once: it
  opens on their desk with its whole thread and the notes.

Refusals are the call control's errors (`hotline/calls/errors.py`): each carries its
HTTP status and a clear text, and leaves the chat as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chat_bridge.agents import AgentHub, DeskError
from chat_bridge.chat import LiveChat
from hotline.acd.decisions import Offer
from hotline.acd.model import Channel
from hotline.acd.service import RoutingService
from hotline.calls import BadCommand, Conflict, NotFound
from hotline.store import Store
from hotline.store.chats import ChatMessage

log = logging.getLogger(__name__)

Push = Callable[[dict[str, Any]], None]

#: The longest whispered note.
MAX_NOTE = 2000
#: How often a reader checks that the agent still has the chat (an agent's close or a
#: customer leaving need not come with a message).
CHECK_SECONDS = 0.5


@dataclass(eq=False)
class _Reader:
    contact_id: str
    supervisor: str
    agent: str
    push: Push
    started: float
    chat: LiveChat
    watcher: Callable[[LiveChat, ChatMessage], None] | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class ChatMonitors:
    """Reading, whispering and taking over live chats (see the module docstring)."""

    def __init__(
        self,
        hub: AgentHub,
        store: Store,
        routing: RoutingService,
        *,
        tell_agent: bool = False,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        """`tell_agent`: the agent's desk is told when a supervisor starts and stops
        reading their chat (monitoring.tell_agent other than "no": a chat has no beep)."""
        self.hub = hub
        self.store = store
        self.routing = routing
        self.tell_agent = tell_agent
        self.now = now
        #: Private notes per contact, shown with the thread on the agent's desk.
        self.notes: dict[str, list[dict[str, Any]]] = {}
        #: (contact id, agent) of take-overs whose offer is accepted at once.
        self.takes: set[tuple[str, str]] = set()
        self.readers: dict[str, list[_Reader]] = {}
        hub.notes = self.notes_of
        hub.taking_over = self._taking_over

    # Reading

    async def thread(self, contact_id: str) -> dict[str, Any]:
        """The chat so far: its messages, notes, agent, queue and customer card."""
        chat = self._live(contact_id)
        messages = await self.hub.chats.messages(chat.id, after=0)
        return {
            "contact_id": contact_id,
            "agent": chat.agent,
            "queue": chat.queue,
            "customer_left": chat.customer_left,
            "messages": [m.public() for m in messages],
            "notes": self.notes_of(contact_id),
            "card": await self.hub.card(contact_id),
        }

    async def read(
        self, contact_id: str, supervisor: str, push: Push
    ) -> Callable[..., Awaitable[None]]:
        """Start reading: `push` gets the thread ({"type": "chat", ...}), then each
        message ("message"), note ("note") and the end ("ended", with the reason).
        Returns what stops it (with a reason other than "stopped" if need be)."""
        chat = self._live(contact_id)
        agent = chat.agent or ""
        reader = _Reader(contact_id, supervisor, agent, push, self.now(), chat)

        def watcher(_chat: LiveChat, message: ChatMessage) -> None:
            push({"type": "message", "contact_id": contact_id, "message": message.public()})

        # Watching first: a message stored while the thread is read is pushed too (the
        # reader tells them apart by number), never lost between the two.
        reader.watcher = watcher
        chat.watchers.append(watcher)
        self.readers.setdefault(contact_id, []).append(reader)
        try:
            push({"type": "chat", **await self.thread(contact_id)})
        except NotFound:
            await self._end(reader, "chat_ended", logged=False)
            raise
        await self.store.append(
            contact_id,
            "monitor.started",
            {"supervisor": supervisor, "agent": agent, "mode": "read", "phone": ""},
            agent=agent,
        )
        log.info("contact=%s chat read by %s", contact_id, supervisor)
        self._tell(reader, on=True)
        checking = asyncio.create_task(self._check(reader), name=f"chat-read-{contact_id}")

        async def stop(reason: str = "stopped") -> None:
            """`reason`: stopped (asked), or reader_gone (the page's web process died)."""
            # Ended already (the chat's end): let that end be logged whole, not cut short.
            if not reader.ended.is_set():
                checking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checking
            await self._end(reader, reason)

        return stop

    async def _check(self, reader: _Reader) -> None:
        while not reader.ended.is_set():
            await asyncio.sleep(CHECK_SECONDS)
            chat = reader.chat
            if chat.agent != reader.agent or self._open(reader.contact_id) is not chat:
                await self._end(reader, "chat_ended")

    async def _end(self, reader: _Reader, reason: str, *, logged: bool = True) -> None:
        if reader.ended.is_set():
            return
        reader.ended.set()
        if reader.watcher in reader.chat.watchers:
            reader.chat.watchers.remove(reader.watcher)
        readers = self.readers.get(reader.contact_id, [])
        if reader in readers:
            readers.remove(reader)
        if not readers:
            self.readers.pop(reader.contact_id, None)
        with contextlib.suppress(Exception):  # the page may be gone already
            reader.push({"type": "ended", "contact_id": reader.contact_id, "reason": reason})
        if not logged:
            return
        # Else the chat left the agent's desk (or moved to the taker's): nothing to tell.
        if reason in ("stopped", "reader_gone"):
            self._tell(reader, on=False)
        seconds = round(self.now() - reader.started, 1)
        await self.store.append(
            reader.contact_id,
            "monitor.ended",
            {
                "supervisor": reader.supervisor,
                "agent": reader.agent,
                "reason": reason,
                "seconds": seconds,
                "modes": {"read": seconds},
            },
            agent=reader.agent,
        )
        log.info(
            "contact=%s chat reading by %s ended: %s", reader.contact_id, reader.supervisor, reason
        )

    def _tell(self, reader: _Reader, *, on: bool) -> None:
        """The agent's desk: a supervisor reads this chat now (or no longer)."""
        if not self.tell_agent:
            return
        frame = {
            "type": "monitored",
            "channel": "chat",
            "contact_id": reader.contact_id,
            "on": on,
            "mode": "read",
            "supervisor": reader.supervisor,
        }
        self._desk(reader.agent, frame)

    # Whispering

    async def whisper(self, contact_id: str, supervisor: str, text: object) -> dict[str, Any]:
        """A private note to the chat's agent (never to the customer)."""
        if not isinstance(text, str) or not text.strip():
            raise BadCommand('"text" must be a non-empty text')
        if len(text) > MAX_NOTE:
            raise BadCommand(f'"text" is {len(text)} characters; at most {MAX_NOTE}')
        chat = self._live(contact_id)
        agent = chat.agent or ""
        text = text.strip()
        # Logged before anyone sees it, as every chat message is.
        await self.store.append(
            contact_id,
            "chat.whisper",
            {"supervisor": supervisor, "agent": agent, "text": text},
            agent=agent,
        )
        note = {
            "from": supervisor,
            "text": text,
            "private": True,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._prune()
        self.notes.setdefault(contact_id, []).append(note)
        self._desk(agent, {"type": "whisper", "contact_id": contact_id, "note": note})
        for reader in list(self.readers.get(contact_id, ())):
            reader.push({"type": "note", "contact_id": contact_id, "note": note})
        log.info("contact=%s %s whispered to %s", contact_id, supervisor, agent)
        return note

    def notes_of(self, contact_id: str) -> list[dict[str, Any]]:
        return list(self.notes.get(contact_id, ()))

    # Taking over

    async def take_over(
        self, contact_id: str, supervisor: str, desk_agent: str | None
    ) -> dict[str, Any]:
        """Move the chat to `desk_agent` (the supervisor as a routing agent)."""
        chat = self._live(contact_id)
        agent = chat.agent or ""
        if desk_agent is None:
            raise Conflict(
                f"{supervisor} has no desk to take the chat to: a supervisor who takes "
                "chats over is an agent too (agents: ... role: supervisor in hotline.yaml)"
            )
        if desk_agent == agent:
            raise Conflict(f"contact {contact_id} is already on {supervisor}'s desk")
        if chat.customer_left:
            raise Conflict("the customer has left this chat")
        if desk_agent not in self.hub.agent_queues:
            raise Conflict(f"{desk_agent} serves no queue, so cannot take chats")
        why = self.routing.unavailable(desk_agent, Channel.CHAT)
        if why is not None:
            raise Conflict(f"{supervisor} cannot take the chat now: {why}")
        self.takes.add((contact_id, desk_agent))
        self._desk(agent, {"type": "taken_over", "contact_id": contact_id, "by": supervisor})
        await self.store.append(
            contact_id, "chat.taken_over", {"supervisor": supervisor, "agent": agent}, agent=agent
        )
        for reader in list(self.readers.get(contact_id, ())):
            await self._end(reader, "taken_over")
        try:
            await self.hub.transfer(agent, contact_id, to_agent=desk_agent)
        except DeskError as refused:
            self.takes.discard((contact_id, desk_agent))
            raise Conflict(str(refused)) from None
        log.info("contact=%s taken over from %s by %s", contact_id, agent, supervisor)
        return {"contact_id": contact_id, "agent": desk_agent, "from_agent": agent}

    def _taking_over(self, offer: Offer) -> bool:
        key = (offer.contact.id, offer.agent)
        if key in self.takes:
            self.takes.discard(key)
            return True
        return False

    # Helpers

    def _desk(self, agent: str, frame: dict[str, Any]) -> None:
        """`frame` to the agent's desks: here, or on every web process where chats run
        on several (the hub's relay, chat_bridge/cluster.py)."""
        self.hub._push(agent, frame)

    def _open(self, contact_id: str) -> LiveChat | None:
        for chats in self.hub.open.values():
            chat = chats.get(contact_id)
            if chat is not None:
                return chat
        return None

    def _live(self, contact_id: str) -> LiveChat:
        chat = self._open(contact_id)
        if chat is None:
            raise NotFound(f"contact {contact_id} has no live chat with an agent")
        return chat

    def _prune(self) -> None:
        """Forget the notes of chats no agent has any more (they stay in the log)."""
        for contact_id in list(self.notes):
            pending = any(c == contact_id for c, _ in self.takes)
            if self._open(contact_id) is None and not pending:
                del self.notes[contact_id]
