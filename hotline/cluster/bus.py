"""The bus between a routing leader and its call workers: NATS subjects and the JSON
each message carries.

One routing domain uses these subjects (`Subjects`):

- `hotline.routing.<domain>.call`: a worker's request to the leader (enqueue, leave,
  ringing, accepted, ..., presence); the leader answers with the result or an error.
  Every request carries a request id (a retry after a lost answer is answered once) and
  the newest epoch the worker has seen (a deposed leader keeps silent).
- `hotline.routing.<domain>.ticket.<contact>`: what the leader hands a contact's ticket
  (an offer with its key and epoch, a withdrawal, the end, its place and wait). The
  worker holding the contact subscribes before it asks to enqueue it.
- `hotline.routing.<domain>.leader`: the leader's heartbeat (every half second): its
  epoch and name, and a snapshot of the queues and agents for the worker's sync queries.
- `hotline.routing.<domain>.workers`: each call worker's heartbeat (every second, its
  name): a worker silent too long has lost its node (hotline/cluster/node_loss.py).
- `hotline.routing.<domain>.worker.<name>`: the leader's requests to one worker (adopt
  the callbacks booked for a lost node's callers).

The PostgreSQL event log stays the durable record; NATS carries no state of its own (a
new leader rebuilds its state from the log, hotline/cluster/takeover.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from hotline.acd.decisions import (
    AgentSnapshot,
    ChannelSnapshot,
    Explanation,
    JoinResult,
    Offer,
    QueueSnapshot,
    Snapshot,
)
from hotline.acd.model import Channel, Contact, Outcome
from hotline.errors import error_text

log = logging.getLogger(__name__)

#: Seconds between two heartbeats of the leader.
HEARTBEAT = 0.5

_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


class BusError(Exception):
    """The bus cannot be used (NATS unreachable at start, a bad URL)."""


@dataclass(frozen=True)
class Subjects:
    """The NATS subjects of one routing domain."""

    domain: str

    @property
    def prefix(self) -> str:
        return f"hotline.routing.{token(self.domain)}"

    @property
    def call(self) -> str:
        return f"{self.prefix}.call"

    @property
    def leader(self) -> str:
        return f"{self.prefix}.leader"

    def ticket(self, contact_id: str) -> str:
        return f"{self.prefix}.ticket.{token(contact_id)}"

    @property
    def workers(self) -> str:
        """Every call worker's heartbeat (hotline/cluster/node_loss.py)."""
        return f"{self.prefix}.workers"

    def worker(self, name: str) -> str:
        """Requests of the leader to one worker (adopt a lost node's callbacks)."""
        return f"{self.prefix}.worker.{token(name)}"


def token(name: str) -> str:
    """`name` as one NATS subject token: as it is when safe, else hex-encoded."""
    if _SAFE_TOKEN.match(name):
        return name
    return "x" + name.encode().hex()


def dumps(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def loads(data: bytes) -> dict[str, Any]:
    """A message's JSON object; ValueError for anything else."""
    message = json.loads(data)
    if not isinstance(message, dict):
        raise ValueError("a bus message must be a JSON object")
    return message


# ---- routing values on the wire ------------------------------------------------------


def contact_to_wire(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "channel": str(contact.channel),
        "queue": contact.queue,
        "entered_at": contact.entered_at,
        "priority": contact.priority,
        "skills": dict(contact.skills),
        "timeout": contact.timeout,
    }


def contact_from_wire(data: dict[str, Any]) -> Contact:
    return Contact(
        data["id"],
        Channel(data["channel"]),
        data["queue"],
        float(data["entered_at"]),
        int(data["priority"]),
        dict(data["skills"]),
        data["timeout"],
    )


def offer_to_wire(offer: Offer) -> dict[str, Any]:
    return {
        "contact": contact_to_wire(offer.contact),
        "agent": offer.agent,
        "queue": offer.queue,
        "channel": str(offer.channel),
        "explanation": asdict(offer.explanation),
        "ring_timeout": offer.ring_timeout,
        "ring_group": list(offer.ring_group),
        "epoch": offer.epoch,
    }


def offer_from_wire(data: dict[str, Any]) -> Offer:
    explanation = dict(data["explanation"])
    explanation["passed_over"] = tuple(explanation.get("passed_over", ()))
    return Offer(
        contact=contact_from_wire(data["contact"]),
        agent=data["agent"],
        queue=data["queue"],
        channel=Channel(data["channel"]),
        explanation=Explanation(**explanation),
        ring_timeout=float(data["ring_timeout"]),
        ring_group=tuple(data["ring_group"]),
        epoch=int(data["epoch"]),
    )


def join_to_wire(join: JoinResult) -> dict[str, Any]:
    return {"outcome": str(join.outcome), "position": join.position, "eta": join.eta}


def join_from_wire(data: dict[str, Any]) -> JoinResult:
    return JoinResult(Outcome(data["outcome"]), data["position"], data["eta"])


def snapshot_to_wire(snapshot: Snapshot) -> dict[str, Any]:
    return asdict(snapshot)


def snapshot_from_wire(data: dict[str, Any]) -> Snapshot:
    return Snapshot(
        at=float(data["at"]),
        queues=[QueueSnapshot(**q) for q in data["queues"]],
        agents=[
            AgentSnapshot(
                id=a["id"],
                channels={c: ChannelSnapshot(**s) for c, s in a["channels"].items()},
                handled=a["handled"],
            )
            for a in data["agents"]
        ],
    )


async def next_msg(sub: Any, timeout: float) -> Any:
    """`sub.next_msg(timeout=timeout)` that never loses a cancellation: nats-py waits
    with `asyncio.wait_for`, which on Python 3.11 returns a message arriving as it is
    cancelled instead of raising (CPython gh-86296), and the task waiting for it goes on
    as if never cancelled (a web process's stop hung on it)."""
    return _cancelled_again(await sub.next_msg(timeout=timeout))


async def nats_request(nc: Any, subject: str, body: bytes, timeout: float) -> Any:
    """`nc.request(subject, body, timeout=timeout)` that never loses a cancellation
    (as `next_msg`: an answer arriving as the asker is cancelled)."""
    return _cancelled_again(await nc.request(subject, body, timeout=timeout))


def _cancelled_again(msg: Any) -> Any:
    """`msg`, or CancelledError if this task was cancelled while nats-py returned it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    return msg


async def settle(nc: Any) -> None:
    """Return once the server has every command this connection sent so far (a
    subscription made just before is at the server: a request sent right after, by any
    process, finds it)."""
    # nats-py's flush() writes its PING straight to the socket, ahead of the commands
    # still waiting for its flusher task: the server answered that PING before reading a
    # SUB made just before it (tests/unit/cluster/test_bus_settle.py counts it). Waiting
    # for the flusher to have written them first puts the PING behind them.
    written = getattr(nc, "_flush_pending", None)  # nats-py's; a test's fake bus has none
    if written is not None:
        # Bounded as nats-py's flush() is (10 s): a connection stuck writing fails.
        await asyncio.wait_for(written(force_flush=True), 10.0)
    await nc.flush()


async def connect(
    servers: list[str],
    name: str,
    *,
    timeout: float = 5.0,
    on_reconnect: list[Callable[[], Awaitable[None]]] | None = None,
) -> Any:
    """A NATS connection that reconnects for ever once made; BusError, saying where and
    why, if no server answers within `timeout` seconds now. `on_reconnect`: awaited
    after each reconnection (the list may be filled later)."""
    import nats  # the bus is only needed by the roles that use it

    last: list[str] = []
    client: list[Any] = []

    async def disconnected() -> None:
        if client and client[0].is_closed:
            return  # closed on purpose
        log.warning("NATS: disconnected; reconnecting")

    running: set[asyncio.Task[None]] = set()

    async def after(hook: Callable[[], Awaitable[None]]) -> None:
        try:
            await hook()
        except Exception as error:  # said; the next reconnection tries again
            log.warning("after the NATS reconnection: %s", error_text(error))

    async def reconnected() -> None:
        log.warning("NATS: reconnected")
        # Not awaited here: nats-py's reconnection waits for its callback.
        for hook in on_reconnect or []:
            task = asyncio.create_task(after(hook))
            running.add(task)
            task.add_done_callback(running.discard)

    async def error(e: Exception) -> None:
        last[:] = [error_text(e)]
        log.debug("NATS: %s", e)

    try:
        # nats-py retries the first connection too when reconnects are unlimited: bound it.
        nc = await asyncio.wait_for(
            nats.connect(
                servers=servers,
                name=name,
                connect_timeout=min(timeout, 2.0),
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                allow_reconnect=True,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
                error_cb=error,
            ),
            timeout,
        )
    except Exception as failure:
        why = last[0] if last else error_text(failure)
        raise BusError(
            f"cannot reach NATS at {', '.join(servers)} within {timeout:g} s: {why} "
            "(is nats-server running? see README: Beyond one box)"
        ) from None
    client.append(nc)
    return nc
