"""The desk is told when the database or the routing engine does not answer
(hotline/service_health.py): in `hello`, and a `service` frame on every change."""

from __future__ import annotations

from typing import Any

from hotline.acd.router import RoutingError
from hotline.service_health import DATABASE, ROUTING, ServiceHealth
from hotline.web.desk import Desks


class NoRouting:
    def agent_status(self, agent: str) -> dict[str, Any]:
        raise RoutingError(f"no agent {agent!r}")


def desks() -> Desks:
    return Desks(
        object(),  # type: ignore[arg-type]  # not used by what is tested here
        NoRouting(),  # type: ignore[arg-type]
        None,
        agents={"ann": "Ann", "bob": "Bob"},
        pause_reasons=[],
        wrap_up_codes=[],
        queues=[],
    )


def test_every_open_desk_hears_of_each_change_and_hello_says_the_current_problems() -> None:
    made = desks()
    assert made.hello("ann")["service"] == []  # no health watched: nothing wrong said
    health = ServiceHealth()
    made.watch_health(health)
    frames: dict[str, list[dict[str, Any]]] = {"ann": [], "bob": []}
    made.sockets = {"ann": {frames["ann"].append}, "bob": {frames["bob"].append}}
    health.set("database", DATABASE)
    health.set("routing", ROUTING)
    assert made.hello("ann")["service"] == [DATABASE, ROUTING]  # a desk opened now
    health.set("database", None)
    health.set("routing", None)
    expected = [[DATABASE], [DATABASE, ROUTING], [ROUTING], []]
    for agent in ("ann", "bob"):
        assert frames[agent] == [{"type": "service", "problems": p} for p in expected]
    assert made.hello("bob")["service"] == []
