"""Attended transfer from the agent's phone on a real Asterisk (issue 16).

A SIPp caller reaches lena (number 341, queue e2e_xfer) on her phone, a SIPp UAS on her
fixed contact. While they talk, her phone places a second call (a SIPp UAC that
authenticates as her endpoint 2041) to 2042, omar's extension: Hotline takes it as a
consultation of her call (the caller on hold, omar's phone rung through the routing
engine), omar answers and talks with lena on that second call. Then her phone sends a
REFER on the first call with Replaces naming the second (its Call-ID and tags, read
from the second call's messages): an attended transfer. The caller ends up talking
with omar (each one's tone measured at the other), both of lena's calls are hung up,
her phone is told it worked (NOTIFY 200), and the log has `call.transferred` kind
consult. The same sent while omar's phone still rings (a semi-attended transfer):
the caller hears it ring and talks with omar once he answers. A second call to a
number the dial rules refuse is refused busy and the first goes on untouched.
(Asterisk 22 reports the REFER to Hotline as a ChannelTransfer naming the second
call's channel: `PJSIP_TRANSFER_HANDLING()=ari-only` on her leg.)
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import urllib.parse
from typing import Any

import pytest

from tests.e2e.conftest import RunningHotline
from tests.e2e.sipp import Gate, HangUp, SippCall, SippResult, finish_sipp, start_sipp
from tests.e2e.sipp_uas import ANSWER_SDP, HEAD, KEEP, REPLY, TransferTarget
from tests.e2e.test_call_consult import HEARS, Phone, Voice, heard_by, until_state
from tests.e2e.test_call_control import REFER, Api, live_contact
from tests.e2e.test_ivr_call import contact_of, of_type

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]

#: lena's phone, first call: answers, waits for the test's word (an OPTIONS in the
#: dialog carrying the Replaces value), then sends the attended REFER.
WAIT_FOR_REPLACES = """  <recv request="OPTIONS" timeout="60000">
    <action>
      <ereg regexp="[^ ]+" search_in="hdr" header="X-Replaces:" assign_to="replaces"/>
    </action>
  </recv>
"""

#: lena's phone, second call: INVITE `to` as her endpoint (digest auth), talk until
#: Hotline hangs it up (ANSWERED), or is refused busy (REFUSED).
SECOND_CALL = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="lena's second call">
  <send retrans="500">
    <![CDATA[
      INVITE sip:{to}@127.0.0.1:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:2041@127.0.0.1>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{to}@127.0.0.1>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:2041@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

{sdp}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="401" auth="true"/>
  <send>
    <![CDATA[
      ACK sip:{to}@127.0.0.1:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:2041@127.0.0.1>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{to}@127.0.0.1>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      INVITE sip:{to}@127.0.0.1:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:2041@127.0.0.1>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{to}@127.0.0.1>
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:2041@[local_ip]:[local_port]>
      [authentication username=2041 password={password}]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

{sdp}
    ]]>
  </send>
{answer}</scenario>
"""

ANSWERED = """  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:2041@127.0.0.1>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{to}@127.0.0.1>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv request="BYE" timeout="60000"/>
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

#: lena hangs her second call up herself, `after_ms` after it was answered.
HANGS_UP = """  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:2041@127.0.0.1>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{to}@127.0.0.1>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <pause milliseconds="{after_ms}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:2041@127.0.0.1>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{to}@127.0.0.1>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 3 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
"""

#: Hotline refuses the second call: busy.
REFUSED = """  <recv response="100" optional="true"/>
  <recv response="486"/>
  <send>
    <![CDATA[
      ACK sip:{to}@127.0.0.1:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:2041@127.0.0.1>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{to}@127.0.0.1>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"""

SDP = """      v=0
      o=lena 1 1 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio {port} RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=sendrecv"""


class SecondCall:
    """lena's phone's second call (a SIPp UAC, her endpoint's credentials)."""

    def __init__(
        self,
        hotline: RunningHotline,
        voice: Voice,
        to: str = "2042",
        *,
        refused: bool = False,
        hang_up_after: float | None = None,
    ) -> None:
        """`refused`: Hotline is expected to refuse it; `hang_up_after`: lena hangs it
        up that many seconds after it was answered; else Hotline hangs it up."""
        self.workdir = hotline.workdir / "phones" / f"second-call-{voice.port}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        password = hotline.secrets["agent_passwords"]["2041"]
        if refused:
            answer = REFUSED.format(to=to)
        elif hang_up_after is not None:
            answer = HANGS_UP.format(to=to, after_ms=int(hang_up_after * 1000))
        else:
            answer = ANSWERED.format(to=to)
        sdp = SDP.format(port=voice.port)
        text = SECOND_CALL.format(password=password, sdp=sdp, to=to, answer=answer)
        (self.workdir / "uac.xml").write_text(text)
        args = ["-sf", "uac.xml", f"127.0.0.1:{hotline.sip_port}", "-m", "1"]
        self.proc = start_sipp([*args, "-timeout", "90s"], self.workdir)

    def messages(self) -> str:
        path = self.workdir / "messages.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def replaces(self, timeout: float = 20) -> str:
        """The Replaces value naming this call as Asterisk knows it (call-id; to-tag:
        Asterisk's, from-tag: the phone's), URL-encoded for a Refer-To URI."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = re.search(r"SIP/2\.0 200 OK.*?(?=\n\n|\Z)", self.messages(), re.S)
            if answer is not None:
                head = answer.group(0)
                call_id = re.search(r"Call-ID: *(\S+)", head)
                to_tag = re.search(r"^To:.*;tag=([^;\s>]+)", head, re.M)
                from_tag = re.search(r"^From:.*;tag=([^;\s>]+)", head, re.M)
                if call_id and to_tag and from_tag:
                    value = (
                        f"{call_id.group(1)};to-tag={to_tag.group(1)};from-tag={from_tag.group(1)}"
                    )
                    return urllib.parse.quote(value, safe="")
            time.sleep(0.2)
        raise AssertionError(f"the second call was not answered:\n{self.messages()[-3000:]}")

    def wait_done(self, timeout: float = 30) -> SippResult:
        return finish_sipp(self.proc, self.workdir, timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


#: The REFER's subscription outlives the call's BYE (RFC 6665: its own dialog usage):
#: Asterisk sends the final NOTIFY from another serializer than the BYE (sent right
#: after: Hotline hangs her leg up once it has reported the transfer's progress), so
#: it may come a moment after it. Her phone keeps acknowledging NOTIFYs until the
#: final one (`told`), as a softphone does, for at most 5 s after the BYE.
TOLD = (
    '      <ereg regexp="terminated" search_in="hdr" header="Subscription-State:"'
    ' assign_to="told"/>\n'
)
UNTIL_TOLD = f"""  <label id="after_bye"/>
  <nop test="told" next="told"/>
  <recv request="NOTIFY" timeout="5000">
    <action>
{TOLD}    </action>
  </recv>
  <send next="after_bye">
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
  <label id="told"/>
"""


def first_call(hotline: RunningHotline) -> TransferTarget:
    """lena's phone's first call: answers the queue's call, waits for the word, sends
    the attended REFER, acknowledges NOTIFYs until Hotline hangs up and the final
    NOTIFY came (`UNTIL_TOLD`)."""
    lena = TransferTarget(
        hotline.workdir / "phones", "answer_until_hangup", hotline.targets["lena"], talk=60
    )
    keep = "".join(
        f'      <ereg regexp={KEEP[name]} assign_to="{name}"/>\n'
        for name in ("remote_from", "invite_contact")
    )
    refer = (
        REFER.format(after_ms=10, number="2042", talk_ms=60000)
        .replace(
            "Refer-To: <sip:2042@127.0.0.1>", "Refer-To: <sip:2042@127.0.0.1?Replaces=[$replaces]>"
        )
        .replace(
            '<recv request="NOTIFY" optional="true" next="notify"/>',
            '<recv request="NOTIFY" optional="true" next="notify">\n    <action>\n'
            f"{TOLD}    </action>\n  </recv>",
        )
    )
    parts = [
        HEAD.format(behaviour="attended", keep=keep),
        REPLY.format(status="180 Ringing"),
        ANSWER_SDP.format(ring_ms=300),
        WAIT_FOR_REPLACES,
        refer,
        UNTIL_TOLD,
        "</scenario>\n",
    ]
    lena.file.write_text("".join(parts))
    return lena.start()


def tell(phone: TransferTarget, replaces: str) -> None:
    """An OPTIONS in the first call's dialog, straight to lena's SIPp: the Replaces."""
    text = phone.messages()
    call_id = re.search(r"Call-ID: *(\S+)", text)
    assert call_id is not None, text
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        here = sock.getsockname()[1]
        message = (
            f"OPTIONS sip:target@127.0.0.1:{phone.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{here};branch=z9hG4bK-word-{here}\r\n"
            f"From: <sip:word@127.0.0.1:{here}>;tag=word{here}\r\n"
            f"To: <sip:target@127.0.0.1:{phone.port}>\r\n"
            f"Call-ID: {call_id.group(1)}\r\n"
            f"X-Replaces: {replaces}\r\n"
            "CSeq: 101 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        sock.sendto(message.encode(), ("127.0.0.1", phone.port))


@pytest.mark.parametrize(
    ("early", "number"),
    [(False, "5554701"), (True, "5554702")],
    ids=["attended", "while-ringing"],
)
def test_attended_transfer_from_the_phone_the_caller_talks_with_omar(
    hotline: RunningHotline, early: bool, number: str
) -> None:
    """`early`: the phone transfers while omar's phone still rings (a semi-attended
    transfer): the caller hears it ring and talks with omar once he answers."""
    caller_voice, omar_voice, line_voice = Voice("caller"), Voice("omar"), Voice("line")
    # (e2e_xfer rings an agent 4 s: omar answers within that)
    omar = Phone(hotline, "omar", omar_voice, ring=2.5 if early else 1.0, gate=False)
    lena = first_call(hotline)
    caller = SippCall(
        hotline.workdir / "sipp",
        hotline.sip_port,
        "341",
        number,
        [Gate(90), HangUp()],
        rtp_port=caller_voice.port,
    ).start()
    second: SecondCall | None = None
    heard: dict[str, dict[str, float]] = {}
    states: dict[str, object] = {}
    try:

        async def consulting() -> str:
            contact = await live_contact(hotline, number)
            await asyncio.to_thread(caller_voice.learn, caller.workdir / "messages.log")
            return contact

        contact = asyncio.run(consulting())
        second = SecondCall(hotline, line_voice)

        async def talking() -> None:
            async with Api(hotline, "lena") as api:
                states["consulting"] = await until_state(
                    api,
                    contact,
                    lambda status, st: (
                        status == 200
                        and st["consult"] is not None
                        and st["consult"]["state"] == ("ringing" if early else "talking")
                    ),
                    timeout=30,
                )

        asyncio.run(talking())
        if early:
            tell(lena, second.replaces())
            omar.answered()
        else:
            omar.answered()
            line_voice.learn(second.workdir / "messages.log")
            heard["lena consults"] = heard_by(line_voice, omar_voice)
            tell(lena, second.replaces())

        async def transferred() -> None:
            async with Api(hotline, "omar") as api:
                states["after"] = await until_state(
                    api, contact, lambda status, st: status == 200 and st["agent"] == "omar"
                )

        asyncio.run(transferred())
        done = second.wait_done(30)  # her second call hung up by Hotline
        assert done.ok, f"{done.output}\n{second.messages()[-3000:]}"
        done = lena.wait_done(30)  # and her first
        assert done.ok, f"{done.output}\n{lena.messages()[-3000:]}"
        heard["omar talks"] = heard_by(omar_voice, caller_voice)
        heard["caller talks"] = heard_by(caller_voice, omar_voice)
        caller.open_gate()
        result = caller.wait(30)
        assert result.ok, f"{result.output}\n{hotline.log_tail()}"
        done = omar.wait_done(30)
        assert done.ok, f"{done.output}\n{omar.messages()[-3000:]}"
    finally:
        for phone in (omar, lena):
            phone.stop()
        if second is not None:
            second.stop()
        if caller.proc is not None and caller.proc.poll() is None:
            caller.proc.kill()
            caller.proc.communicate()
        for voice in (caller_voice, omar_voice, line_voice):
            voice.close()
    if not early:
        assert heard["lena consults"]["omar"] >= HEARS, heard
    assert heard["omar talks"]["caller"] >= HEARS, heard
    assert heard["caller talks"]["omar"] >= HEARS, heard
    # Her phone was told the transfer went through.
    final = lena.messages().split("Subscription-State: terminated", 1)[1]
    sipfrag = final.split("message/sipfrag", 1)[1].split("SIP/2.0", 1)[1]
    assert sipfrag.lstrip().startswith("200"), final

    caller_contact, events = contact_of(hotline, number)
    assert caller_contact.status == "completed"
    (started,) = of_type(events, "call.consult_started")
    assert (started["to"], started["by"]) == ("agent:omar", "lena")
    (refer,) = of_type(events, "call.refer")
    assert refer == {"agent": "lena", "to": "2042", "attended": True}
    (moved,) = of_type(events, "call.transferred")
    assert (moved["kind"], moved["to"], moved["by"]) == ("consult", "agent:omar", "lena")
    assert [c["agent"] for c in of_type(events, "queue.connected")] == ["lena", "omar"]
    ends = of_type(events, "queue.call_ended")
    assert [(e["agent"], e["ended_by"]) for e in ends] == [("lena", "transfer"), ("omar", "caller")]


def test_a_second_call_that_cannot_be_a_consultation_is_refused_and_the_call_goes_on(
    hotline: RunningHotline,
) -> None:
    """lena's phone dials 12 while she talks: no number the dial rules allow. Her
    second call is refused busy (486), `call.consult_refused` says why, the caller is
    never put on hold and stays with her until they hang up."""
    caller_voice, line_voice = Voice("caller"), Voice("line")
    lena = TransferTarget(
        hotline.workdir / "phones", "answer_until_hangup", hotline.targets["lena"], talk=60
    ).start()
    number = "5554703"
    caller = SippCall(
        hotline.workdir / "sipp",
        hotline.sip_port,
        "341",
        number,
        [Gate(90), HangUp()],
        rtp_port=caller_voice.port,
    ).start()
    second: SecondCall | None = None
    states: dict[str, tuple[int, Any]] = {}
    try:
        contact = asyncio.run(live_contact(hotline, number))
        second = SecondCall(hotline, line_voice, "12", refused=True)
        done = second.wait_done(30)
        assert done.ok, f"{done.output}\n{second.messages()[-3000:]}"
        assert "SIP/2.0 486" in second.messages()

        async def untouched() -> None:
            async with Api(hotline, "lena") as api:
                got, answer = await api.call("GET", f"/api/calls/{contact}")
                states["call"] = (got, answer)

        asyncio.run(untouched())
        caller.open_gate()
        result = caller.wait(30)
        assert result.ok, f"{result.output}\n{hotline.log_tail()}"
        done = lena.wait_done(30)
        assert done.ok, f"{done.output}\n{lena.messages()[-3000:]}"
    finally:
        lena.stop()
        if second is not None:
            second.stop()
        if caller.proc is not None and caller.proc.poll() is None:
            caller.proc.kill()
            caller.proc.communicate()
        for voice in (caller_voice, line_voice):
            voice.close()
    got, answer = states["call"]
    assert got == 200, answer
    assert answer["state"]["held"] is False and answer["state"]["consult"] is None
    caller_contact, events = contact_of(hotline, number)
    assert caller_contact.status == "completed"
    (refused,) = of_type(events, "call.consult_refused")
    assert refused["agent"] == "lena" and refused["to"] == "12"
    assert "cannot dial number:12" in refused["reason"]
    kinds = [e.type for e in events]
    assert "call.held" not in kinds and "call.consult_started" not in kinds
    (ended,) = of_type(events, "queue.call_ended")
    assert (ended["agent"], ended["ended_by"]) == ("lena", "caller")


def test_hanging_up_the_second_call_brings_the_caller_back_to_lena(
    hotline: RunningHotline,
) -> None:
    """lena's phone calls omar on its second line, they talk, then she hangs that call
    up: omar's phone is hung up, the caller comes off hold and talks with lena again."""
    caller_voice, lena_voice = Voice("caller"), Voice("lena")
    omar_voice, line_voice = Voice("omar"), Voice("line")
    lena = Phone(hotline, "lena", lena_voice, ring=0.5, gate=False)
    omar = Phone(hotline, "omar", omar_voice, ring=1.0, gate=False)
    number = "5554704"
    caller = SippCall(
        hotline.workdir / "sipp",
        hotline.sip_port,
        "341",
        number,
        [Gate(90), HangUp()],
        rtp_port=caller_voice.port,
    ).start()
    second: SecondCall | None = None
    heard: dict[str, dict[str, float]] = {}
    states: dict[str, dict[str, Any]] = {}
    try:
        contact = asyncio.run(live_contact(hotline, number))
        caller_voice.learn(caller.workdir / "messages.log")
        lena.answered()
        second = SecondCall(hotline, line_voice, hang_up_after=6)

        async def consulted_then_back() -> None:
            async with Api(hotline, "lena") as api:
                states["talking"] = await until_state(
                    api,
                    contact,
                    lambda status, st: (
                        status == 200
                        and st["consult"] is not None
                        and st["consult"]["state"] == "talking"
                    ),
                    timeout=30,
                )
                states["back"] = await until_state(
                    api,
                    contact,
                    lambda status, st: status == 200 and st["consult"] is None and not st["held"],
                    timeout=30,
                )

        asyncio.run(consulted_then_back())
        done = second.wait_done(30)
        assert done.ok, f"{done.output}\n{second.messages()[-3000:]}"
        done = omar.wait_done(30)  # hung up by Hotline
        assert done.ok, f"{done.output}\n{omar.messages()[-3000:]}"
        heard["lena talks"] = heard_by(lena_voice, caller_voice)
        heard["caller talks"] = heard_by(caller_voice, lena_voice)
        caller.open_gate()
        result = caller.wait(30)
        assert result.ok, f"{result.output}\n{hotline.log_tail()}"
        done = lena.wait_done(30)
        assert done.ok, f"{done.output}\n{lena.messages()[-3000:]}"
    finally:
        for phone in (lena, omar):
            phone.stop()
        if second is not None:
            second.stop()
        if caller.proc is not None and caller.proc.poll() is None:
            caller.proc.kill()
            caller.proc.communicate()
        for voice in (caller_voice, lena_voice, omar_voice, line_voice):
            voice.close()
    assert heard["lena talks"]["caller"] >= HEARS, heard
    assert heard["caller talks"]["lena"] >= HEARS, heard
    assert states["back"]["state"]["agent"] == "lena"
    caller_contact, events = contact_of(hotline, number)
    assert caller_contact.status == "completed"
    (ended,) = of_type(events, "call.consult_ended")
    assert (ended["to"], ended["outcome"], ended["by"]) == ("agent:omar", "cancelled", "agent")
    assert of_type(events, "call.transferred") == []
    assert of_type(events, "call.resumed")[-1]["ended"] is False
    (over,) = of_type(events, "queue.call_ended")
    assert (over["agent"], over["ended_by"]) == ("lena", "caller")
