"""Agent metrics from state transitions: time per state, contacts handled, occupancy.

Each agent channel's time is split into exclusive parts: handling (a contact in
progress, whatever the state), wrap-up, paused, idle (available, reserved or ringing
with nothing in progress) and offline. A handled contact's talk time runs from the
agent's accept to the finish, its wrap-up from the finish to the next state change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hotline.events import EventType
from hotline.reports.tables import ratio

OFFLINE = "offline"


@dataclass
class AgentStats:
    handling: float = 0.0
    wrap: float = 0.0
    paused: float = 0.0
    idle: float = 0.0
    pauses: dict[str, float] = field(default_factory=dict)
    offers: int = 0
    declined: int = 0  # rejected or rang out
    handled: int = 0
    talk: float = 0.0
    wrap_handled: float = 0.0

    @property
    def logged_in(self) -> float:
        return self.handling + self.wrap + self.paused + self.idle

    def row(self) -> dict[str, Any]:
        work = self.handling + self.wrap
        return {
            "logged_in": self.logged_in,
            "handling": self.handling,
            "wrap": self.wrap,
            "paused": self.paused,
            "idle": self.idle,
            "offers": self.offers,
            "declined": self.declined,
            "handled": self.handled,
            "aht": ratio(self.talk + self.wrap_handled, self.handled, percent=False),
            "occupancy": ratio(work, work + self.idle),
            "utilisation": ratio(work, self.logged_in),
            "pause_reasons": ", ".join(
                f"{reason} {round(seconds)}s" for reason, seconds in sorted(self.pauses.items())
            ),
        }


AGENT_COLUMNS = [
    ("logged_in", "logged in", "sec"),
    ("handling", "handling", "sec"),
    ("wrap", "wrap-up", "sec"),
    ("paused", "paused", "sec"),
    ("idle", "idle", "sec"),
    ("offers", "offers", "int"),
    ("declined", "declined", "int"),
    ("handled", "handled", "int"),
    ("aht", "AHT", "sec"),
    ("occupancy", "occupancy", "pct"),
    ("utilisation", "utilisation", "pct"),
    ("pause_reasons", "pauses", "text"),
]


@dataclass(frozen=True)
class Handled:
    """One contact an agent finished: counted in the interval of its finish."""

    finished: float
    agent: str
    channel: str
    queue: str | None
    talk: float
    wrap: float


@dataclass(frozen=True)
class Segment:
    """A stretch of one state on an agent's channel, for the timeline chart."""

    agent: str
    channel: str
    state: str
    reason: str | None
    start: float
    end: float


@dataclass
class _Channel:
    state: str = OFFLINE
    reason: str | None = None
    load: int = 0
    since: float = 0.0


class AgentFold:
    """Folds agent transitions in [t0, t_end) (t_end: the period's end, or now)."""

    def __init__(
        self,
        t0: float,
        t_end: float,
        keep: Callable[[str, str], bool],
        on_handled: Callable[[Handled], bool],
        timeline: bool = False,
    ) -> None:
        self.t0, self.t_end = t0, t_end
        self.keep = keep
        self.on_handled = on_handled
        self.channels: dict[tuple[str, str], _Channel] = {}
        self.stats: dict[tuple[str, str], AgentStats] = {}
        self.timeline: list[Segment] | None = [] if timeline else None
        self._last_segment: dict[tuple[str, str], int] = {}
        #: (agent, contact) -> (accepted, channel, queue)
        self.active: dict[tuple[str, str], tuple[float, str, str | None]] = {}
        #: (agent, channel) -> (finished, contact's queue, talk): wrap-up running
        self.wrapping: dict[tuple[str, str], tuple[float, str | None, float]] = {}

    def start(self, states: Iterable[tuple[Any, ...]], loads: Iterable[tuple[Any, ...]]) -> None:
        """States (agent, channel, state, reason, since) and load rows (t, type, agent,
        channel, from, contact, queue) from before t0."""
        for agent, channel, state, reason, _since in states:
            if agent and channel and self.keep(agent, channel):
                self.channels[(agent, channel)] = _Channel(state or OFFLINE, reason, 0, self.t0)
        for t, kind, agent, channel, src, cid, queue in loads:
            key = (agent, channel)
            if key not in self.channels:
                continue
            if kind == EventType.AGENT_LOGIN and src == OFFLINE:
                self.channels[key].load = 0
                for k in [k for k in self.active if k[0] == agent and self.active[k][1] == channel]:
                    del self.active[k]
            elif kind == EventType.AGENT_ACCEPT:
                self.channels[key].load += 1
                self.active[(agent, cid)] = (t, channel, queue)
            elif kind == EventType.AGENT_FINISH:
                self.channels[key].load = max(0, self.channels[key].load - 1)
                self.active.pop((agent, cid), None)
        for ch in self.channels.values():
            if ch.state == "busy" and ch.load == 0:
                ch.load = 1  # busy means something is in progress
            if ch.state == OFFLINE:
                ch.load = 0

    def feed(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Rows (t, type, contact, queue, agent, channel, from, to, reason) in log order."""
        for t, kind, cid, queue, agent, channel, _src, dst, reason in rows:
            if not agent or not channel or not self.keep(agent, channel):
                continue
            key = (agent, channel)
            ch = self.channels.get(key)
            if ch is None:
                ch = self.channels[key] = _Channel(since=self.t0)
            self._account(key, ch, t)
            self._end_wrap(key, t)
            st = self._stats(key)
            if kind == EventType.AGENT_RESERVE:
                st.offers += 1
            elif kind in (EventType.AGENT_REJECT, EventType.AGENT_NO_ANSWER):
                st.declined += 1
            elif kind == EventType.AGENT_ACCEPT:
                ch.load += 1
                self.active[(agent, cid)] = (t, channel, queue)
            elif kind == EventType.AGENT_FINISH:
                ch.load = max(0, ch.load - 1)
                accepted = self.active.pop((agent, cid), None)
                talk = t - accepted[0] if accepted else 0.0
                q = queue or (accepted[2] if accepted else None)
                if dst == "wrap_up":
                    self.wrapping[key] = (t, q, talk)
                else:
                    self._handled(Handled(t, agent, channel, q, talk, 0.0))
            if dst == OFFLINE or (kind == EventType.AGENT_LOGIN and _src == OFFLINE):
                ch.load = 0
            ch.state = dst or ch.state
            ch.reason = reason if ch.state == "paused" else None

    def close_wrap(self, agent: str, channel: str, ended: float | None) -> None:
        """Settle a wrap-up still running at the period's end (ended: when it ended)."""
        if (agent, channel) in self.wrapping:
            self._end_wrap((agent, channel), self.t_end if ended is None else ended)

    def finish(self) -> None:
        """Account every channel up to the end of the period."""
        for key, ch in self.channels.items():
            self._account(key, ch, self.t_end)

    def _stats(self, key: tuple[str, str]) -> AgentStats:
        st = self.stats.get(key)
        if st is None:
            st = self.stats[key] = AgentStats()
        return st

    def _end_wrap(self, key: tuple[str, str], t: float) -> None:
        wrapping = self.wrapping.pop(key, None)
        if wrapping is not None:
            finished, queue, talk = wrapping
            self._handled(Handled(finished, key[0], key[1], queue, talk, max(0.0, t - finished)))

    def _handled(self, h: Handled) -> None:
        # on_handled says whether the contact counts (the report's queue filter)
        if h.finished < self.t0 or not self.on_handled(h):
            return
        st = self._stats((h.agent, h.channel))
        st.handled += 1
        st.talk += h.talk
        st.wrap_handled += h.wrap

    def _account(self, key: tuple[str, str], ch: _Channel, t: float) -> None:
        start, end = max(ch.since, self.t0), min(t, self.t_end)
        ch.since = t
        if end <= start or ch.state == OFFLINE:
            return
        span = end - start
        st = self._stats(key)
        if ch.load > 0:
            st.handling += span
            state = "handling"
        elif ch.state == "wrap_up":
            st.wrap += span
            state = "wrap_up"
        elif ch.state == "paused":
            st.paused += span
            reason = ch.reason or "paused"
            st.pauses[reason] = st.pauses.get(reason, 0.0) + span
            state = "paused"
        else:
            st.idle += span
            state = "idle"
        if self.timeline is not None:
            why = ch.reason if state == "paused" else None
            i = self._last_segment.get(key)
            last = self.timeline[i] if i is not None else None
            if (
                i is not None
                and last is not None
                and (last.state, last.reason) == (state, why)
                and last.end >= start
            ):
                self.timeline[i] = Segment(*key, state, why, last.start, end)
            else:
                self._last_segment[key] = len(self.timeline)
                self.timeline.append(Segment(*key, state, why, start, end))
