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
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium_with_a_microphone, login, write_tone
from tests.e2e.conftest import TEST_PASSWORD, RunningHotline
from tests.e2e.rtp import RtpSink
from tests.e2e.sipp import ExpectHangup, Gate, SippCall, Speak
from tests.e2e.test_ivr_call import contact_of, of_type
from tests.e2e.test_softphone import Baresip

pytestmark = [pytest.mark.e2e]

AGENT, ENDPOINT, NUMBER = "gina", "2005", "307"
SPEECH = "Hello, I am calling about my order, it has not arrived yet, thank you."


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake microphone: a steady 440 Hz tone."""
    return write_tone(tmp_path_factory.mktemp("tone") / "tone.wav")


@pytest.fixture(scope="module")
def media_browser(tone: Path) -> Iterator[Any]:
    """Chromium whose microphone is the tone (tests/browser.py)."""
    with chromium_with_a_microphone(tone) as chromium:
        yield chromium


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


def answered_call(
    context: Any, hotline: RunningHotline, console: list[str], caller: str
) -> tuple[Any, SippCall]:
    """gina's desk registered, a call from `caller` (who waits to be hung up) answered
    on it and a second into the conversation."""
    desk = open_phone(context, hotline, console)
    desk.wait_for_selector("#phone-state[data-state=registered]")
    wait_for("gina reachable", lambda: agent_state(hotline, AGENT) == "reachable")
    call = SippCall(
        hotline.workdir / "sipp", hotline.sip_port, NUMBER, caller, [ExpectHangup(60)]
    ).start()
    try:
        desk.wait_for_selector("#phone-incoming:not([hidden])")
        desk.click("#phone-incoming button.answer")
        desk.wait_for_selector("#phone-state[data-state=talking]")
    except BaseException:
        if call.proc is not None and call.proc.poll() is None:
            call.proc.kill()
        raise
    time.sleep(1)
    return desk, call


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
        # The microphones to choose from: Chromium's fake one.
        assert desk.locator("#phone-mic option").count() >= 1

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
        # 2.5 s of tone heard, within 12 s of the answer (under a loaded run's CPU the
        # media can start a second or two late: 2.14 s in the first 3 s once).
        while (heard := sink.audible_seconds(answered + 1, time.monotonic())) <= 2.5:
            if time.monotonic() > answered + 12:
                break
            time.sleep(0.25)
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


def registered(hotline: RunningHotline) -> bool:
    """Is gina's browser-phone endpoint registered (ARI: online)?"""
    endpoint = hotline.ari(f"endpoints/PJSIP/{ENDPOINT}-web")
    assert isinstance(endpoint, dict)
    return endpoint["state"] == "online"


def cookie_of(context: Any) -> str:
    (session,) = [c for c in context.cookies() if c["name"] == "hotline_session"]
    return f"hotline_session={session['value']}"


def test_the_account_goes_to_the_agents_own_desk_session_only(
    media_browser: Any, hotline: RunningHotline
) -> None:
    status, headers, body = account(hotline, None)
    assert status == 401 and body["error"].startswith("authentication required")
    request = urllib.request.Request(f"{hotline.web_url}/api/phone/account")
    request.add_header("Authorization", f"Bearer {hotline.secrets['api_token']}")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert json.loads(refused.value.read()) == {"error": "only agents have a browser phone"}

    context = media_browser.new_context()
    try:
        page = context.new_page()
        login(page, hotline.web_url, "adam", TEST_PASSWORD)  # an admin, no agent
        status, _, body = account(hotline, cookie_of(context))
        assert (status, body) == (403, {"error": "only agents have a browser phone"})
        page.close()
    finally:
        context.close()

    context = media_browser.new_context()
    try:
        page = context.new_page()
        login(page, hotline.web_url, AGENT, TEST_PASSWORD)
        page.close()  # the desk's own phone is not needed to read the account
        status, _, body = account(hotline, cookie_of(context), origin="http://evil.example")
        assert (status, body) == (
            403,
            {"error": "the phone account is given to the desk's own page only"},
        )
        status, headers, body = account(hotline, cookie_of(context), origin=hotline.web_url)
        assert status == 200
        assert headers["Cache-Control"] == "no-store"
        assert body["authorization_user"] == ENDPOINT
        assert body["password"] == hotline.secrets["agent_passwords"][ENDPOINT]
        assert body["uri"] == f"sip:{ENDPOINT}-web@127.0.0.1"
        assert body["socket"] == "/desk/phone/ws"
    finally:
        context.close()


def test_wrong_credentials_are_refused_and_nothing_registers(
    media_browser: Any, hotline: RunningHotline
) -> None:
    context = media_browser.new_context()
    context.set_default_timeout(20_000)

    def wrong_password(route: Any) -> None:
        answer = route.fetch()
        body = answer.json()
        body["password"] = "not-the-password"
        route.fulfill(response=answer, json=body)

    context.route("**/api/phone/account", wrong_password)
    console: list[str] = []
    try:
        desk = open_phone(context, hotline, console)
        desk.wait_for_selector("#phone-state[data-state=error]")
        message = desk.inner_text("#phone-message")
        assert message.startswith("The phone account was refused"), message
        assert not registered(hotline)
        assert agent_state(hotline, AGENT) == "unreachable"
    finally:
        context.close()


def test_a_second_browser_phone_for_the_same_agent_is_refused(
    media_browser: Any, hotline: RunningHotline
) -> None:
    first, second = media_browser.new_context(), media_browser.new_context()
    first.set_default_timeout(20_000)
    second.set_default_timeout(20_000)
    console: list[str] = []
    try:
        desk = open_phone(first, hotline, console)
        desk.wait_for_selector("#phone-state[data-state=registered]")
        other = open_phone(second, hotline, console)
        other.wait_for_selector("#phone-state[data-state=error]")
        assert other.inner_text("#phone-message").startswith(
            "Your browser phone is already open in another tab or window"
        )
        # The first one is untouched and still the one registered.
        assert desk.get_attribute("#phone-state", "data-state") == "registered"
        assert registered(hotline)
        desk.close()
        wait_for("the first phone gone", lambda: not registered(hotline))
        assert other.get_attribute("#phone-state", "data-state") == "error"
        assert not registered(hotline)  # the refused one did not register meanwhile
    finally:
        first.close()
        second.close()
    wait_for("gina unreachable", lambda: agent_state(hotline, AGENT) == "unreachable")


def test_an_ended_login_session_ends_the_phone(media_browser: Any, hotline: RunningHotline) -> None:
    context = media_browser.new_context()
    context.set_default_timeout(20_000)
    console: list[str] = []
    try:
        desk = open_phone(context, hotline, console)
        desk.wait_for_selector("#phone-state[data-state=registered]")
        wait_for("gina reachable", lambda: agent_state(hotline, AGENT) == "reachable")
        # The session ends elsewhere (a logout in another window, or its age).
        request = urllib.request.Request(
            f"{hotline.web_url}/logout",
            method="POST",
            headers={"Cookie": cookie_of(context), "Origin": hotline.web_url},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        desk.wait_for_selector("#phone-state[data-state=error]")
        assert desk.inner_text("#phone-message") == (
            "Your login session has ended: sign in again to use the phone."
        )
        wait_for("unregistered", lambda: not registered(hotline))
        wait_for("gina unreachable", lambda: agent_state(hotline, AGENT) == "unreachable")
    finally:
        context.close()


def test_a_reload_during_a_call_leaves_no_dead_channel(
    media_browser: Any, hotline: RunningHotline, no_leaks: None
) -> None:
    context = media_browser.new_context()
    context.set_default_timeout(20_000)
    console: list[str] = []
    call = None
    try:
        desk, call = answered_call(context, hotline, console, "5551708")
        reloaded = time.monotonic()
        desk.reload()
        # The agent's leg ends with the page (BYE, or the socket gone): the caller goes
        # on in the flow and is hung up; the reloaded desk registers again.
        result = call.wait(40)
        call = None
        assert result.ok, f"{result.output}\n{hotline.log_tail()}"
        assert time.monotonic() - reloaded < 25
        desk.wait_for_selector("#phone-state[data-state=registered]")
    finally:
        if call is not None and call.proc is not None and call.proc.poll() is None:
            call.proc.kill()
        context.close()
    wait_for("gina unreachable", lambda: agent_state(hotline, AGENT) == "unreachable")
    _, events = events_of(hotline, "5551708")
    (ended,) = of_type(events, "queue.call_ended")
    assert ended["agent"] == AGENT and ended["ended_by"] == "agent", ended


def test_a_page_gone_mid_call_without_hanging_up_leaves_no_dead_channel(
    media_browser: Any, hotline: RunningHotline, no_leaks: None
) -> None:
    """A crashed tab, a lost network, a reload whose BYE did not leave: the page goes
    and says nothing to Asterisk. Hotline sees its phone's relay close and hangs up
    that leg: the caller goes on as when the agent hangs up (the flow after `answered`
    ends the call) within seconds, instead of talking to nobody."""
    context = media_browser.new_context()
    context.set_default_timeout(20_000)
    console: list[str] = []
    call = None
    try:
        desk, call = answered_call(context, hotline, console, "5551710")
        # The page will go without a word: no BYE, no un-REGISTER (phone.js's pagehide
        # does both; here its UA can no longer stop).
        desk.evaluate(
            "window.addEventListener('pagehide', e => e.stopImmediatePropagation(), true);"
            "window.hotlinePhone.ua.stop = function () {};"
            "window.hotlinePhone.ua.terminateSessions = function () {};"
        )
        log_size = hotline.log.stat().st_size
        gone = time.monotonic()
        desk.reload()
        result = call.wait(30)
        call = None
        assert result.ok, f"{result.output}\n{hotline.log_tail()}"
        # Hung up by Hotline about a second (the grace for a BYE) after the socket went;
        # without it the call stayed up until the caller gave up.
        assert time.monotonic() - gone < 10
        said = hotline.log.read_bytes()[log_size:].decode(errors="replace")
        assert f"browser phone of {AGENT}: its page went away with a call" in said, said
        desk.wait_for_selector("#phone-state[data-state=registered]")
    finally:
        if call is not None and call.proc is not None and call.proc.poll() is None:
            call.proc.kill()
        context.close()
    wait_for("gina unreachable", lambda: agent_state(hotline, AGENT) == "unreachable")
    contact, events = events_of(hotline, "5551710")
    (ended,) = of_type(events, "queue.call_ended")
    assert ended["agent"] == AGENT and ended["ended_by"] == "agent", ended
    assert contact.status == "completed"


def test_a_login_session_ended_mid_call_ends_the_phones_call(
    media_browser: Any, hotline: RunningHotline, no_leaks: None
) -> None:
    """A logout elsewhere (or the session's age) during a call closes the phone's relay:
    Hotline hangs up the leg it carried (no call left on a phone nobody controls), the
    desk's phone leaves its call and says why, and the caller goes on as when the
    agent hangs up."""
    context = media_browser.new_context()
    context.set_default_timeout(20_000)
    console: list[str] = []
    call = None
    try:
        desk, call = answered_call(context, hotline, console, "5551711")
        request = urllib.request.Request(
            f"{hotline.web_url}/logout",
            method="POST",
            headers={"Cookie": cookie_of(context), "Origin": hotline.web_url},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        ended = time.monotonic()
        result = call.wait(30)
        call = None
        assert result.ok, f"{result.output}\n{hotline.log_tail()}"
        assert time.monotonic() - ended < 15  # the relay sees it within 5 s, then 1 s
        desk.wait_for_selector("#phone-state[data-state=error]")
        assert desk.is_hidden("#phone-talking")
        assert desk.inner_text("#phone-message") == (
            "Your login session has ended: sign in again to use the phone."
        )
        wait_for("unregistered", lambda: not registered(hotline))
    finally:
        if call is not None and call.proc is not None and call.proc.poll() is None:
            call.proc.kill()
        context.close()
    _, events = events_of(hotline, "5551711")
    (ended_event,) = of_type(events, "queue.call_ended")
    assert ended_event["agent"] == AGENT and ended_event["ended_by"] == "agent", ended_event


def test_a_blocked_microphone_is_explained_and_nothing_registers(
    media_browser: Any, hotline: RunningHotline
) -> None:
    context = media_browser.new_context()
    context.set_default_timeout(20_000)
    # The browser refuses the microphone as it does when the agent blocked it.
    context.add_init_script(
        "navigator.mediaDevices.getUserMedia = () =>"
        " Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));"
    )
    console: list[str] = []
    try:
        desk = open_phone(context, hotline, console)
        desk.wait_for_selector("#phone-state[data-state=error]")
        assert desk.inner_text("#phone-message").startswith(
            "The microphone is blocked for this page. Allow it in the browser's site settings"
        )
        time.sleep(1)
        assert not registered(hotline)
        assert agent_state(hotline, AGENT) == "unreachable"
    finally:
        context.close()


def test_with_a_sip_phone_too_both_ring_and_the_browser_answers(
    media_browser: Any, hotline: RunningHotline, tmp_path: Path, no_leaks: None
) -> None:
    """gina's SIP phone (baresip) and her browser phone are both registered: one agent,
    both ring for the call, the browser answers and the SIP phone stops ringing."""
    sip_phone = Baresip(
        tmp_path / "baresip",
        ENDPOINT,
        hotline.secrets["agent_passwords"][ENDPOINT],
        hotline.sip_port,
    )
    context = media_browser.new_context()
    context.set_default_timeout(20_000)
    console: list[str] = []
    call = None
    try:
        wait_for("the SIP phone registered", lambda: "200 OK" in sip_phone.log.read_text())
        desk = open_phone(context, hotline, console)
        desk.wait_for_selector("#phone-state[data-state=registered]")
        call = SippCall(
            hotline.workdir / "sipp", hotline.sip_port, NUMBER, "5551709", [ExpectHangup(60)]
        ).start()
        desk.wait_for_selector("#phone-incoming:not([hidden])")
        wait_for("the SIP phone rings", lambda: "Incoming call" in sip_phone.log.read_text())
        desk.click("#phone-incoming button.answer")
        desk.wait_for_selector("#phone-state[data-state=talking]")
        # Asterisk cancels its ring (baresip logs the CANCEL as "session closed").
        wait_for(
            "the SIP phone stops ringing",
            lambda: "session closed" in sip_phone.log.read_text().split("Incoming call", 1)[1],
        )
        time.sleep(2)
        desk.click("#phone-talking button.hangup")
        result = call.wait(30)
        call = None
        assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    finally:
        if call is not None and call.proc is not None and call.proc.poll() is None:
            call.proc.kill()
        context.close()
        sip_phone.stop()
    wait_for("gina unreachable", lambda: agent_state(hotline, AGENT) == "unreachable", 40)
    _, events = events_of(hotline, "5551709")
    (ended,) = of_type(events, "queue.call_ended")
    assert ended["agent"] == AGENT and ended["ended_by"] == "agent", ended
