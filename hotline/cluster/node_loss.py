"""A lost Asterisk node (issue 20): its worker's heartbeat on the bus stops, the leader
rebooks its waiting callers as callbacks at their place and sends its agents to wrap-up.

Every call worker publishes `{worker, asterisk_down, callbacks, cut_off}` on
`hotline.routing.<domain>.workers` once a second (hotline/cluster/remote.py;
`asterisk_down`: seconds its ARI WebSocket has been down, None while up; `cut_off`: it
hears no leader, so it refuses callbacks and is handed none). The leader
(`NodeWatch`, run by the responder) declares a worker's node lost when it has been
silent for `routing.node_lost_after` seconds (default 15: a killed worker restarted by
its supervisor beats again within a few seconds and keeps its calls; a loaded CI
machine does not stall a second-long beat for 15 s: a whole box is gone), or says its
Asterisk has been down for more than `routing.asterisk_lost_after` seconds (default
30: past the ARI reconnection's back-off, at most 10 s, and an Asterisk restarted by
its supervisor; a WebSocket blip reconnects within a second or two). The clock only
runs while the leader itself is on the bus (its own NATS outage is not its workers'
death), and a new leader expects every node named by the contacts it took over to beat
within the same time.

For a lost node (`NodeLossHandler.lost`):
- each waiting contact it held, in queue order, is booked as a callback at its place
  (the callback feature's own `book_from_queue`: same record and events, source
  `node_lost`) when its queue's `callback.node_lost` policy is `callback` (the default
  where the queue takes callbacks) and the caller's number passes the callback checks;
  otherwise it leaves its queue. Either way the contact ends `lost` with a
  `routing.node_lost` event saying what was done and why;
- each conversation it held ends (the call is gone with the node): the agent goes to
  wrap-up as after any call, and the contact ends `lost` with `routing.node_lost`;
- every other contact still open on that node (its `asterisk_node`: a caller in the
  flow before or after its queue, a conversation the leader had been told was
  finished while the caller's flow went on) ends `lost` too (`routing.node_lost`,
  action `ended`, with why), callbacks excepted;
- the callbacks are handed to a live worker (`adopt`), whose callback dialer calls
  them in their turn.

Nothing is done twice: a contact already out of its queue (handled, or taken over by a
new leader from the log, where it is closed) is skipped, and a node is declared lost
once until it beats again (hearing the leader).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hotline.acd.model import Channel
from hotline.acd.router import RoutingError
from hotline.acd.service import RoutingService
from hotline.callbacks.rules import CallbackRefused
from hotline.callbacks.service import CallbackService
from hotline.callbacks.settings import QueueCallback
from hotline.store import Store
from hotline.store.callbacks import Callback, CallbackState
from hotline.store.epochs import Fence

log = logging.getLogger(__name__)

#: Seconds between two heartbeats of a call worker.
WORKER_BEAT = 1.0
#: Seconds of silence after which a worker's node is lost (routing.node_lost_after).
DEFAULT_LOST_AFTER = 15.0
#: Seconds a worker may say its Asterisk is gone (ARI down) before its node is lost
#: (routing.asterisk_lost_after): above the ARI reconnection's back-off (at most 10 s)
#: plus an Asterisk restarted by its supervisor.
DEFAULT_ASTERISK_AFTER = 30.0
#: The reason every event of a lost node carries.
REASON = "node_lost"


class Liveness:
    """When each worker was last heard; which ones are silent past `lost_after`, or
    say their Asterisk has been gone (ARI down) for more than `asterisk_after`."""

    def __init__(self, lost_after: float, asterisk_after: float = DEFAULT_ASTERISK_AFTER) -> None:
        if lost_after <= 0:
            raise ValueError(f"lost_after must be positive, got {lost_after}")
        if asterisk_after <= 0:
            raise ValueError(f"asterisk_after must be positive, got {asterisk_after}")
        self.lost_after = lost_after
        self.asterisk_after = asterisk_after
        self._seen: dict[str, float] = {}
        #: Seconds each worker's Asterisk had been down at its last beat (None: up).
        self._down: dict[str, float | None] = {}
        #: The open callbacks each worker said it serves at its last beat.
        self._serving: dict[str, frozenset[str]] = {}
        #: Workers whose last beat said they hear no leader (they refuse callbacks).
        self._cut_off: set[str] = set()
        self._lost: set[str] = set()

    def beat(
        self,
        worker: str,
        now: float,
        asterisk_down: float | None = None,
        serving: Iterable[str] = (),
        cut_off: bool = False,
    ) -> bool:
        """`worker` was heard (saying how long its Asterisk has been down, None: up, the
        callbacks it serves, and whether it hears no leader); True if it had been
        declared lost and is back (heard, its Asterisk up, hearing the leader again)."""
        self._seen[worker] = now
        self._down[worker] = asterisk_down
        self._serving[worker] = frozenset(serving)
        if cut_off:
            # A frozen worker resumed beats before it hears the leader's heartbeat
            # again: until then it refuses what it is handed.
            self._cut_off.add(worker)
        else:
            self._cut_off.discard(worker)
        if worker in self._lost and asterisk_down is None and not cut_off:
            self._lost.discard(worker)
            return True
        return False

    def cannot_dial(self, worker: str) -> None:
        """`worker` says its Asterisk is gone (before its next beat says so)."""
        if self._down.get(worker) is None:
            self._down[worker] = 0.0

    def why(self, worker: str) -> str:
        """Why `worker`'s node is lost, for the log."""
        down = self._down.get(worker)
        if down is not None and down > self.asterisk_after:
            return f"its Asterisk has been gone (ARI down) for {down:.1f} s"
        return f"silent on the bus for more than {self.lost_after:g} s"

    def expect(self, worker: str, now: float) -> None:
        """`worker` held contacts taken over: it must beat within `lost_after` of now."""
        if worker not in self._seen:
            self._seen[worker] = now

    def pause(self, now: float) -> None:
        """This side could not hear anyone (its own bus was down): every clock restarts."""
        for worker in self._seen:
            self._seen[worker] = max(self._seen[worker], now)

    def due(self, now: float) -> list[str]:
        """Workers silent past `lost_after` and not declared yet (declared now)."""
        found = sorted(
            w
            for w, at in self._seen.items()
            if w not in self._lost
            and (now - at > self.lost_after or (self._down.get(w) or 0) > self.asterisk_after)
        )
        self._lost.update(found)
        return found

    def alive(self) -> list[str]:
        """Workers not declared lost, in name order."""
        return sorted(w for w in self._seen if w not in self._lost)

    def serving(self) -> dict[str, frozenset[str]]:
        """The callbacks each live worker said it serves at its last beat."""
        return {w: self._serving.get(w, frozenset()) for w in self.alive()}

    def able(self) -> list[str]:
        """Live workers whose Asterisk is up and who hear the leader (at their last
        beat): they can dial what they are handed."""
        return [
            w
            for w in self.alive()
            if w in self._down and self._down[w] is None and w not in self._cut_off
        ]


@dataclass(frozen=True)
class Waiting:
    """A waiting contact of a lost node, as the decision needs it."""

    contact_id: str
    queue: str
    number: str | None
    entered_at: float
    priority: int = 0


@dataclass(frozen=True)
class Decision:
    """What becomes of one waiting contact: `callback` (to `number`) or `lost`, and why."""

    contact_id: str
    action: str
    reason: str
    number: str | None = None


def decide(
    waiting: Iterable[Waiting],
    policies: Mapping[str, QueueCallback | None],
    check: Callable[[str, str], str],
) -> list[Decision]:
    """Each waiting contact's fate, in queue order (priority, then entry): a callback
    where its queue's policy allows and `check(number, queue)` accepts the number (the
    callback rules: it returns the number as dialed, or raises CallbackRefused)."""
    decisions = []
    for contact in sorted(waiting, key=lambda w: (-w.priority, w.entered_at, w.contact_id)):
        policy = policies.get(contact.queue)
        if policy is None:
            why = f"queue {contact.queue} takes no callbacks"
        elif policy.node_lost != "callback":
            why = f"queue {contact.queue}'s callback.node_lost is {policy.node_lost}"
        elif not contact.number:
            why = "the caller's number is unknown"
        else:
            try:
                number = check(contact.number, contact.queue)
            except CallbackRefused as refused:
                why = f"the caller's number is refused: {refused}"
            else:
                decisions.append(Decision(contact.contact_id, "callback", REASON, number))
                continue
        decisions.append(Decision(contact.contact_id, "lost", why))
    return decisions


Lost = Callable[[str], Awaitable[None]]


class NodeWatch:
    """The leader's ear on the workers' heartbeats: calls `on_lost(worker)` once per
    lost node (module docstring)."""

    def __init__(
        self,
        nc: Any,
        subject: str,
        on_lost: Lost,
        *,
        lost_after: float = DEFAULT_LOST_AFTER,
        asterisk_after: float = DEFAULT_ASTERISK_AFTER,
        tick: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.nc = nc
        self.subject = subject
        self.on_lost = on_lost
        self.liveness = Liveness(lost_after, asterisk_after)
        self.tick = tick
        self._clock = clock
        self._sub: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, expected: Iterable[str] = ()) -> None:
        for worker in expected:
            self.liveness.expect(worker, self._clock())
        self._sub = await self.nc.subscribe(self.subject, cb=self._on_beat)
        self._task = asyncio.create_task(self._watch(), name="node-watch")

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _on_beat(self, msg: Any) -> None:
        try:
            beat = json.loads(msg.data)
            worker = str(beat["worker"])
            down = beat.get("asterisk_down")
            down = None if down is None else float(down)
            serving = [str(c) for c in beat.get("callbacks") or []]
            cut_off = bool(beat.get("cut_off", False))
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        if self.liveness.beat(worker, self._clock(), down, serving, cut_off):
            log.warning("routing: worker %s (declared lost) is heard again", worker)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            now = self._clock()
            if not getattr(self.nc, "is_connected", True):
                self.liveness.pause(now)  # deaf ourselves: nobody is judged
                continue
            for worker in self.liveness.due(now):
                why = self.liveness.why(worker)
                log.error("routing: worker %s: %s: its node is lost", worker, why)
                try:
                    await self.on_lost(worker)
                except Exception:
                    log.exception("routing: the lost node %s not fully handled", worker)


class NodeLossHandler:
    """What the leader does for a lost node's contacts (module docstring)."""

    def __init__(
        self,
        store: Store,
        routing: RoutingService,
        callbacks: CallbackService,
        fence: Fence | None = None,
    ) -> None:
        """`fence`: the leader's epoch, checked by the hand-over's writes (None: tests)."""
        self.store = store
        self.routing = routing
        self.callbacks = callbacks
        self.fence = fence
        #: What was done with each contact of a lost node (its `routing.node_lost`
        #: data), told to its worker if it comes back (a cut-off node: `sync`).
        self.outcomes: dict[str, dict[str, Any]] = {}

    async def open_callbacks(self) -> list[str]:
        """Every open callback's contact, in queue order (hotline/cluster/callback_keeper.py)."""
        return [c.contact_id for c in await self.callbacks.rows.open_callbacks()]

    async def handed(self, callback: str, worker: str, why: str) -> None:
        """Logged before the hand-over is sent (refused, StaleEpoch, once deposed)."""
        epoch = 0 if self.fence is None else self.fence.epoch
        data = {"worker": worker, "epoch": epoch, "why": why}
        if self.fence is None:
            await self.store.append(callback, "callback.handed", data)
        else:
            await self.store.append_fenced(self.fence, callback, "callback.handed", data)

    async def node_of(self, contact_id: str) -> str | None:
        """The node (worker name) the store says holds the contact."""
        contact = await self.store.contact(contact_id)
        return None if contact is None else contact.asterisk_node

    async def lost(
        self,
        worker: str,
        waiting: Iterable[str],
        talking: Mapping[str, str],
        *,
        reason: str = REASON,
    ) -> list[str]:
        """Rebook or end `waiting` (contact ids), end `talking` (contact -> agent): the
        callbacks booked, in queue order. `reason`: node_lost (the whole node), or
        asterisk_lost (its Asterisk crashed under the worker, which is alive)."""
        found: list[Waiting] = []
        for contact_id in waiting:
            ticket = self.routing.ticket(contact_id)
            if ticket is None:
                continue  # handled already, or gone meanwhile
            if ticket.contact.channel == Channel.CALLBACK:
                continue  # a callback waits on at its place: handed to another worker
            row = await self.store.contact(contact_id)
            found.append(
                Waiting(
                    contact_id,
                    ticket.contact.queue,
                    row.source if row is not None else None,
                    ticket.contact.entered_at,
                    ticket.contact.priority,
                )
            )
        booked: list[str] = []
        for decision in decide(found, self.callbacks.queues, self.callbacks.check):
            queue = next(w.queue for w in found if w.contact_id == decision.contact_id)
            data: dict[str, Any] = {"node": worker, "reason": reason, "queue": queue}

            def known(
                callback: Callback, data: dict[str, Any] = data, of: str = decision.contact_id
            ) -> None:
                # Said before the contact leaves its queue: the end its worker is told
                # carries it (responder.py), even when that worker missed the rest.
                data.update(action="callback", callback=callback.contact_id)
                self._remember(of, data)

            if decision.action == "callback" and decision.number is not None:
                try:
                    callback = await self.callbacks.book_from_queue(
                        decision.contact_id,
                        decision.number,
                        queue,
                        source=REASON,
                        before_leave=known,
                    )
                except CallbackRefused as refused:  # the number's history (too many, ...)
                    data.update(action="lost", why=f"callback refused: {refused}")
                else:
                    booked.append(callback.contact_id)
                    data.update(action="callback", callback=callback.contact_id)
            else:
                data.update(action="lost", why=decision.reason)
            if data["action"] == "lost":
                self._remember(decision.contact_id, data)
                with contextlib.suppress(RoutingError):
                    await self.routing.leave(decision.contact_id, "left")
            await self._end(decision.contact_id, data)
        redial = 0
        for contact_id, agent in sorted(talking.items()):
            row = await self.store.contact(contact_id)
            if row is None or row.ended_at is not None:
                continue  # ended already (its worker said so, or a first signal did)
            with contextlib.suppress(RoutingError, KeyError, ValueError):
                await self.routing.finished(agent, contact_id)  # the agent to wrap-up
            if row.channel == "callback" and await self._redial(contact_id, worker, agent, reason):
                redial += 1
                continue
            data = {"node": worker, "reason": reason, "action": "ended", "agent": agent}
            await self._end(contact_id, data)
        others = await self._the_rest(worker) if reason == REASON else 0
        log.warning(
            "routing: node %s lost (%s): %d waiting (%d booked as callbacks), %d "
            "conversations ended (%d callbacks to dial again), %d other calls ended",
            worker,
            reason,
            len(found),
            len(booked),
            len(talking),
            redial,
            others,
        )
        return booked

    async def _the_rest(self, worker: str) -> int:
        """End the node's other open contacts (how many): its calls are gone with it,
        but the leader knew them neither waiting nor talking: in the flow before their
        queue, or after it (the agent hung up, `finished` was told, the caller's flow
        went on), or a conversation the leader no longer names on this node. Without
        this they stayed open for ever. Callbacks stay open: they are dialed again."""
        ended = 0
        for row in await self.store.open_contacts_on(worker):
            if row.channel == Channel.CALLBACK.value:
                continue
            data = {
                "node": worker,
                "reason": REASON,
                "action": "ended",
                "why": "its call was on the node, neither waiting nor talking at the leader",
            }
            await self._end(row.id, data)
            ended += 1
        return ended

    async def _redial(self, contact_id: str, worker: str, agent: str, reason: str) -> bool:
        """A callback whose call died with the node (or its Asterisk): the interrupted
        attempt keeps its count (as after a restart, docs/callbacks.md) and the callback
        stays open, to be dialed again. False if it is no longer open."""
        rows = self.callbacks.rows
        callback = await rows.get(contact_id)
        if callback is None or not callback.open:
            return False
        if callback.state == CallbackState.DIALING:
            await rows.update(contact_id, state=CallbackState.PENDING.value)
        data = {"node": worker, "reason": reason, "action": "redial", "agent": agent}
        await self.store.append(
            contact_id, "routing.node_lost", data, queue=callback.queue, agent=agent
        )
        return True

    def _remember(self, contact_id: str, data: dict[str, Any]) -> None:
        if contact_id not in self.outcomes and len(self.outcomes) >= 10_000:
            del self.outcomes[next(iter(self.outcomes))]  # the oldest: a worker back late
        self.outcomes[contact_id] = data

    async def _end(self, contact_id: str, data: dict[str, Any]) -> None:
        self._remember(contact_id, data)
        await self.store.end_contact(
            contact_id,
            "lost",
            "routing.node_lost",
            data,
            queue=data.get("queue"),
            agent=data.get("agent"),
        )
