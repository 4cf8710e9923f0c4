"""The composition root: wires the core and the adapters into one running Hotline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from agi.server import FastAgiServer
from ari_app.ami import AmiMonitor
from ari_app.app import StasisApp
from ari_app.client import AriClient, run_events
from ari_app.contact import Recordings, VoiceRuntime
from ari_app.features import Features
from ari_app.prompts import PromptLibrary
from ari_app.queueing import HoldingBridges, LiveRecordings, Queueing
from controller.crm import start_crm
from controller.paths import ProjectPaths
from controller.reload import FlowArchive, FlowChecker, FlowWatcher, describe, set_version
from controller.routing import start_routing
from controller.secrets import Secrets
from controller.services import LiveServices
from hotline.catalogue import Catalogue
from hotline.config import HotlineConfig
from hotline.flows.loader import FlowSet
from hotline.store import Store
from hotline.web.api import ApiStatus, build_api

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
    ) -> None:
        self.config = config
        self.flows = flows
        self.paths = paths
        self.secrets = secrets
        self.endpoints = endpoints
        #: How to re-check the flows folder; None: no hot reload.
        self.checker = checker
        self.stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self.web_url = ""

    async def run(self, on_ready: Callable[[Hotline], None] | None = None) -> None:
        ep = self.endpoints
        store = await Store.connect(database_url(self.config, self.paths))
        await store.migrate()
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
        ari = AriClient(ep.ari_url, ep.ari_user, ep.ari_password, self.config.asterisk.ari_app)
        ami = AmiMonitor(ep.ami_host, ep.ami_port, ep.ami_user, ep.ami_secret)
        http = aiohttp.ClientSession()
        config = self.config

        def services_for(contact_id: str) -> LiveServices:
            return LiveServices(
                store, contact_id, http, config.integrations, config.schedules, routing
            )

        routing = await start_routing(config, store, ami)
        queueing = Queueing(
            routing=routing,
            settings=config.queues,
            endpoints={a.id: a.endpoint for a in config.agents},
            bridges=HoldingBridges(ari),
            recordings=LiveRecordings(ari),
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
            queueing=queueing,
        )
        await asyncio.to_thread(runtime.recordings.prepare)
        features = Features(
            routing=routing,
            store=store,
            agents={a.endpoint: a.id for a in config.agents},
            pause_reasons=config.pause_reasons,
            language=config.default_language,
        )
        stasis = StasisApp(runtime, ari, features)
        agi = FastAgiServer(runtime, config.asterisk.ari_app)
        self.stasis, self.ami, self.store, self.runtime = stasis, ami, store, runtime
        ari_state = {"connected": False}

        async def connected() -> None:
            ari_state["connected"] = True

        async def disconnected(reason: str) -> None:
            ari_state["connected"] = False
            await stasis.on_disconnect(reason)

        def status() -> ApiStatus:
            return ApiStatus(
                ari_connected=ari_state["connected"],
                ami_connected=ami.connected,
                active_calls=stasis.active_calls + agi.active_calls,
                agents={
                    a.id: ("reachable" if ami.reachable(a.endpoint) else "unreachable")
                    for a in config.agents
                },
            )

        api = build_api(
            store,
            status,
            self.secrets.api_token,
            routing=routing,
            agents={a.id: a.name for a in config.agents},
            recording=queueing.recordings,
        )
        runner = web.AppRunner(api, access_log=None)
        crm: web.AppRunner | None = None
        background: list[asyncio.Task] = []
        try:
            await runner.setup()
            try:
                await web.TCPSite(runner, config.web.bind, config.web.port).start()
                await agi.start(config.asterisk.agi_bind, config.asterisk.agi_port)
                if config.demo_crm.enabled:
                    crm = await start_crm(config.demo_crm.port)
                    log.info("demo CRM on http://127.0.0.1:%d/", config.demo_crm.port)
            except OSError as error:
                raise StartFailed(str(error)) from None
            self.web_url = f"http://{config.web.bind}:{config.web.port}/"
            background.append(asyncio.create_task(self._watch_flows(runtime)))
            ami.start()
            background.append(
                asyncio.create_task(
                    run_events(ari, stasis.handle, on_connect=connected, on_disconnect=disconnected)
                )
            )
            self.ready.set()
            if on_ready:
                on_ready(self)
            await self.stopping.wait()
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await stasis.drain()
            await routing.stop()
            await agi.close()
            ami.close()
            await ari.close()
            await http.close()
            if crm is not None:
                await crm.cleanup()
            await runner.cleanup()
            await store.close()

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


async def run_until_signal(hotline: Hotline, on_ready: Callable[[Hotline], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, hotline.stop)
    await hotline.run(on_ready)
