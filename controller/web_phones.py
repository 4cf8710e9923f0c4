"""The desk's browser phone on a web process (`hotline web`, no Asterisk here).

The phone's socket (`/desk/phone/ws`, hotline/web/phone_api.py) is relayed to a call
worker's own phone relay (`/desk/phone/ws` on the worker's web address, `routing.nodes`),
which relays it to its Asterisk's WebSocket transport: the agent's phone registers on
that worker's Asterisk. The login cookie goes along (sessions are in the shared
PostgreSQL, so the worker knows it), and the worker does what a box does for its own
desks: one phone per agent (a second is closed, code 4009), the phone closed when the
login session ends, and the calls a phone left ended when its socket closes.

Which worker: the first of `routing.nodes`, in the order listed, that takes the socket
(its web answering and upgrading it); a worker down is skipped, so the phone registers
on the next one. None taking it: the socket is closed 4503 ("telephony unavailable"),
as when a box's Asterisk is down.

Behind a SIP edge (`edge:` in hotline.yaml) the phone's socket goes to the edge's
WebSocket instead (`web_phones`): the phone registers at Kamailio, whose location every
node rings, and no call worker is in the way (a call worker's own desks relay there
too: controller/devices.py). The edge down: closed 4503 as above.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
from yarl import URL

from hotline.config import HotlineConfig
from hotline.errors import error_text
from hotline.web.auth import COOKIE
from hotline.web.phone_api import MAX_FRAME, BrowserPhones, PhoneAccount

log = logging.getLogger(__name__)


def phone_socket(node_url: str) -> URL:
    """A call worker's phone relay, from its web address (http -> ws, https -> wss)."""
    base = URL(node_url)
    return base.with_scheme("wss" if base.scheme == "https" else "ws").with_path("/desk/phone/ws")


class WorkerPhones(BrowserPhones):
    """Browser phones relayed to a call worker's relay (module docstring)."""

    def __init__(
        self,
        accounts: Mapping[str, PhoneAccount],
        nodes: Mapping[str, str],
        session_alive: Callable[[str], Awaitable[bool]],
    ) -> None:
        """`nodes`: the call workers' web addresses by name (`routing.nodes`), in the
        order tried."""
        super().__init__(accounts, "", session_alive)
        self.nodes = dict(nodes)

    async def connect_upstream(
        self, http: aiohttp.ClientSession, agent: str, token: str
    ) -> aiohttp.ClientWebSocketResponse[bool]:
        problems: list[str] = []
        for name, url in self.nodes.items():
            try:
                upstream = await http.ws_connect(
                    str(phone_socket(url)),
                    protocols=("sip",),
                    max_msg_size=MAX_FRAME,
                    headers={"Cookie": f"{COOKIE}={token}", "Origin": str(URL(url).origin())},
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10),
                )
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                problems.append(f"{name}: {error_text(error)}")
                continue
            log.info("browser phone of %s: relayed to call worker %s", agent, name)
            return upstream
        said = "; ".join(problems) or "no call worker in routing.nodes"
        raise aiohttp.ClientError(f"no call worker took the phone ({said})")


def web_phones(
    config: HotlineConfig,
    accounts: Mapping[str, PhoneAccount],
    session_alive: Callable[[str], Awaitable[bool]],
) -> BrowserPhones:
    """A web process's browser phones: relayed to the SIP edge's WebSocket when there is
    one (every node rings the phone there), else to a call worker's relay."""
    if config.edge is not None:
        return BrowserPhones(accounts, config.edge.ws_url, session_alive)
    return WorkerPhones(accounts, config.routing.nodes, session_alive)
