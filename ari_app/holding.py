"""Queues' holding bridges, where callers wait with music on hold."""

from __future__ import annotations

import asyncio
import contextlib

from ari_app.client import AriClient, AriError


class HoldingBridges:
    """One holding bridge per queue with its music on hold, made when the first caller
    arrives and destroyed when the last one leaves (nothing lingers in Asterisk)."""

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
            await self.ari.request(
                "POST",
                f"bridges/{bridge}/addChannel",
                params={"channel": channel, "role": "participant"},
            )
            self.members[bridge].add(channel)
        return bridge

    async def leave(self, bridge: str, channel: str) -> None:
        async with self.lock:
            members = self.members.get(bridge)
            if members is None or channel not in members:
                return
            members.discard(channel)
            with contextlib.suppress(AriError):
                await self.ari.request(
                    "POST", f"bridges/{bridge}/removeChannel", params={"channel": channel}
                )
            if not members:
                del self.members[bridge]
                with contextlib.suppress(AriError):
                    await self.ari.request("DELETE", f"bridges/{bridge}")

    def forget(self) -> None:
        """Asterisk went away, and its bridges with it."""
        self.members.clear()

    def adopt(self, bridge: str, channels: set[str]) -> None:
        """A bridge a previous controller made, with callers still in it (recovery)."""
        self.members.setdefault(bridge, set()).update(channels)
