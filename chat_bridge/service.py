"""Chat in a running Hotline: the bridge, the widget's and messengers' routes, and the
agents' desk on top of it (one call from controller/app.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from chat_bridge.attachments import Attachments
from chat_bridge.bridge import BridgeDeps, ChatBridge
from chat_bridge.messengers import Messengers, add_messenger_routes
from chat_bridge.recovery import ChatRecovery, ChatRecoveryReport
from chat_bridge.web import add_chat_routes
from hotline.acd.service import RoutingService
from hotline.callbacks.service import CallbackService
from hotline.catalogue import Catalogue
from hotline.config import HotlineConfig
from hotline.flows.loader import FlowSet
from hotline.flows.services import FlowServices
from hotline.store import Store
from hotline.store.blobs import BlobStore
from hotline.store.chats import ChatStore
from hotline.web.desk import Desks, add_desk_routes


@dataclass
class ChatService:
    bridge: ChatBridge
    messengers: Messengers
    desks: Desks
    recovery: ChatRecovery | None

    async def start(self) -> ChatRecoveryReport | None:
        """Carry on the chats a previous controller left open; call it once, before the
        web server takes connections."""
        return await self.recovery.run() if self.recovery is not None else None

    async def stop(self) -> None:
        await self.desks.stop()
        await self.messengers.close()
        await self.bridge.stop()


def add_chat(
    app: web.Application,
    *,
    config: HotlineConfig,
    store: Store,
    routing: RoutingService,
    flows: Callable[[], FlowSet],
    catalogue: Catalogue | None,
    services_for: Callable[[str], FlowServices],
    state_dir: Path,
    http: aiohttp.ClientSession,
    callbacks: CallbackService | None = None,
) -> ChatService:
    """Build the chat bridge and add the widget, messenger and desk routes to `app`;
    the desk follows the event log from now on. `start()` it before serving (open
    chats carry on), `stop()` it on shutdown."""
    settings = config.chat
    chats = ChatStore(store)
    attachments = Attachments(
        state_dir / "chat" / "attachments",
        chats,
        settings.max_attachment_bytes,
        settings.attachment_types,
        # On PostgreSQL several processes may serve one chat: its files' bytes go there.
        BlobStore(store) if store.dialect == "postgresql" else None,
    )
    bridge = ChatBridge(
        BridgeDeps(
            store=store,
            routing=routing,
            flows=flows,
            catalogue=catalogue,
            settings=settings,
            services_for=services_for,
            default_language=config.default_language,
            languages=tuple(config.languages),
            agent_names={a.id: a.name for a in config.agents},
            agent_queues={a.id: list(a.penalties()) for a in config.agents},
            queues=config.queues,
            callbacks=callbacks,
            chats=chats,
            attachments=attachments,
        )
    )
    messengers = Messengers(bridge, http, settings.telegram, settings.webhook)
    bridge.on_adopt = messengers.carry_on
    if settings.enabled:
        add_chat_routes(app, bridge, attachments, config.web.allowed_origins)
        add_messenger_routes(app, messengers)
    desks = Desks(
        store,
        routing,
        bridge.hub if settings.enabled else None,
        agents={a.id: a.name for a in config.agents},
        pause_reasons=list(config.pause_reasons.values()),
        wrap_up_codes=settings.wrap_up_codes,
        queues=sorted(config.queues),
    )
    add_desk_routes(app, desks)
    desks.start()
    recovery = ChatRecovery(bridge, [a.id for a in config.agents]) if settings.enabled else None
    return ChatService(bridge, messengers, desks, recovery)
