"""The live routing service: one asyncio front for the `Router`, shared by every channel.

`RoutingService` owns the Router and is the only thing that touches it: each call
reads the clock once and changes the router in one step (no await in between, so no
lock is needed), hands every event the router recorded to the writer, and returns once
they are written and acted on (offers and withdrawals put on tickets, outcomes
resolved). A background ticker (`start`/`stop`) applies what time alone changes: ring
timeouts, max wait, wrap-up ends, skill relaxation.

Write-ahead ("nothing is lost"): every change's events go to the `Outbox`
(outbox.py), which logs them in order through `log` before the change is acted on. If
`log` raises, the call raises and nothing is acted on; the events and actions stay
queued and are written and applied, in order, by the next call or tick. A failed
`enqueue` takes the contact back out. `log` is awaited with keywords only:
`log(type=, data=, contact_id=, queue=, agent=)`, so `Store.append` can be passed as
it is.

A voice adapter (the flow's queue node) uses a Ticket like this::

    ticket = await routing.enqueue(call.id, "voice", req.queue, priority=req.priority,
                                   skills=req.skills, timeout=req.max_wait)
    if not ticket.joined:
        return ticket.join.outcome                # "full" or "closed": the node's outcome
    hold = start_holding_bridge(moh=settings.music_on_hold)   # + announcements using
    legs = {}                                     # routing.position / routing.eta
    async for item in ticket:                     # Offer | Withdrawn | Finished
        match item:
            case Offer():                         # already reserved for item.agent
                legs[item.agent] = spawn(ring(item))
            case Withdrawn(offer=offer):          # ring timeout, answered elsewhere,
                hang_up(legs.pop(offer.agent))    # caller left: stop ringing that agent
            case Finished(outcome=outcome):
                return outcome                    # answered, timeout, closed or left

    async def ring(offer):
        try:
            leg = await originate(endpoint(offer.agent), timeout=offer.ring_timeout + 2)
        except OriginateFailed as e:
            await routing.failed(offer, str(e)); return      # next agent is tried
        await routing.ringing(offer)
        match await leg.wait():
            case "answered":
                try:
                    await routing.accepted(offer)  # ring-all: others get Withdrawn
                except OfferWithdrawn:
                    leg.hang_up(); return          # lost a race with a timeout/hang-up
                await bridge(call, leg)            # ... until either side hangs up
                await routing.finished(offer.agent, offer.contact.id)   # -> wrap-up
            case "busy" | "declined":
                await routing.rejected(offer)
            case "no answer":                      # usually the ticker's Withdrawn first
                await routing.no_answer(offer)

    # caller hung up, or pressed the queue's leave key:
    await routing.leave(call.id)                   # -> Withdrawn for each ringing agent,
                                                   #    then Finished("left")

A chat adapter does the same with the agent desk instead of a phone: `Offer` -> show
the pop-up and call `ringing(offer)`; Accept -> `accepted(offer)` and open the chat
tab; Reject -> `rejected(offer)`; the pop-up's own timeout -> `no_answer(offer)`;
`Withdrawn` -> close the pop-up; the customer closes the chat -> `leave(chat.id)`;
the agent closes it -> `finished(agent, chat.id)`. The chat's position and wait are
pushed to the customer from `position`/`eta`. A callback entry enqueues with channel
"callback" and `entered_at` = the original call's entry time, to keep its place.

Presence: `login`, `logout`, `pause`, `unpause` as the agent asks; `reachable(agent,
channel, False)` when the agent's phone unregisters (or the desk disconnects): the
channel is paused "unreachable" until it is reachable again (reachability.py).

Every offer event ("contact.offer") is logged with the router's explanation (its
summary); see `RoutingService` for the event types.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping

from hotline.acd.decisions import Offer, Removed, Snapshot, TickReport
from hotline.acd.log_records import agent_record, router_record
from hotline.acd.model import Channel, Contact, Outcome
from hotline.acd.outbox import LazyLog, LogFn, Outbox
from hotline.acd.queue_status import QueueStatus
from hotline.acd.reachability import UNREACHABLE_REASON, Reachability, check_pause_reason
from hotline.acd.restore import Talking
from hotline.acd.router import Router, RoutingError
from hotline.acd.states import ChannelStatus, IllegalTransition
from hotline.acd.ticker import Ticker
from hotline.acd.ticket_book import TicketBook
from hotline.acd.tickets import Finished, OfferWithdrawn, Ticket, TicketItem, Withdrawn

# The names adapters import from here, wherever they live now.
__all__ = [
    "UNREACHABLE_REASON",
    "Finished",
    "LazyLog",
    "LogFn",
    "OfferWithdrawn",
    "QueueStatus",
    "RoutingService",
    "Ticket",
    "TicketItem",
    "Withdrawn",
]

_LEAVE_OUTCOMES = frozenset({Outcome.LEFT, Outcome.TIMEOUT, Outcome.CLOSED})


class RoutingService:
    """The live routing engine: see the module docstring.

    Event types logged (the router's, one per state change, in order):
    agent.login, agent.logout, agent.pause, agent.unpause, agent.reserve, agent.ring,
    agent.accept, agent.reject, agent.release (withdrawn or failed offers, with the
    reason), agent.no_answer, agent.finish, agent.wrap_end; contact.join,
    contact.refused, contact.offer (with the explanation), contact.requeue,
    contact.relax, contact.answered, contact.leave (with the outcome); and the
    service's own agent.unreachable / agent.reachable. `data` holds the monotonic
    time `at` and the event's channel, from/to state, reason and detail.
    """

    def __init__(
        self,
        router: Router,
        log: LogFn,
        *,
        clock: Callable[[], float] = time.monotonic,
        tick_interval: float = 0.25,
        lazy: LazyLog | None = None,
    ) -> None:
        self._router = router
        self._clock = clock
        self._ticker = Ticker(self.tick, tick_interval)
        #: `lazy`: a ring or a finish nothing follows from is not waited for (outbox.py).
        self._outbox = Outbox(log, lazy)
        self._book = TicketBook(self._outbox.then)
        self._presence = Reachability(router, self._note)

    # ---- lifecycle ---------------------------------------------------------------------

    @property
    def tick_interval(self) -> float:
        return self._ticker.interval

    async def start(self) -> None:
        """Start the background ticker (idempotent)."""
        self._ticker.start()

    async def stop(self) -> None:
        """Stop the ticker and wait for it to end. Tickets stay as they are."""
        await self._ticker.stop()
        await self._outbox.flush()  # what is being logged now finishes

    @property
    def running(self) -> bool:
        return self._ticker.running

    async def tick(self) -> TickReport:
        """Apply what time changed (the ticker calls this); returns the router's report."""
        async with self._change() as now:
            report = self._router.tick(now)
            for agent, contact in report.no_answers:
                self._book.withdraw(contact, agent, "ring timeout")
                self._unpin(contact, now)
            for removed in (*report.timeouts, *report.closed):
                self._book.removed(removed)
            return report

    # ---- contacts ----------------------------------------------------------------------

    async def enqueue(
        self,
        contact_id: str,
        channel: Channel | str,
        queue: str,
        *,
        priority: int = 0,
        skills: Mapping[str, int] | None = None,
        timeout: float | None = None,
        entered_at: float | None = None,
        agent: str | None = None,
    ) -> Ticket:
        """Put a contact in a queue. `entered_at` (monotonic, the service's clock) keeps
        an earlier place (callback entry, restored contact); `timeout` overrides the
        queue's max wait. Raises RoutingError for an unknown queue or a contact already
        queued, ValueError for bad skills.

        `agent`: offer it to that agent only, at once (a transfer or consultation to a
        named agent, a click-to-call: the contact counts in `queue`, the agent is busy
        on `channel` for routing). RoutingError, with nothing logged, if they cannot
        take it now; if they decline or do not answer, the ticket finishes "timeout"
        instead of waiting for someone else."""
        if contact_id in self._book:
            raise RoutingError(f"contact {contact_id!r} is already queued")
        if agent is not None:
            why = self._router.unavailable(agent, Channel(channel))
            if why is not None:
                raise RoutingError(why)
        try:
            async with self._change() as now:
                contact = Contact(
                    contact_id,
                    Channel(channel),
                    queue,
                    now if entered_at is None else entered_at,
                    priority,
                    dict(skills or {}),
                    timeout,
                )
                join = self._router.enqueue(contact, now)
                ticket = Ticket(contact, join)
                if ticket.joined:
                    self._book.open(ticket)
                    if agent is not None:
                        ticket.agent = agent
                        self._book.offered(self._router.reserve(agent, contact_id, now))
                else:
                    self._book.refused(ticket)
        except BaseException:
            # Not logged: the caller gets no ticket; take the contact back out.
            if self._book.drop(contact_id):
                with contextlib.suppress(RoutingError):
                    self._router.dequeue(contact_id, self._clock(), Outcome.LEFT)
            raise
        return ticket

    async def restore(
        self, waiting: Iterable[Contact] = (), talking: Iterable[Talking] = ()
    ) -> tuple[dict[str, Ticket], dict[str, str]]:
        """After a controller restart (hotline/acd/restore.py): agents get back the
        contacts they are still talking to, then the waiting contacts go back to their
        places (their `entered_at`), all before any offer is made, so the oldest is
        offered first. Returns the tickets of the waiting contacts, and the contacts
        that could not be restored with the reason (unknown queue or agent, ...)."""
        tickets: dict[str, Ticket] = {}
        refused: dict[str, str] = {}
        async with self._change() as now:
            for talk in talking:
                try:
                    self._router.restore_active(talk.agent, talk.contact, talk.since, now)
                except (RoutingError, IllegalTransition) as error:
                    refused[talk.contact.id] = str(error)
            for contact in sorted(waiting, key=lambda c: (-c.priority, c.entered_at)):
                if contact.id in self._book:
                    refused[contact.id] = f"contact {contact.id!r} is already queued"
                    continue
                try:
                    join = self._router.enqueue(contact, now, restored=True)
                except (RoutingError, ValueError) as error:
                    refused[contact.id] = str(error)
                    continue
                tickets[contact.id] = ticket = Ticket(contact, join)
                self._book.open(ticket)
        return tickets, refused

    async def leave(self, contact_id: str, outcome: Outcome | str = Outcome.LEFT) -> Removed | None:
        """Take a waiting or offered contact out (hung up, leave key, chat closed, the
        flow's own limit): outcome left, timeout or closed. Agents being offered it get
        `Withdrawn`. None if the contact is not queued; RoutingError if it is answered."""
        outcome = Outcome(outcome)
        if outcome not in _LEAVE_OUTCOMES:
            raise ValueError(f"leave outcome must be left, timeout or closed, not {outcome}")
        async with self._change() as now:
            removed = self._router.dequeue(contact_id, now, outcome)
            if removed is not None:
                self._book.removed(removed)
            return removed

    async def finished(self, agent_id: str, contact_id: str) -> None:
        """The answered contact ended: the agent goes to the queue's wrap-up (or free)."""
        async with self._change(lazy=True) as now:
            self._router.finish(agent_id, contact_id, now)

    async def end_wrap_up(self, agent_id: str, channel: Channel | str | None = None) -> None:
        """The agent is ready before their wrap-up time is over."""
        async with self._change() as now:
            self._router.end_wrap_up(agent_id, now, None if channel is None else Channel(channel))

    # ---- offers ------------------------------------------------------------------------

    async def ringing(self, offer: Offer) -> bool:
        """The agent's phone (or desk) alerts. False if the offer is no longer live."""
        if not self._book.is_live(offer):
            return False
        async with self._change(lazy=True) as now:
            self._router.ringing(offer.agent, offer.contact.id, now)
        return True

    async def accepted(self, offer: Offer) -> tuple[str, ...]:
        """The agent answered: the ticket's outcome becomes "answered". Returns the other
        agents of a ring-all group, whose offers are withdrawn (they also get `Withdrawn`
        on the ticket). Raises OfferWithdrawn if the offer is no longer live."""
        if not self._book.is_live(offer):
            raise OfferWithdrawn(
                f"offer of contact {offer.contact.id} to agent {offer.agent} was withdrawn"
            )
        async with self._change() as now:
            contact = offer.contact.id
            others = self._router.accept(offer.agent, contact, now)
            self._book.settled(offer)
            for other in others:
                self._book.withdraw(contact, other, f"answered by {offer.agent}")
            self._book.end(contact, Outcome.ANSWERED)
            return others

    async def rejected(self, offer: Offer) -> bool:
        """The agent declined; the contact keeps its place and is offered again."""
        return await self._settle(offer, self._router.reject)

    async def no_answer(self, offer: Offer) -> bool:
        """The offer rang out (the queue's on_no_answer decides: available or paused)."""
        return await self._settle(offer, self._router.no_answer)

    async def failed(self, offer: Offer, reason: str) -> bool:
        """The agent's leg could not be set up: like a reject, with the reason logged
        (event agent.release, reason "failed: ...")."""

        def release(agent: str, contact: str, now: float) -> None:
            self._router.release(agent, contact, now, f"failed: {reason}")

        return await self._settle(offer, release)

    async def _settle(self, offer: Offer, action: Callable[[str, str, float], None]) -> bool:
        """End a live offer with `action(agent, contact, now)`; False if it is not live."""
        if not self._book.is_live(offer):
            return False
        async with self._change() as now:
            action(offer.agent, offer.contact.id, now)
            self._book.settled(offer)
            self._unpin(offer.contact.id, now)
        return True

    def _unpin(self, contact_id: str, now: float) -> None:
        """A contact for one named agent whose offer ended unanswered leaves the queue
        in the same change, before anyone else can be offered it."""
        ticket = self._book.get(contact_id)
        if ticket is None or ticket.agent is None:
            return
        removed = self._router.dequeue(contact_id, now, Outcome.TIMEOUT)
        if removed is not None:
            self._book.removed(removed)

    # ---- presence (reachability.py) --------------------------------------------------

    async def login(
        self,
        agent_id: str,
        channels: Iterable[Channel | str] | None = None,
        *,
        paused: str | None = None,
    ) -> None:
        """Log in (every channel with capacity that is logged out, by default),
        available, or paused with the reason `paused`."""
        check_pause_reason(paused)
        async with self._change() as now:
            self._presence.login(agent_id, now, channels, paused)

    async def logout(self, agent_id: str, channels: Iterable[Channel | str] | None = None) -> None:
        """Log out (every logged-in channel by default); nothing may be in progress."""
        async with self._change() as now:
            self._presence.logout(agent_id, now, channels)

    async def pause(
        self, agent_id: str, reason: str, channels: Iterable[Channel | str] | None = None
    ) -> None:
        """Pause with a reason (every logged-in channel by default)."""
        check_pause_reason(reason)
        async with self._change() as now:
            self._presence.pause(agent_id, reason, now, channels)

    async def unpause(self, agent_id: str, channels: Iterable[Channel | str] | None = None) -> None:
        """Back to work (every paused channel by default). An unreachable channel stays
        paused, with the reason "unreachable"."""
        async with self._change() as now:
            self._presence.unpause(agent_id, now, channels)

    async def reachable(
        self, agent_id: str, channels: Channel | str | Iterable[Channel | str], yes: bool
    ) -> None:
        """Mark the agent's channel(s) reachable or not (phone registered, desk
        connected). Unreachable channels are paused "unreachable"."""
        async with self._change() as now:
            self._presence.reachable(agent_id, channels, yes, now)

    def is_reachable(self, agent_id: str, channel: Channel | str) -> bool:
        return self._presence.is_reachable(agent_id, channel)

    # ---- queries (they only read, between two changes) -----------------------------------

    def agent_status(self, agent_id: str) -> dict[Channel, ChannelStatus]:
        """The agent's per-channel status (RoutingError for an unknown agent)."""
        return self._router.agent_status(agent_id)

    def unavailable(self, agent_id: str, channel: Channel | str) -> str | None:
        """Why `agent_id` could not be offered a contact on `channel` now, as
        `enqueue(agent=...)` would refuse it (None: they could)."""
        return self._router.unavailable(agent_id, Channel(channel))

    def ticket(self, contact_id: str) -> Ticket | None:
        """The ticket of a contact still in a queue."""
        return self._book.get(contact_id)

    def position(self, contact_id: str) -> int | None:
        """1-based place in its queue; 0 while being offered; None if not queued."""
        return self._router.position(contact_id)

    def eta(self, contact_id: str) -> float | None:
        """Estimated seconds until answered; None if unknown or not queued."""
        return self._router.eta(contact_id)

    def place(self, contact_id: str) -> tuple[int | None, float | None]:
        """`position` and `eta` together."""
        return self._router.place(contact_id)

    def queue_eta(self, queue: str, channel: Channel | str = Channel.VOICE) -> float | None:
        """Estimated wait for a contact joining `queue` now."""
        return self._router.queue_eta(queue, Channel(channel))

    def snapshot(self) -> Snapshot:
        """Queues and agents, for the wallboard and the API."""
        return self._router.snapshot(self._clock())

    def queue_status(self, queue: str, channel: Channel | str = Channel.VOICE) -> QueueStatus:
        """What a flow may tell the caller before (or instead of) queueing."""
        channel = Channel(channel)
        eta = self._router.queue_eta(queue, channel)  # raises RoutingError if unknown
        snap = next(q for q in self._router.snapshot(self._clock()).queues if q.name == queue)
        return QueueStatus.of(snap, channel, eta)

    # ---- one change --------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _change(self, lazy: bool = False) -> AsyncIterator[float]:
        """One change of the routing state, made in the body at the time given (no
        awaiting in it: the state changes in one step). Then agents that cannot be
        reached are paused and offers made; the change's events are logged, and once
        they are, what it must do (offers to tickets, outcomes) is done. `lazy`: if it
        must do nothing, its events are logged without waiting for them (outbox.py)."""
        now = self._clock()
        yield now
        self._presence.enforce(now)
        for offer in self._router.next_offers(now):
            self._book.offered(offer)
        self._drain()
        done = self._outbox.commit(lazy)
        if done is not None:
            await done

    def _drain(self) -> None:
        """Stage the router's events recorded so far."""
        for event in self._router.drain_events():
            ticket = self._book.get(event.contact)
            offer = self._book.offer(event.contact, event.agent)
            self._outbox.record(router_record(event, offer, ticket.contact if ticket else None))

    def _note(self, type: str, now: float, agent: str, channel: Channel) -> None:
        """Stage a service event of our own, after the router's so far."""
        self._drain()
        self._outbox.record(agent_record(type, now, agent, channel))
