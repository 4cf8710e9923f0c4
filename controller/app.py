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

from ari_app.ami import AmiMonitor
from ari_app.app import StasisApp
from ari_app.call import VoiceRuntime
from ari_app.client import AriClient, run_events
from ari_app.prompts import PromptLibrary
from controller.paths import ProjectPaths
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
    ) -> None:
        self.config = config
        self.flows = flows
        self.paths = paths
        self.secrets = secrets
        self.endpoints = endpoints
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
        runtime = VoiceRuntime(
            ari=ari,
            store=store,
            prompts=prompts,
            flows=self.flows,
            numbers=self.config.numbers,
            services_for=lambda contact_id: LiveServices(store, contact_id, http),
            default_language=self.config.default_language,
        )
        stasis = StasisApp(runtime)
        self.stasis, self.ami, self.store = stasis, ami, store
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
                active_calls=stasis.active_calls,
                agents={
                    a.id: ("reachable" if ami.reachable(a.endpoint) else "unreachable")
                    for a in self.config.agents
                },
            )

        api = build_api(store, status, self.secrets.api_token)
        runner = web.AppRunner(api, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.web.bind, self.config.web.port)
        await site.start()
        self.web_url = f"http://{self.config.web.bind}:{self.config.web.port}/"
        ami.start()
        events = asyncio.create_task(
            run_events(ari, stasis.handle, on_connect=connected, on_disconnect=disconnected)
        )
        self.ready.set()
        if on_ready:
            on_ready(self)
        try:
            await self.stopping.wait()
        finally:
            events.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await events
            await stasis.drain()
            ami.close()
            await ari.close()
            await http.close()
            await runner.cleanup()
            await store.close()

    def stop(self) -> None:
        self.stopping.set()


async def run_until_signal(hotline: Hotline, on_ready: Callable[[Hotline], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, hotline.stop)
    await hotline.run(on_ready)
