"""Restoring the routing engine after a restart: places from the event log, the routing
clock from wall-clock times, waiting contacts back in order, talking agents kept busy."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hotline.acd import Agent, Channel, Offer, Queue, Router
from hotline.acd.restore import Talking, clock_of, place_of
from hotline.acd.service import Finished, RoutingService, Ticket, TicketItem

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class Logged:
    type: str
    ts: datetime
    queue: str | None = None
    agent: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    contact_id: str | None = None


class World:
    """A routing service whose log stamps each event with a wall clock, like the store."""

    def __init__(self, wall: datetime, clock: float) -> None:
        self.wall = wall
        self.now = clock
        self.events: list[Logged] = []
        self.router = Router()
        self.router.add_queue(Queue("q", wrap_up=5, max_wait=100))
        for agent in ("a", "b"):
            self.router.add_agent(Agent(agent, queues=["q"]))
        self.svc = RoutingService(self.router, self.log, clock=lambda: self.now)

    async def log(
        self,
        type: str,
        data: dict[str, Any],
        contact_id: str | None = None,
        queue: str | None = None,
        agent: str | None = None,
    ) -> None:
        self.events.append(Logged(type, self.wall, queue, agent, data, contact_id))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += timedelta(seconds=seconds)

    def of(self, contact_id: str) -> list[Logged]:
        return [e for e in self.events if e.contact_id == contact_id]

    def state(self, agent: str) -> str:
        return self.router.agent_status(agent)[Channel.VOICE].state.value


def drain(ticket: Ticket) -> list[TicketItem]:
    out: list[TicketItem] = []
    while not ticket.offers.empty():
        out.append(ticket.offers.get_nowait())
    return out


def test_place_of_a_waiting_contact_keeps_its_first_entry_and_request() -> None:
    events = [
        Logged(
            "contact.join",
            T0,
            "q",
            data={"channel": "voice", "priority": 2, "skills": {"fr": 50}, "waited": 0},
        ),
        Logged("contact.offer", T0 + timedelta(seconds=3), "q", "a"),
        Logged("contact.requeue", T0 + timedelta(seconds=8), "q"),
    ]
    place = place_of("c1", events)
    assert place is not None and place.waiting
    assert (place.queue, place.entered, place.priority) == ("q", T0, 2)
    assert dict(place.skills) == {"fr": 50} and place.timeout is None
    # Restored after a first restart 30 s later: the entry time is still the first one.
    again = Logged(
        "contact.restore",
        T0 + timedelta(seconds=30),
        "q",
        data={"channel": "voice", "priority": 2, "skills": {}, "timeout": "never", "waited": 30},
    )
    place = place_of("c1", [*events, again])
    assert place is not None and place.entered == T0 and place.timeout == math.inf


def test_place_of_follows_answer_finish_and_leave() -> None:
    join = Logged("contact.join", T0, "q", data={"detail": "priority 4"})
    answered = Logged("contact.answered", T0 + timedelta(seconds=5), "q", "a")
    place = place_of("c1", [join, answered])
    assert place is not None and place.agent == "a" and not place.waiting
    assert place.priority == 4  # from an older log's detail text
    assert place.answered == T0 + timedelta(seconds=5)
    finished = Logged("agent.finish", T0 + timedelta(seconds=9), "q", "a")
    assert place_of("c1", [join, answered, finished]) is None
    assert place_of("c1", [join, Logged("contact.leave", T0, "q")]) is None
    assert place_of("c1", [Logged("call.arrived", T0)]) is None


def test_clock_of_maps_wall_time_onto_the_routing_clock() -> None:
    assert clock_of(T0, T0 + timedelta(seconds=42), 1000.0) == 958.0


async def test_restart_puts_waiting_contacts_back_in_order_and_keeps_the_talker_busy() -> None:
    before = World(T0, clock=500.0)
    await before.svc.login("a")
    c1 = await before.svc.enqueue("c1", "voice", "q", skills={})
    (offer,) = [i for i in drain(c1) if isinstance(i, Offer)]
    await before.svc.ringing(offer)
    await before.svc.accepted(offer)
    before.advance(2)
    await before.svc.enqueue("c2", "voice", "q")
    before.advance(3)
    await before.svc.enqueue("c3", "voice", "q", priority=0)
    before.advance(10)  # ... and the controller dies here

    # A new process: another monotonic clock, agents logged in afresh.
    after = World(before.wall + timedelta(seconds=5), clock=7.0)
    await after.svc.login("a")
    waiting, talking = [], []
    for cid in ("c3", "c2", "c1"):  # the order found does not matter
        place = place_of(cid, before.of(cid))
        assert place is not None
        entered = clock_of(place.entered, after.wall, after.now)
        if place.waiting:
            waiting.append(place.contact(entered))
        else:
            assert place.agent is not None and place.answered is not None
            since = clock_of(place.answered, after.wall, after.now)
            talking.append(Talking(place.agent, place.contact(entered), since))
    tickets, refused = await after.svc.restore(waiting, talking)
    assert refused == {}
    assert set(tickets) == {"c2", "c3"}
    assert after.state("a") == "busy"
    # c2 and c3 waited 13 and 10 s before, plus the 5 s outage: their places.
    restored = {e.contact_id: e for e in after.events if e.type == "contact.restore"}
    assert restored["c2"].data["waited"] == pytest.approx(18.0)
    assert restored["c3"].data["waited"] == pytest.approx(15.0)
    assert not [e for e in after.events if e.type == "contact.join"]
    assert after.svc.position("c2") == 1 and after.svc.position("c3") == 2

    # b logs in: offered the longest-waiting c2 first.
    await after.svc.login("b")
    (offer,) = [i for i in drain(tickets["c2"]) if isinstance(i, Offer)]
    assert offer.agent == "b" and not drain(tickets["c3"])
    # a's restored call ends: wrap-up, then c3 goes to a.
    await after.svc.finished("a", "c1")
    assert after.state("a") == "wrap_up"
    after.advance(6)
    await after.svc.tick()
    (offer,) = [i for i in drain(tickets["c3"]) if isinstance(i, Offer)]
    assert offer.agent == "a"


async def test_restored_max_wait_counts_from_the_first_entry_and_bad_places_are_refused() -> None:
    world = World(T0, clock=0.0)
    await world.svc.login("a")
    await world.svc.pause("a", "lunch")
    old = place_of(
        "c1", [Logged("contact.join", T0 - timedelta(seconds=90), "q", data={"waited": 0})]
    )
    assert old is not None
    contact = old.contact(clock_of(old.entered, world.wall, world.now))
    unknown = contact.__class__("c2", Channel.VOICE, "nope", 0.0)
    talker = Talking("zed", contact.__class__("c3", Channel.VOICE, "q", 0.0), 0.0)
    tickets, refused = await world.svc.restore([contact, unknown], [talker])
    assert set(refused) == {"c2", "c3"}
    assert "nope" in refused["c2"] and "zed" in refused["c3"]
    world.advance(11)  # 90 + 11 > the queue's max wait of 100
    await world.svc.tick()
    assert [i for i in drain(tickets["c1"]) if isinstance(i, Finished)] == [Finished("timeout")]


async def test_a_paused_agent_takes_back_the_call_and_stays_paused() -> None:
    world = World(T0, clock=0.0)
    await world.svc.login("a")
    await world.svc.pause("a", "lunch")
    place = place_of("c1", [Logged("contact.join", T0, "q")])
    assert place is not None
    talker = Talking("a", place.contact(0.0), 0.0)
    await world.svc.restore([], [talker])
    status = world.router.agent_status("a")[Channel.VOICE]
    assert (status.state.value, status.load) == ("paused", 1)
    await world.svc.unpause("a")
    assert world.state("a") == "busy"
    await world.svc.finished("a", "c1")
    assert world.state("a") == "wrap_up"
