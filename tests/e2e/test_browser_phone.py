"""The desk's browser phone in a real headless Chromium (Debian's, fake media devices,
a 440 Hz tone as the microphone): gina signs in to the desk, the phone registers
through Hotline's relay (she becomes reachable for voice), a SIPp caller walks into
her queue (number 307, e2e_soft), the phone rings with the customer, is answered from
the desk, and the tone reaches the SIPp caller as RTP (DTLS-SRTP between Chromium and
Asterisk; WebRTC stats read in the page); keys from the phone's keypad reach Hotline
as RFC 4733 (*1 puts the caller on hold); the tab closes and gina is unreachable.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.browser import CHROMIUM, FLAGS, login
from tests.e2e.conftest import TEST_PASSWORD, RunningHotline
from tests.e2e.rtp import RtpSink
from tests.e2e.sipp import ExpectHangup, Gate, SippCall, Speak
from tests.e2e.test_ivr_call import contact_of, of_type

pytestmark = [pytest.mark.e2e]

AGENT, ENDPOINT, NUMBER = "gina", "2005", "307"
SPEECH = "Hello, I am calling about my order, it has not arrived yet, thank you."


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake microphone: a steady 440 Hz tone (Chromium loops the file)."""
    path = tmp_path_factory.mktemp("tone") / "tone.wav"
    subprocess.run(
        ["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(path),
         "synth", "30", "sine", "440", "vol", "0.5"],
        check=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def media_browser(tone: Path) -> Iterator[Any]:
    """Chromium with fake media devices: the microphone is granted without asking and
    is the tone; loopback host candidates allowed (Asterisk is on 127.0.0.1) and not
    hidden behind mDNS names (Asterisk cannot resolve them); audio plays unprompted."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail("Debian's chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    flags = [
        *FLAGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={tone}",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        try:
            yield chromium
        finally:
            chromium.close()


def agent_state(hotline: RunningHotline, agent: str) -> str:
    status, body = hotline.api("/api/status", token=hotline.secrets["api_token"])
    assert status == 200
    return body["agents"][agent]


def wait_for(what: str, check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.2)


def open_phone(context: Any, hotline: RunningHotline, console: list[str]) -> Any:
    page = context.new_page()
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    login(page, hotline.web_url, AGENT, TEST_PASSWORD)
    assert page.url.endswith("/desk")
    return page


def test_browser_phone_registers_answers_and_sends_audio(
    media_browser: Any, hotline: RunningHotline, no_leaks: None
) -> None:
    assert agent_state(hotline, AGENT) == "unreachable"
    console: list[str] = []
    context = media_browser.new_context()
    context.set_default_timeout(20_000)
    sink = RtpSink()
    call = None
    try:
        desk = open_phone(context, hotline, console)
        try:
            desk.wait_for_selector("#phone-state[data-state=registered]")
        except Exception:
            pytest.fail(f"phone: {desk.inner_text('#phone')}\n" + "\n".join(console[-30:]))
        wait_for("gina reachable", lambda: agent_state(hotline, AGENT) == "reachable")

        call = SippCall(
            hotline.workdir / "sipp",
            hotline.sip_port,
            NUMBER,
            "5551707",
            # Once the agent talks, the caller speaks (espeak-ng, PCMU) for the way back.
            [Gate(60), Speak(SPEECH), ExpectHangup(60)],
            rtp_port=sink.port,
        ).start()
        desk.wait_for_selector("#phone-incoming:not([hidden])")
        # The desk shows the call ringing with the customer card, the phone its caller.
        desk.wait_for_selector("#call[data-phase=ringing]")
        assert "Incoming call" in desk.inner_text("#phone-incoming")
        desk.click("#phone-incoming button.answer")
        desk.wait_for_selector("#phone-state[data-state=talking]")
        answered = time.monotonic()
        desk.wait_for_selector("#call[data-phase=talking]")
        time.sleep(4)
        heard = sink.audible_seconds(answered + 1, time.monotonic())
        stats = desk.evaluate("window.hotlinePhone.stats")
        assert heard > 2.5, f"{heard:.2f} s of the browser's tone reached the caller; {stats}"
        # The way back: the caller speaks (from SIPp's own media port, where Asterisk
        # then sends, rtp_symmetric: the sink hears no more), decoded in the page.
        call.open_gate()
        time.sleep(4)
        stats = desk.evaluate("window.hotlinePhone.stats")
        assert stats["dtls"] == "connected", stats
        assert stats["srtpCipher"].startswith("AES") or "SRTP" in stats["srtpCipher"], stats
        assert stats["packetsReceived"] > 100 and stats["audioEnergy"] > 0.05, stats

        # *1 from the phone's keypad (RFC 4733): Hotline puts the caller on hold.
        desk.click("#phone-talking button[data-key='*']")
        time.sleep(0.4)
        desk.click("#phone-talking button[data-key='1']")
        desk.wait_for_selector("#call[data-held=true]")

        desk.click("#phone-talking button.hangup")
        result = call.wait(30)
        assert result.ok, f"{result.output}\n{hotline.log_tail()}"
        call = None
        desk.wait_for_selector("#phone-state[data-state=registered]")

        # The tab closes: the socket goes, and with it the registration.
        desk.close()
        wait_for("gina unreachable", lambda: agent_state(hotline, AGENT) == "unreachable")
    finally:
        if call is not None and call.proc is not None and call.proc.poll() is None:
            call.proc.kill()
        sink.close()
        context.close()

    contact, events = events_of(hotline, "5551707")
    (ended,) = of_type(events, "queue.call_ended")
    assert ended["agent"] == AGENT and ended["ended_by"] == "agent", ended
    assert ended["talk_seconds"] > 8
    # *1 came from the browser's keypad as RFC 4733 keys through the conversation.
    assert of_type(events, "call.held") == [{"agent": AGENT, "by": AGENT}]
    assert contact.status == "completed"


def events_of(hotline: RunningHotline, caller: str) -> tuple[Any, list[Any]]:
    """contact_of in a thread of its own: Playwright's loop runs in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(contact_of, hotline, caller).result(30)


def account(hotline: RunningHotline, cookie: str | None, origin: str | None = None) -> Any:
    request = urllib.request.Request(f"{hotline.web_url}/api/phone/account")
    if cookie:
        request.add_header("Cookie", cookie)
    if origin:
        request.add_header("Origin", origin)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")
