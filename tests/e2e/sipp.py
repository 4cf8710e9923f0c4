"""SIPp callers for end-to-end tests: a scenario is built from a list of steps.

DTMF is RFC 2833 (telephone-event) played from the captures Debian's sip-tester ships.
"""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.audio import speech_capture
from tests.e2e.dtmf import keys_capture
from tests.e2e.ports import LEASE_SECONDS, free_port, free_range

HEADER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="{name}">
  <send retrans="500">
    <![CDATA[
      INVITE sip:{dial}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Test Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{dial}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 53655765 2353687637 IN IP[local_ip_type] [local_ip]
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
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:{dial}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Test Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{dial}@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
"""

#: The ACK of a final refusal (486 Busy Here, 503): a caller turned away at the door.
ACK_REFUSAL = """  <send>
    <![CDATA[
      ACK sip:{dial}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Test Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{dial}@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Content-Length: 0
    ]]>
  </send>
"""


def refused_caller(code: int) -> str:
    """A caller who expects to be turned away: INVITE, then `code`, which SIPp ACKs (a
    template like HEADER's: name, dial, caller)."""
    invite = HEADER.split('  <recv response="200" rtd="true"/>')[0]
    return f'{invite}  <recv response="{code}" rtd="true"/>\n{ACK_REFUSAL}</scenario>\n'


EXPECT_BYE = """  <recv request="BYE" timeout="{timeout_ms}"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Content-Length: 0
    ]]>
  </send>
"""

SEND_BYE = """  <send retrans="500">
    <![CDATA[
      BYE sip:{dial}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Test Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{dial}@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""


@dataclass(frozen=True)
class Wait:
    seconds: float


@dataclass(frozen=True)
class Keys:
    """Press keys one after another (RFC 2833), `gap` seconds apart."""

    digits: str
    gap: float = 0.4


@dataclass(frozen=True)
class Speak:
    """Say a phrase (espeak-ng, PCMU RTP); only before the call's first key."""

    text: str
    #: espeak-ng voice: "ko" for the Korean speech tests.
    voice: str = "en"


@dataclass(frozen=True)
class HangUp:
    """The caller hangs up (sends BYE)."""


@dataclass(frozen=True)
class ExpectHangup:
    """Hotline hangs up within `within` seconds (the caller answers BYE with 200)."""

    within: float = 60


@dataclass(frozen=True)
class Gate:
    """Wait until the test opens the gate (`SippCall.open_gate`), at most `within`
    seconds: the caller acts once the call is ready for it (say, the prompt its keys
    answer has begun, as the event log shows), not after a pause guessed for an idle
    machine."""

    within: float = 60


Step = Wait | Keys | Speak | HangUp | ExpectHangup | Gate

#: The in-dialog request that opens a caller's Gate (SIPp routes it by its Call-ID).
GATE_REQUEST = "OPTIONS"
GATE = """  <recv request="{method}" timeout="{timeout_ms}"/>
"""


def scenario(
    dial: str, caller: str, steps: list[Step], workdir: Path, name: str = "hotline caller"
) -> str:
    parts = [HEADER.format(name=name, dial=dial, caller=caller)]
    keys_sent = 0
    clock = 0.0  # seconds into the call, to time-stamp each key's RTP
    first_key: float | None = None
    key_pause = False  # the last part is the pause after a key
    for step in steps:
        if isinstance(step, Wait):
            clock += step.seconds
            parts.append(f'  <pause milliseconds="{int(step.seconds * 1000)}"/>\n')
        elif isinstance(step, Keys):
            if step.digits:
                first_key = clock if first_key is None else first_key
                presses = [
                    (clock - first_key + step.gap * i, digit) for i, digit in enumerate(step.digits)
                ]
                capture = keys_capture(presses, keys_sent, workdir)
                keys_sent += len(step.digits)
                clock += step.gap * len(step.digits)
                parts.append(f'  <nop><action><exec play_pcap_audio="{capture}"/></action></nop>\n')
                # The keys play on their own thread; the call goes on after the last.
                parts.append(
                    f'  <pause milliseconds="{int(step.gap * len(step.digits) * 1000)}"/>\n'
                )
            key_pause = bool(step.digits)
            continue
        elif isinstance(step, Speak):
            if keys_sent:
                raise ValueError("Speak must come before the call's first key (one RTP stream)")
            capture, seconds = speech_capture(step.text, workdir, step.voice)
            clock += seconds
            parts.append(f'  <nop><action><exec play_pcap_audio="{capture}"/></action></nop>\n')
            parts.append(f'  <pause milliseconds="{int(seconds * 1000) + 200}"/>\n')
        elif isinstance(step, HangUp):
            parts.append(SEND_BYE.format(dial=dial, caller=caller))
        elif isinstance(step, ExpectHangup):
            if key_pause:
                # Wait for the BYE at once: Hotline may hang up as soon as it has taken
                # the last key, and a BYE arriving while SIPp pauses would be unexpected.
                parts.pop()
            parts.append(EXPECT_BYE.format(timeout_ms=int(step.within * 1000), caller=caller))
        elif isinstance(step, Gate):
            if key_pause:
                # Be at the gate at once: the test may open it as soon as Hotline has
                # taken the last key, and a request arriving while SIPp pauses would be
                # unexpected (the key's RTP goes on playing meanwhile).
                parts.pop()
            clock += 1.0  # at least; the keys' RTP timestamps only need to move on
            parts.append(GATE.format(method=GATE_REQUEST, timeout_ms=int(step.within * 1000)))
        key_pause = False
    parts.append("</scenario>\n")
    return "".join(parts)


@dataclass
class SippResult:
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class SippCall:
    """One SIPp caller process (one call)."""

    def __init__(
        self,
        workdir: Path,
        sip_port: int,
        dial: str,
        caller: str,
        steps: list[Step],
        *,
        rtp_port: int | None = None,
        timeout: float = 120,
    ):
        """`rtp_port`: the SDP asks for the caller's audio on this loopback UDP port
        (where the test listens) instead of SIPp's own media port. `timeout`: SIPp gives
        up on the whole call after this many seconds."""
        workdir = workdir / f"caller-{caller}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.file = workdir / "scenario.xml"
        text = scenario(dial, caller, steps, workdir)
        if rtp_port is not None:
            text = text.replace("m=audio [media_port] ", f"m=audio {rtp_port} ")
        self.file.write_text(text)
        self.caller = caller
        self.port = free_port("udp")
        self.args = [f"127.0.0.1:{sip_port}", "-sf", str(self.file)]
        self.args += ["-p", str(self.port), "-m", "1", "-l", "1", "-timeout", f"{timeout:g}s"]
        self.proc: subprocess.Popen[str] | None = None
        self.gates_opened = 0

    @property
    def command(self) -> list[str]:
        return ["sipp", *self.args]

    def start(self) -> SippCall:
        self.proc = start_sipp(self.args, self.workdir)
        return self

    def wait(self, timeout: float = 150) -> SippResult:
        assert self.proc is not None
        return finish_sipp(self.proc, self.workdir, timeout)

    def run(self, timeout: float = 150) -> SippResult:
        return self.start().wait(timeout)

    def open_gate(self) -> None:
        """Let the caller past the Gate it waits at: one in-dialog request to its SIP
        port over loopback. Its Call-ID is SIPp's for the one call (-cid_str's default
        "%u-%p@%s"), so SIPp hands it to the call; the scenario does not answer it."""
        assert self.proc is not None
        self.gates_opened += 1
        call_id = f"1-{self.proc.pid}@127.0.0.1"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            here = sock.getsockname()[1]
            message = (
                f"{GATE_REQUEST} sip:{self.caller}@127.0.0.1:{self.port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{here};branch=z9hG4bK-gate-{self.gates_opened}\r\n"
                f"From: <sip:gate@127.0.0.1:{here}>;tag=gate{self.gates_opened}\r\n"
                f"To: <sip:{self.caller}@127.0.0.1:{self.port}>\r\n"
                f"Call-ID: {call_id}\r\n"
                f"CSeq: {100 + self.gates_opened} {GATE_REQUEST}\r\n"
                "Max-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            sock.sendto(message.encode(), ("127.0.0.1", self.port))


def start_sipp(args: list[str], workdir: Path) -> subprocess.Popen[str]:
    """SIPp on loopback, run in `workdir`: its errors go to errors.log and the SIP
    messages it sends and receives to messages.log there."""
    return subprocess.Popen(
        [
            "sipp",
            *args,
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-mp",  # SIPp's media: this port and the next three (RTP, RTCP, video)
            str(free_range(4, hold=False, seconds=LEASE_SECONDS)),
            "-nostdin",
            "-trace_err",
            "-error_file",
            str(workdir / "errors.log"),
            "-trace_msg",
            "-message_file",
            str(workdir / "messages.log"),
        ],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",  # its screen may hold bytes that are not UTF-8
    )


def finish_sipp(proc: subprocess.Popen[str], workdir: Path, timeout: float) -> SippResult:
    """Wait for SIPp to end (killing it after `timeout`); its output and errors."""
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        return SippResult(-1, output + "\n[killed: timeout]")
    errors = workdir / "errors.log"
    if errors.exists():
        output += "\n" + errors.read_text(errors="replace")
    return SippResult(proc.returncode, output[-4000:])

    def run(self, timeout: float = 150) -> SippResult:
        return self.start().wait(timeout)
