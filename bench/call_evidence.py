"""Per-call evidence that a caller talked to an agent, the same for Hotline and app_queue.

Three independent witnesses, all on the machine's wall clock (`time.time()`):

- the caller's SIPp (`caller_timeline`): when it sent the INVITE, got the 200 OK, sent
  its first key and received the BYE — one line per moment, written by `<log>` actions
  added to the scenario (`instrument_caller`);
- the agents' SIPp phones (`agent_timeline`): when each agent's phone was rung, for which
  caller (the From user of the INVITE) and on which endpoint, when it answered and when
  it hung up (`instrument_agent`);
- Asterisk itself, over AMI (`BridgeWatch`): BridgeEnter/BridgeLeave of every channel.
  A conversation is the time a caller's channel shares a bridge with an agent's channel
  (Hotline's mixing bridge, app_queue's basic bridge); a holding bridge with only
  callers in it is not one.

`judge` puts them together per call: a call is ok only if the caller's SIPp completed
it, the caller was in a bridge with the agent whose phone answered for them, and that
conversation lasted at least the talk time. Anything else is not ok, with the reason
(never answered, never rung, rung but never bridged with an agent, bridged with an
agent only after that agent hung up, bridged for less than the talk time).
"""

from __future__ import annotations

import contextlib
import math
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# ---------------------------------------------------------------- SIPp timelines

#: The SIPp keyword for "now": "YYYY-MM-DD<TAB>HH:MM:SS.us<TAB>epoch.us"; the last field is read.
NOW = "[timestamp]"


def _inject(text: str, anchor: str, replacement: str, what: str, *, count: int = 1) -> str:
    """Replace `anchor` (exactly `count` times; 0: every one) or refuse loudly: the
    scenario generator changed and the evidence would silently be missing."""
    found = text.count(anchor)
    if found == 0 or (count and found < count):
        raise ValueError(f"cannot instrument the SIPp scenario ({what}): {anchor!r} not found")
    return text.replace(anchor, replacement, count or found)


def log_action(message: str) -> str:
    return f'<log message="{message} {NOW}"/>'


def instrument_caller(text: str, caller: str) -> str:
    """Add timing logs to a caller scenario made by tests/e2e/sipp.py's `scenario`:
    INV (INVITE sent), ANS (200 OK received), KEY (first key sent), BYE (BYE received).
    `caller` is the caller number as written in the scenario (SIPp keywords allowed)."""
    # Logged just before the INVITE goes: a <nop> between the INVITE and its responses
    # would make SIPp take the 100 Trying for an unexpected message.
    text = _inject(
        text,
        '  <send retrans="500">\n',
        f'  <nop><action>{log_action(f"INV {caller}")}</action></nop>\n  <send retrans="500">\n',
        "INVITE sent",
    )
    text = _inject(
        text,
        '<recv response="200" rtd="true"/>',
        f'<recv response="200" rtd="true"><action>{log_action(f"ANS {caller}")}</action></recv>',
        "200 OK received",
    )
    text = _inject(
        text,
        "<nop><action><exec play_pcap_audio=",
        f"<nop><action>{log_action(f'KEY {caller}')}<exec play_pcap_audio=",
        "first key",
    )
    pattern = re.compile(r'<recv request="BYE" timeout="(\d+)"/>')
    if not pattern.search(text):
        raise ValueError("cannot instrument the SIPp scenario (BYE received): no BYE expected")
    return pattern.sub(
        lambda m: (
            f'<recv request="BYE" timeout="{m.group(1)}"><action>'
            f"{log_action(f'BYE {caller}')}</action></recv>"
        ),
        text,
        count=1,
    )


def instrument_agent(text: str) -> str:
    """Add timing logs to an answering phone made by tests/e2e/sipp_uas.py's
    `scenario("answer", …)`: RING (INVITE received; the caller's From user and the
    endpoint of the To header), ANS (200 OK about to be sent), HUP (BYE about to be sent)."""
    grab = (
        '      <ereg regexp="sip:[^@;>]*@" search_in="hdr" header="From:" '
        'assign_to="bench_from"/>\n'
        '      <ereg regexp="sip:[^@;>]*@" search_in="hdr" header="To:" '
        'assign_to="bench_to"/>\n'
        f"      {log_action('RING [$bench_from] [$bench_to] [call_id]')}\n"
    )
    text = _inject(text, "    </action>\n  </recv>\n", grab + "    </action>\n  </recv>\n", "ring")
    # Each <nop> goes just before a <send>: between a send and the recv of its answer,
    # SIPp would take the answer for an unexpected message.
    answer = '  <send retrans="500">\n    <![CDATA[\n      SIP/2.0 200 OK'
    text = _inject(
        text,
        answer,
        f"  <nop><action>{log_action('ANS [call_id]')}</action></nop>\n" + answer,
        "answer",
    )
    marker = '  <send retrans="500">\n    <![CDATA[\n      BYE '
    return _inject(
        text,
        marker,
        f"  <nop><action>{log_action('HUP [call_id]')}</action></nop>\n" + marker,
        "hang-up",
    )


def _lines(paths: Iterable[Path]) -> Iterable[list[str]]:
    for path in paths:
        with contextlib.suppress(OSError):
            for line in path.read_text(errors="replace").splitlines():
                parts = line.split()
                if len(parts) >= 3:
                    yield parts


def _epoch(parts: list[str]) -> float:
    return float(parts[-1])


@dataclass
class CallerSide:
    number: str
    invite: float | None = None
    answered: float | None = None
    key: float | None = None
    bye: float | None = None


def caller_timeline(paths: Iterable[Path]) -> dict[str, CallerSide]:
    calls: dict[str, CallerSide] = {}
    for parts in _lines(paths):
        kind, number = parts[0], parts[1]
        if kind not in ("INV", "ANS", "KEY", "BYE"):
            continue
        call = calls.setdefault(number, CallerSide(number))
        moment = _epoch(parts)
        if kind == "INV":
            call.invite = moment
        elif kind == "ANS":
            call.answered = moment
        elif kind == "KEY" and call.key is None:
            call.key = moment
        elif kind == "BYE":
            call.bye = moment
    return calls


@dataclass
class AgentLeg:
    """One ring of one agent's phone."""

    caller: str
    endpoint: str
    rung: float
    answered: float | None = None
    hung_up: float | None = None


def _user(uri: str) -> str:
    return uri.removeprefix("sip:").rstrip("@")


def agent_timeline(paths: Iterable[Path]) -> dict[str, list[AgentLeg]]:
    """Caller number -> the rings of agents' phones for that caller, in order."""
    legs: dict[str, AgentLeg] = {}  # SIPp call id (per phone process) -> leg
    by_caller: dict[str, list[AgentLeg]] = {}
    for parts in _lines(paths):
        kind = parts[0]
        if kind == "RING" and len(parts) >= 7:
            leg = AgentLeg(_user(parts[1]), _user(parts[2]), _epoch(parts))
            legs[parts[3]] = leg
            by_caller.setdefault(leg.caller, []).append(leg)
        elif kind in ("ANS", "HUP") and parts[1] in legs:
            if kind == "ANS":
                legs[parts[1]].answered = _epoch(parts)
            else:
                legs[parts[1]].hung_up = _epoch(parts)
    for rings in by_caller.values():
        rings.sort(key=lambda leg: leg.rung)
    return by_caller


# ---------------------------------------------------------------- Asterisk's bridges


@dataclass
class Conversation:
    """A caller's channel in one bridge with an agent's channel."""

    caller: str  # the caller channel's CallerIDNum
    agent: str  # the agent's endpoint
    start: float
    end: float | None = None

    @property
    def seconds(self) -> float:
        return (self.end if self.end is not None else time.time()) - self.start


@dataclass
class BridgeWatch:
    """Follows BridgeEnter/BridgeLeave over AMI in a thread (event time = receipt time,
    read by a thread that does nothing else). `agents`: the agents' endpoints; a
    channel PJSIP/<endpoint>-… of one of them is an agent's, any other a caller's."""

    port: int
    user: str
    secret: str
    agents: frozenset[str]
    conversations: list[Conversation] = field(default_factory=list)
    events: int = 0
    error: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _ready: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: bridge -> channel uniqueid -> (agent endpoint or "", caller id number)
    _bridges: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    #: (bridge, caller channel uniqueid) -> its open conversation
    _open: dict[tuple[str, str], Conversation] = field(default_factory=dict)

    def start(self, timeout: float = 15) -> BridgeWatch:
        threading.Thread(target=self._run, name="ami-bridges", daemon=True).start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"AMI bridge watch did not start: {self.error or 'timeout'}")
        if self.error:
            raise RuntimeError(f"AMI bridge watch: {self.error}")
        return self

    def stop(self) -> None:
        self._stop.set()

    def snapshot(self) -> list[Conversation]:
        with self._lock:
            return list(self.conversations)

    def _agent_of(self, channel: str) -> str:
        match = re.match(r"PJSIP/(.+)-[0-9a-f]+$", channel)
        return match.group(1) if match and match.group(1) in self.agents else ""

    def _run(self) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        except OSError as error:
            self.error = f"cannot connect: {error}"
            self._ready.set()
            return
        with sock:
            sock.settimeout(0.5)
            sock.sendall(
                (
                    f"Action: Login\r\nUsername: {self.user}\r\nSecret: {self.secret}\r\n"
                    "Events: call\r\n\r\n"
                    "Action: Filter\r\nOperation: Add\r\n"
                    "Filter: Event: Bridge(Enter|Leave)\r\n\r\n"
                ).encode()
            )
            buffer = b""
            responses = 0
            while not self._stop.is_set():
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError as error:
                    self.error = f"AMI connection: {error}"
                    break
                if not chunk:
                    self.error = self.error or "AMI connection closed"
                    break
                now = time.time()
                buffer += chunk
                *blocks, buffer = buffer.split(b"\r\n\r\n")
                for block in blocks:
                    message = dict(
                        line.split(": ", 1)
                        for line in block.decode(errors="replace").split("\r\n")
                        if ": " in line
                    )
                    if "Response" in message:
                        responses += 1
                        if message["Response"] != "Success":
                            self.error = f"AMI refused: {message.get('Message', message)}"
                            self._ready.set()
                            return
                        if responses == 2:
                            self._ready.set()
                    elif message.get("Event") in ("BridgeEnter", "BridgeLeave"):
                        self._event(message, now)
        self._ready.set()

    def _event(self, message: Mapping[str, str], now: float) -> None:
        bridge = message.get("BridgeUniqueid", "")
        channel = message.get("Uniqueid", "")
        with self._lock:
            self.events += 1
            members = self._bridges.setdefault(bridge, {})
            if message["Event"] == "BridgeEnter":
                members[channel] = (
                    self._agent_of(message.get("Channel", "")),
                    message.get("CallerIDNum", ""),
                )
                agents = [agent for agent, _ in members.values() if agent]
                if not agents:
                    return
                for uid, (agent, number) in members.items():
                    if not agent and (bridge, uid) not in self._open:
                        talk = Conversation(number, agents[0], now)
                        self._open[(bridge, uid)] = talk
                        self.conversations.append(talk)
                return
            agent, _ = members.pop(channel, ("", ""))
            if not agent:
                talk = self._open.pop((bridge, channel), None)
                if talk is not None:
                    talk.end = now
            elif not any(a for a, _ in members.values()):
                for uid in list(members):
                    talk = self._open.pop((bridge, uid), None)
                    if talk is not None:
                        talk.end = now
            if not members:
                self._bridges.pop(bridge, None)


# ---------------------------------------------------------------- the verdict


@dataclass
class Verdict:
    """One caller's call, judged."""

    number: str
    ok: bool
    reason: str  # "" when ok
    call_seconds: float | None = None  # INVITE sent -> BYE received (caller's SIPp)
    answer_latency: float | None = None  # INVITE sent -> 200 OK received
    key_to_ring: float | None = None  # first key sent -> first agent phone rung
    answer_to_talk: float | None = None  # the agent's 200 OK -> in a bridge with the caller
    talked: float | None = None  # seconds in a bridge with the agent who answered
    agent: str = ""


def judge(
    numbers: Iterable[str],
    callers: Mapping[str, CallerSide],
    agents: Mapping[str, list[AgentLeg]],
    conversations: Iterable[Conversation],
    talk: float,
) -> list[Verdict]:
    """Each caller of `numbers`: ok only if their SIPp call completed, an agent's phone
    answered for them, and they were in a bridge with that agent for >= `talk` seconds,
    the conversation having begun before that agent hung up."""
    talks: dict[str, list[Conversation]] = {}
    for conversation in conversations:
        talks.setdefault(conversation.caller, []).append(conversation)
    verdicts = []
    for number in numbers:
        caller = callers.get(number, CallerSide(number))
        rings = agents.get(number, [])
        answered = [leg for leg in rings if leg.answered is not None]
        leg = answered[-1] if answered else None
        mine = [c for c in talks.get(number, []) if leg is not None and c.agent == leg.endpoint]
        best = max(mine, key=lambda c: c.seconds, default=None)
        verdict = Verdict(number, False, "")
        if caller.invite is not None and caller.bye is not None:
            verdict.call_seconds = caller.bye - caller.invite
        if caller.invite is not None and caller.answered is not None:
            verdict.answer_latency = caller.answered - caller.invite
        if caller.key is not None and rings:
            verdict.key_to_ring = rings[0].rung - caller.key
        if leg is not None:
            verdict.agent = leg.endpoint
        if best is not None and leg is not None and leg.answered is not None:
            verdict.answer_to_talk = best.start - leg.answered
            verdict.talked = best.seconds
        if caller.answered is None:
            verdict.reason = "caller never answered"
        elif not rings:
            verdict.reason = "no agent's phone rang"
        elif leg is None:
            verdict.reason = "no agent answered"
        elif best is None:
            verdict.reason = "never in a bridge with the agent who answered"
        elif leg.hung_up is not None and best.start >= leg.hung_up:
            verdict.reason = "bridged after the agent hung up"
        elif best.seconds < talk:
            verdict.reason = f"talked {best.seconds:.2f} s < {talk:g} s"
        elif caller.bye is None:
            verdict.reason = "caller's SIPp call failed"
        else:
            verdict.ok = True
        verdicts.append(verdict)
    return verdicts


def percentile(values: Iterable[float | None], q: float) -> float | None:
    """The q-th percentile (nearest rank) of the values that are not None."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]
