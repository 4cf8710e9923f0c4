"""Ringing agents for the routing engine's offers, for a queued call and for a
callback alike.

Each offer rings the agent's PJSIP endpoint as an outbound leg into Stasis. The
engine is told how each ring went: ringing, answered (accepted), busy or declined
(rejected), unanswered within the offer's ring timeout (no_answer), or failed; it then
offers the contact to the next agent. With ring-all, the first agent to answer stops
the others' phones. An agent with more than one phone registered (a SIP phone and the
desk's browser phone: `Devices`) has each of them rung for the one offer; the first to
answer takes it, and the engine hears of an unanswered offer once, when the last of
them has ended.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ari_app.client import AriClient, AriError, AriEvent
from ari_app.events import channel_of
from ari_app.legs import clean_up, originate, unanswered
from hotline.acd.decisions import Offer
from hotline.acd.service import OfferWithdrawn, RoutingService
from hotline.cluster.offers import OfferFence, StaleOffer

INF = float("inf")
log = logging.getLogger(__name__)


class Devices(Protocol):
    """Endpoints that know every phone of an agent that should ring now."""

    def ringing(self, agent: str) -> list[str]:
        """The PJSIP endpoints to ring for `agent` (at least one; empty: no phone)."""
        ...


@dataclass
class Ringing:
    offer: Offer
    deadline: float  # on the monotonic clock


@dataclass(frozen=True)
class Answered:
    """An agent answered, and the engine confirmed the offer: talk on `leg`."""

    offer: Offer
    leg: str


class AgentRinger:
    """The agents' phones ringing for one contact (see the module docstring)."""

    def __init__(
        self,
        ari: AriClient,
        routing: RoutingService,
        endpoints: Mapping[str, str],
        follow: Callable[[str, bool], None],
        *,
        leg_name: Callable[[], str],
        args: str,
        caller_id: str,
        originator: str | None,
        fence: OfferFence | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> None:
        self.ari = ari
        self.routing = routing
        #: agent id -> PJSIP endpoint of their phone
        self.endpoints = endpoints
        #: Have a leg's events routed to the contact's inbox (True) or no longer.
        self.follow = follow
        self.leg_name = leg_name
        self.args = args  # the Stasis arguments an answered leg enters with
        self.caller_id = caller_id  # what the agent's phone shows
        self.originator = originator
        self.rings: dict[str, Ringing] = {}  # leg -> its offer
        #: With a routing leader elsewhere (hotline/cluster): offers from a deposed
        #: leader's older epoch are refused, nobody is rung for them.
        self.fence = fence
        #: Set on every leg as it is made (`legs.originate`).
        self.variables = variables

    def ringing(self) -> bool:
        return bool(self.rings)

    def next_deadline(self) -> float:
        """When the earliest ringing agent is given up on (INF: nobody rings)."""
        return min((r.deadline for r in self.rings.values()), default=INF)

    def _endpoints_of(self, agent: str) -> list[str]:
        # Not isinstance(…, Devices): a runtime-checkable Protocol's check walks its
        # members on every call, once per offer.
        ringing: Callable[[str], list[str]] | None = getattr(self.endpoints, "ringing", None)
        if ringing is not None:
            return ringing(agent)
        endpoint = self.endpoints.get(agent)
        return [] if endpoint is None else [endpoint]

    async def ring(self, offer: Offer) -> None:
        if self.fence is not None:
            try:
                self.fence.check(offer)
            except StaleOffer as stale:
                # Not the deposed leader's to hear of: the new one re-makes its offers.
                log.warning("%s", stale)
                return
        endpoints = self._endpoints_of(offer.agent)
        if not endpoints:
            await self.routing.failed(offer, "agent has no endpoint")
            return
        deadline = time.monotonic() + offer.ring_timeout
        error: AriError | None = None
        for endpoint in endpoints:
            leg = self.leg_name()
            self.follow(leg, True)
            self.rings[leg] = Ringing(offer, deadline)
            try:
                await originate(
                    self.ari,
                    endpoint=f"PJSIP/{endpoint}",
                    leg=leg,
                    args=self.args,
                    originator=self.originator,
                    ring_seconds=offer.ring_timeout,
                    caller_id=self.caller_id,
                    variables=self.variables,
                )
            except AriError as refused:
                self.rings.pop(leg, None)
                self.follow(leg, False)
                error = refused
        if not self._legs_of(offer):
            await self.routing.failed(offer, str(error))
            return
        await self.routing.ringing(offer)

    def _legs_of(self, offer: Offer) -> list[str]:
        return [leg for leg, ringing in self.rings.items() if ringing.offer is offer]

    async def ring_out(self, now: float) -> None:
        """Give up on the agents whose ring time is over at `now`."""
        for leg, ringing in list(self.rings.items()):
            if ringing.deadline <= now and leg in self.rings:
                for each in self._legs_of(ringing.offer):  # every phone of the offer
                    await self.drop(each)
                await self.routing.no_answer(ringing.offer)

    async def withdraw(self, agent: str) -> None:
        """The engine took its offer to `agent` back: their phone stops ringing."""
        for leg, ringing in list(self.rings.items()):
            if ringing.offer.agent == agent:
                await self.drop(leg)

    async def on_leg_event(self, event: AriEvent) -> Answered | None:
        """An event of a ringing leg: the answer, once the engine confirms it."""
        leg = channel_of(event)
        if leg is None or leg not in self.rings:
            return None
        if event["type"] == "StasisStart":
            ringing = self.rings.pop(leg)
            try:
                await self.routing.accepted(ringing.offer)
            except OfferWithdrawn:  # the contact left, or the engine moved on meanwhile
                await self.drop(leg)
                return None
            await self.drop_all()  # ring-all: the others stop ringing
            return Answered(ringing.offer, leg)
        if event["type"] == "ChannelDestroyed":  # it never answered; the cause says why
            ringing = self.rings.pop(leg)
            self.follow(leg, False)
            if self._legs_of(ringing.offer):
                return None  # another phone of the agent still rings for this offer
            cause = int(event.get("cause") or 0)
            why = unanswered(cause)
            if why == "busy":
                await self.routing.rejected(ringing.offer)
            elif why == "no_answer":
                await self.routing.no_answer(ringing.offer)
            else:
                await self.routing.failed(ringing.offer, f"agent leg ended, cause {cause}")
        return None

    async def drop(self, leg: str) -> None:
        """Stop ringing (or hang up) an agent leg no longer wanted."""
        self.rings.pop(leg, None)
        await clean_up(self.ari, leg, None)
        self.follow(leg, False)

    async def drop_all(self) -> None:
        for leg in list(self.rings):
            await self.drop(leg)
