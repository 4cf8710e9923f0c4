"""`edge:` in hotline.yaml: the SIP edge (Kamailio) in front of several Asterisk nodes.

    edge:
      listen: 10.0.0.4              # the address phones, trunks and nodes reach it at
      port: 5060
      nodes: [10.0.0.2:5060, 10.0.0.3:5060]   # each node's Asterisk (asterisk.sip_bind)
      database_url: postgresql://kamailio@10.0.0.9:5432/kamailio   # agents' locations
      probe_interval: 5             # seconds between SIP OPTIONS to each node
      failover_after: 2             # seconds a node may leave an INVITE unanswered
      agent_qualify: 10             # seconds between a node's OPTIONS for each agent
      ws_port: 5066                 # SIP over WebSocket (TCP) for the desks' browser phones

`hotline edge run` renders a Kamailio config from it (controller/edge.py) and runs
Kamailio: its dispatcher spreads new calls over the nodes, probing them, and sends a
call a node does not answer (or answers 5xx) to the next; its registrar keeps the
agents' phones' locations in PostgreSQL (written through, so a restart keeps them).
A node with an `edge:` section gives each agent without a fixed contact the contact
`sip:<endpoint>@<listen>:<port>` and asks the edge every `agent_qualify` seconds
whether the phone is registered: Asterisk's contact status (presence) and its
`PJSIP/<endpoint>` dialing work as on one box.

The desks' browser phones (`asterisk.browser_phone`) register at the edge too, as
`<endpoint>-web`, over SIP over WebSocket on `ws_port` (plain ws: the web processes and
call workers relay each desk's socket there after checking its login session, so only
they need to reach it; a browser never does). A node rings `<endpoint>-web` at the edge
with the WebRTC media settings (DTLS-SRTP, ICE, rtcp-mux) of its `<endpoint>-web`
endpoint; the edge relays the signalling only, so media goes between the browser and
the node that has the call.
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Port = Annotated[int, Field(ge=1, le=65535)]


def _address(value: str, what: str) -> str:
    try:
        address = ip_address(value)
    except ValueError:
        raise ValueError(f"{what} must be an IP address, not {value!r}") from None
    if address.is_unspecified:
        raise ValueError(
            f"{what} must be the address the others reach it at, not {value} (any address)"
        )
    return str(address)


class EdgeNode(BaseModel):
    """One Asterisk node's SIP address, written `address:port`."""

    model_config = ConfigDict(frozen=True)

    address: str
    port: Port = 5060

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


def endpoints(value: object, what: str, label: str, example: str) -> object:
    """A list of "address:port" strings as `EdgeNode` fields (anything else left to
    pydantic); `what` and `example` say how one is written, `label` names it in errors."""
    if not isinstance(value, list):
        return value
    parsed: list[object] = []
    for item in value:
        if not isinstance(item, str):
            parsed.append(item)
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"{what} is written address:port ({example}), not {item!r}")
        parsed.append({"address": _address(host, f"{label} {item!r}"), "port": int(port)})
    return parsed


class EdgeConfig(BaseModel):
    """See the module docstring."""

    model_config = ConfigDict(extra="forbid")

    listen: str
    port: Port = 5060
    nodes: list[EdgeNode] = Field(min_length=1, max_length=64)
    database_url: str
    probe_interval: int = Field(5, ge=1, le=300)
    failover_after: float = Field(2.0, ge=0.5, le=30)
    agent_qualify: int = Field(10, ge=1, le=300)
    ws_port: Port = 5066

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _address(value, "edge.listen")

    @field_validator("nodes", mode="before")
    @classmethod
    def _nodes(cls, value: object) -> object:
        return endpoints(value, "a node", "node", "10.0.0.2:5060")

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
            raise ValueError(
                "edge.database_url must be a PostgreSQL URL (postgresql://user@host:port/db): "
                "Kamailio keeps the agents' locations there"
            )
        if not parts.hostname or not parts.path.strip("/"):
            raise ValueError("edge.database_url needs a host and a database name")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> EdgeConfig:
        seen = [str(n) for n in self.nodes]
        twice = sorted({n for n in seen if seen.count(n) > 1})
        if twice:
            raise ValueError(f"edge.nodes: {', '.join(twice)} given more than once")
        if f"{self.listen}:{self.port}" in seen:
            raise ValueError(f"edge.nodes: {self.listen}:{self.port} is the edge itself")
        if f"{self.listen}:{self.ws_port}" in seen:
            raise ValueError(f"edge.ws_port: {self.listen}:{self.ws_port} is a node's SIP address")
        return self

    @property
    def kamailio_db_url(self) -> str:
        """The database URL as Kamailio's db_postgres writes it (postgres://…)."""
        parts = urlsplit(self.database_url)
        netloc = parts.netloc
        return f"postgres://{netloc}{parts.path}"

    @property
    def ws_url(self) -> str:
        """The edge's SIP-over-WebSocket listener the browser phones' relays open."""
        return f"ws://{self.listen}:{self.ws_port}/"

    def agent_contact(self, endpoint: str) -> str:
        """The contact a node gives an agent's phone: the agent at the edge."""
        return f"sip:{endpoint}@{self.listen}:{self.port}"
