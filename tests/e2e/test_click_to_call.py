"""Click-to-call and callbacks by hand on a real Asterisk (issue 16): olga (a SIPp phone
on her fixed contact) places a call through the REST API (`POST /api/calls`); her phone
rings first, then the "customer" SIPp phone is dialed through the dial template with
queue e2e_out's caller id. Both phones answer with their RTP on a socket of the test's
own that plays a tone once Asterisk sends it audio, so what each side hears of the other
is measured. Refusals come first, each with its text, and place no call.
"""

from __future__ import annotations

import asyncio
import math
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hotline.store import Store
from tests.e2e.conftest import RunningHotline, left_in
from tests.e2e.ports import free_port
from tests.e2e.rtp import SILENT
from tests.e2e.sipp import HangUp, SippCall, Wait
from tests.e2e.sipp_uas import Behaviour, TransferTarget
from tests.e2e.test_call_control import Api
from tests.e2e.test_ivr_call import contact_of, of_type
from tests.e2e.test_recovery import running_site

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]

QUEUE = "e2e_out"
CALLER_ID = '"Hotline Out" <sip:5550177@'


def ulaw(sample: int) -> int:
    """A 16-bit linear sample as G.711 mu-law."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = 7
    while exponent > 0 and not magnitude & (0x4000 >> (7 - exponent)):
        exponent -= 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


class TonePhoneMedia:
    """A phone's RTP on 127.0.0.1:`port`: counts what arrives (audible PCMU) and, once
    Asterisk has sent something (so its address is known: symmetric RTP), plays a
    steady tone back every 20 ms."""

    def __init__(self, hertz: float) -> None:
        self.port = free_port("udp", even=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.02)
        self.tone = [
            bytes(
                ulaw(int(8000 * math.sin(2 * math.pi * hertz * (i * 160 + n) / 8000)))
                for n in range(160)
            )
            for i in range(50)
        ]
        self.heard: list[tuple[float, bool]] = []
        self.peer: tuple[str, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        seq, stamp, next_send = 0, 0, time.monotonic()
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(2048)
                self.peer = peer
                if len(data) >= 12 and data[0] >> 6 == 2 and data[1] & 0x7F == 0:
                    payload = data[12 + 4 * (data[0] & 0x0F) :]
                    loud = sum(1 for byte in payload if byte not in SILENT)
                    self.heard.append((time.monotonic(), loud > len(payload) // 10))
            except TimeoutError:
                pass
            except OSError:
                return
            if self.peer is not None and time.monotonic() >= next_send:
                header = struct.pack(">BBHII", 0x80, 0, seq & 0xFFFF, stamp, 0x5EED)
                try:
                    self.sock.sendto(header + self.tone[seq % 50], self.peer)
                except OSError:
                    return
                seq, stamp, next_send = seq + 1, stamp + 160, next_send + 0.02

    def audible_seconds(self, start: float, end: float) -> float:
        return 0.02 * sum(1 for at, loud in self.heard if loud and start <= at < end)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def sipp_phone(
    hotline: RunningHotline,
    name: str,
    behaviour: Behaviour,
    media: TonePhoneMedia | None,
    **kw: Any,
) -> TransferTarget:
    """A SIPp phone on `name`'s port (an agent's fixed contact, or "customer"), its
    audio on `media`'s socket."""
    phone = TransferTarget(hotline.workdir / "phones", behaviour, hotline.targets[name], **kw)
    if media is not None:
        text = phone.file.read_text()
        phone.file.write_text(text.replace("m=audio [media_port] ", f"m=audio {media.port} "))
    return phone.start()


async def read_events(hotline: RunningHotline, contact_id: str) -> list:
    store = await Store.connect(hotline.database_url)
    try:
        return await store.events(contact_id)
    finally:
        await store.close()


async def read_contact(hotline: RunningHotline, contact_id: str) -> Any:
    store = await Store.connect(hotline.database_url)
    try:
        return await store.contact(contact_id)
    finally:
        await store.close()


async def wait_event(
    hotline: RunningHotline, contact_id: str, kind: str, timeout: float = 30
) -> dict:
    """The first `kind` event of the contact, once it is logged."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in await read_events(hotline, contact_id):
            if event.type == kind:
                return event.data
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {kind} for {contact_id}:\n{hotline.log_tail()}")


async def wait_closed(hotline: RunningHotline, contact_id: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        contact = await read_contact(hotline, contact_id)
        if contact is not None and contact.status != "active":
            return contact
        await asyncio.sleep(0.2)
    raise AssertionError(f"contact {contact_id} still active:\n{hotline.log_tail()}")


async def outbound_contacts(hotline: RunningHotline) -> set[str]:
    store = await Store.connect(hotline.database_url)
    try:
        return {c.id for c in await store.recent_contacts(500) if c.channel == "outbound"}
    finally:
        await store.close()


async def when_free(api: Api, path: str, body: Any = None) -> tuple[int, Any]:
    """POST once the agent's wrap-up after an earlier test's call is over."""
    deadline = time.monotonic() + 15
    while True:
        got, answer = await api.call("POST", path, body)
        if got != 409 or "wrap_up" not in answer["error"] or time.monotonic() > deadline:
            return got, answer
        await asyncio.sleep(0.3)


def test_click_to_call_rings_the_agent_first_then_the_customer(
    hotline: RunningHotline,
) -> None:
    olga_media, customer_media = TonePhoneMedia(440), TonePhoneMedia(1000)
    olga = sipp_phone(hotline, "olga", "answer_until_hangup", olga_media, ring=0.5, talk=40)
    # The customer rings 2 s: olga hears ringback for more than the checked 0.3 s even
    # when the media starts late (0.22 s of a 1 s ring once, in a loaded run).
    customer = sipp_phone(hotline, "customer", "answer", customer_media, ring=2.0, talk=11.0)
    marks: dict[str, float] = {}
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        before = await outbound_contacts(hotline)
        async with Api(hotline, "olga") as own, Api(hotline, None) as admin:
            refusals = [
                (own, {"to": "number:12", "queue": QUEUE}, None, 400, "'12' has 2 digits"),
                (own, {"to": "number:5557801", "queue": "nowhere"}, None, 404, "no queue"),
                (
                    own,
                    {"to": "number:5557801", "queue": "e2e_fifo"},
                    None,
                    403,
                    "agent olga is not in queue e2e_fifo",
                ),
                (
                    own,
                    {"to": "number:5557801", "agent": "carol"},
                    None,
                    403,
                    "olga cannot call as carol",
                ),
                (own, None, b"not json", 400, "must be a JSON object"),
                (own, {"to": "agent:bob"}, None, 400, '"to" must be "number:<digits>"'),
                (own, {"to": "customer:999999"}, None, 404, "no customer 999999"),
                (own, {"to": "number:100"}, None, 400, "has 3 digits"),
                (admin, {"to": "number:5557801"}, None, 400, "name the agent"),
                (
                    admin,
                    {"to": "number:5557801", "agent": "gina"},
                    None,
                    409,
                    "gina cannot place a call now: agent gina is paused on voice (unreachable)",
                ),
            ]
            for api, body, raw, status, says in refusals:
                got, answer = await api.call("POST", "/api/calls", body, raw)
                assert (got, says in answer.get("error", "")) == (status, True), (body, answer)
            assert await outbound_contacts(hotline) == before  # nothing placed

            got, answer = await when_free(
                own, "/api/calls", {"to": "number:555 7801", "queue": QUEUE}
            )
            marks["placed"] = time.monotonic()
            assert got == 201, answer
            contact = seen["contact"] = answer["contact_id"]
            await wait_event(hotline, contact, "outbound.answered")
            marks["answered"] = time.monotonic()
            # Busy on voice: a second call is refused, and a caller queued for olga's
            # queue meanwhile is not offered to her.
            got, answer = await own.call("POST", "/api/calls", {"to": "number:5557802"})
            assert got == 409 and "olga cannot place a call now" in answer["error"], answer
            assert "busy" in answer["error"]
            queued = SippCall(
                hotline.workdir / "sipp", hotline.sip_port, "351", "5558351", [Wait(5), HangUp()]
            ).start()
            for _ in range(25):  # under call control once the bridge is up
                got, answer = await own.call("GET", f"/api/calls/{contact}")
                if got == 200:
                    break
                await asyncio.sleep(0.2)
            assert got == 200 and answer["state"]["agent"] == "olga", answer
            assert answer["state"]["queue"] == QUEUE
            await asyncio.sleep(3.5)
            marks["heard"] = time.monotonic()
            # Under call control: on hold the customer hears the queue's music, olga
            # nothing of them; resumed, they talk again.
            got, answer = await own.call("POST", f"/api/calls/{contact}/hold")
            assert got == 200 and answer["state"]["held"] is True, answer
            marks["hold"] = time.monotonic()
            await asyncio.sleep(3.0)
            marks["resume"] = time.monotonic()
            got, answer = await own.call("POST", f"/api/calls/{contact}/resume")
            assert got == 200 and answer["state"]["held"] is False, answer
            seen["queued"] = queued
            await wait_closed(hotline, contact)
            # The queue's wrap-up codes apply to the call (chat's list: e2e_out has none).
            path = f"/api/contacts/{contact}/wrapup"
            got, answer = await own.call("POST", path, {"code": "sale"})
            assert got == 400 and "unknown wrap-up code 'sale' for queue e2e_out" in answer["error"]
            got, answer = await own.call("POST", path, {"code": "resolved"})
            assert got == 200, answer

    try:
        asyncio.run(scenario())
        result = seen["queued"].wait(60)
        assert result.ok, f"{result.output}\n{hotline.log_tail()}"
        assert olga.wait_done().ok, olga.messages()
        assert customer.wait_done(30).ok, customer.messages()
    finally:
        olga_media.close()
        customer_media.close()

    # Each side heard the other (the tone the other side played), for most of the time.
    window = (marks["answered"] + 1.0, marks["heard"])
    length = window[1] - window[0]
    assert olga_media.audible_seconds(*window) >= 0.6 * length, "olga heard no customer"
    assert customer_media.audible_seconds(*window) >= 0.6 * length, "the customer heard no olga"
    held = (marks["hold"] + 0.5, marks["resume"])
    assert olga_media.audible_seconds(*held) < 0.3, "olga heard the customer on hold"
    # Music by the end of the hold: on a loaded box it began 1.1 s after the hold once.
    music = (marks["resume"] - 1.5, marks["resume"])
    assert customer_media.audible_seconds(*music) >= 0.5 * 1.5, "no music"
    print(
        f"\nclick-to-call audio over {length:.1f} s: olga heard the customer "
        f"{olga_media.audible_seconds(*window):.1f} s, the customer heard olga "
        f"{customer_media.audible_seconds(*window):.1f} s; on hold "
        f"{held[1] - held[0]:.1f} s: customer heard music "
        f"{customer_media.audible_seconds(*held):.1f} s, olga "
        f"{olga_media.audible_seconds(*held):.1f} s"
    )
    # Olga heard ringback before the customer answered.
    assert olga_media.audible_seconds(marks["placed"], marks["answered"] - 0.5) > 0.3

    # The customer's phone saw the queue's caller id, the number as the dial rules made it.
    invite = customer.messages()
    assert "INVITE sip:5557801@" in invite
    assert CALLER_ID in invite, invite[:1500]
    assert olga.messages().count("INVITE sip:") == 1  # refused calls rang nobody

    contact_id = seen["contact"]
    events = asyncio.run(read_events(hotline, contact_id))
    kinds = [e.type for e in events]
    (started,) = of_type(events, "outbound.started")
    assert started == {"agent": "olga", "to": "number:555 7801", "queue": QUEUE, "by": "olga"}
    assert of_type(events, "outbound.answered") == [{"agent": "olga", "to": "number:555 7801"}]
    assert not of_type(events, "outbound.failed")
    (offer,) = [e for e in events if e.type == "contact.offer"]
    assert offer.agent == "olga" or offer.data.get("agent") == "olga"
    # Agent first: offered and answered before the customer was dialed and answered.
    assert kinds.index("contact.answered") < kinds.index("outbound.answered")
    assert of_type(events, "call.held") == [{"agent": "olga", "by": "olga"}]
    (resumed,) = of_type(events, "call.resumed")
    assert resumed["by"] == "olga" and 2 <= resumed["hold_seconds"] <= 5
    (saved,) = of_type(events, "recording.saved")
    assert saved["agent"] == "olga" and saved["duration"] >= 3, saved
    (ended,) = of_type(events, "queue.call_ended")
    assert ended["agent"] == "olga" and ended["ended_by"] == "caller"
    assert ended["talk_seconds"] >= 8 and ended["hold_seconds"] == resumed["hold_seconds"]
    contact = asyncio.run(read_contact(hotline, contact_id))
    assert (contact.channel, contact.direction, contact.status) == (
        "outbound",
        "outbound",
        "completed",
    )
    assert contact.destination == "5557801"
    # The agent went to the queue's wrap-up after the call.
    assert "agent.finish" in kinds, kinds
    assert of_type(events, "contact.wrapup")[0]["code"] == "resolved"

    queued_contact, queued_events = contact_of(hotline, "5558351")
    assert of_type(queued_events, "contact.join"), [e.type for e in queued_events]
    assert not [e for e in queued_events if e.type == "contact.offer"], "offered to busy olga"
    assert queued_contact.status == "abandoned"


def test_the_agent_does_not_answer_so_nobody_is_dialed(hotline: RunningHotline) -> None:
    olga = sipp_phone(hotline, "olga", "no_answer", None, wait=30)
    customer = sipp_phone(hotline, "customer", "answer", None, ring=0.5, talk=1.0, wait=20)
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with Api(hotline, "olga") as own:
            got, answer = await when_free(own, "/api/calls", {"to": "number:5557803"})
            assert got == 201, answer
            contact = seen["contact"] = answer["contact_id"]
            seen["failed"] = await wait_event(hotline, contact, "outbound.failed", timeout=20)
            seen["closed"] = await wait_closed(hotline, contact)

    try:
        asyncio.run(scenario())
        assert olga.wait_done(30).ok, olga.messages()
    finally:
        customer.stop()
    assert "INVITE" not in customer.messages()  # never dialed
    assert seen["failed"] == {"agent": "olga", "to": "number:5557803", "reason": "agent_no_answer"}
    assert seen["closed"].status == "failed"
    events = asyncio.run(read_events(hotline, seen["contact"]))
    assert not of_type(events, "outbound.answered")
    assert any(e.type == "contact.leave" for e in events)


def test_a_booked_callback_called_by_hand(hotline: RunningHotline) -> None:
    olga = sipp_phone(hotline, "olga", "answer_until_hangup", None, ring=0.5, talk=30)
    customer = sipp_phone(hotline, "customer", "answer", None, ring=0.5, talk=3.0)
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with Api(hotline, "olga") as own, Api(hotline, None) as admin:
            got, answer = await admin.call(
                "POST", "/api/callbacks", {"number": "5557804", "queue": QUEUE}
            )
            assert got == 201, answer
            callback = seen["callback"] = answer["callback"]["id"]
            for body, status, says in [
                ({"agent": "carol"}, 403, "olga cannot call as carol"),
                ({"queue": QUEUE}, 400, "takes only 'agent'"),
            ]:
                got, answer = await own.call("POST", f"/api/callbacks/{callback}/call", body)
                assert (got, says in answer.get("error", "")) == (status, True), answer
            got, answer = await own.call("POST", "/api/callbacks/no-such/call")
            assert got == 404 and "no callback 'no-such'" in answer["error"], answer
            got, answer = await when_free(own, f"/api/callbacks/{callback}/call")
            assert got == 201 and answer["contact_id"] == callback, answer
            got, answer = await own.call("POST", f"/api/callbacks/{callback}/call")
            assert got == 409, answer  # olga is on it
            await wait_event(hotline, callback, "callback.completed", timeout=40)
            got, answer = await own.call("POST", f"/api/callbacks/{callback}/call")
            assert got == 409 and "is completed, not open" in answer["error"], answer
            got, answer = await own.call("GET", "/api/callbacks")
            assert callback not in [c["id"] for c in answer["callbacks"]]

    asyncio.run(scenario())
    assert customer.wait_done(30).ok, customer.messages()
    assert olga.wait_done().ok, olga.messages()
    assert CALLER_ID in customer.messages()
    events = asyncio.run(read_events(hotline, seen["callback"]))
    kinds = [e.type for e in events]
    assert kinds.index("outbound.started") < kinds.index("outbound.answered")
    attempts = of_type(events, "callback.attempt")
    assert [a.get("event") for a in attempts] == ["by_hand"], attempts
    (done,) = of_type(events, "callback.completed")
    assert done["agent"] == "olga" and done["reason"] == "completed"
    contact = asyncio.run(read_contact(hotline, seen["callback"]))
    assert (contact.channel, contact.status) == ("callback", "completed")


def test_a_busy_customer_fails_the_call_and_the_agent_wraps_up(hotline: RunningHotline) -> None:
    olga = sipp_phone(hotline, "olga", "answer_until_hangup", None, ring=0.3, talk=30)
    customer = sipp_phone(hotline, "customer", "busy", None)
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with Api(hotline, None) as supervisor:  # a supervisor names the agent
            got, answer = await when_free(
                supervisor, "/api/calls", {"to": "number:5557808", "agent": "olga"}
            )
            assert got == 201, answer
            contact = seen["contact"] = answer["contact_id"]
            seen["failed"] = await wait_event(hotline, contact, "outbound.failed", timeout=20)
            seen["closed"] = await wait_closed(hotline, contact)

    asyncio.run(scenario())
    assert olga.wait_done(30).ok, olga.messages()  # hung up once the customer was busy
    assert customer.wait_done(30).ok, customer.messages()
    assert seen["failed"] == {
        "agent": "olga",
        "to": "number:5557808",
        "reason": "busy",
        "cause": 17,
    }
    assert seen["closed"].status == "failed"
    events = asyncio.run(read_events(hotline, seen["contact"]))
    (started,) = of_type(events, "outbound.started")
    assert started == {"agent": "olga", "to": "number:5557808", "queue": QUEUE, "by": "api"}
    kinds = [e.type for e in events]
    assert "contact.answered" in kinds and "agent.finish" in kinds  # wrap-up after it


def test_the_agent_transfers_the_customer_to_a_colleague(hotline: RunningHotline) -> None:
    olga = sipp_phone(hotline, "olga", "answer_until_hangup", None, ring=0.3, talk=30)
    customer = sipp_phone(hotline, "customer", "answer", None, ring=0.5, talk=8.0)
    carol = sipp_phone(hotline, "carol", "answer_until_hangup", None, ring=0.5, talk=30)
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with Api(hotline, "olga") as own:
            got, answer = await when_free(own, "/api/calls", {"to": "number:5557809"})
            assert got == 201, answer
            contact = seen["contact"] = answer["contact_id"]
            await wait_event(hotline, contact, "outbound.answered")
            for _ in range(25):
                got, answer = await own.call(
                    "POST", f"/api/calls/{contact}/transfer", {"to": "agent:carol", "note": "VIP"}
                )
                if got != 404:  # under call control once the bridge is up
                    break
                await asyncio.sleep(0.2)
            assert got == 200, answer
            seen["closed"] = await wait_closed(hotline, contact)

    asyncio.run(scenario())
    assert customer.wait_done(30).ok, customer.messages()
    assert olga.wait_done(30).ok, olga.messages()  # hung up by the transfer
    assert carol.wait_done(30).ok, carol.messages()  # hung up when the customer left
    events = asyncio.run(read_events(hotline, seen["contact"]))
    (moved,) = of_type(events, "call.transferred")
    assert moved == {
        "agent": "olga",
        "to": "agent:carol",
        "kind": "blind",
        "note": "VIP",
        "by": "olga",
    }
    answered = [e.agent or e.data.get("agent") for e in events if e.type == "contact.answered"]
    assert answered == ["olga", "carol"]
    ended = of_type(events, "queue.call_ended")
    assert [(e["agent"], e["ended_by"]) for e in ended] == [
        ("olga", "transfer"),
        ("carol", "caller"),
    ]
    assert seen["closed"].status == "completed"


def test_a_controller_killed_mid_call_ends_it_lost_and_frees_the_agent(tmp_path: Path) -> None:
    """SIGKILL under a live outbound call: the next controller hangs its legs up (they
    belong to no call it can carry on), ends the contact "lost", and olga can call
    again at once."""
    with running_site(tmp_path, speech=False) as site:  # nothing here listens
        site.start()

        def phones(customer: Behaviour, talk: float) -> tuple[TransferTarget, TransferTarget]:
            return (
                TransferTarget(
                    site.workdir / "phones",
                    "answer_until_hangup",
                    site.targets["olga"],
                    ring=0.3,
                    talk=60,
                ).start(),
                TransferTarget(
                    site.workdir / "phones",
                    customer,
                    site.targets["customer"],
                    ring=0.3,
                    talk=talk,
                ).start(),
            )

        async def place(number: str) -> str:
            assert site.controller is not None
            async with Api(site.controller, "olga") as own:
                got, answer = await when_free(own, "/api/calls", {"to": f"number:{number}"})
                assert got == 201, answer
                return str(answer["contact_id"])

        def answered(contact: str) -> bool:
            return any(
                e.type == "outbound.answered" for e in site.read(lambda s: s.events(contact))
            )

        olga, customer = phones("answer_until_hangup", 60)
        try:
            first = asyncio.run(place("5557811"))
            site.until(lambda: answered(first), 60, "the customer answers")
            site.kill()
            site.start()
            recovered = site.until(
                lambda: site.events(["controller.recovered"])[1:], 60, "the second start's recovery"
            )
            assert recovered[-1].data["orphans"] >= 2, recovered[-1].data  # both legs
            assert olga.wait_done(30).ok and customer.wait_done(30).ok  # both hung up
        finally:
            olga.stop()
            customer.stop()
        lost = site.read(lambda s: s.contact(first))
        assert lost.status == "lost"
        events = site.read(lambda s: s.events(first))
        failed = [e.data for e in events if e.type == "outbound.failed"]
        assert failed == [{"agent": "olga", "to": "number:5557811", "reason": "controller_lost"}]

        # Free again: a new call goes through (the customer hangs up after 2 s).
        olga, customer = phones("answer", 2)
        try:
            second = asyncio.run(place("5557812"))
            site.until(lambda: answered(second), 60, "the second call is answered")
            assert customer.wait_done(30).ok and olga.wait_done(30).ok
        finally:
            olga.stop()
            customer.stop()
        site.until(
            lambda: left_in(site.ari) == ([], []),
            15,
            "no channel or bridge left",
        )
