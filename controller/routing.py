"""The routing engine of a running Hotline: queues and agents from the config, agents'
presence from their phones' registration (AMI), every change in the event log."""

from __future__ import annotations

import asyncio
import functools
import logging

from ari_app.ami import AmiMonitor
from controller.devices import AgentPhones
from hotline.acd.model import Channel
from hotline.acd.router import Router
from hotline.acd.service import LazyLog, RoutingService
from hotline.acd.settings import make_router
from hotline.chat_settings import identity_skill
from hotline.config import HotlineConfig
from hotline.store import Store

log = logging.getLogger(__name__)


def build_router(config: HotlineConfig) -> Router:
    """The router of the config's queues and agents (all logged out)."""
    for warning in config.routing_warnings():
        log.warning("routing: %s", warning)
    # Each agent also has a skill of their own, which a chat transferred to them requires.
    agents = {
        a.id: a.model_copy(update={"skills": {**a.skills, identity_skill(a.id): 100}})
        for a in config.agents
    }
    return make_router(config.queues, agents)


def voice_agents(config: HotlineConfig) -> dict[str, str]:
    """Agents who take calls on a phone, by their phone's endpoint."""
    return {a.endpoint: a.id for a in config.agents if a.queues and a.capacity.voice}


def agent_phone_channels(config: HotlineConfig) -> dict[str, list[Channel]]:
    """What each agent's phone takes: voice calls and, for agents who make them, callbacks."""
    return {
        a.id: [Channel.VOICE, *([Channel.CALLBACK] if a.callbacks else [])] for a in config.agents
    }


async def start_routing(
    config: HotlineConfig, store: Store, ami: AmiMonitor, phones: AgentPhones | None = None
) -> RoutingService:
    """Every agent with a phone and queues is logged in for voice, and held back (paused
    "unreachable") until AMI says their phone is registered: their SIP phone or their
    browser phone (`phones`), either one."""
    phones = phones or AgentPhones(config.agents, ami.reachable, browser_phone=False)
    router = build_router(config)
    # append_soon: each record's write is a future, no task per record (hotline/acd/outbox.py);
    # a ring or a finish nothing follows from shares the commit of a later write.
    lazy = LazyLog(functools.partial(store.append_soon, lazy=True), store.hurry)
    routing = RoutingService(router, store.append_soon, lazy=lazy)
    await routing.start()
    by_endpoint = voice_agents(config)
    phone_channels = agent_phone_channels(config)
    for agent in by_endpoint.values():
        await routing.login(agent, phone_channels[agent])
        await routing.reachable(agent, phone_channels[agent], phones.agent_reachable(agent))
    pending: set[asyncio.Task[None]] = set()

    def phone(endpoint: str, reachable: bool) -> None:
        agent = phones.agent_of(endpoint)
        if agent is not None and agent in by_endpoint.values():
            # One agent, either phone: unreachable only when neither is registered.
            now = phones.agent_reachable(agent)
            task = asyncio.ensure_future(routing.reachable(agent, phone_channels[agent], now))
            pending.add(task)
            task.add_done_callback(pending.discard)

    ami.listeners.append(phone)
    return routing
