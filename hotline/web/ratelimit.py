"""The web's request rate limit: a token bucket per client address, checked before
anything else (an unauthenticated flood never reaches the session lookup), and one per
signed-in user or API token, checked once the user is known. Over the limit: 429 with
Retry-After and a JSON error; the handler does not run, so nothing changes.

Static files, /metrics and the messenger webhooks are exempt by default, and so is
loopback from the per-address limit (see `RateLimitConfig` in hotline/config.py for
why). Behind a reverse proxy every client has the proxy's address: limit in the proxy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from ipaddress import ip_address

from aiohttp import web

from hotline.config import RateLimitConfig, RequestLimit
from hotline.ratelimit import TokenBucket

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Forget full buckets when there are more than this many (bounded memory under a
#: flood from many addresses).
MAX_KEYS = 10_000


class Buckets:
    """One token bucket per key, made on first use, forgotten once refilled."""

    def __init__(self, limit: RequestLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.buckets: dict[str, TokenBucket] = {}

    def take(self, key: str) -> int:
        """0 if `key` may go on, else the seconds it should wait."""
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= MAX_KEYS:
                self.buckets = {k: b for k, b in self.buckets.items() if not b.full()}
            bucket = self.buckets[key] = TokenBucket(self.limit.rate, self.limit.burst, self.clock)
        return 0 if bucket.allow() else max(1, bucket.retry_after())


class RateLimiter:
    """Both limits as aiohttp middlewares: `by_address` goes before the auth middleware,
    `by_user` after it (`user_of` reads the user the auth middleware found)."""

    def __init__(
        self,
        config: RateLimitConfig,
        user_of: Callable[[web.Request], str | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.user_of = user_of
        self.addresses = Buckets(config.per_address, clock)
        self.users = Buckets(config.per_user, clock)

    def _unlimited(self, address: str) -> bool:
        try:
            ip = ip_address(address)
        except ValueError:  # not an IP peer (a Unix socket): nothing to key on
            return False
        return any(ip in network for network in self.config.unlimited_addresses)

    def _exempt(self, request: web.Request) -> bool:
        return any(request.path.startswith(prefix) for prefix in self.config.exempt)

    @web.middleware
    async def by_address(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._exempt(request):
            return await handler(request)
        address = request.remote or "?"
        if self._unlimited(address):
            return await handler(request)
        wait = self.addresses.take(address)
        if wait:
            log.info("web.rate_limited address=%s path=%s", address, request.path)
            return too_many(wait, "from this address")
        return await handler(request)

    @web.middleware
    async def by_user(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        user = self.user_of(request)
        if user is None or self._exempt(request):
            return await handler(request)
        wait = self.users.take(user)
        if wait:
            log.info("web.rate_limited user=%s path=%s", user, request.path)
            return too_many(wait, f"for user {user}")
        return await handler(request)


def too_many(wait: int, whose: str) -> web.Response:
    """429 with Retry-After and the project's JSON error."""
    return web.json_response(
        {"error": f"too many requests {whose}; nothing was done, retry in {wait} s"},
        status=429,
        headers={"Retry-After": str(wait)},
    )
