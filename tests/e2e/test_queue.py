"""Voice queues on a real Asterisk: callers wait with music, agents' phones (SIPp, on
fixed contacts) ring, the first to answer talks to the caller.

Queues and agents are the session's test ones (tests/e2e/conftest.py: TEST_QUEUES):
304 -> e2e_fifo (carol), 305 -> e2e_skip (dave first, then erin), 306 -> e2e_slow
(frank, leave key *).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from hotline.store import Store
from tests.e2e.conftest import RunningHotline
from tests.e2e.rtp import RtpSink
from tests.e2e.sipp import ExpectHangup, Keys, SippCall, Wait
from tests.e2e.sipp_uas import Behaviour, TransferTarget
from tests.e2e.test_callbacks import api
from tests.e2e.test_ivr_call import contact_of, nodes, of_type

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]


def phone(hotline: RunningHotline, agent: str, behaviour: Behaviour, **kw: float) -> TransferTarget:
    """The agent's phone, answering (or not) on the agent's fixed contact."""
    port = hotline.targets[agent]
    return TransferTarget(hotline.workdir / "phones", behaviour, port, **kw).start()  # type: ignore[arg-type]


def caller(hotline: RunningHotline, number: str, dial: str, steps: list) -> SippCall:  # type: ignore[type-arg]
    return SippCall(hotline.workdir / "sipp", hotline.sip_port, dial, number, steps).start()


def test_one_agent_serves_callers_in_arrival_order(hotline: RunningHotline) -> None:
    carol = phone(hotline, "carol", "answer", ring=0.5, talk=1.5, calls=3)
    numbers = ["5553001", "5553002", "5553003"]
    calls = []
    for number in numbers:
        calls.append(caller(hotline, number, "304", [ExpectHangup(60)]))
        time.sleep(0.8)
    for call in calls:
        result = call.wait(90)
        assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert carol.wait_done().ok

    connected = []
    for number in numbers:
        contact, events = contact_of(hotline, number)
        assert contact.status == "completed"
        (link,) = of_type(events, "queue.connected")
        assert link["agent"] == "carol" and link["queue"] == "e2e_fifo"
        connected.append(next(e.id for e in events if e.type == "queue.connected"))
        assert nodes(events)[-3:] == ["to_fifo", "goodbye", "end"]
        (ended,) = of_type(events, "queue.call_ended")
        assert ended["ended_by"] == "agent"
    # Served first come, first served: the event log orders them.
    assert connected == sorted(connected)
    # The last caller waited behind two others: told its place and wait on arrival,
    # then the periodic prompt after its interval.
    _, last = contact_of(hotline, numbers[-1])
    said = of_type(last, "queue.announced")
    assert said[0]["position"] >= 2 and said[0]["eta_minutes"] >= 1
    assert "periodic" not in said[0]
    assert any(a.get("periodic") == "queue_thanks" for a in said[1:])


def test_agent_who_does_not_answer_is_passed_over(hotline: RunningHotline) -> None:
    dave = phone(hotline, "dave", "no_answer", wait=30)
    erin = phone(hotline, "erin", "answer", ring=0.5, talk=1.0)
    call = caller(hotline, "5553010", "305", [ExpectHangup(60)])
    try:
        result = call.wait(90)
    finally:
        # e2e_skip pauses an agent who does not answer: dave serves later tests of this
        # Hotline (test_call_consult consults him).
        api(hotline, "POST", "/api/agents/dave/unpause", {})
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert erin.wait_done().ok and dave.wait_done().ok

    contact, events = contact_of(hotline, "5553010")
    rung = [e.agent for e in events if e.type == "agent.ring"]
    assert rung == ["dave", "erin"]
    assert [e.agent for e in events if e.type == "agent.no_answer"] == ["dave"]
    (link,) = of_type(events, "queue.connected")
    assert link["agent"] == "erin"
    assert contact.status == "completed"


def waiting_in(hotline: RunningHotline, queue: str) -> list[str]:
    """The ids of `queue`'s holding bridges with a caller in them."""
    bridges = hotline.ari("bridges")
    assert isinstance(bridges, list)
    return [b["id"] for b in bridges if b["id"].startswith(f"hold-{queue}-") and b["channels"]]


def test_callers_leave_with_the_leave_key_one_after_another_in_the_same_holding_bridge(
    hotline: RunningHotline,
) -> None:
    """A caller leaves the queue with its leave key (*): the flow goes on after the
    queue node, frank's ringing is cancelled. Holding bridges are pooled
    (ari_app/holding.py): the bridge that caller waited in, empty again, is the next
    caller's, neither destroyed nor made anew, and its music plays to them as it did
    to the first. (One test: the second caller is what the first one's bridge is for.)"""
    frank = phone(hotline, "frank", "no_answer", wait=30, calls=2)
    held: list[list[str]] = []
    sink = RtpSink()
    try:
        for number, wait in (("5553020", 3.0), ("5553031", 8.0)):
            start = time.monotonic()
            steps = [Wait(wait), Keys("*"), ExpectHangup(30)]
            call = SippCall(
                hotline.workdir / "sipp", hotline.sip_port, "306", number, steps, rtp_port=sink.port
            ).start()
            deadline = time.monotonic() + 10
            while not (waiting := waiting_in(hotline, "e2e_slow")) and time.monotonic() < deadline:
                time.sleep(0.1)
            held.append(waiting)
            result = call.wait(60)
            assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    finally:
        sink.close()
    assert frank.wait_done().ok  # its ringing was cancelled, each time
    assert len(held[0]) == 1 and held[0] == held[1], held
    # The second caller's music, after their position announcement (~4 s).
    music = sink.audible_seconds(start + 4.5, start + 7.5)
    assert music >= 2.0, f"{music:.2f} s of sound in 3 s of waiting in a reused bridge"
    # Still there, empty: idle in the pool for the next caller (not a leak: no_leaks).
    (bridge,) = held[0]
    bridges = hotline.ari("bridges")
    assert isinstance(bridges, list)
    assert [b["channels"] for b in bridges if b["id"] == bridge] == [[]]
    for number in ("5553020", "5553031"):
        contact, events = contact_of(hotline, number)
        assert of_type(events, "queue.left") == [{"key": "*"}]
        assert nodes(events)[-3:] == ["after_leaving", "goodbye", "end"]
        assert not of_type(events, "queue.connected")
        assert contact.status == "completed"


def test_agent_phone_shows_the_customer_name(hotline: RunningHotline) -> None:
    async def name_the_customer() -> None:
        store = await Store.connect(hotline.database_url)
        try:
            customer = await store.customer_for_phone("5553301")
            assert customer is not None
            await store.update_customer(customer.id, display_name="Ann Example")
        finally:
            await store.close()

    asyncio.run(name_the_customer())
    carol = phone(hotline, "carol", "answer", ring=0.5, talk=1.0)
    call = caller(hotline, "5553301", "304", [ExpectHangup(40)])
    assert call.wait(60).ok
    assert carol.wait_done().ok
    invite = carol.messages().split("INVITE sip:", 1)[1]
    assert 'From: "Ann Example" <sip:5553301@' in invite


def test_flow_reads_the_queue_status(hotline: RunningHotline) -> None:
    call = caller(hotline, "5553401", "310", [ExpectHangup(30)])
    assert call.wait(40).ok
    _, events = contact_of(hotline, "5553401")
    values = {v["name"]: v["value"] for v in of_type(events, "flow.variable")}
    # carol serves e2e_fifo: logged in (fixed contact, so reachable), nobody waiting.
    assert values["queue_agents_logged_in"] == 1
    assert values["queue_waiting"] == 0
    assert values["queue_eta"] >= 0
    assert nodes(events)[-3:] == ["status", "goodbye", "end"]
