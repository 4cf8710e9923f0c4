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
import logging
import math
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

log = logging.getLogger(__name__)

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


class LiveBoard:
    """Every waiting chat's live frame, refreshed together every `every` seconds by one
    task, 50 chats per loop step (a timer and a task wake-up per chat and second
    cost 7 % of the server's CPU with 5,000 chats waiting, py-spy, bench/bench_chat.py)."""

    def __init__(
        self,
        refresh: Callable[[LiveChat, str], None],
        every: float = LIVE_EVERY,
        per_step: int = 50,
    ) -> None:
        self.refresh = refresh
        self.every = every
        self.per_step = per_step
        #: Chat id -> (chat, queue).
        self.chats: dict[str, tuple[LiveChat, str]] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, chat: LiveChat, queue: str) -> None:
        """Refresh `chat` now, then with the others until removed."""
        self.chats[chat.id] = (chat, queue)
        self.refresh(chat, queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="chat-live-board")

    def remove(self, chat: LiveChat) -> None:
        found = self.chats.get(chat.id)
        if found is not None and found[0] is chat:
            del self.chats[chat.id]

    async def _run(self) -> None:
        while self.chats:
            await asyncio.sleep(self.every)
            for n, entry in enumerate(list(self.chats.values()), 1):
                chat, queue = entry
                if self.chats.get(chat.id) is entry:  # not removed meanwhile
                    try:
                        self.refresh(chat, queue)
                    except Exception:  # one chat's failure must not stop the others'
                        log.exception("chat %s: live frame failed", chat.id)
                if n % self.per_step == 0:
                    await asyncio.sleep(0)  # let messages through between slices


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
        self.board = LiveBoard(self.refresh)

    async def run(self, chat: LiveChat, queue: str) -> None:
        """Until cancelled: the live frame (kept fresh by the board), and what the
        queue's schedule says is due (from now: a chat carried on after a restart is
        told its place again)."""
        settings = self.queues.get(queue, QUIET)
        wait = WaitingExperience(
            settings, started=time.monotonic(), callbacks=self.callbacks is not None
        )
        self.board.add(chat, queue)
        try:
            while True:
                now = time.monotonic()
                if now >= wait.next_at():
                    contact_id = chat.contact_id or ""
                    position, eta = self.routing.place(contact_id)
                    await self.tell(chat, wait.due(now, position=position, eta=eta))
                delay = wait.next_at() - time.monotonic()
                if math.isinf(delay):  # nothing more to tell: wait to be cancelled
                    await asyncio.get_running_loop().create_future()
                await asyncio.sleep(max(0.05, delay))
        finally:
            self.board.remove(chat)

    def refresh(self, chat: LiveChat, queue: str) -> None:
        """Send the chat's live frame if its position or wait changed."""
        self._live(chat, queue, *self.routing.place(chat.contact_id or ""))

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
        # Logged first, then said: whoever reads the log once the customer has seen a
        # message finds it there (write-ahead, like the routing engine's changes).
        await self.store.append(
            chat.contact_id, "queue.announced", announced(told), queue=chat.queue
        )
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
