"""`hotline routing --domain X`: a routing leader, or its hot standby.

Several of these run for one routing domain (all of a tenant's queues and agents), on
one PostgreSQL. One leads (hotline/cluster/leader.py); the others wait as standbys and
say so in their log. The leader takes over the routing state from the event log
(hotline/cluster/takeover.py), raises the domain's fencing epoch, and writes every
routing event through the epoch check (hotline/store/epochs.py). When it loses its
lock it stops routing at once and the process exits with EXIT_LOST, so that a
supervisor (systemd) starts it again, as a standby.

The leader serves the call workers over NATS (hotline/cluster/responder.py: their
requests, its offers, its heartbeat) from the moment it leads until it loses its lock;
a standby is connected to NATS but silent. The leader hears the workers' heartbeats:
a worker silent for `routing.node_lost_after` seconds has lost its node (its waiting
callers are rebooked as callbacks at their place, its agents go to wrap-up:
hotline/cluster/node_loss.py). NATS unreachable at start: the process exits at once
with the reason (EXIT_CONFIG), to be started again once it is up; lost later, the client
reconnects for ever while the leader goes on routing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

from controller.routing import agent_phone_channels, build_router, voice_agents
from hotline.acd.restore import Talking
from hotline.acd.service import RoutingService, Ticket
from hotline.callbacks.service import CallbackService
from hotline.cluster.bus import BusError
from hotline.cluster.bus import connect as connect_bus
from hotline.cluster.leader import (
    DEFAULT_LEASE,
    DEFAULT_RETRY,
    ElectionError,
    LeaderElection,
    Leadership,
    asyncpg_dsn,
)
from hotline.cluster.node_loss import NodeLossHandler
from hotline.cluster.responder import RoutingResponder
from hotline.cluster.takeover import carry_pauses, read_routing_state
from hotline.config import HotlineConfig
from hotline.errors import error_text
from hotline.store import Store, StoreUnavailable
from hotline.store.epochs import Fence, StaleEpoch

log = logging.getLogger(__name__)

#: The process lost its leadership (a standby took over), or found no database at its
#: start: start it again, as a standby.
EXIT_LOST = 4
#: Seconds a deposed leader gives its routing service to stop (its writes are refused).
STOP_TIMEOUT = 2.0
#: Misconfigured, or NATS unreachable at start: said on stderr.
EXIT_CONFIG = 2


class RoutingNode:
    """One candidate's life: wait to lead, lead until stopped or deposed."""

    def __init__(
        self, config: HotlineConfig, store: Store, election: LeaderElection, nc: Any = None
    ) -> None:
        self.config = config
        self.store = store
        self.election = election
        #: The NATS connection the workers are served on (None: routing with no workers).
        self.nc = nc
        self.routing: RoutingService | None = None
        self.responder: RoutingResponder | None = None
        #: The tickets of the waiting contacts taken over from the log.
        self._taken_over: list[Ticket] = []
        self._talking: list[Talking] = []

    async def run(self, stop: asyncio.Event) -> int:
        """0 once `stop` is set, EXIT_LOST once the leadership is lost."""
        campaign = asyncio.create_task(self.election.campaign(), name="campaign")
        stopping = asyncio.create_task(stop.wait(), name="stop")
        try:
            await asyncio.wait({campaign, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not campaign.done():
                return 0
            leadership = campaign.result()
            self.routing = await self._lead(leadership)
            if self.nc is not None and not leadership.lost.is_set():
                self.responder = RoutingResponder(
                    self.nc,
                    self.routing,
                    leadership,
                    node_loss=self._node_loss(self.routing, leadership),
                    lost_after=self.config.routing.node_lost_after,
                    asterisk_after=self.config.routing.asterisk_lost_after,
                )
                await self.responder.start(self._taken_over, self._talking)
            lost = asyncio.create_task(leadership.lost.wait(), name="lost")
            await asyncio.wait({lost, stopping}, return_when=asyncio.FIRST_COMPLETED)
            lost.cancel()
            return EXIT_LOST if leadership.lost.is_set() else 0
        finally:
            for task in (campaign, stopping):
                task.cancel()
            await self._stop_routing()
            await self.election.resign()

    async def _lead(self, leadership: Leadership) -> RoutingService:
        fence = Fence(leadership.domain, leadership.epoch)
        router = build_router(self.config)
        router.epoch = fence.epoch  # every offer carries it

        async def log_fenced(
            *,
            type: str,
            data: dict[str, Any],
            contact_id: str | None,
            queue: str | None,
            agent: str | None,
        ) -> int:
            try:
                return await self.store.append_fenced(fence, contact_id, type, data, queue, agent)
            except StaleEpoch as error:
                leadership.lose(str(error))
                raise

        routing = RoutingService(router, log_fenced)
        # The log is read before this leader logs anyone in: the agents' last states
        # (their pauses) are the old leader's.
        agents = {a.id: [ch.value for ch in router.agent_status(a.id)] for a in self.config.agents}
        state = await read_routing_state(self.store, agents=agents)
        channels = agent_phone_channels(self.config)
        for agent in voice_agents(self.config).values():
            await routing.login(agent, channels[agent])
        carried = await carry_pauses(routing, state.paused)
        tickets, refused = await routing.restore(state.waiting, state.talking)
        self._taken_over = list(tickets.values())
        self._talking = [t for t in state.talking if t.contact.id not in refused]
        for contact, why in refused.items():
            log.warning("routing takeover: contact %s not restored: %s", contact, why)
        await routing.start()
        log.info(
            "routing domain %r: epoch %d: took over %d waiting and %d talking contacts; "
            "routing (%d agent channels kept paused)",
            fence.domain,
            fence.epoch,
            len(tickets),
            len(state.talking) - sum(1 for t in state.talking if t.contact.id in refused),
            carried,
        )
        return routing

    def _node_loss(self, routing: RoutingService, leadership: Leadership) -> NodeLossHandler:
        """What this leader does for a lost node's callers: the callback feature's own
        booking (never started here: a live worker's dialer serves what it books), and
        the open callbacks' hand-over, its writes fenced by the epoch."""
        config = self.config
        callbacks = CallbackService(
            self.store,
            routing,
            config.callbacks,
            {name: q.callback for name, q in config.queues.items()},
            schedules=config.schedules,
            own_numbers=config.flow_numbers,
        )
        fence = Fence(leadership.domain, leadership.epoch)
        return NodeLossHandler(self.store, routing, callbacks, fence)

    async def _stop_routing(self) -> None:
        responder, self.responder = self.responder, None
        if responder is not None:
            await responder.stop()
        routing, self.routing = self.routing, None
        if routing is None:
            return
        try:
            await asyncio.wait_for(routing.stop(), STOP_TIMEOUT)
        except (TimeoutError, Exception) as error:
            # Refused or unreachable writes: nothing more is acted on either way.
            log.info("routing stopped with writes not logged: %s", error_text(error))


async def run_routing_node(
    config: HotlineConfig,
    url: str,
    domain: str,
    *,
    lease: float = DEFAULT_LEASE,
    retry: float = DEFAULT_RETRY,
    name: str | None = None,
    nats: list[str] | None = None,
    stop_requested: Callable[[], bool] = lambda: False,
) -> int:
    """The `hotline routing` process until SIGINT/SIGTERM (0) or lost leadership;
    `nats`: the servers the workers are served on (None: no workers);
    `stop_requested`: whether one came before the loop's handlers were in place
    (controller/stop_requests.py)."""
    # A stop asked while it connects (bounded by the bus's and the store's own waits)
    # is taken once connected: the node starts, then stops at once.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if stop_requested():
        stop.set()
    election = LeaderElection(asyncpg_dsn(url), domain, lease=lease, retry=retry, name=name)
    nc = None if nats is None else await connect_bus(nats, f"hotline-routing {election.name}")
    store = await Store.connect(url)
    try:
        await store.migrate()
        log.info("routing domain %r: %s is a candidate", domain, election.name)
        return await RoutingNode(config, store, election, nc).run(stop)
    finally:
        with contextlib.suppress(Exception):
            await store.close()
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()


def cmd_routing(args: argparse.Namespace) -> int:
    """Run a routing leader/standby for `args.domain` (see the module docstring)."""
    from controller.cli import _paths, checked_config

    config = checked_config(_paths(args))
    url = args.database or config.database_url
    if not url:
        print(
            "hotline routing: no database_url: a routing leader and its standby share one "
            "PostgreSQL (on SQLite Hotline is one process: use `hotline run`)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    nats = None if args.no_bus else (args.nats or config.routing.nats_url).split(",")
    try:
        return asyncio.run(
            run_routing_node(
                config,
                url,
                config.routing.domain if args.domain is None else args.domain,
                lease=args.lease,
                retry=args.retry,
                name=args.name,
                nats=nats,
                stop_requested=args.stop.requested,
            )
        )
    except (ElectionError, ValueError, BusError) as error:
        print(f"hotline routing: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except StoreUnavailable as error:
        # The database is down or unreachable at the start: said in one line, and the
        # supervisor starts it again (as after a lost leadership).
        print(f"hotline routing: {error}; to be started again", file=sys.stderr)
        return EXIT_LOST


def add_routing_command(sub: Any) -> None:
    """`hotline routing`: see the module docstring."""
    routing = sub.add_parser(
        "routing", help="a routing leader, or its hot standby (PostgreSQL; see README)"
    )
    routing.add_argument(
        "--domain", help="the routing domain to lead (default: the config's routing.domain)"
    )
    routing.add_argument(
        "--nats", help="NATS server URL(s), comma-separated (default: routing.nats_url)"
    )
    routing.add_argument(
        "--no-bus",
        action="store_true",
        help="route without serving call workers (no NATS; for tests of the election)",
    )
    routing.add_argument("--database", help="PostgreSQL URL (default: the config's database_url)")
    routing.add_argument(
        "--lease",
        type=float,
        default=DEFAULT_LEASE,
        help=f"seconds a silent leader keeps its lock (default {DEFAULT_LEASE})",
    )
    routing.add_argument(
        "--retry",
        type=float,
        default=DEFAULT_RETRY,
        help=f"seconds between a standby's tries (default {DEFAULT_RETRY})",
    )
    routing.add_argument("--name", help="this candidate's name in the logs (default host:pid)")
    routing.set_defaults(func=cmd_routing, serves=True)
