"""`next_msg` and `nats_request`: a task cancelled while it waits for a message or an
answer is cancelled, even when nats-py's own wait returns what arrived just then
(Python 3.11's `asyncio.wait_for`, CPython gh-86296). A web process's stop hung on it:
its loop asking the workers what they monitor went on after it was cancelled, about
one stop in two."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from hotline.cluster.bus import connect, nats_request, next_msg
from hotline.cluster.call_bus import RemoteMonitoring, follow_monitors
from tests.nats import NatsServer, nats_server

__all__ = ["nats_server"]


class SwallowingSub:
    """A subscription whose wait returns its message even when cancelled."""

    async def next_msg(self, timeout: float) -> str:
        try:
            await asyncio.sleep(timeout)
        except asyncio.CancelledError:
            return "a message that came as it was cancelled"
        return "a message"


async def test_a_cancel_the_client_swallowed_is_raised() -> None:
    waiting = asyncio.create_task(next_msg(SwallowingSub(), 5.0))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_a_message_is_returned_when_nobody_cancels() -> None:
    assert await next_msg(SwallowingSub(), 0.01) == "a message"


ROUNDS = 300


async def going_on(loop: Callable[[], Coroutine[Any, Any, None]], within: float) -> list[int]:
    """Start `loop` ROUNDS times, cancel it after a random moment up to `within` s: the
    rounds in which it was still running 2 s after its cancel."""
    go_on: list[int] = []
    for n in range(ROUNDS):
        task = asyncio.create_task(loop())
        await asyncio.sleep(random.random() * within)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2.0)
        if not done:
            go_on.append(n)
            task.cancel()
            await asyncio.wait({task}, timeout=2.0)
    return go_on


async def test_the_monitors_loop_always_ends_when_cancelled(nats_server: NatsServer) -> None:
    """Over a real nats-server with no worker: each poll's request is answered at once
    by the server ("no responders"), so a cancel often lands as a message arrives."""
    nc = await connect([nats_server.url], "test")
    monitoring = RemoteMonitoring(nc, "sales", lambda contact: asyncio.sleep(0, None))
    try:
        go_on = await going_on(lambda: follow_monitors(monitoring, every=0.001), within=0.02)
    finally:
        await nc.close()
    assert go_on == [], f"{len(go_on)} of {ROUNDS} loops went on after their cancel"


async def test_a_loop_of_requests_always_ends_when_cancelled(nats_server: NatsServer) -> None:
    """Requests answered at once, one after another: a cancel often lands as an answer
    arrives (62 of 300 loops went on with nats-py's own `request`)."""
    asker, answerer = await connect([nats_server.url], "a"), await connect([nats_server.url], "b")

    async def answer(msg: Any) -> None:
        await msg.respond(b"ok")

    await answerer.subscribe("sales.ask", cb=answer)
    await answerer.flush()

    async def ask_forever() -> None:
        while True:
            await nats_request(asker, "sales.ask", b"", 1.0)

    try:
        go_on = await going_on(ask_forever, within=0.01)
    finally:
        await asker.close()
        await answerer.close()
    assert go_on == [], f"{len(go_on)} of {ROUNDS} loops went on after their cancel"
