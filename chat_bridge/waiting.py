"""A chat waiting in a queue: the core waiting experience (hotline/waiting.py) rendered
as chat, and the customer's answers to the callback offer.

The widget shows position and wait live (a `queue` frame whenever they change, with the
wait already in whole minutes); what is *told* on the queue's schedule becomes system
messages: position and wait (for messengers, which have no live display), the queue's
periodic messages, and the callback offer with two buttons. A customer who takes the
offer gives a number and the callback service books it from the chat's place in the
queue (`CallbackService.book_from_queue`, as for a caller): same entry time, same
priority. Events on the chat's contact, as for a call: queue.announced {position,
eta_minutes, periodic, callback_offer}, queue.callback_asked, queue.callback_refused
{reason, message}, queue.callback {callback, number}.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from chat_bridge.chat import LiveChat
from chat_bridge.text_port import Input
from chat_bridge.texts import Texts
from hotline.acd.service import RoutingService
from hotline.acd.settings import QueueSettings
from hotline.callbacks.rules import CallbackRefused
from hotline.callbacks.service import CallbackService
from hotline.store import Store
from hotline.waiting import (
    CallbackOffer,
    EstimatedWait,
    Message,
    Position,
    Tell,
    WaitingExperience,
    announced,
    wait_minutes,
)

#: How often the live position and wait are refreshed.
LIVE_EVERY = 1.0

#: A queue without settings here tells nothing (a reload race; the linter refuses it).
QUIET = QueueSettings.model_validate({})

#: Pending answers of a waiting customer (`LiveChat.pending`).
ASKED_NUMBER = "callback_phone"
BOOKING = "booking"


def booking(chat: LiveChat) -> bool:
    """The chat's callback is being booked: its queue's "left" is the callback taking
    its place, not the customer leaving."""
    return chat.pending == BOOKING


class ChatWaiting:
    """Every waiting chat's experience (one instance per bridge)."""

    def __init__(
        self,
        store: Store,
        routing: RoutingService,
        queues: Mapping[str, QueueSettings],
        callbacks: CallbackService | None,
        texts: Texts,
        link_phone: Callable[[LiveChat, str], Awaitable[None]],
    ) -> None:
        self.store = store
        self.routing = routing
        self.queues = queues
        self.callbacks = callbacks
        self.texts = texts
        self.link_phone = link_phone

    async def run(self, chat: LiveChat, queue: str) -> None:
        """Until cancelled: the live frame, and what the queue's schedule says is due
        (from now: a chat carried on after a restart is told its place again)."""
        settings = self.queues.get(queue, QUIET)
        wait = WaitingExperience(
            settings, started=time.monotonic(), callbacks=self.callbacks is not None
        )
        while True:
            contact_id = chat.contact_id or ""
            position, eta = self.routing.position(contact_id), self.routing.eta(contact_id)
            self._live(chat, queue, position, eta)
            now = time.monotonic()
            if now >= wait.next_at():
                await self.tell(chat, wait.due(now, position=position, eta=eta))
            await asyncio.sleep(max(0.05, min(LIVE_EVERY, wait.next_at() - now)))

    def _live(self, chat: LiveChat, queue: str, position: int | None, eta: float | None) -> None:
        frame: dict[str, Any] = {
            "v": 1,
            "type": "queue",
            "queue": queue,
            "position": position,
            "eta": None if eta is None else round(eta),
            "minutes": None if eta is None else wait_minutes(eta),
        }
        if frame != chat.last_queue_frame:
            chat.last_queue_frame = frame
            chat.send(frame)

    async def tell(self, chat: LiveChat, told: list[Tell]) -> None:
        """Render what is due as the chat's messages, and log it as a call's would be."""
        if not told:
            return
        language, lines, offer = chat.language, list[str](), False
        for tell in told:
            match tell:
                case Position(number):
                    lines.append(self.texts("chat_queue_position", language, position=number))
                case EstimatedWait(minutes):
                    lines.append(self.texts("chat_queue_eta", language, minutes=minutes))
                case Message(key):
                    await chat.post("system", self.texts(key, language))
                case CallbackOffer():
                    offer = True
        if lines and chat.kind != "web":  # the widget shows position and wait live
            await chat.post("system", " ".join(lines))
        if offer:
            await chat.post(
                "system",
                self.texts("chat_callback_offer", language),
                data={
                    "buttons": [
                        {"value": "callback", "label": self.texts("chat_callback_yes", language)},
                        {"value": "wait", "label": self.texts("chat_callback_no", language)},
                    ]
                },
            )
        await self.store.append(
            chat.contact_id, "queue.announced", announced(told), queue=chat.queue
        )

    async def answer(self, chat: LiveChat, given: Input) -> None:
        """A waiting customer's message: their answer to the callback offer (a choice,
        then a number), or a note the agent reads when they join."""
        value = given.text.strip()
        if chat.pending == ASKED_NUMBER and not given.choice:
            await self.book_callback(chat, value)
        elif given.choice and value == "callback" and self.callbacks is not None:
            chat.pending = ASKED_NUMBER
            await self.store.append(
                chat.contact_id, "queue.callback_asked", {"queue": chat.queue}, queue=chat.queue
            )
            await chat.post("system", self.texts("chat_callback_number", chat.language))
        elif given.choice and value == "wait":
            chat.pending = None
            await chat.post("system", self.texts("chat_keep_waiting", chat.language))

    async def book_callback(self, chat: LiveChat, number: str) -> None:
        """Book a callback that takes the chat's place in its queue; the chat then leaves
        the queue (its queue outcome is `callback`)."""
        contact_id, queue = chat.contact_id or "", chat.queue or ""
        if self.callbacks is None:
            await self._refused(chat, CallbackRefused("no_callbacks", "no callbacks here"))
            return
        try:
            checked = self.callbacks.check(number, queue)
        except CallbackRefused as refused:
            await self._refused(chat, refused)
            return
        # The number given ties the chat to that customer first: the callback's contact
        # is opened with the chat's customer (the agent's screen pop shows them).
        await self.link_phone(chat, checked)
        # Set first: the queue's "left" may reach the chat before booking returns.
        chat.pending = BOOKING
        try:
            callback = await self.callbacks.book_from_queue(
                contact_id, checked, queue, language=chat.language, channel="chat"
            )
        except CallbackRefused as refused:
            chat.pending = ASKED_NUMBER
            await self._refused(chat, refused)
            return
        await self.store.append(
            contact_id,
            "queue.callback",
            {"queue": queue, "callback": callback.contact_id, "number": callback.number},
            queue=queue,
        )
        await chat.post(
            "system", self.texts("chat_callback_booked", chat.language, number=callback.number)
        )

    async def _refused(self, chat: LiveChat, refused: CallbackRefused) -> None:
        await self.store.append(
            chat.contact_id,
            "queue.callback_refused",
            {"queue": chat.queue, "reason": refused.reason, "message": str(refused)},
            queue=chat.queue,
        )
        text = self.texts(refused.prompt, chat.language)
        await chat.post("system", text, data={"reason": refused.reason})
