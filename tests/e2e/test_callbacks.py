"""Callbacks that keep the caller's place, on a real Asterisk with SIPp phones.

Queue e2e_cb (number 321; tests/e2e/conftest.py) is served by ivan, whose phone is a
SIPp UAS on his fixed contact; key 5 books a callback. Callbacks dial the "customer"
SIPp UAS (callbacks.dial_template: PJSIP/anonymous/sip:<number>@127.0.0.1:<port>), so
the number being called back is the user part of the INVITE it receives. Number 322
books a callback with the flow's `callback` node.

The module runs a Hotline of its own whose prompts are short tones
(tests/e2e/short_prompts.py): the tests check which prompts were played (their
events), not what they say, and callers act once the event log shows the call is
ready (tests/e2e/gates.py), not after pauses sized for spoken prompts. "Your callback
is booked" lasts 2 s: a caller hangs up during it.

The agent's whisper reads the number called back digit by digit (Asterisk's own digit
sounds, ~0.85 s each): test_caller_books_a_callback_and_keeps_their_place calls back a
7-digit number, the other callbacks the shortest a callback may have (5 digits,
`callbacks.min_length`), whose whisper is ~1.7 s shorter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hotline.store import LoggedEvent, Store
from hotline.store.callbacks import Callback
from tests.e2e import conftest
from tests.e2e.conftest import RunningHotline, spawn, wait_ready, with_test_flows
from tests.e2e.gates import Gates
from tests.e2e.short_prompts import (
    hotline_with_short_prompts,
    with_short_prompts,
    without_speech,
)
from tests.e2e.sipp import ExpectHangup, Gate, HangUp, Keys, SippCall, Wait
from tests.e2e.sipp_uas import Behaviour, TransferTarget
from tests.e2e.test_ivr_call import contact_of, live_events, of_type, prompts

pytestmark = pytest.mark.e2e

QUEUE = "e2e_cb"
#: Prompts a caller hangs up during, and how long they last (the others: 0.3 s).
LONGER = {"callback_booked": 2.0}


@pytest.fixture(scope="module")
def hotline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHotline]:
    """This module's Hotline: the session's flows, queues and agents, short prompts."""
    with hotline_with_short_prompts(tmp_path_factory, "callbacks", LONGER) as running:
        yield running


# ---- helpers ----------------------------------------------------------------------------


def api(
    hotline: RunningHotline, method: str, path: str, body: dict | None = None, token: str = ""
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{hotline.web_url}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token or hotline.secrets['api_token']}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def phone(hotline: RunningHotline, name: str, behaviour: Behaviour, **kw: float) -> TransferTarget:
    """ivan's phone, or the customer's (behaviour as tests/e2e/sipp_uas.py)."""
    port = hotline.targets[name]
    return TransferTarget(hotline.workdir / "phones", behaviour, port, **kw).start()  # type: ignore[arg-type]


def caller(hotline: RunningHotline, number: str, dial: str, steps: list) -> SippCall:  # type: ignore[type-arg]
    return SippCall(hotline.workdir / "sipp", hotline.sip_port, dial, number, steps).start()


def gated(
    hotline: RunningHotline,
    number: str,
    dial: str,
    steps: list,
    opens: list,  # type: ignore[type-arg]
) -> tuple[SippCall, Gates]:
    """A caller whose Gate steps open as its events reach `opens` (tests/e2e/gates.py)."""
    gates = Gates(hotline, number, opens)  # before the call: its contact is new
    call = caller(hotline, number, dial, steps)
    return call, gates.start(call)


def played_twice(key: str) -> Callable[[list[LoggedEvent]], bool]:
    """The events show prompt `key` played twice."""
    return lambda events: [k for k, _ in prompts(events)].count(key) >= 2


def read_store(hotline: RunningHotline, work: Callable[[Store], Any]) -> Any:
    async def run() -> Any:
        store = await Store.connect(hotline.database_url)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def callbacks_of(hotline: RunningHotline, number: str) -> list[Callback]:
    """Every callback booked for `number`, oldest first, in any state."""

    async def work(store: Store) -> list[Callback]:
        from sqlalchemy import select

        from hotline.store.callbacks import CALLBACKS

        query = select(CALLBACKS).where(CALLBACKS.c.number == number).order_by(CALLBACKS.c.seq)

        async def op(conn: Any) -> list[Callback]:
            return [Callback(**row._mapping) for row in (await conn.execute(query)).all()]

        return await store.read(op, "test callbacks")

    return read_store(hotline, work)


def events_of(hotline: RunningHotline, contact_id: str) -> list[LoggedEvent]:
    return read_store(hotline, lambda store: store.events(contact_id))


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def final(hotline: RunningHotline, number: str, timeout: float = 60) -> Callback:
    """The number's (one) callback once it is completed, failed or cancelled."""

    def done() -> Callback | None:
        rows = callbacks_of(hotline, number)
        return rows[-1] if rows and not rows[-1].open else None

    return wait_for(done, timeout, f"the callback to {number} to end")


@contextlib.contextmanager
def ivan_paused(hotline: RunningHotline) -> Iterator[None]:
    """Nobody answers queue e2e_cb meanwhile: callers and callbacks wait."""
    status, body = api(hotline, "POST", "/api/agents/ivan/pause", {"reason": "break"})
    assert status == 200, body
    try:
        yield
    finally:
        api(hotline, "POST", "/api/agents/ivan/unpause", {})


def no_callback_for(hotline: RunningHotline, number: str) -> None:
    assert callbacks_of(hotline, number) == []


# ---- a caller keeps their place -------------------------------------------------------


@pytest.mark.usefixtures("no_leaks")
def test_caller_books_a_callback_and_keeps_their_place(hotline: RunningHotline) -> None:
    with ivan_paused(hotline):
        # A presses 5 while waiting, confirms their own number with 1 a second later
        # (its read-back, or the wait for a key after it) and hangs up during "your
        # callback is booked"; B waits on the line behind them.
        steps = [Gate(), Keys("5"), Wait(1), Keys("1"), Gate(), HangUp()]
        a, gates = gated(hotline, "5557001", "321", steps, ["contact.join", "queue.callback"])
        wait_for(
            lambda: of_type(live_events(hotline, "5557001"), "contact.join"), 15, "A in the queue"
        )
        # B stays on the line until ivan, done with A's callback, has talked to them.
        b = caller(hotline, "5557002", "321", [ExpectHangup(90)])
        assert a.wait(30).ok, hotline.log_tail()
        gates.check()
        (booked,) = wait_for(lambda: callbacks_of(hotline, "5557001"), 10, "the booking")
        assert booked.state == "pending" and booked.source == "voice"
        # B is still waiting, behind A's callback.
        status, body = api(hotline, "GET", f"/api/callbacks?queue={QUEUE}")
        assert status == 200
        (listed,) = body["callbacks"]
        assert listed["number"] == "5557001" and listed["position"] == 1
        # ivan hangs up 18 s after answering the callback (its whisper, the number
        # read digit by digit, and the customer's ringing take 7-11 s of it on a busy
        # machine), 3 s after answering B; the customer answers 1 s after ringing and
        # talks until ivan hangs up.
        ivan = phone(hotline, "ivan", "answer", ring=0.5, first_talk=18, talk=3, calls=2)
        customer = phone(hotline, "customer", "answer_until_hangup", ring=1.0, talk=30)
    # ivan is back: the callback first (A's place), then B.
    done = final(hotline, "5557001")
    assert done.state == "completed" and done.attempts == 1
    assert customer.wait_done(30).ok
    assert b.wait(60).ok, hotline.log_tail()
    assert ivan.wait_done(30).ok
    assert "INVITE sip:5557001@" in customer.messages()

    # A's call: the callback was booked before A was told, then A hung up: not abandoned.
    contact_a, events_a = contact_of(hotline, "5557001")
    (told,) = of_type(events_a, "queue.callback")
    assert told == {"queue": QUEUE, "callback": done.contact_id, "number": "5557001"}
    played = [key for key, _ in prompts(events_a)]
    assert played[:3] == ["callback_number_is", "digits:5557001", "callback_confirm"]
    # A hung up during "your callback is booked" (an interrupted prompt is not logged
    # as played): nothing more was asked of them.
    assert contact_a.status == "completed"
    assert of_type(events_a, "call.ended")[0]["reason"] == "callback_booked"

    # The callback: the agent's phone rang first, the whisper, then the customer.
    events = events_of(hotline, done.contact_id)
    kinds = [e.type if e.type != "callback.attempt" else e.data["event"] for e in events]
    order = ["callback.requested", "agent.ring", "agent.accept", "whisper", "dialing"]
    order += ["answered", "callback.completed"]
    assert [k for k in kinds if k in order] == order
    (completed,) = of_type(events, "callback.completed")
    assert completed["agent"] == "ivan" and completed["talk_seconds"] >= 1
    requested = of_type(events, "callback.requested")[0]
    assert requested["origin"] == contact_a.id

    # B kept waiting and was served after the callback: no overtaking either way.
    contact_b, events_b = contact_of(hotline, "5557002")
    (link,) = of_type(events_b, "queue.connected")
    assert link["agent"] == "ivan"
    accepted_callback = next(e.id for e in events if e.type == "agent.accept")
    accepted_b = next(e.id for e in events_b if e.type == "agent.accept")
    assert accepted_callback < accepted_b
    assert contact_b.status == "completed"


@pytest.mark.usefixtures("no_leaks")
def test_a_failed_attempt_is_retried(hotline: RunningHotline) -> None:
    ivan = phone(hotline, "ivan", "answer_until_hangup", ring=0.3, talk=40, calls=2)
    busy = phone(hotline, "customer", "busy")
    status, body = api(hotline, "POST", "/api/callbacks", {"number": "57101", "queue": QUEUE})
    assert status == 201, body
    assert body["callback"]["state"] == "pending"
    assert busy.wait_done(40).ok
    answer = phone(hotline, "customer", "answer", ring=0.5, talk=2.0)
    done = final(hotline, "57101")
    assert answer.wait_done(30).ok and ivan.wait_done(30).ok
    assert (done.state, done.attempts, done.outcome) == ("completed", 2, "completed")

    events = events_of(hotline, done.contact_id)
    attempts = [
        (e.data["event"], e.data.get("attempt"), e.data.get("reason"))
        for e in events
        if e.type == "callback.attempt" and e.data["event"] in ("dialing", "failed", "answered")
    ]
    assert attempts == [
        ("dialing", 1, None),
        ("failed", 1, "busy"),
        ("dialing", 2, None),
        ("answered", 2, None),
    ]
    (retry,) = of_type(events, "callback.scheduled")
    assert retry["reason"] == "retry after busy"
    assert events[-1].type == "callback.completed" and events[-1].data["attempt"] == 2
    # ivan was rung for each attempt, first, and wrapped up in between.
    assert [e.type for e in events].count("agent.ring") == 2


# ---- bad input --------------------------------------------------------------------------


@pytest.mark.usefixtures("no_leaks")
def test_a_number_that_fails_validation(hotline: RunningHotline) -> None:
    with ivan_paused(hotline):
        # 2 at the read-back: enter another number; "12#" is too short to call.
        steps = [Gate(), Keys("5"), Wait(1), Keys("2"), Gate(), Wait(0.5), Keys("12#")]
        steps += [Gate(), HangUp()]
        opens = ["contact.join", "prompt:callback_enter_number", "prompt:callback_invalid_number"]
        call, gates = gated(hotline, "5557201", "321", steps, opens)
        assert call.wait(40).ok, hotline.log_tail()
        gates.check()
    contact, events = contact_of(hotline, "5557201")
    played = [key for key, _ in prompts(events)]
    assert "callback_enter_number" in played
    assert played[played.index("callback_enter_number") + 1] == "callback_invalid_number"
    no_callback_for(hotline, "5557201")
    no_callback_for(hotline, "12")
    assert contact.status == "abandoned"  # hung up while waiting, nothing booked


@pytest.mark.usefixtures("no_leaks")
def test_hang_up_during_confirmation(hotline: RunningHotline) -> None:
    with ivan_paused(hotline):
        # Asked to confirm the number read back, the caller hangs up a second after 5.
        steps = [Gate(), Keys("5"), Wait(1), HangUp()]
        call, gates = gated(hotline, "5557202", "321", steps, ["contact.join"])
        assert call.wait(30).ok, hotline.log_tail()
        gates.check()
    contact, events = contact_of(hotline, "5557202")
    # Asked to confirm the number, the caller hung up: nothing booked, and a hang-up
    # in the queue like any other.
    assert of_type(events, "queue.callback_asked") == [{"queue": QUEUE}]
    assert not of_type(events, "queue.callback")
    no_callback_for(hotline, "5557202")
    assert contact.status == "abandoned"
    assert [e.type for e in events].count("contact.leave") == 1


@pytest.mark.usefixtures("no_leaks")
def test_the_hotlines_own_number_is_refused(hotline: RunningHotline) -> None:
    with ivan_paused(hotline):
        # Calling from the hotline's own number (5550100), then typing it in a second
        # after being asked (typed at once after the prompt, a key went missing once:
        # 5550100 was taken as 555010).
        steps = [Gate(), Keys("5"), Gate(), Wait(1), Keys("5550100#"), Gate(), HangUp()]
        again = played_twice("callback_own_number")
        opens = ["contact.join", "prompt:callback_enter_number", again]
        call, gates = gated(hotline, "5550100", "321", steps, opens)
        assert call.wait(40).ok, hotline.log_tail()
        gates.check()
    _, events = contact_of(hotline, "5550100")
    played = [key for key, _ in prompts(events)]
    assert played[:2] == ["callback_own_number", "callback_enter_number"]
    assert played.count("callback_own_number") == 2
    no_callback_for(hotline, "5550100")
    status, body = api(hotline, "POST", "/api/callbacks", {"number": "100", "queue": QUEUE})
    assert status == 422 and body["reason"] in ("own_number", "invalid")


@pytest.mark.usefixtures("no_leaks")
def test_a_flood_from_one_number_is_limited(hotline: RunningHotline) -> None:
    number = "5557301"
    with ivan_paused(hotline):
        status, first = api(hotline, "POST", "/api/callbacks", {"number": number, "queue": QUEUE})
        assert status == 201
        status, body = api(hotline, "POST", "/api/callbacks", {"number": number, "queue": QUEUE})
        assert (status, body) == (
            422,
            {
                "error": f"{number} already has a callback waiting in queue {QUEUE}",
                "reason": "already_booked",
            },
        )
        # A caller from that number presses 5: told it is booked already, and waits on.
        steps = [Gate(), Keys("5"), Wait(1), Keys("1"), Gate(), HangUp()]
        opens = ["contact.join", "prompt:callback_already_booked"]
        call, gates = gated(hotline, number, "321", steps, opens)
        assert call.wait(40).ok, hotline.log_tail()
        gates.check()
        ids = [first["callback"]["id"]]
        status, _ = api(hotline, "DELETE", f"/api/callbacks/{ids[0]}")
        assert status == 200
        for _ in range(2):
            status, again = api(
                hotline, "POST", "/api/callbacks", {"number": number, "queue": QUEUE}
            )
            assert status == 201
            assert api(hotline, "DELETE", f"/api/callbacks/{again['callback']['id']}")[0] == 200
        status, body = api(hotline, "POST", "/api/callbacks", {"number": number, "queue": QUEUE})
        assert status == 422 and body["reason"] == "too_many"
        assert body["error"] == f"{number} booked 3 callbacks in the last hour (at most 3)"
    rows = callbacks_of(hotline, number)
    assert len(rows) == 3 and {r.state for r in rows} == {"cancelled"}
    _, events = contact_of(hotline, number)
    (refused,) = of_type(events, "queue.callback_refused")
    assert refused["reason"] == "already_booked"
    assert "callback_already_booked" in [key for key, _ in prompts(events)]


def test_the_api_needs_a_login(hotline: RunningHotline) -> None:
    status, _ = api(hotline, "GET", "/api/callbacks", token=None)  # type: ignore[arg-type]
    assert status == 401
    status, _ = api(hotline, "DELETE", "/api/callbacks/nope")
    assert status == 404


@pytest.mark.usefixtures("no_leaks")
def test_the_callback_node_books_from_a_flow(hotline: RunningHotline) -> None:
    with ivan_paused(hotline):
        # 1 at the read-back of the caller's number: booked.
        steps = [Gate(), Wait(0.5), Keys("1"), ExpectHangup(30)]
        call, gates = gated(hotline, "5557401", "322", steps, ["flow.node"])
        assert call.wait(40).ok, hotline.log_tail()
        gates.check()
        (booked,) = wait_for(lambda: callbacks_of(hotline, "5557401"), 10, "the booking")
        assert (booked.source, booked.state) == ("flow", "pending")
        status, body = api(hotline, "DELETE", f"/api/callbacks/{booked.contact_id}")
        assert status == 200 and body["callback"]["state"] == "cancelled"
    contact, events = contact_of(hotline, "5557401")
    assert of_type(events, "flow.callback")[0]["callback"] == booked.contact_id
    assert contact.status == "completed"


# ---- a controller killed and restarted ------------------------------------------------


@pytest.fixture
def own_hotline(tmp_path: Path) -> Iterator[dict]:
    """A Hotline of this test's own (it is killed): config, targets, and the running
    processes to clean up."""
    config, targets = with_test_flows(conftest.test_config(f"cbr-{os.getpid()}"), tmp_path)
    config = without_speech(with_short_prompts(config, tmp_path / "sounds", LONGER))
    # ivan is the only agent of e2e_cb; keep him from dialing until the test says.
    state: dict = {"config": config, "targets": targets, "workdir": tmp_path, "procs": []}
    try:
        yield state
    finally:
        for running in state["procs"]:
            if running.proc.poll() is None:
                running.proc.send_signal(signal.SIGINT)
                try:
                    running.proc.wait(60)
                except subprocess.TimeoutExpired:
                    running.proc.kill()
                    running.proc.wait()
        if state["procs"]:
            last = state["procs"][-1]
            pid_file = last.instance_dir() / "run/asterisk.pid"
            if pid_file.exists():
                with contextlib.suppress(ValueError, ProcessLookupError):
                    os.kill(int(pid_file.read_text() or 0), signal.SIGTERM)
            subprocess.run(["rm", "-rf", str(last.instance_dir())], check=False)


def test_callbacks_survive_a_controller_kill_in_order(own_hotline: dict) -> None:
    config, targets, workdir = own_hotline["config"], own_hotline["targets"], own_hotline["workdir"]
    first = spawn(config, workdir, targets)
    own_hotline["procs"].append(first)
    wait_ready(first)
    status, body = api(first, "POST", "/api/agents/ivan/pause", {"reason": "break"})
    assert status == 200, body
    numbers = ["57501", "57502", "57503"]
    for number in numbers:
        status, body = api(first, "POST", "/api/callbacks", {"number": number, "queue": QUEUE})
        assert status == 201, body
        time.sleep(0.2)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    # The phones are ready for three calls each: the restarted controller logs ivan in
    # afresh (available), and the callbacks are dialed as soon as it is up.
    ivan = phone(first, "ivan", "answer_until_hangup", ring=0.3, talk=40, calls=3)
    customer = phone(first, "customer", "answer", ring=0.3, talk=1.5, calls=3)

    second = spawn(config, workdir, targets, log_name="restarted")
    own_hotline["procs"].append(second)
    wait_ready(second)
    # Each callback joined its queue again after the restart, the oldest first.
    booked = [callbacks_of(second, number)[0].contact_id for number in numbers]
    joins = [
        [e.id for e in events_of(second, contact) if e.type == "contact.join"] for contact in booked
    ]
    assert all(len(j) >= 2 for j in joins), joins
    assert [j[1] for j in joins] == sorted(j[1] for j in joins)
    done = [final(second, number, 90) for number in numbers]
    assert [d.state for d in done] == ["completed"] * 3
    assert customer.wait_done(30).ok and ivan.wait_done(30).ok
    # Served in the order they were booked.
    completed = [
        next(e.id for e in events_of(second, d.contact_id) if e.type == "callback.completed")
        for d in done
    ]
    assert completed == sorted(completed)
    invites = [
        line.split()[1]
        for line in customer.messages().splitlines()
        if line.startswith("INVITE sip:")
    ]
    assert [uri.split("@")[0].removeprefix("sip:") for uri in invites] == numbers


@pytest.mark.usefixtures("no_leaks")
def test_customer_first(hotline: RunningHotline) -> None:
    # Queue e2e_cbf calls the customer first; they wait with music while kim's phone
    # rings, kim hears the whisper, then they talk.
    # The customer hangs up 14.5 s after answering: kim's ringing and whisper (the
    # number read digit by digit, 5 digits: ~0.85 s each) take 5.5-9.5 s of it on a
    # busy machine.
    customer = phone(hotline, "customer", "answer", ring=0.5, talk=14.5)
    kim = phone(hotline, "kim", "answer_until_hangup", ring=1.0, talk=40)
    status, body = api(hotline, "POST", "/api/callbacks", {"number": "57601", "queue": "e2e_cbf"})
    assert status == 201, body
    done = final(hotline, "57601", 60)
    assert customer.wait_done(30).ok and kim.wait_done(30).ok
    assert (done.state, done.attempts) == ("completed", 1)
    events = events_of(hotline, done.contact_id)
    steps = [e.data["event"] for e in events if e.type == "callback.attempt"]
    assert steps == ["dialing", "customer_on_line", "whisper", "answered"]
    (completed,) = of_type(events, "callback.completed")
    assert completed["agent"] == "kim" and completed["ended_by"] == "customer"
    assert "INVITE sip:57601@" in customer.messages()


@pytest.mark.usefixtures("no_leaks")
def test_an_agent_free_during_the_dialog_answers_the_caller(hotline: RunningHotline) -> None:
    ivan = phone(hotline, "ivan", "answer", ring=0.5, talk=3)  # then he hangs up
    with ivan_paused(hotline):
        steps = [Gate(), Keys("5"), ExpectHangup(40)]
        call, gates = gated(hotline, "5557701", "321", steps, ["contact.join"])
        wait_for(
            lambda: of_type(live_events(hotline, "5557701"), "queue.callback_asked"),
            15,
            "the caller to press 5",
        )
        time.sleep(1.0)  # into the read-back; ivan comes back now
    assert call.wait(40).ok, hotline.log_tail()
    gates.check()
    assert ivan.wait_done(30).ok
    contact, events = contact_of(hotline, "5557701")
    (stopped,) = of_type(events, "queue.callback_declined")
    assert stopped == {"queue": QUEUE, "reason": "agent_free"}
    (link,) = of_type(events, "queue.connected")
    assert link["agent"] == "ivan"
    assert contact.status == "completed"
    no_callback_for(hotline, "5557701")


@pytest.mark.usefixtures("no_leaks")
def test_a_long_wait_is_offered_a_callback(hotline: RunningHotline) -> None:
    # kim talks to a first caller; the second, facing an estimated 3 minutes (over the
    # queue's offer_after of 60 s), hears the offer on arrival and takes it.
    kim = phone(hotline, "kim", "answer_until_hangup", ring=0.3, talk=60, calls=2)
    customer = phone(hotline, "customer", "answer", ring=0.5, talk=2.0)
    # The first caller talks to kim until the second has booked.
    first = caller(hotline, "5557801", "323", [Gate(), HangUp()])
    wait_for(
        lambda: of_type(live_events(hotline, "5557801"), "queue.connected"), 20, "kim to answer"
    )
    offered = "queue.announced"  # the offer: its key, then 1 at the read-back
    steps = [Gate(), Keys("5"), Wait(1), Keys("1"), Gate(), HangUp()]
    second, gates = gated(hotline, "57802", "323", steps, [offered, "queue.callback"])
    assert second.wait(40).ok, hotline.log_tail()
    gates.check()
    first.open_gate()
    assert first.wait(40).ok, hotline.log_tail()
    done = final(hotline, "57802", 60)
    assert done.state == "completed"
    assert customer.wait_done(30).ok and kim.wait_done(30).ok
    _, events = contact_of(hotline, "57802")
    offers = [a for a in of_type(events, "queue.announced") if a.get("callback_offer")]
    assert len(offers) == 1  # said once
    (booked,) = of_type(events, "queue.callback")
    assert booked["callback"] == done.contact_id
    kinds = [e.type for e in events]
    assert kinds.index("queue.announced") < kinds.index("queue.callback_asked")
