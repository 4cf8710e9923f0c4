"""A demo CRM: a small HTTP service with a few customers, for flows to look up.

`hotline run` starts it on 127.0.0.1 when `demo_crm.enabled` is set, so identifying a
caller by account number works out of the box (integration `crm` in the shipped
config). It stands in for a real CRM behind the same interface a real one would
offer: GET /customers/{account} answers JSON, 404 for an unknown account.

Two accounts misbehave on purpose, so every outcome of an http node can be heard
from a phone: SLOW_ACCOUNT answers only after `slow_seconds` (the node's timeout
outcome) and BROKEN_ACCOUNT answers 500 with a body that is not JSON (error).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict, dataclass

from aiohttp import web

SLOW_ACCOUNT = "999999"
BROKEN_ACCOUNT = "666666"
ACCOUNT = re.compile(r"\d{1,20}")


@dataclass(frozen=True)
class Customer:
    account: str
    name: str
    #: Whole units: the flows read it out with `say: number`.
    balance: int
    language: str


CUSTOMERS: dict[str, Customer] = {
    c.account: c
    for c in (
        Customer("100001", "Ada Lovelace", 1250, "en"),
        Customer("100002", "Ivan Petrov", 480, "ru"),
        Customer("100003", "Grace Hopper", 0, "en"),
    )
}


def build_crm(
    customers: dict[str, Customer] | None = None, *, slow_seconds: float = 10.0
) -> web.Application:
    """The CRM's aiohttp application."""
    known = CUSTOMERS if customers is None else customers

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "customers": len(known)})

    async def customer(request: web.Request) -> web.Response:
        account = request.match_info["account"]
        if not ACCOUNT.fullmatch(account):
            return web.json_response(
                {"error": f"account {account!r} must be 1 to 20 digits"}, status=400
            )
        if account == SLOW_ACCOUNT:
            await asyncio.sleep(slow_seconds)
        if account == BROKEN_ACCOUNT:
            return web.Response(status=500, text="<html>internal error</html>")
        found = known.get(account)
        if found is None:
            return web.json_response({"error": f"no customer with account {account}"}, status=404)
        return web.json_response(asdict(found))

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/customers/{account}", customer)
    return app


async def start_crm(port: int, *, bind: str = "127.0.0.1") -> web.AppRunner:
    """Serve the demo CRM; the caller cleans the returned runner up.

    Raises OSError naming the address when the port is taken."""
    runner = web.AppRunner(build_crm(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, bind, port).start()
    except OSError as error:
        await runner.cleanup()
        raise OSError(
            error.errno, f"demo CRM cannot listen on {bind}:{port}: {error.strerror}"
        ) from None
    return runner
