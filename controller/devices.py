"""An agent's phones: their SIP phone's endpoint and their browser phone's
(`<endpoint>-web`), one agent whichever of them is registered.

Routing sees one agent: reachable for voice while either phone is registered. What
the routing engine offers (a queued call, a callback) rings every phone of theirs
registered at the offer, the first to answer taking it (`ringing`, for the ringer); what
rings one endpoint (a consultation) rings the browser phone when it is registered (the
agent is at the desk), else the SIP phone. Both are asked at each ring, so a phone
registered a moment ago counts at once. Browser and SIP phone are
separate PJSIP endpoints because their media differ (DTLS-SRTP with ICE against plain
RTP or SDES), and ARI rings one endpoint per leg.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence

from yarl import URL

from controller.secrets import Secrets
from hotline.config import AgentConfig, HotlineConfig
from hotline.web.auth import Auth
from hotline.web.phone_api import BrowserPhones, PhoneAccount


def web_endpoint(endpoint: str) -> str:
    """The PJSIP endpoint of an agent's browser phone (config/asterisk/pjsip.conf.j2)."""
    return f"{endpoint}-web"


class AgentPhones(Mapping[str, str]):
    """agent id -> the PJSIP endpoint to ring now, for the ringer and the dialers."""

    def __init__(
        self,
        agents: Sequence[AgentConfig],
        reachable: Callable[[str], bool],
        browser_phone: bool = True,
    ) -> None:
        self._phone = {a.id: a.endpoint for a in agents}
        self._browser = browser_phone
        self._reachable = reachable
        # Whose phone an endpoint is, looked up for every new call (ari_app/call_control.py).
        self._owner = {a.endpoint: a.id for a in agents}
        if browser_phone:
            self._owner.update({web_endpoint(a.endpoint): a.id for a in agents})

    def devices(self, agent: str) -> list[str]:
        """Every endpoint of the agent, browser phone first."""
        phone = self._phone[agent]
        return [web_endpoint(phone), phone] if self._browser else [phone]

    def agent_reachable(self, agent: str) -> bool:
        return any(self._reachable(e) for e in self.devices(agent))

    def agent_of(self, endpoint: str) -> str | None:
        """Whose phone (SIP or browser) `endpoint` is."""
        return self._owner.get(endpoint)

    def ringing(self, agent: str) -> list[str]:
        """Every phone of the agent registered now, browser first: the ringer rings them
        all for one offer (ari_app/ringer.py `Devices`); none registered, the SIP phone."""
        registered = [e for e in self.devices(agent) if self._reachable(e)]
        return registered or [self._phone[agent]]

    def __getitem__(self, agent: str) -> str:
        for endpoint in self.devices(agent):
            if self._reachable(endpoint):
                return endpoint
        return self._phone[agent]  # nothing registered: the ring fails as before

    def __iter__(self) -> Iterator[str]:
        return iter(self._phone)

    def __len__(self) -> int:
        return len(self._phone)


def phone_accounts(config: HotlineConfig, secrets: Secrets) -> dict[str, PhoneAccount]:
    """Each agent's browser-phone account (none when `asterisk.browser_phone` is off)."""
    if not config.asterisk.browser_phone:
        return {}
    return {
        a.id: PhoneAccount(
            endpoint=web_endpoint(a.endpoint),
            auth_user=a.endpoint,
            password=secrets.agent_passwords[a.endpoint],
            display_name=a.name,
        )
        for a in config.agents
        if a.endpoint in secrets.agent_passwords
    }


def browser_phones(
    config: HotlineConfig,
    secrets: Secrets,
    ari_url: str,
    auth: Auth,
    on_closed: Callable[[str], Awaitable[object]] | None = None,
) -> BrowserPhones:
    """The desk's browser phones: each agent's account, relayed to Asterisk's
    WebSocket transport on its HTTP server (ARI's, `ari_url`), or behind a SIP edge to
    the edge's WebSocket (the phone registers there: every node rings it);
    `on_closed(agent)` once an agent's relay has closed (controller/phone_calls.py)."""
    accounts = phone_accounts(config, secrets)
    url = URL(ari_url)
    socket = url.with_scheme("wss" if url.scheme == "https" else "ws").with_path("/ws")
    if config.edge is not None:
        socket = URL(config.edge.ws_url)

    async def alive(token: str) -> bool:
        return await auth.sessions.resolve(token) is not None

    return BrowserPhones(accounts, str(socket), alive, on_closed=on_closed)
