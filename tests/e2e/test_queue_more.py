"""More of the voice queue on a real Asterisk: the caller hanging up on the agent, the
music on hold a waiting caller actually hears, and a real softphone (baresip) as agent.

Queues and agents are the session's test ones (tests/e2e/conftest.py): 304 -> e2e_fifo
(carol), 306 -> e2e_slow (frank), 307 -> e2e_soft (gina, no fixed contact: a
softphone registers for her).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.store import LoggedEvent, Store
from tests.e2e.conftest import RunningHotline
from tests.e2e.rtp import RtpSink
from tests.e2e.sipp import ExpectHangup, HangUp, Keys, SippCall, Speak, Wait
from tests.e2e.test_agent_presence import post, wait_state
from tests.e2e.test_ivr_call import contact_of, nodes, of_type
from tests.e2e.test_queue import caller, phone
from tests.e2e.test_softphone import Baresip, agent_state, rms

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]


def agent_events(hotline: RunningHotline, agent: str, since: datetime) -> list[LoggedEvent]:
    """The agent's events (with or without a contact) logged since `since`."""

    async def read() -> list[LoggedEvent]:
        store = await Store.connect(hotline.database_url)
        try:
            end = datetime.now(UTC) + timedelta(minutes=1)
            return [e for e in await store.events_between(since, end) if e.agent == agent]
        finally:
            await store.close()

    return asyncio.run(read())


def wait_for_agent_event(
    hotline: RunningHotline,
    agent: str,
    kind: str,
    since: datetime,
    contact_id: str,
    timeout: float = 5,
) -> list[LoggedEvent]:
    """The agent's events from their accept of this contact on, once `kind` is among them
    (a previous call's wrap-up may end just before)."""
    deadline = time.monotonic() + timeout
    while True:
        events = agent_events(hotline, agent, since)
        accepts = [
            i
            for i, e in enumerate(events)
            if e.type == "agent.accept" and e.contact_id == contact_id
        ]
        events = events[accepts[0] :] if accepts else []
        if any(e.type == kind for e in events):
            return events
        assert time.monotonic() < deadline, f"no {kind} for {agent}: {[e.type for e in events]}"
        time.sleep(0.2)


@pytest.mark.parametrize(
    ("number", "dial"), [("5553101", "304"), ("5553102", "2304")], ids=["ari", "fastagi"]
)
def test_caller_hangs_up_while_talking_to_the_agent(
    hotline: RunningHotline, number: str, dial: str
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    # Carol's phone answers and talks until the other side hangs up (at most 30 s).
    # Over FastAGI the flow hands the channel to the ARI side's queue and back.
    carol = phone(hotline, "carol", "answer_until_hangup", ring=0.5, talk=30)
    call = caller(hotline, number, dial, [Wait(4), HangUp()])
    result = call.wait(30)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    # The agent's leg was hung up by Hotline: her phone got the BYE and answered it.
    done = carol.wait_done(15)
    assert done.ok, done.output

    contact, events = contact_of(hotline, number)
    (link,) = of_type(events, "queue.connected")
    assert link["agent"] == "carol" and link["queue"] == "e2e_fifo"
    (ended,) = of_type(events, "queue.call_ended")
    assert ended["agent"] == "carol" and ended["ended_by"] == "caller"
    assert 1 <= ended["talk_seconds"] <= 6
    # Served by an agent, then the caller hung up: the normal end of a call.
    (call_ended,) = of_type(events, "call.ended")
    assert call_ended == {
        "status": "completed",
        "reason": "caller_hangup_after_agent",
        "hung_up_by": "caller",
    }
    assert contact.status == "completed"
    # The engine did not count it as a caller leaving the queue either.
    assert not of_type(events, "contact.leave")

    # Carol: accepted, finished (to wrap-up), then available again.
    agent = wait_for_agent_event(hotline, "carol", "agent.wrap_end", since, contact.id)
    kinds = [e.type for e in agent]
    assert kinds.index("agent.accept") < kinds.index("agent.finish") < kinds.index("agent.wrap_end")
    finish = next(e for e in agent if e.type == "agent.finish")
    assert finish.contact_id == contact.id and finish.data["to"] == "wrap_up"
    wrap_end = next(e for e in agent if e.type == "agent.wrap_end")
    assert wrap_end.data["to"] == "available"


def test_an_agent_who_hangs_up_at_once_is_a_short_call_not_a_failure(
    hotline: RunningHotline,
) -> None:
    """Carol answers and hangs up straight away, often before the caller and her leg are
    in one bridge: the call is answered (talk of ~0 s) and the caller's flow goes on to
    its goodbye; nothing fails and no channel is left behind."""
    carol = phone(hotline, "carol", "answer", ring=0.2, talk=0)
    call = caller(hotline, "5553103", "304", [ExpectHangup(30)])
    result = call.wait(40)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert carol.wait_done(15).ok
    contact, events = contact_of(hotline, "5553103")
    assert not of_type(events, "flow.error"), hotline.log_tail()
    (ended,) = of_type(events, "queue.call_ended")
    assert ended["agent"] == "carol" and ended["ended_by"] == "agent"
    assert ended["talk_seconds"] < 2
    assert [o["outcome"] for o in of_type(events, "flow.outcome") if o["node"] == "to_fifo"] == [
        "answered"
    ]
    assert contact.status == "completed"


def test_waiting_caller_hears_music_on_hold(hotline: RunningHotline) -> None:
    frank = phone(hotline, "frank", "no_answer", wait=30)
    sink = RtpSink()
    try:
        start = time.monotonic()
        call = SippCall(
            hotline.workdir / "sipp",
            hotline.sip_port,
            "306",
            "5553102",
            [Wait(9), HangUp()],
            rtp_port=sink.port,
        ).start()
        result = call.wait(30)
        assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    finally:
        sink.close()
    assert frank.wait_done(15).ok  # rung all along, cancelled when the caller left

    contact, events = contact_of(hotline, "5553102")
    assert not of_type(events, "queue.connected")
    assert contact.status == "abandoned"  # hung up while waiting
    # The position announcement is over within ~4 s; from then on, only the music.
    music = sink.audible_seconds(start + 4.5, start + 8.5)
    assert music >= 3.0, (
        f"{music:.2f} s of sound in 4 s of waiting; "
        f"{len(sink.packets)} packets, types {sorted({p.payload_type for p in sink.packets})}"
    )
    assert sink.audible_seconds() >= 6.0


@pytest.fixture
def gina_phone(hotline: RunningHotline, tmp_path: Path) -> Iterator[Baresip]:
    if not shutil.which("baresip"):
        pytest.skip("baresip is not installed")
    password = hotline.secrets["agent_passwords"]["2005"]
    phone = Baresip(tmp_path / "baresip", "2005", password, hotline.sip_port, ";answermode=auto")
    try:
        yield phone
    finally:
        phone.stop()
        # Unregistered again: the agent is offered no more calls.
        deadline = time.monotonic() + 10
        while agent_state(hotline, "gina") == "reachable" and time.monotonic() < deadline:
            time.sleep(0.2)


def test_softphone_agent_answers_a_queued_call(
    hotline: RunningHotline, gina_phone: Baresip
) -> None:
    deadline = time.monotonic() + 20
    while agent_state(hotline, "gina") != "reachable":
        assert time.monotonic() < deadline, gina_phone.log.read_text()[-2000:]
        time.sleep(0.3)

    steps = [Wait(3), Speak("Hello, I would like to talk about my order, please."), HangUp()]
    result = caller(hotline, "5553103", "307", steps).wait(40)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"

    contact, events = contact_of(hotline, "5553103")
    (link,) = of_type(events, "queue.connected")
    assert link["agent"] == "gina" and link["queue"] == "e2e_soft"
    (ended,) = of_type(events, "queue.call_ended")
    assert ended["agent"] == "gina" and ended["ended_by"] == "caller"
    assert contact.status == "completed"

    # The caller's speech reached the agent's softphone.
    dumps = gina_phone.received_audio()
    assert dumps, f"baresip dumped no audio:\n{gina_phone.log.read_text()[-2000:]}"
    assert max(rms(p) for p in dumps) > 0.02


@pytest.fixture
def alice_auto(hotline: RunningHotline, tmp_path: Path) -> Iterator[Baresip]:
    if not shutil.which("baresip"):
        pytest.skip("baresip is not installed")
    token = hotline.secrets["api_token"]
    password = hotline.secrets["agent_passwords"]["1001"]
    phone = Baresip(tmp_path / "alice", "1001", password, hotline.sip_port, ";answermode=auto")
    post(hotline, "/api/agents/alice/login", None, token)
    try:
        yield phone
    finally:
        phone.stop()
        post(hotline, "/api/agents/alice/logout", None, token)  # as the session had her


def test_demo_flow_caller_reaches_an_agent(hotline: RunningHotline, alice_auto: Baresip) -> None:
    """ivr_flows/main.yaml, English, option 2: the support queue, answered by alice."""
    wait_state(hotline, "alice", "available")
    steps = [Wait(2.5), Keys("1"), Wait(1.5), Keys("2"), Wait(5), HangUp()]
    result = caller(hotline, "5553501", "100", steps).wait(40)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"

    contact, events = contact_of(hotline, "5553501")
    assert nodes(events)[-2:] == ["main_menu", "to_agent"]
    (link,) = of_type(events, "queue.connected")
    assert link["agent"] == "alice" and link["queue"] == "support"
    assert contact.status == "completed"
