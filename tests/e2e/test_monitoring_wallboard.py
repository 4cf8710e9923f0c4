"""The wallboard's live contacts in a real headless Chromium (issue 18): a SIPp caller
talking with carol shows as their number, queue, agent, wait and duration, with a link
to its contact page; sue clicks Listen (her own SIPp phone rings; the page says when it
is connected, and the row that sue listens), reloads the page (her monitoring is still
offered: Stop, the mode she is in), then clicks Whisper, then Stop; the log has each
step."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.browser import login
from tests.e2e.conftest import TEST_PASSWORD, RunningHotline
from tests.e2e.sipp import Gate, HangUp, SippCall
from tests.e2e.test_queue import phone
from tests.e2e.test_wallboard import ended_contact

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]

ROW = "#contacts tr[data-channel=voice][data-state=talking]"


def monitor_state(hotline: RunningHotline, contact: str) -> str | None:
    status, answer = hotline.api(f"/api/calls/{contact}/monitor", hotline.secrets["api_token"])
    return answer["monitor"]["state"] if status == 200 else None


def until(check: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_supervise_a_call_from_the_wallboard(hotline: RunningHotline, page: Any) -> None:
    login(page, hotline.web_url, "sue", TEST_PASSWORD)
    page.goto(f"{hotline.web_url}/wallboard")
    page.wait_for_selector('#connection[data-connected="true"]')
    # carol talks until the caller hangs up: once the steps below are done (the caller's
    # Gate), not after a talk sized for them on the slowest machine.
    carol = phone(hotline, "carol", "answer_until_hangup", ring=0.3, talk=60)
    sue = phone(hotline, "sue", "answer_until_hangup", ring=0.3, talk=40)
    call = SippCall(
        hotline.workdir / "sipp", hotline.sip_port, "304", "5551803", [Gate(60), HangUp()]
    ).start()
    try:
        row = f"{ROW}:has(td.who:text-is('5551803'))"
        page.wait_for_selector(row, timeout=20_000)
        contact = page.get_attribute(row, "data-contact-id")
        assert page.text_content(f"{row} td.queue") == "e2e_fifo"
        assert page.text_content(f"{row} td.agent") == "Carol"
        assert page.text_content(f"{row} td.wait").count(":") == 1

        assert page.get_attribute(f"{row} a.review", "href") == f"/contacts?id={contact}"
        assert page.locator(f"{row} button.stop").count() == 0

        page.click(f"{row} button.listen")
        page.wait_for_selector("#monitor-status:has-text('Your phone rings')")
        page.wait_for_selector("#monitor-status:text-is('Listening to 5551803')")
        assert monitor_state(hotline, contact) == "connected"
        page.wait_for_selector(f"{row} .monitored:text-is('sue: listen')")
        # A reloaded page still has sue's monitoring: the mode she is in, and Stop.
        page.reload()
        page.wait_for_selector(f"{row} button.listen[data-active=true]")
        page.wait_for_selector(f"{row} button.stop")
        page.click(f"{row} button.whisper")
        page.wait_for_selector(f"{row} button.whisper[data-active=true]")
        page.wait_for_selector("#monitor-status:text-is('Whispering to the agent of 5551803')")
        page.wait_for_selector(f"{row} .monitored:text-is('sue: whisper')")
        page.click(f"{row} button.stop")
        page.wait_for_selector("#monitor-status:text-is('Monitoring stopped')")
        assert monitor_state(hotline, contact) is None
        page.wait_for_selector(f"{row} .monitored", state="detached")
        time.sleep(1.5)  # views made before the stop, redrawn each second, bring nothing back
        assert page.locator(f"{row} button.stop").count() == 0
        assert page.text_content("#monitor-status") == "Monitoring stopped"
        # Review: the live contact's page, its monitoring in the timeline already.
        review = page.context.new_page()
        review.goto(f"{hotline.web_url}/contacts?id={contact}")
        review.wait_for_selector("#contact:not([hidden])")
        timeline = review.text_content("#timeline")
        assert "monitor.started" in timeline and "monitor.ended" in timeline, timeline
        review.close()
    finally:
        call.open_gate()  # the caller hangs up
        result = call.wait(60)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert carol.wait_done().ok
    assert sue.wait_done(30).ok
    _, events = ended_contact(hotline, "5551803")
    kinds = [e.type for e in events]
    assert kinds.count("monitor.started") == 1 and kinds.count("monitor.changed") == 1
    (ended,) = [e.data for e in events if e.type == "monitor.ended"]
    assert ended["reason"] == "stopped" and set(ended["modes"]) == {"listen", "whisper"}
