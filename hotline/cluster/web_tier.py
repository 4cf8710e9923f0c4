"""`web_tier:` in hotline.yaml: several web processes (`hotline web`) behind one address.

    web_tier:
      listen: 10.0.0.8              # the one address browsers and messengers reach
      port: 80
      processes: [10.0.0.5:8080, 10.0.0.6:8080]   # each `hotline web --bind --port`
      check_interval: 2             # seconds between health checks of each process
      fall: 2                       # failed checks before a process is marked down
      rise: 2                       # good checks before it is up again

`hotline haproxy run` renders a haproxy config from it (controller/haproxy.py,
config/haproxy/haproxy.cfg.j2) and runs haproxy: new connections (HTTP requests and
WebSocket upgrades alike) go round robin to the processes its health checks
(`GET /api/health`) find up. Sticky sessions are not needed: web logins are in
PostgreSQL, and a chat or desk socket may land on any process (chat_bridge/cluster.py).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hotline.cluster.edge import EdgeNode, _address, endpoints

Port = Annotated[int, Field(ge=1, le=65535)]


class WebTierConfig(BaseModel):
    """See the module docstring."""

    model_config = ConfigDict(extra="forbid")

    listen: str
    port: Port = 80
    processes: list[EdgeNode] = Field(min_length=1)
    check_interval: float = Field(2.0, ge=0.1, le=60)
    fall: int = Field(2, ge=1, le=10)
    rise: int = Field(2, ge=1, le=10)
    #: Connections at once (each open desk, widget and wallboard holds one); haproxy
    #: needs twice as many file descriptors (ulimit -n).
    max_connections: int = Field(4000, ge=100, le=1_000_000)
    #: Seconds an idle connection (a quiet chat socket) is kept; the widget and the
    #: desk ping well within it.
    idle_timeout: float = Field(3600.0, ge=30, le=86400)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _address(value, "web_tier.listen")

    @field_validator("processes", mode="before")
    @classmethod
    def _processes(cls, value: object) -> object:
        return endpoints(value, "a web process", "process", "10.0.0.5:8080")

    @model_validator(mode="after")
    def _distinct(self) -> WebTierConfig:
        seen = [str(p) for p in self.processes]
        twice = sorted({p for p in seen if seen.count(p) > 1})
        if twice:
            raise ValueError(f"web_tier.processes: {', '.join(twice)} given more than once")
        if f"{self.listen}:{self.port}" in seen:
            raise ValueError(
                f"web_tier.listen {self.listen}:{self.port} is also a web process's address"
            )
        return self
