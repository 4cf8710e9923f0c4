"""A queue as a flow sees it before (or instead of) queueing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hotline.acd.decisions import QueueSnapshot
from hotline.acd.model import Channel


@dataclass(frozen=True)
class QueueStatus:
    """A queue as a flow sees it (a `queue_status` node, announcements)."""

    queue: str
    channel: Channel
    waiting: int
    longest_wait: float
    #: Estimated wait for a contact joining now; None when nobody serves the queue.
    eta: float | None
    agents_logged_in: int
    agents_free: int
    agents_paused: int

    @classmethod
    def of(cls, snapshot: QueueSnapshot, channel: Channel, eta: float | None) -> QueueStatus:
        """The status of the queue `snapshot` shows, for a contact of `channel`."""
        return cls(
            queue=snapshot.name,
            channel=channel,
            waiting=snapshot.waiting,
            longest_wait=snapshot.longest_wait,
            eta=eta,
            agents_logged_in=snapshot.agents_logged_in,
            agents_free=snapshot.agents_free,
            agents_paused=snapshot.agents_paused,
        )

    def variables(self, prefix: str = "queue_") -> dict[str, Any]:
        """Flow variables: queue_waiting, queue_eta (whole seconds or None), …"""
        return {
            f"{prefix}waiting": self.waiting,
            f"{prefix}longest_wait": round(self.longest_wait),
            f"{prefix}eta": None if self.eta is None else round(self.eta),
            f"{prefix}agents_logged_in": self.agents_logged_in,
            f"{prefix}agents_free": self.agents_free,
            f"{prefix}agents_paused": self.agents_paused,
        }
