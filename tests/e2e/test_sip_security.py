"""Hostile SIP against the configured endpoints: nothing crashes, nothing gets in.

- Without an agent's password nobody registers as that agent or calls as one (SIPp:
  the REGISTER and the INVITE are challenged, a wrong password is refused again).
- An unauthenticated caller reaches the hotline numbers and nothing else: another
  number or an agent's feature code lands in Hotline's "no service" answer (logged as
  call.no_flow), never in a feature, an agent's phone or a call out.
- Malformed and unexpected requests (out-of-dialog BYE, INFO and MESSAGE, broken SDP,
  lying Content-Length, missing headers, oversized and mangled packets) get an error
  or nothing; afterwards Asterisk is the same process, the controller is healthy, and a
  normal call goes through.
"""

from __future__ import annotations

import contextlib
import random
import re
import socket
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningHotline
from tests.e2e.ports import free_port
from tests.e2e.sipp import ExpectHangup, HangUp, SippCall, Wait, finish_sipp, start_sipp
from tests.e2e.test_ivr_call import contact_of

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]

#: An agent with no fixed contact (a softphone registers for it) and one with a contact.
SOFTPHONE_AGENT = "2005"
FIXED_AGENT = "2001"

REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="register as {user} without its password">
  <send retrans="500"><![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{user}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:{user}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:{user}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Expires: 60
      Content-Length: 0
  ]]></send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{user}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:{user}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:{user}@[local_ip]:[local_port]>
      [authentication username={user} password=not-the-password]
      Max-Forwards: 70
      Expires: 60
      Content-Length: 0
  ]]></send>
  <recv response="401" optional="true" next="refused"/>
  <recv response="403"/>
  <label id="refused"/>
</scenario>
"""

INVITE_AS_AGENT = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="call as agent {user} without its password">
  <send retrans="500"><![CDATA[
      INVITE sip:{dial}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{user}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:{dial}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{user}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=x 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="401"/>
  <send><![CDATA[
      ACK sip:{dial}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{user}@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:{dial}@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
</scenario>
"""


def run_scenario(hotline: RunningHotline, name: str, text: str) -> tuple[bool, str]:
    folder = hotline.workdir / "sip-security" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenario.xml").write_text(text)
    args = [f"127.0.0.1:{hotline.sip_port}", "-sf", str(folder / "scenario.xml")]
    args += ["-p", str(free_port("udp")), "-m", "1", "-l", "1", "-timeout", "30s"]
    result = finish_sipp(start_sipp(args, folder), folder, 40)
    return result.ok, result.output + (folder / "messages.log").read_text(errors="replace")


def test_nobody_registers_as_an_agent_without_the_password(hotline: RunningHotline) -> None:
    for user in (SOFTPHONE_AGENT, FIXED_AGENT):
        ok, log = run_scenario(hotline, f"register-{user}", REGISTER.format(user=user))
        assert ok, log
        assert "SIP/2.0 200" not in log


def test_nobody_calls_as_an_agent_without_the_password(hotline: RunningHotline) -> None:
    for dial in ("*21", "100", "2002"):
        text = INVITE_AS_AGENT.format(user=FIXED_AGENT, dial=dial)
        ok, log = run_scenario(hotline, f"invite-as-agent-{dial.strip('*')}", text)
        assert ok, log
        assert "SIP/2.0 200" not in log


def test_unauthenticated_callers_reach_the_hotline_numbers_only(hotline: RunningHotline) -> None:
    before = agent_states(hotline)
    # A feature code, an agent's extension and a number outside: Hotline's polite
    # "no service" answer for each, nothing else.
    for caller, dial in (("5559901", "*21"), ("5559902", FIXED_AGENT), ("5559903", "0049301234")):
        call = SippCall(
            hotline.workdir / "sipp", hotline.sip_port, dial, caller, [ExpectHangup(20)]
        )
        result = call.run(40)
        assert result.ok, result.output
        contact, events = contact_of(hotline, caller)
        kinds = [e.type for e in events]
        assert "call.no_flow" in kinds, kinds
        assert not [k for k in kinds if k.startswith(("agent.", "queue.", "transfer."))], kinds
        assert contact.status == "failed"
    assert agent_states(hotline) == before


def agent_states(hotline: RunningHotline) -> dict[str, dict[str, str]]:
    status, agents = hotline.api("/api/agents", hotline.secrets["api_token"])
    assert status == 200, agents
    return {a["id"]: {ch: v["state"] for ch, v in a["channels"].items()} for a in agents}


def sip(
    method: str, port: int, local: int, *, body: str = "", extra: str = "", user: str = "100"
) -> bytes:
    call_id = uuid.uuid4().hex
    lines = [
        f"{method} sip:{user}@127.0.0.1:{port} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport",
        f"From: <sip:5559999@127.0.0.1:{local}>;tag={uuid.uuid4().hex[:8]}",
        f"To: <sip:{user}@127.0.0.1:{port}>",
        f"Call-ID: {call_id}",
        f"CSeq: 1 {method}",
        f"Contact: <sip:5559999@127.0.0.1:{local}>",
        "Max-Forwards: 70",
    ]
    if extra:
        lines.append(extra)
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def responses(
    sock: socket.socket, wait: float, final_of: str | None = None
) -> list[tuple[int, str]]:
    """(status, CSeq method) of the responses that arrive within `wait` seconds; with
    `final_of` (a method), only until 0.3 s after the first final response to it
    (whatever else the request brings, a retransmission or a second final, comes
    within that)."""
    found: list[tuple[int, str]] = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = sock.recv(65535)
        except TimeoutError:
            break
        if data.startswith(b"SIP/2.0 "):
            cseq = re.search(rb"\r\nCSeq:\s*\d+\s+(\w+)", data, re.IGNORECASE)
            found.append((int(data[8:11]), cseq.group(1).decode() if cseq else "?"))
            if found[-1][0] >= 200 and found[-1][1] == final_of:
                deadline = min(deadline, time.monotonic() + 0.3)
    return found


def statuses(sock: socket.socket, method: str, wait: float = 5.0) -> list[int]:
    """The statuses of the responses to one request (`method`), until just after its
    final one (at most `wait` seconds)."""
    return [code for code, of in responses(sock, wait, final_of=method) if of == method]


def hang_up_callers(hotline: RunningHotline, number: str) -> int:
    """Hang up (over ARI) the calls a mangled but still valid INVITE set up."""
    secrets = hotline.secrets
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, hotline.ari_url, secrets["ari_user"], secrets["ari_password"])
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager))
    ended = 0
    for channel in hotline.ari("channels"):  # type: ignore[union-attr]
        if channel.get("caller", {}).get("number") == number:
            request = urllib.request.Request(
                f"{hotline.ari_url}/channels/{channel['id']}", method="DELETE"
            )
            with contextlib.suppress(urllib.error.HTTPError):
                opener.open(request, timeout=10).close()
            ended += 1
    return ended


def asterisk_pid(hotline: RunningHotline) -> int:
    return int((hotline.instance_dir() / "run/asterisk.pid").read_text())


def test_malformed_and_unexpected_requests_crash_nothing(
    hotline: RunningHotline, tmp_path: Path
) -> None:
    pid = asterisk_pid(hotline)
    port = hotline.sip_port
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    local = sock.getsockname()[1]
    target = ("127.0.0.1", port)
    broken_sdp = "v=0\r\no=- x y\r\nc=IN IP4\r\nm=audio notaport RTP/AVP 0\r\n"
    unexpected = {
        "BYE out of dialog": sip("BYE", port, local),
        "INFO out of dialog": sip("INFO", port, local),
        "MESSAGE": sip("MESSAGE", port, local, body="hello"),
        "SUBSCRIBE": sip("SUBSCRIBE", port, local, extra="Event: presence"),
        "INVITE with broken SDP": sip("INVITE", port, local, body=broken_sdp),
        "REGISTER as agent": sip("REGISTER", port, local, user=FIXED_AGENT),
    }
    for name, packet in unexpected.items():
        sock.sendto(packet, target)
        codes = statuses(sock, packet.split(b" ", 1)[0].decode())
        finals = [c for c in codes if c >= 200]
        assert finals, f"{name}: no final response"
        assert all(c >= 300 for c in finals), f"{name}: accepted ({codes})"
        if packet.startswith(b"INVITE"):  # a final error must be acknowledged
            sock.sendto(packet.replace(b"INVITE", b"ACK", 1), target)

    valid = sip("INVITE", port, local, body=broken_sdp)
    garbage = [
        sip("INVITE", port, local, body=broken_sdp).replace(
            b"Content-Length: ", b"Content-Length: 9"
        ),
        b"\r\n".join(line for line in valid.split(b"\r\n") if not line.startswith(b"Call-ID")),
        sip("OPTIONS", port, local, extra="X-Big: " + "A" * 60000),
        b"INVITE\r\n\r\n",
        b"\x00" * 512,
        b"SIP/2.0 200 OK\r\n\r\n",
    ]
    rng = random.Random(9)
    for _ in range(300):  # the valid INVITE with bytes flipped, cut or repeated
        packet = bytearray(valid)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(packet))
            choice = rng.random()
            if choice < 0.5:
                packet[at] = rng.randrange(256)
            elif choice < 0.8:
                del packet[at : at + rng.randint(1, 40)]
            else:
                packet[at:at] = packet[at : at + rng.randint(1, 40)] * rng.randint(2, 20)
        garbage.append(bytes(packet))
    answered: list[tuple[int, str]] = []
    for packet in garbage:
        sock.sendto(packet, target)
        answered += [r for r in responses(sock, 0.02) if 200 <= r[0] < 300]
    time.sleep(2)
    while batch := responses(sock, 0.2):  # the last responses and retransmissions
        answered += [r for r in batch if 200 <= r[0] < 300]
    # Only OPTIONS, or an INVITE still valid after mangling (a call to the hotline,
    # which it may take: hung up here), are ever accepted.
    assert {method for _, method in answered} <= {"OPTIONS", "INVITE"}, answered
    hang_up_callers(hotline, "5559999")
    sock.sendto(sip("OPTIONS", port, local), target)
    assert [c for c in statuses(sock, "OPTIONS") if c >= 200], "Asterisk stopped answering"
    sock.close()

    assert asterisk_pid(hotline) == pid, "Asterisk restarted"
    assert hotline.proc.poll() is None, hotline.log_tail()
    status, body = hotline.api("/api/health")
    assert status == 200 and body["ari"]
    call = SippCall(tmp_path, port, "100", "5559990", [Wait(1.0), HangUp()])
    result = call.run(40)
    assert result.ok, result.output
