"""The wallboard's live call handling: who is on hold, consulting, in a conference or
on an outbound call now, and today's counts of holds, transfers, consultations,
conferences and outbound calls (the definitions of docs/metrics.md, "Call handling").

Folded from the event log as events are appended (`LiveBoard.apply` hands them here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hotline.events import EventType
from hotline.reports.handling import TARGET_KINDS, TRANSFER_KINDS, target_kind

E = EventType
#: The event types this part of the board folds.
CALL_TYPES = (
    E.CALL_HELD,
    E.CALL_RESUMED,
    E.CALL_TRANSFERRED,
    E.CALL_CONSULT_STARTED,
    E.CALL_CONSULT_ENDED,
    E.CALL_CONFERENCE_STARTED,
    E.CALL_CONFERENCE_ENDED,
    E.OUTBOUND_STARTED,
    E.OUTBOUND_ANSWERED,
    E.OUTBOUND_FAILED,
    E.QUEUE_CALL_ENDED,
    E.CALL_ENDED,
    E.AGENT_LOGOUT,
)
#: What an agent is doing on a call, as the board names it; the first that applies
#: wins (a caller on hold while the agent consults: "consulting").
ACTIVITIES = ("conference", "consulting", "on hold", "outbound")


@dataclass
class _Now:
    agent: str
    since: float


@dataclass
class LiveCalls:
    """Calls being held, consulted, conferenced or placed now, and today's counts."""

    #: activity -> contact -> who and since when
    now: dict[str, dict[str, _Now]] = field(
        default_factory=lambda: {activity: {} for activity in ACTIVITIES}
    )
    today: dict[str, int] = field(default_factory=dict)

    def new_day(self) -> None:
        self.today.clear()

    def apply(
        self, kind: str, contact: str, agent: str | None, t: float, data: Any, today: bool
    ) -> None:
        """One event (of CALL_TYPES) of `contact` at `t`; `today`: it counts today."""
        who = str(data.get("agent") or agent or "")
        if kind == E.CALL_HELD:
            self._start("on hold", contact, who, t)
            self._count(today, "holds")
        elif kind == E.CALL_RESUMED:
            self.now["on hold"].pop(contact, None)
        elif kind == E.CALL_TRANSFERRED:
            how = data.get("kind") if data.get("kind") in TRANSFER_KINDS else "blind"
            self._count(today, "transfers", f"{how}_{target_kind(data.get('to'))}")
            self._end_agent(contact, who)
        elif kind == E.CALL_CONSULT_STARTED:
            self._start("consulting", contact, who, t)
            self._count(today, "consults")
        elif kind == E.CALL_CONSULT_ENDED:
            self.now["consulting"].pop(contact, None)
        elif kind == E.CALL_CONFERENCE_STARTED:
            self._start("conference", contact, who, t)
            self._count(today, "conferences")
        elif kind == E.CALL_CONFERENCE_ENDED:
            self.now["conference"].pop(contact, None)
        elif kind == E.OUTBOUND_STARTED:
            self._start("outbound", contact, who, t)
            self._count(today, "outbound")
        elif kind == E.OUTBOUND_ANSWERED:
            self._count(today, "outbound_answered")
        elif kind == E.OUTBOUND_FAILED:
            self.now["outbound"].pop(contact, None)
            self._count(today, "outbound_failed")
        elif kind in (E.QUEUE_CALL_ENDED, E.CALL_ENDED):
            for calls in self.now.values():  # the conversation is over: all of it
                calls.pop(contact, None)
        elif kind == E.AGENT_LOGOUT and agent and data.get("channel", "voice") == "voice":
            for calls in self.now.values():
                for cid in [c for c, n in calls.items() if n.agent == agent]:
                    del calls[cid]

    def _start(self, activity: str, contact: str, agent: str, t: float) -> None:
        if contact and agent:
            self.now[activity][contact] = _Now(agent, t)

    def _end_agent(self, contact: str, agent: str) -> None:
        """The agent's part of the call ended (transferred away)."""
        for calls in self.now.values():
            if contact in calls and calls[contact].agent == agent:
                del calls[contact]

    def _count(self, today: bool, *names: str) -> None:
        if today:
            for name in names:
                self.today[name] = self.today.get(name, 0) + 1

    def activity(self, agent: str, now: float) -> dict[str, Any] | None:
        """What the agent is doing on a call now ({activity, seconds}), or None."""
        for activity in ACTIVITIES:
            times = [n.since for n in self.now[activity].values() if n.agent == agent]
            if times:
                return {"activity": activity, "seconds": max(0.0, now - min(times))}
        return None

    def view(self) -> dict[str, Any]:
        """Counts now and today, as the board shows them."""
        transfers = {
            f"{how}_{to}": self.today.get(f"{how}_{to}", 0)
            for how in TRANSFER_KINDS
            for to in TARGET_KINDS
        }
        return {
            "on_hold": len(self.now["on hold"]),
            "consulting": len(self.now["consulting"]),
            "in_conference": len(self.now["conference"]),
            "outbound_now": len(self.now["outbound"]),
            "holds": self.today.get("holds", 0),
            "transfers": self.today.get("transfers", 0),
            **transfers,
            "consults": self.today.get("consults", 0),
            "conferences": self.today.get("conferences", 0),
            "outbound": self.today.get("outbound", 0),
            "outbound_answered": self.today.get("outbound_answered", 0),
            "outbound_failed": self.today.get("outbound_failed", 0),
        }
