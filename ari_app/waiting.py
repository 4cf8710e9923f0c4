"""A caller waiting in a queue's holding bridge: what they hear and the keys they press.

What a waiting contact is told, and when, is the core waiting experience's
(hotline/waiting.py: position and estimated wait on arrival and then every so often,
periodic prompts after their interval, the callback offer once the estimated wait passes
the queue's `offer_after`); here it is only rendered as prompts over the music
(`prompts_of`). The queue's leave key ends the wait ("left"); its callback key
books a callback that keeps the caller's place ("callback"): the number is read back for
confirmation or typed in, the callback is booked (stored first) and the call leaves the
queue. Every other event that reaches the caller's inbox meanwhile (the engine's offers,
the agent legs' events) is the agents' side's (`AgentSide`, ari_app/queueing.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Protocol, assert_never

from ari_app.client import AriError, AriEvent, AriNotFound
from ari_app.voice_port import VoicePort
from hotline.acd.decisions import Offer
from hotline.acd.service import RoutingService
from hotline.acd.settings import QueueSettings
from hotline.callbacks.dialog import Checked, ask_number
from hotline.callbacks.rules import CallbackRefused
from hotline.callbacks.service import CallbackService
from hotline.callbacks.settings import QueueCallback
from hotline.flows.port import CallerGone, Prompt
from hotline.waiting import (
    INF,
    CallbackOffer,
    EstimatedWait,
    Message,
    Position,
    Tell,
    WaitingExperience,
    announced,
)
from voice.caller_id import number_of


class AgentSide(Protocol):
    """The agents rung for the waiting caller, as the wait sees them."""

    def ringing(self) -> bool:
        """An agent's phone rings for the caller now."""
        ...

    def next_deadline(self) -> float:
        """When the earliest ringing agent is given up on (INF: nobody rings)."""
        ...

    async def ring_out(self, now: float) -> None:
        """Give up on the agents whose ring time is over at `now`."""
        ...

    async def handle(self, event: AriEvent) -> str | None:
        """An event that is not the caller's key: the wait's outcome, or None."""
        ...


class OfferGate:
    """Holds the engine's offers back while the caller books a callback, and notes
    whether an agent was reserved for the caller meanwhile."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self.offer_held = asyncio.Event()

    async def pass_through(self, item: object) -> None:
        """Return once `item` (an item of the routing ticket) may be delivered."""
        if isinstance(item, Offer) and not self._open.is_set():
            self.offer_held.set()
        await self._open.wait()

    def close(self) -> None:
        self._open.clear()
        self.offer_held.clear()

    def reopen(self) -> None:
        self._open.set()


class CallerWait:
    """One caller's wait in one queue's holding bridge (see the module docstring)."""

    def __init__(
        self,
        port: VoicePort,
        routing: RoutingService,
        callbacks: CallbackService | None,
        contact_id: str,
        settings: QueueSettings,
        queue: str,
        gate: OfferGate,
    ) -> None:
        self.port = port
        self.routing = routing
        self.callbacks = callbacks
        self.contact_id = contact_id
        self.settings = settings
        self.queue = queue
        self.gate = gate
        self.language = "en"
        self.announcing: str | None = None  # playback id

    async def run(self, agents: AgentSide, language: str) -> str:
        """Wait until the caller leaves, books a callback, or the agents' side ends the
        wait (an agent answered and the conversation is over, the queue put them out)."""
        self.language = language
        wait = WaitingExperience(
            self.settings,
            started=time.monotonic(),
            callbacks=self.callback_settings() is not None,
        )
        while True:
            now = time.monotonic()
            wake = min(wait.next_at(), agents.next_deadline())
            event = await self.port.next_event(None if wake == INF else max(0.0, wake - now))
            now = time.monotonic()
            if event is None:
                await agents.ring_out(now)
                if now >= wait.next_at():
                    position, eta = self.routing.place(self.contact_id)
                    await self.announce(wait.due(now, position=position, eta=eta))
                continue
            if event["type"] == "ChannelDtmfReceived" and self.port.is_caller(event):
                outcome = await self.on_key(event["digit"], agents)
            else:
                outcome = await agents.handle(event)
            if outcome is not None:
                return outcome

    async def on_key(self, digit: str, agents: AgentSide) -> str | None:
        """The caller pressed a key while waiting: the wait's outcome, or None."""
        if self.settings.leave_key and digit == self.settings.leave_key:
            await self.routing.leave(self.contact_id, "left")
            await self.port.emit("queue.left", {"key": digit})
            return "left"
        offer = self.callback_settings()
        if offer and digit == offer.key and not agents.ringing() and self.callbacks:
            return await self.book_callback(self.callbacks)
        return None

    async def announce(self, told: list[Tell]) -> None:
        """Say what the waiting experience says is due, as one announcement over the
        music."""
        prompts = [prompt for tell in told for prompt in prompts_of(tell)]
        if not prompts:
            return
        await self.stop_announcement()
        await self.port.prompts.speak(prompts, self.language)
        uris = [uri for uri, _ in self.port.prompts.media(prompts, self.language)]
        playback = f"announce-{uuid.uuid4().hex[:8]}"
        with contextlib.suppress(AriNotFound):
            await self.port.ari.play(
                self.port.channel_id, uris, lang=self.language, playback_id=playback
            )
            self.announcing = playback
            await self.port.emit("queue.announced", announced(told))

    def callback_settings(self) -> QueueCallback | None:
        """The queue's callback settings, if it offers callbacks by a key."""
        callback = self.settings.callback
        if self.callbacks is None or callback is None or callback.key is None:
            return None
        return callback

    async def stop_announcement(self) -> None:
        if self.announcing is not None:
            with contextlib.suppress(AriError):
                await self.port.ari.stop_playback(self.announcing)
            self.announcing = None

    async def book_callback(self, desk: CallbackService) -> str | None:
        """The caller asked for a callback. Returns "callback" once booked (the call
        has left the queue), None to go on waiting.

        The engine's offers for the call are held back meanwhile; if an agent is
        reserved for the caller before they confirm a number, the dialog stops and the
        agent is rung at once: being answered now beats being called back (and the
        agent is not left waiting out a ring timeout)."""
        port, queue, language = self.port, self.queue, self.language
        self.gate.close()
        try:
            await port.emit("queue.callback_asked", {"queue": queue})
            await self.stop_announcement()

            def check(number: str) -> Checked:
                try:
                    return Checked(desk.check(number, queue))
                except CallbackRefused as refused:
                    return Checked(None, refused.reason, refused.prompt)

            asking = asyncio.create_task(
                ask_number(port, language, number_of(port.caller_id), check)
            )
            offered = asyncio.create_task(self.gate.offer_held.wait())
            try:
                await asyncio.wait({asking, offered}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                offered.cancel()
            if not asking.done():
                asking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asking
                await port.emit("queue.callback_declined", {"queue": queue, "reason": "agent_free"})
                return None
            answer = asking.result()  # CallerGone (a hang-up mid-dialog) goes on up
            if answer.outcome != "confirmed" or answer.number is None:
                await port.emit(
                    "queue.callback_declined", {"queue": queue, "reason": answer.reason}
                )
                return None
            try:
                callback = await desk.book_from_queue(
                    self.contact_id, answer.number, queue, language=language
                )
            except CallbackRefused as refused:
                await port.emit(
                    "queue.callback_refused",
                    {"queue": queue, "reason": refused.reason, "message": str(refused)},
                )
                await port.play([Prompt(key=refused.prompt)], language=language, barge_in=False)
                return None
            await port.emit(
                "queue.callback",
                {"queue": queue, "callback": callback.contact_id, "number": callback.number},
            )
            key = "callback_scheduled" if callback.scheduled_for else "callback_booked"
            with contextlib.suppress(CallerGone):  # booked: hanging up now is expected
                await port.play([Prompt(key=key)], language=language, barge_in=False)
            return "callback"
        finally:
            self.gate.reopen()


def prompts_of(tell: Tell) -> list[Prompt]:
    """What the caller hears for one thing the waiting experience tells."""
    match tell:
        case Position(number):
            return [Prompt(key="queue_position"), Prompt(say="number", value=str(number))]
        case EstimatedWait(minutes):
            return [
                Prompt(key="queue_eta"),
                Prompt(say="number", value=str(minutes)),
                Prompt(key="queue_minutes"),
            ]
        case Message(key):
            return [Prompt(key=key)]
        case CallbackOffer(key):
            return [Prompt(key="callback_offer"), Prompt(say="digits", value=key or "")]
        case _:
            assert_never(tell)
