"""What a waiting contact's channel adapter is handed: its `Ticket`, and the items on it
(`Offer`, `Withdrawn`, and last `Finished`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from hotline.acd.decisions import JoinResult, Offer
from hotline.acd.model import Channel, Contact, Outcome
from hotline.acd.router import RoutingError


class OfferWithdrawn(RoutingError):
    """The offer is no longer live: it rang out, was answered by another agent of a
    ring-all group, or the contact left. Hang up the agent's leg."""


@dataclass(frozen=True)
class Withdrawn:
    """Stop offering `offer` (stop ringing that agent, close the pop-up)."""

    offer: Offer
    reason: str


@dataclass(frozen=True)
class Finished:
    """The contact's time in the queue is over: the last item on its ticket."""

    outcome: Outcome


TicketItem = Offer | Withdrawn | Finished


class Ticket:
    """One contact's place in a queue, as its channel adapter sees it.

    `join` is the router's JoinResult (joined, or refused as full/closed, with position
    and eta). `offers` receives `Offer`, `Withdrawn` and finally `Finished` items;
    iterate the ticket (`async for item in ticket`) to get them until `Finished`.
    `outcome` is a future of the final Outcome: answered, timeout, closed or left
    (full or closed, already resolved, when refused at join).

    Only the routing service hands items over (`deliver`, `finish`), once the event
    log holds the change that led to them.
    """

    def __init__(self, contact: Contact, join: JoinResult) -> None:
        self.contact = contact
        self.join = join
        #: The one agent it is offered to (`RoutingService.enqueue(agent=...)`), or None.
        self.agent: str | None = None
        self.offers: asyncio.Queue[TicketItem] = asyncio.Queue()
        self.outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

    @property
    def contact_id(self) -> str:
        return self.contact.id

    @property
    def queue(self) -> str:
        return self.contact.queue

    @property
    def channel(self) -> Channel:
        return self.contact.channel

    @property
    def joined(self) -> bool:
        return self.join.outcome is Outcome.JOINED

    @property
    def done(self) -> bool:
        return self.outcome.done()

    async def next(self) -> TicketItem:
        return await self.offers.get()

    def __aiter__(self) -> AsyncIterator[TicketItem]:
        return self._items()

    async def _items(self) -> AsyncIterator[TicketItem]:
        while True:
            item = await self.offers.get()
            yield item
            if isinstance(item, Finished):
                return

    def deliver(self, item: Offer | Withdrawn) -> None:
        """Hand an offer or a withdrawal over, unless the ticket is finished."""
        if not self.outcome.done():
            self.offers.put_nowait(item)

    def finish(self, outcome: Outcome) -> None:
        """Resolve the outcome and hand over `Finished` (once; later calls do nothing)."""
        if not self.outcome.done():
            self.outcome.set_result(outcome)
            self.offers.put_nowait(Finished(outcome))

    def __repr__(self) -> str:
        state = self.outcome.result().value if self.done else "waiting"
        return f"<Ticket {self.contact_id} in {self.queue} ({self.channel}): {state}>"
