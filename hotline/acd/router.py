"""The routing engine façade: queues, agents, contacts and the matching between them.

Adapters (voice, chat, callbacks) call the `Router`; it never does I/O and never reads
a clock: every call that depends on time takes `now` (monotonic seconds). Everything
it does is recorded as `RoutingEvent`s; the caller takes them with `drain_events()` and
writes them to the event log before acting on the results.

Matching. Waiting contacts of a queue are grouped into classes by (channel, skill
requirement in force); each class has a sorted list of its contacts (queue order) and
an index of the free agents who qualify (penalty tier, then strategy order). A change
marks only the queues it touches as dirty, and `next_offers` looks at those alone:

* Queues with a possible match go in a heap keyed by (-weight, the first matchable
  contact's queue order: -priority, entered_at, sequence). So between queues that share
  an agent the higher weight wins, then caller priority, then the longest-waiting
  contact. The heap is lazy: an entry is re-checked when popped and pushed back with
  its new key if reservations elsewhere changed it (keys only get worse as agents
  are reserved, so this is exact).
* In a queue, the first contact in queue order that some free agent can serve is
  offered; a contact nobody free can serve does not block the ones behind it.
* The agent comes from the front of that class's index (see `strategies`).

Declines. An agent who rejects an offer, lets it ring out (`no_answer`, whatever the
queue's `on_no_answer`) or whose offer is released (`release`: their leg failed, the
service's `failed`; unless called with `decline=False`) has declined that contact.
Withdrawals by the router (the contact left, or a ring-all rival answered) are not.
Declines are kept per contact, and only while it is in the queue: a contact that leaves
(answered, left, timed out, closed) takes them with it, and one that joins again starts
afresh. For a contact with declines, the free eligible agents who declined it are passed
over while any other free eligible agent exists for it (in any penalty tier); once every
free eligible agent has declined it, it is offered again to them, the oldest decline
first (so they come round in the order the strategy first tried them, and a one-agent
queue keeps working). Ring-all leaves decliners out of the ring group the same way and
rings them all again once all free agents have declined. A supervisor's `reserve`
ignores declines. The offer's explanation names the agents passed over (`passed_over`)
or says that it is offered again (`offered_again`). Contacts without declines take the
usual path; one with k declines costs k more index look-ups.

Each decision costs a few O(log n) sorted-list operations plus a look at the queue's
classes (a handful: skill steps x channels x distinct contact skill sets), so it does
not grow with the number of agents or waiting contacts; one call may make many offers.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterable
from dataclasses import replace
from typing import NamedTuple

from hotline.acd.decisions import (
    Explanation,
    JoinResult,
    Offer,
    RangOut,
    Removed,
    Snapshot,
    TickReport,
)
from hotline.acd.eta import HandleTimes
from hotline.acd.events import RoutingEvent
from hotline.acd.model import (
    NO_ANSWER_REASON,
    Agent,
    AgentState,
    Channel,
    Contact,
    EmptyRule,
    NoAnswer,
    Outcome,
    Queue,
)
from hotline.acd.runtime import (
    AgentRT,
    Assignment,
    ContactClass,
    ContactKey,
    ContactRT,
    ContactState,
    Membership,
    QueueRT,
    WrapUp,
)
from hotline.acd.skills import Requirement, describe, meets, next_step_at, requirement, step_index
from hotline.acd.snapshots import snapshot_of
from hotline.acd.states import TRANSITIONS, ChannelStatus, IllegalTransition, transition
from hotline.acd.strategies import effective, entry, pick, pick_avoiding
from hotline.acd.timers import Deadline, RingTimeout, StepDue, Timer, TimerHeap, WrapUpEnd

S = AgentState


class RoutingError(ValueError):
    """A call that names an unknown queue, agent, contact or offer, or breaks a rule."""


class Router:
    """One contact centre's queues and agents. Not thread-safe: call from one task."""

    def __init__(
        self,
        *,
        seed: int = 0,
        occupancy_window: float = 3600.0,
        handle_alpha: float = 0.2,
        handle_window: int | None = None,
        max_idle_classes: int = 64,
    ) -> None:
        self._queues: dict[str, QueueRT] = {}
        self._agents: dict[str, AgentRT] = {}
        self._contacts: dict[str, ContactRT] = {}
        self._seq = itertools.count()
        #: The leader's fencing epoch (hotline/cluster), carried by every offer; 0: one
        #: process, no leader election.
        self.epoch = 0
        self._step_timers: TimerHeap[StepDue] = TimerHeap()
        self._timers: TimerHeap[Timer] = TimerHeap()
        self._dirty: set[str] = set()
        #: Agents reserved during the current `next_offers` call: no second offer.
        self._held: set[str] = set()
        self._events: list[RoutingEvent] = []
        self._rng = random.Random(seed)
        self._window = occupancy_window
        self._alpha = handle_alpha
        self._handle_window = handle_window
        self._max_idle_classes = max_idle_classes

    # ---- events ----------------------------------------------------------------------

    def drain_events(self) -> list[RoutingEvent]:
        """Events recorded since the last drain, oldest first."""
        events, self._events = self._events, []
        return events

    def _emit(self, event: RoutingEvent) -> None:
        self._events.append(event)

    # ---- configuration ---------------------------------------------------------------

    def add_queue(self, queue: Queue) -> None:
        if queue.name in self._queues:
            raise RoutingError(f"queue {queue.name!r} already exists")
        q = QueueRT(queue, HandleTimes(self._alpha, self._handle_window))
        self._queues[queue.name] = q
        for a in self._agents.values():
            if queue.name in a.profile.queues:
                self._join(q, a)
                self._refresh(a, 0.0)

    def update_queue(self, queue: Queue, now: float) -> None:
        """Change a queue's rules; waiting contacts keep their place under the new rules."""
        q = self._queue(queue.name)
        waiting = [self._contacts[k.contact_id] for k in q.waiting]
        for c in waiting:
            self._leave_waiting(q, c)
        q.clear_classes()
        q.cfg = queue
        for c in waiting:
            self._enter_waiting(q, c, now)

    def remove_queue(self, name: str, now: float) -> list[Removed]:
        """Drop a queue; its waiting and offered contacts leave with outcome closed."""
        q = self._queue(name)
        gone = [
            c
            for c in self._contacts.values()
            if c.contact.queue == name and c.state is not ContactState.CONNECTED
        ]
        removed = [self._remove(c, Outcome.CLOSED, now) for c in sorted(gone, key=_key)]
        for aid in list(q.members):
            self._leave(q, aid)
        del self._queues[name]
        self._dirty.discard(name)
        return removed

    def add_agent(self, agent: Agent) -> None:
        if agent.id in self._agents:
            raise RoutingError(f"agent {agent.id!r} already exists")
        a = AgentRT(agent, self._window)
        self._agents[agent.id] = a
        for qn in agent.queues:
            q = self._queues.get(qn)
            if q is not None:
                self._join(q, a)
        self._refresh(a, 0.0)

    def update_agent(self, agent: Agent, now: float) -> None:
        """Change an agent's skills, queues or capacity; their state carries over."""
        a = self._agent(agent.id)
        for ch, st in a.status.items():
            if agent.capacity.get(ch, 0) <= 0 and st.state is not S.OFFLINE:
                raise RoutingError(
                    f"agent {agent.id}: log out of {ch} before removing its capacity"
                )
        for qn in a.profile.queues:
            if qn in self._queues:
                self._leave(self._queues[qn], agent.id)
        a.profile = agent
        a.status = {
            ch: a.status.get(ch) or ChannelStatus() for ch, n in agent.capacity.items() if n > 0
        }
        for qn in agent.queues:
            if qn in self._queues:
                self._join(self._queues[qn], a)
        self._refresh(a, now)

    def remove_agent(self, agent_id: str) -> None:
        """Forget an agent, who must be logged out of every channel."""
        a = self._agent(agent_id)
        if a.logged_in() or a.offers or a.active:
            raise RoutingError(f"agent {agent_id}: log out before removing")
        for qn in a.profile.queues:
            if qn in self._queues:
                self._leave(self._queues[qn], agent_id)
        del self._agents[agent_id]

    def reset_counters(self, now: float) -> None:
        """Start a new day for "fewest contacts" (contacts handled go back to 0)."""
        for a in self._agents.values():
            a.handled = 0
            self._refresh(a, now)

    def _join(self, q: QueueRT, a: AgentRT) -> None:
        q.members[a.id] = Membership(a.profile.queues[q.cfg.name], q.next_order)
        q.next_order += 1
        for cls in q.classes.values():
            if meets(a.profile.skills, cls.req):
                cls.eligible.add(a.id)

    def _leave(self, q: QueueRT, agent_id: str) -> None:
        q.members.pop(agent_id, None)
        for cls in q.classes.values():
            cls.agents.discard(agent_id)
            cls.eligible.discard(agent_id)
        for ch in Channel:
            q.logged[ch].discard(agent_id)
            q.paused[ch].discard(agent_id)
            q.free[ch].discard(agent_id)
            q.set_slots(ch, agent_id, 0)

    # ---- lookups ---------------------------------------------------------------------

    def _queue(self, name: str) -> QueueRT:
        try:
            return self._queues[name]
        except KeyError:
            raise RoutingError(f"unknown queue {name!r}") from None

    def _agent(self, agent_id: str) -> AgentRT:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise RoutingError(f"unknown agent {agent_id!r}") from None

    def _contact(self, contact_id: str) -> ContactRT:
        try:
            return self._contacts[contact_id]
        except KeyError:
            raise RoutingError(f"unknown contact {contact_id!r}") from None

    def _status(self, a: AgentRT, channel: Channel) -> ChannelStatus:
        st = a.status.get(channel)
        if st is None:
            raise RoutingError(f"agent {a.id} has no capacity for {channel}")
        return st

    # ---- agent indexes ---------------------------------------------------------------

    def unavailable(self, agent_id: str, channel: Channel) -> str | None:
        """Why `agent_id` cannot be offered a contact on `channel` now (None: they can)."""
        a = self._agents.get(agent_id)
        if a is None:
            return f"no agent {agent_id!r}"
        st = a.status.get(channel)
        if st is None:
            return f"agent {agent_id} takes no {channel} contacts"
        if self._offerable(a, channel):
            return None
        if st.state is not S.AVAILABLE:
            return f"agent {agent_id} is {st.state} on {channel}"
        return f"agent {agent_id} is busy"

    def _offerable(self, a: AgentRT, channel: Channel) -> bool:
        """May `a` be offered a new contact on `channel` right now?"""
        st = a.status.get(channel)
        if (
            st is None
            or st.state is not S.AVAILABLE
            or a.id in self._held
            or st.load >= a.profile.capacity[channel]
        ):
            return False
        if channel is Channel.CHAT:
            return a.profile.chat_while_voice or not a.on_call()
        # One phone: a voice call and a callback never overlap.
        return not a.on_call(besides=channel)

    def _refresh(self, a: AgentRT, now: float) -> None:
        """Bring every index and counter that mentions `a` up to date."""
        # The hottest path of the router (several calls per decision): keep it lean.
        aid = a.profile.id
        capacity = a.profile.capacity
        a.occ.update(a.logged_in(), a.handling(), now)
        channels = [
            (ch, st.state is not S.OFFLINE, st.state is S.PAUSED, self._offerable(a, ch))
            for ch, st in a.status.items()
        ]
        for qn in a.profile.queues:
            q = self._queues.get(qn)
            if q is None:
                continue
            penalty, order = q.members[aid]
            for ch, logged, paused, free in channels:
                _mark(q.logged[ch], aid, logged)
                _mark(q.paused[ch], aid, paused)
                _mark(q.free[ch], aid, free)
                q.set_slots(ch, aid, capacity[ch] if logged and not paused else 0)
                for cls in q.channel_classes[ch]:
                    if free and aid in cls.eligible:
                        item = entry(cls.strategy, a, ch, cls.req, order, now)
                        if cls.agents.put(aid, penalty, item) and cls.contacts:
                            self._dirty.add(qn)
                    else:
                        cls.agents.discard(aid)

    def _class_for(
        self, q: QueueRT, channel: Channel, req: Requirement, now: float
    ) -> ContactClass:
        cls = q.classes.get((channel, req))
        if cls is None:
            cls = ContactClass(channel, req, effective(q.cfg.strategy, channel))
            for aid, (penalty, order) in q.members.items():
                a = self._agents[aid]
                if meets(a.profile.skills, req):
                    cls.eligible.add(aid)
                    if self._offerable(a, channel):
                        cls.agents.put(
                            aid, penalty, entry(cls.strategy, a, channel, req, order, now)
                        )
            q.add_class(cls)
        return cls

    # ---- waiting lists ---------------------------------------------------------------

    def _enter_waiting(self, q: QueueRT, c: ContactRT, now: float) -> None:
        steps = q.cfg.skill_steps
        contact = c.contact
        c.step = step_index(steps, now - contact.entered_at)
        c.step_version += 1
        due = next_step_at(steps, c.step, contact.entered_at)
        if due is not None:
            self._step_timers.push(StepDue(due, next(self._seq), contact.id, c.step_version))
        cls = self._class_for(q, contact.channel, requirement(steps, c.step, contact.skills), now)
        cls.contacts.add(c.key)
        c.cls = cls
        c.state = ContactState.WAITING
        q.waiting.add(c.key)
        q.priorities[c.key.neg_priority] += 1
        q.by_channel[contact.channel] += 1
        if cls.agents:
            self._dirty.add(q.cfg.name)

    def _leave_waiting(self, q: QueueRT, c: ContactRT) -> None:
        cls = c.cls
        assert cls is not None
        cls.contacts.remove(c.key)
        q.waiting.remove(c.key)
        q.priorities[c.key.neg_priority] -= 1
        if not q.priorities[c.key.neg_priority]:
            del q.priorities[c.key.neg_priority]
        q.by_channel[c.contact.channel] -= 1
        c.cls = None
        # Classes are cheap to keep and costly to rebuild (a scan of the members), so
        # only drop idle ones when a queue has collected many (varied contact skills).
        if not cls.contacts and len(q.classes) > self._max_idle_classes:
            q.drop_class(cls)

    def _advance_steps(self, now: float) -> None:
        """Move contacts whose skill step changed by `now` to their new class."""
        for timer in self._step_timers.due(now):
            cid = timer.contact_id
            c = self._contacts.get(cid)
            if c is None or c.step_version != timer.version or c.state is not ContactState.WAITING:
                continue
            q = self._queues[c.contact.queue]
            self._leave_waiting(q, c)
            self._enter_waiting(q, c, now)
            assert c.cls is not None
            self._emit(
                RoutingEvent(
                    "contact.relax",
                    now,
                    contact=cid,
                    queue=q.cfg.name,
                    channel=c.contact.channel,
                    detail=describe(c.cls.req),
                )
            )

    # ---- contacts --------------------------------------------------------------------

    def enqueue(self, contact: Contact, now: float, *, restored: bool = False) -> JoinResult:
        """Put a contact in its queue: joined, or refused as full or closed.

        `restored`: the contact was admitted before a restart (hotline/acd/restore.py);
        it is not refused, its max wait counts from `entered_at`, and the event is
        "contact.restore" rather than a second "contact.join"."""
        q = self._queue(contact.queue)
        if contact.id in self._contacts:
            raise RoutingError(f"contact {contact.id!r} is already queued")
        channel = contact.channel
        refusal: Outcome | None = None
        if restored:
            pass
        elif self._is_empty(q, channel, q.cfg.join_empty):
            refusal = Outcome.CLOSED
        elif q.cfg.max_length and len(q.waiting) + q.offered >= q.cfg.max_length:
            refusal = Outcome.FULL
        if refusal is not None:
            q.outcomes[refusal] += 1
            self._emit(
                RoutingEvent(
                    "contact.refused",
                    now,
                    contact=contact.id,
                    queue=q.cfg.name,
                    channel=channel,
                    detail=refusal.value,
                )
            )
            return JoinResult(refusal)
        limit = contact.timeout if contact.timeout is not None else q.cfg.max_wait
        start = contact.entered_at if restored else now
        deadline = start + limit if limit is not None and math.isfinite(limit) else None
        seq = next(self._seq)
        c = ContactRT(contact, _key_of(contact, seq), now, deadline)
        self._contacts[contact.id] = c
        if deadline is not None:
            self._timers.push(Deadline(deadline, seq, contact.id, deadline))
        self._enter_waiting(q, c, now)
        q.outcomes[Outcome.JOINED] += 1
        self._emit(
            RoutingEvent(
                "contact.restore" if restored else "contact.join",
                now,
                contact=contact.id,
                queue=q.cfg.name,
                channel=channel,
                detail=f"priority {contact.priority}",
            )
        )
        position = q.waiting.rank(c.key) + 1
        return JoinResult(Outcome.JOINED, position, q.eta(channel, position))

    def restore_active(self, agent_id: str, contact: Contact, since: float, now: float) -> None:
        """Take over a contact an agent was already handling before a restart (the call
        goes on in Asterisk): the agent's channel carries it, and `finish` ends it as
        usual. The agent must be logged in on that channel (available or paused)."""
        a = self._agent(agent_id)
        channel = contact.channel
        st = self._status(a, channel)
        if contact.id in self._contacts:
            raise RoutingError(f"contact {contact.id!r} is already known")
        q = self._queue(contact.queue)
        if st.state is S.PAUSED:
            to = S.PAUSED
        else:
            to = S.BUSY if st.load + 1 >= a.profile.capacity[channel] else S.AVAILABLE
        self._emit(
            transition(
                a.id,
                channel,
                st,
                "restore",
                to,
                now,
                reason=st.reason,
                contact=contact.id,
                queue=q.cfg.name,
            )
        )
        st.load += 1
        a.active[contact.id] = Assignment(channel, q.cfg.name, since)
        c = ContactRT(contact, _key_of(contact, next(self._seq)), now, None)
        c.state = ContactState.CONNECTED
        c.agent = agent_id
        self._contacts[contact.id] = c
        self._refresh(a, now)

    def dequeue(
        self, contact_id: str, now: float, reason: Outcome = Outcome.LEFT
    ) -> Removed | None:
        """Take a waiting or offered contact out (caller hung up: LEFT); None if unknown.

        Offers for it are withdrawn: stop ringing the agents in `withdrawn_from`.
        """
        c = self._contacts.get(contact_id)
        if c is None:
            return None
        if c.state is ContactState.CONNECTED:
            raise RoutingError(f"contact {contact_id} is connected to {c.agent}: finish it instead")
        return self._remove(c, Outcome(reason), now)

    def _remove(self, c: ContactRT, outcome: Outcome, now: float) -> Removed:
        q = self._queues[c.contact.queue]
        withdrawn: tuple[str, ...] = ()
        if c.state is ContactState.WAITING:
            self._leave_waiting(q, c)
        elif c.state is ContactState.OFFERED:
            withdrawn = tuple(sorted(c.offered_to))
            for aid in withdrawn:
                self._withdraw(self._agents[aid], c, now, f"contact {outcome.value}")
            c.offered_to.clear()
            q.offered -= 1
        del self._contacts[c.contact.id]
        q.outcomes[outcome] += 1
        self._emit(
            RoutingEvent(
                "contact.leave",
                now,
                contact=c.contact.id,
                queue=q.cfg.name,
                channel=c.contact.channel,
                detail=outcome.value,
                reason=f"waited {now - c.contact.entered_at:g}s",
            )
        )
        return Removed(c.contact, outcome, withdrawn)

    def _requeue(self, c: ContactRT, now: float, why: str) -> None:
        q = self._queues[c.contact.queue]
        q.offered -= 1
        self._enter_waiting(q, c, now)
        self._emit(
            RoutingEvent(
                "contact.requeue",
                now,
                contact=c.contact.id,
                queue=q.cfg.name,
                channel=c.contact.channel,
                reason=why,
            )
        )

    # ---- matching --------------------------------------------------------------------

    def next_offers(self, now: float) -> list[Offer]:
        """Match waiting contacts with free agents; each agent is reserved at most once.

        Every offer is already reserved: ring the agent, then report `ringing`,
        `accept`, `reject` or `no_answer` (or `release` if it could not be delivered).
        """
        self._advance_steps(now)
        heap: list[QueueTurn] = []
        for qn in sorted(self._dirty):
            q = self._queues.get(qn)
            cand = self._candidate(q) if q else None
            if q is not None and cand is not None:
                heap.append(QueueTurn.of(q, cand))
        self._dirty.clear()
        heapq.heapify(heap)
        offers: list[Offer] = []
        while heap:
            item = heapq.heappop(heap)
            q = self._queues[item.queue]
            cls = self._candidate(q)
            if cls is None:
                continue
            key = QueueTurn.of(q, cls)
            if key != item:
                heapq.heappush(heap, key)
                continue
            rivals = len(heap)
            note = (
                f"weight {q.cfg.weight}, first in line among {rivals + 1} queues with "
                f"a possible match"
                if rivals
                else f"weight {q.cfg.weight}, only queue with a possible match"
            )
            offers.extend(self._offer(q, cls, now, note))
            cls = self._candidate(q)
            if cls is not None:
                heapq.heappush(heap, QueueTurn.of(q, cls))
        held, self._held = self._held, set()
        for aid in sorted(held):
            a = self._agents[aid]
            if len(a.status) > 1:  # other channels may take offers again
                self._refresh(a, now)
        return offers

    @staticmethod
    def _candidate(q: QueueRT) -> ContactClass | None:
        """The class whose first contact comes first in queue order, among classes
        that have both waiting contacts and a free eligible agent."""
        best: ContactClass | None = None
        for cls in q.classes.values():
            if (
                cls.contacts
                and cls.agents
                and (best is None or cls.contacts.first() < best.contacts.first())
            ):
                best = cls
        return best

    def _offer(self, q: QueueRT, cls: ContactClass, now: float, queue_note: str) -> list[Offer]:
        key: ContactKey = cls.contacts.first()
        c = self._contacts[key.contact_id]
        if c.declined:
            chosen = pick_avoiding(cls.strategy, cls.agents, q.rr_last, self._rng, c.declined)
        else:
            chosen = pick(cls.strategy, cls.agents, q.rr_last, self._rng)
        assert chosen is not None
        if chosen.rr_order is not None:
            q.rr_last = chosen.rr_order
        skipped = q.waiting.first() != key
        contact_note = (
            f"priority {-key.neg_priority}, entered {key.entered_at:g}, seq {key.seq}; first of "
            f"{len(cls.contacts)} waiting in its class"
        )
        if skipped:
            contact_note += "; contacts ahead of it have no free agent with their skills"
        explanation = Explanation(
            queue=q.cfg.name,
            strategy=cls.strategy.value,
            queue_choice=queue_note,
            contact_choice=contact_note,
            requirement=describe(cls.req),
            candidates=chosen.eligible,
            tier_candidates=chosen.tier_size,
            penalty=chosen.penalty,
            tie_break=chosen.tie_break,
            passed_over=chosen.passed_over,
            offered_again=chosen.offered_again,
        )
        self._leave_waiting(q, c)
        c.state = ContactState.OFFERED
        q.offered += 1
        group = chosen.agents if len(chosen.agents) > 1 else ()
        offers = []
        for aid in chosen.agents:
            self._reserve(self._agents[aid], c, q, now, explanation.summary())
            offers.append(
                Offer(
                    c.contact,
                    aid,
                    q.cfg.name,
                    c.contact.channel,
                    explanation,
                    q.cfg.ring_timeout,
                    group,
                    self.epoch,
                )
            )
        return offers

    def _reserve(self, a: AgentRT, c: ContactRT, q: QueueRT, now: float, why: str) -> None:
        channel = c.contact.channel
        cid = c.contact.id
        self._emit(
            transition(
                a.id,
                channel,
                a.status[channel],
                "reserve",
                S.RESERVED,
                now,
                contact=cid,
                queue=q.cfg.name,
            )
        )
        self._emit(
            RoutingEvent(
                "contact.offer",
                now,
                agent=a.id,
                channel=channel,
                contact=cid,
                queue=q.cfg.name,
                detail=why,
            )
        )
        a.offers[cid] = Assignment(channel, q.cfg.name, now)
        c.offered_to.add(a.id)
        self._held.add(a.id)
        self._timers.push(RingTimeout(now + q.cfg.ring_timeout, next(self._seq), a.id, cid, now))
        self._refresh(a, now)

    def reserve(self, agent_id: str, contact_id: str, now: float) -> Offer:
        """Offer a waiting contact to a chosen agent directly (a supervisor's pick)."""
        a = self._agent(agent_id)
        c = self._contact(contact_id)
        channel = c.contact.channel
        st = self._status(a, channel)
        if c.state is not ContactState.WAITING:
            raise RoutingError(f"contact {contact_id} is {c.state}, not waiting")
        if not self._offerable(a, channel):
            raise IllegalTransition(a.id, channel, "reserve", st.state)
        q = self._queues[c.contact.queue]
        explanation = Explanation(
            queue=q.cfg.name,
            strategy="direct",
            queue_choice="direct reservation",
            contact_choice="named by the caller",
            requirement="not checked",
            candidates=1,
            tier_candidates=1,
            penalty=q.members[agent_id].penalty if agent_id in q.members else 0,
            tie_break="named by the caller",
        )
        self._leave_waiting(q, c)
        c.state = ContactState.OFFERED
        q.offered += 1
        self._reserve(a, c, q, now, explanation.summary())
        self._held.discard(a.id)
        self._refresh(a, now)
        timeout = q.cfg.ring_timeout
        return Offer(c.contact, agent_id, q.cfg.name, channel, explanation, timeout, (), self.epoch)

    # ---- offer outcomes --------------------------------------------------------------

    def _offer_of(
        self, agent_id: str, contact_id: str
    ) -> tuple[AgentRT, ContactRT, Channel, QueueRT]:
        a = self._agent(agent_id)
        c = self._contact(contact_id)
        offer = a.offers.get(contact_id)
        if offer is None:
            raise RoutingError(f"agent {agent_id} has no offer for contact {contact_id}")
        return a, c, offer.channel, self._queues[offer.queue]

    def ringing(self, agent_id: str, contact_id: str, now: float) -> None:
        """The agent's phone (or desk) is alerting for the offer."""
        a, _, channel, q = self._offer_of(agent_id, contact_id)
        self._emit(
            transition(
                a.id,
                channel,
                a.status[channel],
                "ring",
                S.RINGING,
                now,
                contact=contact_id,
                queue=q.cfg.name,
            )
        )

    def accept(self, agent_id: str, contact_id: str, now: float) -> tuple[str, ...]:
        """The agent answered. Returns other agents whose ring-all offer was withdrawn."""
        a, c, channel, q = self._offer_of(agent_id, contact_id)
        st = a.status[channel]
        full = st.load + 1 >= a.profile.capacity[channel]
        self._emit(
            transition(
                a.id,
                channel,
                st,
                "accept",
                S.BUSY if full else S.AVAILABLE,
                now,
                contact=contact_id,
                queue=q.cfg.name,
            )
        )
        st.load += 1
        del a.offers[contact_id]
        a.active[contact_id] = Assignment(channel, q.cfg.name, now)
        c.offered_to.discard(agent_id)
        others = tuple(sorted(c.offered_to))
        for other in others:
            self._withdraw(self._agents[other], c, now, f"answered by {agent_id}")
        c.offered_to.clear()
        c.declined = None  # it has left the queue
        c.state = ContactState.CONNECTED
        c.agent = agent_id
        q.offered -= 1
        q.outcomes[Outcome.ANSWERED] += 1
        self._emit(
            RoutingEvent(
                "contact.answered",
                now,
                agent=agent_id,
                channel=channel,
                contact=contact_id,
                queue=q.cfg.name,
                detail=f"waited {now - c.contact.entered_at:g}s",
            )
        )
        self._refresh(a, now)
        return others

    def reject(self, agent_id: str, contact_id: str, now: float) -> None:
        """The agent declined; the contact goes back to its place in the queue, and
        other free agents are tried before this one again (see Declines above)."""
        self._unoffer(agent_id, contact_id, now, "reject", S.AVAILABLE, None, True)

    def release(
        self,
        agent_id: str,
        contact_id: str,
        now: float,
        reason: str = "released",
        *,
        decline: bool = True,
    ) -> None:
        """Withdraw an offer (e.g. the agent's leg could not be set up); requeue the contact.

        It counts as the agent declining the contact (the next agent is tried first),
        whatever the reason; pass `decline=False` when the agent is not the cause
        (e.g. the offer is recalled to be routed afresh).
        """
        self._unoffer(agent_id, contact_id, now, "release", S.AVAILABLE, reason, decline)

    def no_answer(self, agent_id: str, contact_id: str, now: float) -> None:
        """The offer rang out; the agent is paused or made available per the queue rule.
        Either way it counts as declining the contact (see Declines above)."""
        _, _, _, q = self._offer_of(agent_id, contact_id)
        to = S.PAUSED if q.cfg.on_no_answer is NoAnswer.PAUSE else S.AVAILABLE
        self._unoffer(agent_id, contact_id, now, "no_answer", to, NO_ANSWER_REASON, True)

    def _unoffer(
        self,
        agent_id: str,
        contact_id: str,
        now: float,
        action: str,
        to: AgentState,
        reason: str | None,
        decline: bool,
    ) -> None:
        a, c, channel, q = self._offer_of(agent_id, contact_id)
        if decline:
            if c.declined is None:
                c.declined = {}
            c.declined[agent_id] = next(self._seq)
        self._emit(
            transition(
                a.id,
                channel,
                a.status[channel],
                action,
                to,
                now,
                reason=reason,
                contact=contact_id,
                queue=q.cfg.name,
            )
        )
        del a.offers[contact_id]
        c.offered_to.discard(agent_id)
        if not c.offered_to:
            self._requeue(c, now, f"{action} by {agent_id}")
        self._refresh(a, now)

    def _withdraw(self, a: AgentRT, c: ContactRT, now: float, reason: str) -> None:
        """Cancel `a`'s offer for `c` (the contact itself is dealt with by the caller)."""
        channel, qn, _ = a.offers.pop(c.contact.id)
        self._emit(
            transition(
                a.id,
                channel,
                a.status[channel],
                "release",
                S.AVAILABLE,
                now,
                reason=reason,
                contact=c.contact.id,
                queue=qn,
            )
        )
        self._refresh(a, now)

    def finish(self, agent_id: str, contact_id: str, now: float) -> None:
        """The contact ended; wrap-up follows if the queue has one and the channel is idle."""
        a = self._agent(agent_id)
        active = a.active.get(contact_id)
        if active is None:
            raise RoutingError(f"agent {agent_id} is not handling contact {contact_id}")
        channel, qn, accepted_at = active
        st = a.status[channel]
        load = st.load - 1
        q = self._queues.get(qn)
        wrap = q.cfg.wrap_up if q is not None else 0.0
        to: AgentState
        if st.state in (S.PAUSED, S.RESERVED, S.RINGING):
            to = st.state
        elif load == 0 and wrap > 0:
            to = S.WRAP_UP
        elif load >= a.profile.capacity[channel]:
            to = S.BUSY
        else:
            to = S.AVAILABLE
        self._emit(
            transition(
                a.id, channel, st, "finish", to, now, reason=st.reason, contact=contact_id, queue=qn
            )
        )
        st.load = load
        del a.active[contact_id]
        self._contacts.pop(contact_id, None)
        a.handled += 1
        a.last_end = now
        handle = now - accepted_at
        if to is S.WRAP_UP:
            a.wrap[channel] = WrapUp(now + wrap, qn, handle, now)
            self._timers.push(WrapUpEnd(now + wrap, next(self._seq), a.id, channel, now))
        elif q is not None:
            q.handle.add(handle)
        self._refresh(a, now)

    def end_wrap_up(self, agent_id: str, now: float, channel: Channel | None = None) -> None:
        """End wrap-up early (the agent is ready)."""
        a = self._agent(agent_id)
        channels = [Channel(channel)] if channel is not None else sorted(a.wrap)
        for ch in channels:
            st = self._status(a, ch)
            if st.state is not S.WRAP_UP:
                raise IllegalTransition(a.id, ch, "wrap_end", st.state)
        for ch in channels:
            self._move_closing_wrap(a, ch, now, "wrap_end", S.AVAILABLE, None)
        self._refresh(a, now)

    def _move_closing_wrap(
        self,
        a: AgentRT,
        channel: Channel,
        now: float,
        action: str,
        to: AgentState,
        reason: str | None,
    ) -> None:
        """Transition on `channel`, closing a wrap-up in progress (its handle time counts)."""
        self._emit(transition(a.id, channel, a.status[channel], action, to, now, reason=reason))
        wrap = a.wrap.pop(channel, None)
        if wrap is not None:
            q = self._queues.get(wrap.queue)
            if q is not None:
                q.handle.add(wrap.handle_time + now - wrap.started_at)

    # ---- presence --------------------------------------------------------------------

    def _channels(
        self, a: AgentRT, channels: Iterable[Channel] | None, default: Iterable[Channel]
    ) -> list[Channel]:
        chosen = sorted(Channel(ch) for ch in (channels if channels is not None else default))
        for ch in chosen:
            self._status(a, ch)
        return chosen

    def _check(self, a: AgentRT, channels: list[Channel], action: str, to: AgentState) -> None:
        # Check every channel first so a refused multi-channel call changes nothing.
        for ch in channels:
            st = a.status[ch]
            if to not in TRANSITIONS[action].get(st.state, ()):
                raise IllegalTransition(a.id, ch, action, st.state, to)
            if action != "logout":
                continue
            if st.load:
                busy = f"{st.load} contact(s) in progress: end them first"
                raise IllegalTransition(a.id, ch, action, st.state, to, busy)
            if any(o.channel is ch for o in a.offers.values()):
                busy = "an offer pending: answer or decline it first"
                raise IllegalTransition(a.id, ch, action, st.state, to, busy)

    def login(
        self,
        agent_id: str,
        now: float,
        channels: Iterable[Channel] | None = None,
        paused_reason: str | None = None,
    ) -> None:
        """Log in (all channels with capacity by default), available or paused."""
        a = self._agent(agent_id)
        chosen = self._channels(
            a, channels, [ch for ch, st in a.status.items() if st.state is S.OFFLINE]
        )
        to = S.PAUSED if paused_reason is not None else S.AVAILABLE
        self._check(a, chosen, "login", to)
        if chosen and not a.logged_in():
            a.login_at = now
        for ch in chosen:
            self._emit(transition(a.id, ch, a.status[ch], "login", to, now, reason=paused_reason))
        self._refresh(a, now)

    def logout(self, agent_id: str, now: float, channels: Iterable[Channel] | None = None) -> None:
        """Log out (all logged-in channels by default); nothing may be in progress."""
        self._step_away(agent_id, now, channels, "logout", S.OFFLINE, None)

    def pause(
        self, agent_id: str, reason: str, now: float, channels: Iterable[Channel] | None = None
    ) -> None:
        """Pause with a reason (all logged-in channels by default)."""
        self._step_away(agent_id, now, channels, "pause", S.PAUSED, reason)

    def _step_away(
        self,
        agent_id: str,
        now: float,
        channels: Iterable[Channel] | None,
        action: str,
        to: AgentState,
        reason: str | None,
    ) -> None:
        """Logout and pause: the logged-in channels (or those named) leave work."""
        a = self._agent(agent_id)
        chosen = self._channels(
            a, channels, [ch for ch, st in a.status.items() if st.state is not S.OFFLINE]
        )
        self._check(a, chosen, action, to)
        for ch in chosen:
            self._move_closing_wrap(a, ch, now, action, to, reason)
        self._refresh(a, now)

    def unpause(self, agent_id: str, now: float, channels: Iterable[Channel] | None = None) -> None:
        """Back to work (all paused channels by default)."""
        a = self._agent(agent_id)
        chosen = self._channels(
            a, channels, [ch for ch, st in a.status.items() if st.state is S.PAUSED]
        )
        targets = {
            ch: S.BUSY if a.status[ch].load >= a.profile.capacity[ch] else S.AVAILABLE
            for ch in chosen
        }
        for ch in chosen:
            self._check(a, [ch], "unpause", targets[ch])
        for ch in chosen:
            self._emit(transition(a.id, ch, a.status[ch], "unpause", targets[ch], now))
        self._refresh(a, now)

    # ---- time ------------------------------------------------------------------------

    def tick(self, now: float) -> TickReport:
        """Apply what time alone changes: skill steps, max wait, ring timeouts, wrap-up
        ends and leave-when-empty. Call it periodically, then `next_offers`."""
        self._advance_steps(now)
        report = TickReport()
        deferred: list[Timer] = []
        for timer in self._timers.due(now):
            match timer:
                case Deadline(contact_id=cid, deadline=deadline):
                    c = self._contacts.get(cid)
                    if c is None or c.deadline != deadline:
                        continue
                    if c.state is ContactState.OFFERED:
                        deferred.append(timer)  # decide once the offer is resolved
                    elif c.state is ContactState.WAITING:
                        report.timeouts.append(self._remove(c, Outcome.TIMEOUT, now))
                case RingTimeout(agent_id=aid, contact_id=cid, reserved_at=reserved_at):
                    a = self._agents.get(aid)
                    offer = a.offers.get(cid) if a is not None else None
                    if offer is not None and offer.since == reserved_at:
                        self.no_answer(aid, cid, now)
                        report.no_answers.append(RangOut(aid, cid))
                case WrapUpEnd(agent_id=aid, channel=channel, started_at=started_at):
                    a = self._agents.get(aid)
                    wrap = a.wrap.get(channel) if a is not None else None
                    if a is not None and wrap is not None and wrap.started_at == started_at:
                        self._move_closing_wrap(a, channel, now, "wrap_end", S.AVAILABLE, None)
                        self._refresh(a, now)
                        report.wrap_ups_ended.append(aid)
        for timer in deferred:
            self._timers.push(timer)
        for q in self._queues.values():
            rule = q.cfg.leave_when_empty
            if rule is EmptyRule.IGNORE:
                continue
            for channel in sorted(ch for ch, n in q.by_channel.items() if n):
                if self._is_empty(q, channel, rule):
                    gone = sorted(
                        (
                            self._contacts[k.contact_id]
                            for cls in q.classes.values()
                            if cls.channel is channel
                            for k in cls.contacts
                        ),
                        key=_key,
                    )
                    report.closed.extend(self._remove(c, Outcome.CLOSED, now) for c in gone)
        return report

    @staticmethod
    def _is_empty(q: QueueRT, channel: Channel, rule: EmptyRule) -> bool:
        logged = q.logged[channel]
        if rule is EmptyRule.NO_AGENTS:
            return not logged
        if rule is EmptyRule.ALL_PAUSED:
            return not logged or len(q.paused[channel]) == len(logged)
        return False

    # ---- queries ---------------------------------------------------------------------

    def position(self, contact_id: str) -> int | None:
        """1-based place in its queue; 0 while being offered; None if not queued."""
        c = self._contacts.get(contact_id)
        if c is None or c.state is ContactState.CONNECTED:
            return None
        if c.state is ContactState.OFFERED:
            return 0
        return self._queues[c.contact.queue].waiting.rank(c.key) + 1

    def eta(self, contact_id: str) -> float | None:
        """Estimated seconds until answered (see `eta` module); None if unknown."""
        return self.place(contact_id)[1]

    def place(self, contact_id: str) -> tuple[int | None, float | None]:
        """`position` and `eta` together (the position is looked up once: a waiting
        chat's live frame asks both every second, for every chat)."""
        pos = self.position(contact_id)
        if pos is None:
            return None, None
        c = self._contacts[contact_id]
        return pos, self._queues[c.contact.queue].eta(c.contact.channel, pos)

    def queue_eta(
        self, queue: str, channel: Channel = Channel.VOICE, position: int | None = None
    ) -> float | None:
        """Estimate for `position` (default: a contact joining now)."""
        q = self._queue(queue)
        pos = position if position is not None else len(q.waiting) + 1
        return q.eta(Channel(channel), pos)

    def contact_state(self, contact_id: str) -> str | None:
        """waiting, offered or connected; None if unknown."""
        c = self._contacts.get(contact_id)
        return None if c is None else c.state.value

    def agent_status(self, agent_id: str) -> dict[Channel, ChannelStatus]:
        """A copy of the agent's per-channel status."""
        return {ch: replace(st) for ch, st in self._agent(agent_id).status.items()}

    def channel_state(self, agent_id: str, channel: Channel) -> AgentState | None:
        """The agent's state on `channel` (None: no capacity for it), without the copy
        `agent_status` makes."""
        st = self._agent(agent_id).status.get(channel)
        return None if st is None else st.state

    def offers_of(self, agent_id: str) -> list[str]:
        """Contacts currently offered to (reserved for) the agent."""
        return sorted(self._agent(agent_id).offers)

    def snapshot(self, now: float) -> Snapshot:
        """Queues and agents for the wallboard."""
        return snapshot_of(self._queues, self._agents, now)


def _mark(members: set[str], agent_id: str, present: bool) -> None:
    (members.add if present else members.discard)(agent_id)


def _key(c: ContactRT) -> ContactKey:
    return c.key


def _key_of(contact: Contact, seq: int) -> ContactKey:
    return ContactKey(-contact.priority, contact.entered_at, seq, contact.id)


class QueueTurn(NamedTuple):
    """A queue's turn to make an offer (`next_offers`' heap): the higher weight first,
    then the first matchable contact's queue order."""

    neg_weight: int
    neg_priority: int
    entered_at: float
    seq: int
    queue: str

    @classmethod
    def of(cls, q: QueueRT, candidate: ContactClass) -> QueueTurn:
        first: ContactKey = candidate.contacts.first()
        return cls(-q.cfg.weight, first.neg_priority, first.entered_at, first.seq, q.cfg.name)
