"""The agents' side of chats, as the desk uses it (hotline/web/desk.py `ChatDesk`).

The routing engine's offers of a chat become pop-ups on the agent's desk (`ringing`
as soon as they are shown); accept, reject and the engine's withdrawal (the queue's
ring timeout, the customer leaving) close them. An accepted chat opens in a tab with
its whole thread; the agent's messages go through the same `post` as everyone's
(stored, then delivered). Closing with a wrap-up code ends the agent's part
(`finished`: wrap-up, capacity freed) and the flow goes on (the survey). A transfer
puts the chat back through the routing engine, into another queue.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from chat_bridge.attachments import AttachmentRefused, Attachments, KeptFile, file_response
from chat_bridge.chat import LiveChat
from chat_bridge.texts import Texts
from hotline.acd.decisions import Offer
from hotline.acd.router import RoutingError
from hotline.acd.service import OfferWithdrawn, RoutingService
from hotline.chat_settings import ChatConfig, identity_skill
from hotline.messages import File, RichMessageError, dump, fallback_text, parse_rich
from hotline.store import Store
from hotline.store.chats import ChatAttachment, ChatMessage, ChatStore, customer_card
from hotline.web.desk import DeskRefused

log = logging.getLogger(__name__)

Push = Callable[[dict[str, Any]], None]


class DeskError(DeskRefused):
    """What the agent asked cannot be done; the message says why."""


class AgentHub:
    """Offers and open chats per agent, and the desks listening for them."""

    def __init__(
        self,
        routing: RoutingService,
        store: Store,
        chats: ChatStore,
        settings: ChatConfig,
        texts: Texts,
        *,
        agent_names: Mapping[str, str] | None = None,
        agent_queues: Mapping[str, Sequence[str]] | None = None,
        attachments: Attachments | None = None,
    ) -> None:
        self.routing = routing
        self.store = store
        self.chats = chats
        self.settings = settings
        self.texts = texts
        #: Agent id -> the name the customer sees.
        self.agent_names = dict(agent_names or {})
        #: Agent id -> the queues they serve (a transfer to an agent goes through one).
        self.agent_queues = {agent: list(queues) for agent, queues in (agent_queues or {}).items()}
        #: Files sent in chats; None: the desk serves none.
        self.attachments = attachments
        self.offers: dict[tuple[str, str], tuple[Offer, LiveChat]] = {}
        self.open: dict[str, dict[str, LiveChat]] = {}
        self.desks: dict[str, set[Push]] = {}
        #: Supervisors' private notes on a chat, shown with its thread on the agent's
        #: desk; and whether an offer is a supervisor's take-over, accepted at once
        #: (both chat_bridge/monitoring.py; None: no monitoring).
        self.notes: Callable[[str], list[dict[str, Any]]] | None = None
        self.taking_over: Callable[[Offer], bool] | None = None
        #: Several web processes (chat_bridge/cluster.py): an agent's frames go to their
        #: desks on every process through this (None: to this process's desks).
        self.relay: Callable[[str, dict[str, Any]], None] | None = None

    # ---- desks ----------------------------------------------------------------------

    def subscribe(self, agent: str, push: Push) -> Callable[[], None]:
        self.desks.setdefault(agent, set()).add(push)

        def unsubscribe() -> None:
            desks = self.desks.get(agent)
            if desks is not None:
                desks.discard(push)

        return unsubscribe

    def connected(self, agent: str) -> bool:
        return bool(self.desks.get(agent))

    def _push(self, agent: str, frame: dict[str, Any]) -> None:
        if self.relay is not None:  # every web process's desks of the agent get it
            self.relay(agent, frame)
            return
        self.deliver(agent, frame)

    def deliver(self, agent: str, frame: dict[str, Any]) -> None:
        """`frame` to the agent's desks connected to this process."""
        for push in list(self.desks.get(agent, ())):
            try:
                push(frame)
            except Exception:
                log.exception("desk of %s: push failed", agent)

    async def snapshot(self, agent: str) -> list[dict[str, Any]]:
        """Pending offers and open chats (with their threads), for a desk (re)connecting."""
        frames = []
        for (_contact, who), (offer, chat) in list(self.offers.items()):
            if who == agent:
                frames.append(await self._offer_frame(chat, offer))
        for chat in list(self.open.get(agent, {}).values()):
            frames.append(await self._chat_frame(chat, after=0))
        return frames

    # ---- offers ---------------------------------------------------------------------

    async def offer(self, chat: LiveChat, offer: Offer) -> None:
        self.offers[(offer.contact.id, offer.agent)] = (offer, chat)
        self._push(offer.agent, await self._offer_frame(chat, offer))
        await self.routing.ringing(offer)
        if self.taking_over is not None and self.taking_over(offer):
            with contextlib.suppress(DeskError):  # gone meanwhile: nothing to take
                await self.accept(offer.agent, offer.contact.id)

    async def _offer_frame(self, chat: LiveChat, offer: Offer) -> dict[str, Any]:
        return {
            "type": "offer",
            "channel": "chat",
            "contact_id": offer.contact.id,
            "queue": offer.contact.queue,
            "timeout": offer.ring_timeout,
            "card": await self.card(offer.contact.id),
        }

    def withdraw(self, offer: Offer, reason: str) -> None:
        if self.offers.pop((offer.contact.id, offer.agent), None) is not None:
            self._push(
                offer.agent,
                {"type": "offer_gone", "contact_id": offer.contact.id, "reason": reason},
            )

    def _take_offer(self, agent: str, contact_id: str) -> tuple[Offer, LiveChat]:
        found = self.offers.pop((contact_id, agent), None)
        if found is None:
            raise DeskError("this chat is no longer offered to you")
        return found

    async def accept(self, agent: str, contact_id: str) -> dict[str, Any]:
        offer, chat = self._take_offer(agent, contact_id)
        try:
            await self.routing.accepted(offer)
        except OfferWithdrawn:
            raise DeskError("this chat is no longer offered to you") from None
        chat.agent = agent
        chat.agent_answered()
        chat.agent_done.clear()
        chat.set_state("agent")
        chat.last_agent = time.monotonic()
        self.open.setdefault(agent, {})[contact_id] = chat
        await self.chats.update_session(chat.id, state="agent", agent=agent)
        name = self.agent_names.get(agent, agent)
        frame = await self._chat_frame(chat, after=0)
        self._push(agent, frame)
        await chat.post(
            "system",
            self.texts("chat_agent_joined", chat.language, name=name),
            data={"event": "agent_joined", "agent_name": name},
        )
        return frame

    async def reject(self, agent: str, contact_id: str) -> None:
        offer, _chat = self._take_offer(agent, contact_id)
        await self.routing.rejected(offer)

    # ---- open chats -----------------------------------------------------------------

    def _chat(self, agent: str, contact_id: str) -> LiveChat:
        chat = self.open.get(agent, {}).get(contact_id)
        if chat is None:
            raise DeskError("this chat is not open on your desk")
        return chat

    async def _chat_frame(self, chat: LiveChat, after: int) -> dict[str, Any]:
        messages = await self.chats.messages(chat.id, after=after)
        return {
            "type": "chat",
            "contact_id": chat.contact_id,
            "session_id": chat.id,
            "queue": chat.queue,
            "customer_left": chat.customer_left,
            "messages": [m.public() for m in messages],
            "card": await self.card(chat.contact_id or ""),
            "canned": self.settings.canned.get(chat.queue or "", []),
            "notes": self.notes(chat.contact_id or "") if self.notes is not None else [],
        }

    async def history(self, agent: str, contact_id: str, after: int) -> dict[str, Any]:
        """The chat's messages after `after` (a desk catching up after a reconnect)."""
        return await self._chat_frame(self._chat(agent, contact_id), after)

    async def send(
        self,
        agent: str,
        contact_id: str,
        text: str,
        client_id: str | None,
        rich: dict[str, Any] | None = None,
    ) -> int:
        """The agent's message; with `rich`, a card, link or image (hotline/messages.py,
        refused with the field and why) whose text form is stored as its text."""
        chat = self._chat(agent, contact_id)
        if chat.customer_left:
            raise DeskError("the customer has left this chat; close it with a wrap-up code")
        data: dict[str, Any] = {}
        if rich is not None:
            try:
                message = parse_rich(rich)
            except RichMessageError as error:
                raise DeskError(str(error)) from None
            if isinstance(message, File):
                raise DeskError("a file is sent by uploading it to the chat")
            text, data = fallback_text(message), {"rich": dump(message)}
        chat.last_agent = time.monotonic()
        posted, _new = await chat.post("agent", text, agent=agent, client_id=client_id, data=data)
        return posted.seq

    async def send_file(
        self, agent: str, contact_id: str, filename: str, content_type: str, body: bytes
    ) -> int:
        """A file from the agent's desk: checked and stored like a customer's upload
        (chat_bridge/attachments.py), then sent as a message the widget links to."""
        chat = self._chat(agent, contact_id)
        if chat.customer_left:
            raise DeskError("the customer has left this chat; close it with a wrap-up code")
        if self.attachments is None:
            raise DeskError("files are not enabled for chats")
        try:
            saved = await self.attachments.save(chat.id, filename, content_type, body)
        except AttachmentRefused as error:
            raise DeskError(str(error)) from None
        return await self._post_file(agent, chat, saved)

    async def send_kept(self, agent: str, contact_id: str, kept: KeptFile) -> int:
        """A file from the agent's desk on another process, its bytes kept in the
        database there (`Attachments.keep`): attached to the chat and sent as `send_file`."""
        chat = self._chat(agent, contact_id)
        if chat.customer_left:
            raise DeskError("the customer has left this chat; close it with a wrap-up code")
        if self.attachments is None:
            raise DeskError("files are not enabled for chats")
        try:
            saved = await self.attachments.attach(chat.id, kept)
        except AttachmentRefused as error:
            raise DeskError(str(error)) from None
        return await self._post_file(agent, chat, saved)

    async def _post_file(self, agent: str, chat: LiveChat, saved: ChatAttachment) -> int:
        info = {
            "id": saved.id,
            "filename": saved.filename,
            "content_type": saved.content_type,
            "size": saved.size,
        }
        chat.last_agent = time.monotonic()
        posted, _new = await chat.post(
            "agent", saved.filename, kind="attachment", agent=agent, data={"attachment": info}
        )
        return posted.seq

    def typing(self, agent: str, contact_id: str, on: bool) -> None:
        chat = self._chat(agent, contact_id)
        chat.send({"v": 1, "type": "typing", "from": "agent", "on": on})

    async def close(self, agent: str, contact_id: str, wrap_up: str) -> None:
        if wrap_up not in self.settings.wrap_up_codes:
            codes = ", ".join(self.settings.wrap_up_codes)
            raise DeskError(f"unknown wrap-up code {wrap_up!r}; one of {codes}")
        chat = self._chat(agent, contact_id)
        await self.store.append(
            contact_id,
            "chat.closed",
            {"by": "agent", "wrap_up": wrap_up, "customer_left": chat.customer_left},
            agent=agent,
        )
        chat.closed_logged = True
        chat.closed_by = "agent"
        await self._release(agent, chat)
        if not chat.customer_left:
            await chat.post(
                "system",
                self.texts("chat_agent_closed", chat.language),
                data={"event": "agent_closed"},
            )
        chat.agent_done.set()

    async def transfer(
        self, agent: str, contact_id: str, queue: str | None = None, to_agent: str | None = None
    ) -> None:
        """Back through the routing engine: into `queue`, or to `to_agent` alone (through
        a queue they serve, requiring their own skill; they get it when they are free)."""
        chat = self._chat(agent, contact_id)
        if chat.customer_left:
            raise DeskError("the customer has left this chat; close it with a wrap-up code")
        skills = None
        if to_agent is not None:
            served = self.agent_queues.get(to_agent)
            if not served or to_agent == agent:
                raise DeskError(f"cannot transfer to agent {to_agent!r}")
            queue = chat.queue if chat.queue in served else served[0]
            skills = {identity_skill(to_agent): 1}
        if queue not in {q.name for q in self.routing.snapshot().queues}:
            raise DeskError(f"no queue named {queue!r}")
        await self.store.append(
            contact_id,
            "chat.transferred",
            {"from_agent": agent, "queue": queue, "to_agent": to_agent},
            agent=agent,
        )
        await self._release(agent, chat)
        chat.transfer_to = queue
        chat.transfer_skills = skills
        await chat.post(
            "system",
            self.texts("chat_transferred", chat.language),
            data={"event": "transferred", "queue": queue},
        )
        chat.agent_done.set()

    async def _release(self, agent: str, chat: LiveChat) -> None:
        contact_id = chat.contact_id or ""
        self.open.get(agent, {}).pop(contact_id, None)
        chat.agent = None
        with contextlib.suppress(RoutingError):
            await self.routing.finished(agent, contact_id)
        await self.chats.update_session(chat.id, agent=None)
        self._push(agent, {"type": "chat_closed", "contact_id": contact_id})

    # ---- from the customer ----------------------------------------------------------

    def on_message(self, chat: LiveChat, message: ChatMessage) -> None:
        if chat.agent:
            self._push(
                chat.agent,
                {"type": "message", "contact_id": chat.contact_id, "message": message.public()},
            )

    def typing_to_agent(self, chat: LiveChat, on: bool) -> None:
        if chat.agent:
            self._push(chat.agent, {"type": "typing", "contact_id": chat.contact_id, "on": on})

    def customer_left(self, chat: LiveChat) -> None:
        if chat.agent:
            self._push(chat.agent, {"type": "customer_left", "contact_id": chat.contact_id})

    async def attachment(self, agent: str, attachment_id: str) -> web.StreamResponse | None:
        """A file from a chat open on the agent's desk."""
        found = await self.chats.attachment(attachment_id)
        attachments = self.attachments
        if found is None or attachments is None:
            return None
        if not self.has_session(agent, found.session_id):
            return None
        return await file_response(attachments, found)

    def has_session(self, agent: str, session_id: str) -> bool:
        """The chat `session_id` is open on the agent's desk (here)."""
        return any(c.id == session_id for c in self.open.get(agent, {}).values())

    async def card(self, contact_id: str) -> dict[str, Any]:
        return await customer_card(self.store, self.chats, contact_id)
