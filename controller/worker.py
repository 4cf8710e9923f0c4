"""A call worker's routing: `hotline run` with `routing.mode: remote`.

Asterisk and the voice adapter run here as on a single box; the routing engine is the
domain's leader (`hotline routing --domain X`, elsewhere), reached over NATS through
`RemoteRouting` (hotline/cluster/remote.py), which has the engine's API. The leader
logs the agents in; this worker tells it which agents' phones are reachable (AMI
registrations, as on a single box), and tells each new leader again.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

from ari_app.ami import AmiMonitor
from controller.devices import AgentPhones
from controller.routing import agent_phone_channels, voice_agents
from hotline.acd.router import RoutingError
from hotline.cluster.bus import connect
from hotline.cluster.leader import default_name
from hotline.cluster.remote import RemoteRouting
from hotline.config import HotlineConfig

log = logging.getLogger(__name__)


async def start_remote_routing(
    config: HotlineConfig, ami: AmiMonitor, phones: AgentPhones
) -> RemoteRouting:
    """Connected to the bus (BusError if NATS cannot be reached now), listening to the
    leader (waiting for it up to `routing.request_timeout`; without one, calls reaching
    a queue wait that long for one, then take the flow's failure path)."""
    settings = config.routing
    reconnected: list[Callable[[], Awaitable[None]]] = []
    nc = await connect(
        settings.servers, f"hotline-worker {default_name()}", on_reconnect=reconnected
    )
    remote = RemoteRouting(
        nc, settings.domain, timeout=settings.request_timeout, worker=worker_name(config)
    )
    reconnected.append(remote.sync)  # what was published while the bus was down
    # Cut off from the leader for half the time after which it declares this node lost:
    # the callbacks served here are released, for a live worker to dial (node_loss.py).
    remote.cut_off_after = settings.node_lost_after / 2
    remote.asterisk(False)  # until ARI connects: said in the heartbeat (node_loss.py)
    remote.close_bus = True
    by_endpoint = voice_agents(config)
    channels = agent_phone_channels(config)
    for agent in by_endpoint.values():
        remote.note_reachable(agent, channels[agent], phones.agent_reachable(agent))
    if await remote.start(wait=settings.request_timeout):
        log.info(
            "routing domain %r: call worker of leader %s (epoch %d)",
            settings.domain,
            remote.leader,
            remote.fence.epoch,
        )
    else:
        log.warning(
            "routing domain %r: no routing leader heard in %g s (start `hotline routing "
            "--domain %s`); calls reaching a queue wait for one",
            settings.domain,
            settings.request_timeout,
            settings.domain,
        )
    pending: set[asyncio.Task[None]] = set()

    def phone(endpoint: str, reachable: bool) -> None:
        agent = phones.agent_of(endpoint)
        if agent is not None and agent in by_endpoint.values():
            now = phones.agent_reachable(agent)  # either phone of the agent
            task = asyncio.ensure_future(remote.reachable(agent, channels[agent], now))
            pending.add(task)
            task.add_done_callback(pending.discard)
            task.add_done_callback(_said)

    ami.listeners.append(phone)
    return remote


def worker_name(config: HotlineConfig) -> str:
    """This worker's name, the same across its restarts: host and Asterisk instance."""
    return f"{socket.gethostname()}/{config.asterisk.instance}"


async def after_recovery(remote: RemoteRouting) -> None:
    """The worker's recovery has run (after a restart, or Asterisk reconnected): the
    leader takes out of their queues this worker's contacts it no longer holds."""
    try:
        left = await remote.claim(purge=True)
    except (RoutingError, ValueError) as error:
        log.warning("contacts not claimed from the routing leader: %s", error)
        return
    if left:
        log.warning("routing: callers no longer here taken out of their queues: %s", left)


def _said(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("an agent's reachability not said to the leader: %s", task.exception())
