"""The agent's live call in the desk, in a real headless Chromium: a SIPp caller reaches
judy's SIPp phone (number 331, queue e2e_chat; tests/e2e/conftest.py) and judy's desk
shows the call ringing, then in conversation with the customer card, the queue, the
caller's wait and a running duration, also after the desk is reloaded mid-call; the
panel goes when the call ends.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import RunningHotline
from tests.e2e.sipp import ExpectHangup, SippCall
from tests.e2e.sipp_uas import TransferTarget
from tests.e2e.test_chat_desk import open_desk, wait_events

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def agent_page(browser: Any, hotline: RunningHotline) -> Iterator[Any]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    yield context
    context.close()


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
        assert first.wait(60).ok and phone.wait_done().ok
    finally:
        phone.stop()
    desk.wait_for_selector("#call", state="hidden")

    phone = TransferTarget(
        hotline.workdir / "phones", "answer", hotline.targets["judy"], ring=2.5, talk=14
    ).start()
    call = SippCall(
        hotline.workdir / "sipp", hotline.sip_port, "331", "5556332", [ExpectHangup(60)]
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
        # The first call is in the customer's history, not this one.
        assert desk.locator("#card-body .history li").count() == 1
        assert "voice" in desk.locator("#card-body .history li").inner_text()
        desk.wait_for_function(
            "() => /^0:0[2-9]$/.test(document.querySelector('#call .duration').textContent)"
        )
        before = seconds_shown(desk)

        desk.reload()
        desk.wait_for_selector("#connection[data-connected=true]")
        desk.wait_for_selector("#call[data-phase=talking]")
        assert desk.locator("#call").get_attribute("data-contact-id") == contact_id
        assert seconds_shown(desk) >= before  # counted from the answer, not the reload
        assert "e2e_chat" in desk.locator("#call").inner_text()
        assert "5556332" in desk.locator("#card-body").inner_text()

        assert call.wait(60).ok and phone.wait_done().ok
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
