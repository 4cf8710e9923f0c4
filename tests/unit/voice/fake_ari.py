"""An in-memory ARI for the voice adapter's unit tests, and the routing engine around it.

`FakeAri` is the real client with its one transport method replaced: every request is
recorded (and answered with nothing), chosen requests fail as Asterisk would refuse
them. Events are what the test delivers to a port or an inbox, as the Stasis app would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ari_app.client import AriClient, AriError, AriEvent
from hotline.acd import Agent, Queue, Router
from hotline.acd.decisions import Offer
from hotline.acd.service import RoutingService, Ticket
from hotline.catalogue import Catalogue
from voice.prompts import PromptLibrary

CATALOGUE = Path(__file__).resolve().parents[3] / "sounds" / "catalogue.yaml"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: tuple[tuple[str, Any], ...]
    body: dict[str, Any] | None = None

    def param(self, name: str) -> Any:
        return next((value for key, value in self.params if key == name), None)

    def all(self, name: str) -> list[Any]:
        return [value for key, value in self.params if key == name]


class FakeAri(AriClient):
    """The ARI client over no network (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__("http://ari.invalid", "hotline", "secret", "hotline")
        self.requests: list[Request] = []
        #: (method, path prefix) -> the error such a request raises
        self.failures: dict[tuple[str, str], AriError] = {}

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | Sequence[tuple[str, Any]] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        pairs = tuple(params.items()) if isinstance(params, Mapping) else tuple(params or ())
        self.requests.append(Request(method, path, pairs, body))
        for (failing, prefix), error in self.failures.items():
            if method == failing and path.startswith(prefix):
                raise error
        return None

    def made(self, method: str, path: str = "") -> list[Request]:
        """The requests of `method` whose path starts with `path`."""
        return [r for r in self.requests if r.method == method and r.path.startswith(path)]

    def originated(self) -> list[Request]:
        """The legs originated (POST channels)."""
        return [r for r in self.made("POST") if r.path == "channels"]

    def hung_up(self) -> list[str]:
        return [r.path.removeprefix("channels/") for r in self.made("DELETE", "channels/")]

    def played(self, channel: str) -> list[list[str]]:
        """The media of each playback started on `channel`."""
        return [r.all("media") for r in self.made("POST", f"channels/{channel}/play")]


@dataclass
class Followed:
    """The Stasis app's routing of legs' events: which legs are followed now."""

    legs: dict[str, bool] = field(default_factory=dict)

    def __call__(self, leg: str, on: bool) -> None:
        if on:
            self.legs[leg] = True
        else:
            self.legs.pop(leg, None)


class EventLog:
    """The routing engine's (and the store's) event log, in memory."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str | None, dict[str, Any]]] = []

    async def __call__(
        self,
        type: str,
        data: dict[str, Any],
        contact_id: str | None = None,
        queue: str | None = None,
        agent: str | None = None,
    ) -> None:
        self.records.append((type, contact_id, data))

    async def append(
        self,
        contact_id: str | None,
        type: str,
        data: dict[str, Any] | None = None,
        queue: str | None = None,
        agent: str | None = None,
    ) -> int:
        self.records.append((type, contact_id, data or {}))
        return len(self.records)

    def of(self, type: str) -> list[dict[str, Any]]:
        return [data for kind, _, data in self.records if kind == type]


def routing(*agents: str, queue: Queue | None = None) -> tuple[RoutingService, EventLog]:
    """A routing engine with one queue ("q") and these agents logged in to it."""
    queue = queue or Queue("q")
    router = Router()
    router.add_queue(queue)
    for agent in agents:
        router.add_agent(Agent(agent, queues={queue.name: 0}))
    log = EventLog()
    return RoutingService(router, log), log


async def log_in(service: RoutingService, *agents: str) -> None:
    for agent in agents:
        await service.login(agent)


def pending(ticket: Ticket) -> list[object]:
    """What is on the ticket right now, without waiting."""
    items: list[object] = []
    while not ticket.offers.empty():
        items.append(ticket.offers.get_nowait())
    return items


def offers(ticket: Ticket) -> list[Offer]:
    return [item for item in pending(ticket) if isinstance(item, Offer)]


def prompts(tmp_path: Path) -> PromptLibrary:
    """The project's catalogue, rendered nowhere: keys become `sound:` URIs."""
    return PromptLibrary(Catalogue.load(CATALOGUE), tmp_path, tmp_path, None, "/sounds")


async def settle(times: int = 5) -> None:
    """Let the tasks under test run until they wait for something."""
    for _ in range(times):
        await asyncio.sleep(0)


def channel_event(kind: str, channel: str, **extra: Any) -> AriEvent:
    return {"type": kind, "channel": {"id": channel}, **extra}
