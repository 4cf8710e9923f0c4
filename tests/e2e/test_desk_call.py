"""The agent's live call in the desk, in a real headless Chromium: a SIPp caller reaches
judy's SIPp phone (number 331, queue e2e_chat; tests/e2e/conftest.py) and judy's desk
shows the call ringing, then in conversation with the customer card, the queue, the
caller's wait and a running duration, also after the desk is reloaded mid-call; after
hold and resume from its buttons (the call control's REST API); after the call the
panel takes its wrap-up code and a note, shown in the customer's history
on their next call.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import RunningHotline
from tests.e2e.sipp import ExpectHangup, Gate, HangUp, SippCall
from tests.e2e.sipp_uas import TransferTarget
from tests.e2e.test_chat_desk import (
    chat_available,
    chat_offline,
    close_chats,
    events_of,
    open_desk,
    open_widget,
    wait_events,
)

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def agent_page(browser: Any, hotline: RunningHotline) -> Iterator[Any]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    yield context
    context.close()


NOTE = 'Wants <b>the red one</b><img src=x onerror="window.pwned=1">'


def post(hotline: RunningHotline, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """A POST to the REST API with the API token."""
    request = urllib.request.Request(
        f"{hotline.web_url}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {hotline.secrets['api_token']}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def seconds_shown(desk: Any) -> int:
    text = desk.locator("#call .duration").inner_text()
    match = re.fullmatch(r"(\d+):(\d\d)", text.strip())
    assert match, f"duration shown as {text!r}"
    return int(match[1]) * 60 + int(match[2])


def test_desk_shows_the_live_call_and_finds_it_again_after_a_reload(
    browser: Any, hotline: RunningHotline, agent_page: Any, no_leaks: None
) -> None:
    desk = open_desk(agent_page, hotline, "judy")
    assert desk.locator("#call").is_hidden()
    # The customer's first call, short: afterwards it is in their history.
    phone = TransferTarget(
        hotline.workdir / "phones", "answer", hotline.targets["judy"], ring=0.3, talk=1
    ).start()
    first = SippCall(
        hotline.workdir / "sipp", hotline.sip_port, "331", "5556332", [ExpectHangup(40)]
    ).start()
    try:
        # A one-second call: the panel may already be in wrap-up when looked at.
        desk.wait_for_selector(
            "#call[data-phase=talking], #call[data-phase=wrap_up]", timeout=20_000
        )
        first_id = desk.locator("#call").get_attribute("data-contact-id") or ""
        assert first.wait(60).ok and phone.wait_done().ok
    finally:
        phone.stop()
    # The call is over: the panel stays for its wrap-up code and a note.
    desk.wait_for_selector("#call[data-phase=wrap_up]")
    # A code the queue does not have is refused through the API, nothing stored.
    status, body = post(hotline, f"/api/contacts/{first_id}/wrapup", {"code": "sale"})
    assert status == 400
    assert body["error"] == (
        "unknown wrap-up code 'sale' for queue e2e_chat; one of: resolved, follow_up, not_resolved"
    )
    desk.locator("#call select.wrap-up-code").select_option("follow_up")
    desk.locator("#call textarea.note").fill(NOTE)
    desk.locator("#call button.save-wrap-up").click()
    desk.wait_for_selector("#call", state="hidden")
    events = wait_events(hotline, first_id, "contact.wrapup")
    assert [e.data["code"] for e in events if e.type == "contact.wrapup"] == ["follow_up"]
    assert [e.data["text"] for e in events if e.type == "contact.note"] == [NOTE]

    # judy talks until the caller hangs up: once the desk has shown all it must (the
    # caller's Gate), not after a talk sized for it on the slowest machine.
    phone = TransferTarget(
        hotline.workdir / "phones",
        "answer_until_hangup",
        hotline.targets["judy"],
        ring=2.5,
        talk=60,
    ).start()
    call = SippCall(
        hotline.workdir / "sipp", hotline.sip_port, "331", "5556332", [Gate(60), HangUp()]
    ).start()
    try:
        panel = desk.locator("#call")
        desk.wait_for_selector("#call[data-phase=ringing]", timeout=20_000)
        contact_id = panel.get_attribute("data-contact-id")
        assert "Ringing" in panel.inner_text() and "5556332" in panel.inner_text()
        desk.wait_for_selector("#call[data-phase=talking]", timeout=20_000)
        assert panel.get_attribute("data-contact-id") == contact_id
        shown = panel.inner_text()
        assert "On a call" in shown and "e2e_chat" in shown and "Waited" in shown
        card = desk.locator("#card-body").inner_text()
        assert "5556332" in card
        # The first call is in the customer's history (with its code and note), not this one.
        assert desk.locator("#card-body .history li").count() == 1
        earlier = desk.locator("#card-body .history li")
        assert "voice" in earlier.inner_text() and "follow_up" in earlier.inner_text()
        assert earlier.locator(".note").inner_text() == f"{NOTE} — judy"
        assert earlier.locator("b, script, img").count() == 0
        assert desk.evaluate("window.pwned") is None
        desk.wait_for_function(
            "() => /^0:0[2-9]$/.test(document.querySelector('#call .duration').textContent)"
        )
        before = seconds_shown(desk)
        # Hold and resume from the desk's buttons act on the call in Asterisk.
        panel.locator("button.hold").click()
        desk.wait_for_selector("#call[data-held=true] button.resume")
        assert "On hold" in panel.inner_text()
        wait_events(hotline, contact_id or "", "call.held")
        panel.locator("button.resume").click()
        desk.wait_for_selector("#call[data-held=false] button.hold")
        wait_events(hotline, contact_id or "", "call.resumed")

        desk.reload()
        desk.wait_for_selector("#connection[data-connected=true]")
        desk.wait_for_selector("#call[data-phase=talking]")
        assert desk.locator("#call").get_attribute("data-contact-id") == contact_id
        assert seconds_shown(desk) >= before  # counted from the answer, not the reload
        assert "e2e_chat" in desk.locator("#call").inner_text()
        assert "5556332" in desk.locator("#card-body").inner_text()

        call.open_gate()  # the caller hangs up
        assert call.wait(60).ok and phone.wait_done().ok
        desk.wait_for_selector("#call[data-phase=wrap_up]")
        desk.locator("#call button.dismiss").click()
        desk.wait_for_selector("#call", state="hidden")
    finally:
        phone.stop()
    events = wait_events(hotline, contact_id or "", "call.ended")
    (connected,) = [e for e in events if e.type == "queue.connected"]
    assert connected.data["agent"] == "judy"
    deadline = time.monotonic() + 10
    while desk.locator(".channel[data-channel=voice][data-state=busy]").count():
        assert time.monotonic() < deadline, "judy's voice stayed busy"
        time.sleep(0.2)


def test_a_note_on_a_chat_from_the_desk(
    browser: Any, hotline: RunningHotline, agent_page: Any
) -> None:
    """Notes are for any contact: judy writes one on a chat from its pane; it is stored
    with the chat, and an empty one is refused in the desk with nothing stored."""
    desk = open_desk(agent_page, hotline, "judy")
    chat_available(desk)
    customer = browser.new_context()
    customer.set_default_timeout(15_000)
    try:
        open_widget(customer, hotline, "/chat/demo/e2e")
        offer = desk.locator(".offer[data-channel=chat]").first
        offer.wait_for()
        contact_id = offer.get_attribute("data-contact-id") or ""
        offer.locator("button.accept").click()
        pane = desk.locator(f".pane[data-contact-id='{contact_id}']")
        pane.wait_for()
        pane.locator("button.add-note").click()
        assert desk.locator("#toast").inner_text() == "Write the note first"
        pane.locator("input.note-input").fill(NOTE)
        pane.locator("button.add-note").click()
        pane.locator(".saved-notes li").wait_for()
        assert pane.locator(".saved-notes li").inner_text() == f"{NOTE} — judy"
        assert desk.evaluate("window.pwned") is None
        events = wait_events(hotline, contact_id, "contact.note")
        assert [e.data for e in events if e.type == "contact.note"] == [
            {"text": NOTE, "by": "judy"}
        ]
    finally:
        customer.close()
        close_chats(desk)
        chat_offline(desk)


def test_blind_transfer_to_a_number_from_the_desk(
    browser: Any, hotline: RunningHotline, agent_page: Any, no_leaks: None
) -> None:
    """judy transfers her caller from the desk: a number the dial rules refuse is shown
    as the server's error and the call goes on; then a number (the callbacks' dial
    template: the "customer" phone) with a note takes the caller, judy's phone is hung
    up and her panel turns to wrap-up."""
    desk = open_desk(agent_page, hotline, "judy")
    phone = TransferTarget(
        hotline.workdir / "phones",
        "answer_until_hangup",
        hotline.targets["judy"],
        ring=0.3,
        talk=40,
    ).start()
    customer = TransferTarget(
        hotline.workdir / "phones", "answer", hotline.targets["customer"], ring=0.5, talk=3
    ).start()
    call = SippCall(
        hotline.workdir / "sipp", hotline.sip_port, "331", "5556333", [ExpectHangup(60)]
    ).start()
    try:
        desk.wait_for_selector("#call[data-phase=talking]", timeout=20_000)
        contact_id = desk.locator("#call").get_attribute("data-contact-id") or ""
        panel = desk.locator("#call")
        panel.locator("input.transfer-number").fill("12")
        panel.locator("button.transfer").click()
        toast = desk.locator("#toast")
        toast.filter(has_text="cannot dial number:12").wait_for()
        assert "'12' has 2 digits" in toast.inner_text()
        time.sleep(1)
        assert panel.get_attribute("data-phase") == "talking"  # untouched
        assert [e for e in events_of(hotline, contact_id) if e.type == "call.transferred"] == []
        panel.locator("input.transfer-number").fill("5557711")
        panel.locator("input.transfer-note").fill("wants the billing team")
        panel.locator("button.transfer").click()
        desk.wait_for_selector("#call[data-phase=wrap_up]", timeout=20_000)
        assert call.wait(60).ok
        assert phone.wait_done().ok and customer.wait_done(30).ok
        assert "INVITE sip:5557711@" in customer.messages()
    finally:
        phone.stop()
        customer.stop()
    events = wait_events(hotline, contact_id, "transfer.ended")
    (moved,) = [e.data for e in events if e.type == "call.transferred"]
    assert moved["to"] == "number:5557711" and moved["by"] == "judy"
    assert moved["note"] == "wants the billing team"
    desk.locator("#call button.dismiss").click()
    desk.wait_for_selector("#call", state="hidden")
