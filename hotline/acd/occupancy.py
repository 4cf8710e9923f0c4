"""Occupancy over a sliding window: time handling contacts / time logged in."""

from __future__ import annotations

from collections import deque


class _Intervals:
    """Closed [start, end) intervals plus an open one, trimmed to a time window."""

    __slots__ = ("closed", "open_since")

    def __init__(self) -> None:
        self.closed: deque[tuple[float, float]] = deque()
        self.open_since: float | None = None

    def set(self, on: bool, now: float) -> None:
        if on and self.open_since is None:
            self.open_since = now
        elif not on and self.open_since is not None:
            if now > self.open_since:
                self.closed.append((self.open_since, now))
            self.open_since = None

    def total(self, since: float, now: float) -> float:
        # Old intervals can never count again: drop them so this stays short.
        while self.closed and self.closed[0][1] <= since:
            self.closed.popleft()
        total = sum(min(end, now) - max(start, since) for start, end in self.closed)
        if self.open_since is not None:
            total += now - max(self.open_since, since)
        return max(0.0, total)


class Occupancy:
    """One agent's occupancy; the router reports handling/logged-in changes to it."""

    __slots__ = ("_handling", "_logged_in", "window")

    def __init__(self, window: float) -> None:
        self.window = window
        self._handling = _Intervals()
        self._logged_in = _Intervals()

    def update(self, logged_in: bool, handling: bool, now: float) -> None:
        self._logged_in.set(logged_in, now)
        self._handling.set(handling, now)

    def ratio(self, now: float) -> float:
        """Handling time / logged-in time in the last `window` seconds (0 if never in)."""
        since = now - self.window
        logged = self._logged_in.total(since, now)
        if logged <= 0:
            return 0.0
        return min(1.0, self._handling.total(since, now) / logged)
