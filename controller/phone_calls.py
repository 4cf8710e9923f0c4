"""Ending the calls a browser phone left behind when its page went away.

A desk reloaded, closed or crashed mid-call normally says goodbye (phone.js sends BYE
on `pagehide`), but a crashed tab, a lost network or a BYE that did not leave before the
page did give Asterisk nothing: its WebRTC leg stays up, and the caller talks to nobody.
When the relay of that agent's browser phone closes (hotline/web/phone_api.py), the
channels of their browser-phone endpoint at that moment are given a short while for a
BYE on its way, then hung up over ARI. The conversation then ends as if the agent had
hung up (`queue.call_ended` by the agent; the flow goes on from `answered`), and a
ringing offer ends at once, so the routing engine offers the call to the next agent.
Channels made after the close (the reloaded page registered again and rings) are not
touched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ari_app.client import AriError, AriNotFound
from controller.devices import web_endpoint

log = logging.getLogger(__name__)


class Ari(Protocol):
    """What this needs of ARI (ari_app/client.py `AriClient`)."""

    async def request(self, method: str, path: str) -> Any: ...

    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...


class BrowserPhoneCalls:
    """`ended(agent)`: the relay of the agent's browser phone closed."""

    def __init__(
        self,
        ari: Ari,
        endpoints: Mapping[str, str],
        grace: float = 1.0,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.ari = ari
        #: agent id -> their SIP endpoint (the browser phone's is `<endpoint>-web`).
        self.endpoints = endpoints
        #: How long a BYE already sent may take to arrive before the leg is hung up.
        self.grace = grace
        #: True while Hotline stops: every relay closes then, and the calls go on (a
        #: restarted controller takes them over; the desk's phone reconnects).
        self.stopping = stopping

    async def channels(self, agent: str) -> list[str]:
        """The ids of the channels on the agent's browser-phone endpoint now."""
        endpoint = web_endpoint(self.endpoints[agent])
        try:
            found = await self.ari.request("GET", f"endpoints/PJSIP/{endpoint}")
        except AriNotFound:
            return []
        return list(found.get("channel_ids", [])) if isinstance(found, dict) else []

    async def ended(self, agent: str) -> list[str]:
        """Hang up what the agent's browser phone had when its relay closed; returns
        the channels this hung up (not those its own BYE ended meanwhile)."""
        if agent not in self.endpoints or self.stopping():
            return []
        left = await self.channels(agent)
        if not left:
            return []
        await asyncio.sleep(self.grace)
        if self.stopping():
            return []
        hung_up = []
        for channel in left:
            try:
                await self.ari.hangup(channel, reason="normal")
            except AriNotFound:
                continue  # its BYE arrived during the grace: nothing was left
            except AriError as error:
                log.warning("browser phone of %s: could not hang up %s: %s", agent, channel, error)
                continue
            hung_up.append(channel)
            log.warning(
                "browser phone of %s: its page went away with a call and did not hang up; "
                "hung up its leg %s (the caller goes on as when the agent hangs up)",
                agent,
                channel,
            )
        return hung_up
