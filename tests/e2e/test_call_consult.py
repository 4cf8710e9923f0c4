"""Consultation (attended transfer) and three-way conference on a real Asterisk (issue
16): a SIPp caller reaches carol (a SIPp phone on her fixed contact) through queue
e2e_fifo (number 304); carol consults a number (the callbacks' dial template: the
"customer" SIPp phone) through the REST API, then completes, cancels or conferences.

Each party's audio is the test's own (`Voice`): its SDP points at a loopback socket
that counts what Asterisk sends it and, when the test says so, talks (a tone) to
Asterisk from the same socket. So "who hears whom" is measured at each party: one
talks at a time, and the others' sockets must receive sound then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import socket
import struct
import time
import urllib.request
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunningHotline
from tests.e2e.rtp import RtpSink
from tests.e2e.sipp import Gate, HangUp, SippCall, SippResult
from tests.e2e.sipp_uas import ANSWER_SDP, HEAD, KEEP, REPLY, UNTIL_BYE, TransferTarget
from tests.e2e.test_call_control import Api, live_contact
from tests.e2e.test_chat_desk import open_desk, wait_events
from tests.e2e.test_ivr_call import contact_of, of_type

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]

#: How long each party talks when the test checks who hears it.
TALK = 1.2


def _ulaw(sample: int) -> int:
    """One 16-bit sample as G.711 mu-law."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, min(7, (magnitude >> 7).bit_length() - 1))
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


#: 20 ms of a 440 Hz tone, as PCMU.
TONE = bytes(_ulaw(int(8000 * math.sin(2 * math.pi * 440 * n / 8000))) for n in range(160))


class Voice(RtpSink):
    """One party's audio: what Asterisk sends it (counted as `RtpSink` does), and a
    tone it talks to Asterisk when asked, from the same socket."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.remote: tuple[str, int] | None = None
        self.ssrc = hash(name) & 0xFFFFFFFF
        self.seq = 0
        #: Seconds the last `talk`'s packets went out behind their pace, at most.
        self.lag = 0.0

    def learn(self, messages: Path, timeout: float = 10) -> None:
        """Asterisk's RTP port for this party, from the SDP it sent (SIPp's log)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = messages.read_text(errors="replace") if messages.exists() else ""
            ports = [int(p) for p in re.findall(r"m=audio (\d+) ", text) if int(p) != self.port]
            if ports:
                self.remote = ("127.0.0.1", ports[-1])
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.name}: no SDP from Asterisk in {messages}")

    def talk(self, seconds: float = TALK) -> tuple[float, float]:
        """Send the tone for `seconds` (20 ms packets, paced); when it started and ended."""
        assert self.remote is not None, f"{self.name} does not know where to talk"
        start = time.monotonic()
        self.lag = 0.0
        packets = int(seconds / 0.02)
        for n in range(packets):
            self.lag = max(self.lag, time.monotonic() - (start + n * 0.02))
            self.seq += 1
            header = struct.pack(">BBHII", 0x80, 0, self.seq & 0xFFFF, self.seq * 160, self.ssrc)
            self.sock.sendto(header + TONE, self.remote)
            time.sleep(max(0.0, start + (n + 1) * 0.02 - time.monotonic()))
        return start, time.monotonic()

    def heard(self, window: tuple[float, float]) -> float:
        """Seconds of sound received while `window` (another party talking) lasted,
        allowing for the way through Asterisk."""
        return self.audible_seconds(window[0] + 0.2, window[1] + 0.3)


def heard_by(talker: Voice, *listeners: Voice, first: Voice | None = None) -> dict[str, float]:
    """`talker` talks; the seconds of sound each listener received meanwhile. `first`:
    a listener who must hear them after a change of bridges, waited for (bounded) before
    the measurement: on a loaded box the media follows the API's answer a moment later."""
    if first is not None:
        deadline = time.monotonic() + 8.0
        while time.monotonic() < deadline:
            start, end = talker.talk(0.2)
            time.sleep(0.3)
            if first.audible_seconds(start, end + 0.3) > 0:
                break
    for _ in range(3):
        time.sleep(0.3)  # what came before has passed
        window = talker.talk()
        time.sleep(0.4)
        # This test's own speaker stalled (a starved box): its late packets went out in
        # a burst, which a mixing bridge drops as any would. Not the product's: again.
        if talker.lag <= STALLED:
            break
        print(f"{talker.name}'s tone went out {talker.lag:.2f} s late: measured again")
    return {listener.name: listener.heard(window) for listener in listeners}


HEARS = 0.5 * TALK  # at least half the tone arrives
#: A speaker whose packets went out this late (s) did not talk at the pace of a phone.
STALLED = 0.1
SILENT = 0.15

# The phone hangs up when the test opens its gate (an OPTIONS in the dialog).
BYE_AT_GATE = """  <recv request="OPTIONS" timeout="{wait_ms}"/>
  <send retrans="500">
    <![CDATA[
      BYE [$invite_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:target@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To: [$remote_from]
      Call-ID: [call_id]
      CSeq: 1 BYE
      Contact: <sip:target@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""


class Phone(TransferTarget):
    """A SIPp phone (an agent's, or the consulted number's) whose audio is `voice`:
    answers after `ring` seconds, then talks until hung up, or until `hang_up`."""

    def __init__(
        self, hotline: RunningHotline, name: str, voice: Voice, *, ring: float, gate: bool
    ) -> None:
        super().__init__(hotline.workdir / "phones", "answer_until_hangup", hotline.targets[name])
        self.voice = voice
        self.gate = gate
        self.result: SippResult | None = None
        needs = ("remote_from", "invite_contact") if gate else ()
        keep = "".join(f'      <ereg regexp={KEEP[n]} assign_to="{n}"/>\n' for n in needs)
        parts = [
            HEAD.format(behaviour="consult", keep=keep or '      <log message="INVITE"/>\n'),
            REPLY.format(status="180 Ringing"),
            ANSWER_SDP.format(ring_ms=int(ring * 1000)).replace(
                "m=audio [media_port] ", f"m=audio {voice.port} "
            ),
            BYE_AT_GATE.format(wait_ms=60000) if gate else UNTIL_BYE.format(talk_ms=60000),
            "</scenario>\n",
        ]
        self.file.write_text("".join(parts))
        self.start()

    def answered(self) -> None:
        self.voice.learn(self.workdir / "messages.log")

    def wait_done(self, timeout: float = 90) -> SippResult:
        if self.result is None:
            self.result = super().wait_done(timeout)
        return self.result

    def hang_up(self) -> None:
        """Open the gate: the phone sends BYE."""
        text = (self.workdir / "messages.log").read_text(errors="replace")
        call_id = re.search(r"Call-ID: *(\S+)", text)
        assert call_id is not None, text
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            here = sock.getsockname()[1]
            message = (
                f"OPTIONS sip:target@127.0.0.1:{self.port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{here};branch=z9hG4bK-gate-{here}\r\n"
                f"From: <sip:gate@127.0.0.1:{here}>;tag=gate{here}\r\n"
                f"To: <sip:target@127.0.0.1:{self.port}>\r\n"
                f"Call-ID: {call_id.group(1)}\r\n"
                "CSeq: 101 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            )
            sock.sendto(message.encode(), ("127.0.0.1", self.port))


class Scene:
    """A caller talking with carol, and the number carol will consult, each with a voice."""

    def __init__(
        self,
        hotline: RunningHotline,
        number: str,
        *,
        carol_hangs_up: bool = False,
        party_hangs_up: bool = False,
        party: str = "customer",
    ) -> None:
        self.hotline = hotline
        self.number = number
        self.caller_voice = Voice("caller")
        self.carol_voice = Voice("carol")
        self.party_voice = Voice("party")
        self.voices = (self.caller_voice, self.carol_voice, self.party_voice)
        self.carol = Phone(hotline, "carol", self.carol_voice, ring=0.5, gate=carol_hangs_up)
        self.party = Phone(hotline, party, self.party_voice, ring=1.0, gate=party_hangs_up)
        self.caller = SippCall(
            hotline.workdir / "sipp",
            hotline.sip_port,
            "304",
            number,
            [Gate(90), HangUp()],
            rtp_port=self.caller_voice.port,
        ).start()

    async def live(self) -> str:
        contact = await live_contact(self.hotline, self.number)
        await asyncio.to_thread(self.caller_voice.learn, self.caller.workdir / "messages.log")
        await asyncio.to_thread(self.carol.answered)
        return contact

    def finish(self) -> None:
        """The caller hangs up; every phone must end cleanly."""
        self.caller.open_gate()
        result = self.caller.wait(30)
        assert result.ok, f"{result.output}\n{self.hotline.log_tail()}"
        for phone in (self.carol, self.party):
            done = phone.wait_done(30)
            assert done.ok, f"{done.output}\n{phone.messages()[-3000:]}"

    def close(self) -> None:
        for phone in (self.carol, self.party):
            phone.stop()
        if self.caller.proc is not None and self.caller.proc.poll() is None:
            self.caller.proc.kill()
            self.caller.proc.communicate()
        for voice in self.voices:
            voice.close()


async def until_state(api: Api, contact: str, check: Any, timeout: float = 15) -> dict[str, Any]:
    """The call's answer once `check(status, state)` holds."""
    deadline = time.monotonic() + timeout
    status, answer = 0, None
    while time.monotonic() < deadline:
        status, answer = await api.call("GET", f"/api/calls/{contact}")
        if check(status, answer.get("state")):
            return dict(answer)
        await asyncio.sleep(0.2)
    raise AssertionError(f"call {contact} never got there: {status} {answer}")


def consult_talking(status: int, state: dict[str, Any] | None) -> bool:
    consult = None if state is None else state["consult"]
    return status == 200 and consult is not None and consult["state"] == "talking"


async def consult(api: Api, contact: str, to: str = "number:5557801") -> dict[str, Any]:
    got, answer = await api.call(
        "POST", f"/api/calls/{contact}/consult", {"to": to, "note": "billing question"}
    )
    assert got == 200, answer
    assert answer["state"]["held"] is True
    assert answer["state"]["consult"] == {"to": to, "state": "ringing", "party": ""}
    return await until_state(api, contact, consult_talking)


def test_consult_a_number_then_complete(hotline: RunningHotline) -> None:
    """carol consults a number: the party and carol hear each other, the caller is on
    hold; bad commands are refused meanwhile, the call untouched; carol completes:
    the caller and the party hear each other, carol's phone is hung up."""
    scene = Scene(hotline, "5551801")
    heard: dict[str, dict[str, float]] = {}

    async def control() -> None:
        contact = await scene.live()
        async with Api(hotline, "carol") as carol:
            path = f"/api/calls/{contact}"
            for action in ("complete", "conference", "cancel"):
                got, answer = await carol.call("POST", f"{path}/{action}")
                assert got == 409 and f"no consultation to {action}" in answer["error"], answer
            got, answer = await carol.call("POST", f"{path}/consult", {"to": "number:12"})
            assert got == 400 and "cannot dial number:12" in answer["error"], answer
            got, answer = await carol.call("POST", f"{path}/consult", {"to": "agent:nobody"})
            assert got == 404 and "no agent 'nobody'" in answer["error"], answer
            got, answer = await carol.call("GET", path)
            assert answer["state"]["held"] is False and answer["state"]["consult"] is None

            state = await consult(carol, contact)
            assert state["state"]["consult"]["party"] == "5557801"
            scene.party.answered()
            refusals = [
                ("consult", {"to": "number:5557802"}, "is already consulting number:5557801"),
                ("resume", None, "is consulting number:5557801"),
                ("transfer", {"to": "number:5557802"}, "is consulting number:5557801"),
            ]
            for action, body, says in refusals:
                got, answer = await carol.call("POST", f"{path}/{action}", body)
                assert got == 409 and says in answer["error"], (action, answer)
            heard["carol talks"] = await asyncio.to_thread(
                heard_by, scene.carol_voice, scene.party_voice
            )
            heard["party talks"] = await asyncio.to_thread(
                heard_by, scene.party_voice, scene.carol_voice
            )
            got, answer = await carol.call("POST", f"{path}/complete")
            assert got == 200, answer
            await until_state(carol, contact, lambda status, _: status == 404)
            heard["party to caller"] = await asyncio.to_thread(
                heard_by,
                scene.party_voice,
                scene.caller_voice,
                scene.carol_voice,
                first=scene.caller_voice,
            )
            heard["caller to party"] = await asyncio.to_thread(
                heard_by, scene.caller_voice, scene.party_voice
            )

    try:
        asyncio.run(control())
        scene.finish()
    finally:
        scene.close()
    assert heard["carol talks"]["party"] >= HEARS, heard
    assert heard["party talks"]["carol"] >= HEARS, heard
    assert heard["party to caller"]["caller"] >= HEARS, heard
    assert heard["party to caller"]["carol"] < SILENT, heard  # her phone is hung up
    assert heard["caller to party"]["party"] >= HEARS, heard

    contact, events = contact_of(hotline, "5551801")
    (started,) = of_type(events, "call.consult_started")
    assert started == {
        "agent": "carol",
        "to": "number:5557801",
        "by": "carol",
        "note": "billing question",
    }
    (answered,) = of_type(events, "call.consult_answered")
    assert answered == {"agent": "carol", "to": "number:5557801", "party": "5557801"}
    (ended,) = of_type(events, "call.consult_ended")
    assert ended["outcome"] == "completed" and ended["by"] == "carol"
    (moved,) = of_type(events, "call.transferred")
    assert moved["kind"] == "consult" and moved["to"] == "number:5557801"
    (over,) = of_type(events, "queue.call_ended")
    assert over["ended_by"] == "transfer"
    (talked,) = of_type(events, "transfer.ended")
    assert talked["ended_by"] == "caller"
    assert contact.status in ("completed", "transferred")
    assert "INVITE sip:5557801@" in scene.party.messages()


def test_consult_cancelled_the_caller_is_back_with_carol(hotline: RunningHotline) -> None:
    """carol consults, then cancels: the party's phone is hung up, the caller comes off
    hold, and caller and carol hear each other again (no music)."""
    scene = Scene(hotline, "5551802")
    heard: dict[str, dict[str, float]] = {}
    quiet: dict[str, float] = {}

    async def control() -> None:
        contact = await scene.live()
        async with Api(hotline, "carol") as carol:
            await consult(carol, contact)
            scene.party.answered()
            got, answer = await carol.call("POST", f"/api/calls/{contact}/cancel")
            assert got == 200, answer
            assert answer["state"]["held"] is False and answer["state"]["consult"] is None
            done = await asyncio.to_thread(scene.party.wait_done, 15)
            assert done.ok, done.output
            got, answer = await carol.call("POST", f"/api/calls/{contact}/cancel")
            assert got == 409 and "no consultation to cancel" in answer["error"]
        heard["carol talks"] = await asyncio.to_thread(
            heard_by, scene.carol_voice, scene.caller_voice, first=scene.caller_voice
        )
        heard["caller talks"] = await asyncio.to_thread(
            heard_by, scene.caller_voice, scene.carol_voice
        )
        start = time.monotonic()
        await asyncio.sleep(1.5)
        quiet["caller"] = scene.caller_voice.audible_seconds(start, time.monotonic())

    try:
        asyncio.run(control())
        scene.finish()
    finally:
        scene.close()
    assert heard["carol talks"]["caller"] >= HEARS, heard
    assert heard["caller talks"]["carol"] >= HEARS, heard
    assert quiet["caller"] < SILENT, quiet  # off hold: no music

    contact, events = contact_of(hotline, "5551802")
    (ended,) = of_type(events, "call.consult_ended")
    assert ended["outcome"] == "cancelled" and ended["by"] == "carol"
    (resumed,) = of_type(events, "call.resumed")
    assert resumed["by"] == "carol" and resumed["ended"] is False
    assert of_type(events, "call.transferred") == []
    (over,) = of_type(events, "queue.call_ended")
    assert over["ended_by"] == "caller"
    assert contact.status == "completed"


def test_three_way_conference_each_hears_the_others(hotline: RunningHotline) -> None:
    """carol consults, then conferences: each of the three hears the two others (and
    not itself); the party leaves, and caller and carol go on talking."""
    scene = Scene(hotline, "5551803", party_hangs_up=True)
    heard: dict[str, dict[str, float]] = {}

    async def control() -> None:
        contact = await scene.live()
        async with Api(hotline, "carol") as carol:
            await consult(carol, contact)
            scene.party.answered()
            got, answer = await carol.call("POST", f"/api/calls/{contact}/conference")
            assert got == 200, answer
            assert answer["state"]["conference"] is True and answer["state"]["held"] is False
            got, answer = await carol.call("POST", f"/api/calls/{contact}/hold")
            assert got == 409 and "is in a conference with 5557801" in answer["error"]
            got, answer = await carol.call("POST", f"/api/calls/{contact}/cancel")
            assert got == 409 and "is in a conference" in answer["error"]
            voices = scene.voices
            for talker in voices:
                heard[talker.name] = await asyncio.to_thread(heard_by, talker, *voices)
            scene.party.hang_up()
            done = await asyncio.to_thread(scene.party.wait_done, 15)
            assert done.ok, done.output
            await until_state(
                carol, contact, lambda status, state: status == 200 and not state["conference"]
            )
        heard["after"] = await asyncio.to_thread(
            heard_by, scene.carol_voice, scene.caller_voice, first=scene.caller_voice
        )

    try:
        asyncio.run(control())
        scene.finish()
    finally:
        scene.close()
    for talker in ("caller", "carol", "party"):
        for listener in ("caller", "carol", "party"):
            if listener == talker:
                assert heard[talker][listener] < SILENT, (talker, heard)
            else:
                assert heard[talker][listener] >= HEARS, (talker, listener, heard)
    assert heard["after"]["caller"] >= HEARS, heard

    contact, events = contact_of(hotline, "5551803")
    (ended,) = of_type(events, "call.consult_ended")
    assert ended["outcome"] == "conference" and ended["by"] == "carol"
    (started,) = of_type(events, "call.conference_started")
    assert started == {"agent": "carol", "to": "number:5557801", "party": "5557801", "by": "carol"}
    (over,) = of_type(events, "call.conference_ended")
    assert over["by"] == "party" and over["seconds"] > 3
    assert of_type(events, "call.transferred") == []
    assert contact.status == "completed"


def test_carol_hangs_up_mid_consult_the_caller_goes_on_with_the_party(
    hotline: RunningHotline,
) -> None:
    """carol hangs up her phone while talking with the party: the caller is not
    dropped but connected to the party (an attended transfer on hang-up)."""
    scene = Scene(hotline, "5551804", carol_hangs_up=True)
    heard: dict[str, dict[str, float]] = {}

    async def control() -> None:
        contact = await scene.live()
        async with Api(hotline, "carol") as carol:
            await consult(carol, contact)
            scene.party.answered()
            scene.carol.hang_up()
            done = await asyncio.to_thread(scene.carol.wait_done, 15)
            assert done.ok, done.output
            await until_state(carol, contact, lambda status, _: status == 404)
        heard["party talks"] = await asyncio.to_thread(
            heard_by, scene.party_voice, scene.caller_voice, first=scene.caller_voice
        )
        heard["caller talks"] = await asyncio.to_thread(
            heard_by, scene.caller_voice, scene.party_voice
        )

    try:
        asyncio.run(control())
        scene.finish()
    finally:
        scene.close()
    assert heard["party talks"]["caller"] >= HEARS, heard
    assert heard["caller talks"]["party"] >= HEARS, heard

    _, events = contact_of(hotline, "5551804")
    (ended,) = of_type(events, "call.consult_ended")
    assert ended["outcome"] == "completed" and ended["by"] == "agent"
    (moved,) = of_type(events, "call.transferred")
    assert moved["kind"] == "consult" and moved["by"] == "agent"
    (resumed,) = of_type(events, "call.resumed")
    assert resumed["ended"] is True  # the hold ended with carol's part
    (talked,) = of_type(events, "transfer.ended")
    assert talked["ended_by"] == "caller"


def test_the_caller_hangs_up_mid_consult_carol_stays_with_the_party(
    hotline: RunningHotline,
) -> None:
    """The caller hangs up while carol consults: the contact ends, carol and the party
    go on talking; when the party hangs up, carol's leg and the bridge go too."""
    scene = Scene(hotline, "5551807", party_hangs_up=True)
    heard: dict[str, dict[str, float]] = {}

    async def control() -> None:
        contact = await scene.live()
        async with Api(hotline, "carol") as carol:
            await consult(carol, contact)
            scene.party.answered()
            scene.caller.open_gate()  # the caller hangs up
            result = await asyncio.to_thread(scene.caller.wait, 15)
            assert result.ok, result.output
            await until_state(carol, contact, lambda status, _: status == 404)
        heard["carol talks"] = await asyncio.to_thread(
            heard_by, scene.carol_voice, scene.party_voice, first=scene.party_voice
        )
        heard["party talks"] = await asyncio.to_thread(
            heard_by, scene.party_voice, scene.carol_voice
        )
        scene.party.hang_up()
        for phone in (scene.party, scene.carol):  # carol's phone is hung up after it
            done = await asyncio.to_thread(phone.wait_done, 15)
            assert done.ok, done.output

    try:
        asyncio.run(control())
    finally:
        scene.close()
    assert heard["carol talks"]["party"] >= HEARS, heard
    assert heard["party talks"]["carol"] >= HEARS, heard

    contact, events = contact_of(hotline, "5551807")
    (ended,) = of_type(events, "call.consult_ended")
    assert (ended["outcome"], ended["by"]) == ("hung_up", "caller")
    (over,) = of_type(events, "queue.call_ended")
    assert over["ended_by"] == "caller"
    assert contact.status == "completed"


def test_consult_a_colleague_then_complete(hotline: RunningHotline) -> None:
    """carol consults dave (an agent, through the routing engine: his phone rings as
    for a queued call, he is busy meanwhile), then completes: caller and dave talk, and
    the caller's call is dave's (the API shows him as its agent, he holds it: the
    caller hears the queue's music, and resumes it); when the caller hangs up, dave's
    leg goes, the call's end is logged with him and he goes to wrap-up once."""
    scene = Scene(hotline, "5551806", party="dave")
    heard: dict[str, dict[str, float]] = {}
    marks: dict[str, float] = {}

    async def control() -> None:
        contact = await scene.live()
        path = f"/api/calls/{contact}"
        async with Api(hotline, "carol") as carol, Api(hotline, "dave") as dave:
            state = await consult(carol, contact, "agent:dave")
            assert state["state"]["consult"]["party"] == "dave"
            scene.party.answered()
            got, answer = await carol.call("GET", "/api/calls/targets")
            assert got == 200, answer
            (dave_now,) = [a for a in answer["agents"] if a["id"] == "dave"]
            assert dave_now["presence"] == "busy"  # taken for routing while consulted
            heard["carol talks"] = await asyncio.to_thread(
                heard_by, scene.carol_voice, scene.party_voice
            )
            got, answer = await carol.call("POST", f"{path}/complete")
            assert got == 200, answer
            answer = await until_state(
                dave, contact, lambda status, st: status == 200 and st["agent"] == "dave"
            )
            assert answer["state"]["held"] is False and answer["state"]["consult"] is None
            got, answer = await carol.call("POST", f"{path}/hold")
            assert got == 403 and "is dave's call" in answer["error"], answer
            heard["dave talks"] = await asyncio.to_thread(
                heard_by, scene.party_voice, scene.caller_voice, first=scene.caller_voice
            )
            heard["caller talks"] = await asyncio.to_thread(
                heard_by, scene.caller_voice, scene.party_voice
            )
            marks["hold"] = time.monotonic()
            got, answer = await dave.call("POST", f"{path}/hold")
            assert got == 200 and answer["state"]["held"] is True, answer
            await asyncio.sleep(3)
            marks["resume"] = time.monotonic()
            got, answer = await dave.call("POST", f"{path}/resume")
            assert got == 200 and answer["state"]["held"] is False, answer
            heard["dave talks again"] = await asyncio.to_thread(
                heard_by, scene.party_voice, scene.caller_voice, first=scene.caller_voice
            )

    try:
        asyncio.run(control())
        scene.finish()
    finally:
        scene.close()
    assert heard["carol talks"]["party"] >= HEARS, heard
    assert heard["dave talks"]["caller"] >= HEARS, heard
    assert heard["caller talks"]["party"] >= HEARS, heard
    assert heard["dave talks again"]["caller"] >= HEARS, heard
    # Music on hold has quiet passages: most of the hold, not all of it, is audible.
    music = scene.caller_voice.audible_seconds(marks["hold"] + 0.5, marks["resume"])
    assert music >= 0.6 * (marks["resume"] - marks["hold"] - 0.5), f"{music:.2f} s of music"

    caller_contact, events = contact_of(hotline, "5551806")
    (answered,) = of_type(events, "call.consult_answered")
    assert answered == {"agent": "carol", "to": "agent:dave", "party": "dave"}
    (moved,) = of_type(events, "call.transferred")
    assert moved["kind"] == "consult" and moved["to"] == "agent:dave"
    assert [c["agent"] for c in of_type(events, "queue.connected")] == ["carol", "dave"]
    assert [h["agent"] for h in of_type(events, "call.held")] == ["carol", "dave"]
    assert of_type(events, "call.resumed")[-1]["by"] == "dave"
    ends = of_type(events, "queue.call_ended")
    assert [(e["agent"], e["ended_by"]) for e in ends] == [
        ("carol", "transfer"),
        ("dave", "caller"),
    ]
    assert 2.5 <= ends[-1]["hold_seconds"] <= 5
    assert of_type(events, "transfer.ended")[-1]["ended_by"] == "caller"
    consult_contact, consult_events = contact_of(hotline, "agent:carol")
    assert consult_contact.destination == "agent:dave" and consult_contact.status == "completed"
    assert (consult_contact.channel, consult_contact.direction) == ("outbound", "outbound")
    # dave's desk shows the caller's customer while he is consulted.
    assert consult_contact.customer_id == caller_contact.customer_id is not None
    kinds = [e.type for e in consult_events]
    assert "contact.answered" in kinds
    # dave's one wrap-up: his consult offer's end, none on the caller's contact.
    finished = [
        str(e.agent or e.data.get("agent"))
        for e in (*events, *consult_events)
        if e.type == "agent.finish"
    ]
    assert sorted(finished) == ["carol", "dave"]
    assert [e.contact_id for e in consult_events if e.type == "agent.finish"] == [
        consult_contact.id
    ]


def test_consult_a_queue_then_complete_the_colleagues_part_is_recorded(
    hotline: RunningHotline,
) -> None:
    """carol consults the queue e2e_rec (which records; her e2e_fifo does not): its free
    agent hank's phone rings, he answers and talks with carol while the caller is on
    hold; carol completes: caller and hank talk, the call is hank's and e2e_rec's (the
    caller is told of the recording, which keeps hank's part), and hank's handling is
    in his reports."""
    handled_before = handled(hotline, "interval=day&agent=hank&queue=e2e_rec")
    scene = Scene(hotline, "5551807", party="hank")
    heard: dict[str, dict[str, float]] = {}

    async def control() -> None:
        contact = await scene.live()
        async with Api(hotline, "carol") as carol, Api(hotline, "hank") as hank:
            state = await consult(carol, contact, "queue:e2e_rec")
            assert state["state"]["consult"]["party"] == "hank"
            scene.party.answered()
            heard["carol talks"] = await asyncio.to_thread(
                heard_by, scene.carol_voice, scene.party_voice
            )
            got, answer = await carol.call("POST", f"/api/calls/{contact}/complete")
            assert got == 200, answer
            answer = await until_state(
                hank, contact, lambda status, st: status == 200 and st["agent"] == "hank"
            )
            assert answer["state"]["queue"] == "e2e_rec" and answer["state"]["held"] is False
            # The recording notice (3.3 s, into their bridge), then their talk is recorded.
            await asyncio.sleep(4.5)
            heard["hank talks"] = await asyncio.to_thread(
                heard_by, scene.party_voice, scene.caller_voice, first=scene.caller_voice
            )
            heard["caller talks"] = await asyncio.to_thread(
                heard_by, scene.caller_voice, scene.party_voice
            )

    try:
        asyncio.run(control())
        scene.finish()
    finally:
        scene.close()
    assert heard["carol talks"]["party"] >= HEARS, heard
    assert heard["hank talks"]["caller"] >= HEARS, heard
    assert heard["caller talks"]["party"] >= HEARS, heard

    caller_contact, events = contact_of(hotline, "5551807")
    assert caller_contact.status == "completed"
    (answered,) = of_type(events, "call.consult_answered")
    assert answered == {"agent": "carol", "to": "queue:e2e_rec", "party": "hank"}
    (moved,) = of_type(events, "call.transferred")
    assert (moved["kind"], moved["to"], moved["by"]) == ("consult", "queue:e2e_rec", "carol")
    connected = of_type(events, "queue.connected")
    assert [(c["agent"], c["queue"]) for c in connected] == [
        ("carol", "e2e_fifo"),
        ("hank", "e2e_rec"),
    ]
    ends = of_type(events, "queue.call_ended")
    assert [(e["agent"], e["ended_by"]) for e in ends] == [
        ("carol", "transfer"),
        ("hank", "caller"),
    ]
    # carol's part was not recorded (e2e_fifo); hank's was, by e2e_rec's policy.
    (started,) = of_type(events, "recording.started")
    assert started["agent"] == "hank"
    (saved,) = of_type(events, "recording.saved")
    assert (saved["agent"], saved["queue"], saved["kind"]) == ("hank", "e2e_rec", "conversation")
    # The file holds their talk (read here, once Asterisk closed it: the event's own
    # duration is read as the call ends, when a loaded machine may not have yet).
    assert recorded_seconds(Path(saved["file"])) >= 3, saved
    consult_contact, consult_events = contact_of(hotline, "agent:carol")
    assert consult_contact.destination == "queue:e2e_rec"
    assert consult_contact.status == "completed"
    finished = [e for e in consult_events if e.type == "agent.finish"]
    assert [(e.agent, e.queue) for e in finished] == [("hank", "e2e_rec")]
    # hank's handling of it is in the reports: one more contact handled in e2e_rec.
    # (another query than before: the reports page keeps an answer for 30 s)
    after = handled(hotline, "interval=day&agent=hank&queue=e2e_rec&channel=voice")
    assert after == handled_before + 1, (handled_before, after)


def recorded_seconds(path: Path, within: float = 10) -> float:
    """How long the WAV file at `path` plays, once Asterisk has written its length."""
    deadline = time.monotonic() + within
    seconds = 0.0
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, EOFError, wave.Error), wave.open(str(path)) as audio:
            seconds = audio.getnframes() / float(audio.getframerate() or 1)
        if seconds > 0:
            return seconds
        time.sleep(0.2)
    return seconds


def handled(hotline: RunningHotline, query: str) -> int:
    """Contacts handled in e2e_rec today, by the report `query` as the API token sees it."""
    request = urllib.request.Request(
        f"{hotline.web_url}/api/reports?{query}",
        headers={"Authorization": f"Bearer {hotline.secrets['api_token']}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        rows = json.loads(response.read())["tables"]["queues"]["rows"]
    return sum(r["handled"] for r in rows if r["queue"] == "e2e_rec" and r["channel"] == "voice")


@pytest.fixture
def desk_context(browser: Any, hotline: RunningHotline) -> Iterator[Any]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    yield context
    context.close()


def test_consult_conference_and_leave_from_the_desk(
    hotline: RunningHotline, desk_context: Any
) -> None:
    """carol works the consultation from her desk's buttons (headless Chromium): a
    number the dial rules refuse is shown and the call goes on; then Consult shows the
    call ringing, then talking with the party (hold and transfer step aside), then
    Conference, then "Leave them together": her panel turns to wrap-up."""
    desk = open_desk(desk_context, hotline, "carol")
    scene = Scene(hotline, "5551805")
    try:
        desk.wait_for_selector("#call[data-phase=talking]", timeout=30_000)
        panel = desk.locator("#call")
        contact = panel.get_attribute("data-contact-id") or ""
        panel.locator("input.transfer-number").fill("12")
        panel.locator("button.consult").click()
        desk.locator("#toast").filter(has_text="cannot dial number:12").wait_for()
        assert "cannot dial number:12" in panel.locator(".target-error").inner_text()
        assert panel.get_attribute("data-consult") is None  # untouched
        panel.locator("input.transfer-number").fill("5557801")
        panel.locator("input.transfer-note").fill("second opinion")
        panel.locator("button.consult").click()
        desk.wait_for_selector("#call[data-consult=talking]", timeout=20_000)
        assert "Consulting 5557801" in panel.locator(".consult-state").inner_text()
        assert panel.locator("button.resume").is_hidden()
        assert panel.locator(".transfer-tools").is_hidden()
        panel.locator("button.conference").click()
        desk.wait_for_selector("#call[data-consult=conference]")
        assert "Conference with 5557801" in panel.locator(".consult-state").inner_text()
        assert panel.locator("button.cancel").count() == 0
        panel.locator("button.complete").click()
        desk.wait_for_selector("#call[data-phase=wrap_up]", timeout=20_000)
        scene.finish()
    finally:
        scene.close()
    events = wait_events(hotline, contact, "call.ended")  # (Playwright's loop runs here)
    assert of_type(events, "call.consult_started")[0]["note"] == "second opinion"
    assert of_type(events, "call.conference_started")[0]["by"] == "carol"
    (left,) = of_type(events, "call.conference_ended")
    assert left["by"] == "carol"
    (moved,) = of_type(events, "call.transferred")
    assert moved["kind"] == "consult" and moved["by"] == "carol"
