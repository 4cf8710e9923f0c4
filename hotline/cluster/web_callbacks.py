"""Callbacks booked on a web process (`hotline web`): a chat's callback offer taken by
its customer, or a chat left unanswered whose queue lists abandoned customers.

A web process has no Asterisk and no dialer: it books, and holds the callback's place.
The callback is written to the store with the contact's place (its entry time and
priority, as on one box) and, due now, joins its queue at the routing leader at once,
at that place, before the chat leaves it: from the moment it is booked nobody who came
later is served before it (an agent freed then is offered the callback). The web
process then lets the ticket go (`RemoteRouting.detach`), leaving it queued at the
leader, and tells the leader it booked it (`callbacks_booked`): the leader hands the
open callback, which no call worker serves yet, to one live call worker at once
(hotline/cluster/callback_keeper.py; not told, after its grace of about 2.5 s); that
worker's callback service (`adopt`) enqueues it again, which attaches it to the ticket
the leader holds (its place kept, an offer made meanwhile said again to it), and dials
it. An agent offered the callback before that waits for the worker's call (a
hand-over's round trip), rather than being given a later contact. A callback booked for
later is not queued yet, but the leader is told at once too: a worker serves it (and
can cancel it) from its booking.

The callbacks' REST API on a web process (listing, booking, cancelling) uses the same
service: a cancel goes to the call worker serving the callback
(`cancel_where_served`, hotline/cluster/call_bus.py), and the listing says which agent
is being called for a callback from the log (the worker's dialer is not here).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from hotline.acd.service import Ticket
from hotline.callbacks.service import CallbackService
from hotline.store.callbacks import Callback, CallbackState

log = logging.getLogger(__name__)


@runtime_checkable
class Detaching(Protocol):
    """A routing that can let a ticket go here and leave it queued (RemoteRouting)."""

    def detach(self, contact_id: str) -> None: ...

    async def callbacks_booked(self, contact_ids: Iterable[str]) -> None: ...


class BookedForWorkers(CallbackService):
    """A callback service that books, holds the callback's place at the leader, and
    never dials (module docstring); never `start`ed, so nothing is served here."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._holding: set[asyncio.Task[None]] = set()
        #: Callbacks queued at the leader from here (not joined twice).
        self.placed: set[str] = set()
        #: Cancels a callback on the call worker serving it (None: here, as on one box).
        self.cancel_where_served: Callable[[str, str], Awaitable[None]] | None = None

    async def cancel(self, contact_id: str, by: str) -> Callback:
        """Cancelled by the call worker serving it: its place at the leader and its
        dialer are there. LookupError if it is not open; CallbackRefused with why."""
        if self.cancel_where_served is None:
            return await super().cancel(contact_id, by)
        found = await self.rows.get(contact_id)
        if found is None or not found.open:
            raise LookupError(f"no open callback {contact_id!r}")
        await self.cancel_where_served(contact_id, by)
        cancelled = await self.rows.get(contact_id)
        assert cancelled is not None  # rows are never deleted
        return cancelled

    async def pending(self, queue: str | None = None) -> list[dict[str, Any]]:
        """Open callbacks in queue order; the agent being called for one is read from
        the log (its call is on a call worker)."""
        listed = await super().pending(queue)
        for item in listed:
            if item["agent"] is None and item["state"] == CallbackState.DIALING.value:
                item["agent"] = await self._dialing(str(item["id"]))
        return listed

    async def _dialing(self, contact_id: str) -> str | None:
        """The agent of the attempt under way: the last attempt's that names one."""
        for event in reversed(await self.store.events(contact_id)):
            if event.type == "callback.attempt" and event.data.get("agent"):
                return str(event.data["agent"])
        return None

    def _spawn(self, callback: Callback, ticket: Ticket | None) -> None:
        """A callback booked here by a flow or an abandoned chat's list: due now, it
        joins its queue at once (one taken from a queue joined already, in its place)."""
        if callback.contact_id in self.placed:  # taken from a queue: joined already
            self.placed.discard(callback.contact_id)
            return
        if self._due(callback) is not None:  # for later: the worker handed it joins it
            task = asyncio.create_task(self._tell(callback), name=f"callback-told-{callback.seq}")
        else:
            task = asyncio.create_task(self._hold(callback), name=f"callback-place-{callback.seq}")
        self._holding.add(task)
        task.add_done_callback(self._holding.discard)

    async def _hold(self, callback: Callback) -> None:
        try:
            await self._join(callback)
            self.placed.discard(callback.contact_id)
        except Exception as error:  # the leader's grace hands it to a worker anyway
            log.warning("callback %s not queued yet: %s", callback.contact_id, error)

    async def _tell(self, callback: Callback) -> None:
        """A callback for later: the leader hands it to a worker now, not after its
        grace, so that a worker serves it (and can cancel it) from the start."""
        if isinstance(self.routing, Detaching):
            try:
                await self.routing.callbacks_booked([callback.contact_id])
            except Exception as error:  # its grace hands it anyway, a bit later
                log.warning("callback %s: the leader not told: %s", callback.contact_id, error)

    async def _join(self, callback: Callback, entered: float | None = None) -> Ticket | None:
        """Joined at its place now; served by the call worker the leader hands it to."""
        ticket = await super()._join(callback, entered)
        if ticket is not None:
            self.placed.add(callback.contact_id)
            if isinstance(self.routing, Detaching):
                self.routing.detach(callback.contact_id)
                try:  # handed to a worker now, not after the leader's grace
                    await self.routing.callbacks_booked([callback.contact_id])
                except Exception as error:  # its grace hands it anyway, a bit later
                    log.warning("callback %s: the leader not told: %s", callback.contact_id, error)
        return None
