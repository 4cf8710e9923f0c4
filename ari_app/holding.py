"""Queues' holding bridges, where callers wait with music on hold."""

from __future__ import annotations

import asyncio
import contextlib

from ari_app.client import AriClient, AriError


class HoldingBridges:
    """One holding bridge per queue with its music on hold, made when the first caller
    arrives and destroyed when the last one leaves (nothing lingers in Asterisk).

    Callers go in and out with a request each, at the same time: the lock is held only
    while a bridge is made or destroyed, never around one caller's request, so under
    load callers do not wait in line behind each other's round trips to Asterisk (a
    caller's leave is on the way from the agent's answer to the conversation)."""

    def __init__(self, ari: AriClient) -> None:
        self.ari = ari
        self.members: dict[str, set[str]] = {}
        self.lock = asyncio.Lock()

    async def join(self, queue: str, music: str, channel: str) -> str:
        bridge = f"hold-{queue}"
        async with self.lock:
            if bridge not in self.members:
                await self.ari.request(
                    "POST", "bridges", params={"type": "holding", "bridgeId": bridge}
                )
                await self.ari.request("POST", f"bridges/{bridge}/moh", params={"mohClass": music})
                self.members[bridge] = set()
            # A member before its request: a leave meanwhile does not destroy the bridge.
            self.members[bridge].add(channel)
        try:
            await self.ari.request(
                "POST",
                f"bridges/{bridge}/addChannel",
                params={"channel": channel, "role": "participant"},
            )
        except BaseException:
            await self._out(bridge, channel, joined=False)
            raise
        return bridge

    async def leave(self, bridge: str, channel: str) -> None:
        await self._out(bridge, channel, joined=True)

    async def _out(self, bridge: str, channel: str, *, joined: bool) -> None:
        members = self.members.get(bridge)
        if members is None or channel not in members:
            return
        if len(members) > 1:  # not the last: out at once
            members.discard(channel)
            if joined:
                await self._remove(bridge, channel)
            return
        async with self.lock:  # perhaps the last: destroying the bridge is the lock's
            members = self.members.get(bridge)
            if members is None or channel not in members:
                return
            members.discard(channel)
            if joined:
                await self._remove(bridge, channel)
            if not members:
                del self.members[bridge]
                with contextlib.suppress(AriError):
                    await self.ari.request("DELETE", f"bridges/{bridge}")

    async def _remove(self, bridge: str, channel: str) -> None:
        with contextlib.suppress(AriError):
            await self.ari.request(
                "POST", f"bridges/{bridge}/removeChannel", params={"channel": channel}
            )

    def forget(self) -> None:
        """Asterisk went away, and its bridges with it."""
        self.members.clear()

    def adopt(self, bridge: str, channels: set[str]) -> None:
        """A bridge a previous controller made, with callers still in it (recovery)."""
        self.members.setdefault(bridge, set()).update(channels)
