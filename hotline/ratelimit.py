"""A token bucket: `rate` requests a second on average, bursts up to `burst`.

One piece of code for every limit: the chat socket and messenger users
(chat_bridge/) and the web's per-address and per-user request limits (hotline/web/).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.at = clock()
        #: Messages refused in a row (a client that keeps flooding is cut off).
        self.refused = 0

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now

    def allow(self) -> bool:
        """Take a token if there is one."""
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            self.refused = 0
            return True
        self.refused += 1
        return False

    def retry_after(self) -> int:
        """Whole seconds until a token is back (for a Retry-After header); 0 if one is."""
        self._refill()
        return max(0, math.ceil((1 - self.tokens) / self.rate))

    def full(self) -> bool:
        """Refilled to the burst: forgetting this bucket changes nothing."""
        self._refill()
        return self.tokens >= self.burst
