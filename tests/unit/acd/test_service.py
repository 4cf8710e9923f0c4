"""The asyncio RoutingService around the Router: tickets, offers, presence, the ticker.

Time is a fake clock moved by hand; `await svc.tick()` stands in for the ticker except
in the tests of the ticker itself.
"""

from __future__ import annotations

import asyncio

import pytest

from hotline.acd import (
    Agent,
    Channel,
    IllegalTransition,
    Offer,
    Outcome,
    Queue,
    Router,
    RoutingError,
)
from hotline.acd.service import (
    UNREACHABLE_REASON,
    Finished,
    LazyLog,
    OfferWithdrawn,
    RoutingService,
    Ticket,
    Withdrawn,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Log:
    """Collects events with a sequence number; yields like a real store would."""

    def __init__(self) -> None:
        self.records: list[dict] = []
        self.fail = False

    async def __call__(self, type, data, contact_id=None, queue=None, agent=None):
        await asyncio.sleep(0)
        if self.fail:
            raise ConnectionError("event log unavailable")
        self.records.append(
            {
                "seq": len(self.records),
                "type": type,
                "data": data,
                "contact": contact_id,
                "queue": queue,
                "agent": agent,
            }
        )

    def types(self, prefix: str = "") -> list[str]:
        return [r["type"] for r in self.records if r["type"].startswith(prefix)]

    def find(self, type: str, **match) -> list[dict]:
        return [
            r
            for r in self.records
            if r["type"] == type and all(r[k] == v for k, v in match.items())
        ]


class Lab:
    def __init__(self) -> None:
        self.router = Router()
        self.clock = Clock()
        self.log = Log()
        self.svc = RoutingService(self.router, self.log, clock=self.clock, tick_interval=0.001)

    def queue(self, name: str = "q", **options) -> None:
        self.router.add_queue(Queue(name, **options))

    async def agent(self, agent_id: str, queues=("q",), login: bool = True, **options) -> None:
        self.router.add_agent(Agent(agent_id, queues=queues, **options))
        if login:
            await self.svc.login(agent_id)

    async def enqueue(self, contact_id: str, queue: str = "q", channel="voice", **kw) -> Ticket:
        return await self.svc.enqueue(contact_id, channel, queue, **kw)

    async def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        await self.svc.tick()

    def state(self, agent_id: str, channel: str = "voice") -> tuple[str, str | None]:
        st = self.router.agent_status(agent_id)[Channel(channel)]
        return st.state.value, st.reason


def items(ticket: Ticket) -> list:
    """Everything on the ticket's queue right now (no waiting)."""
    out = []
    while not ticket.offers.empty():
        out.append(ticket.offers.get_nowait())
    return out


def offers(ticket: Ticket) -> list[Offer]:
    return [i for i in items(ticket) if isinstance(i, Offer)]


def one_offer(ticket: Ticket) -> Offer:
    got = items(ticket)
    assert len(got) == 1 and isinstance(got[0], Offer), got
    return got[0]


@pytest.fixture
def lab() -> Lab:
    return Lab()


# ---- join -----------------------------------------------------------------------------


async def test_join_gives_position_and_eta(lab):
    lab.queue(default_handle_time=120)
    await lab.agent("a")
    await lab.svc.pause("a", "lunch")
    t1 = await lab.enqueue("c1")
    t2 = await lab.enqueue("c2")
    assert t1.joined and t1.join.outcome is Outcome.JOINED
    assert (t2.join.position, t2.join.eta) == (2, None)  # nobody serving: unknown
    await lab.svc.unpause("a")
    assert lab.svc.position("c2") == 1  # c1 is being offered (position 0)
    assert lab.svc.eta("c2") == 120.0
    assert not t2.done


async def test_full_queue_refuses(lab):
    lab.queue(max_length=1)
    await lab.enqueue("c1")
    t2 = await lab.enqueue("c2")
    assert not t2.joined
    assert t2.done and t2.outcome.result() is Outcome.FULL
    assert items(t2) == [Finished(Outcome.FULL)]
    assert lab.svc.ticket("c2") is None
    assert lab.log.find("contact.refused", contact="c2")[0]["data"]["detail"] == "full"


async def test_closed_queue_refuses(lab):
    lab.queue(join_empty="no_agents")
    t = await lab.enqueue("c1")
    assert await t.outcome is Outcome.CLOSED
    assert [i async for i in t] == [Finished(Outcome.CLOSED)]


async def test_unknown_queue_and_duplicate_contact_raise(lab):
    lab.queue()
    with pytest.raises(RoutingError, match="unknown queue 'nope'"):
        await lab.enqueue("c1", queue="nope")
    await lab.enqueue("c1")
    with pytest.raises(RoutingError, match="already queued"):
        await lab.enqueue("c1")


# ---- order of service -----------------------------------------------------------------


async def test_fifo_at_equal_priority_and_priority_first(lab):
    lab.queue()
    await lab.agent("a", login=False)
    tickets = {}
    for cid, prio in (("c1", 0), ("c2", 0), ("vip", 5), ("c3", 0)):
        tickets[cid] = await lab.enqueue(cid, priority=prio)
        lab.clock.now += 1
    assert [lab.svc.position(c) for c in ("vip", "c1", "c2", "c3")] == [1, 2, 3, 4]
    await lab.svc.login("a")
    served = []
    for _ in range(4):
        [offer] = [o for t in tickets.values() for o in offers(t)]
        served.append(offer.contact.id)
        await lab.svc.accepted(offer)
        await lab.svc.finished("a", offer.contact.id)
    assert served == ["vip", "c1", "c2", "c3"]


async def test_entered_at_keeps_an_earlier_place(lab):
    lab.queue()
    lab.clock.now = 100
    await lab.enqueue("c1")
    await lab.enqueue("callback", channel="callback", entered_at=50)
    assert lab.svc.position("callback") == 1
    assert lab.svc.position("c1") == 2


async def test_offer_goes_to_the_right_ticket(lab):
    lab.queue("sales")
    lab.queue("support")
    await lab.agent("a", queues=["support"])
    t_sales = await lab.enqueue("c1", queue="sales")
    t_support = await lab.enqueue("c2", queue="support")
    assert items(t_sales) == []
    offer = one_offer(t_support)
    assert (offer.contact.id, offer.agent, offer.queue) == ("c2", "a", "support")
    assert offer.explanation.queue == "support"


# ---- offers ---------------------------------------------------------------------------


async def test_accept_resolves_answered(lab):
    lab.queue()
    await lab.agent("a")
    t = await lab.enqueue("c1")
    offer = one_offer(t)
    assert await lab.svc.ringing(offer)
    assert lab.state("a") == ("ringing", None)
    assert await lab.svc.accepted(offer) == ()
    assert await t.outcome is Outcome.ANSWERED
    assert items(t) == [Finished(Outcome.ANSWERED)]
    assert lab.state("a") == ("busy", None)
    assert lab.svc.ticket("c1") is None
    assert lab.log.find("contact.answered", contact="c1", agent="a")


async def test_offer_events_carry_the_explanation(lab):
    lab.queue()
    await lab.agent("a")
    t = await lab.enqueue("c1")
    offer = one_offer(t)
    [event] = lab.log.find("contact.offer", contact="c1")
    assert event["agent"] == "a" and event["queue"] == "q"
    assert event["data"]["explanation"] == offer.explanation.summary()
    assert "strategy longest_idle" in event["data"]["explanation"]
    assert event["data"]["ring_timeout"] == 15.0


async def test_reject_re_offers_to_the_next_agent_unnoticed(lab):
    lab.queue(strategy="rrmemory")
    await lab.agent("a")
    await lab.agent("b")
    t = await lab.enqueue("c1")
    first = one_offer(t)
    assert first.agent == "a"
    assert await lab.svc.rejected(first)
    second = one_offer(t)  # no Withdrawn, no Finished: the caller just waits
    assert second.agent == "b"
    assert not t.done
    assert lab.log.find("contact.requeue", contact="c1")[0]["data"]["reason"] == "reject by a"
    assert not await lab.svc.rejected(first)  # stale: ignored


async def test_no_answer_keeps_the_place_and_tries_the_next_agent(lab):
    lab.queue(on_no_answer="pause")
    await lab.agent("a")
    await lab.agent("b", login=False)
    t1 = await lab.enqueue("c1")
    lab.clock.now = 1
    await lab.enqueue("c2")
    offer = one_offer(t1)
    assert lab.svc.position("c1") == 0
    assert await lab.svc.no_answer(offer)
    assert lab.state("a") == ("paused", "no answer")
    assert (lab.svc.position("c1"), lab.svc.position("c2")) == (1, 2)
    assert items(t1) == []
    await lab.svc.login("b")
    assert one_offer(t1).agent == "b"


async def test_failed_leg_is_like_a_reject_with_the_reason(lab):
    lab.queue(strategy="rrmemory")
    await lab.agent("a")
    await lab.agent("b")
    t = await lab.enqueue("c1")
    assert await lab.svc.failed(one_offer(t), "endpoint 1001 not registered")
    assert one_offer(t).agent == "b"
    [event] = lab.log.find("agent.release", agent="a")
    assert event["data"]["reason"] == "failed: endpoint 1001 not registered"
    assert lab.state("a") == ("available", None)


async def test_ring_all_accept_withdraws_the_other_agents(lab):
    lab.queue(strategy="ringall")
    for aid in ("a", "b", "c"):
        await lab.agent(aid)
    t = await lab.enqueue("c1")
    ring = {o.agent: o for o in offers(t)}
    assert sorted(ring) == ["a", "b", "c"]
    assert ring["a"].ring_group == ("a", "b", "c")
    assert await lab.svc.accepted(ring["b"]) == ("a", "c")
    assert items(t) == [
        Withdrawn(ring["a"], "answered by b"),
        Withdrawn(ring["c"], "answered by b"),
        Finished(Outcome.ANSWERED),
    ]
    with pytest.raises(OfferWithdrawn):
        await lab.svc.accepted(ring["a"])
    assert not await lab.svc.no_answer(ring["c"])
    assert lab.state("a") == ("available", None)
    assert lab.state("b") == ("busy", None)


async def test_ring_timeout_from_tick_is_delivered_as_withdrawn(lab):
    lab.queue(ring_timeout=10, on_no_answer="pause")
    await lab.agent("a")
    await lab.agent("b")
    t = await lab.enqueue("c1")
    offer = one_offer(t)
    await lab.svc.ringing(offer)
    await lab.advance(9.9)
    assert items(t) == []
    await lab.advance(0.1)
    got = items(t)
    assert got[0] == Withdrawn(offer, "ring timeout")
    assert isinstance(got[1], Offer) and got[1].agent == "b"
    assert lab.state("a") == ("paused", "no answer")
    assert not await lab.svc.no_answer(offer)  # the adapter's own timer lost the race
    with pytest.raises(OfferWithdrawn):
        await lab.svc.accepted(offer)


async def test_leave_while_being_offered(lab):
    lab.queue()
    await lab.agent("a")
    t = await lab.enqueue("c1")
    offer = one_offer(t)
    await lab.svc.ringing(offer)
    removed = await lab.svc.leave("c1")
    assert removed is not None and removed.withdrawn_from == ("a",)
    assert items(t) == [Withdrawn(offer, "contact left"), Finished(Outcome.LEFT)]
    assert t.outcome.result() is Outcome.LEFT
    assert lab.state("a") == ("available", None)
    with pytest.raises(OfferWithdrawn):
        await lab.svc.accepted(offer)
    assert await lab.svc.leave("c1") is None  # already gone


async def test_leave_an_answered_contact_is_an_error(lab):
    lab.queue()
    await lab.agent("a")
    t = await lab.enqueue("c1")
    await lab.svc.accepted(one_offer(t))
    with pytest.raises(RoutingError, match="finish it instead"):
        await lab.svc.leave("c1")
    with pytest.raises(ValueError, match="left, timeout or closed"):
        await lab.svc.leave("c1", "answered")


async def test_max_wait_ends_in_timeout(lab):
    lab.queue(max_wait=30)
    t1 = await lab.enqueue("c1")
    t2 = await lab.enqueue("c2", timeout=10)  # the flow node's own limit
    await lab.advance(10)
    assert items(t2) == [Finished(Outcome.TIMEOUT)]
    assert not t1.done
    await lab.advance(20)
    assert items(t1) == [Finished(Outcome.TIMEOUT)]
    assert [r["data"]["detail"] for r in lab.log.find("contact.leave")] == ["timeout"] * 2


async def test_leave_when_empty_ends_in_closed(lab):
    lab.queue(leave_when_empty="no_agents")
    await lab.agent("a")
    await lab.svc.pause("a", "meeting")
    t = await lab.enqueue("c1")
    await lab.advance(1)
    assert not t.done
    await lab.svc.logout("a")
    await lab.advance(1)
    assert items(t) == [Finished(Outcome.CLOSED)]


async def test_wrap_up_then_available_and_the_next_contact_offered(lab):
    lab.queue(wrap_up=10)
    await lab.agent("a")
    t1 = await lab.enqueue("c1")
    t2 = await lab.enqueue("c2")
    await lab.svc.accepted(one_offer(t1))
    await lab.advance(60)
    await lab.svc.finished("a", "c1")
    assert lab.state("a") == ("wrap_up", None)
    await lab.advance(9)
    assert items(t2) == []
    await lab.advance(1)
    assert lab.state("a") == ("reserved", None)
    assert one_offer(t2).agent == "a"
    types = lab.log.types("agent.")
    assert types[-3:] == ["agent.finish", "agent.wrap_end", "agent.reserve"]


async def test_end_wrap_up_early(lab):
    lab.queue(wrap_up=30)
    await lab.agent("a")
    t1 = await lab.enqueue("c1")
    t2 = await lab.enqueue("c2")
    await lab.svc.accepted(one_offer(t1))
    await lab.svc.finished("a", "c1")
    await lab.svc.end_wrap_up("a")
    assert one_offer(t2).agent == "a"


async def test_chat_uses_the_same_queue_up_to_capacity(lab):
    lab.queue()
    await lab.agent("a", capacity={"voice": 1, "chat": 2}, chat_while_voice=True)
    chats = [await lab.enqueue(f"chat{i}", channel="chat") for i in range(3)]
    await lab.svc.accepted(one_offer(chats[0]))
    await lab.svc.accepted(one_offer(chats[1]))  # room for a second chat
    assert lab.state("a", "chat") == ("busy", None)
    assert items(chats[2]) == []  # full
    call = await lab.enqueue("call")
    await lab.svc.accepted(one_offer(call))  # a call during two chats
    await lab.svc.finished("a", "chat0")
    assert one_offer(chats[2]).channel is Channel.CHAT


# ---- write-ahead ----------------------------------------------------------------------


async def test_events_are_logged_before_the_ticket_sees_them(lab):
    lab.queue(ring_timeout=5, on_no_answer="pause")
    await lab.agent("a")
    await lab.agent("b")
    await lab.svc.pause("a", "x")
    await lab.svc.pause("b", "x")
    t = await lab.enqueue("c1")
    seen = []

    async def consumer():
        # The log yields before it records, so an item put before its event is
        # written would reach this consumer first and fail these checks.
        async for item in t:
            if isinstance(item, Offer):
                assert lab.log.find("agent.reserve", contact="c1", agent=item.agent)
                assert lab.log.find("contact.offer", contact="c1", agent=item.agent)
                seen.append(f"offer {item.agent}")
                if item.agent == "b":
                    await lab.svc.accepted(item)
            elif isinstance(item, Withdrawn):
                assert lab.log.find("agent.no_answer", contact="c1", agent=item.offer.agent)
                seen.append(f"withdrawn {item.offer.agent}")
            else:
                assert lab.log.find("contact.answered", contact="c1")
                seen.append(item.outcome.value)

    task = asyncio.create_task(consumer())
    await asyncio.sleep(0)
    await lab.svc.unpause("a")
    await lab.advance(5)  # ring timeout
    await lab.svc.unpause("b")
    await asyncio.wait_for(task, 1)
    assert seen == ["offer a", "withdrawn a", "offer b", "answered"]


async def test_nothing_is_acted_on_until_logged(lab):
    lab.queue()
    await lab.agent("a")
    t = await lab.enqueue("c1", timeout=100)
    offer = one_offer(t)
    lab.log.fail = True
    with pytest.raises(ConnectionError):
        await lab.svc.accepted(offer)
    assert not t.done and items(t) == []  # not resolved: "answered" is not logged yet
    assert not lab.log.find("contact.answered")
    lab.log.fail = False
    await lab.advance(1)  # the next write catches up, in order, then acts
    assert items(t) == [Finished(Outcome.ANSWERED)]
    assert lab.log.types()[-2:] == ["agent.accept", "contact.answered"]


async def test_a_change_does_not_wait_for_the_one_before_to_be_logged(lab):
    """Under load the log is slow: changes made meanwhile hand their events over at once
    (the store commits them together) instead of waiting in line, and keep their order."""
    lab.queue()
    gate = asyncio.Event()
    in_flight = []
    log = lab.log

    async def slow_log(**record):
        in_flight.append(record["type"])
        await gate.wait()
        return await log(**record)

    lab.svc._outbox.log = slow_log
    first = asyncio.create_task(lab.enqueue("c1"))
    second = asyncio.create_task(lab.enqueue("c2"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert in_flight == ["contact.join", "contact.join"]  # both handed over, none logged
    assert not first.done() and not second.done()  # nobody told before it is logged
    gate.set()
    await asyncio.gather(first, second)
    assert [r["contact"] for r in lab.log.find("contact.join")] == ["c1", "c2"]


async def test_a_failed_enqueue_takes_the_contact_back_out(lab):
    lab.queue()
    await lab.agent("a")
    lab.log.fail = True
    with pytest.raises(ConnectionError):
        await lab.enqueue("c1")
    assert lab.svc.position("c1") is None
    assert lab.state("a") == ("available", None)
    lab.log.fail = False
    t = await lab.enqueue("c1")  # the same contact may try again
    assert one_offer(t).agent == "a"
    assert lab.log.types("contact.")[:4] == [
        "contact.join",
        "contact.offer",
        "contact.leave",
        "contact.join",
    ]


# ---- presence and reachability --------------------------------------------------------


async def test_unreachable_agent_is_not_offered(lab):
    lab.queue()
    await lab.agent("a")  # longest idle: would be first
    lab.clock.now = 1
    await lab.agent("b")
    await lab.svc.reachable("a", "voice", False)
    assert lab.state("a") == ("paused", UNREACHABLE_REASON)
    assert not lab.svc.is_reachable("a", "voice")
    t = await lab.enqueue("c1")
    assert one_offer(t).agent == "b"
    await lab.svc.reachable("a", "voice", True)
    assert lab.state("a") == ("available", None)
    assert lab.log.types("agent.")[-2:] == ["agent.reachable", "agent.unpause"]
    assert lab.log.find("agent.unreachable", agent="a")[0]["data"]["channel"] == "voice"


async def test_unreachable_keeps_the_agents_own_pause_and_resists_unpause(lab):
    lab.queue()
    await lab.agent("a")
    await lab.svc.reachable("a", "voice", False)
    await lab.svc.unpause("a")
    assert lab.state("a") == ("paused", UNREACHABLE_REASON)
    await lab.svc.pause("a", "lunch")
    await lab.svc.reachable("a", "voice", True)
    assert lab.state("a") == ("paused", "lunch")
    with pytest.raises(ValueError, match="reserved for the system"):
        await lab.svc.pause("a", UNREACHABLE_REASON)


async def test_login_while_unreachable_is_paused(lab):
    lab.queue()
    await lab.agent("a", login=False)
    await lab.svc.reachable("a", ["voice", "callback"], False)
    await lab.svc.login("a")
    assert lab.state("a") == ("paused", UNREACHABLE_REASON)
    t = await lab.enqueue("c1")
    assert items(t) == []
    await lab.svc.reachable("a", "voice", True)
    assert lab.state("a") == ("reserved", None)
    assert lab.state("a", "callback") == ("paused", UNREACHABLE_REASON)


async def test_unreachable_while_ringing_pauses_once_the_offer_ends(lab):
    lab.queue(strategy="rrmemory")
    await lab.agent("a")
    await lab.agent("b")
    t = await lab.enqueue("c1")
    offer = one_offer(t)
    await lab.svc.reachable("a", "voice", False)
    assert lab.state("a") == ("reserved", None)
    await lab.svc.failed(offer, "unregistered")
    assert lab.state("a") == ("paused", UNREACHABLE_REASON)
    assert one_offer(t).agent == "b"


async def test_presence_errors_change_nothing(lab):
    lab.queue()
    await lab.agent("a", capacity={"voice": 1, "chat": 2})
    with pytest.raises(RoutingError, match="unknown agent"):
        await lab.svc.login("nobody")
    with pytest.raises(IllegalTransition, match="cannot login"):
        await lab.svc.login("a", ["voice"])
    with pytest.raises(RoutingError, match="no capacity for callback"):
        await lab.svc.reachable("a", "callback", False)
    await lab.svc.logout("a", ["chat"])
    assert lab.state("a", "chat") == ("offline", None)
    await lab.svc.login("a", ["chat"], paused="training")
    assert lab.state("a", "chat") == ("paused", "training")


# ---- queries --------------------------------------------------------------------------


async def test_queue_status_and_snapshot(lab):
    lab.queue(default_handle_time=60)
    await lab.agent("a")
    t = await lab.enqueue("c1")
    await lab.svc.accepted(one_offer(t))
    lab.clock.now = 5
    await lab.enqueue("c2")
    lab.clock.now = 15
    status = lab.svc.queue_status("q")
    assert (status.waiting, status.agents_logged_in, status.agents_free) == (1, 1, 0)
    assert status.longest_wait == 10
    assert status.eta == 120.0 == lab.svc.queue_eta("q")
    assert status.variables()["queue_eta"] == 120
    snap = lab.svc.snapshot()
    assert snap.at == 15 and snap.queues[0].waiting == 1
    assert snap.agents[0].channels["voice"].state == "busy"
    with pytest.raises(RoutingError):
        lab.svc.queue_status("nope")


# ---- ticker ---------------------------------------------------------------------------


async def test_ticker_delivers_ring_timeouts_and_stop_leaves_no_tasks(lab):
    lab.queue(ring_timeout=5)
    await lab.agent("a")
    t = await lab.enqueue("c1")
    offer = one_offer(t)
    before = asyncio.all_tasks()
    await lab.svc.start()
    await lab.svc.start()  # idempotent
    assert lab.svc.running
    lab.clock.now = 5
    assert await asyncio.wait_for(t.next(), 1) == Withdrawn(offer, "ring timeout")
    await lab.svc.stop()
    assert not lab.svc.running
    assert asyncio.all_tasks() == before
    await lab.svc.stop()  # idempotent


async def test_ticker_survives_a_failing_log(lab, caplog):
    lab.queue(max_wait=1)
    t = await lab.enqueue("c1")
    lab.log.fail = True
    await lab.svc.start()
    lab.clock.now = 1
    async with asyncio.timeout(5):  # a loaded machine may run the first ticks late
        while "routing tick failed" not in caplog.text:
            await asyncio.sleep(0.001)
    assert not t.done
    lab.log.fail = False
    assert await asyncio.wait_for(t.outcome, 1) is Outcome.TIMEOUT
    await lab.svc.stop()


# ---- lazy logging ---------------------------------------------------------------------


class HeldLog:
    """Store.append_soon(lazy=True) for the Lab: records wait in line until `hurry`."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.held: list[tuple[dict, asyncio.Future[None]]] = []

    def __call__(self, **record) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.held.append((record, done))
        return done

    def hurry(self) -> None:
        held, self.held = self.held, []
        for record, done in held:
            self.log.records.append({"seq": len(self.log.records), **record})
            done.set_result(None)


async def test_a_ring_and_a_finish_nothing_follows_from_are_not_waited_for(lab):
    held = HeldLog(lab.log)
    lab.svc = RoutingService(
        lab.router, lab.log, clock=lab.clock, tick_interval=0.001, lazy=LazyLog(held, held.hurry)
    )
    lab.queue()
    await lab.agent("a")
    ticket = await lab.enqueue("c1")
    offer = one_offer(ticket)
    assert await lab.svc.ringing(offer) is True
    assert lab.state("a") == ("ringing", None)  # changed at once, logged later
    await asyncio.sleep(0)  # the outbox's writer hands the record to the lazy log
    assert [r["type"] for r, _ in held.held] == ["agent.ring"]
    assert "agent.ring" not in lab.log.types()
    await lab.svc.accepted(offer)  # waited for: the ring before it is hurried, in order
    assert held.held == []
    assert lab.log.types("agent.")[-2:] == ["agent.ring", "agent.accept"]
    await lab.svc.finished("a", "c1")
    await asyncio.sleep(0)
    assert [r["type"] for r, _ in held.held] == ["agent.finish"]
    t2 = await lab.enqueue("c2")  # waited for (an offer follows): the finish goes first
    assert held.held == []
    assert lab.log.types("agent.")[-2:] == ["agent.finish", "agent.reserve"]
    offer2 = one_offer(t2)
    await lab.svc.ringing(offer2)
    await lab.svc.accepted(offer2)
    t3 = await lab.enqueue("c3")
    assert items(t3) == []
    # A finish that frees the agent for a waiting contact is waited for: the offer
    # follows from it.
    await lab.svc.finished("a", "c2")
    assert one_offer(t3).agent == "a"
    assert lab.log.types("agent.")[-2:] == ["agent.finish", "agent.reserve"]
    assert held.held == []
    await lab.svc.stop()
