"""A small lab around the Router: queues, logged-in agents and contacts in one line each."""

from __future__ import annotations

import pytest

from hotline.acd import Agent, Contact, JoinResult, Queue, Router


class Lab:
    def __init__(self, **router_options: object) -> None:
        self.r = Router(**router_options)  # type: ignore[arg-type]

    def queue(self, name: str = "q", **options: object) -> Queue:
        queue = Queue(name, **options)  # type: ignore[arg-type]
        self.r.add_queue(queue)
        return queue

    def agent(
        self,
        agent_id: str,
        queues: object = ("q",),
        login_at: float | None = 0.0,
        **options: object,
    ) -> Agent:
        agent = Agent(agent_id, queues=queues, **options)  # type: ignore[arg-type]
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
        **options: object,
    ) -> JoinResult:
        contact = Contact(contact_id, channel, queue, at, **options)  # type: ignore[arg-type]
        return self.r.enqueue(contact, at if now is None else now)

    def offers(self, now: float) -> list[tuple[str, str]]:
        """(contact, agent) pairs offered by next_offers(now)."""
        return [(o.contact.id, o.agent) for o in self.r.next_offers(now)]

    def serve(self, contact_id: str, agent_id: str, start: float, end: float) -> None:
        """Accept an offer at `start` and finish it at `end`."""
        self.r.accept(agent_id, contact_id, start)
        self.r.finish(agent_id, contact_id, end)

    def state(self, agent_id: str, channel: str = "voice") -> str:
        return self.r.agent_status(agent_id)[channel].state.value  # type: ignore[index]

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
