"""A team lead monitors a call with the desk's browser phone (issue 18), in a real
headless Chromium with fake media (its microphone a 440 Hz tone): tess (an agent with
role supervisor) has her desk open, its phone registered; a SIPp caller talks with
carol (SIPp, 1000 Hz); tess clicks Listen on her wallboard and the desk's phone rings
(not a SIP phone: she has none); she answers it in the desk. Listening she hears the
call (WebRTC stats in the page) and the caller does not hear her; barging, the caller
hears her tone; Stop hangs the desk's phone up and the call goes on; nothing is left
in Asterisk.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.browser import login
from tests.e2e.conftest import TEST_PASSWORD, RunningHotline
from tests.e2e.sipp import Gate, HangUp, SippCall
from tests.e2e.test_browser_phone import media_browser, tone  # noqa: F401 (fixtures)
from tests.e2e.test_ivr_call import contact_of, of_type
from tests.e2e.test_monitoring import phone_with_media
from tests.e2e.test_monitoring_wallboard import ROW, monitor_state, until
from tests.e2e.tones import TonePhone

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]

CALLER, AGENT, LEAD = 600, 1000, 440  # tess's microphone: the fake device's tone
NUMBER = "5551821"
HIGH, LOW = 0.6, 0.05


def test_a_team_lead_monitors_on_the_desks_browser_phone(
    media_browser: Any,  # noqa: F811
    hotline: RunningHotline,
) -> None:
    caller_media, carol_media = TonePhone(CALLER, (AGENT, LEAD)), TonePhone(AGENT, (LEAD,))
    context = media_browser.new_context()
    context.set_default_timeout(20_000)
    call = None
    marks: dict[str, tuple[float, float]] = {}
    try:
        desk = context.new_page()
        login(desk, hotline.web_url, "tess", TEST_PASSWORD)
        desk.goto(f"{hotline.web_url}/desk")
        desk.wait_for_selector("#phone-state[data-state=registered]")
        board = context.new_page()
        board.goto(f"{hotline.web_url}/wallboard")
        board.wait_for_selector('#connection[data-connected="true"]')

        # carol talks until the caller hangs up, once the windows below are measured (the
        # caller's Gate), not after a talk sized for them on the slowest machine.
        carol = phone_with_media(
            hotline, "carol", carol_media, "answer_until_hangup", ring=0.3, talk=60
        )
        call = SippCall(
            hotline.workdir / "sipp",
            hotline.sip_port,
            "304",
            NUMBER,
            [Gate(60), HangUp()],
            rtp_port=caller_media.port,
        ).start()
        row = f"{ROW}:has(td.who:text-is('{NUMBER}'))"
        board.wait_for_selector(row, timeout=20_000)
        contact = board.get_attribute(row, "data-contact-id")

        board.click(f"{row} button.listen")
        desk.wait_for_selector("#phone-incoming:not([hidden])")
        desk.click("#phone-incoming button.answer")
        desk.wait_for_selector("#phone-state[data-state=talking]")
        until(lambda: monitor_state(hotline, contact) == "connected")
        board.wait_for_selector("#monitor-status:text-is('Listening to " + NUMBER + "')")
        time.sleep(1.0)
        start = time.monotonic()
        before = desk.evaluate("window.hotlinePhone.stats")
        time.sleep(2.5)
        heard = desk.evaluate("window.hotlinePhone.stats")
        marks["listen"] = (start, time.monotonic())
        assert heard["packetsReceived"] - before["packetsReceived"] > 50, heard  # 125 sent
        assert heard["audioEnergy"] > before["audioEnergy"], (before, heard)

        board.click(f"{row} button.barge")
        board.wait_for_selector(f"{row} button.barge[data-active=true]")
        # Her browser's audio reaches the bridge late on a loaded box: the window starts
        # once both hear her (bounded), and she must then be heard through it.
        for media in (caller_media, carol_media):
            media.wait_hearing(LEAD, HIGH)
        start = time.monotonic()
        time.sleep(2.5)
        marks["barge"] = (start, time.monotonic())

        board.click(f"{row} button.stop")
        board.wait_for_selector("#monitor-status:text-is('Monitoring stopped')")
        desk.wait_for_selector("#phone-state[data-state=registered]")
        time.sleep(1.0)
        start = time.monotonic()
        time.sleep(2.0)
        marks["after"] = (start, time.monotonic())
        assert monitor_state(hotline, contact) is None
        call.open_gate()  # the caller hangs up
        result = call.wait(60)
        call = None
        assert result.ok, f"{result.output}\n{hotline.log_tail()}"
        assert carol.wait_done().ok
    finally:
        if call is not None and call.proc is not None and call.proc.poll() is None:
            call.proc.kill()
        context.close()
        caller_media.close()
        carol_media.close()

    def share(media: TonePhone, frequency: int, window: str) -> float:
        return round(media.share(frequency, *marks[window]), 2)

    report = {
        w: {"caller": share(caller_media, LEAD, w), "carol": share(carol_media, LEAD, w)}
        for w in marks
    }
    print(report)
    for window in marks:  # the call goes on throughout
        assert caller_media.share(AGENT, *marks[window]) >= HIGH, report
    assert max(report["listen"].values()) <= LOW, report  # nobody hears her listening
    assert report["barge"]["caller"] >= HIGH and report["barge"]["carol"] >= HIGH, report
    assert max(report["after"].values()) <= LOW, report

    # Playwright's sync API keeps an event loop running in this thread.
    with ThreadPoolExecutor(1) as pool:
        _, events = pool.submit(contact_of, hotline, NUMBER).result()
    (started,) = of_type(events, "monitor.started")
    assert started == {
        "supervisor": "tess",
        "agent": "carol",
        "mode": "listen",
        "phone": "2061-web",
    }
    (ended,) = of_type(events, "monitor.ended")
    assert ended["reason"] == "stopped" and set(ended["modes"]) == {"listen", "barge"}
