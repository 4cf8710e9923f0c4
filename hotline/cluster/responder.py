"""The leader's side of the bus: workers' requests served by the real `RoutingService`,
its tickets' items published to the worker holding each contact, and a heartbeat.

Only the leader runs one, from the moment it leads until it loses its lock. A request
that names a newer epoch than the leader's own is left unanswered: this process was
deposed and does not know it yet (its writes are refused by the epoch check anyway);
the worker's retry reaches the new leader. See bus.py for the subjects.

Requests are served in their order of arrival without waiting for each other's
writes: each is started, in order, in a task of its own; its routing change is made
at once (the routing service changes its state in one step, without awaiting) and its
log records queue behind the earlier requests' in the service's write-ahead outbox,
whose writes the store commits together (hotline/store/group_commit.py), each one
through the epoch check in the same transaction. A request is answered once its
records are committed, so answers go out in the order of the requests; a write that
fails fails its request and every later one (the outbox keeps them in order for the
next try), each answered "unavailable". The few requests that make several changes
or await something first (`restore`, `claim`, `asterisk_lost`) are served alone: the
earlier ones are answered first, the later ones wait. A retry that comes while its
first try is still being served gets the first try's answer, not a second change.

Enqueueing a contact that already has a ticket here answers with that ticket: the
worker retried after a lost answer, or a new leader restored the contact from the log
and the worker (restarted, or only re-asking) attaches to it. A contact id names one
contact for its whole life, so this is never a second contact.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from hotline.acd.decisions import Offer
from hotline.acd.model import Channel, Contact
from hotline.acd.restore import Talking
from hotline.acd.router import RoutingError
from hotline.acd.service import RoutingService
from hotline.acd.states import IllegalTransition
from hotline.acd.tickets import Finished, OfferWithdrawn, Ticket, Withdrawn
from hotline.cluster.bus import (
    HEARTBEAT,
    Subjects,
    contact_from_wire,
    contact_to_wire,
    dumps,
    join_to_wire,
    loads,
    nats_request,
    offer_to_wire,
    settle,
    snapshot_to_wire,
)
from hotline.cluster.callback_keeper import DEFAULT_GRACE, CallbackKeeper
from hotline.cluster.leader import Leadership
from hotline.cluster.node_loss import (
    DEFAULT_ASTERISK_AFTER,
    DEFAULT_LOST_AFTER,
    NodeLossHandler,
    NodeWatch,
)

log = logging.getLogger(__name__)

#: Seconds an answer is kept for a retried request (same request id).
ANSWERS_KEPT = 60.0

Handler = Callable[[dict[str, Any]], Awaitable[Any]]

#: Requests served alone (module docstring): several changes, or an await before one.
ALONE = frozenset({"restore", "claim", "asterisk_lost"})

#: The worker whose request the current task serves (each request has its own task).
_ASKING: contextvars.ContextVar[str] = contextvars.ContextVar("asking", default="")


class RoutingResponder:
    """Serves one routing domain's workers while `leadership` holds (module docstring)."""

    def __init__(
        self,
        nc: Any,
        routing: RoutingService,
        leadership: Leadership,
        *,
        heartbeat: float = HEARTBEAT,
        clock: Callable[[], float] = time.monotonic,
        node_loss: NodeLossHandler | None = None,
        lost_after: float = DEFAULT_LOST_AFTER,
        asterisk_after: float = DEFAULT_ASTERISK_AFTER,
        callback_grace: float = DEFAULT_GRACE,
    ) -> None:
        """`clock`: the routing service's (its offers' and contacts' times);
        `node_loss`: what is done for a lost node's contacts, and the open callbacks'
        hand-over (None: nothing, no watch)."""
        self.nc = nc
        self.routing = routing
        self.leadership = leadership
        self.subjects = Subjects(leadership.domain)
        self.heartbeat = heartbeat
        self._clock = clock
        self._sub: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._beat: asyncio.Task[None] | None = None
        self._keys = itertools.count(1)
        #: Live offers by key, and each offer's key (by identity: offers are values).
        self._offers: dict[str, Offer] = {}
        self._key_of: dict[int, str] = {}
        #: Tickets whose items go out, and the place and wait last said of each.
        self._forwarded: dict[str, Ticket] = {}
        self._said: dict[str, tuple[int | None, float | None]] = {}
        #: The worker holding each waiting contact (the name its requests carry).
        self._owners: dict[str, str] = {}
        #: Contacts answered here (or taken over talking), by their agent, and the
        #: worker that holds each of these conversations.
        self._talking: dict[str, str] = {}
        self._talk_owners: dict[str, str] = {}
        #: Conversations taken for lost whose node-lost policy is being applied now.
        self._judging: set[str] = set()
        #: Answers of recent requests, by request id (a retry gets the same one), and
        #: of the requests being served now.
        self._answers: dict[str, tuple[float, bytes]] = {}
        self._serving: dict[str, asyncio.Future[bytes]] = {}
        self.node_loss = node_loss
        self.watch: NodeWatch | None = None
        if node_loss is not None:
            self.watch = NodeWatch(
                nc,
                self.subjects.workers,
                self._node_lost,
                lost_after=lost_after,
                asterisk_after=asterisk_after,
            )
        #: Who dials each open callback (hotline/cluster/callback_keeper.py): this
        #: leader hands each to one live worker.
        self.keeper = CallbackKeeper(grace=callback_grace)
        self._handing: asyncio.Task[None] | None = None
        self._beats = 0
        self._ops: dict[str, Handler] = {
            "enqueue": self._enqueue,
            "restore": self._restore,
            "leave": self._leave,
            "finished": self._finished,
            "end_wrap_up": self._end_wrap_up,
            "ringing": self._ringing,
            "accepted": self._accepted,
            "rejected": self._rejected,
            "no_answer": self._no_answer,
            "failed": self._failed,
            "login": self._login,
            "logout": self._logout,
            "pause": self._pause,
            "unpause": self._unpause,
            "reachable": self._reachable,
            "claim": self._claim,
            "asterisk_lost": self._asterisk_lost,
            "sync": self._sync,
            "callbacks_booked": self._callbacks_booked,
        }

    @property
    def epoch(self) -> int:
        return self.leadership.epoch

    @property
    def _asking(self) -> str:
        """The worker whose request is being served (in this request's task)."""
        return _ASKING.get()

    def _stamp(self) -> dict[str, Any]:
        """What every message of the leader carries: its epoch and its routing clock."""
        return {"epoch": self.epoch, "clock": self._clock()}

    async def start(self, restored: Iterable[Ticket] = (), talking: Iterable[Talking] = ()) -> None:
        """Answer requests, and hand on the items of the tickets taken over; `talking`:
        the conversations taken over with them."""
        for talk in talking:
            self._talking[talk.contact.id] = talk.agent
        for ticket in restored:
            self._forward(ticket)
        self._sub = await self.nc.subscribe(self.subjects.call, cb=self._on_request)
        if self.watch is not None and self.node_loss is not None:
            # The nodes holding what was taken over must be heard from, as any other.
            nodes = set()
            for contact in [*self._forwarded, *self._talking]:
                nodes.add(await self.node_loss.node_of(contact))
            await self.watch.start(sorted(n for n in nodes if n))
        self._beat = asyncio.create_task(self._heartbeat(), name="routing-heartbeat")
        await self._publish_heartbeat()
        await settle(self.nc)
        domain = self.leadership.domain
        log.info("routing domain %r: serving workers on %s", domain, self.subjects.call)

    async def stop(self) -> None:
        """No more answers or items (the leadership is lost, or the process stops)."""
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        if self.watch is not None:
            await self.watch.stop()
        tasks = [*self._tasks, *(t for t in (self._beat, self._handing) if t is not None)]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._beat = None

    # ---- requests ------------------------------------------------------------------------

    async def _on_request(self, msg: Any) -> None:
        if self.leadership.lost.is_set():
            return  # deposed: the new leader answers
        try:
            request = loads(msg.data)
            op, args, rid = request["op"], request.get("args", {}), str(request["rid"])
            their_epoch = int(request.get("epoch", 0))
            worker = str(request.get("worker") or "")
        except (ValueError, KeyError, TypeError) as error:
            await msg.respond(dumps({"error": f"bad request: {error}", "kind": "value"}))
            return
        if their_epoch > self.epoch:
            log.warning(
                "routing domain %r: a worker knows epoch %d, this leader has %d: not answering",
                self.leadership.domain,
                their_epoch,
                self.epoch,
            )
            self.leadership.lose(f"a worker has seen epoch {their_epoch}")
            return
        kept = self._answers.get(rid)
        if kept is not None:
            await msg.respond(kept[1])
            return
        serving = self._serving.get(rid)
        if serving is not None:  # a retry of a request still being served: its answer
            self._spawn(self._respond_when(msg, serving), f"retry-{op}")
            return
        alone = op in ALONE
        if alone:
            await self._answered_all()
        answer = asyncio.get_running_loop().create_future()
        self._serving[rid] = answer
        task = self._spawn(self._answer(msg, op, args, rid, worker, answer), f"request-{op}")
        if alone:
            with contextlib.suppress(Exception):
                await asyncio.shield(task)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run `coro` in a task of its own (tasks start in the order they are made)."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _answered_all(self) -> None:
        """Wait until every request received so far is answered."""
        waiting = [f for f in self._serving.values() if not f.done()]
        if waiting:
            await asyncio.wait(waiting)

    async def _answer(
        self,
        msg: Any,
        op: str,
        args: dict[str, Any],
        rid: str,
        worker: str,
        answer: asyncio.Future[bytes],
    ) -> None:
        """Serve one request (in its own task, so `_asking` is this request's worker)
        and answer it."""
        _ASKING.set(worker)
        try:
            served = await self._serve(op, args)
            body = dumps(served)
            if served.get("kind") != "unavailable":  # that one is worth a retry
                self._remember(rid, body)
            answer.set_result(body)
        finally:
            if not answer.done():  # cancelled (stopping): a waiting retry is not answered
                answer.cancel()
            if self._serving.get(rid) is answer:
                del self._serving[rid]
        try:
            await msg.respond(body)
        except Exception as error:  # NATS reconnecting: the worker's retry gets it kept
            log.debug("routing answer to %s not sent: %s", op, error)

    @staticmethod
    async def _respond_when(msg: Any, answer: asyncio.Future[bytes]) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await msg.respond(await asyncio.shield(answer))

    async def _serve(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        handler = self._ops.get(op)
        if handler is None:
            return {"error": f"unknown request {op!r}", "kind": "value"}
        try:
            return {"ok": await handler(args), **self._stamp()}
        except OfferWithdrawn as error:
            return {"error": str(error), "kind": "withdrawn"}
        except IllegalTransition as error:
            return {"error": str(error), "kind": "illegal"}
        except RoutingError as error:
            return {"error": str(error), "kind": "routing"}
        except (ValueError, KeyError, TypeError) as error:
            return {"error": str(error), "kind": "value"}
        except Exception as error:  # the store refused a write (epoch), or it is down
            log.exception("routing request %s failed", op)
            return {"error": f"{type(error).__name__}: {error}", "kind": "unavailable"}

    def _remember(self, rid: str, answer: bytes) -> None:
        now = time.monotonic()
        self._answers[rid] = (now, answer)
        if len(self._answers) > 1000:
            for key in [k for k, (at, _) in self._answers.items() if at < now - ANSWERS_KEPT]:
                del self._answers[key]

    # ---- contacts ------------------------------------------------------------------------

    def _ticket_answer(self, ticket: Ticket) -> dict[str, Any]:
        return {
            "contact": contact_to_wire(ticket.contact),
            "join": join_to_wire(ticket.join),
            "agent": ticket.agent,
        }

    async def _enqueue(self, args: dict[str, Any]) -> dict[str, Any]:
        contact_id = str(args["contact_id"])
        existing = self.routing.ticket(contact_id)
        if existing is not None:
            await self._attach(existing)
            return self._ticket_answer(existing)
        self._own(contact_id)
        ticket = await self.routing.enqueue(
            contact_id,
            args["channel"],
            args["queue"],
            priority=int(args.get("priority", 0)),
            skills=args.get("skills") or {},
            timeout=args.get("timeout"),
            entered_at=args.get("entered_at"),
            agent=args.get("agent"),
        )
        if ticket.joined:
            self._forward(ticket)
        return self._ticket_answer(ticket)

    async def _restore(self, args: dict[str, Any]) -> dict[str, Any]:
        """A restarted worker's contacts: the waiting ones attach to their tickets here
        (or are restored at their place), the talking ones go back to their agents."""
        answers: dict[str, dict[str, Any]] = {}
        new: list[Contact] = []
        for data in args.get("waiting", []):
            contact = contact_from_wire(data)
            ticket = self.routing.ticket(contact.id)
            if ticket is not None:
                await self._attach(ticket)
                answers[contact.id] = self._ticket_answer(ticket)
            else:
                new.append(contact)
        # A conversation this leader knows already (answered here, or taken over from
        # the log) is the same one: kept as it is, not refused (the worker reports its
        # end as usual).
        talking = [
            Talking(t["agent"], contact_from_wire(t["contact"]), float(t["since"]))
            for t in args.get("talking", [])
            if self._talking.get(t["contact"]["id"]) != t["agent"]
        ]
        for t in args.get("talking", []):
            self._own_talk(t["contact"]["id"])
        tickets, refused = await self.routing.restore(new, talking)
        for talk in talking:
            if talk.contact.id not in refused:
                self._talking[talk.contact.id] = talk.agent
                self._own_talk(talk.contact.id)
        for contact_id, ticket in tickets.items():
            self._own(contact_id)
            self._forward(ticket)
            answers[contact_id] = self._ticket_answer(ticket)
        return {"tickets": answers, "refused": refused}

    async def _leave(self, args: dict[str, Any]) -> dict[str, Any] | None:
        removed = await self.routing.leave(args["contact_id"], args.get("outcome", "left"))
        if removed is None:
            return None
        return {
            "contact": contact_to_wire(removed.contact),
            "outcome": str(removed.outcome),
            "withdrawn_from": list(removed.withdrawn_from),
        }

    async def _finished(self, args: dict[str, Any]) -> None:
        await self.routing.finished(args["agent"], args["contact_id"])
        self._talking.pop(args["contact_id"], None)
        self._talk_owners.pop(args["contact_id"], None)

    async def _end_wrap_up(self, args: dict[str, Any]) -> None:
        await self.routing.end_wrap_up(args["agent"], args.get("channel"))

    # ---- offers (by the key their item carried) --------------------------------------------

    def _offer(self, args: dict[str, Any]) -> Offer | None:
        """The live offer the worker names; None if this leader made no such offer (an
        older leader's, or one already ended)."""
        return self._offers.get(str(args["key"]))

    async def _ringing(self, args: dict[str, Any]) -> bool:
        offer = self._offer(args)
        return offer is not None and await self.routing.ringing(offer)

    async def _accepted(self, args: dict[str, Any]) -> list[str]:
        offer = self._offer(args)
        if offer is None:
            raise OfferWithdrawn(f"offer {args['key']} is not live under epoch {self.epoch}")
        others = list(await self.routing.accepted(offer))
        self._talking[offer.contact.id] = offer.agent
        self._own_talk(offer.contact.id)
        return others

    async def _rejected(self, args: dict[str, Any]) -> bool:
        offer = self._offer(args)
        return offer is not None and self._settled(args, await self.routing.rejected(offer))

    async def _no_answer(self, args: dict[str, Any]) -> bool:
        offer = self._offer(args)
        return offer is not None and self._settled(args, await self.routing.no_answer(offer))

    async def _failed(self, args: dict[str, Any]) -> bool:
        offer = self._offer(args)
        reason = str(args["reason"])
        return offer is not None and self._settled(args, await self.routing.failed(offer, reason))

    def _settled(self, args: dict[str, Any], done: bool) -> bool:
        """The offer the worker named is over (no Withdrawn follows): forget its key."""
        offer = self._offers.pop(str(args["key"]), None)
        if offer is not None:
            self._key_of.pop(id(offer), None)
        return done

    # ---- presence ------------------------------------------------------------------------

    async def _login(self, args: dict[str, Any]) -> None:
        await self.routing.login(args["agent"], args.get("channels"), paused=args.get("paused"))

    async def _logout(self, args: dict[str, Any]) -> None:
        await self.routing.logout(args["agent"], args.get("channels"))

    async def _pause(self, args: dict[str, Any]) -> None:
        await self.routing.pause(args["agent"], args["reason"], args.get("channels"))

    async def _unpause(self, args: dict[str, Any]) -> None:
        await self.routing.unpause(args["agent"], args.get("channels"))

    async def _reachable(self, args: dict[str, Any]) -> None:
        channels = [Channel(c) for c in args["channels"]]
        await self.routing.reachable(args["agent"], channels, bool(args["yes"]))

    # ---- what goes out ---------------------------------------------------------------------

    def _own(self, contact_id: str) -> None:
        if self._asking:
            self._owners[contact_id] = self._asking

    def _own_talk(self, contact_id: str) -> None:
        if self._asking and contact_id in self._talking:
            self._talk_owners[contact_id] = self._asking

    async def _claim(self, args: dict[str, Any]) -> dict[str, Any]:
        """A worker names the contacts it holds, waiting and talking: they are its own.
        With `purge` (said once its recovery has run), its waiting contacts it no
        longer holds (calls its Asterisk lost while it was down) leave their queues, and
        its conversations that ended while it was down are finished (the agent goes to
        wrap-up): no ghost is offered, no agent stays busy."""
        holds = {str(c) for c in args.get("contacts", [])}
        talks = {str(c) for c in args.get("talking", [])}
        for contact in holds:
            if self.routing.ticket(contact) is not None:
                self._own(contact)
        for contact in talks:
            self._own_talk(contact)
        ended: list[str] = []
        if args.get("purge") and self._asking:
            for contact, worker in list(self._talk_owners.items()):
                if worker == self._asking and contact not in talks:
                    del self._talk_owners[contact]
                    agent = self._talking.pop(contact, None)
                    if agent is not None:
                        await self.routing.finished(agent, contact)
                        ended.append(contact)
        if ended:
            log.warning(
                "routing: worker %s no longer holds the conversations %s: finished",
                self._asking,
                ", ".join(sorted(ended)),
            )
        left: list[str] = []
        if args.get("purge") and self._asking:
            for contact, worker in list(self._owners.items()):
                if worker == self._asking and contact not in holds:
                    del self._owners[contact]
                    if await self.routing.leave(contact, "left") is not None:
                        left.append(contact)
        if left:
            log.warning(
                "routing: worker %s no longer holds %s: taken out of their queues",
                self._asking,
                ", ".join(sorted(left)),
            )
        return {"left": sorted(left), "ended": sorted(ended)}

    async def _sync(self, args: dict[str, Any]) -> dict[str, Any]:
        """A worker back on the bus (NATS reconnected) names its waiting contacts: for
        each, whether it is still queued here and its live offers (in the answer, so the
        worker withdraws the dead ones before it rings the live ones); or, if not,
        whether it was answered."""
        state: dict[str, Any] = {}
        for contact in (str(c) for c in args.get("contacts", [])):
            ticket = self.routing.ticket(contact)
            if ticket is None:
                state[contact] = {"queued": False, "answered": contact in self._talking}
                if self.node_loss is not None and contact in self.node_loss.outcomes:
                    state[contact]["node_lost"] = self.node_loss.outcomes[contact]
                continue
            self._own(contact)
            self._forward(ticket)
            mine = {k: o for k, o in self._offers.items() if o.contact.id == contact}
            offers = {k: offer_to_wire(o) for k, o in mine.items()}
            state[contact] = {"queued": True, "offers": offers}
        return state

    # ---- a lost node (hotline/cluster/node_loss.py) ------------------------------------------

    async def _node_lost(self, worker: str) -> None:
        """`worker`'s node is gone: its waiting contacts are rebooked as callbacks at
        their place (or end), its conversations end (agents to wrap-up)."""
        if self.node_loss is None or self.leadership.lost.is_set():
            return
        waiting = [
            contact
            for contact in list(self._forwarded)
            if await self._held_by(worker, contact, self._owners.get(contact))
        ]
        held = {
            contact: agent
            for contact, agent in list(self._talking.items())
            if await self._held_by(worker, contact, self._talk_owners.get(contact))
        }
        talking = self._take_talking(held)
        try:
            booked = await self.node_loss.lost(worker, waiting, talking)
        finally:
            self._judging.difference_update(talking)
        self.keeper.urgent(booked)
        await self._hand_over()

    async def _asterisk_lost(self, args: dict[str, Any]) -> list[str]:
        """The asking worker's Asterisk crashed under its waiting callers and
        conversations (the worker is alive, its Asterisk may be back within
        `asterisk_lost_after`): the node-lost policy for them, as for a lost node; the
        callbacks go to a worker that can dial (not this one until its Asterisk is
        back). A conversation is judged once: one this leader no longer counts as
        talking with that agent (its node was declared lost first, or it was finished)
        is left as it is."""
        if self.node_loss is None:
            raise RoutingError("this routing leader does not handle lost nodes")
        worker = self._asking
        if self.watch is not None and worker:
            self.watch.liveness.cannot_dial(worker)
        waiting = [str(c) for c in args.get("contacts", []) if self.routing.ticket(str(c))]
        said = {str(c): str(a) for c, a in (args.get("talking") or {}).items()}
        # Its own (another worker may hold the same callback's next call by now).
        mine = {c: a for c, a in said.items() if self._talk_owners.get(c, worker) == worker}
        talking = self._take_talking(mine)
        try:
            booked = await self.node_loss.lost(worker, waiting, talking, reason="asterisk_lost")
        finally:
            self._judging.difference_update(talking)
        self.keeper.urgent(booked)
        if booked and self._handing is None:
            self._handing = asyncio.create_task(self._hand_over(), name="hand-over")
            self._handing.add_done_callback(self._handed)
        return booked

    async def _callbacks_booked(self, args: dict[str, Any]) -> None:
        """Callbacks a web process booked (and queued here at their place): no worker
        serves them, so they are handed now, not after the grace
        (hotline/cluster/web_callbacks.py)."""
        booked = [str(c) for c in args.get("contacts", [])]
        self.keeper.urgent(booked, f"booked by {self._asking or 'a web process'}")
        if booked and self._handing is None and self.node_loss is not None:
            self._handing = asyncio.create_task(self._hand_over(), name="hand-over")
            self._handing.add_done_callback(self._handed)

    def _take_talking(self, said: dict[str, str]) -> dict[str, str]:
        """The conversations of `said` (contact -> agent) this leader still counts as
        talking with that agent, counted no longer: each is judged lost once, by
        whichever comes first (its node declared lost, or its worker saying its
        Asterisk is gone). Not handed to a worker until judged (`_judging`)."""
        taken = {c: a for c, a in said.items() if self._talking.get(c) == a}
        for contact in taken:
            del self._talking[contact]
            self._talk_owners.pop(contact, None)
        self._judging.update(taken)
        return taken

    def _handed(self, task: asyncio.Task[None]) -> None:
        self._handing = None
        if not task.cancelled() and task.exception() is not None:
            log.warning("routing: callbacks not handed over: %s", task.exception())

    async def _held_by(self, worker: str, contact: str, owner: str | None) -> bool:
        """Does `worker` hold `contact`: its owner here, else (taken over from the log
        and not claimed since) the node the store names."""
        if owner is not None:
            return owner == worker
        assert self.node_loss is not None
        return await self.node_loss.node_of(contact) == worker

    async def _hand_over(self) -> None:
        """Each open callback nobody serves to one live worker, whose dialer calls it
        in its turn (hotline/cluster/callback_keeper.py)."""
        if self.watch is None or self.node_loss is None or self.leadership.lost.is_set():
            return
        liveness = self.watch.liveness
        open_now = await self.node_loss.open_callbacks()
        now = time.monotonic()  # the watch's clock
        # A callback in conversation stays with the worker holding its call until that
        # worker says it ended, or is declared lost (then it is dialed again).
        talking = [c for c in open_now if c in self._talking or c in self._judging]
        plan = self.keeper.plan(now, open_now, liveness.serving(), liveness.able(), talking)
        by_worker: dict[str, list[str]] = {}
        for handing in plan:
            # Logged first, through the epoch check: a deposed leader hands nothing.
            await self.node_loss.handed(handing.callback, handing.worker, handing.why)
            by_worker.setdefault(handing.worker, []).append(handing.callback)
            log.warning(
                "routing: callback %s handed to worker %s (%s)",
                handing.callback,
                handing.worker,
                handing.why,
            )
        for worker, callbacks in by_worker.items():
            body = dumps({"op": "adopt", "contacts": callbacks, "epoch": self.epoch})
            try:
                msg = await nats_request(self.nc, self.subjects.worker(worker), body, 2.0)
                answer = loads(msg.data)
            except Exception as error:  # that one is not answering: another one
                log.warning("routing: worker %s did not take callbacks: %s", worker, error)
                self.keeper.refused(worker, callbacks, time.monotonic())
                continue
            if "error" in answer:
                log.warning("routing: worker %s refused callbacks: %s", worker, answer["error"])
                self.keeper.refused(worker, callbacks, time.monotonic())
                continue
            log.warning("routing: worker %s dials the callbacks %s", worker, ", ".join(callbacks))

    async def _attach(self, ticket: Ticket) -> None:
        """A worker asks again for a contact this leader has: its items go on, and the
        offers live now are said again (the worker may have missed them: it was
        restarting; one it has already is known by its key and not rung twice)."""
        self._own(ticket.contact_id)
        self._forward(ticket)
        subject = self.subjects.ticket(ticket.contact_id)
        for key, offer in list(self._offers.items()):
            if offer.contact.id == ticket.contact_id:
                message = {**self._stamp(), "kind": "offer", "key": key}
                message["offer"] = offer_to_wire(offer)
                await self.nc.publish(subject, dumps(message))

    def _forward(self, ticket: Ticket) -> None:
        """Publish `ticket`'s items to its contact's subject (once per ticket)."""
        if self._forwarded.get(ticket.contact_id) is ticket:
            return
        self._forwarded[ticket.contact_id] = ticket
        task = asyncio.create_task(self._items(ticket), name=f"forward-{ticket.contact_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _items(self, ticket: Ticket) -> None:
        contact = ticket.contact_id
        subject = self.subjects.ticket(contact)
        try:
            async for item in ticket:
                message: dict[str, Any] = self._stamp()
                if isinstance(item, Offer):
                    key = f"{self.epoch}.{next(self._keys)}"
                    self._offers[key] = item
                    self._key_of[id(item)] = key
                    message.update(kind="offer", key=key, offer=offer_to_wire(item))
                elif isinstance(item, Withdrawn):
                    key = self._key_of.pop(id(item.offer), "")
                    self._offers.pop(key, None)
                    message.update(kind="withdrawn", key=key, reason=item.reason)
                elif isinstance(item, Finished):
                    message.update(kind="finished", outcome=str(item.outcome))
                    fate = self.node_loss.outcomes.get(contact) if self.node_loss else None
                    if fate is not None:  # taken for lost with its node: said to it
                        message["node_lost"] = fate
                if self.leadership.lost.is_set():
                    return  # deposed: not one more offer from this process
                await self.nc.publish(subject, dumps(message))
        finally:
            for key in [k for k, o in self._offers.items() if o.contact.id == contact]:
                self._key_of.pop(id(self._offers.pop(key)), None)
            if self._forwarded.get(contact) is ticket:
                del self._forwarded[contact]
                self._said.pop(contact, None)
                self._owners.pop(contact, None)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            if self.leadership.lost.is_set():
                return
            try:
                await self._publish_heartbeat()
                await self._publish_places()
                self._beats += 1
                if self.node_loss is not None and self._handing is None and self._beats % 2 == 0:
                    # Every second, in its own task: a worker slow to answer must not
                    # delay the beat.
                    self._handing = asyncio.create_task(self._hand_over(), name="hand-over")
                    self._handing.add_done_callback(self._handed)
            except Exception as error:  # NATS reconnecting: the next beat says it again
                log.debug("routing heartbeat not sent: %s", error)

    async def _publish_heartbeat(self) -> None:
        message = {
            **self._stamp(),
            "leader": self.leadership.name,
            "snapshot": snapshot_to_wire(self.routing.snapshot()),
        }
        await self.nc.publish(self.subjects.leader, dumps(message))

    async def _publish_places(self) -> None:
        """Each waiting contact's place and wait, when they changed."""
        for contact, ticket in list(self._forwarded.items()):
            if ticket.done:
                continue
            now = self.routing.place(contact)
            if self._said.get(contact) != now:
                self._said[contact] = now
                message = {**self._stamp(), "kind": "place", "position": now[0], "eta": now[1]}
                await self.nc.publish(self.subjects.ticket(contact), dumps(message))
