"""`routing:` in hotline.yaml: where this process's routing engine runs.

    routing:
      mode: remote                  # local (default): in this process, one box
      domain: sales                 # the routing domain its leader leads
      nats_url: nats://127.0.0.1:4222
      request_timeout: 10           # seconds a request waits for a leader (failover)
      node_lost_after: 15           # seconds a silent worker's node is declared lost after
      asterisk_lost_after: 30       # ... or a worker whose Asterisk (ARI) is down that long
      nodes:                        # each call worker's web address, as the other boxes
        host-a/default: http://10.0.0.2:8080   # reach it: its recordings are fetched
        host-b/default: http://10.0.0.3:8080   # from it (hotline/web/recording_source.py)

`local` is the single box (`hotline run`, SQLite or PostgreSQL, no NATS). `remote` makes
`hotline run` a call worker: Asterisk and the voice adapter here, routing decided by
the `hotline routing --domain <domain>` leader over NATS, the event log in the shared
PostgreSQL.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

NatsUrl = Annotated[
    str,
    Field(
        pattern=r"^(nats|tls)://[^\s/,]+(,(nats|tls)://[^\s/,]+)*$",
        description="nats://host:port (several separated by commas: a NATS cluster)",
    ),
]


class RoutingConfig(BaseModel):
    """See the module docstring."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["local", "remote"] = "local"
    domain: str = Field("default", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")
    nats_url: NatsUrl = "nats://127.0.0.1:4222"
    request_timeout: float = Field(10.0, ge=1, le=120)
    #: Seconds a call worker may be silent on the bus before the leader declares its
    #: Asterisk node lost (hotline/cluster/node_loss.py).
    node_lost_after: float = Field(15.0, ge=2, le=600)
    #: Seconds a worker may say its Asterisk is gone (ARI down) before the leader
    #: declares its node lost.
    asterisk_lost_after: float = Field(30.0, ge=5, le=600)
    #: Each call worker's web address (`host/asterisk-instance`, as contacts name their
    #: node -> http(s)://host:port): another node's recordings are fetched from it.
    nodes: dict[
        Annotated[str, Field(pattern=r"^[^\s/]+/[A-Za-z0-9_.-]+$")],
        Annotated[str, Field(pattern=r"^https?://[^\s/?#]+/?$")],
    ] = {}

    def problem(self, database_url: str | None) -> str | None:
        """Why this config cannot work with `database_url` (None: it can)."""
        if self.mode == "local":
            return None
        if not database_url or not database_url.startswith("postgresql"):
            return (
                "routing.mode remote needs database_url on PostgreSQL: the leader and its "
                "workers share one event log (SQLite is one process: use routing.mode local)"
            )
        return None

    @property
    def servers(self) -> list[str]:
        return self.nats_url.split(",")
