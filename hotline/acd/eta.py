"""Estimated wait time (EWT) for a queue position.

Formula, for a contact at 1-based position p in a queue:

    AHT = average handle time (accept -> end of wrap-up) of the queue's recent contacts:
          an exponentially weighted moving average, AHT <- a*x + (1-a)*AHT (default
          a = 0.2), or with `window=N` the plain mean of the last N; the queue's
          `default_handle_time` until the first contact is handled.
    F   = agents of the queue free for the contact's channel right now.
    N   = serving slots: the capacity on that channel of every agent of the queue who is
          logged in on it and not paused (an agent with 3 chat slots counts 3).

    EWT(p) = 0                          if p <= F  (a free agent can take it now)
             AHT * (p - F) / N          otherwise
             None (unknown)             if N = 0   (nobody is serving the queue)

It is a fluid approximation: N slots drain N contacts per AHT seconds, and the
contacts that free agents can take at once do not wait. It is deliberately
conservative (each busy slot is assumed to have just started its contact) and
ignores skills, so a contact that needs a rare skill may wait longer.
"""

from __future__ import annotations

from collections import deque


class HandleTimes:
    """Recent handle times of one queue: EWMA by default, or a rolling window of N."""

    __slots__ = ("_alpha", "_ewma", "_recent", "_sum", "count")

    def __init__(self, alpha: float = 0.2, window: int | None = None) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        if window is not None and window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self._alpha = alpha
        self._ewma: float | None = None
        self._recent: deque[float] | None = deque(maxlen=window) if window else None
        self._sum = 0.0
        self.count = 0

    def add(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.count += 1
        if self._recent is not None:
            if len(self._recent) == self._recent.maxlen:
                self._sum -= self._recent[0]
            self._recent.append(seconds)
            self._sum += seconds
        elif self._ewma is None:
            self._ewma = seconds
        else:
            self._ewma = self._alpha * seconds + (1 - self._alpha) * self._ewma

    def average(self, default: float) -> float:
        if self._recent is not None:
            return self._sum / len(self._recent) if self._recent else default
        return default if self._ewma is None else self._ewma


def estimate(position: int, free: int, slots: int, aht: float) -> float | None:
    """EWT(p) as in the module docstring."""
    if position <= free:
        return 0.0
    if slots <= 0:
        return None
    return aht * (position - free) / slots
