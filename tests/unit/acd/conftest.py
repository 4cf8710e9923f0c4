"""A small lab around the Router: queues, logged-in agents and contacts in one line each."""

from __future__ import annotations

from typing import Any

import pytest

from hotline.acd import Agent, Channel, Contact, JoinResult, Queue, Router


class Lab:
    def __init__(self, **router_options: Any) -> None:
        self.r = Router(**router_options)

    def queue(self, name: str = "q", **options: Any) -> Queue:
        queue = Queue(name, **options)
        self.r.add_queue(queue)
        return queue

    def agent(
        self,
        agent_id: str,
        queues: Any = ("q",),
        login_at: float | None = 0.0,
        **options: Any,
    ) -> Agent:
        agent = Agent(agent_id, queues=queues, **options)
        self.r.add_agent(agent)
        if login_at is not None:
            self.r.login(agent_id, login_at)
        return agent

    def contact(
        self,
        contact_id: str,
        at: float = 0.0,
        queue: str = "q",
        channel: str = "voice",
        now: float | None = None,
        **options: Any,
    ) -> JoinResult:
        contact = Contact(contact_id, Channel(channel), queue, at, **options)
        return self.r.enqueue(contact, at if now is None else now)

    def offers(self, now: float) -> list[tuple[str, str]]:
        """(contact, agent) pairs offered by next_offers(now)."""
        return [(o.contact.id, o.agent) for o in self.r.next_offers(now)]

    def serve(self, contact_id: str, agent_id: str, start: float, end: float) -> None:
        """Accept an offer at `start` and finish it at `end`."""
        self.r.accept(agent_id, contact_id, start)
        self.r.finish(agent_id, contact_id, end)

    def state(self, agent_id: str, channel: str = "voice") -> str:
        return self.r.agent_status(agent_id)[Channel(channel)].state.value

    def events(self, prefix: str = "") -> list[tuple[str, ...]]:
        return [
            (e.type, e.agent or "", e.contact or "", e.detail or e.reason or "")
            for e in self.r.drain_events()
            if e.type.startswith(prefix)
        ]


@pytest.fixture
def lab() -> Lab:
    return Lab()


@pytest.fixture
def make_lab() -> type[Lab]:
    return Lab
