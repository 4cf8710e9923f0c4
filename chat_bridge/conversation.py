"""One chat contact's life: opened, its flow run as text (or, after a restart, the rest
of its queue visit carried on), closed with the status the one contact lifecycle
(hotline/contacts) decides.

Events: chat.started / chat.reopened {session, kind} when a contact begins,
chat.closed {by} when it ends (unless the agent's close logged it already).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from chat_bridge.attachments import Attachments
from chat_bridge.chat import LiveChat
from chat_bridge.flow_services import ChatServices
from chat_bridge.queueing import ChatQueueing
from chat_bridge.text_port import TextPort
from chat_bridge.texts import Texts
from hotline.acd.service import RoutingService, Ticket
from hotline.catalogue import Catalogue
from hotline.chat_settings import ChatConfig
from hotline.contacts import ContactLifecycle, EndReason
from hotline.flows.interpreter import FlowRunner
from hotline.flows.loader import FlowSet
from hotline.flows.services import FlowServices, QueueRequest
from hotline.store import Store, StoreError
from hotline.store.chats import ChatStore

log = logging.getLogger(__name__)

#: How a chat closed by the customer or by their silence is told apart from the flow's end.
CUSTOMER_GONE = ("customer", "inactivity")


class Conversations:
    """Every chat contact's run (one instance per bridge)."""

    def __init__(
        self,
        store: Store,
        chats: ChatStore,
        routing: RoutingService,
        queueing: ChatQueueing,
        texts: Texts,
        settings: ChatConfig,
        *,
        flows: Callable[[], FlowSet],
        catalogue: Catalogue | None,
        services_for: Callable[[str], FlowServices],
        closed: Callable[[LiveChat, str], None],
        stopping: Callable[[], bool],
        attachments: Attachments | None = None,
    ) -> None:
        self.store = store
        self.chats = chats
        self.routing = routing
        self.queueing = queueing
        self.texts = texts
        self.settings = settings
        self.flows = flows
        self.catalogue = catalogue
        self.services_for = services_for
        #: Told when a contact of the chat is closed (the bridge forgets it).
        self.closed = closed
        #: True once the controller stops: chats' tasks end without closing contacts.
        self.stopping = stopping
        #: Where files a flow sends are stored (None: files are not enabled).
        self.attachments = attachments

    async def start(self, chat: LiveChat, event: str) -> str:
        """Open a contact for the chat and run its flow in the chat's task; its id."""
        source = f"{chat.kind}:{chat.session.external_id or chat.id}"
        chat.contact = ContactLifecycle(self.store, "chat")
        contact_id = await chat.contact.open(
            "inbound", source=source[:200], destination=chat.flow, customer_id=chat.customer_id
        )
        chat.contact_id = contact_id
        chat.customer_left = False
        chat.closed_by = None
        chat.agent = None
        chat.inbox = asyncio.Queue()
        chat.agent_done = asyncio.Event()
        await self.chats.update_session(
            chat.id, contact_id=contact_id, state="flow", customer_id=chat.customer_id
        )
        await self.store.append(contact_id, event, {"session": chat.id, "kind": chat.kind})
        chat.set_state("flow")
        chat.last_customer = time.monotonic()
        chat.task = asyncio.create_task(self._converse(chat), name=f"chat-{chat.id}")
        return contact_id

    def carry_on(
        self,
        chat: LiveChat,
        request: QueueRequest,
        ticket: Ticket | None,
        joined: float | None,
    ) -> None:
        """Carry on, in the chat's task, the queue visit a previous controller left:
        waiting (`ticket`) or talking with its agent; the contact ends with it."""
        chat.contact = ContactLifecycle(self.store, "chat", contact_id=chat.contact_id)
        if ticket is None:
            chat.agent_answered()
        chat.task = asyncio.create_task(
            self._carried_on(chat, request, ticket, joined), name=f"chat-{chat.id}"
        )

    async def _carried_on(
        self, chat: LiveChat, request: QueueRequest, ticket: Ticket | None, joined: float | None
    ) -> None:
        reason = EndReason.FLOW_ERROR
        try:
            outcome = await self.queueing.carry_on(
                chat, request, ticket=ticket, joined=joined, talking=ticket is None
            )
            if chat.customer_left and not chat.closed_by:
                chat.closed_by = "customer"
            key: str | None = "goodbye"
            if outcome == "answered" or chat.agent_seen:
                reason = EndReason.FLOW_COMPLETED
            elif outcome == "left":
                reason, key = EndReason.CUSTOMER_LEFT, None
            elif outcome == "callback":
                reason, key = EndReason.CALLBACK_BOOKED, None
            else:  # timeout, closed, full: no agent could take it
                reason, key = EndReason.NO_AGENT, "agents_unavailable"
            if key and not chat.customer_left:
                await chat.post("system", self.texts(key, chat.language))
        except asyncio.CancelledError:
            reason = EndReason.CONTROLLER_LOST
            raise
        except Exception:
            log.exception("chat %s: the restored conversation failed", chat.id)
        finally:
            if not self.stopping():
                await asyncio.shield(self._close(chat, reason))

    async def _converse(self, chat: LiveChat) -> None:
        contact_id = chat.contact_id
        assert contact_id is not None
        flows = self.flows()
        name = chat.flow
        reason = EndReason.FLOW_ERROR
        try:
            if name not in flows:
                await chat.post("system", self.texts("chat_unavailable", chat.language))
                chat.closed_by = "no_flow"
                reason = EndReason.NO_FLOW
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
                attachments=self.attachments,
            )
            services = ChatServices(
                self.services_for(contact_id), chat, self.queueing, self.routing, self.store
            )

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
            if result.outcome == "error":
                reason = EndReason.FLOW_ERROR
            elif result.outcome == "hangup" and chat.closed_by in CUSTOMER_GONE:
                reason = EndReason.CUSTOMER_LEFT  # served before? the lifecycle knows
            else:
                reason = EndReason.FLOW_COMPLETED
        except asyncio.CancelledError:
            reason = EndReason.CONTROLLER_LOST
            raise
        except Exception:
            log.exception("chat %s: the conversation failed", chat.id)
            reason = EndReason.FLOW_ERROR
        finally:
            if not self.stopping():
                await asyncio.shield(self._close(chat, reason))

    async def _close(self, chat: LiveChat, reason: EndReason) -> None:
        contact = chat.contact
        assert contact is not None
        contact_id = contact.contact_id
        try:
            if not chat.closed_logged:
                await self.store.append(contact_id, "chat.closed", {"by": chat.closed_by or "flow"})
            await contact.close(contact.ending(reason))
            await self.chats.update_session(chat.id, state="closed")
        except StoreError:
            log.exception("chat %s: could not record the end of contact %s", chat.id, contact_id)
        chat.closed_logged = False
        if chat.contact_id == contact_id:
            chat.set_state("closed")
        self.closed(chat, contact_id)
