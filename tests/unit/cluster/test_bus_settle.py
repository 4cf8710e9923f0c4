"""`settle`: once it returns, the server has the subscription made just before, so a
request from another connection right after finds it (over a real nats-server).

nats-py's own flush() wrote its PING ahead of a SUB still waiting for the client's
flusher task: 1 to 3 requests in 100 got "no responders" in a loop of new connections
(tests of the cluster failed so, now and then)."""

from __future__ import annotations

from typing import Any

from nats.errors import NoRespondersError

from hotline.cluster.bus import connect, settle
from tests.nats import NatsServer, nats_server

__all__ = ["nats_server"]

ROUNDS = 600  # with the plain flush() this failed 4 runs in 6 here


async def test_a_request_right_after_settle_always_finds_the_new_subscription(
    nats_server: NatsServer,
) -> None:

    async def answer(msg: Any) -> None:
        await msg.respond(msg.data)

    missed: list[int] = []
    for n in range(ROUNDS):
        # New connections each round, as processes starting: the race was likelier.
        answering = await connect([nats_server.url], f"answering-{n}")
        asking = await connect([nats_server.url], f"asking-{n}")
        try:
            await answering.subscribe(f"settle.{n}", cb=answer)
            await settle(answering)
            try:
                reply = await asking.request(f"settle.{n}", str(n).encode(), timeout=2)
                assert reply.data == str(n).encode()
            except NoRespondersError:
                missed.append(n)
        finally:
            await answering.close()
            await asking.close()
    assert missed == [], f"no responders right after settle in rounds {missed}"
