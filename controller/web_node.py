"""`hotline web`: a web process of the web tier, several behind one address (haproxy).

It serves the agent desk, the chat widget and messengers' webhooks, the wallboard,
reports and the REST API, with no Asterisk: its routing is the domain's leader
(`hotline routing`) over NATS, as a call worker's (`RemoteRouting`), its data the shared
PostgreSQL (web sessions too: a login made on one process is good on every other).
Chats may land on any process (chat_bridge/cluster.py: who runs a chat is the process
that holds its claim, a PostgreSQL advisory lock; desks and widgets are relayed over
NATS); the events other processes append reach this one's desks and wallboard through
its log tail (hotline/cluster/log_tail.py). Supervisors read, whisper to and take over
chats where they run (chat_bridge/cluster_monitoring.py); a call's controls and
monitoring go to the call worker holding it (hotline/cluster/call_bus.py); a desk's
browser phone is relayed to a call worker's relay (controller/web_phones.py).

Needs PostgreSQL and NATS: without either it exits at once (status 2) with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any, cast

import aiohttp
from aiohttp import web

from chat_bridge.claims import ChatClaims
from chat_bridge.cluster import ChatCluster, ClusterDesk
from chat_bridge.cluster_monitoring import ClusterChatMonitors
from chat_bridge.monitoring import ChatMonitors
from chat_bridge.service import add_chat
from controller.app import Endpoints, Hotline, StartFailed
from controller.devices import phone_accounts
from controller.outbound_rules import outbound_rules
from controller.paths import ProjectPaths
from controller.services import LiveServices
from controller.web_phones import web_phones
from hotline.acd.model import Channel
from hotline.acd.reachability import UNREACHABLE_REASON
from hotline.acd.router import RoutingError
from hotline.acd.service import RoutingService
from hotline.calls import CallControlError
from hotline.calls.outbound_service import OutboundCalls
from hotline.catalogue import Catalogue
from hotline.cluster.bus import BusError, connect
from hotline.cluster.call_bus import (
    RemoteCallControl,
    RemoteMonitoring,
    RemoteOutbound,
    cancel_on_worker,
    follow_monitors,
)
from hotline.cluster.leader import ElectionError, asyncpg_dsn
from hotline.cluster.log_tail import LogTail, TailedStore
from hotline.cluster.remote import RemoteRouting
from hotline.cluster.web_callbacks import BookedForWorkers
from hotline.cluster.web_health import WebHealth
from hotline.config import HotlineConfig
from hotline.contacts.wrapup import WrapUps
from hotline.errors import error_text
from hotline.flows.loader import FlowSet
from hotline.knowledge import KnowledgeBase
from hotline.quality.evaluations import Evaluations
from hotline.quality.forms import load_forms
from hotline.service_health import ServiceHealth, watch_database, watch_leader
from hotline.store import Store, StoreUnavailable
from hotline.store.chats import ChatStore
from hotline.store.transcripts import Transcripts
from hotline.web.api import ApiStatus, add_api_routes
from hotline.web.assist_api import Assist, StoreCalls, add_assist_routes
from hotline.web.auth import build_web_app
from hotline.web.call_targets_api import add_call_target_routes
from hotline.web.callbacks_api import add_callback_routes
from hotline.web.calls_api import add_call_routes
from hotline.web.contact_page import add_contact_page_routes
from hotline.web.contacts_api import add_contacts_routes
from hotline.web.desk import Desks
from hotline.web.evaluations_api import add_evaluation_routes
from hotline.web.knowledge_api import add_knowledge_routes
from hotline.web.metrics import add_metrics_routes
from hotline.web.monitor_api import add_chat_monitor_routes, add_monitor_routes
from hotline.web.phone_api import add_phone_routes
from hotline.web.quality_reports import add_all_report_routes
from hotline.web.recording_source import RecordingSource, under
from hotline.web.transcripts_api import add_transcript_routes
from hotline.web.wallboard import Wallboard, add_wallboard_routes

log = logging.getLogger(__name__)

#: Misconfigured, or PostgreSQL or NATS unreachable at start: said on stderr.
EXIT_CONFIG = 2
#: Seconds the start waits for PostgreSQL before giving up.
DATABASE_WAIT = 10.0


def web_problem(config: HotlineConfig) -> str | None:
    """Why `hotline web` cannot run with `config` (None: it can)."""
    url = config.database_url or ""
    if not url.startswith("postgresql"):
        return (
            "hotline web needs database_url on PostgreSQL: the web processes, the routing "
            "leader and the call workers share one database (on SQLite Hotline is one "
            "process: use `hotline run`)"
        )
    return None


class WebNode:
    """One web process: routes, chats and desks, until stopped (module docstring)."""

    def __init__(
        self,
        config: HotlineConfig,
        flows: FlowSet,
        paths: ProjectPaths,
        hotline: Hotline,
        *,
        bind: str,
        port: int,
        name: str,
    ) -> None:
        self.config = config
        self.flows = flows
        self.paths = paths
        self.hotline = hotline  # its web users and sessions (make_auth)
        self.bind = bind
        self.port = port
        self.name = name
        self.stopping = asyncio.Event()

    async def run(self, on_ready: Callable[[WebNode], None] | None = None) -> int:
        config = self.config
        url = config.database_url or ""
        settings = config.routing
        try:
            nc = await connect(settings.servers, f"hotline-web {self.name}")
        except BusError as error:
            raise StartFailed(str(error)) from None
        store: Store | None = None
        try:
            store = await asyncio.wait_for(Store.connect(url), DATABASE_WAIT)
            # One try, not the store's retries: a process that cannot start says so now.
            await asyncio.wait_for(store.ping(), DATABASE_WAIT)
            await store.migrate()
        except (StoreUnavailable, OSError, TimeoutError) as error:
            await nc.close()
            if store is not None:
                await store.close()
            raise StartFailed(
                f"cannot reach PostgreSQL at {_where(url)}: {error_text(error)}"
            ) from None
        claims = ChatClaims(asyncpg_dsn(url))
        try:
            await claims.open()
        except Exception as error:
            await nc.close()
            await store.close()
            raise StartFailed(f"cannot open the chats' claims on PostgreSQL: {error}") from None
        try:
            return await self._serve(store, nc, claims, on_ready)
        finally:
            with contextlib.suppress(Exception):
                await claims.close()
            with contextlib.suppress(Exception):
                await store.close()
            with contextlib.suppress(Exception):
                await nc.close()

    async def _serve(
        self,
        store: Store,
        nc: Any,
        claims: ChatClaims,
        on_ready: Callable[[WebNode], None] | None,
    ) -> int:
        config, paths = self.config, self.paths
        settings = config.routing
        remote = RemoteRouting(nc, settings.domain, timeout=settings.request_timeout)
        if await remote.start(wait=min(settings.request_timeout, 5.0)):
            log.info("routing domain %r: web process of leader %s", settings.domain, remote.leader)
        else:
            log.warning(
                "routing domain %r: no routing leader heard yet (start `hotline routing`)",
                settings.domain,
            )
        routing = cast(RoutingService, remote)
        knowledge, refused = await KnowledgeBase.open(
            store, config.languages, paths.home / config.knowledge_dir
        )
        for problem in refused:
            log.warning("knowledge base: %s (article refused)", problem)
        catalogue = Catalogue.load(paths.home / config.sounds_dir / "catalogue.yaml")
        http = aiohttp.ClientSession()

        # Chats' callbacks are booked here; the leader hands each to a call worker,
        # which dials it (hotline/cluster/web_callbacks.py).
        callbacks = BookedForWorkers(
            store,
            routing,
            config.callbacks,
            {name: q.callback for name, q in config.queues.items()},
            schedules=config.schedules,
            own_numbers=config.flow_numbers,
        )

        def services_for(contact_id: str) -> LiveServices:
            return LiveServices(
                store,
                contact_id,
                http,
                config.integrations,
                config.schedules,
                routing,
                callbacks,
                knowledge=knowledge,
            )

        def status() -> ApiStatus:
            return ApiStatus(ari_connected=False, ami_connected=False, active_calls=0)

        auth = self.hotline.make_auth(store)
        api = build_web_app(auth, rate_limit=config.web.rate_limit)
        agents = {a.id: a.name for a in config.agents}
        # No Asterisk here: every recording is fetched from the node that made it.
        recordings = RecordingSource(
            None, config.routing.nodes, self.hotline.secrets.api_token, is_here=under(None)
        )
        health = ServiceHealth()  # PostgreSQL and the leader, watched below (and NATS)

        def health_of() -> dict[str, Any]:
            return WebHealth(
                self.name, health.problems, nc.is_connected, remote.leader, remote.fence.epoch
            ).answer()

        add_api_routes(
            api,
            store,
            status,
            routing=routing,
            agents=agents,
            recording_source=recordings,
            health_of=health_of,
        )
        add_call_target_routes(api, routing, agents)
        add_transcript_routes(api, Transcripts(store))
        forms = load_forms(paths.home / config.evaluations_dir)
        evaluations = Evaluations(store, forms)
        add_evaluation_routes(api, evaluations, forms)
        add_contact_page_routes(api, store, evaluations, forms, recordings)
        add_knowledge_routes(api, knowledge)
        add_assist_routes(
            api,
            Assist(
                knowledge,
                ChatStore(store),
                StoreCalls(store, Transcripts(store)),
                default_language=config.default_language,
            ),
        )
        chat = add_chat(
            api,
            config=config,
            store=store,
            routing=routing,
            flows=lambda: self.flows,
            catalogue=catalogue,
            services_for=services_for,
            state_dir=paths.state,
            http=http,
            callbacks=callbacks,
        )
        chat.recovery = None  # chats nobody runs are taken over by the sweep, not all at start
        # The desks and the wallboard follow the whole log (most of it appended elsewhere).
        tail = LogTail(store)
        tailed = cast(Store, TailedStore(store, tail))
        await chat.desks.stop()
        chat.desks.store = tailed
        chat.desks.start()
        cluster = ChatCluster(nc, settings.domain, chat.bridge, claims)
        chat.desks.chat = ClusterDesk(cluster) if config.chat.enabled else None
        if config.chat.enabled:
            # Supervisors on live chats: served by the process running the chat.
            here = ChatMonitors(
                chat.bridge.hub,
                store,
                routing,
                tell_agent=config.monitoring.tell_agent != "no",  # a chat has no beep
            )
            add_chat_monitor_routes(api, ClusterChatMonitors(cluster, here, self.name))
        wrap_ups = WrapUps(store, routing, config.queues, config.chat.wrap_up_codes)
        add_contacts_routes(api, wrap_ups)
        chat.desks.wrap_ups = wrap_ups

        async def node_of(contact_id: str) -> str | None:
            contact = await store.contact(contact_id)
            return None if contact is None else contact.asterisk_node

        # Calls' controls go to the call worker holding the call (its asterisk_node).
        calls = RemoteCallControl(nc, settings.domain, node_of)
        # Monitoring (listen, whisper, barge): by the worker holding the call; before the
        # call routes (`/api/calls/{id}/{action}` would take "monitor").
        monitoring = RemoteMonitoring(nc, settings.domain, node_of)
        add_monitor_routes(api, monitoring)
        # Click-to-call and callbacks by hand: placed by any live call worker.
        outbound = RemoteOutbound(nc, settings.domain, outbound_rules(config))
        add_call_routes(api, calls, cast(OutboundCalls, outbound))
        # The callbacks' list and booking served here; a cancel done by the call worker
        # serving the callback (hotline/cluster/web_callbacks.py).
        callbacks.cancel_where_served = functools.partial(cancel_on_worker, nc, settings.domain)
        add_callback_routes(api, callbacks, {a.id: set(a.penalties()) for a in config.agents})

        async def session_alive(token: str) -> bool:
            return await auth.sessions.resolve(token) is not None

        # Browser phones: relayed to the SIP edge, or a call worker's own relay
        # (controller/web_phones.py).
        accounts = phone_accounts(config, self.hotline.secrets)
        add_phone_routes(api, web_phones(config, accounts, session_alive))
        chat.desks.control = calls
        chat.desks.watch_health(health)
        wallboard = Wallboard(tailed, routing, config.reports, agents)
        add_wallboard_routes(api, wallboard)
        add_all_report_routes(api, store, evaluations, config)
        add_metrics_routes(api, wallboard.view, store.listen)  # no calls: no admission
        runner = web.AppRunner(api, access_log=None)
        background: list[asyncio.Task[Any]] = []
        try:
            await tail.start()
            if config.chat.enabled:
                await cluster.start()
            await runner.setup()
            try:
                await web.TCPSite(runner, self.bind, self.port).start()
            except OSError as error:
                raise StartFailed(str(error)) from None
            background.append(asyncio.create_task(watch_database(health, store.ping)))
            background.append(asyncio.create_task(watch_leader(health, lambda: remote.view.last)))
            background.append(asyncio.create_task(follow_presence(chat.desks)))
            background.append(asyncio.create_task(follow_calls(chat.desks, calls)))
            background.append(asyncio.create_task(follow_monitors(monitoring)))
            log.info("web process %s on http://%s:%d/", self.name, self.bind, self.port)
            if on_ready is not None:
                on_ready(self)
            await self.stopping.wait()
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await cluster.stop()
            await chat.stop()
            await tail.stop()
            await remote.stop()
            await http.close()
            await runner.cleanup()
        return 0

    def stop(self) -> None:
        self.stopping.set()


async def follow_presence(desks: Desks, every: float = 0.25) -> None:
    """Each connected agent's presence, pushed to their desks when it changes. Here the
    states are the leader's, known from its heartbeat (hotline/cluster/view.py), which
    may come after the event of the change: the desk is told when the view changes.

    An agent with a desk here is reachable for chats: if the leader holds their chat
    "unreachable" (their desk on another process closed, while this one is open), this
    process says so again (at most once a second)."""
    said: dict[str, dict[str, Any]] = {}
    told: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(every)
        for agent in list(desks.sockets):
            frame = desks.presence(agent)
            if said.get(agent) != frame:
                said[agent] = frame
                desks.push(agent, frame)
            try:
                chat = desks.routing.agent_status(agent).get(Channel.CHAT)
            except RoutingError:
                continue
            unreachable = chat is not None and chat.reason == UNREACHABLE_REASON
            if unreachable and loop.time() - told.get(agent, 0.0) > 1.0:
                told[agent] = loop.time()
                with contextlib.suppress(RoutingError, ValueError):
                    await desks.routing.reachable(agent, Channel.CHAT, True)
        for agent in [a for a in said if a not in desks.sockets]:
            del said[agent]


async def follow_calls(desks: Desks, calls: RemoteCallControl, every: float = 1.0) -> None:
    """The call panel's state (held, consulting...) of each call of an agent whose desk
    is here, as its call worker says it, pushed when it changes."""
    while True:
        await asyncio.sleep(every)
        for agent in list(desks.sockets):
            for call in desks.calls.of_agent(agent):
                before = calls.state(call.contact_id)
                try:
                    now = await calls.refresh(call.contact_id)
                except CallControlError as error:
                    log.debug("call %s: %s", call.contact_id, error)
                    continue
                if now != before:
                    desks.push(agent, await desks.call_frame(call))


def _where(url: str) -> str:
    """The database's host and name, without the password."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def cmd_web(args: argparse.Namespace) -> int:
    """Run one web process (module docstring)."""
    from controller.cli import _paths, load_all

    paths = _paths(args)
    config, flows, secrets = load_all(paths)
    problem = web_problem(config)
    if problem is not None:
        print(f"hotline web: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    bind = args.bind or config.web.bind
    port = args.port or config.web.port
    name = args.name or f"{socket.gethostname()}:{port}"
    hotline = Hotline(config, flows, paths, secrets, cast(Endpoints, None))
    node = WebNode(config, flows, paths, hotline, bind=bind, port=port, name=name)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, node.stop)
        if args.stop.requested():  # before the loop's handlers (controller/stop_requests.py)
            node.stop()
        return await node.run(
            lambda n: print(
                f"Hotline web process {n.name} ready on http://{n.bind}:{n.port}/", flush=True
            )
        )

    try:
        return asyncio.run(main())
    except (StartFailed, ElectionError) as error:
        print(f"hotline web: {error}", file=sys.stderr)
        return EXIT_CONFIG


def add_web_command(sub: Any) -> None:
    """`hotline web`: see the module docstring."""
    parser = sub.add_parser(
        "web", help="a web process of the web tier (desk, widget, wallboard, API; no Asterisk)"
    )
    parser.add_argument("--bind", help="address to serve on (default: the config's web.bind)")
    parser.add_argument("--port", type=int, help="port to serve on (default: web.port)")
    parser.add_argument("--name", help="this process's name in logs (default: host:port)")
    parser.set_defaults(func=cmd_web, serves=True)
