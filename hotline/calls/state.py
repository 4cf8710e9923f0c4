"""What the desk shows of a live call, and the hold clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ConsultPhase = Literal["ringing", "talking"]


@dataclass(frozen=True)
class ConsultState:
    """A consultation in progress: who is called (a target text), how far it got, and
    who answered (the number, or the agent who took it; empty while ringing)."""

    to: str
    state: ConsultPhase
    party: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"to": self.to, "state": self.state, "party": self.party}


@dataclass(frozen=True)
class CallState:
    """A live call with an agent, as the desk and the REST API show it."""

    contact_id: str
    agent: str
    queue: str
    held: bool = False
    #: Hold time so far (every hold of the call, the current one included).
    hold_seconds: float = 0.0
    consult: ConsultState | None = None
    conference: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id,
            "agent": self.agent,
            "queue": self.queue,
            "held": self.held,
            "hold_seconds": round(self.hold_seconds, 1),
            "consult": None if self.consult is None else self.consult.to_json(),
            "conference": self.conference,
        }


@dataclass
class HoldClock:
    """Hold time of one call: each hold's length and the total. Times are passed in
    (monotonic seconds), so it is pure."""

    since: float | None = None
    total: float = 0.0
    holds: list[float] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return self.since is not None

    def hold(self, now: float) -> None:
        if self.since is None:
            self.since = now

    def resume(self, now: float) -> float:
        """End the current hold; its length (0 if not on hold)."""
        if self.since is None:
            return 0.0
        length = max(0.0, now - self.since)
        self.since = None
        self.total += length
        self.holds.append(length)
        return length

    def seconds(self, now: float) -> float:
        """Hold time so far, the current hold included."""
        current = 0.0 if self.since is None else max(0.0, now - self.since)
        return self.total + current
