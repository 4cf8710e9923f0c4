"""The chat bridge: every live chat's session (new, resumed, recognised, carried on
after a restart) and the customer's input.

Channels (the widget's WebSocket, Telegram, the JSON webhook) only parse their own
wire format and call `ChatBridge`. What a chat does is in one module each:

- chat_bridge/conversation.py: a contact's life (opened, its flow run as text, closed
  with the one contact lifecycle's status);
- chat_bridge/queueing.py: its time in a queue and with agents;
- chat_bridge/waiting.py: what a waiting chat is told (the core waiting experience) and
  its callback, booked from its place in the queue;
- chat_bridge/agents.py: the agents' side, for the desk;
- chat_bridge/customers.py: an e-mail or phone number given ties the chat to a customer;
- chat_bridge/flow_services.py: the flow services a chat's flow runs with.

Events: chat.message per stored message (hotline/store/chats.py), the rest in the
modules above.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from chat_bridge.agents import AgentHub
from chat_bridge.attachments import Attachments
from chat_bridge.chat import LiveChat, Sink
from chat_bridge.conversation import Conversations
from chat_bridge.customers import CustomerLinks
from chat_bridge.queueing import ChatQueueing
from chat_bridge.resume import RESTART_REASON
from chat_bridge.text_port import Input
from chat_bridge.texts import Texts
from chat_bridge.waiting import ChatWaiting
from hotline.acd.router import RoutingError
from hotline.acd.service import RoutingService, Ticket
from hotline.acd.settings import QueueSettings
from hotline.callbacks.service import CallbackService
from hotline.catalogue import Catalogue
from hotline.chat_settings import ChatConfig
from hotline.contacts import ContactLifecycle, EndReason
from hotline.flows.loader import FlowSet
from hotline.flows.services import FlowServices, QueueRequest
from hotline.store import Store
from hotline.store.chats import ChatNotHeld, ChatStore

log = logging.getLogger(__name__)


class UnknownSession(Exception):
    """No chat session has this token."""


class ChatRefused(Exception):
    """The input cannot be taken now; the message says why (for the customer)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ChatOwner(Protocol):
    """Which web process runs a chat, where several share the store
    (chat_bridge/cluster.py)."""

    async def take(self, session: Any) -> LiveChat:
        """A stored session this process does not run now: taken over here (from a
        dead process, or handed over by a live one), or loaded closed."""
        ...

    async def claim(self, chat: LiveChat) -> None:
        """A chat made here: run here."""
        ...

    async def runs(self, chat: LiveChat, contact_id: str) -> None:
        """`chat`'s contact `contact_id` runs here: desks elsewhere reach it."""
        ...


@dataclass
class BridgeDeps:
    """What the bridge needs from the running Hotline."""

    store: Store
    routing: RoutingService
    flows: Callable[[], FlowSet]
    catalogue: Catalogue | None
    settings: ChatConfig
    #: The flow services of one contact (HTTP integrations, schedules, callbacks...).
    services_for: Callable[[str], FlowServices]
    default_language: str = "en"
    languages: tuple[str, ...] = ("en",)
    agent_names: dict[str, str] | None = None
    #: Agent id -> the queues they serve (a transfer to an agent goes through one).
    agent_queues: dict[str, list[str]] | None = None
    #: Every queue's settings: what a waiting chat is told (hotline/waiting.py).
    queues: Mapping[str, QueueSettings] = field(default_factory=dict)
    #: Callbacks booked from a chat's place in its queue; None: none offered.
    callbacks: CallbackService | None = None
    #: The chat store (made on `store` if not given: attachments share it).
    chats: ChatStore | None = None
    #: Files sent in chats; None: the agents' desk serves none.
    attachments: Attachments | None = None


class ChatBridge:
    """Every live chat of this process."""

    def __init__(self, deps: BridgeDeps) -> None:
        self.deps = deps
        self.store = deps.store
        self.chats = deps.chats or ChatStore(deps.store)
        self.routing = deps.routing
        self.settings = deps.settings
        self.catalogue = deps.catalogue
        self.text = Texts(deps.catalogue)
        self.live: dict[str, LiveChat] = {}
        self.by_token: dict[str, LiveChat] = {}
        self.by_contact: dict[str, LiveChat] = {}
        self.by_external: dict[tuple[str, str], LiveChat] = {}
        self.attachments = deps.attachments
        self.customers = CustomerLinks(deps.store, self.chats)
        self.hub = AgentHub(
            deps.routing,
            deps.store,
            self.chats,
            deps.settings,
            self.text,
            agent_names=deps.agent_names,
            agent_queues=deps.agent_queues,
            attachments=deps.attachments,
        )
        self.waiting = ChatWaiting(
            deps.store,
            deps.routing,
            deps.queues,
            deps.callbacks,
            self.text,
            self.customers.link_phone,
        )
        self.queueing = ChatQueueing(
            deps.routing, self.hub, self.waiting, deps.settings, self.text, self._abandoned
        )
        self.conversations = Conversations(
            deps.store,
            self.chats,
            deps.routing,
            self.queueing,
            self.text,
            deps.settings,
            flows=deps.flows,
            catalogue=deps.catalogue,
            services_for=deps.services_for,
            closed=self._contact_closed,
            # A chat handed over to another web process ends here without closing.
            stopping=lambda: self.stopping or asyncio.current_task() in self._released,
            attachments=deps.attachments,
        )
        self._opening: dict[Any, asyncio.Lock] = {}
        #: Called with each chat taken over after a restart, before it says anything
        #: (the messengers give it its outbox again).
        self.on_adopt: Callable[[LiveChat], None] | None = None
        #: Set by `stop`: chats' tasks end without closing their contacts.
        self.stopping = False
        #: Several web processes (chat_bridge/cluster.py): which one runs a chat. None:
        #: this process runs every chat of the store.
        self.owner: ChatOwner | None = None
        self._released: set[asyncio.Task[Any]] = set()

    async def stop(self) -> None:
        """End every chat's task (the controller is stopping); messages are all stored.
        The chats stay open in the store: the next start carries them on, as after a
        crash (chat_bridge/recovery.py)."""
        self.stopping = True
        tasks = [c.task for c in self.live.values() if c.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.chats.flush()

    # ---- sessions --------------------------------------------------------------------

    async def resume(self, token: str) -> LiveChat:
        """The session with this token (from memory, or the store after a restart)."""
        chat = self.by_token.get(token)
        if chat is not None:
            return chat
        async with self._opening.setdefault(("token", token), asyncio.Lock()):
            chat = self.by_token.get(token)
            if chat is not None:
                return chat
            session = await self.chats.session_by_token(token)
            if session is None:
                raise UnknownSession("no chat session with this id; start a new chat")
            if self.owner is not None:  # run by another process, or left by a dead one
                return await self.owner.take(session)
            return await self._load(session)

    async def release(self, chat: LiveChat) -> None:
        """Stop running `chat` here without closing it (another web process takes it
        over from the store): its task ends, it leaves memory, its messages are stored."""
        task = chat.task
        if task is not None and not task.done():
            self._released.add(task)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            self._released.discard(task)
        for agent in [a for a, chats in self.hub.open.items() if chat.contact_id in chats]:
            self.hub.open[agent].pop(chat.contact_id or "", None)
        for key in [k for k, (_o, c) in self.hub.offers.items() if c is chat]:
            self.hub.offers.pop(key, None)
        await self.chats.flush()
        self.live.pop(chat.id, None)
        self.by_token.pop(chat.token, None)
        if chat.contact_id is not None and self.by_contact.get(chat.contact_id) is chat:
            del self.by_contact[chat.contact_id]
        if chat.session.external_id:
            self.by_external.pop((chat.kind, chat.session.external_id), None)

    def _runs_here(self, chat: LiveChat) -> None:
        """Refuse a customer's input to a chat this process let go (handed over, or its
        claim lost) that reached a socket not closed yet: the chat runs elsewhere now, and
        this copy's message count is stale (issue #20). Not acknowledged, the message is
        sent again by the widget once it has reconnected to the chat's process."""
        if self.owner is not None and self.live.get(chat.id) is not chat:
            raise ChatRefused(
                "moved", "this chat moved to another server; your message is sent again"
            )

    async def _load(self, session: Any, flow: str | None = None) -> LiveChat:
        """A session from the store, closed (a chat still going on when the controller
        stopped was taken over at start-up: chat_bridge/recovery.py); the customer's
        next message reopens it."""
        chat = LiveChat(session=session, store=self.chats, flow=flow or self.settings.flow)
        chat.seq = await self.chats.last_seq(session.id)
        chat.client_ids = await self.chats.client_ids(session.id)
        chat.customer_id = session.customer_id
        chat.language = session.language or self.deps.default_language
        chat.state = "closed"
        chat.contact_id = session.contact_id
        self._register(chat)
        return chat

    # ---- after a controller restart (chat_bridge/recovery.py) -------------------------

    async def adopt(
        self,
        session: Any,
        request: QueueRequest,
        *,
        flow: str | None,
        ticket: Ticket | None = None,
        joined: float | None = None,
        agent: str | None = None,
    ) -> LiveChat:
        """Carry on a chat the previous controller left in a queue (`ticket`, restored
        by the routing engine) or with `agent`: it waits or talks on, and ends when
        that part is over (the rest of its flow is not resumed, see resume.py)."""
        chat = await self._load(session, flow)
        if self.on_adopt is not None:
            self.on_adopt(chat)
        chat.language = request.language
        chat.queue = request.queue
        contact_id = session.contact_id
        self.by_contact[contact_id] = chat
        if self.owner is not None:
            await self.owner.runs(chat, contact_id)
        chat.last_customer = chat.last_agent = time.monotonic()
        if agent is not None:
            chat.agent = agent
            chat.state = "agent"
            self.hub.open.setdefault(agent, {})[contact_id] = chat
        else:
            chat.state = "queued"
        self.conversations.carry_on(chat, request, None if agent is not None else ticket, joined)
        self._follow_task(chat)
        return chat

    async def restart(self, session: Any, language: str | None, flow: str | None) -> LiveChat:
        """A chat whose place in its flow died with the previous controller: the old
        contact ends lost, and the flow starts again for the same thread."""
        old = ContactLifecycle(self.store, "chat", contact_id=session.contact_id)
        ending = old.ending(EndReason.CONTROLLER_LOST)
        await self.store.append(
            old.contact_id,
            "chat.closed",
            {"by": RESTART_REASON, "status": ending.status.value, "reason": RESTART_REASON},
        )
        await old.close(ending)
        chat = await self._load(session, flow)
        if self.on_adopt is not None:
            self.on_adopt(chat)
        chat.language = language or chat.language
        await self.start_contact(chat, "chat.reopened")
        return chat

    def _register(self, chat: LiveChat) -> None:
        self.live[chat.id] = chat
        self.by_token[chat.token] = chat
        if chat.session.external_id:
            self.by_external[(chat.kind, chat.session.external_id)] = chat
        chat.watchers.append(self.hub.on_message)

    async def new_session(
        self,
        kind: str,
        *,
        external_id: str | None = None,
        language: str | None = None,
        entry: str | None = None,
    ) -> LiveChat:
        """A new chat: the customer is recognised by `external_id` (widget visitor
        cookie, messenger user) when they come back; its flow (the entry's, or
        chat.flow) starts at once."""
        flow = self.settings.flow if entry is None else self.settings.entries.get(entry)
        if flow is None:
            raise ChatRefused("unknown_entry", f"no chat entry named {entry!r}")
        if len(self.live) >= self.settings.max_sessions:
            raise ChatRefused("busy", "too many chats are open right now; try again later")
        customer = None
        if external_id:
            customer = await self.chats.customer_for_chat_id(f"{kind}:{external_id}")
        if language not in self.deps.languages:
            language = (customer.language if customer else None) or self.deps.default_language
        session = await self.chats.create_session(
            kind,
            external_id=external_id,
            customer_id=customer.id if customer else None,
            language=language,
        )
        chat = LiveChat(session=session, store=self.chats, language=language, flow=flow)
        chat.customer_id = session.customer_id
        if self.owner is not None:  # run here: claimed before anyone else can see it
            await self.owner.claim(chat)
        self._register(chat)
        await self.start_contact(chat, "chat.started")
        return chat

    async def messenger_session(self, kind: str, external_id: str) -> tuple[LiveChat, bool]:
        """The messenger user's chat (the live one, their last one, or a new one);
        True when it was just made."""
        key = (kind, external_id)
        async with self._opening.setdefault(key, asyncio.Lock()):
            chat = self.by_external.get(key)
            if chat is not None:
                return chat, False
            session = await self.chats.session_for_external(kind, external_id)
            if session is not None:
                if self.owner is not None:
                    return await self.owner.take(session), False
                return await self._load(session), False
            return await self.new_session(kind, external_id=external_id), True

    async def start_contact(self, chat: LiveChat, event: str) -> None:
        """Open a contact for the chat and run its flow (`event`: chat.started or
        chat.reopened)."""
        contact_id = await self.conversations.start(chat, event)
        self.by_contact[contact_id] = chat
        if self.owner is not None:
            await self.owner.runs(chat, contact_id)
        self._follow_task(chat)

    def _follow_task(self, chat: LiveChat) -> None:
        """The chat leaves memory when its task ends, if nobody has it open."""
        assert chat.task is not None
        chat.task.add_done_callback(lambda _task: self._evict(chat))

    def _contact_closed(self, chat: LiveChat, contact_id: str) -> None:
        if not chat.agent:
            self.by_contact.pop(contact_id, None)

    async def _abandoned(self, contact_id: str, queue: str, waited: float) -> None:
        """The customer left `queue` unanswered: the queue's abandoned policy (a
        callback list or a message hook), as for a caller who hangs up waiting."""
        services = self.deps.services_for(contact_id)
        if hasattr(services, "abandoned"):
            await services.abandoned(queue, waited, "chat")

    # ---- the customer's side ---------------------------------------------------------

    async def customer_message(
        self,
        chat: LiveChat,
        text: str,
        *,
        client_id: str | None = None,
        choice: bool = False,
        data: dict[str, Any] | None = None,
        kind: str = "text",
        feed: bool = True,
    ) -> int:
        """Store the customer's message (a resend is a no-op), then act on it: an answer
        for the flow, a note for the agent, or (closed) the start of a new contact.
        `feed` False: the message only opened the chat ("/start"), it answers nothing."""
        if client_id is not None and client_id in chat.client_ids:
            return chat.client_ids[client_id]  # a resend: stored already, acted on already
        self._runs_here(chat)
        reopen = chat.state == "closed"
        if reopen:
            await self.start_contact(chat, "chat.reopened")
        sensitive = chat.sensitive_next and chat.state == "flow"
        stored = "***" if sensitive else text
        payload = dict(data or {})
        if choice:
            payload["choice"] = text
        if stored != text:
            payload["masked"] = True
        try:
            message, new = await chat.post(
                "customer", stored, client_id=client_id, data=payload, kind=kind
            )
        except ChatNotHeld:  # a stale copy (another process holds the chat): not stored
            raise ChatRefused(
                "moved", "this chat moved to another server; your message is sent again"
            ) from None
        if not new:
            return message.seq
        chat.last_customer = time.monotonic()
        chat.sensitive_next = False
        if reopen or not feed:
            return message.seq
        given = Input(text, choice=choice, seq=message.seq)
        if not sensitive:
            await self.customers.recognise(chat, text)
        if chat.state == "flow" and kind == "text":
            chat.inbox.put_nowait(given)
        elif chat.state == "queued":
            await self.waiting.answer(chat, given)
        return message.seq

    async def customer_attachment(self, chat: LiveChat, attachment_id: str, client_id: str) -> int:
        """A file the customer uploaded to this chat, sent as a message."""
        found = await self.chats.attachment(attachment_id)
        if found is None or found.session_id != chat.id:
            raise ChatRefused("unknown_attachment", "no such attachment in this chat")
        info = {
            "id": found.id,
            "filename": found.filename,
            "content_type": found.content_type,
            "size": found.size,
        }
        return await self.customer_message(
            chat, found.filename, client_id=client_id, data={"attachment": info}, kind="attachment"
        )

    async def customer_typing(self, chat: LiveChat, on: bool) -> None:
        if chat.agent:
            self.hub.typing_to_agent(chat, on)

    async def customer_close(self, chat: LiveChat) -> None:
        """The customer ended the chat."""
        if chat.state == "closed" or chat.customer_left:
            return
        self._runs_here(chat)
        chat.closed_by = "customer"
        chat.gone()
        if chat.state == "queued" and chat.contact_id:
            with contextlib.suppress(RoutingError):
                await self.routing.leave(chat.contact_id)
        if chat.agent:
            self.hub.customer_left(chat)

    def attach(self, chat: LiveChat, sink: Sink) -> Callable[[], None]:
        """A connection of the customer's: it receives the chat's frames until detached."""
        chat.sinks.add(sink)
        if chat.last_queue_frame is not None and chat.state == "queued":
            sink(chat.last_queue_frame)

        def detach() -> None:
            chat.sinks.discard(sink)
            self._evict(chat)

        return detach

    def _evict(self, chat: LiveChat) -> None:
        """A closed chat nobody has open leaves memory (the store keeps it; a customer
        coming back resumes it from there)."""
        if chat.state != "closed" or chat.sinks or chat.agent:
            return
        if chat.task is not None and not chat.task.done():
            return
        self.live.pop(chat.id, None)
        self.by_token.pop(chat.token, None)
        if chat.session.external_id:
            self.by_external.pop((chat.kind, chat.session.external_id), None)
