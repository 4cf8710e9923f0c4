"""A chat's time in a queue and with agents, through the one routing engine.

The chat waits (chat_bridge/waiting.py renders what it is told) while the engine's
offers go to agents' desks (chat_bridge/agents.py); an accepted chat talks with its agent
until the agent closes or transfers it (a transfer queues it again) or the customer goes
quiet: reminded after `chat.reminder_after` s of silence, let go after `close_after` more.
A customer who leaves the queue unanswered goes through the queue's abandoned policy, as
a caller who hangs up waiting does. Each visit's outcome is handed to the contact's
lifecycle (hotline/contacts).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from chat_bridge.agents import AgentHub
from chat_bridge.chat import LiveChat
from chat_bridge.texts import Texts
from chat_bridge.waiting import ChatWaiting, booking
from hotline.acd.decisions import Offer
from hotline.acd.model import Channel, Outcome
from hotline.acd.service import Finished, RoutingService, Ticket, Withdrawn
from hotline.chat_settings import ChatConfig
from hotline.flows.services import QueueRequest

#: Applies the queue's abandoned policy: (contact id, queue, seconds waited).
Abandoned = Callable[[str, str, float], Awaitable[None]]


class ChatQueueing:
    """Every chat's queue visits (one instance per bridge)."""

    def __init__(
        self,
        routing: RoutingService,
        hub: AgentHub,
        waiting: ChatWaiting,
        settings: ChatConfig,
        texts: Texts,
        abandoned: Abandoned,
    ) -> None:
        self.routing = routing
        self.hub = hub
        self.waiting = waiting
        self.settings = settings
        self.texts = texts
        self.abandoned = abandoned

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
            if chat.contact is not None:
                chat.contact.run.queue_finished(outcome)
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
                    await chat.post("system", self.texts("chat_reminder", chat.language))
                    continue
            else:
                limit = settings.reminder_after + settings.close_after - waited
                if limit <= 0:
                    await chat.post("system", self.texts("chat_inactive_closed", chat.language))
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
        offers go to agents' desks, the customer is told what the queue tells."""
        chat.queue = queue
        chat.pending = None
        chat.set_state("queued")
        waiting = asyncio.create_task(self.waiting.run(chat, queue))
        try:
            async for item in ticket:
                if isinstance(item, Offer):
                    await self.hub.offer(chat, item)
                elif isinstance(item, Withdrawn):
                    self.hub.withdraw(item.offer, item.reason)
                elif isinstance(item, Finished):
                    if item.outcome == Outcome.LEFT and booking(chat):
                        return "callback"  # the callback took the chat's place
                    if item.outcome == Outcome.LEFT:
                        waited = time.monotonic() - joined
                        await self.abandoned(chat.contact_id or "", queue, waited)
                    return str(item.outcome)
        finally:
            waiting.cancel()
            chat.last_queue_frame = None
        return "left"
