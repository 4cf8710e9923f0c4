"""AmiMonitor's view of agents' phones: ContactStatus events and the list read at login."""

from __future__ import annotations

import asyncio
from typing import Any

from ari_app.ami import AmiMonitor


def monitor() -> tuple[AmiMonitor, list[tuple[str, bool]]]:
    ami = AmiMonitor("127.0.0.1", 1, "user", "secret")  # never connected
    told: list[tuple[str, bool]] = []
    ami.listeners.append(lambda endpoint, yes: told.append((endpoint, yes)))
    return ami, told


def status(ami: AmiMonitor, endpoint: str, uri: str, state: str) -> None:
    event = {"EndpointName": endpoint, "URI": uri, "ContactStatus": state}
    ami._on_contact_status(ami._manager, event)


def aor(endpoint: str, *uris: str) -> dict[str, Any]:
    return {"Event": "AorList", "ObjectName": endpoint, "Contacts": ",".join(uris)}


async def test_a_phone_that_registers_while_the_list_is_read_stays_reachable() -> None:
    ami, told = monitor()
    reply: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()

    async def send_action(action: dict[str, str], as_list: bool) -> list[dict[str, Any]]:
        return await reply

    ami._manager.send_action = send_action
    loading = asyncio.create_task(ami._load_contacts())
    await asyncio.sleep(0)
    status(ami, "1001", "sip:1001@127.0.0.1:5070", "Created")  # newer than the list
    reply.set_result([aor("1002", "1002/sip:1002@127.0.0.1:5080")])  # read before it
    await loading
    assert ami.reachable("1001") and ami.reachable("1002")
    assert sorted(told) == [("1001", True), ("1002", True)]


async def test_the_list_read_at_login_replaces_what_was_known() -> None:
    ami, told = monitor()
    status(ami, "1001", "sip:1001@127.0.0.1:5070", "Reachable")

    async def send_action(action: dict[str, str], as_list: bool) -> list[dict[str, Any]]:
        return [aor("1002", "1002/sip:1002@127.0.0.1:5080")]  # 1001 went meanwhile

    ami._manager.send_action = send_action
    await ami._load_contacts()
    assert not ami.reachable("1001") and ami.reachable("1002")
    assert told[0] == ("1001", True)
    assert sorted(told[1:]) == [("1001", False), ("1002", True)]


def test_an_unqualified_phone_is_not_offered_calls() -> None:
    ami, told = monitor()
    status(ami, "1001", "sip:1001@127.0.0.1:5070", "Created")
    status(ami, "1001", "sip:1001@127.0.0.1:5070", "Unreachable")
    assert not ami.reachable("1001")
    status(ami, "1001", "sip:1001@127.0.0.1:5070", "Removed")
    assert ami.contacts["1001"] == {}
    assert told == [("1001", True), ("1001", False)]
