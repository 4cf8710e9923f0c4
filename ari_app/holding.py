"""Holding bridges, where callers wait in a queue with its music on hold.

Each waiting caller is alone in a holding bridge with the queue's music: callers never
share a bridge, so Asterisk never serialises joins and leaves on one bridge's lock and
its snapshot of every member (one shared bridge was where a load of 32 calls a second
waited: docs/benchmarks.md), and the controller needs no lock of its own.

The music is the holding bridge's own "entertainment" of a participant (Asterisk's
bridge_holding: music on hold started on the caller's channel as they join, in the
role `holding_participant`, and stopped as they leave or while something is played to
them; of the channel's music class), not the bridge's music
(`POST bridges/{id}/moh`): that one is an extra Announcer channel pair and thread per
bridge whose audio is mixed to the caller as signed linear and transcoded again, which
with a bridge per caller doubled the channels Asterisk ran and was the voice
regression of issue 15 (docs/benchmarks.md). It is what app_queue does too.

The bridges are pooled, one caller at a time in each: a caller who starts waiting
takes an idle bridge of the queue (one is made only when none is idle), and when they
stop waiting the bridge, empty again, goes back to the pool (up to `idle_cap` idle
bridges a queue; more are destroyed). A bridge made and destroyed per caller was 2 of
the 10 ARI requests of a queued call, and its life in Asterisk (its stasis topic, the
application's subscription, the create and destroy messages) a share of Asterisk's CPU
per call. A caller stops waiting:

- to talk to an agent: they are put straight into the conversation's bridge (Asterisk
  takes a channel out of its Stasis bridge when it is added to another), and the
  holding bridge is released afterwards, off the way from the agent's answer to the
  conversation (`moved`);
- back to the flow (a timeout, the leave key, a callback booked): taken out first, then
  the bridge is released (`leave`): a prompt played next is never lost;
- they hung up (`leave(..., gone=True)`).

Only a bridge with nobody left in it (as the controller counts its members) goes back
to the pool, so a new caller never joins one that still holds someone. An idle bridge
that fails the next caller's join (destroyed meanwhile: by Asterisk, a restart, someone
else's DELETE) is dropped and a new one made for that caller, once. Asterisk gone,
the pool is forgotten (`forget`); the controller stopping destroys its idle bridges
(`close`). A bridge an older controller left with callers in it (`adopt`, recovery) is
destroyed once they are gone, as its id is of that controller's making.

The channel's music class (`CHANNEL(musicclass)`) is set only when it is not the
queue's already (`VoicePort.music_class` says what the channel plays): a new inbound
caller's channel has no class, which Asterisk plays as `default`, the queues' own
default (ari_app/call.py), so most callers need no request for it. It is set together
with making a bridge, or alone before joining an idle one.

Ids are `hold-<queue>-<token>-<n>`: `hold-` is how ari_app/recovery.py knows a waiting
caller's bridge (an empty one, an idle bridge of a controller that died, is destroyed
there); the token is random per controller, so that a restarted controller's bridges
never take the id of one an older controller left in Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import Mapping
from typing import Any

from ari_app.client import AriClient, AriError

HOLD = "hold-"
#: Idle bridges kept per queue: as many as callers leave a queue in a second or two at
#: the rates this box carries; an idle bridge costs Asterisk only memory.
IDLE_CAP = 64
#: addChannel's answers that say the bridge itself is gone or unusable (404 Not Found,
#: 409 not in our Stasis application, 422 Unprocessable): an idle bridge failing so is
#: dropped, and the caller gets a new one.
STALE = frozenset({404, 409, 422})


def is_idle_holding(bridge: Mapping[str, Any]) -> bool:
    """An empty holding bridge in ARI's list: a running controller's idle pool, reused
    by the next callers and destroyed as it stops, not a bridge left behind."""
    return str(bridge.get("id", "")).startswith(HOLD) and not bridge.get("channels")


class HoldingBridges:
    """The waiting callers' holding bridges, pooled (see the module docstring)."""

    def __init__(self, ari: AriClient, *, idle_cap: int = IDLE_CAP, token: str = "") -> None:
        self.ari = ari
        self.idle_cap = idle_cap
        #: Unique to this instance: a restarted controller never reuses an older one's id.
        self.token = token or secrets.token_hex(4)
        self._numbers = itertools.count(1)
        #: bridge id -> the callers in it (one, unless adopted from an older controller)
        self.members: dict[str, set[str]] = {}
        #: queue -> its idle bridges, the last released last
        self.idle: dict[str, list[str]] = {}
        #: bridge id -> its queue, for every bridge of the pool (idle or not)
        self.pooled: dict[str, str] = {}

    async def join(self, queue: str, music: str, channel: str, has: str | None = None) -> str:
        """Put the caller in a holding bridge of their own with `music`; its id. `has`:
        the music class the channel has already (None: not known)."""
        bridge = self._take(queue)
        if bridge is None:
            return await self._join_new(queue, music, channel, has)
        self.members[bridge] = {channel}
        try:
            if has != music:
                await self._set_class(channel, music)
        except BaseException:  # the caller is gone, say: the bridge is as good as before
            await self._out(bridge, channel)
            raise
        has = music
        try:
            await self._add(bridge, channel)
        except AriError as error:
            self._drop(bridge)
            await self._delete(bridge)  # gone already, mostly; else it would stay behind
            if error.status not in STALE:
                raise
            return await self._join_new(queue, music, channel, has)
        except BaseException:
            self._drop(bridge)
            await self._delete(bridge)
            raise
        return bridge

    async def _join_new(self, queue: str, music: str, channel: str, has: str | None) -> str:
        """Join a bridge made for the caller (none idle, or the idle one failed)."""
        bridge = f"{HOLD}{queue}-{self.token}-{next(self._numbers)}"
        made: object = None
        classed: object = None
        if has == music:
            await self._make(bridge)  # fails as it is: nothing made, nothing to undo
        else:
            # The bridge and the caller's music class together, then the caller: their
            # music starts as they join (a caller transferred from another queue may
            # carry that queue's class).
            made, classed = await asyncio.gather(
                self._make(bridge), self._set_class(channel, music), return_exceptions=True
            )
        if isinstance(made, BaseException):
            raise made
        self.members[bridge] = {channel}
        self.pooled[bridge] = queue
        try:
            if isinstance(classed, BaseException):  # the caller hung up meanwhile, say
                raise classed
            await self._add(bridge, channel)
        except BaseException:  # no bridge is left behind (nor kept: its state not known)
            self._drop(bridge)
            await self._delete(bridge)
            raise
        return bridge

    def _take(self, queue: str) -> str | None:
        idle = self.idle.get(queue)
        return idle.pop() if idle else None

    async def _make(self, bridge: str) -> None:
        await self.ari.request("POST", "bridges", params={"type": "holding", "bridgeId": bridge})

    async def _set_class(self, channel: str, music: str) -> None:
        await self.ari.request(
            "POST",
            f"channels/{channel}/variable",
            params={"variable": "CHANNEL(musicclass)", "value": music},
        )

    async def _add(self, bridge: str, channel: str) -> None:
        # "holding_participant" without options: music on hold (a Stasis holding bridge
        # gives any other role the idle mode "none", silence).
        await self.ari.request(
            "POST",
            f"bridges/{bridge}/addChannel",
            params={"channel": channel, "role": "holding_participant"},
        )

    async def leave(self, bridge: str, channel: str, *, gone: bool = False) -> None:
        """The caller stops waiting and goes on in the flow (out of the bridge first,
        so that what is played next reaches them), or hung up (`gone`)."""
        members = self.members.get(bridge)
        if members is None or channel not in members:
            return
        if not gone:
            with contextlib.suppress(AriError):
                await self.ari.request(
                    "POST", f"bridges/{bridge}/removeChannel", params={"channel": channel}
                )
        await self._out(bridge, channel)

    async def moved(self, bridge: str, channel: str) -> None:
        """The caller is in another bridge now (their conversation): the holding bridge
        is released."""
        await self._out(bridge, channel)

    async def _out(self, bridge: str, channel: str) -> None:
        """The caller is out: once nobody is left in it, the bridge goes back to the
        pool, or is destroyed (the pool full, or a bridge an older controller made and
        shared between callers, which stays for the others until then)."""
        members = self.members.get(bridge)
        if members is None:
            return
        members.discard(channel)
        if members:
            return
        del self.members[bridge]
        queue = self.pooled.get(bridge)
        if queue is not None:
            idle = self.idle.setdefault(queue, [])
            if len(idle) < self.idle_cap:
                idle.append(bridge)
                return
            del self.pooled[bridge]
        await self._delete(bridge)

    def _drop(self, bridge: str) -> None:
        """Forget a bridge of the pool (it is not used again)."""
        self.members.pop(bridge, None)
        self.pooled.pop(bridge, None)

    async def _delete(self, bridge: str) -> None:
        with contextlib.suppress(AriError):
            await self.ari.request("DELETE", f"bridges/{bridge}")

    async def close(self) -> None:
        """The controller stops: its idle bridges are destroyed (those with callers in
        them stay, for the next controller to take over)."""
        idle = [bridge for bridges in self.idle.values() for bridge in bridges]
        self.idle.clear()
        for bridge in idle:
            self.pooled.pop(bridge, None)
        await asyncio.gather(*(self._delete(bridge) for bridge in idle))

    def forget(self) -> None:
        """Asterisk went away, and its bridges with it."""
        self.members.clear()
        self.idle.clear()
        self.pooled.clear()

    def adopt(self, bridge: str, channels: set[str]) -> None:
        """A bridge a previous controller made, with callers still in it (recovery):
        destroyed once they are gone, not pooled."""
        self.members.setdefault(bridge, set()).update(channels)
