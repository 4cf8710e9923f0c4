"""Blind transfers to an agent and to a queue on a real Asterisk (issue 16).

Number 341 reaches lena (a SIPp phone) in e2e_xfer; 342 waits in e2e_xq (omar, a SIPp
phone; contacts transferred in at priority 9); pia (e2e_xp) never answers; gina is a
real softphone (baresip, auto-answer, playing a tone) that registers for the test.
Transfers go through the REST API as lena would from the desk, through her desk's
transfer control in headless Chromium (omar's desk then shows who transferred the call
and the note), and from gina's softphone by SIP REFER (baresip's /transfer); an
attended REFER (with Replaces) from lena's SIPp phone naming a call Hotline does not
have is declined. Refused transfers
leave the call as it was: the caller still talks with lena.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hotline.store import LoggedEvent
from tests.e2e.conftest import RunningHotline
from tests.e2e.rtp import RtpSink
from tests.e2e.sipp import ExpectHangup, Gate, HangUp, SippCall, Speak, Wait
from tests.e2e.sipp_uas import ANSWER_SDP, HEAD, KEEP, REPLY, TransferTarget
from tests.e2e.test_call_control import REFER, Api, live_contact
from tests.e2e.test_chat_desk import open_desk, wait_events
from tests.e2e.test_ivr_call import contact_of, live_events, of_type
from tests.e2e.test_queue import phone
from tests.e2e.test_softphone import Baresip, agent_state, rms

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]


def at(event: LoggedEvent) -> float:
    """When `event` was logged, on this process's monotonic clock (as RtpSink's)."""
    return event.ts.timestamp() - (time.time() - time.monotonic())


async def event_of(
    hotline: RunningHotline, number: str, kind: str, n: int = 1, within: float = 20
) -> LoggedEvent:
    """The `n`th event `kind` of the caller's contact, once it is logged."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        events = await asyncio.to_thread(live_events, hotline, number)
        found = [e for e in events if e.type == kind]
        if len(found) >= n:
            return found[n - 1]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {kind} #{n} for {number}:\n{hotline.log_tail()}")


async def refused(api: Api, path: str, body: dict, status: int, says: str) -> None:
    got, answer = await api.call("POST", path, body)
    assert (got, says in answer.get("error", "")) == (status, True), (body, got, answer)


def loudest(softphone: Baresip, within: float = 5) -> float:
    """The RMS amplitude of the loudest audio the softphone received, once its dumps
    are closed (baresip writes a WAV file's length when the call's audio stops)."""
    deadline = time.monotonic() + within
    while True:
        levels = [rms(p) for p in softphone.received_audio()]
        if levels and not any(math.isnan(level) for level in levels):
            return max(levels)
        if time.monotonic() > deadline:
            return 0.0
        time.sleep(0.2)


@pytest.fixture
def gina(hotline: RunningHotline, tmp_path: Path) -> Iterator[Baresip]:
    """gina's softphone (baresip), registered and auto-answering, sending a 440 Hz tone."""
    if not shutil.which("baresip"):
        pytest.skip("baresip is not installed")
    password = hotline.secrets["agent_passwords"]["2005"]
    softphone = Baresip(tmp_path / "gina", "2005", password, hotline.sip_port, ";answermode=auto")
    try:
        # What the phone sends once a call's audio starts (the file is opened then).
        tone = softphone.dir / "silence.wav"
        synth = ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(tone)]
        subprocess.run([*synth, "synth", "60", "sine", "440", "vol", "0.4"], check=True)
        deadline = time.monotonic() + 20
        while agent_state(hotline, "gina") != "reachable":
            assert time.monotonic() < deadline, softphone.log.read_text()[-2000:]
            time.sleep(0.3)
        yield softphone
    finally:
        softphone.stop()
        deadline = time.monotonic() + 10  # unregistered: offered no more calls
        while agent_state(hotline, "gina") == "reachable" and time.monotonic() < deadline:
            time.sleep(0.2)


def test_blind_transfer_to_an_agent_caller_and_agent_hear_each_other(
    hotline: RunningHotline, gina: Baresip
) -> None:
    """lena's refused transfers first (the call untouched), then to gina: lena's phone
    is hung up, gina's softphone answers; gina's tone reaches the caller and the
    caller's speech reaches gina's softphone."""
    lena = phone(hotline, "lena", "answer_until_hangup", ring=0.5, talk=40)
    sink = RtpSink()
    marks: dict[str, float] = {}
    number = "5554101"
    caller = SippCall(
        hotline.workdir / "sipp",
        hotline.sip_port,
        "341",
        number,
        [Gate(60), Speak("Hello, I am calling about my invoice, thank you."), Wait(1), HangUp()],
        rtp_port=sink.port,
    )

    async def control() -> None:
        contact = await live_contact(hotline, number)
        path = f"/api/calls/{contact}/transfer"
        async with Api(hotline, "lena") as own, Api(hotline, None) as admin:
            await admin.call("POST", "/api/agents/pia/logout")
            await admin.call("POST", "/api/agents/omar/pause", {"reason": "training"})
            try:
                await refused(own, path, {"to": "agent:nobody"}, 404, "no agent 'nobody'")
                await refused(own, path, {"to": "queue:nowhere"}, 404, "no queue 'nowhere'")
                await refused(
                    own, path, {"to": "agent:pia"}, 409, "cannot transfer to pia: agent pia is"
                )
                await refused(own, path, {"to": "agent:omar"}, 409, "agent omar is paused")
                await refused(own, path, {"to": "agent:lena"}, 409, "is already with lena")
            finally:
                await admin.call("POST", "/api/agents/pia/login")
                await admin.call("POST", "/api/agents/omar/unpause")
            got, answer = await own.call("GET", f"/api/calls/{contact}")
            assert got == 200 and answer["state"]["agent"] == "lena"  # untouched
            body = {"to": "agent:gina", "note": "invoice 4411, wants a refund"}
            got, answer = await own.call("POST", path, body)
            assert got == 200, answer
        connected = await event_of(hotline, number, "queue.connected", 2)
        assert connected.data["agent"] == "gina"
        marks["gina"] = at(connected)
        await asyncio.sleep(3.5)
        marks["heard"] = time.monotonic()
        caller.open_gate()  # the caller speaks to gina, then hangs up

    try:
        caller.start()
        asyncio.run(control())
        result = caller.wait(60)
        assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    finally:
        sink.close()
    assert lena.wait_done().ok  # hung up by the transfer

    # gina's tone reached the caller: nearly all of 3 s, at once after she answered.
    tone = sink.audible_seconds(marks["gina"] + 0.5, marks["heard"])
    assert tone >= 0.8 * (marks["heard"] - marks["gina"] - 0.5), f"{tone:.2f} s of gina's tone"
    # The caller's speech reached gina's softphone.
    assert loudest(gina) > 0.02, gina.log.read_text()[-2000:]

    contact, events = contact_of(hotline, number)
    (moved,) = of_type(events, "call.transferred")
    assert moved == {
        "agent": "lena",
        "to": "agent:gina",
        "kind": "blind",
        "note": "invoice 4411, wants a refund",
        "by": "lena",
    }
    ends = of_type(events, "queue.call_ended")
    assert [(e["agent"], e["ended_by"]) for e in ends] == [("lena", "transfer"), ("gina", "caller")]
    assert [c["agent"] for c in of_type(events, "queue.connected")] == ["lena", "gina"]
    kinds = [e.type for e in events]
    assert kinds.index("queue.call_ended") < kinds.index("call.transferred")
    offers = [e for e in events if e.type == "contact.offer"]
    assert [e.agent for e in offers] == ["lena", "gina"]  # gina alone, nobody else
    assert contact.status == "completed"


def test_blind_transfer_to_a_queue_goes_before_its_waiting_callers(
    hotline: RunningHotline,
) -> None:
    """omar is paused while a caller waits in e2e_xq; lena transfers hers there (a
    second transfer at once is refused); omar, back, gets the transferred caller first
    (e2e_xq's transfer_priority 9), then the one who waited."""
    lena = phone(hotline, "lena", "answer_until_hangup", ring=0.5, talk=40)
    omar = phone(hotline, "omar", "answer", ring=0.5, talk=2.0, calls=2)
    waiting, moved = "5554201", "5554202"

    async def control() -> None:
        async with Api(hotline, None) as admin:
            got, answer = await admin.call("POST", "/api/agents/omar/pause", {"reason": "brief"})
            assert got == 200, answer
            try:
                first = SippCall(
                    hotline.workdir / "sipp", hotline.sip_port, "342", waiting, [ExpectHangup(60)]
                ).start()
                await event_of(hotline, waiting, "contact.join")
                second = SippCall(
                    hotline.workdir / "sipp", hotline.sip_port, "341", moved, [ExpectHangup(60)]
                ).start()
                contact = await live_contact(hotline, moved)
                path = f"/api/calls/{contact}/transfer"
                async with Api(hotline, "lena") as own:
                    body = {"to": "queue:e2e_xq", "note": "wants a quote"}
                    got, answer = await own.call("POST", path, body)
                    assert got == 200, answer
                    got, answer = await own.call("POST", path, {"to": "agent:pia"})
                    assert (got, answer["error"]) in {
                        (409, f"contact {contact} is being transferred to queue:e2e_xq"),
                        (404, f"contact {contact} has no live call with an agent"),
                    }, answer
                joined = await event_of(hotline, moved, "contact.join", 2)
                assert joined.queue == "e2e_xq"
            finally:
                await admin.call("POST", "/api/agents/omar/unpause")
        for call in (first, second):
            result = await asyncio.to_thread(call.wait, 60)
            assert result.ok, f"{result.output}\n{hotline.log_tail()}"

    asyncio.run(control())
    assert lena.wait_done().ok and omar.wait_done().ok

    _, before = contact_of(hotline, waiting)
    contact, events = contact_of(hotline, moved)
    joins = [e for e in events if e.type == "contact.join"]
    assert [e.queue for e in joins] == ["e2e_xfer", "e2e_xq"]
    assert "priority 9" in joins[1].data.get("detail", ""), joins[1].data
    (mine,) = [e for e in events if e.type == "queue.connected" and e.data["agent"] == "omar"]
    (theirs,) = [e for e in before if e.type == "queue.connected"]
    assert mine.ts < theirs.ts, "the transferred caller was not served first"
    assert of_type(events, "call.transferred")[0]["note"] == "wants a quote"
    ends = of_type(events, "queue.call_ended")
    assert [(e["agent"], e["ended_by"]) for e in ends] == [("lena", "transfer"), ("omar", "agent")]
    assert contact.status == "completed"


def test_an_agent_who_does_not_answer_sends_the_caller_back_to_the_queue(
    hotline: RunningHotline,
) -> None:
    """pia's phone rings out: the caller is not dropped but goes back to e2e_xfer at
    their place, where lena (a second phone) takes them again."""
    lena = phone(hotline, "lena", "answer_until_hangup", ring=0.5, talk=40)
    pia = phone(hotline, "pia", "no_answer", wait=30)
    number = "5554301"

    async def control() -> None:
        contact = await live_contact(hotline, number)
        async with Api(hotline, "lena") as own:
            got, answer = await own.call(
                "POST", f"/api/calls/{contact}/transfer", {"to": "agent:pia"}
            )
            assert got == 200, answer

    call = SippCall(
        hotline.workdir / "sipp", hotline.sip_port, "341", number, [ExpectHangup(60)]
    ).start()
    asyncio.run(control())
    assert lena.wait_done().ok  # hung up by the transfer
    again = phone(hotline, "lena", "answer", ring=0.5, talk=2.0)
    result = call.wait(60)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert pia.wait_done().ok and again.wait_done().ok

    contact, events = contact_of(hotline, number)
    (back,) = of_type(events, "transfer.ended")
    assert back["target"] == "agent:pia" and back["back_to"] == "e2e_xfer", back
    assert back["outcome"] == "timeout"
    assert [c["agent"] for c in of_type(events, "queue.connected")] == ["lena", "lena"]
    assert [e.agent for e in events if e.type == "contact.offer"] == ["lena", "pia", "lena"]
    assert contact.status == "completed"


def test_blind_refer_from_baresip_to_an_agents_extension(
    hotline: RunningHotline, gina: Baresip
) -> None:
    """gina's softphone answers a caller of e2e_soft (307) and transfers them with its
    /transfer command (a SIP REFER) to 2042, omar's extension: omar's phone rings and
    talks with the caller."""
    omar = phone(hotline, "omar", "answer", ring=0.5, talk=2.0)
    number = "5554401"
    call = SippCall(
        hotline.workdir / "sipp", hotline.sip_port, "307", number, [ExpectHangup(60)]
    ).start()
    asyncio.run(live_contact(hotline, number))
    gina.command("transfer", "sip:2042@127.0.0.1")
    result = call.wait(60)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert omar.wait_done().ok, gina.log.read_text()[-2000:]

    contact, events = contact_of(hotline, number)
    assert of_type(events, "call.refer") == [{"agent": "gina", "to": "2042"}]
    (moved,) = of_type(events, "call.transferred")
    assert (moved["to"], moved["by"], moved["kind"]) == ("agent:omar", "gina", "blind")
    assert [c["agent"] for c in of_type(events, "queue.connected")] == ["gina", "omar"]
    assert contact.status == "completed"


def test_an_attended_refer_from_the_phone_is_declined_and_the_call_goes_on(
    hotline: RunningHotline,
) -> None:
    """lena's phone sends a REFER with Replaces (an attended transfer) naming a call
    Asterisk does not have (a Call-ID of nothing; a real one, the phone's second call,
    is tests/e2e/test_phone_attended_transfer.py): declined (the phone's NOTIFY says
    603), logged once, nobody else rung, and the caller stays with lena until the
    caller hangs up."""
    lena = TransferTarget(
        hotline.workdir / "phones", "answer_until_hangup", hotline.targets["lena"], talk=40
    )
    keep = "".join(
        f'      <ereg regexp={KEEP[name]} assign_to="{name}"/>\n'
        for name in ("remote_from", "invite_contact")
    )
    replaces = "2042@127.0.0.1?Replaces=consult-1%40phone%3Bto-tag%3D7%3Bfrom-tag%3D8"
    refer = REFER.format(after_ms=2000, number="2042", talk_ms=30000).replace(
        "Refer-To: <sip:2042@127.0.0.1>", f"Refer-To: <sip:{replaces}>"
    )
    parts = [
        HEAD.format(behaviour="refer", keep=keep),
        REPLY.format(status="180 Ringing"),
        ANSWER_SDP.format(ring_ms=500),
        refer,
        "</scenario>\n",
    ]
    lena.file.write_text("".join(parts))
    lena.start()
    number = "5554601"
    call = SippCall(
        hotline.workdir / "sipp", hotline.sip_port, "341", number, [Wait(8), HangUp()]
    ).start()
    result = call.wait(60)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert lena.wait_done().ok, lena.messages()[-3000:]  # hung up when the caller was
    final = lena.messages().split("Subscription-State: terminated", 1)[1]
    sipfrag = final.split("message/sipfrag", 1)[1].split("SIP/2.0", 1)[1]
    assert sipfrag.lstrip().startswith("603"), final

    contact, events = contact_of(hotline, number)
    (refer_logged,) = of_type(events, "call.refer")
    assert refer_logged["agent"] == "lena" and refer_logged["to"] == "2042"
    assert refer_logged["attended"] is True
    assert "the phone's other call is not one Hotline has" in refer_logged["refused"]
    assert of_type(events, "call.transferred") == []
    assert [e.agent for e in events if e.type == "contact.offer"] == ["lena"]
    (ended,) = of_type(events, "queue.call_ended")
    assert ended["agent"] == "lena" and ended["ended_by"] == "caller"
    assert ended["talk_seconds"] >= 5  # the call went on after the refusal
    assert contact.status == "completed"


NOTE = "Invoice 4412: <b>refund</b> agreed"


@pytest.fixture
def contexts(browser: Any) -> Iterator[tuple[Any, Any]]:
    """Two browser contexts: two agents' desks, each logged in on its own."""
    first, second = browser.new_context(), browser.new_context()
    for context in (first, second):
        context.set_default_timeout(15_000)
    yield first, second
    first.close()
    second.close()


def test_the_desk_transfers_and_the_next_agents_desk_shows_who_and_the_note(
    hotline: RunningHotline, contexts: tuple[Any, Any]
) -> None:
    """lena transfers her call to omar with her desk's transfer control; omar's desk
    shows the call ringing, then talking, with "Transferred by Lena" and her note (as
    text), and his phone talks with the caller."""
    lena_desk, omar_desk = (
        open_desk(contexts[0], hotline, "lena"),
        open_desk(contexts[1], hotline, "omar"),
    )
    lena = phone(hotline, "lena", "answer_until_hangup", ring=0.5, talk=40)
    omar = phone(hotline, "omar", "answer", ring=2.0, talk=4.0)
    number = "5554501"
    call = SippCall(
        hotline.workdir / "sipp", hotline.sip_port, "341", number, [ExpectHangup(60)]
    ).start()
    lena_desk.wait_for_selector("#call[data-phase=talking]", timeout=20_000)
    contact_id = lena_desk.locator("#call").get_attribute("data-contact-id") or ""
    lena_desk.locator("#call select.transfer-to").select_option("agent:omar")
    lena_desk.locator("#call input.transfer-note").fill(NOTE)
    lena_desk.locator("#call button.transfer").click()
    # Ringing (omar's phone answers after 2 s: on a slow machine the desk may show the
    # call talking already), then talking: the transfer shown both times.
    talking = "#call[data-phase=talking]"
    for phase in (f"#call[data-phase=ringing], {talking}", talking):
        omar_desk.wait_for_selector(phase, timeout=20_000)
        shown = omar_desk.locator("#call dl").inner_text()
        assert "Transferred by\nLena" in shown and f"Their note\n{NOTE}" in shown, shown
    assert omar_desk.locator("#call b").count() == 0  # the note is text, not markup
    result = call.wait(60)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert lena.wait_done().ok and omar.wait_done().ok
    # (Playwright's loop runs in this thread: the store is read as the desk tests do.)
    events = wait_events(hotline, contact_id, "call.ended")
    (moved,) = [e.data for e in events if e.type == "call.transferred"]
    assert (moved["to"], moved["note"], moved["by"]) == ("agent:omar", NOTE, "lena")
    connected = [e.data["agent"] for e in events if e.type == "queue.connected"]
    assert connected == ["lena", "omar"]
