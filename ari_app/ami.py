"""AMI through panoramisk, for what ARI lacks: boot state and agents' PJSIP contacts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from panoramisk import Manager  # type: ignore[import-untyped]  # ships no type hints

log = logging.getLogger(__name__)

#: PJSIP contact states in which an agent's phone can be offered a call.
REACHABLE = frozenset({"Reachable", "NonQualified", "Created", "Updated"})


class AmiMonitor:
    def __init__(self, host: str, port: int, user: str, secret: str) -> None:
        #: Told (endpoint, reachable) whenever an agent's phone comes or goes.
        self.listeners: list[Callable[[str, bool], None]] = []
        #: Told the reason each time the dialplan's overload door turns a caller away.
        self.door_refusals: list[Callable[[str], None]] = []
        self.booted = asyncio.Event()
        self.connected = False
        #: endpoint -> {contact URI -> status}
        self.contacts: dict[str, dict[str, str]] = {}
        self._loading: asyncio.Future[None] | None = None
        #: Endpoints whose contacts changed while the list of contacts was being read.
        self._changed: set[str] | None = None
        self._manager = Manager(
            host=host,
            port=port,
            username=user,
            secret=secret,
            reconnect_timeout=3,
            ping_delay=5,
            ping_interval=10,
            on_login=self._on_login,
            on_disconnect=self._on_disconnect,
            log=logging.getLogger("panoramisk.quiet"),
        )
        self._manager.register_event("FullyBooted", self._on_booted)
        self._manager.register_event("ContactStatus", self._on_contact_status)
        self._manager.register_event("Shutdown", self._on_shutdown)
        self._manager.register_event("UserEvent", self._on_user_event)

    def start(self) -> None:
        self._manager.connect()

    def close(self) -> None:
        self._manager.close()

    def reachable(self, endpoint: str) -> bool:
        """Is any registered (or fixed) contact of this endpoint usable?"""
        return any(status in REACHABLE for status in self.contacts.get(endpoint, {}).values())

    def _on_login(self, manager: Manager) -> None:
        self.connected = True
        log.info("AMI connected")
        self._loading = asyncio.ensure_future(self._load_contacts())

    def _on_disconnect(self, manager: Manager, exc: Exception | None) -> None:
        if self.connected:
            log.warning("AMI connection lost; reconnecting")
        self.connected = False
        self.booted.clear()

    def _on_booted(self, manager: Manager, event: Any) -> None:
        self.booted.set()

    def _on_shutdown(self, manager: Manager, event: Any) -> None:
        self.booted.clear()

    def _on_user_event(self, manager: Manager, event: Any) -> None:
        if event.get("UserEvent") == "HotlineRefused":  # dialplan/extensions.conf.j2
            for listener in self.door_refusals:
                listener(event.get("Reason") or "")

    def _on_contact_status(self, manager: Manager, event: Any) -> None:
        endpoint = event.get("EndpointName") or ""
        uri = event.get("URI") or ""
        status = event.get("ContactStatus") or ""
        before = self.reachable(endpoint)
        if self._changed is not None:
            self._changed.add(endpoint)
        contacts = self.contacts.setdefault(endpoint, {})
        if status == "Removed":
            contacts.pop(uri, None)
        else:
            contacts[uri] = status
        log.info("agent endpoint %s contact %s: %s", endpoint, uri, status)
        if self.reachable(endpoint) != before:
            self._tell(endpoint)

    async def _load_contacts(self) -> None:
        """Every contact there is now, fixed ones included (they send no ContactStatus).

        PJSIPShowAors, because PJSIPShowContacts' event list never completes through
        panoramisk here. Hotline names each agent's AOR after the endpoint. A phone that
        registers or goes while the list is on its way is newer than the list: what its
        ContactStatus said is kept."""
        self._changed = set()
        try:
            replies = await self._manager.send_action({"Action": "PJSIPShowAors"}, as_list=True)
        finally:
            changed, self._changed = self._changed, None
        contacts: dict[str, dict[str, str]] = {}
        for message in replies or []:
            if message.get("Event") != "AorList":
                continue
            known = self.contacts.get(message.get("ObjectName", ""), {})
            for entry in filter(None, (message.get("Contacts") or "").split(",")):
                uri = entry.split("/", 1)[-1]
                contacts.setdefault(message["ObjectName"], {})[uri] = known.get(uri, "Created")
        for endpoint in changed:
            contacts[endpoint] = self.contacts.get(endpoint, {})
        before = {e: self.reachable(e) for e in set(self.contacts) | set(contacts)}
        self.contacts = contacts
        for endpoint, was in before.items():
            if self.reachable(endpoint) != was:
                self._tell(endpoint)

    def _tell(self, endpoint: str) -> None:
        for listener in self.listeners:
            listener(endpoint, self.reachable(endpoint))
