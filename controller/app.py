"""The composition root: wires the core and the adapters into one running Hotline."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import cast

import aiohttp
from aiohttp import web

from agi.server import FastAgiServer
from ari_app.ami import AmiMonitor
from ari_app.app import StasisApp
from ari_app.call_control import AriCallControl
from ari_app.callback_dialer import CallbackCalls
from ari_app.client import AriClient, run_events
from ari_app.consultation import StoreConsultContacts
from ari_app.events import WANTED_EVENTS
from ari_app.features import Features
from ari_app.holding import HoldingBridges
from ari_app.monitoring import CallMonitors, SupervisorPhones
from ari_app.outbound import AriOutbound, close_lost
from ari_app.queueing import Queueing
from ari_app.recording import LiveRecordings
from ari_app.recovery import Recovery
from chat_bridge.claims import ChatClaims
from chat_bridge.cluster import ChatCluster, ClusterDesk
from chat_bridge.monitoring import ChatMonitors
from chat_bridge.service import add_chat
from controller import gc_young
from controller.crm import start_crm
from controller.devices import AgentPhones, browser_phones
from controller.outbound_rules import outbound_rules
from controller.paths import ProjectPaths
from controller.phone_calls import BrowserPhoneCalls
from controller.reload import FlowArchive, FlowChecker, FlowWatcher, describe, set_version
from controller.routing import start_routing
from controller.secrets import Secrets
from controller.services import LiveServices
from controller.speech import start_speech
from controller.worker import after_recovery, start_remote_routing, worker_name
from hotline.acd.service import RoutingService
from hotline.callbacks.service import CallbackService
from hotline.calls.outbound_service import OutboundCalls
from hotline.catalogue import Catalogue
from hotline.cluster.bus import BusError
from hotline.cluster.call_bus import CallbackServer, CallControlServer
from hotline.cluster.contact_node import DialsHere, move_to_node
from hotline.cluster.leader import asyncpg_dsn
from hotline.cluster.node_loss import NodeLossHandler
from hotline.cluster.offers import OfferFence
from hotline.cluster.remote import RemoteRouting
from hotline.config import HotlineConfig
from hotline.contacts.wrapup import WrapUps
from hotline.flows.loader import FlowSet
from hotline.gc_pauses import GcPauses
from hotline.knowledge import KnowledgeBase
from hotline.overload import Admission, Load, dialplan_door
from hotline.quality.evaluations import Evaluations
from hotline.quality.forms import load_forms
from hotline.service_health import ServiceHealth, watch_database, watch_leader
from hotline.store import Store
from hotline.store.chats import ChatStore
from hotline.store.group_commit import COMMIT_DELAY
from hotline.store.sessions import SessionStore
from hotline.store.transcripts import Transcripts
from hotline.web.api import ApiStatus, add_api_routes
from hotline.web.assist_api import Assist, StoreCalls, add_assist_routes
from hotline.web.auth import Auth, PasswordFile, Sessions, build_web_app, users_from
from hotline.web.call_targets_api import add_call_target_routes
from hotline.web.callbacks_api import add_callback_routes
from hotline.web.calls_api import add_call_routes
from hotline.web.contact_page import add_contact_page_routes
from hotline.web.contacts_api import add_contacts_routes
from hotline.web.evaluations_api import add_evaluation_routes
from hotline.web.knowledge_api import add_knowledge_routes
from hotline.web.metrics import LOOP_LAG_NOW, add_metrics_routes
from hotline.web.monitor_api import add_chat_monitor_routes, add_monitor_routes
from hotline.web.phone_api import add_phone_routes
from hotline.web.quality_reports import add_all_report_routes
from hotline.web.recording_source import RecordingSource, on_disk, under
from hotline.web.transcripts_api import add_transcript_routes
from hotline.web.wallboard import Wallboard, add_wallboard_routes
from voice.contact import VoiceRuntime
from voice.prompts import PromptLibrary
from voice.recordings import Recordings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoints:
    """Where this Hotline's Asterisk is, as the controller reaches it."""

    ari_url: str
    ari_user: str
    ari_password: str
    ami_host: str
    ami_port: int
    ami_user: str
    ami_secret: str
    sounds_host_dir: Path | None  # None: Asterisk is elsewhere, prompts are copied by hand
    sounds_asterisk_dir: str
    recordings_asterisk_dir: str
    recordings_host_dir: Path | None  # None: Asterisk is elsewhere


class StartFailed(Exception):
    """A part of Hotline could not start (a port is taken); the message says which."""


def database_url(config: HotlineConfig, paths: ProjectPaths) -> str:
    return config.database_url or f"sqlite+aiosqlite:///{paths.state / 'hotline.db'}"


class Hotline:
    """The running controller: store, prompts, ARI app, AMI monitor, web API."""

    def __init__(
        self,
        config: HotlineConfig,
        flows: FlowSet,
        paths: ProjectPaths,
        secrets: Secrets,
        endpoints: Endpoints,
        checker: FlowChecker | None = None,
        web_ssl: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.flows = flows
        self.paths = paths
        self.secrets = secrets
        self.endpoints = endpoints
        #: How to re-check the flows folder; None: no hot reload.
        self.checker = checker
        #: HTTPS and WSS for the web (web.tls; controller/web_tls.py), else plain HTTP.
        self.web_ssl = web_ssl
        self.stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self.web_url = ""
        #: Passwords generated at this start for users who had none (shown once).
        self.new_passwords: dict[str, str] = {}

    async def run(self, on_ready: Callable[[Hotline], None] | None = None) -> None:
        ep = self.endpoints
        # A short commit delay: a call's writes share fewer commits (group_commit.py).
        url = database_url(self.config, self.paths)
        store = await Store.connect(url, commit_delay=COMMIT_DELAY)
        await store.migrate()
        # Articles files changed since the last start become new versions; a file with
        # problems is refused (and said), the rest of the knowledge base is served.
        knowledge, refused = await KnowledgeBase.open(
            store, self.config.languages, self.paths.home / self.config.knowledge_dir
        )
        for problem in refused:
            log.warning("knowledge base: %s (article refused)", problem)
        catalogue = Catalogue.load(self.paths.home / self.config.sounds_dir / "catalogue.yaml")
        prompts = PromptLibrary(
            catalogue,
            sounds_dir=self.paths.home / self.config.sounds_dir,
            cache_dir=self.paths.cache / "prompts",
            asterisk_dir=ep.sounds_host_dir,
            asterisk_path=ep.sounds_asterisk_dir,
        )
        count = await asyncio.to_thread(prompts.publish)
        log.info("%d prompts ready for Asterisk", count)
        ari = AriClient(
            ep.ari_url,
            ep.ari_user,
            ep.ari_password,
            self.config.asterisk.ari_app,
            event_types=WANTED_EVENTS,  # Asterisk sends only what the app acts on
        )
        ami = AmiMonitor(ep.ami_host, ep.ami_port, ep.ami_user, ep.ami_secret)
        http = aiohttp.ClientSession()
        config = self.config

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

        # Each agent's SIP phone and browser phone: one agent, either device.
        phones = AgentPhones(config.agents, ami.reachable, config.asterisk.browser_phone)
        fence: OfferFence | None = None
        remote: RemoteRouting | None = None
        if config.routing.mode == "remote":
            # A call worker: the domain's leader routes (controller/worker.py); the same
            # API over NATS, and offers of a deposed leader's epoch refused here.
            try:
                remote = await start_remote_routing(config, ami, phones)
            except BusError as error:
                raise StartFailed(str(error)) from None
            routing, fence = cast(RoutingService, remote), remote.fence
        else:
            routing = await start_routing(config, store, ami, phones)

        async def notify(url: str, data: dict) -> int:
            """The abandoned-caller message hook (an SMS gateway): POST JSON."""
            async with http.post(url, json=data, timeout=aiohttp.ClientTimeout(total=5)) as reply:
                return reply.status

        callbacks = CallbackService(
            store,
            routing,
            config.callbacks,
            {name: q.callback for name, q in config.queues.items()},
            schedules=config.schedules,
            own_numbers=config.flow_numbers,
            notify=notify,
        )
        if remote is not None:  # the leader hands it open callbacks to dial
            remote.adopt = callbacks.adopt
            remote.serving = callbacks.serving

            async def release() -> list[str]:
                released = await callbacks.release()
                for contact in released:  # their tickets are another worker's now
                    remote.forget(contact)
                return released

            remote.release = release
        # Callers waiting when Asterisk crashes: the node-lost policy (callbacks at their
        # place where the queue allows), decided by the routing leader in a cluster.
        node_loss = NodeLossHandler(store, routing, callbacks)

        async def lost_with_node(contact_id: str) -> object:
            if remote is not None:
                return await remote.asterisk_lost([contact_id])
            return await node_loss.lost(
                worker_name(config), [contact_id], {}, reason="asterisk_lost"
            )

        async def callback_cut(contact_id: str, agent: str) -> bool:
            # A callback's conversation cut by the crash: dialed again (the leader's
            # policy in a cluster, where a worker that can dial gets it: True).
            if remote is not None:
                await remote.asterisk_lost([], {contact_id: agent})
                return True
            talking = {contact_id: agent}
            await node_loss.lost(worker_name(config), [], talking, reason="asterisk_lost")
            return False

        calls = AriCallControl(
            ari,
            config.queues,
            agents=[a.id for a in config.agents],
            dialing=config.callbacks,
            own_numbers=(*config.flow_numbers, *config.callbacks.own_numbers),
            routing=routing,
            endpoints=phones,  # consultations ring the browser phone when registered
            consult_contacts=StoreConsultContacts(store),
            phone_owner=phones.agent_of,  # whose phone places a new call: one lookup
        )
        queueing = Queueing(
            routing=routing,
            settings=config.queues,
            endpoints=phones,  # the browser phone when registered, else the SIP phone
            bridges=HoldingBridges(ari),
            recordings=LiveRecordings(ari),
            callbacks=callbacks,
            calls=calls,
            fence=fence,
            lost_with_node=lost_with_node,
            rebooked=remote.rebooked if remote is not None else None,
        )
        runtime = VoiceRuntime(
            store=store,
            prompts=prompts,
            flows=self.flows,
            numbers=config.numbers,
            services_for=services_for,
            default_language=config.default_language,
            recordings=Recordings(ep.recordings_asterisk_dir, ep.recordings_host_dir),
            agents=frozenset(a.endpoint for a in config.agents),
            node=worker_name(config),
        )
        await asyncio.to_thread(runtime.recordings.prepare)
        features = Features(
            routing=routing,
            store=store,
            agents={a.endpoint: a.id for a in config.agents},
            pause_reasons=config.pause_reasons,
            language=config.default_language,
        )
        try:
            speech = await start_speech(config, self.paths.home, store)
        except OSError as error:
            raise StartFailed(f"speech media socket: {error}") from None
        except ValueError as error:  # a model folder that is not there
            raise StartFailed(str(error)) from None
        overload = config.overload
        if overload.answer == "message" and overload.message not in catalogue:
            raise StartFailed(
                f"overload.message: no prompt {overload.message!r} in the catalogue "
                f"({config.sounds_dir}/catalogue.yaml)"
            )
        # Read when a call arrives (the FastAGI server is made below, before any does).
        door = dialplan_door(overload)  # the limits the dialplan applies before Stasis
        admission = Admission(
            overload,
            lambda: Load(
                calls=stasis.active_calls + agi.active_calls,
                loop_lag_ms=1000 * LOOP_LAG_NOW.seconds,
                ari_latency_ms=ari.round_trips.p90_ms(),
            ),
            rate_at_door=door is not None and door.per_window is not None,
        )
        stasis = StasisApp(
            runtime,
            ari,
            features,
            speech.settings if speech else None,
            queueing=queueing,
            admission=admission,
        )
        if stasis.door is not None:  # told of each caller the dialplan turned away
            ami.door_refusals.append(stasis.door.turned_away_at_door)
        # Outbound calls a previous controller left open ended with it (their legs are
        # hung up as orphans by the recovery): logged and closed "lost".
        await close_lost(store)
        # Every open callback back in its queue, at its place, before calls come in (a
        # call worker of a cluster: the leader hands each to one worker instead).
        await callbacks.start(
            # Each attempt moves the callback's contact to this worker (its node).
            DialsHere(
                CallbackCalls(
                    ari,
                    routing,
                    store,
                    prompts,
                    config.callbacks,
                    phones,  # callbacks ring the browser phone when registered
                    stasis.followed,
                    config.default_language,
                    lost_with_node=callback_cut,
                ),
                store,
                worker_name(config),
            ),
            restore=remote is None,
        )
        agi = FastAgiServer(runtime, config.asterisk.ari_app)
        self.stasis, self.ami, self.store, self.runtime = stasis, ami, store, runtime
        ari_state = {"connected": False}
        recovery = self.recovery = Recovery(stasis)

        async def connected() -> None:
            # Before any new event: take over the calls a previous controller (or this
            # one, before Asterisk restarted) left behind.
            if remote is not None:  # the leader hears it (a node long gone is lost)
                remote.asterisk(True)
            try:
                await recovery.run()
            except Exception:
                log.exception("recovery failed; new calls are taken all the same")
            if remote is not None:  # a call worker: no ghost of a lost call left queued
                await after_recovery(remote)
            ari_state["connected"] = True

        async def disconnected(reason: str) -> None:
            ari_state["connected"] = False
            if remote is not None:
                remote.asterisk(False)
            await stasis.on_disconnect(reason)

        def status() -> ApiStatus:
            return ApiStatus(
                ari_connected=ari_state["connected"],
                ami_connected=ami.connected,
                active_calls=stasis.active_calls + agi.active_calls,
                agents={
                    a.id: ("reachable" if phones.agent_reachable(a.id) else "unreachable")
                    for a in config.agents
                },
            )

        auth = self.make_auth(store)
        api = build_web_app(auth, rate_limit=config.web.rate_limit)
        # Recordings made on another node of the cluster are fetched from it (a node's
        # own are the files in its recordings folder).
        recording_source = RecordingSource(
            worker_name(config) if remote is not None else None,
            config.routing.nodes,
            self.secrets.api_token,
            is_here=on_disk if remote is None else under(ep.recordings_host_dir),
        )
        add_api_routes(
            api,
            store,
            status,
            routing=routing,
            agents={a.id: a.name for a in config.agents},
            recording=queueing.recordings,
            recording_source=recording_source,
            # Not status(): a load balancer polls this, and it needs no look at every
            # agent's phones (status() looks up each agent's endpoints: 500 for 250).
            health_of=lambda: {"ok": ari_state["connected"], "ari": ari_state["connected"]},
        )
        add_callback_routes(api, callbacks, {a.id: set(a.penalties()) for a in config.agents})
        monitors = CallMonitors(
            ari,
            calls,
            # A team lead is rung at the desk's browser phone when it is registered.
            SupervisorPhones.of(config, phones),
            stasis.followed,
            tell_agent=config.monitoring.tell_agent,
            # The agent's desk shows "monitored" where the config says so.
            notify=lambda agent, frame: chat.desks.push(agent, frame),
            ring_seconds=config.monitoring.ring_seconds,
        )
        add_monitor_routes(api, monitors)  # before the call routes: see there
        # The desk's transfer picker: colleagues with presence, queues with waiting.
        add_call_target_routes(api, routing, {a.id: a.name for a in config.agents})
        # Click-to-call and callbacks by hand: the agent's phone first, then the customer.
        outbound = AriOutbound(
            ari,
            queueing,
            stasis,
            store,
            language=config.default_language,
            node=worker_name(config),
            move_to_node=functools.partial(move_to_node, store),
        )
        placed = OutboundCalls(outbound_rules(config), outbound, store, callbacks)
        add_call_routes(api, calls, placed)
        # A call worker: desks on web processes act on its calls, and have it place
        # their outbound calls, over NATS.
        call_server = callback_server = None
        if remote is not None:
            call_server = CallControlServer(
                remote.nc, config.routing.domain, worker_name(config), calls, placed, monitors
            )
            await call_server.start()
            # Its callbacks: cancelled here when asked on a web process.
            callback_server = CallbackServer(remote.nc, config.routing.domain, callbacks)
            await callback_server.start()
        add_transcript_routes(api, Transcripts(store))
        # Quality: evaluation forms (a broken one stops the start with file and line),
        # evaluations and the supervisors' contact page.
        forms = load_forms(self.paths.home / config.evaluations_dir)
        evaluations = Evaluations(store, forms)
        add_evaluation_routes(api, evaluations, forms)
        add_contact_page_routes(api, store, evaluations, forms, recording_source)
        add_knowledge_routes(api, knowledge)
        calls_said = StoreCalls(store, Transcripts(store))
        add_assist_routes(
            api,
            Assist(
                knowledge, ChatStore(store), calls_said, default_language=config.default_language
            ),
        )
        # A desk gone mid-call without hanging up: its browser phone's leg is ended.
        left_calls = BrowserPhoneCalls(
            ari, {a.id: a.endpoint for a in config.agents}, stopping=self.stopping.is_set
        )
        add_phone_routes(
            api, browser_phones(config, self.secrets, ep.ari_url, auth, left_calls.ended)
        )
        chat = add_chat(
            api,
            config=config,
            store=store,
            routing=routing,
            flows=lambda: self.flows,
            catalogue=catalogue,
            services_for=services_for,
            state_dir=self.paths.state,
            http=http,
            callbacks=callbacks,
        )
        # A call worker runs chats as a web process does (chat_bridge/cluster.py): each
        # under its claim, taken over from a process gone, never all of them at start.
        chats_cluster: ChatCluster | None = None
        claims: ChatClaims | None = None
        if remote is not None and config.chat.enabled:
            claims = ChatClaims(asyncpg_dsn(database_url(config, self.paths)))
            try:
                await claims.open()
            except Exception as error:
                raise StartFailed(f"cannot open the chats' claims on PostgreSQL: {error}") from None
            chats_cluster = ChatCluster(remote.nc, config.routing.domain, chat.bridge, claims)
            chat.recovery = None
            chat.desks.chat = ClusterDesk(chats_cluster)
        # Calls' wrap-up codes and notes on contacts; the desk offers each queue's codes.
        wrap_ups = WrapUps(store, routing, config.queues, config.chat.wrap_up_codes)
        add_contacts_routes(api, wrap_ups)
        chat.desks.wrap_ups = wrap_ups
        chat.desks.control = calls
        # Desks say so while the database or the routing leader does not answer.
        health = ServiceHealth()
        chat.desks.watch_health(health)
        if config.chat.enabled:
            readers = ChatMonitors(
                chat.bridge.hub,
                store,
                routing,
                tell_agent=config.monitoring.tell_agent != "no",  # a chat has no beep
            )
            add_chat_monitor_routes(api, readers)
        wallboard = Wallboard(
            store,
            routing,
            config.reports,
            {a.id: a.name for a in config.agents},
            active=lambda: {
                "voice": stasis.active_calls + agi.active_calls,
                "refused": admission.refused_total,
            },
        )
        add_wallboard_routes(api, wallboard)
        add_all_report_routes(api, store, evaluations, config)
        add_metrics_routes(api, wallboard.view, store.listen, admission)
        runner = web.AppRunner(api, access_log=None)
        crm: web.AppRunner | None = None
        background: list[asyncio.Task] = []
        gc_pauses = GcPauses()  # no full collection pauses under load (hotline/gc_pauses.py)
        gc_before: tuple[int, int, int] | None = None
        try:
            # Before the web server takes connections: chats left open carry on.
            try:
                await chat.start()
                if chats_cluster is not None:
                    await chats_cluster.start()
            except Exception:
                log.exception("chat recovery failed; new chats are taken all the same")
            await runner.setup()
            try:
                await web.TCPSite(
                    runner, config.web.bind, config.web.port, ssl_context=self.web_ssl
                ).start()
                await agi.start(config.asterisk.agi_bind, config.asterisk.agi_port)
                if config.demo_crm.enabled:
                    crm = await start_crm(config.demo_crm.port)
                    log.info("demo CRM on http://127.0.0.1:%d/", config.demo_crm.port)
            except OSError as error:
                raise StartFailed(str(error)) from None
            scheme = "https" if self.web_ssl is not None else "http"
            self.web_url = f"{scheme}://{config.web.bind}:{config.web.port}/"
            if self.web_ssl is None and not ip_address(config.web.bind).is_loopback:
                log.warning(
                    "the web is plain HTTP on %s: browsers on other machines give the "
                    "browser phone no microphone there (set web.tls: true)",
                    config.web.bind,
                )
            background.append(asyncio.create_task(self._watch_flows(runtime)))
            background.append(asyncio.create_task(watch_database(health, store.ping)))
            if remote is not None:
                watched = remote
                heartbeat = lambda: watched.view.last  # noqa: E731
                background.append(asyncio.create_task(watch_leader(health, heartbeat)))
            ami.start()
            background.append(
                asyncio.create_task(
                    run_events(ari, stasis.handle, on_connect=connected, on_disconnect=disconnected)
                )
            )
            gc_pauses.start()
            # Young collections left to gc_pauses' second (controller/gc_young.py).
            gc_before = gc_young.tune(gc_young.young_from())
            self.ready.set()
            if on_ready:
                on_ready(self)
            await self.stopping.wait()
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await monitors.close()
            await stasis.drain()
            await outbound.drain()
            await queueing.bridges.close()  # its idle holding bridges (ari_app/holding.py)
            if speech is not None:
                await speech.close()
            if chats_cluster is not None:
                await chats_cluster.stop()
            await chat.stop()
            if claims is not None:
                await claims.close()
            await callbacks.stop()
            if call_server is not None:
                await call_server.stop()
            if callback_server is not None:
                await callback_server.stop()
            await routing.stop()
            await agi.close()
            ami.close()
            await ari.close()
            await http.close()
            if crm is not None:
                await crm.cleanup()
            await runner.cleanup()
            await store.close()
            await gc_pauses.stop()
            if gc_before is not None:
                gc_young.restore(gc_before)

    def make_auth(self, store: Store) -> Auth:
        """Web users from the config; passwords are generated for new ones."""
        config = self.config
        users = users_from(
            [(a.id, a.name) for a in config.agents],
            [(u.id, u.name, u.role) for u in config.users],
            supervising=[a.id for a in config.agents if a.role == "supervisor"],
        )
        passwords = PasswordFile(self.paths.state / "passwords.yaml")
        self.new_passwords = passwords.ensure(u.id for u in users)
        sessions = Sessions(
            SessionStore(store),
            {u.id: u for u in users},
            idle=timedelta(minutes=config.web.session_idle_minutes),
            max_age=timedelta(hours=config.web.session_max_hours),
        )
        secure = config.web.secure_cookies or self.web_ssl is not None
        return Auth(users, passwords, sessions, self.secrets.api_token, secure)

    async def _watch_flows(self, runtime: VoiceRuntime) -> None:
        """Keep every flow version, and swap in clean edits while calls go on."""
        archive = FlowArchive(self.paths.state / "flow_versions")
        await asyncio.to_thread(archive.keep, self.flows)
        log.info("flows.loaded: set %s: %s", set_version(self.flows), describe(self.flows))
        if self.checker is None:
            return

        def apply(flows: FlowSet) -> None:
            # One assignment: a call either copied the old set already or gets the new one.
            runtime.flows = flows
            self.flows = flows

        await FlowWatcher(self.checker, archive, apply).run()

    def stop(self) -> None:
        self.stopping.set()


async def run_until_signal(
    hotline: Hotline,
    on_ready: Callable[[Hotline], None],
    stop_requested: Callable[[], bool] = lambda: False,
) -> None:
    """Run until SIGINT or SIGTERM; `stop_requested`: whether one came before the loop's
    handlers were in place (controller/stop_requests.py)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, hotline.stop)
    if stop_requested():
        hotline.stop()  # starts, then stops at once: everything started is stopped
    await hotline.run(on_ready)
