"""The worker's side of the bus: `RemoteRouting`, the routing engine's API
(hotline/acd/service.py `RoutingService`) carried over NATS to the domain's leader.

Adapters use it as they use the in-process engine: `enqueue` gives a `Ticket` whose
items (offers, withdrawals, the end) arrive from the leader; `ringing`, `accepted`,
`rejected`, `no_answer`, `failed`, `finished`, `leave` and presence go back as
requests. The queries adapters make without awaiting (position, wait, the queues and
agents) are answered from what the leader last said: each ticket's place and wait, and
the snapshot in its heartbeat.

Failover:
- A request is retried (with the same request id, answered once) until a leader answers
  or `timeout` passes; then `LeaderUnavailable`, a RoutingError with the reason.
- Every offer carries its leader's epoch and passes the worker's `OfferFence`: an item
  from an older epoch is dropped and said in the log. When a newer epoch shows up (its
  heartbeat or its first item), the offers of older epochs still live here are
  withdrawn from their tickets (the agents' phones stop ringing); the new leader, which
  took the waiting contacts over from the event log, makes its own offers on the same
  subjects, which this worker is still subscribed to. The agents' reachability is said
  to the new leader again.
- The leader's monotonic clock is not this host's: places (`entered_at`, `since`) are
  converted with the offset measured from the heartbeat of each epoch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from hotline.acd.decisions import Offer, Removed, Snapshot
from hotline.acd.model import Channel, Contact, Outcome
from hotline.acd.queue_status import QueueStatus
from hotline.acd.restore import Talking
from hotline.acd.router import RoutingError
from hotline.acd.states import ChannelStatus
from hotline.acd.tickets import OfferWithdrawn, Ticket, Withdrawn
from hotline.cluster.bus import (
    Subjects,
    contact_from_wire,
    contact_to_wire,
    dumps,
    join_from_wire,
    loads,
    nats_request,
    offer_from_wire,
    snapshot_from_wire,
)
from hotline.cluster.node_loss import WORKER_BEAT
from hotline.cluster.offers import OfferFence, StaleOffer
from hotline.cluster.view import LeaderView
from hotline.errors import error_text

log = logging.getLogger(__name__)

#: Seconds a request waits for a leader (through a failover) before it fails.
DEFAULT_TIMEOUT = 10.0
#: Seconds one try waits for its answer.
TRY_TIMEOUT = 2.0
#: Seconds between tries while no leader answers.
RETRY_PAUSE = 0.1


class LeaderUnavailable(RoutingError):
    """No routing leader answered in time (none elected, or the bus is down)."""


_ERRORS: dict[str, Callable[[str], Exception]] = {
    "withdrawn": OfferWithdrawn,
    "routing": RoutingError,
    "illegal": lambda text: RoutingError(text),
    "value": ValueError,
    "unavailable": LeaderUnavailable,
}


class RemoteRouting:
    """The routing engine of a domain whose leader runs elsewhere (module docstring)."""

    def __init__(
        self,
        nc: Any,
        domain: str,
        *,
        fence: OfferFence | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        try_timeout: float = TRY_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        worker: str = "",
    ) -> None:
        """`worker`: this worker's name, the same across its restarts (the leader knows
        whose contacts are whose by it; `claim`)."""
        self.nc = nc
        self.worker = worker
        self.domain = domain
        self.subjects = Subjects(domain)
        self.fence = fence or OfferFence(domain)
        self.timeout = timeout
        self.try_timeout = try_timeout
        self._clock = clock
        self._leader_sub: Any = None
        self._subs: dict[str, Any] = {}
        self._tickets: dict[str, Ticket] = {}
        #: Items that arrived before their enqueue's answer (the ticket is made then).
        self._early: dict[str, list[dict[str, Any]]] = {}
        #: Live offers per contact, by their key; the key of each (by identity).
        self._offers: dict[str, dict[str, Offer]] = {}
        self._key_of: dict[int, str] = {}
        self._places: dict[str, tuple[int | None, float | None]] = {}
        #: Conversations this worker holds (answered here or restored), by agent.
        self._talking: dict[str, str] = {}
        #: The queues and agents of the leader's last heartbeat (view.py).
        self.view = LeaderView()
        #: The leader's clock minus ours, per epoch (first heartbeat of the epoch).
        self._offsets: dict[int, float] = {}
        self.leader = ""
        self.heard = asyncio.Event()  # a heartbeat arrived
        #: What this worker said of each agent's reachability (said again to a new leader).
        self._reach: dict[tuple[str, Channel], bool] = {}
        #: One saying of an agent's reachability at a time, each saying what is known
        #: when it is sent: a phone registering while the old state is being said to
        #: a new leader is said after it (the last said wins at the leader).
        self._reach_locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: Items refused as older than the newest epoch seen (for tests and metrics).
        self.stale_refused = 0
        self.tick_interval = 0.0
        #: Close the NATS connection on `stop` (it was made for this worker).
        self.close_bus = False
        #: Serves open callbacks the leader hands this worker (a lost node's callers):
        #: the callback service's `adopt`; None: refused.
        self.adopt: Callable[[list[str]], Awaitable[int]] | None = None
        #: The open callbacks this worker serves (the callback service's `serving`),
        #: said in each heartbeat: the leader hands the others (callback_keeper.py).
        self.serving: Callable[[], list[str]] | None = None
        #: Since when (this clock) this worker's Asterisk has been gone (ARI down; None:
        #: connected), said in each heartbeat: a node down too long is lost (node_loss.py).
        self.asterisk_down_since: float | None = None
        self._worker_sub: Any = None
        self._beat: asyncio.Task[None] | None = None
        #: Seconds between two heartbeats of this worker (tests shorten it).
        self.beat_interval = WORKER_BEAT
        #: Cut off from the leader (no heartbeat heard) for this long, this worker stops
        #: serving its callbacks (`release`): the leader, which will declare its node
        #: lost at routing.node_lost_after, hands them to another (None: never).
        self.cut_off_after: float | None = None
        self.release: Callable[[], Awaitable[list[str]]] | None = None
        self.cut_off = False
        self._heard_at: float | None = None
        #: What the leader did with this worker's callers while it was cut off (a lost
        #: node's policy: `routing.node_lost` data), by contact, said by `sync`.
        self._rebooked: dict[str, dict[str, Any]] = {}

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self, wait: float = 0.0) -> bool:
        """Listen to the leader's heartbeat; wait up to `wait` seconds for the first.
        True if a leader was heard."""
        if self._leader_sub is None:
            self._leader_sub = await self.nc.subscribe(self.subjects.leader, cb=self._on_heartbeat)
        if self.worker and self._worker_sub is None:
            # Heard by the leader (a silent worker has lost its node) and asked by it.
            subject = self.subjects.worker(self.worker)
            self._worker_sub = await self.nc.subscribe(subject, cb=self._on_leader_request)
            self._beat = asyncio.create_task(self._heartbeat(), name="worker-heartbeat")
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.heard.wait(), wait)
        return self.heard.is_set()

    async def stop(self) -> None:
        """Stop listening. Tickets stay as they are (the leader keeps the contacts)."""
        for sub in [self._leader_sub, self._worker_sub, *self._subs.values()]:
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
        self._leader_sub = self._worker_sub = None
        if self._beat is not None:
            self._beat.cancel()
            self._beat = None
        self._subs.clear()
        for task in list(self._tasks):
            task.cancel()
        if self.close_bus:
            with contextlib.suppress(Exception):
                await self.nc.close()

    def asterisk(self, up: bool) -> None:
        """This worker's Asterisk (its ARI WebSocket) is up, or gone from now on."""
        if up:
            self.asterisk_down_since = None
        elif self.asterisk_down_since is None:
            self.asterisk_down_since = self._clock()

    async def _heartbeat(self) -> None:
        while True:
            await self._judge_cut_off()
            since = self.asterisk_down_since
            down = None if since is None else round(self._clock() - since, 1)
            serving = self.serving() if self.serving is not None else []
            beat = dumps(
                {
                    "worker": self.worker,
                    "asterisk_down": down,
                    "callbacks": serving,
                    "cut_off": self.cut_off,
                }
            )
            with contextlib.suppress(Exception):  # NATS reconnecting: the next beat
                await self.nc.publish(self.subjects.workers, beat)
            await asyncio.sleep(self.beat_interval)

    async def _judge_cut_off(self) -> None:
        """Cut off from the leader past `cut_off_after`: this worker's callbacks are
        released (they are handed to a live worker once this node is declared lost; a
        call going on is kept). Heard again: it serves what it is handed again."""
        if self.cut_off_after is None or self._heard_at is None:
            return
        silent = self._clock() - self._heard_at
        if silent <= self.cut_off_after:
            if self.cut_off:
                log.warning("routing domain %r: the leader is heard again", self.domain)
            self.cut_off = False
            return
        if self.cut_off:
            return
        self.cut_off = True
        released = await self.release() if self.release is not None else []
        log.warning(
            "routing domain %r: no leader heard for %.1f s: cut off; callbacks released "
            "to be dialed by another worker: %s",
            self.domain,
            silent,
            ", ".join(released) or "none",
        )

    def forget(self, contact_id: str) -> None:
        """Stop following a contact's ticket here, telling the leader nothing (its
        callback is released: another worker serves it)."""
        if contact_id in self._tickets or contact_id in self._subs:
            self._close(contact_id)

    def rebooked(self, contact_id: str) -> dict[str, Any] | None:
        """What the leader did with this worker's waiting caller while it was cut off
        (the node-lost policy's `routing.node_lost` data: a callback at its place, or
        lost and why), or None."""
        return self._rebooked.get(contact_id)

    async def _on_leader_request(self, msg: Any) -> None:
        """The leader hands this worker open callbacks to dial (`adopt`), under its
        epoch: one from an older epoch than the newest seen here is refused."""
        try:
            request = loads(msg.data)
            if request.get("op") != "adopt" or self.adopt is None:
                raise ValueError(f"not served here: {request.get('op')!r}")
            epoch = int(request.get("epoch", 0))
            if epoch < self.fence.epoch:
                raise ValueError(
                    f"callbacks refused: handed under epoch {epoch} of routing domain "
                    f"{self.domain!r}, which is now at epoch {self.fence.epoch}"
                )
            if self.cut_off:
                raise ValueError("callbacks refused: this worker has been cut off from the bus")
            self._saw_epoch(epoch)
            answer: dict[str, Any] = {"ok": await self.adopt([str(c) for c in request["contacts"]])}
        except Exception as error:
            answer = {"error": error_text(error)}
        with contextlib.suppress(Exception):
            await msg.respond(dumps(answer))

    @property
    def running(self) -> bool:
        return self._leader_sub is not None

    # ---- requests --------------------------------------------------------------------------

    async def _request(self, op: str, **args: Any) -> Any:
        rid = uuid.uuid4().hex
        deadline = self._clock() + self.timeout
        last = "no routing leader answered"
        while True:
            who = {"rid": rid, "epoch": self.fence.epoch, "worker": self.worker}
            body = dumps({"op": op, "args": args, **who})
            left = deadline - self._clock()
            if left <= 0:
                raise LeaderUnavailable(
                    f"routing domain {self.domain!r}: {op} not done in {self.timeout:g} s: {last}"
                )
            try:
                msg = await nats_request(
                    self.nc, self.subjects.call, body, min(self.try_timeout, left)
                )
            except NoRespondersError:
                last = "no routing leader answered (none elected yet?)"
            except (NatsTimeout, TimeoutError):
                last = "the routing leader did not answer in time"
            except Exception as error:  # the connection is closed or reconnecting
                last = f"the bus is unavailable: {error_text(error)}"
            else:
                answer = loads(msg.data)
                self._heard_from(answer)
                if "error" not in answer:
                    return answer.get("ok")
                kind = str(answer.get("kind", "routing"))
                if kind != "unavailable":
                    raise _ERRORS.get(kind, RoutingError)(str(answer["error"]))
                last = str(answer["error"])
            await asyncio.sleep(RETRY_PAUSE)

    # ---- contacts --------------------------------------------------------------------------

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
        """As `RoutingService.enqueue`, the leader deciding (module docstring)."""
        if contact_id in self._tickets:
            raise RoutingError(f"contact {contact_id!r} is already queued")
        await self._subscribe(contact_id)
        try:
            answer = await self._request(
                "enqueue",
                contact_id=contact_id,
                channel=str(Channel(channel)),
                queue=queue,
                priority=priority,
                skills=dict(skills or {}),
                timeout=timeout,
                entered_at=None if entered_at is None else self._to_leader(entered_at),
                agent=agent,
            )
        except BaseException:
            await self._unsubscribe(contact_id)
            raise
        return await self._open(answer)

    async def restore(
        self, waiting: Iterable[Contact] = (), talking: Iterable[Talking] = ()
    ) -> tuple[dict[str, Ticket], dict[str, str]]:
        """A restarted worker's contacts (ari_app/recovery.py): waiting ones attach to
        their tickets at the leader (restored at their place if it has none), talking
        ones are told to it. As `RoutingService.restore`."""
        waiting, talking = list(waiting), list(talking)
        for contact in waiting:
            await self._subscribe(contact.id)
        answer = await self._request(
            "restore",
            waiting=[
                contact_to_wire(replace(c, entered_at=self._to_leader(c.entered_at)))
                for c in waiting
            ],
            talking=[
                {
                    "agent": t.agent,
                    "contact": contact_to_wire(t.contact),
                    "since": self._to_leader(t.since),
                }
                for t in talking
            ],
        )
        tickets = {cid: await self._open(a) for cid, a in answer["tickets"].items()}
        for t in talking:
            if t.contact.id not in answer["refused"]:
                self._talking[t.contact.id] = t.agent
        for contact in waiting:
            if contact.id not in tickets:
                await self._unsubscribe(contact.id)
        return tickets, dict(answer["refused"])

    async def leave(self, contact_id: str, outcome: Outcome | str = Outcome.LEFT) -> Removed | None:
        outcome = Outcome(outcome)
        answer = await self._request("leave", contact_id=contact_id, outcome=str(outcome))
        if answer is None:
            return None
        contact = self._from_leader(contact_from_wire(answer["contact"]))
        return Removed(contact, Outcome(answer["outcome"]), tuple(answer["withdrawn_from"]))

    async def finished(self, agent_id: str, contact_id: str) -> None:
        await self._request("finished", agent=agent_id, contact_id=contact_id)
        self._talking.pop(contact_id, None)

    async def end_wrap_up(self, agent_id: str, channel: Channel | str | None = None) -> None:
        await self._request(
            "end_wrap_up", agent=agent_id, channel=None if channel is None else str(channel)
        )

    async def asterisk_lost(
        self, contact_ids: Iterable[str], talking: Mapping[str, str] | None = None
    ) -> list[str]:
        """Waiting contacts whose calls died with this worker's Asterisk (a crash): the
        leader applies the node-lost policy to them (callbacks at their place where the
        queue allows) and hands the callbacks to a worker that can dial. `talking`:
        conversations cut by the crash (contact -> agent; a callback's is dialed again,
        its agent goes to wrap-up). The callbacks booked."""
        contacts = sorted(set(contact_ids))
        cut = dict(talking or {})
        booked = await self._request("asterisk_lost", contacts=contacts, talking=cut)
        for contact in contacts:
            ticket = self._tickets.get(contact)
            if ticket is not None:  # out of its queue at the leader: no items follow
                self._close(contact)
        for contact in cut:  # over at the leader
            self._talking.pop(contact, None)
        return [str(c) for c in booked]

    async def claim(self, purge: bool = False) -> list[str]:
        """Tell the leader which contacts this worker holds (tickets, those being
        enqueued, conversations). `purge`, once recovery has run: the leader takes this
        worker's other waiting contacts out of their queues (their calls were lost) and
        finishes its other conversations (ended while it was down). Those it did so."""
        holds = sorted(set(self._subs) | set(self._tickets))
        talking = sorted(self._talking)
        answer = await self._request("claim", contacts=holds, talking=talking, purge=purge)
        return [*answer["left"], *answer["ended"]]

    async def sync(self) -> None:
        """Back on the bus (NATS reconnected; items published meanwhile are lost): ask
        the leader where each waiting contact stands. Offers it no longer has are
        withdrawn here, then the ones it has are handed over (once: by key), and a
        contact no longer queued there ends (answered, or timeout)."""
        if not self._tickets:
            return
        state = await self._request("sync", contacts=sorted(self._tickets))
        for contact, now in state.items():
            ticket = self._tickets.get(contact)
            if ticket is None:
                continue
            if not now["queued"]:
                self._close(contact)
                if now.get("node_lost"):  # rebooked (or ended) as on a lost node
                    self._rebooked[contact] = dict(now["node_lost"])
                    ticket.finish(Outcome.LEFT)
                    continue
                ticket.finish(Outcome.ANSWERED if now["answered"] else Outcome.TIMEOUT)
                continue
            live: dict[str, Any] = now["offers"]
            for key, offer in list(self._offers.get(contact, {}).items()):
                if key not in live:
                    del self._offers[contact][key]
                    self._key_of.pop(id(offer), None)
                    ticket.deliver(Withdrawn(offer, "withdrawn while the bus was down"))
            for key, data in live.items():  # after the withdrawals: one agent, one ring
                item = {"kind": "offer", "key": key, "offer": data, "epoch": data["epoch"]}
                self._apply(ticket, item)  # one it has already is known by its key
        log.info("routing domain %r: caught up with the leader after a reconnection", self.domain)

    # ---- offers ----------------------------------------------------------------------------

    def _key(self, offer: Offer) -> str | None:
        return self._key_of.get(id(offer))

    async def ringing(self, offer: Offer) -> bool:
        key = self._key(offer)
        return key is not None and bool(await self._request("ringing", key=key))

    async def accepted(self, offer: Offer) -> tuple[str, ...]:
        key = self._key(offer)
        if key is None:
            raise OfferWithdrawn(
                f"offer of contact {offer.contact.id} to agent {offer.agent} was withdrawn"
            )
        others = tuple(await self._request("accepted", key=key))
        self._talking[offer.contact.id] = offer.agent
        return others

    async def rejected(self, offer: Offer) -> bool:
        key = self._key(offer)
        return key is not None and bool(await self._request("rejected", key=key))

    async def no_answer(self, offer: Offer) -> bool:
        key = self._key(offer)
        return key is not None and bool(await self._request("no_answer", key=key))

    async def failed(self, offer: Offer, reason: str) -> bool:
        key = self._key(offer)
        return key is not None and bool(await self._request("failed", key=key, reason=reason))

    # ---- presence --------------------------------------------------------------------------

    async def login(
        self,
        agent_id: str,
        channels: Iterable[Channel | str] | None = None,
        *,
        paused: str | None = None,
    ) -> None:
        await self._request("login", agent=agent_id, channels=_names(channels), paused=paused)

    async def logout(self, agent_id: str, channels: Iterable[Channel | str] | None = None) -> None:
        await self._request("logout", agent=agent_id, channels=_names(channels))

    async def pause(
        self, agent_id: str, reason: str, channels: Iterable[Channel | str] | None = None
    ) -> None:
        await self._request("pause", agent=agent_id, reason=reason, channels=_names(channels))

    async def unpause(self, agent_id: str, channels: Iterable[Channel | str] | None = None) -> None:
        await self._request("unpause", agent=agent_id, channels=_names(channels))

    def note_reachable(
        self, agent_id: str, channels: Channel | str | Iterable[Channel | str], yes: bool
    ) -> list[Channel]:
        """Remember the agent's reachability, said to each leader once heard (and to
        the one heard now by `reachable`)."""
        many = [channels] if isinstance(channels, str) else channels
        listed = [Channel(c) for c in many]
        for channel in listed:
            self._reach[(agent_id, channel)] = yes
        return listed

    async def reachable(
        self, agent_id: str, channels: Channel | str | Iterable[Channel | str], yes: bool
    ) -> None:
        """Said to the leader, and again to each new leader."""
        self.note_reachable(agent_id, channels, yes)
        await self._say_reachable(agent_id)

    async def _say_reachable(self, agent_id: str) -> None:
        """Say the agent's reachability as known now, after any saying of it in flight
        (so an older value said to a new leader never lands after a newer one)."""
        lock = self._reach_locks.setdefault(agent_id, asyncio.Lock())
        async with lock:
            by_value: dict[bool, list[str]] = {}
            for (agent, channel), yes in self._reach.items():
                if agent == agent_id:
                    by_value.setdefault(yes, []).append(str(channel))
            for yes, channels in by_value.items():
                await self._request("reachable", agent=agent_id, channels=channels, yes=yes)

    def is_reachable(self, agent_id: str, channel: Channel | str) -> bool:
        return self._reach.get((agent_id, Channel(channel)), True)

    async def callbacks_booked(self, contact_ids: Iterable[str]) -> None:
        """Tell the leader of callbacks booked here that no worker serves: it hands
        them to a worker now (a web process, hotline/cluster/web_callbacks.py)."""
        await self._request("callbacks_booked", contacts=list(contact_ids))

    def detach(self, contact_id: str) -> None:
        """Forget a contact's ticket here, leaving it queued at the leader: another
        process serves it from now on (it attaches by enqueueing it again there; a web
        process's callback, hotline/cluster/web_callbacks.py)."""
        self._close(contact_id)

    # ---- queries (from what the leader last said) -------------------------------------------

    def ticket(self, contact_id: str) -> Ticket | None:
        return self._tickets.get(contact_id)

    def position(self, contact_id: str) -> int | None:
        return self.place(contact_id)[0]

    def eta(self, contact_id: str) -> float | None:
        return self.place(contact_id)[1]

    def place(self, contact_id: str) -> tuple[int | None, float | None]:
        return self._places.get(contact_id, (None, None))

    def snapshot(self) -> Snapshot:
        """The leader's last snapshot, at this host's time (empty before the first)."""
        return self.view.snapshot(self._clock())

    def queue_eta(self, queue: str, channel: Channel | str = Channel.VOICE) -> float | None:
        return self.view.queue_status(queue, channel).eta

    def queue_status(self, queue: str, channel: Channel | str = Channel.VOICE) -> QueueStatus:
        return self.view.queue_status(queue, channel)

    def agent_status(self, agent_id: str) -> dict[Channel, ChannelStatus]:
        return self.view.agent_status(agent_id)

    def unavailable(self, agent_id: str, channel: Channel | str) -> str | None:
        return self.view.unavailable(agent_id, channel)

    # ---- what the leader says --------------------------------------------------------------

    async def _subscribe(self, contact_id: str) -> None:
        if contact_id not in self._subs:

            async def on_item(msg: Any) -> None:
                self._on_item(contact_id, msg.data)

            self._subs[contact_id] = await self.nc.subscribe(
                self.subjects.ticket(contact_id), cb=on_item
            )

    async def _unsubscribe(self, contact_id: str) -> None:
        sub = self._subs.pop(contact_id, None)
        self._early.pop(contact_id, None)
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _open(self, answer: dict[str, Any]) -> Ticket:
        """The ticket of an enqueue's answer; the items that came before it, handed on."""
        contact = self._from_leader(contact_from_wire(answer["contact"]))
        join = join_from_wire(answer["join"])
        existing = self._tickets.get(contact.id)
        if existing is not None:
            return existing
        ticket = Ticket(contact, join)
        ticket.agent = answer.get("agent")
        if not ticket.joined:
            ticket.finish(join.outcome)
            await self._unsubscribe(contact.id)
            return ticket
        self._tickets[contact.id] = ticket
        self._places[contact.id] = (join.position, join.eta)
        for data in self._early.pop(contact.id, []):
            self._apply(ticket, data)
        return ticket

    def _on_item(self, contact_id: str, raw: bytes) -> None:
        try:
            data = loads(raw)
            epoch = int(data["epoch"])
        except (ValueError, KeyError, TypeError) as error:
            log.error("routing item for %s refused: %s", contact_id, error)
            return
        if epoch < self.fence.epoch:
            self.stale_refused += 1
            log.warning(
                "routing item %s for %s refused: made under epoch %d of routing domain %r, "
                "which is now at epoch %d",
                data.get("kind"),
                contact_id,
                epoch,
                self.domain,
                self.fence.epoch,
            )
            return
        self._heard_from(data)
        ticket = self._tickets.get(contact_id)
        if ticket is None:
            if contact_id in self._subs:
                self._early.setdefault(contact_id, []).append(data)
            return
        self._apply(ticket, data)

    def _apply(self, ticket: Ticket, data: dict[str, Any]) -> None:
        contact = ticket.contact_id
        kind = data.get("kind")
        if kind == "offer":
            if str(data["key"]) in self._offers.get(contact, {}):
                return  # said again after a re-attach: rung already
            offer = self._offer_here(offer_from_wire(data["offer"]))
            try:
                self.fence.check(offer)
            except StaleOffer as stale:
                self.stale_refused += 1
                log.warning("%s", stale)
                return
            self._offers.setdefault(contact, {})[data["key"]] = offer
            self._key_of[id(offer)] = data["key"]
            ticket.deliver(offer)
        elif kind == "withdrawn":
            withdrawn = self._offers.get(contact, {}).pop(str(data["key"]), None)
            if withdrawn is not None:
                self._key_of.pop(id(withdrawn), None)
                ticket.deliver(Withdrawn(withdrawn, str(data["reason"])))
        elif kind == "finished":
            self._close(contact)
            if data.get("node_lost"):  # the leader took it for lost with this node
                self._rebooked[contact] = dict(data["node_lost"])
            ticket.finish(Outcome(data["outcome"]))
        elif kind == "place":
            self._places[contact] = (data["position"], data["eta"])

    def _close(self, contact_id: str) -> None:
        self._tickets.pop(contact_id, None)
        self._places.pop(contact_id, None)
        for offer in self._offers.pop(contact_id, {}).values():
            self._key_of.pop(id(offer), None)
        self._spawn(self._unsubscribe(contact_id))

    def _on_heartbeat_data(self, data: dict[str, Any]) -> None:
        epoch = int(data["epoch"])
        if epoch < self.fence.epoch:
            return  # a deposed leader that does not know it yet
        self._heard_from(data)
        self._heard_at = self._clock()
        snapshot = snapshot_from_wire(data["snapshot"])
        self.view.last = replace(snapshot, at=snapshot.at - self._offsets[epoch])
        if self.leader != data["leader"]:
            log.info("routing domain %r: leader %s (epoch %d)", self.domain, data["leader"], epoch)
            self.leader = str(data["leader"])
        self.heard.set()

    async def _on_heartbeat(self, msg: Any) -> None:
        try:
            self._on_heartbeat_data(loads(msg.data))
        except (ValueError, KeyError, TypeError) as error:
            log.error("routing heartbeat refused: %s", error)

    def _heard_from(self, message: dict[str, Any]) -> None:
        """Every message of a leader carries its epoch and clock: the offset of its
        clock is measured once per epoch, a newer epoch is taken up."""
        epoch = int(message.get("epoch", 0))
        if epoch and "clock" in message:
            self._offsets.setdefault(epoch, float(message["clock"]) - self._clock())
        self._saw_epoch(epoch)

    def _saw_epoch(self, epoch: int) -> None:
        """A newer leader: older offers still live here are withdrawn, and the agents'
        reachability is said to it."""
        if epoch <= self.fence.epoch:
            return
        old = self.fence.epoch
        self.fence.saw(epoch)
        self._spawn(self._say_reachability())
        if old == 0:
            return  # the first leader this worker hears of
        self._spawn(self._claim_quietly())
        log.warning(
            "routing domain %r: epoch %d follows %d: offers of the old leader withdrawn",
            self.domain,
            epoch,
            old,
        )
        for contact, offers in self._offers.items():
            ticket = self._tickets.get(contact)
            for key, offer in list(offers.items()):
                if offer.epoch < epoch:
                    del offers[key]
                    self._key_of.pop(id(offer), None)
                    if ticket is not None:
                        ticket.deliver(Withdrawn(offer, f"routing leader changed (epoch {epoch})"))

    async def _claim_quietly(self) -> None:
        """A new leader learns which of the contacts it took over are this worker's."""
        if not self.worker:
            return
        try:
            await self.claim()
        except (RoutingError, ValueError) as error:
            log.warning("contacts not claimed from the new leader: %s", error)

    async def _say_reachability(self) -> None:
        """Every agent's reachability to a new leader, as known when each is said."""

        async def say(agent: str) -> None:
            try:
                await self._say_reachable(agent)
            except (RoutingError, ValueError) as error:
                log.warning("reachability of %s not said to the new leader: %s", agent, error)

        await asyncio.gather(*(say(agent) for agent in dict.fromkeys(a for a, _ in self._reach)))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- clocks ------------------------------------------------------------------------------

    def _offset(self) -> float:
        return self._offsets.get(self.fence.epoch, 0.0)

    def _to_leader(self, at: float) -> float:
        return at + self._offset()

    def _from_leader(self, contact: Contact) -> Contact:
        return replace(contact, entered_at=contact.entered_at - self._offset())

    def _offer_here(self, offer: Offer) -> Offer:
        offset = self._offsets.get(offer.epoch, self._offset())
        contact = replace(offer.contact, entered_at=offer.contact.entered_at - offset)
        return replace(offer, contact=contact)


def _names(channels: Iterable[Channel | str] | None) -> list[str] | None:
    return None if channels is None else [str(Channel(c)) for c in channels]
