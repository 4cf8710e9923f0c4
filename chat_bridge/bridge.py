"""The chat bridge: sessions (new, resumed, recognised), the customer's input, and each
chat's run through the flow (as text) and the routing engine's queue.

Channels (the widget's WebSocket, Telegram, the JSON webhook) only parse their own
wire format and call `ChatBridge`; everything a chat does happens here, once.

Events: chat.started / chat.reopened {session, kind} when a contact begins,
chat.message per stored message (hotline/store/chats.py), chat.closed {by, wrap_up},
chat.transferred {from_agent, queue}, survey.answered {question, score, channel}.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from chat_bridge.agents import AgentHub
from chat_bridge.attachments import Attachments
from chat_bridge.chat import LiveChat, Sink
from chat_bridge.resume import RESTART_REASON
from chat_bridge.text_port import Input, TextPort, prompt_text
from hotline.acd.decisions import Offer
from hotline.acd.model import Channel, Outcome
from hotline.acd.router import RoutingError
from hotline.acd.service import Finished, RoutingService, Ticket, Withdrawn
from hotline.catalogue import Catalogue
from hotline.chat_settings import ChatConfig
from hotline.flows.interpreter import FlowRunner
from hotline.flows.loader import FlowSet
from hotline.flows.services import (
    CallbackRequest,
    ChannelQueueServices,
    FlowServices,
    QueueRequest,
    SurveyAnswers,
)
from hotline.flows.steps import FlowFailure
from hotline.store import Store, StoreError
from hotline.store.chats import ChatStore

log = logging.getLogger(__name__)

EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}")


class UnknownSession(Exception):
    """No chat session has this token."""


class ChatRefused(Exception):
    """The input cannot be taken now; the message says why (for the customer)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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
    attachments_dir: Path | None = None


class ChatBridge:
    """Every live chat of this process."""

    def __init__(self, deps: BridgeDeps) -> None:
        self.deps = deps
        self.store = deps.store
        self.chats = ChatStore(deps.store)
        self.routing = deps.routing
        self.settings = deps.settings
        self.catalogue = deps.catalogue
        self.live: dict[str, LiveChat] = {}
        self.by_token: dict[str, LiveChat] = {}
        self.by_contact: dict[str, LiveChat] = {}
        self.by_external: dict[tuple[str, str], LiveChat] = {}
        self.hub = AgentHub(self)
        #: Files sent in chats (set by the web channel's wiring).
        self.attachments: Attachments | None = None
        self._opening: dict[Any, asyncio.Lock] = {}
        #: Called with each chat taken over after a restart, before it says anything
        #: (the messengers give it its outbox again).
        self.on_adopt: Callable[[LiveChat], None] | None = None
        #: Set by `stop`: chats' tasks end without closing their contacts.
        self.stopping = False

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

    def text(self, key: str, language: str, **values: Any) -> str:
        text = prompt_text(self.catalogue, key, language)
        for name, value in values.items():
            text = text.replace("{" + name + "}", str(value))
        return text

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
            return await self._load(session)

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
        chat.last_customer = chat.last_agent = time.monotonic()
        if agent is not None:
            chat.agent = agent
            chat.agent_seen = True
            chat.state = "agent"
            self.hub.open.setdefault(agent, {})[contact_id] = chat
        else:
            chat.state = "queued"
        chat.task = asyncio.create_task(
            self._carried_on(chat, request, ticket, joined), name=f"chat-{chat.id}"
        )
        chat.task.add_done_callback(lambda _task: self._evict(chat))
        return chat

    async def _carried_on(
        self, chat: LiveChat, request: QueueRequest, ticket: Ticket | None, joined: float | None
    ) -> None:
        contact_id = chat.contact_id or ""
        status = "failed"
        try:
            outcome = await self.carry_on(
                chat, request, ticket=ticket, joined=joined, talking=ticket is None
            )
            if chat.customer_left and not chat.closed_by:
                chat.closed_by = "customer"
            if outcome == "answered" or chat.agent_seen:
                status, key = "completed", "goodbye"
            elif outcome in ("left", "callback"):
                status, key = ("abandoned" if outcome == "left" else "completed"), None
            else:  # timeout, closed, full: no agent could take it
                status, key = "completed", "agents_unavailable"
            if key and not chat.customer_left:
                await chat.post("system", self.text(key, chat.language))
        except asyncio.CancelledError:
            status = "lost"
            raise
        except Exception:
            log.exception("chat %s: the restored conversation failed", chat.id)
        finally:
            if not self.stopping:
                await asyncio.shield(self._closed(chat, contact_id, status))

    async def restart(self, session: Any, language: str | None, flow: str | None) -> LiveChat:
        """A chat whose place in its flow died with the previous controller: the old
        contact ends lost, and the flow starts again for the same thread."""
        old = session.contact_id
        await self.store.append(
            old, "chat.closed", {"by": RESTART_REASON, "status": "lost", "reason": RESTART_REASON}
        )
        await self.store.close_contact(old, "lost")
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
                return await self._load(session), False
            return await self.new_session(kind, external_id=external_id), True

    async def start_contact(self, chat: LiveChat, event: str) -> None:
        """Open a contact for the chat and run its flow."""
        source = f"{chat.kind}:{chat.session.external_id or chat.id}"
        contact_id = await self.store.open_contact(
            "chat", "inbound", source[:200], chat.flow, customer_id=chat.customer_id
        )
        chat.contact_id = contact_id
        chat.customer_left = False
        chat.closed_by = None
        chat.agent = None
        chat.inbox = asyncio.Queue()
        chat.agent_done = asyncio.Event()
        self.by_contact[contact_id] = chat
        await self.chats.update_session(
            chat.id, contact_id=contact_id, state="flow", customer_id=chat.customer_id
        )
        await self.store.append(contact_id, event, {"session": chat.id, "kind": chat.kind})
        chat.set_state("flow")
        chat.last_customer = time.monotonic()
        chat.task = asyncio.create_task(self._converse(chat), name=f"chat-{chat.id}")
        chat.task.add_done_callback(lambda _task: self._evict(chat))

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
        message, new = await chat.post(
            "customer", stored, client_id=client_id, data=payload, kind=kind
        )
        if not new:
            return message.seq
        chat.last_customer = time.monotonic()
        chat.sensitive_next = False
        if reopen or not feed:
            return message.seq
        given = Input(text, choice=choice, seq=message.seq)
        if not sensitive:
            await self._recognise(chat, text)
        if chat.state == "flow" and kind == "text":
            chat.inbox.put_nowait(given)
        elif chat.state == "queued":
            await self._while_queued(chat, given)
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

    async def _recognise(self, chat: LiveChat, text: str) -> None:
        """An e-mail address given in the chat links it to that customer (and their
        history of calls and chats), or is remembered for this one."""
        found = EMAIL.search(text)
        if found is None:
            return
        email = found.group(0)
        try:
            known = await self.chats.customer_for_email(email)
            if known is not None and known.id != chat.customer_id:
                chat.customer_id = known.id
                await self.chats.link_customer(chat.id, chat.contact_id, known.id)
            elif known is None and chat.customer_id is not None:
                customer = await self.store.customer(chat.customer_id)
                if customer is not None and not customer.email:
                    await self.store.update_customer(chat.customer_id, email=email)
            elif known is None:
                customer = await self.chats.customer_for_chat_id(f"email:{email.lower()}")
                await self.store.update_customer(customer.id, email=email)
                chat.customer_id = customer.id
                await self.chats.link_customer(chat.id, chat.contact_id, customer.id)
        except StoreError:
            log.exception("chat %s: could not record the e-mail address", chat.id)

    # ---- the flow --------------------------------------------------------------------

    async def _converse(self, chat: LiveChat) -> None:
        contact_id = chat.contact_id
        assert contact_id is not None
        flows = self.deps.flows()
        name = chat.flow
        status = "failed"
        try:
            if name not in flows:
                await chat.post("system", self.text("chat_unavailable", chat.language))
                chat.closed_by = "no_flow"
                return
            inputs = {"caller_id": chat.session.external_id or "", "channel_kind": chat.kind}
            # Known from the start, so an agent's card shows them while the flow runs.
            await self.store.update_contact(
                contact_id,
                flow=name,
                flow_version=flows[name].version,
                language=chat.language,
                variables=inputs,
            )
            port = TextPort(
                chat,
                self.catalogue,
                reminder_after=self.settings.reminder_after,
                close_after=self.settings.close_after,
            )
            services = ChatServices(self, chat, self.deps.services_for(contact_id))

            async def emit(kind: str, data: dict[str, Any]) -> None:
                if kind == "flow.language":
                    chat.language = data["language"]
                await self.store.append(contact_id, kind, data)

            runner = FlowRunner(flows, port, services, emit)
            result = await runner.run(name, dict(inputs), language=chat.language)
            await self.store.update_contact(
                contact_id,
                language=result.language,
                node=result.path[-1] if result.path else None,
                variables=result.public_variables(),
            )
            if chat.customer_left and not chat.closed_by:
                chat.closed_by = "customer"
            gone = result.outcome == "hangup" and chat.closed_by in ("customer", "inactivity")
            if result.outcome == "error":
                status = "failed"
            elif gone and not chat.agent_seen:
                status = "abandoned"  # left (or went quiet) before an agent served them
            else:
                status = "completed"
        except asyncio.CancelledError:
            status = "lost"
            raise
        except Exception:
            log.exception("chat %s: the conversation failed", chat.id)
            status = "failed"
        finally:
            if not self.stopping:
                await asyncio.shield(self._closed(chat, contact_id, status))

    async def _closed(self, chat: LiveChat, contact_id: str, status: str) -> None:
        try:
            if not chat.closed_logged:
                await self.store.append(contact_id, "chat.closed", {"by": chat.closed_by or "flow"})
            await self.store.close_contact(contact_id, status)
            await self.chats.update_session(chat.id, state="closed")
        except StoreError:
            log.exception("chat %s: could not record the end of contact %s", chat.id, contact_id)
        chat.closed_logged = False
        chat.agent_seen = False
        if chat.contact_id == contact_id:
            chat.set_state("closed")
        if not chat.agent:
            self.by_contact.pop(contact_id, None)

    # ---- the queue -------------------------------------------------------------------

    async def enqueue(self, chat: LiveChat, request: QueueRequest) -> str:
        """The chat's time in a queue and with agents: "answered" once the agent part is
        over (the flow goes on: a survey), else the queue's outcome."""
        return await self.carry_on(chat, request)

    async def carry_on(
        self,
        chat: LiveChat,
        request: QueueRequest,
        *,
        ticket: Ticket | None = None,
        joined: float | None = None,
        talking: bool = False,
    ) -> str:
        """`enqueue`, or its rest for a chat restored after a restart: already queued
        (`ticket`, in the queue since `joined`) or already with its agent (`talking`)."""
        queue = request.queue
        while True:
            if talking:
                talking, outcome = False, "answered"
            elif ticket is not None:
                outcome = await self._follow(
                    chat, queue, ticket, time.monotonic() if joined is None else joined
                )
                ticket = None
            else:
                outcome = await self._queue_once(chat, queue, request)
            if outcome != "answered":
                return outcome
            await self._with_agent(chat)
            if chat.transfer_to and not chat.customer_left:
                queue, chat.transfer_to = chat.transfer_to, None
                skills, chat.transfer_skills = chat.transfer_skills, None
                request = replace(request, skills={**request.skills, **(skills or {})})
                chat.agent_done = asyncio.Event()
                continue
            chat.set_state("flow")
            return "answered"

    async def _with_agent(self, chat: LiveChat) -> None:
        """Until the agent's part is over. A customer silent after the agent's last
        message is reminded after `reminder_after` s, and after `close_after` more the
        chat is closed for them (the agent then closes it with a wrap-up code)."""
        settings = self.settings
        reminded = False
        while not chat.agent_done.is_set():
            waited = time.monotonic() - chat.last_agent
            if chat.customer_left or chat.last_customer >= chat.last_agent:
                reminded, limit = False, settings.reminder_after
            elif not reminded:
                limit = settings.reminder_after - waited
                if limit <= 0:
                    reminded = True
                    await chat.post("system", self.text("chat_reminder", chat.language))
                    continue
            else:
                limit = settings.reminder_after + settings.close_after - waited
                if limit <= 0:
                    await chat.post("system", self.text("chat_inactive_closed", chat.language))
                    chat.closed_by = "inactivity"
                    chat.gone()
                    self.hub.customer_left(chat)
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(chat.agent_done.wait(), max(0.05, min(limit, 5.0)))

    async def _queue_once(self, chat: LiveChat, queue: str, request: QueueRequest) -> str:
        assert chat.contact_id is not None
        if chat.customer_left:
            return "left"
        ticket = await self.routing.enqueue(
            chat.contact_id,
            Channel.CHAT,
            queue,
            priority=request.priority,
            skills=request.skills,
            timeout=request.max_wait,
        )
        if not ticket.joined:
            return str(ticket.join.outcome)
        return await self._follow(chat, queue, ticket, time.monotonic())

    async def _follow(self, chat: LiveChat, queue: str, ticket: Ticket, joined: float) -> str:
        """The chat waits in `queue` (since `joined`, monotonic) until the ticket ends:
        offers go to agents' desks, the customer sees position and wait."""
        chat.queue = queue
        chat.pending = None
        chat.set_state("queued")
        waiting = asyncio.create_task(self._waiting(chat, queue))
        try:
            async for item in ticket:
                if isinstance(item, Offer):
                    await self.hub.offer(chat, item)
                elif isinstance(item, Withdrawn):
                    self.hub.withdraw(item.offer, item.reason)
                elif isinstance(item, Finished):
                    if chat.pending == "booked":
                        return "callback"
                    if item.outcome == Outcome.LEFT:
                        await self._abandoned(chat, queue, time.monotonic() - joined)
                    return str(item.outcome)
        finally:
            waiting.cancel()
            chat.last_queue_frame = None
        return "left"

    async def _abandoned(self, chat: LiveChat, queue: str, waited: float) -> None:
        """The customer left the queue unanswered: the queue's abandoned policy
        (a callback list or a message hook), as for a caller who hangs up waiting."""
        services = self.deps.services_for(chat.contact_id or "")
        if hasattr(services, "abandoned"):
            await services.abandoned(queue, waited, "chat")

    async def _waiting(self, chat: LiveChat, queue: str) -> None:
        """While queued: position and wait live, the queue's messages now and then, and
        a callback offer after a while."""
        started = time.monotonic()
        last_message = started
        offered = False
        settings = self.settings
        while True:
            contact_id = chat.contact_id or ""
            position, eta = self.routing.position(contact_id), self.routing.eta(contact_id)
            frame = {
                "v": 1,
                "type": "queue",
                "queue": queue,
                "position": position,
                "eta": None if eta is None else round(eta),
            }
            if frame != chat.last_queue_frame:
                chat.last_queue_frame = frame
                chat.send(frame)
                if chat.kind != "web" and position:
                    await chat.post("system", self._position_text(chat, position, eta))
            now = time.monotonic()
            every = settings.queue_message_every
            if every and settings.queue_messages and now - last_message >= every:
                last_message = now
                index = int((now - started) // every) % len(settings.queue_messages)
                await chat.post("system", self.text(settings.queue_messages[index], chat.language))
            if not offered and settings.callback_after and now - started >= settings.callback_after:
                offered = True
                if hasattr(self.deps.services_for(contact_id), "book_callback"):
                    await chat.post(
                        "system",
                        self.text("chat_callback_offer", chat.language),
                        data={
                            "buttons": [
                                {
                                    "value": "callback",
                                    "label": self.text("chat_callback_yes", chat.language),
                                },
                                {
                                    "value": "wait",
                                    "label": self.text("chat_callback_no", chat.language),
                                },
                            ]
                        },
                    )
            await asyncio.sleep(1.0)

    def _position_text(self, chat: LiveChat, position: int, eta: float | None) -> str:
        text = self.text("chat_queue_position", chat.language, position=position)
        if eta is not None:
            minutes = max(1, round(eta / 60))
            text += " " + self.text("chat_queue_eta", chat.language, minutes=minutes)
        return text

    async def _while_queued(self, chat: LiveChat, given: Input) -> None:
        """A waiting customer's message: their answer to the callback offer, or a note
        the agent reads when they join."""
        value = given.text.strip()
        if chat.pending == "callback_phone" and not given.choice:
            await self._book_callback(chat, value)
        elif given.choice and value == "callback":
            chat.pending = "callback_phone"
            await chat.post("system", self.text("chat_callback_number", chat.language))
        elif given.choice and value == "wait":
            chat.pending = None
            await chat.post("system", self.text("chat_keep_waiting", chat.language))

    async def _book_callback(self, chat: LiveChat, number: str) -> None:
        contact_id = chat.contact_id or ""
        services = self.deps.services_for(contact_id)
        request = CallbackRequest(chat.queue or "", number, 0, chat.language)
        booking = await services.book_callback(request)  # type: ignore[attr-defined]
        if not booking.booked:
            text = (
                self.text(booking.prompt, chat.language)
                if booking.prompt
                else self.text("chat_callback_refused", chat.language)
            )
            await chat.post("system", text, data={"reason": booking.reason})
            return
        chat.pending = "booked"
        await self._link_phone(chat, booking.number or number)
        await chat.post(
            "system",
            self.text("chat_callback_booked", chat.language, number=booking.number or number),
        )
        with contextlib.suppress(RoutingError):
            await self.routing.leave(contact_id, "left")

    async def _link_phone(self, chat: LiveChat, number: str) -> None:
        """A phone number given in the chat ties it to that caller's record."""
        with contextlib.suppress(ValueError, StoreError):
            customer = await self.store.customer_for_phone(number)
            if customer is not None and customer.id != chat.customer_id:
                chat.customer_id = customer.id
                await self.chats.link_customer(chat.id, chat.contact_id, customer.id)


class ChatServices(ChannelQueueServices):
    """A chat's flow services: the chat's own queue experience, queue status for the
    chat channel, and survey answers logged one question at a time."""

    def __init__(self, bridge: ChatBridge, chat: LiveChat, services: FlowServices) -> None:
        async def enqueue(request: QueueRequest) -> str:
            return await bridge.enqueue(chat, request)

        super().__init__(services, enqueue)
        self.bridge = bridge
        self.chat = chat

    async def queue_status(self, queue: str) -> dict[str, Any]:
        try:
            return self.bridge.routing.queue_status(queue, Channel.CHAT).variables()
        except RoutingError as error:
            raise FlowFailure(str(error)) from None

    async def save_survey(self, answers: SurveyAnswers) -> None:
        contact_id = self.chat.contact_id
        for question, score in answers.answers.items():
            if score is None:
                continue
            await self.bridge.store.append(
                contact_id,
                "survey.answered",
                {
                    "question": question,
                    "score": score,
                    "channel": "chat",
                    "survey": answers.survey,
                    "node": answers.node,
                },
            )
