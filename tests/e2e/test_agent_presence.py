"""Agents log in, log out and pause from their softphone (feature codes) and through the
REST API; the routing engine's view of them follows, and every change is logged."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningHotline
from tests.e2e.test_softphone import Baresip

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]


def voice(hotline: RunningHotline, agent: str) -> dict:
    status, body = hotline.api("/api/agents", token=hotline.secrets["api_token"])
    assert status == 200
    (entry,) = [a for a in body if a["id"] == agent]
    return entry["channels"]["voice"]


def wait_state(hotline: RunningHotline, agent: str, state: str, reason: str | None = None) -> None:
    deadline = time.monotonic() + 15
    while True:
        now = voice(hotline, agent)
        if now["state"] == state and (reason is None or now["reason"] == reason):
            return
        assert time.monotonic() < deadline, f"{agent} is {now}, not {state} {reason or ''}"
        time.sleep(0.2)


def post(hotline: RunningHotline, path: str, body: bytes | None, token: str | None = None):  # type: ignore[no-untyped-def]
    request = urllib.request.Request(f"{hotline.web_url}{path}", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def alice_phone(hotline: RunningHotline, tmp_path: Path) -> Iterator[Baresip]:
    password = hotline.secrets["agent_passwords"]["1001"]
    token = hotline.secrets["api_token"]
    # Logged in whatever an earlier module of this session (worker) left her in.
    post(hotline, "/api/agents/alice/login", None, token)
    phone = Baresip(tmp_path / "alice", "1001", password, hotline.sip_port)
    try:
        yield phone
    finally:
        post(hotline, "/api/agents/alice/logout", None, token)  # leave the session as found
        phone.stop()


def test_feature_codes_from_the_softphone(hotline: RunningHotline, alice_phone: Baresip) -> None:
    # Registered: the engine stops holding alice back.
    wait_state(hotline, "alice", "available")
    for code, state, reason in (
        ("*22", "offline", None),
        ("*21", "available", None),
        ("*232", "paused", "lunch"),
        ("*24", "available", None),
        ("*239", "available", None),  # no reason 9: refused, nothing changes
    ):
        alice_phone.command("dial", code)
        time.sleep(1.5)  # the confirmation prompt plays, then Hotline hangs up
        wait_state(hotline, "alice", state, reason)
        alice_phone.command("hangup")


def test_presence_through_the_api(hotline: RunningHotline, alice_phone: Baresip) -> None:
    token = hotline.secrets["api_token"]
    post(hotline, "/api/agents/alice/logout", None, token)
    status, body = post(hotline, "/api/agents/alice/login", None, token)
    assert status == 200 and body["id"] == "alice" and body["name"] == "Alice Agent"
    wait_state(hotline, "alice", "available")  # once the phone is registered

    status, body = post(hotline, "/api/agents/alice/pause", b'{"reason": "training"}', token)
    assert status == 200
    assert body["channels"]["voice"]["state"] == "paused"
    assert body["channels"]["voice"]["reason"] == "training"
    status, body = post(hotline, "/api/agents/alice/unpause", None, token)
    assert status == 200 and body["channels"]["voice"]["state"] == "available"

    # Bad input: clear errors, nothing changed.
    assert post(hotline, "/api/agents/alice/pause", b"{}", None)[0] == 401
    status, body = post(hotline, "/api/agents/nobody/login", None, token)
    assert status == 404 and body["error"] == "no agent nobody"
    status, body = post(hotline, "/api/agents/alice/dance", None, token)
    assert status == 404 and "unknown action 'dance'" in body["error"]
    status, body = post(hotline, "/api/agents/alice/pause", b"not json", token)
    assert status == 400 and body["error"] == "the body must be JSON"
    status, body = post(hotline, "/api/agents/alice/pause", b'{"reason": 5}', token)
    assert status == 400 and body["error"] == "reason must be a string"
    status, body = post(hotline, "/api/agents/alice/login", b'{"channels": ["fax"]}', token)
    assert status == 400 and "channels must be a list of" in body["error"]
    status, body = post(hotline, "/api/agents/alice/pause", b'{"reason": "unreachable"}', token)
    assert status == 409 and "reserved for the system" in body["error"]
    assert voice(hotline, "alice")["state"] == "available"
