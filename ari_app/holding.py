"""Holding bridges, where callers wait in a queue with its music on hold.

Each waiting caller has a holding bridge of their own, `hold-<queue>-<channel>`, with
the queue's music: callers never share a bridge, so Asterisk never serialises joins and
leaves on one bridge's lock and its snapshot of every member (one shared bridge was
where a load of 32 calls a second waited: docs/benchmarks.md), and the controller needs
no lock of its own.

The music is the holding bridge's own "entertainment" of a participant (Asterisk's
bridge_holding: music on hold started on the caller's channel as they join, in the
role `holding_participant`, and stopped as they leave or while something is played to
them; of the channel's music class), not the bridge's music
(`POST bridges/{id}/moh`): that one is an extra Announcer channel pair and thread per
bridge whose audio is mixed to the caller as signed linear and transcoded again, which
with a bridge per caller doubled the channels Asterisk ran and was the voice
regression of issue 15 (docs/benchmarks.md). It is what app_queue does too.

The bridge is made when the caller starts waiting and destroyed when they stop:

- to talk to an agent, the caller is put straight into the conversation's bridge
  (Asterisk takes a channel out of its Stasis bridge when it is added to another), and
  the empty holding bridge is destroyed afterwards, off the way from the agent's answer
  to the conversation (`moved`);
- back to the flow (a timeout, the leave key, a callback booked), the caller is taken
  out first, then the bridge goes (`leave`): a prompt played next is never lost with a
  bridge being torn down;
- the caller hung up: the bridge goes (`leave(..., gone=True)`).

The channel's music class (`CHANNEL(musicclass)`) is set only when it is not the
queue's already (`VoicePort.music_class` says what the channel plays): a new inbound
caller's channel has no class, which Asterisk plays as `default`, the queues' own
default (ari_app/call.py), so most callers need no request for it.

Ids start with `hold-`, as ari_app/recovery.py expects of a waiting caller's bridge.
"""

from __future__ import annotations

import asyncio
import contextlib

from ari_app.client import AriClient, AriError

HOLD = "hold-"


class HoldingBridges:
    """The waiting callers' holding bridges (see the module docstring)."""

    def __init__(self, ari: AriClient) -> None:
        self.ari = ari
        #: bridge id -> the callers in it (one, unless adopted from an older controller)
        self.members: dict[str, set[str]] = {}

    async def join(self, queue: str, music: str, channel: str, has: str | None = None) -> str:
        """Put the caller in a holding bridge of their own with `music`; its id. `has`:
        the music class the channel has already (None: not known)."""
        bridge = f"{HOLD}{queue}-{channel}"
        made: object = None
        classed: object = None
        if has == music:
            await self._make(bridge)  # fails as it is: nothing made, nothing to undo
        else:
            # The bridge and the caller's music class together, then the caller: their
            # music starts as they join (a caller transferred from another queue may
            # carry that queue's class).
            made, classed = await asyncio.gather(
                self._make(bridge),
                self.ari.request(
                    "POST",
                    f"channels/{channel}/variable",
                    params={"variable": "CHANNEL(musicclass)", "value": music},
                ),
                return_exceptions=True,
            )
        if isinstance(made, BaseException):
            raise made
        self.members[bridge] = {channel}
        try:
            if isinstance(classed, BaseException):  # the caller hung up meanwhile, say
                raise classed
            # "holding_participant" without options: music on hold (a Stasis holding
            # bridge gives any other role the idle mode "none", silence).
            await self.ari.request(
                "POST",
                f"bridges/{bridge}/addChannel",
                params={"channel": channel, "role": "holding_participant"},
            )
        except BaseException:  # no bridge is left behind
            await self._destroy(bridge)
            raise
        return bridge

    async def _make(self, bridge: str) -> None:
        params = {"type": "holding", "bridgeId": bridge}
        try:
            await self.ari.request("POST", "bridges", params=params)
        except AriError as error:
            if error.status != 409:
                raise
            # This caller's bridge of an earlier wait in this queue, not gone yet (its
            # DELETE still in Asterisk's hands: a transfer back to the same queue at
            # once, on a loaded box): nobody else waits in it; destroyed, made anew.
            with contextlib.suppress(AriError):
                await self.ari.request("DELETE", f"bridges/{bridge}")
            await self.ari.request("POST", "bridges", params=params)

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
        goes."""
        await self._out(bridge, channel)

    async def _out(self, bridge: str, channel: str) -> None:
        """The caller is out: the bridge goes once nobody is left in it (a bridge an
        older controller shared between callers stays for the others)."""
        members = self.members.get(bridge)
        if members is None:
            return
        members.discard(channel)
        if members:
            return
        await self._destroy(bridge)

    async def _destroy(self, bridge: str) -> None:
        self.members.pop(bridge, None)
        with contextlib.suppress(AriError):
            await self.ari.request("DELETE", f"bridges/{bridge}")

    def forget(self) -> None:
        """Asterisk went away, and its bridges with it."""
        self.members.clear()

    def adopt(self, bridge: str, channels: set[str]) -> None:
        """A bridge a previous controller made, with callers still in it (recovery)."""
        self.members.setdefault(bridge, set()).update(channels)
