"""Call control on a real Asterisk (issue 16): a SIPp caller reaches carol (a SIPp
phone on her fixed contact) through queue e2e_fifo (number 304), and the call is held
and resumed through the REST API (`POST /api/calls/{contact}/{action}`): the caller hears
the queue's music on hold only while held (RTP measured at the caller), the hold is in
the event log, and bad commands are refused with a clear text, the call untouched.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from hotline.store import Store
from tests.e2e.conftest import TEST_PASSWORD, RunningHotline
from tests.e2e.dtmf import keys_capture
from tests.e2e.rtp import RtpSink
from tests.e2e.sipp import ExpectHangup, SippCall
from tests.e2e.sipp_uas import ANSWER_SDP, HEAD, KEEP, REPLY, UNTIL_BYE, TransferTarget
from tests.e2e.test_ivr_call import contact_of, of_type
from tests.e2e.test_queue import phone

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]


class Api:
    """The REST API as one web user (a session cookie) or as the API token (admin)."""

    def __init__(self, hotline: RunningHotline, user: str | None) -> None:
        self.hotline = hotline
        self.user = user
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.headers = {"Origin": hotline.web_url}
        if user is None:
            self.headers["Authorization"] = f"Bearer {hotline.secrets['api_token']}"

    async def __aenter__(self) -> Api:
        if self.user is not None:
            async with self.http.post(
                f"{self.hotline.web_url}/login",
                json={"user": self.user, "password": TEST_PASSWORD},
                headers=self.headers,
            ) as response:
                assert response.status == 200, await response.text()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.close()

    async def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        headers = {**self.headers, "Content-Type": "application/json"}
        async with self.http.request(
            method, f"{self.hotline.web_url}{path}", data=data, headers=headers
        ) as response:
            return response.status, await response.json()


async def live_contact(hotline: RunningHotline, number: str, timeout: float = 30) -> str:
    """The contact of the caller from `number` once it talks with an agent."""
    deadline = time.monotonic() + timeout
    async with Api(hotline, None) as admin:
        while time.monotonic() < deadline:
            store = await Store.connect(hotline.database_url)
            try:
                ids = [c.id for c in await store.recent_contacts(200) if c.source == number]
            finally:
                await store.close()
            for contact_id in ids:
                status, _ = await admin.call("GET", f"/api/calls/{contact_id}")
                if status == 200:
                    return contact_id
            await asyncio.sleep(0.2)
    raise AssertionError(f"no live call from {number}:\n{hotline.log_tail()}")


def test_hold_plays_the_queues_music_and_resume_brings_the_agent_back(
    hotline: RunningHotline,
) -> None:
    carol = phone(hotline, "carol", "answer", ring=0.5, talk=16)
    sink = RtpSink()
    marks: dict[str, float] = {}

    async def control() -> None:
        contact = await live_contact(hotline, "5551601")
        marks["talking"] = time.monotonic()
        async with Api(hotline, "carol") as own, Api(hotline, "dave") as other:
            path = f"/api/calls/{contact}"
            # Refused, each with its reason; the call stays as it is.
            refusals = [
                (own, f"{path}/resume", None, None, 409, "is not on hold"),
                (own, "/api/calls/no-such-contact/hold", None, None, 404, "no live call"),
                (other, f"{path}/hold", None, None, 403, "is carol's call"),
                (own, f"{path}/park", None, None, 400, "unknown action 'park'"),
                (own, f"{path}/hold", None, b"not json", 400, "must be a JSON object"),
                (own, f"{path}/hold", {"to": "agent:bob"}, None, 400, "hold takes no fields"),
                (own, f"{path}/transfer", {"to": "bob"}, None, 400, "must start with agent:"),
            ]
            for api, url, body, raw, status, says in refusals:
                got, answer = await api.call("POST", url, body, raw)
                assert (got, says in answer.get("error", "")) == (status, True), (url, answer)
            got, answer = await own.call("GET", path)
            assert got == 200 and answer["state"]["held"] is False
            assert answer["state"]["agent"] == "carol" and answer["state"]["consult"] is None
            got, answer = await other.call("GET", path)
            assert got == 403
            await asyncio.sleep(2.5)  # talking: the caller hears the (silent) agent

            marks["hold"] = time.monotonic()
            got, answer = await own.call("POST", f"{path}/hold")
            assert got == 200, answer
            assert answer["state"]["held"] is True and answer["contact_id"] == contact
            got, answer = await own.call("POST", f"{path}/hold")
            assert got == 409 and "already on hold" in answer["error"]
            await asyncio.sleep(4)

            async with Api(hotline, None) as supervisor:  # supervisors act on any call
                marks["resume"] = time.monotonic()
                got, answer = await supervisor.call("POST", f"{path}/resume")
            assert got == 200, answer
            assert answer["state"]["held"] is False
            assert 3.5 <= answer["state"]["hold_seconds"] <= 6
            await asyncio.sleep(3)
            marks["checked"] = time.monotonic()

    try:
        call = SippCall(
            hotline.workdir / "sipp",
            hotline.sip_port,
            "304",
            "5551601",
            [ExpectHangup(60)],
            rtp_port=sink.port,
        ).start()
        asyncio.run(control())
        result = call.wait(60)
        assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    finally:
        sink.close()
    assert carol.wait_done().ok

    talking = sink.audible_seconds(marks["talking"] + 0.5, marks["hold"])
    held = sink.audible_seconds(marks["hold"] + 0.5, marks["resume"])
    back = sink.audible_seconds(marks["resume"] + 0.5, marks["checked"])
    assert talking < 0.3, f"{talking:.2f} s of sound while talking to a silent agent"
    # Music on hold has quiet passages: most of the hold, not all of it, is audible.
    assert held >= 0.6 * (marks["resume"] - marks["hold"] - 0.5), f"{held:.2f} s of music"
    assert back < 0.3, f"{back:.2f} s of sound after resume"

    contact, events = contact_of(hotline, "5551601")
    (hold,) = of_type(events, "call.held")
    assert hold == {"agent": "carol", "by": "carol"}
    (resumed,) = of_type(events, "call.resumed")
    assert resumed["by"] == "api" and resumed["ended"] is False
    assert (
        3.5 <= resumed["hold_seconds"] <= 6
        and resumed["total_hold_seconds"] == (resumed["hold_seconds"])
    )
    (ended,) = of_type(events, "queue.call_ended")
    assert ended["ended_by"] == "agent" and ended["hold_seconds"] == resumed["hold_seconds"]
    assert ended["talk_seconds"] > ended["hold_seconds"]
    assert contact.status == "completed"


def test_a_call_that_ends_on_hold_ends_its_hold(hotline: RunningHotline) -> None:
    """The agent hangs up while the caller is on hold: the music stops, the hold is
    logged as ended with the call, and the caller's flow goes on (then hangs up)."""
    carol = phone(hotline, "carol", "answer", ring=0.5, talk=5)

    async def control() -> None:
        contact = await live_contact(hotline, "5551602")
        async with Api(hotline, "carol") as own:
            got, answer = await own.call("POST", f"/api/calls/{contact}/hold")
            assert got == 200, answer
            await asyncio.sleep(6)  # carol hangs up meanwhile
            got, answer = await own.call("POST", f"/api/calls/{contact}/resume")
            assert got == 404 and "no live call" in answer["error"]

    call = SippCall(
        hotline.workdir / "sipp", hotline.sip_port, "304", "5551602", [ExpectHangup(60)]
    ).start()
    asyncio.run(control())
    result = call.wait(60)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert carol.wait_done().ok
    contact, events = contact_of(hotline, "5551602")
    (resumed,) = of_type(events, "call.resumed")
    assert resumed["ended"] is True and resumed["by"] == "agent"
    (ended,) = of_type(events, "queue.call_ended")
    assert ended["ended_by"] == "agent" and ended["hold_seconds"] == resumed["hold_seconds"]
    assert contact.status == "completed"


def test_blind_transfer_to_a_number(hotline: RunningHotline) -> None:
    """carol transfers her caller to a number: refused targets first (the call goes on
    untouched), then the number (the callbacks' dial template: the "customer" phone)
    rings, answers and talks with the caller; carol's phone is hung up, she goes to
    wrap-up, and the note is in the contact's log."""
    carol = phone(hotline, "carol", "answer_until_hangup", ring=0.5, talk=40)
    customer = phone(hotline, "customer", "answer", ring=1.0, talk=3.0)

    async def control() -> None:
        contact = await live_contact(hotline, "5551603")
        async with Api(hotline, "carol") as own:
            path = f"/api/calls/{contact}/transfer"
            refusals = [
                ({"to": "number:12"}, 400, "cannot dial number:12: '12' has 2 digits"),
                ({"to": "number:12ab"}, 400, "is not a phone number"),
                ({"to": "agent:nobody"}, 404, "no agent 'nobody'"),
                ({"to": "queue:nowhere"}, 404, "no queue 'nowhere'"),
                ({"to": "number:5557701", "note": 7}, 400, '"note" must be a text'),
            ]
            for body, status, says in refusals:
                got, answer = await own.call("POST", path, body)
                assert (got, says in answer.get("error", "")) == (status, True), (body, answer)
            got, answer = await own.call("GET", f"/api/calls/{contact}")
            assert got == 200 and answer["state"]["held"] is False  # untouched
            got, answer = await own.call(
                "POST", path, {"to": "number:555 7701", "note": "wants the billing team"}
            )
            assert got == 200, answer
            assert answer["state"]["agent"] == "carol"

    call = SippCall(
        hotline.workdir / "sipp", hotline.sip_port, "304", "5551603", [ExpectHangup(60)]
    ).start()
    asyncio.run(control())
    result = call.wait(60)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert carol.wait_done().ok  # hung up by the transfer
    assert customer.wait_done(30).ok
    assert "INVITE sip:5557701@" in customer.messages()

    contact, events = contact_of(hotline, "5551603")
    (moved,) = of_type(events, "call.transferred")
    assert moved == {
        "agent": "carol",
        "to": "number:555 7701",
        "kind": "blind",
        "note": "wants the billing team",
        "by": "carol",
    }
    (ended,) = of_type(events, "queue.call_ended")
    assert ended["ended_by"] == "transfer" and ended["agent"] == "carol"
    (answered,) = of_type(events, "transfer.answered")
    assert answered["target"] == "number:555 7701"
    (over,) = of_type(events, "transfer.ended")
    assert over["outcome"] == "answered" and over["ended_by"] == "target"
    kinds = [e.type for e in events]
    assert kinds.index("queue.call_ended") < kinds.index("transfer.started")
    assert contact.status in ("completed", "transferred")


def keying_phone(
    hotline: RunningHotline, agent: str, keys: list[tuple[float, str]], talk: float
) -> TransferTarget:
    """The agent's phone (SIPp on their fixed contact): answers after 0.5 s, keys each
    `(seconds after answering, digits)` as RFC 2833 events (0.4 s apart), then talks
    until hung up (within `talk` seconds)."""
    phone = TransferTarget(
        hotline.workdir / "phones", "answer_until_hangup", hotline.targets[agent], talk=talk
    )
    parts = [
        HEAD.format(behaviour="keys", keep='      <log message="INVITE"/>\n'),
        REPLY.format(status="180 Ringing"),
        ANSWER_SDP.format(ring_ms=500),
    ]
    # All of them one capture: one SIPp thread plays them, in order (tests/e2e/dtmf.py).
    first = keys[0][0]
    presses = [
        (at - first + 0.4 * i, digit) for at, digits in keys for i, digit in enumerate(digits)
    ]
    capture = keys_capture(presses, 0, phone.workdir)
    parts.append(f'  <pause milliseconds="{int(first * 1000)}"/>\n')
    parts.append(f'  <nop><action><exec play_pcap_audio="{capture}"/></action></nop>\n')
    parts.append(UNTIL_BYE.format(talk_ms=int(talk * 1000)))
    parts.append("</scenario>\n")
    phone.file.write_text("".join(parts))
    return phone.start()


def test_feature_codes_from_the_agents_phone(hotline: RunningHotline) -> None:
    """carol keys *2# (refused: no number), *1 (hold), *1 (resume), then *25557702#
    (blind transfer to that number) on her phone while talking."""
    keys = [(1.5, "*2#"), (3.5, "*1"), (6.5, "*1"), (9.0, "*25557702#")]
    carol = keying_phone(hotline, "carol", keys, talk=40)
    customer = phone(hotline, "customer", "answer", ring=0.5, talk=2.0)
    call = SippCall(
        hotline.workdir / "sipp", hotline.sip_port, "304", "5551604", [ExpectHangup(60)]
    ).start()
    result = call.wait(60)
    # The log's tail names each feature key the controller got and what became of it.
    assert result.ok, f"{result.output}\n{hotline.log_tail(120)}"
    assert carol.wait_done().ok  # hung up by the transfer
    assert customer.wait_done(30).ok
    # On failure, the requests the customer's phone got and whom they were for.
    got = customer.messages()
    heads = [line for line in got.splitlines() if line.startswith(("INVITE ", "BYE ", "To:"))]
    assert "INVITE sip:5557702@" in got, heads

    _, events = contact_of(hotline, "5551604")
    features = of_type(events, "call.feature")
    assert [f["keys"] for f in features] == ["*2#", "*1", "*1", "*25557702#"], features
    assert "is not a phone number" in features[0]["refused"]
    assert all("refused" not in f for f in features[1:])
    assert of_type(events, "call.held") == [{"agent": "carol", "by": "carol"}]
    (resumed,) = of_type(events, "call.resumed")
    assert resumed["by"] == "carol" and 2.0 <= resumed["hold_seconds"] <= 4.5
    (moved,) = of_type(events, "call.transferred")
    assert moved["to"] == "number:5557702" and moved["by"] == "carol"
    (over,) = of_type(events, "transfer.ended")
    assert over["outcome"] == "answered"


REFER = """  <pause milliseconds="{after_ms}"/>
  <send retrans="500">
    <![CDATA[
      REFER [$invite_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:target@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To: [$remote_from]
      Call-ID: [call_id]
      CSeq: 2 REFER
      Contact: <sip:target@[local_ip]:[local_port]>
      Refer-To: <sip:{number}@127.0.0.1>
      Referred-By: <sip:target@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="202"/>
  <label id="wait"/>
  <recv request="NOTIFY" optional="true" next="notify"/>
  <recv request="BYE" next="bye" timeout="{talk_ms}"/>
  <label id="notify"/>
  <send next="wait">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <label id="bye"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
"""


def referring_phone(
    hotline: RunningHotline, agent: str, number: str, after: float
) -> TransferTarget:
    """The agent's phone: answers, and `after` seconds later sends a blind REFER to
    `number` (as a softphone's transfer button does), then waits to be hung up."""
    phone = TransferTarget(
        hotline.workdir / "phones", "answer_until_hangup", hotline.targets[agent], talk=40
    )
    keep = "".join(
        f'      <ereg regexp={KEEP[name]} assign_to="{name}"/>\\n'
        for name in ("remote_from", "invite_contact")
    )
    parts = [
        HEAD.format(behaviour="refer", keep=keep),
        REPLY.format(status="180 Ringing"),
        ANSWER_SDP.format(ring_ms=500),
        REFER.format(after_ms=int(after * 1000), number=number, talk_ms=40000),
        "</scenario>\\n",
    ]
    phone.file.write_text("".join(parts))
    return phone.start()


def test_blind_refer_from_the_agents_phone(hotline: RunningHotline) -> None:
    carol = referring_phone(hotline, "carol", "5557703", after=2.0)
    customer = phone(hotline, "customer", "answer", ring=0.5, talk=2.0)
    call = SippCall(
        hotline.workdir / "sipp", hotline.sip_port, "304", "5551605", [ExpectHangup(60)]
    ).start()
    result = call.wait(60)
    assert result.ok, f"{result.output}\\n{hotline.log_tail()}"
    assert carol.wait_done().ok, carol.messages()
    assert customer.wait_done(30).ok
    assert "INVITE sip:5557703@" in customer.messages()
    _, events = contact_of(hotline, "5551605")
    (moved,) = of_type(events, "call.transferred")
    assert moved["to"] == "number:5557703" and moved["by"] == "carol"
    assert moved["kind"] == "blind"
    assert of_type(events, "call.refer") == [{"agent": "carol", "to": "5557703"}]
    # The phone was told the transfer went through (the last NOTIFY's sipfrag: 200).
    final = carol.messages().split("Subscription-State: terminated", 1)[1]
    sipfrag = final.split("message/sipfrag", 1)[1].split("SIP/2.0", 1)[1]
    assert sipfrag.lstrip().startswith("200"), final
