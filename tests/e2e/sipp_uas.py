"""SIPp as the target of a transfer: a phone that answers, one that rings and rings,
one that is busy, one that answers and talks until the other side hangs up. Each
listens on its own loopback port for exactly one call (or `calls`)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tests.e2e.sipp import SippResult, finish_sipp, start_sipp

Behaviour = Literal["answer", "no_answer", "busy", "answer_until_hangup"]

HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="transfer target ({behaviour})">
  <recv request="INVITE" crlf="true">
    <action>
{keep}    </action>
  </recv>
"""

#: What later messages of the dialog need from the INVITE (SIPp refuses a variable
#: that is set but never used, so each behaviour keeps only its own).
KEEP = {
    "remote_from": '".*" search_in="hdr" header="From:"',
    "invite_via": '".*" search_in="hdr" header="Via:"',
    "invite_to": '".*" search_in="hdr" header="To:"',
    "invite_cseq": '".*" search_in="hdr" header="CSeq:"',
    "invite_contact": '"sips?:[^>]*" search_in="hdr" header="Contact:"',
}
NEEDS = {
    "answer": ("remote_from", "invite_contact"),
    "no_answer": ("remote_from", "invite_via", "invite_to", "invite_cseq"),
    "busy": (),
    "answer_until_hangup": (),
}

REPLY = """  <send>
    <![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:target@[local_ip]:[local_port]>
      Content-Length: 0
    ]]>
  </send>
"""

# The caller's INVITE again while we wait for the ACK (a loaded Asterisk sent it before
# our 180 reached it): answered with the 200 again, where SIPp aborted the call.
ANSWER_SDP = """  <pause milliseconds="{ring_ms}"/>
  <label id="send_200"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:target@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=target 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=sendrecv
    ]]>
  </send>
  <recv request="INVITE" optional="true" next="send_200"/>
  <recv request="ACK" crlf="true"/>
"""

ANSWER = (
    ANSWER_SDP
    + """  <pause milliseconds="{talk_ms}"/>
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
)

# Talks until the other side hangs up (within `talk` seconds): BYE, then 200 for it.
UNTIL_BYE = """  <recv request="BYE" timeout="{talk_ms}"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:target@[local_ip]:[local_port]>
      Content-Length: 0
    ]]>
  </send>
"""

# Rings until Asterisk gives up: CANCEL, then 200 for it and 487 for the INVITE.
RING_OUT = """  <recv request="CANCEL" timeout="{wait_ms}"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <send>
    <![CDATA[
      SIP/2.0 487 Request Terminated
      Via: [$invite_via]
      From: [$remote_from]
      To: [$invite_to];tag=[pid]SIPpTag01[call_number]
      Call-ID: [call_id]
      CSeq: [$invite_cseq]
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
"""

BUSY_ACK = """  <recv request="ACK"/>
"""

# The first call (SIPp's call_number 1) talks {first_ms} ms, every later one {talk_ms}.
FIRST_TALKS_LONGER = """  <nop>
    <action>
      <assignstr assign_to="call_n" value="[call_number]"/>
      <todouble assign_to="call_num" variable="call_n"/>
      <test assign_to="is_first" variable="call_num" compare="equal" value="1"/>
    </action>
  </nop>
  <nop test="is_first" next="first_talk"/>
  <pause milliseconds="{talk_ms}" next="talked"/>
  <label id="first_talk"/>
  <pause milliseconds="{first_ms}"/>
  <label id="talked"/>
"""


def scenario(
    behaviour: Behaviour, ring: float, talk: float, wait: float, first_talk: float | None = None
) -> str:
    """The phone's SIPp scenario (`first_talk`: "answer" only, the first call's talk)."""
    keep = "".join(
        f'      <ereg regexp={KEEP[name]} assign_to="{name}"/>\n' for name in NEEDS[behaviour]
    )
    parts = [HEAD.format(behaviour=behaviour, keep=keep or '      <log message="INVITE"/>\n')]
    if behaviour == "busy":
        parts.append(REPLY.format(status="486 Busy Here"))
        parts.append(BUSY_ACK)
    else:
        parts.append(REPLY.format(status="180 Ringing"))
        if behaviour == "answer":
            answer = ANSWER.format(ring_ms=int(ring * 1000), talk_ms=int(talk * 1000))
            if first_talk is not None:
                talks = FIRST_TALKS_LONGER.format(
                    first_ms=int(first_talk * 1000), talk_ms=int(talk * 1000)
                )
                answer = answer.replace(f'  <pause milliseconds="{int(talk * 1000)}"/>\n', talks)
            parts.append(answer)
        elif behaviour == "answer_until_hangup":
            parts.append(ANSWER_SDP.format(ring_ms=int(ring * 1000)))
            parts.append(UNTIL_BYE.format(talk_ms=int(talk * 1000)))
        else:
            parts.append(RING_OUT.format(wait_ms=int(wait * 1000)))
    parts.append("</scenario>\n")
    return "".join(parts)


@dataclass
class TransferTarget:
    """One SIPp UAS on 127.0.0.1:`port`, taking exactly one call."""

    workdir: Path
    behaviour: Behaviour
    port: int
    ring: float = 1.0  # seconds ringing before answering
    talk: float = 2.0  # seconds talking before hanging up (answer_until_hangup: at most)
    wait: float = 60.0  # longest wait for the call (and for its CANCEL)
    calls: int = 1  # calls taken, one after another, before SIPp exits
    first_talk: float | None = None  # "answer": the first call talks this long instead

    def __post_init__(self) -> None:
        self.workdir = self.workdir / f"target-{self.behaviour}-{self.port}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.file = self.workdir / "uas.xml"
        text = scenario(self.behaviour, self.ring, self.talk, self.wait, self.first_talk)
        self.file.write_text(text)
        self.proc: subprocess.Popen[str] | None = None

    def messages(self) -> str:
        """The SIP messages this phone sent and received."""
        path = self.workdir / "messages.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def uri(self) -> str:
        return f"sip:target@127.0.0.1:{self.port}"

    def start(self) -> TransferTarget:
        timeout = f"{int(self.wait * self.calls) + 30}s"
        args = ["-sf", str(self.file), "-p", str(self.port), "-m", str(self.calls)]
        self.proc = start_sipp([*args, "-timeout", timeout], self.workdir)
        return self

    def wait_done(self, timeout: float = 90) -> SippResult:
        assert self.proc is not None
        return finish_sipp(self.proc, self.workdir, timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
