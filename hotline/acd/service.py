"""The live routing service: one asyncio front for the `Router`, shared by every channel.

`RoutingService` owns the Router and is the only thing that touches it: each call
reads the clock once and changes the router in one step (no await in between, so no
lock is needed), hands every event the router recorded to the writer, and returns once
they are written and acted on (offers and withdrawals put on tickets, outcomes
resolved). A background ticker (`start`/`stop`) applies what time alone changes: ring
timeouts, max wait, wrap-up ends, skill relaxation.

Write-ahead ("nothing is lost")
    Router events and the actions they lead to wait in an outbox that one writer
    drains: events first, in order, through `log`; actions run only once every event
    before them is written. A change does not wait for the ones before it to be
    written: their `log` calls run together (the store commits them together). If
    `log` raises, the call raises and nothing is acted on; the events
    and actions stay queued and are written and applied, in order, by the next call
    or tick (writes are at-least-once). A failed `enqueue` takes the contact back out.
    `log` is awaited with keywords only: `log(type=, data=, contact_id=, queue=,
    agent=)`, so `Store.append` can be passed as it is.

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
channel, False)` when the agent's phone unregisters (or the desk disconnects). An
unreachable channel is paused with the system reason "unreachable" (reserved: agents
cannot pause with it) rather than logged out: a pause keeps the agent's session,
occupancy and statistics, is allowed while a contact is in progress, and counts for
the queues' `all_paused` join/leave rules just as app_queue's "unavailable" does.
While unreachable, `unpause` keeps the channel paused as "unreachable", and `login`
logs it in paused. `reachable(..., True)` lifts an "unreachable" pause only (a pause
the agent chose meanwhile stays). If the channel is reserved or ringing when it
becomes unreachable, the pause follows as soon as that offer is resolved.

Every offer event ("contact.offer") is logged with the router's explanation (its
summary); see `RoutingService` for the event types.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from hotline.acd.decisions import JoinResult, Offer, Removed, Snapshot, TickReport
from hotline.acd.events import RoutingEvent
from hotline.acd.model import AgentState, Channel, Contact, Outcome
from hotline.acd.restore import Talking, logged_timeout
from hotline.acd.router import Router, RoutingError
from hotline.acd.states import ChannelStatus, IllegalTransition

_logger = logging.getLogger(__name__)

#: The pause reason of a channel whose phone (or desk) cannot be reached.
UNREACHABLE_REASON = "unreachable"

#: `log(type=, data=, contact_id=, queue=, agent=)`: Store.append, or a test collector.
LogFn = Callable[..., Awaitable[Any]]

_PAUSABLE = frozenset({AgentState.AVAILABLE, AgentState.BUSY, AgentState.WRAP_UP})
_LEAVE_OUTCOMES = frozenset({Outcome.LEFT, Outcome.TIMEOUT, Outcome.CLOSED})


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
    """

    def __init__(self, contact: Contact, join: JoinResult) -> None:
        self.contact = contact
        self.join = join
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

    def _put(self, item: TicketItem) -> None:
        if not self.outcome.done():
            self.offers.put_nowait(item)

    def _finish(self, outcome: Outcome) -> None:
        if not self.outcome.done():
            self.outcome.set_result(outcome)
            self.offers.put_nowait(Finished(outcome))

    def __repr__(self) -> str:
        state = self.outcome.result().value if self.done else "waiting"
        return f"<Ticket {self.contact_id} in {self.queue} ({self.channel}): {state}>"


@dataclass(frozen=True)
class QueueStatus:
    """A queue as a flow sees it (a `queue_status` node, announcements)."""

    queue: str
    channel: Channel
    waiting: int
    longest_wait: float
    #: Estimated wait for a contact joining now; None when nobody serves the queue.
    eta: float | None
    agents_logged_in: int
    agents_free: int
    agents_paused: int

    def variables(self, prefix: str = "queue_") -> dict[str, Any]:
        """Flow variables: queue_waiting, queue_eta (whole seconds or None), …"""
        return {
            f"{prefix}waiting": self.waiting,
            f"{prefix}longest_wait": round(self.longest_wait),
            f"{prefix}eta": None if self.eta is None else round(self.eta),
            f"{prefix}agents_logged_in": self.agents_logged_in,
            f"{prefix}agents_free": self.agents_free,
            f"{prefix}agents_paused": self.agents_paused,
        }


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
    ) -> None:
        if tick_interval <= 0:
            raise ValueError(f"tick_interval must be > 0, got {tick_interval}")
        self._router = router
        self._log = log
        self._clock = clock
        self.tick_interval = tick_interval
        self._tickets: dict[str, Ticket] = {}
        #: Live offers by (contact, agent).
        self._offers: dict[tuple[str, str], Offer] = {}
        #: The change being made: records to log, then actions to run once they are.
        self._records: deque[dict[str, Any]] = deque()
        self._actions: list[Callable[[], None]] = []
        #: Changes handed to the writer, in order.
        self._outbox: deque[_Pending] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._unreachable: set[tuple[str, Channel]] = set()
        self._task: asyncio.Task[None] | None = None

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background ticker (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="routing-ticker")

    async def stop(self) -> None:
        """Stop the ticker and wait for it to end. Tickets stay as they are."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._writer is not None:  # what is being logged now finishes
            with contextlib.suppress(Exception):
                await self._writer

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                await self.tick()
            except Exception:
                _logger.exception("routing tick failed; retrying next tick")

    async def tick(self) -> TickReport:
        """Apply what time changed (the ticker calls this); returns the router's report."""
        async with self._change() as now:
            report = self._router.tick(now)
            for agent, contact in report.no_answers:
                self._withdraw(contact, agent, "ring timeout")
            for removed in (*report.timeouts, *report.closed):
                self._removed(removed)
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
    ) -> Ticket:
        """Put a contact in a queue. `entered_at` (monotonic, the service's clock) keeps
        an earlier place (callback entry, restored contact); `timeout` overrides the
        queue's max wait. Raises RoutingError for an unknown queue or a contact already
        queued, ValueError for bad skills."""
        if contact_id in self._tickets:
            raise RoutingError(f"contact {contact_id!r} is already queued")
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
                    self._tickets[contact_id] = ticket
                else:
                    self._then(partial(ticket._finish, join.outcome))
        except BaseException:
            # Not logged: the caller gets no ticket; take the contact back out.
            if self._tickets.pop(contact_id, None) is not None:
                self._forget(contact_id)
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
                if contact.id in self._tickets:
                    refused[contact.id] = f"contact {contact.id!r} is already queued"
                    continue
                try:
                    join = self._router.enqueue(contact, now, restored=True)
                except (RoutingError, ValueError) as error:
                    refused[contact.id] = str(error)
                    continue
                tickets[contact.id] = self._tickets[contact.id] = Ticket(contact, join)
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
                self._removed(removed)
            return removed

    async def finished(self, agent_id: str, contact_id: str) -> None:
        """The answered contact ended: the agent goes to the queue's wrap-up (or free)."""
        async with self._change() as now:
            self._router.finish(agent_id, contact_id, now)

    async def end_wrap_up(self, agent_id: str, channel: Channel | str | None = None) -> None:
        """The agent is ready before their wrap-up time is over."""
        async with self._change() as now:
            self._router.end_wrap_up(agent_id, now, None if channel is None else Channel(channel))

    # ---- offers ------------------------------------------------------------------------

    def _live(self, offer: Offer) -> bool:
        return self._offers.get((offer.contact.id, offer.agent)) is offer

    async def ringing(self, offer: Offer) -> bool:
        """The agent's phone (or desk) alerts. False if the offer is no longer live."""
        return await self._resolve(offer, lambda now: self._router.ringing(*_ids(offer), now))

    async def accepted(self, offer: Offer) -> tuple[str, ...]:
        """The agent answered: the ticket's outcome becomes "answered". Returns the other
        agents of a ring-all group, whose offers are withdrawn (they also get `Withdrawn`
        on the ticket). Raises OfferWithdrawn if the offer is no longer live."""
        if not self._live(offer):
            raise OfferWithdrawn(
                f"offer of contact {offer.contact.id} to agent {offer.agent} was withdrawn"
            )
        async with self._change() as now:
            contact = offer.contact.id
            others = self._router.accept(offer.agent, contact, now)
            del self._offers[(contact, offer.agent)]
            for other in others:
                self._withdraw(contact, other, f"answered by {offer.agent}")
            self._end(contact, Outcome.ANSWERED)
            return others

    async def rejected(self, offer: Offer) -> bool:
        """The agent declined; the contact keeps its place and is offered again."""
        return await self._settle_offer(offer, self._router.reject)

    async def no_answer(self, offer: Offer) -> bool:
        """The offer rang out (the queue's on_no_answer decides: available or paused)."""
        return await self._settle_offer(offer, self._router.no_answer)

    async def failed(self, offer: Offer, reason: str) -> bool:
        """The agent's leg could not be set up: like a reject, with the reason logged
        (event agent.release, reason "failed: ...")."""
        return await self._settle_offer(
            offer,
            lambda agent, contact, now: self._router.release(
                agent, contact, now, f"failed: {reason}"
            ),
        )

    async def _settle_offer(self, offer: Offer, action: Callable[[str, str, float], None]) -> bool:
        def run(now: float) -> None:
            action(*_ids(offer), now)
            del self._offers[(offer.contact.id, offer.agent)]

        return await self._resolve(offer, run)

    async def _resolve(self, offer: Offer, run: Callable[[float], None]) -> bool:
        if not self._live(offer):
            return False
        async with self._change() as now:
            run(now)
        return True

    # ---- presence ----------------------------------------------------------------------

    async def login(
        self,
        agent_id: str,
        channels: Iterable[Channel | str] | None = None,
        *,
        paused: str | None = None,
    ) -> None:
        """Log in (every channel with capacity that is logged out, by default),
        available, or paused with the reason `paused`."""
        if paused == UNREACHABLE_REASON:
            raise ValueError(f"pause reason {UNREACHABLE_REASON!r} is reserved for the system")
        async with self._change() as now:
            statuses = self._router.agent_status(agent_id)
            chosen = self._chosen(agent_id, statuses, channels, AgentState.OFFLINE)
            for ch in chosen:
                if statuses[ch].state is not AgentState.OFFLINE:
                    raise IllegalTransition(agent_id, ch, "login", statuses[ch].state)
            cut = [ch for ch in chosen if (agent_id, ch) in self._unreachable]
            rest = [ch for ch in chosen if ch not in cut]
            if rest:
                self._router.login(agent_id, now, rest, paused)
            if cut:
                self._router.login(agent_id, now, cut, paused or UNREACHABLE_REASON)

    async def logout(self, agent_id: str, channels: Iterable[Channel | str] | None = None) -> None:
        """Log out (every logged-in channel by default); nothing may be in progress."""
        async with self._change() as now:
            self._router.logout(agent_id, now, _channels(channels))

    async def pause(
        self, agent_id: str, reason: str, channels: Iterable[Channel | str] | None = None
    ) -> None:
        """Pause with a reason (every logged-in channel by default)."""
        if reason == UNREACHABLE_REASON:
            raise ValueError(f"pause reason {UNREACHABLE_REASON!r} is reserved for the system")
        async with self._change() as now:
            self._router.pause(agent_id, reason, now, _channels(channels))

    async def unpause(self, agent_id: str, channels: Iterable[Channel | str] | None = None) -> None:
        """Back to work (every paused channel by default). An unreachable channel stays
        paused, with the reason "unreachable"."""
        async with self._change() as now:
            statuses = self._router.agent_status(agent_id)
            chosen = self._chosen(agent_id, statuses, channels, AgentState.PAUSED)
            held = [ch for ch in chosen if (agent_id, ch) in self._unreachable]
            for ch in held:
                if statuses[ch].state is not AgentState.PAUSED:
                    raise IllegalTransition(agent_id, ch, "unpause", statuses[ch].state)
            back = [ch for ch in chosen if ch not in held]
            if back:
                self._router.unpause(agent_id, now, back)
            for ch in held:
                if statuses[ch].reason != UNREACHABLE_REASON:
                    self._router.pause(agent_id, UNREACHABLE_REASON, now, [ch])

    async def reachable(
        self, agent_id: str, channels: Channel | str | Iterable[Channel | str], yes: bool
    ) -> None:
        """Mark the agent's channel(s) reachable or not (phone registered, desk
        connected). Unreachable channels are paused "unreachable"; see the module doc."""
        if isinstance(channels, str):
            chosen = [Channel(channels)]
        else:
            chosen = sorted({Channel(ch) for ch in channels})
        async with self._change() as now:
            statuses = self._router.agent_status(agent_id)
            for ch in chosen:
                if ch not in statuses:
                    raise RoutingError(f"agent {agent_id} has no capacity for {ch}")
            for ch in chosen:
                key = (agent_id, ch)
                if yes and key in self._unreachable:
                    self._unreachable.discard(key)
                    self._note("agent.reachable", now, agent=agent_id, channel=ch)
                    st = statuses[ch]
                    if st.state is AgentState.PAUSED and st.reason == UNREACHABLE_REASON:
                        self._router.unpause(agent_id, now, [ch])
                elif not yes and key not in self._unreachable:
                    self._unreachable.add(key)
                    self._note("agent.unreachable", now, agent=agent_id, channel=ch)

    def is_reachable(self, agent_id: str, channel: Channel | str) -> bool:
        return (agent_id, Channel(channel)) not in self._unreachable

    def _chosen(
        self,
        agent_id: str,
        statuses: Mapping[Channel, Any],
        channels: Iterable[Channel | str] | None,
        default_state: AgentState,
    ) -> list[Channel]:
        if channels is None:
            return sorted(ch for ch, st in statuses.items() if st.state is default_state)
        chosen = sorted({Channel(ch) for ch in channels})
        for ch in chosen:
            if ch not in statuses:
                raise RoutingError(f"agent {agent_id} has no capacity for {ch}")
        return chosen

    # ---- queries (they only read, between two changes) -----------------------------------

    def agent_status(self, agent_id: str) -> dict[Channel, ChannelStatus]:
        """The agent's per-channel status (RoutingError for an unknown agent)."""
        return self._router.agent_status(agent_id)

    def ticket(self, contact_id: str) -> Ticket | None:
        """The ticket of a contact still in a queue."""
        return self._tickets.get(contact_id)

    def position(self, contact_id: str) -> int | None:
        """1-based place in its queue; 0 while being offered; None if not queued."""
        return self._router.position(contact_id)

    def eta(self, contact_id: str) -> float | None:
        """Estimated seconds until answered; None if unknown or not queued."""
        return self._router.eta(contact_id)

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
        return QueueStatus(
            queue=queue,
            channel=channel,
            waiting=snap.waiting,
            longest_wait=snap.longest_wait,
            eta=eta,
            agents_logged_in=snap.agents_logged_in,
            agents_free=snap.agents_free,
            agents_paused=snap.agents_paused,
        )

    # ---- internals ---------------------------------------------------------------------

    def _then(self, action: Callable[[], None]) -> None:
        """Run `action` once every event recorded so far is logged."""
        self._actions.append(action)

    def _withdraw(self, contact_id: str, agent_id: str, reason: str) -> None:
        offer = self._offers.pop((contact_id, agent_id), None)
        ticket = self._tickets.get(contact_id)
        if offer is not None and ticket is not None:
            self._then(partial(ticket._put, Withdrawn(offer, reason)))

    def _removed(self, removed: Removed) -> None:
        contact = removed.contact.id
        for agent in removed.withdrawn_from:
            self._withdraw(contact, agent, f"contact {removed.outcome.value}")
        self._end(contact, removed.outcome)

    def _end(self, contact_id: str, outcome: Outcome) -> None:
        ticket = self._tickets.pop(contact_id, None)
        self._forget(contact_id)
        if ticket is not None:
            self._then(partial(ticket._finish, outcome))

    def _forget(self, contact_id: str) -> None:
        for key in [k for k in self._offers if k[0] == contact_id]:
            del self._offers[key]

    def _reconcile(self, now: float) -> None:
        """Pause unreachable channels that could take contacts."""
        for agent_id, ch in sorted(self._unreachable):
            try:
                st = self._router.agent_status(agent_id).get(ch)
            except RoutingError:  # the agent was removed
                self._unreachable.discard((agent_id, ch))
                continue
            if st is not None and st.state in _PAUSABLE:
                self._router.pause(agent_id, UNREACHABLE_REASON, now, [ch])

    def _match(self, now: float) -> None:
        for offer in self._router.next_offers(now):
            contact = offer.contact.id
            self._offers[(contact, offer.agent)] = offer
            ticket = self._tickets.get(contact)
            if ticket is not None:
                self._then(partial(ticket._put, offer))
        self._drain()

    @contextlib.asynccontextmanager
    async def _change(self) -> AsyncIterator[float]:
        """One change of the routing state, made in the body at the time given (no
        awaiting in it: the state changes in one step). Then agents that cannot be
        reached are paused and offers made; the change's events are logged, and once
        they are, what it must do (offers to tickets, outcomes) is done."""
        now = self._clock()
        yield now
        self._reconcile(now)
        self._match(now)
        await self._commit()

    def _commit(self) -> asyncio.Future[None]:
        """Hand the events and actions so far to the writer; done once they are logged
        and acted on (or failed with the error that stopped the logging)."""
        self._drain()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outbox.append(_Pending(list(self._records), self._actions, done))
        self._records.clear()
        self._actions = []
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="routing-log")
        return done

    async def _write(self) -> None:
        """Log what the changes handed over, in order, then act on it. A change does not
        wait for the ones before it to be logged: their writes queue together and share
        commits in the store. What fails to be logged stays first in line, and nothing
        after it is acted on until it is logged (by the writer of a later change)."""
        try:
            while any(pending.done is not None for pending in self._outbox):
                batch = list(self._outbox)
                self._outbox.clear()
                records = [record for pending in batch for record in pending.records]
                results = await asyncio.gather(
                    *(self._log(**record) for record in records), return_exceptions=True
                )
                logged = iter(not isinstance(r, BaseException) for r in results)
                unlogged = [[r for r in p.records if not next(logged)] for p in batch]
                error = next((r for r in results if isinstance(r, BaseException)), None)
                for n, pending in enumerate(batch):
                    if unlogged[n]:
                        kept = [
                            _Pending(rest, p.actions, None)
                            for p, rest in zip(batch[n:], unlogged[n:], strict=True)
                        ]
                        self._outbox.extendleft(reversed(kept))
                        for p in batch[n:]:
                            p.settle(error)
                        break
                    for action in pending.actions:
                        action()
                    pending.settle()
        except asyncio.CancelledError:
            for pending in self._outbox:
                pending.settle(RoutingError("the routing service stopped"))
            raise

    def _drain(self) -> None:
        for event in self._router.drain_events():
            self._records.append(self._record(event))

    def _note(self, type: str, now: float, *, agent: str, channel: Channel) -> None:
        """Queue a service event of our own, after the router's so far."""
        self._drain()
        self._records.append(
            {
                "type": type,
                "data": {"at": now, "channel": channel.value},
                "contact_id": None,
                "queue": None,
                "agent": agent,
            }
        )

    def _record(self, event: RoutingEvent) -> dict[str, Any]:
        data: dict[str, Any] = {"at": event.at}
        if event.channel is not None:
            data["channel"] = event.channel.value
        if event.from_state is not None:
            data["from"] = event.from_state.value
        if event.to_state is not None:
            data["to"] = event.to_state.value
        if event.reason is not None:
            data["reason"] = event.reason
        if event.type == "contact.offer":
            data["explanation"] = event.detail
            offer = self._offers.get((event.contact or "", event.agent or ""))
            if offer is not None:
                data["ring_timeout"] = offer.ring_timeout
                if offer.ring_group:
                    data["ring_group"] = list(offer.ring_group)
        elif event.detail is not None:
            data["detail"] = event.detail
        ticket = self._tickets.get(event.contact or "")
        if event.type in ("contact.join", "contact.restore") and ticket is not None:
            # All it takes to put the contact back at its place after a restart.
            contact = ticket.contact
            data["priority"] = contact.priority
            data["skills"] = dict(contact.skills)
            data["timeout"] = logged_timeout(contact.timeout)
            data["waited"] = round(max(0.0, event.at - contact.entered_at), 3)
        return {
            "type": event.type,
            "data": data,
            "contact_id": event.contact,
            "queue": event.queue,
            "agent": event.agent,
        }


def _ids(offer: Offer) -> tuple[str, str]:
    return offer.agent, offer.contact.id


def _channels(channels: Iterable[Channel | str] | None) -> list[Channel] | None:
    return None if channels is None else [Channel(ch) for ch in channels]


@dataclass
class _Pending:
    """A change handed to the writer: its records, then its actions; `done` tells the
    one who made it (None once it failed to be logged and only waits to be retried)."""

    records: list[dict[str, Any]]
    actions: list[Callable[[], None]]
    done: asyncio.Future[None] | None

    def settle(self, error: BaseException | None = None) -> None:
        if self.done is not None and not self.done.done():
            if error is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(error)
