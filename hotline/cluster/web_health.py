"""What `/api/health` says on a web process (`hotline web`): the services it depends on,
PostgreSQL, NATS and the routing leader's heartbeat, each fine or not.

The answer is HTTP 200 while the process serves, whatever its dependencies say: they are
shared by every web process (one PostgreSQL, one NATS, one leader), so an outage of one
is every process's, and haproxy marking them all down would cut every desk that should
stay connected and say it is waiting (the desks' banner, `hotline/service_health.py`).
A process that is dead or hung fails haproxy's check by not answering in time; `ok`
and the fields say what monitoring should alert on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hotline.service_health import DATABASE, ROUTING

#: What the answer says while this process has no connection to NATS.
NATS_DOWN = "NATS unreachable: desks' frames and routing requests wait for it"


@dataclass(frozen=True)
class WebHealth:
    """One look at a web process's dependencies."""

    process: str
    problems: list[str]  # the desks' banner texts (hotline/service_health.py)
    nats_connected: bool
    leader: str  # the leader's name, "" before its first heartbeat
    epoch: int

    def answer(self) -> dict[str, Any]:
        database = DATABASE not in self.problems
        leader = ROUTING not in self.problems and bool(self.leader)
        problems = list(self.problems)
        if not self.nats_connected:
            problems.append(NATS_DOWN)
        return {
            "ok": database and self.nats_connected and leader,
            "role": "web",
            "process": self.process,
            "ari": False,  # no Asterisk here, by design
            "database": database,
            "nats": self.nats_connected,
            "leader": {"ok": leader, "name": self.leader or None, "epoch": self.epoch},
            "problems": problems,
        }
