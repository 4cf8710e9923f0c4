"""Call control over ARI: what an agent (or a supervisor) does with a live call from the
desk or the REST API (`hotline/calls`, the `CallControl` Protocol).

A queued caller's conversation (`conversation.py`) registers its call here while caller
and agent talk in their mixing bridge, and unregisters it before the bridge goes.

- Hold: the caller leaves the conversation's bridge and hears the queue's music on hold
  (on their own channel, in Stasis); the agent's leg stays parked in the bridge alone.
  `call.held` is logged.
- Resume: the music stops and the caller is back in the bridge with the agent;
  `call.resumed` is logged with this hold's length and the call's total.
- A call that ends on hold (either side hangs up) ends its hold first: the music
  stops, and `call.resumed` says `ended` and who hung up; the conversation's
  `queue.call_ended` carries the call's hold time (inside its talk time, so handle
  time counts it; docs/metrics.md).

Each command on a call runs under that call's lock, the conversation's end too, so a
command never acts on a call that is being torn down: it finds no call (404). A command
that fails half way puts the call back as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ari_app.client import AriClient, AriError, AriNotFound
from ari_app.legs import exists
from ari_app.voice_port import Emit
from hotline.acd.settings import QueueSettings
from hotline.calls import (
    CallState,
    Command,
    Conflict,
    HoldClock,
    NotFound,
    check_owner,
)

log = logging.getLogger(__name__)


@dataclass
class LiveCall:
    """A caller talking with an agent in a mixing bridge."""

    contact_id: str
    agent: str
    queue: str
    caller: str  # the caller's channel
    leg: str  # the agent's channel
    bridge: str
    music: str  # the queue's music-on-hold class
    emit: Emit  # the contact's event log
    clock: HoldClock = field(default_factory=HoldClock)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class AriCallControl:
    """The live calls of this controller and the commands on them (module docstring)."""

    def __init__(
        self,
        ari: AriClient,
        settings: Mapping[str, QueueSettings],
        *,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ari = ari
        self.settings = settings
        self.now = now
        self.calls: dict[str, LiveCall] = {}  # contact id -> its live call
        self.of_agent: dict[str, str] = {}  # agent -> contact id

    # The conversation's side

    def open(
        self,
        contact_id: str,
        agent: str,
        queue: str,
        caller: str,
        leg: str,
        bridge: str,
        emit: Emit,
    ) -> LiveCall:
        """Caller and agent talk in `bridge`: the call can be controlled."""
        settings = self.settings.get(queue)
        music = settings.music_on_hold if settings is not None else "default"
        call = LiveCall(contact_id, agent, queue, caller, leg, bridge, music, emit)
        self.calls[contact_id] = call
        self.of_agent[agent] = contact_id
        return call

    async def close(self, contact_id: str, ended_by: str) -> float:
        """The conversation ends (`ended_by` hung up): no more commands; a hold in
        progress ends. The call's hold time."""
        call = self.calls.get(contact_id)
        if call is None:
            return 0.0
        async with call.lock:
            self.calls.pop(contact_id, None)
            if self.of_agent.get(call.agent) == contact_id:
                del self.of_agent[call.agent]
            if call.clock.held:
                with contextlib.suppress(AriError):  # the caller may be gone already
                    await self.ari.request("DELETE", f"channels/{call.caller}/moh")
                await self._resumed(call, ended_by, ended=True)
            return round(call.clock.total, 1)

    # CallControl

    def state(self, contact_id: str) -> CallState | None:
        call = self.calls.get(contact_id)
        return None if call is None else self._state(call)

    def live_of_agent(self, agent: str) -> str | None:
        return self.of_agent.get(agent)

    async def act(
        self, contact_id: str, command: Command, *, by_agent: str | None, by: str = ""
    ) -> CallState:
        call = self._live(contact_id)
        check_owner(self._state(call), by_agent)
        who = by or by_agent or "api"
        async with call.lock:
            if self.calls.get(contact_id) is not call:
                raise NotFound(f"contact {contact_id} has no live call with an agent any more")
            try:
                if command.action == "hold":
                    await self._hold(call, who)
                elif command.action == "resume":
                    await self._resume(call, who)
                else:
                    raise Conflict(
                        f"{command.action} is not available on this call: "
                        "this Hotline's calls can be held and resumed"
                    )
            except AriError as error:
                if error.unreachable or not await exists(self.ari, call.caller):
                    raise NotFound(f"contact {contact_id}'s call is ending") from None
                raise Conflict(
                    f"{command.action} failed on contact {contact_id}: {error}"
                ) from None
            return self._state(call)

    # Hold and resume

    async def _hold(self, call: LiveCall, who: str) -> None:
        if call.clock.held:
            raise Conflict(f"contact {call.contact_id} is already on hold")
        try:
            await self.ari.request(
                "POST", f"bridges/{call.bridge}/removeChannel", params={"channel": call.caller}
            )
        except AriNotFound:
            raise NotFound(f"contact {call.contact_id}'s call is ending") from None
        try:
            await self.ari.request(
                "POST", f"channels/{call.caller}/moh", params={"mohClass": call.music}
            )
        except AriError:
            # Back as it was: with the agent, not in silence.
            with contextlib.suppress(AriError):
                await self.ari.request(
                    "POST", f"bridges/{call.bridge}/addChannel", params={"channel": call.caller}
                )
            raise
        call.clock.hold(self.now())
        await call.emit("call.held", {"agent": call.agent, "by": who})
        log.info("contact=%s on hold by %s", call.contact_id, who)

    async def _resume(self, call: LiveCall, who: str) -> None:
        if not call.clock.held:
            raise Conflict(f"contact {call.contact_id} is not on hold")
        try:
            await self.ari.request("DELETE", f"channels/{call.caller}/moh")
            await self.ari.request(
                "POST", f"bridges/{call.bridge}/addChannel", params={"channel": call.caller}
            )
        except AriNotFound:
            raise NotFound(f"contact {call.contact_id}'s call is ending") from None
        await self._resumed(call, who, ended=False)
        log.info("contact=%s resumed by %s", call.contact_id, who)

    async def _resumed(self, call: LiveCall, who: str, *, ended: bool) -> None:
        length = call.clock.resume(self.now())
        await call.emit(
            "call.resumed",
            {
                "agent": call.agent,
                "by": who,
                "hold_seconds": round(length, 1),
                "total_hold_seconds": round(call.clock.total, 1),
                "ended": ended,
            },
        )

    # Helpers

    def _live(self, contact_id: str) -> LiveCall:
        call = self.calls.get(contact_id)
        if call is None:
            raise NotFound(f"contact {contact_id} has no live call with an agent")
        return call

    def _state(self, call: LiveCall) -> CallState:
        return CallState(
            contact_id=call.contact_id,
            agent=call.agent,
            queue=call.queue,
            held=call.clock.held,
            hold_seconds=call.clock.seconds(self.now()),
        )
