"""The router's state at one instant, as the wallboard and the API show it."""

from __future__ import annotations

from collections.abc import Mapping

from hotline.acd.decisions import AgentSnapshot, ChannelSnapshot, QueueSnapshot, Snapshot
from hotline.acd.model import Channel
from hotline.acd.runtime import AgentRT, ContactKey, QueueRT


def snapshot_of(
    queues: Mapping[str, QueueRT], agents: Mapping[str, AgentRT], now: float
) -> Snapshot:
    """Queues and agents, sorted by name."""
    return Snapshot(
        now,
        [queue_snapshot(queues[name], now) for name in sorted(queues)],
        [agent_snapshot(agents[aid]) for aid in sorted(agents)],
    )


def queue_snapshot(q: QueueRT, now: float) -> QueueSnapshot:
    oldest = min((_first_of_priority(q, p).entered_at for p in q.priorities), default=now)
    logged = set().union(*q.logged.values())
    channels = sorted(ch for ch in Channel if q.logged[ch] or q.by_channel[ch])
    return QueueSnapshot(
        name=q.cfg.name,
        waiting=len(q.waiting),
        offered=q.offered,
        longest_wait=max(0.0, now - oldest),
        eta_new={ch.value: q.eta(ch, len(q.waiting) + 1) for ch in channels},
        average_handle_time=q.handle.average(q.cfg.default_handle_time),
        agents_logged_in=len(logged),
        agents_free=len(set().union(*q.free.values())),
        agents_paused=len(set().union(*q.paused.values())),
        outcomes={str(o): n for o, n in q.outcomes.items()},
    )


def agent_snapshot(a: AgentRT) -> AgentSnapshot:
    return AgentSnapshot(
        id=a.id,
        channels={
            ch.value: ChannelSnapshot(
                st.state.value, st.load, a.profile.capacity[ch], st.reason, st.since
            )
            for ch, st in a.status.items()
        },
        handled=a.handled,
    )


def _first_of_priority(q: QueueRT, neg_priority: int) -> ContactKey:
    """The longest-waiting contact of a priority present in the queue."""
    # A 1-tuple sorts before every key that starts with it.
    key: ContactKey | None = q.waiting.ceiling((neg_priority,))
    assert key is not None, "q.priorities counts only priorities of waiting contacts"
    return key
