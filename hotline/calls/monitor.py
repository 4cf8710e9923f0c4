"""Supervisors monitoring a live conversation: the modes, the request's validation,
what a monitoring looks like from outside, the clock of its modes, and the `Monitoring`
Protocol the web codes against (the voice adapter carries it out:
`ari_app/monitoring.py`).

- listen: the supervisor hears caller and agent; nobody hears the supervisor.
- whisper: the supervisor hears both; only the agent hears the supervisor.
- barge: all three hear each other.

Channel-neutral and with no Asterisk in it. Refusals are the call control's errors
(`hotline/calls/errors.py`), each with its HTTP status and a clear text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast

from hotline.calls.errors import BadCommand

Mode = Literal["listen", "whisper", "barge"]
MODES: tuple[Mode, ...] = ("listen", "whisper", "barge")

#: Why a monitoring ended (monitor.ended's `reason`).
EndReason = Literal["stopped", "hung_up", "call_ended", "no_answer", "failed"]

#: What the agent is told when a supervisor starts (hotline.yaml `monitoring.tell_agent`).
TellAgent = Literal["no", "desk", "beep", "desk_and_beep"]


def parse_mode(body: object) -> Mode:
    """The mode of a monitor request's JSON body: `{"mode": "listen"}` (listen when
    the body is empty). BadCommand names what is wrong."""
    if body is None:
        return "listen"
    if not isinstance(body, dict):
        raise BadCommand('the body must be a JSON object like {"mode": "listen"}')
    unknown = sorted(set(body) - {"mode"})
    if unknown:
        raise BadCommand(f'unknown field(s) {", ".join(map(repr, unknown))}; only "mode"')
    mode = body.get("mode", "listen")
    if mode not in MODES:
        raise BadCommand(f'"mode" must be one of listen, whisper, barge; got {mode!r}')
    return cast(Mode, mode)


@dataclass
class ModeClock:
    """Seconds spent in each mode while connected (monitor.ended's `modes`)."""

    mode: Mode
    since: float | None = None  # connected at; None: not (yet, or any more) connected
    seconds: dict[str, float] = field(default_factory=dict)

    def connect(self, now: float) -> None:
        if self.since is None:
            self.since = now

    def switch(self, mode: Mode, now: float) -> None:
        self._count(now)
        self.mode = mode
        if self.since is not None:
            self.since = now

    def stop(self, now: float) -> None:
        self._count(now)
        self.since = None

    @property
    def total(self) -> float:
        return round(sum(self.seconds.values()), 1)

    def rounded(self) -> dict[str, float]:
        return {mode: round(s, 1) for mode, s in self.seconds.items()}

    def _count(self, now: float) -> None:
        if self.since is not None:
            self.seconds[self.mode] = self.seconds.get(self.mode, 0.0) + max(0.0, now - self.since)
            self.since = now


@dataclass(frozen=True)
class MonitorState:
    """One monitoring as the API shows it."""

    contact_id: str
    supervisor: str
    agent: str
    mode: Mode
    #: ringing (the supervisor's phone), connected, or ended.
    state: str
    seconds: float  # connected so far

    def to_json(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id,
            "supervisor": self.supervisor,
            "agent": self.agent,
            "mode": self.mode,
            "state": self.state,
            "seconds": self.seconds,
        }


class Monitoring(Protocol):
    """Live monitoring of calls (ari_app.monitoring.CallMonitors)."""

    def of_contact(self, contact_id: str) -> MonitorState | None:
        """The monitoring of that contact's call, if any."""
        ...

    def all(self) -> list[MonitorState]:
        """Every monitoring going on."""
        ...

    async def monitor(self, contact_id: str, supervisor: str, mode: Mode) -> MonitorState:
        """Start monitoring (ringing the supervisor's phone), or switch mode. Raises
        NotFound (no live call), Conflict (monitored by someone else, the supervisor
        busy monitoring another call or without a phone)."""
        ...

    async def stop(self, contact_id: str, by: str) -> MonitorState:
        """End the monitoring of that contact (NotFound: none)."""
        ...
