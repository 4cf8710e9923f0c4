"""Recording by queue policy (queue e2e_rec, number 308, agent hank): the caller hears a
notice, the conversation is recorded from the agent's answer, paused and resumed
through the API, stored with the contact, and downloadable by an authenticated user."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from tests.e2e.conftest import RunningHotline
from tests.e2e.sipp import ExpectHangup
from tests.e2e.test_agent_presence import post
from tests.e2e.test_ivr_call import contact_of, of_type, prompts
from tests.e2e.test_queue import caller, phone

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]


def download(hotline: RunningHotline, name: str, token: str | None) -> tuple[int, bytes]:
    request = urllib.request.Request(f"{hotline.web_url}/api/recordings/{name}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def live_contact_id(hotline: RunningHotline, number: str) -> str:
    """The contact of a call in progress, once it is connected to the agent."""
    token = hotline.secrets["api_token"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        _, contacts = hotline.api("/api/contacts?limit=50", token=token)
        for contact in contacts:
            if contact["source"] == number:
                _, events = hotline.api(f"/api/contacts/{contact['id']}/events", token=token)
                if any(e["type"] == "recording.started" for e in events):
                    return contact["id"]
        time.sleep(0.2)
    raise AssertionError(f"no recorded conversation for {number}:\n{hotline.log_tail()}")


def test_conversation_is_recorded_paused_resumed_and_downloadable(
    hotline: RunningHotline,
) -> None:
    token = hotline.secrets["api_token"]
    hank = phone(hotline, "hank", "answer", ring=0.5, talk=4.0)
    call = caller(hotline, "5553201", "308", [ExpectHangup(40)])

    contact_id = live_contact_id(hotline, "5553201")
    status, body = post(hotline, f"/api/contacts/{contact_id}/recording/pause", None, token)
    assert status == 200 and body["recording"] == "paused"
    time.sleep(1.0)
    status, body = post(hotline, f"/api/contacts/{contact_id}/recording/resume", None, token)
    assert status == 200 and body["recording"] == "on"

    result = call.wait(60)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert hank.wait_done().ok

    contact, events = contact_of(hotline, "5553201")
    played = [key for key, _ in prompts(events)]
    assert played[0] == "recording_notice"  # before the caller was queued
    (saved,) = of_type(events, "recording.saved")
    assert saved["kind"] == "conversation" and saved["agent"] == "hank"
    assert saved["queue"] == "e2e_rec" and saved["outcome"] == "recorded"
    # Four seconds of talk, one of them paused: about three are on the file.
    assert 1.5 <= saved["duration"] <= 4.5

    status, listed = hotline.api("/api/recordings", token=token)
    assert status == 200
    (entry,) = [r for r in listed if r["name"] == saved["name"]]
    assert entry["contact_id"] == contact.id and "file" not in entry

    status, audio = download(hotline, saved["name"], token)
    assert status == 200 and audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"
    assert download(hotline, saved["name"], None)[0] == 401
    status, body = download(hotline, "../../etc/passwd", token)
    assert status == 404
    status, body = download(hotline, "no-such-recording", token)
    assert status == 404 and json.loads(body)["error"] == "no recording no-such-recording"
    # The call is over: nothing left to pause.
    status, body = post(hotline, f"/api/contacts/{contact.id}/recording/pause", None, token)
    assert status == 409 and "no recording in progress" in body["error"]
