"""A chat bridge on a real SQLite store and routing engine, with the project's flows
and catalogue: `Rig` drives a customer (frames in a list) and an agent (the hub)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chat_bridge.bridge import BridgeDeps, ChatBridge
from chat_bridge.chat import LiveChat
from hotline.acd.service import RoutingService
from hotline.acd.settings import AgentRouting, QueueSettings, make_router
from hotline.callbacks.service import CallbackService
from hotline.callbacks.settings import CallbackConfig
from hotline.catalogue import Catalogue
from hotline.chat_settings import ChatConfig, identity_skill
from hotline.flows.loader import load_flows
from hotline.flows.services import DefaultServices
from hotline.store import Store, sqlite_url

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Customer:
    """The customer's side: every frame the chat sent them."""

    chat: LiveChat
    frames: list[dict[str, Any]] = field(default_factory=list)
    detach: Any = None

    def messages(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == "message"]

    def texts(self) -> list[str]:
        return [f["text"] for f in self.messages()]

    async def wait_for(
        self, predicate: Any, timeout: float = 5.0, after: int = 0
    ) -> dict[str, Any]:
        """The first frame from index `after` on that matches."""
        deadline = asyncio.get_running_loop().time() + timeout
        seen = after
        while True:
            for frame in self.frames[seen:]:
                if predicate(frame):
                    return frame
            seen = len(self.frames)
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no such frame in {self.frames}")
            await asyncio.sleep(0.01)

    async def wait_text(self, part: str, timeout: float = 5.0) -> dict[str, Any]:
        return await self.wait_for(lambda f: f["type"] == "message" and part in f["text"], timeout)


@dataclass
class Rig:
    store: Store
    routing: RoutingService
    bridge: ChatBridge
    services: DefaultServices
    #: The callback service (not started: callbacks join their queue, nobody dials).
    callbacks: CallbackService
    desk: list[dict[str, Any]] = field(default_factory=list)
    #: What bob's desk is sent.
    bob: list[dict[str, Any]] = field(default_factory=list)

    async def customer(self, kind: str = "web", external: str | None = None) -> Customer:
        chat = await self.bridge.new_session(kind, external_id=external)
        customer = Customer(chat)
        customer.detach = self.bridge.attach(chat, customer.frames.append)
        return customer

    async def desk_frame(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for frame in self.desk:
                if frame["type"] == kind:
                    self.desk.remove(frame)
                    return frame
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {kind} frame for the desk in {self.desk}")
            await asyncio.sleep(0.01)

    async def events(self, contact_id: str) -> list[str]:
        return [e.type for e in await self.store.events(contact_id)]


def chat_settings(**changes: Any) -> ChatConfig:
    return ChatConfig(**{"reminder_after": 5, "close_after": 5, **changes})


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with make_rig(tmp_path) as made:
        yield made


class make_rig:
    """`async with make_rig(tmp_path, settings=..., queues=...) as rig`."""

    def __init__(
        self,
        tmp_path: Path,
        settings: ChatConfig | None = None,
        queues: dict[str, QueueSettings] | None = None,
        url: str | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.url = url  # the store's database (SQLite in tmp_path if None)
        self.settings = settings or chat_settings()
        self.queues = queues or {
            "support": QueueSettings(ring_timeout=30),
            "sales": QueueSettings(),
        }

    async def __aenter__(self) -> Rig:
        store = await Store.connect(self.url or sqlite_url(str(self.tmp_path / "chat.db")))
        await store.migrate()
        router = make_router(
            self.queues,
            {
                "alice": AgentRouting(
                    queues=["support", "sales"],
                    capacity={"voice": 1, "chat": 2},
                    skills={identity_skill("alice"): 100},
                ),
                "bob": AgentRouting(
                    queues=["sales"],
                    capacity={"voice": 1, "chat": 1},
                    skills={identity_skill("bob"): 100},
                ),
            },
        )
        routing = RoutingService(router, store.append, tick_interval=0.05)
        await routing.start()
        services = DefaultServices(hours_open=True)
        callbacks = CallbackService(
            store, routing, CallbackConfig(), {name: q.callback for name, q in self.queues.items()}
        )
        flows = load_flows(ROOT / "ivr_flows")
        bridge = ChatBridge(
            BridgeDeps(
                store=store,
                routing=routing,
                flows=lambda: flows,
                catalogue=Catalogue.load(ROOT / "sounds" / "catalogue.yaml"),
                settings=self.settings,
                services_for=lambda contact_id: services,
                default_language="en",
                languages=("en", "ru"),
                agent_names={"alice": "Alice Agent"},
                agent_queues={"alice": ["support", "sales"], "bob": ["sales"]},
                queues=self.queues,
                callbacks=callbacks,
            )
        )
        self.rig = Rig(store, routing, bridge, services, callbacks)
        bridge.hub.subscribe("alice", self.rig.desk.append)
        bridge.hub.subscribe("bob", self.rig.bob.append)
        return self.rig

    async def __aexit__(self, *exc: object) -> None:
        await self.rig.bridge.stop()
        await self.rig.routing.stop()
        await self.rig.store.close()
