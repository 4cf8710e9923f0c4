"""Hotline serving HTTPS and WSS itself (`web.tls`), for agents on other machines:
browsers give the microphone only to secure pages, and http is one only on the agent's
own machine.

A Hotline of its own starts with `web.tls: true` (the certificate made at first start,
its fingerprint in the start-up text and the one served). Chromium (Debian's, fake
media devices, a tone as the microphone) reaches it by a name that is not loopback to
the browser (`hotline.test`, resolved to 127.0.0.1 by the browser alone), so the
page is a secure context only because it is HTTPS: the desk loads, the login cookie is
Secure, the browser phone registers over WSS through the relay on the same origin and
answers a queued SIPp call whose caller hears its tone; the wallboard and the chat
widget keep their live sockets over WSS too. The same name over plain HTTP
(the session's Hotline) gets no microphone, and the desk says why. An operator's
certificate that is not its key's stops `hotline run` with the reason.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.secrets import ensure_certificate, fingerprint
from tests.browser import chromium_with_a_microphone, login
from tests.e2e.conftest import (
    HOTLINE,
    TEST_PASSWORD,
    RunningHotline,
    left_in,
    spawn,
    wait_ready,
    with_test_flows,
    without_speech,
)
from tests.e2e.conftest import test_config as config_for_test
from tests.e2e.rtp import RtpSink
from tests.e2e.sipp import ExpectHangup, SippCall
from tests.e2e.test_browser_phone import tone  # noqa: F401  (the fake microphone)

pytestmark = [pytest.mark.e2e]

AGENT, ENDPOINT, NUMBER = "gina", "2005", "307"
#: The name the browser reaches Hotline by: not loopback to it, so only HTTPS makes
#: the page a secure context.
NAME = "hotline.test"


class HttpsHotline(RunningHotline):
    """A running Hotline whose web is HTTPS; its API is read trusting only the
    certificate it made (checked against 127.0.0.1)."""

    @property
    def web_url(self) -> str:
        return f"https://127.0.0.1:{self.config['web']['port']}"

    @property
    def cert(self) -> Path:
        return self.state / "tls/web.crt"

    def api(self, path: str, token: str | None = None) -> tuple[int, object]:
        if not self.cert.exists():
            raise ConnectionRefusedError("no certificate yet: not started")
        context = ssl.create_default_context(cafile=str(self.cert))
        request = urllib.request.Request(f"{self.web_url}{path}")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def https_hotline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsHotline]:
    workdir = tmp_path_factory.mktemp("https-hotline")
    config = config_for_test(f"https-{os.getpid()}")
    config, targets = with_test_flows(config, workdir)
    config = without_speech(config)  # nothing here listens: no Vosk model to load
    config["web"]["tls"] = True
    config["web"]["tls_names"] = [NAME]
    running = HttpsHotline(**vars(spawn(config, workdir, targets)))
    try:
        wait_ready(running)
        yield running
    finally:
        running.proc.send_signal(signal.SIGINT)
        try:
            running.proc.wait(60)
        except subprocess.TimeoutExpired:
            running.proc.kill()
            running.proc.wait()
        subprocess.run(["rm", "-rf", str(running.instance_dir())], check=False)
    assert running.proc.returncode == 0, running.log_tail()


@pytest.fixture(scope="module")
def named_browser(tone: Path) -> Iterator[Any]:  # noqa: F811
    """Chromium with fake media devices (the tone as the microphone), resolving
    hotline.test to 127.0.0.1 by itself, loopback ICE candidates allowed."""
    with chromium_with_a_microphone(
        tone, f"--host-resolver-rules=MAP {NAME} 127.0.0.1"
    ) as chromium:
        yield chromium


def wait_for(what: str, check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.2)


def agent_state(hotline: RunningHotline) -> str:
    status, body = hotline.api("/api/status", token=hotline.secrets["api_token"])
    assert status == 200 and isinstance(body, dict)
    return str(body["agents"][AGENT])


def test_the_web_is_https_with_the_printed_certificate(https_hotline: HttpsHotline) -> None:
    port = https_hotline.config["web"]["port"]
    wait_for("the start-up text", lambda: "HTTPS certificate" in https_hotline.log.read_text())
    text = https_hotline.log.read_text()
    assert f"agent desk:     https://127.0.0.1:{port}/desk" in text
    assert f"HTTPS certificate (generated): {https_hotline.cert}" in text
    printed = fingerprint(https_hotline.cert)
    assert f"SHA-256 fingerprint: {printed}" in text
    # The certificate served is the one printed, and a client trusting it alone
    # accepts it for 127.0.0.1 (https_hotline.api checks it).
    served = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port)))
    digest = hashlib.sha256(served).hexdigest().upper()
    assert ":".join(digest[i : i + 2] for i in range(0, 64, 2)) == printed
    assert https_hotline.api("/api/health")[0] == 200
    # No plain HTTP on the port.
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5)


def test_the_browser_phone_registers_over_wss_and_answers_a_queued_call(
    named_browser: Any, https_hotline: HttpsHotline
) -> None:
    port = https_hotline.config["web"]["port"]
    base = f"https://{NAME}:{port}"
    context = named_browser.new_context(ignore_https_errors=True)  # self-signed
    context.set_default_timeout(20_000)
    sink = RtpSink()
    console: list[str] = []
    sockets: list[str] = []
    call = None
    try:
        desk = context.new_page()
        desk.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        desk.on("websocket", lambda ws: sockets.append(ws.url))
        login(desk, base, AGENT, TEST_PASSWORD)
        assert desk.url == f"{base}/desk"
        assert desk.evaluate("window.isSecureContext") is True
        (cookie,) = [c for c in context.cookies() if c["name"] == "hotline_session"]
        assert cookie["secure"] is True
        try:
            desk.wait_for_selector("#phone-state[data-state=registered]")
        except Exception:
            pytest.fail(f"phone: {desk.inner_text('#phone')}\n" + "\n".join(console[-30:]))
        assert f"wss://{NAME}:{port}/desk/phone/ws" in sockets, sockets
        assert f"wss://{NAME}:{port}/desk/ws" in sockets, sockets
        wait_for("gina reachable", lambda: agent_state(https_hotline) == "reachable")

        call = SippCall(
            https_hotline.workdir / "sipp",
            https_hotline.sip_port,
            NUMBER,
            "5551907",
            [ExpectHangup(60)],
            rtp_port=sink.port,
        ).start()
        desk.wait_for_selector("#phone-incoming:not([hidden])")
        desk.wait_for_selector("#call[data-phase=ringing]")
        desk.click("#phone-incoming button.answer")
        desk.wait_for_selector("#phone-state[data-state=talking]")
        answered = time.monotonic()
        desk.wait_for_selector("#call[data-phase=talking]")
        time.sleep(4)
        heard = sink.audible_seconds(answered + 1, time.monotonic())
        stats = desk.evaluate("window.hotlinePhone.stats")
        assert heard > 2, f"{heard:.2f} s of the browser's tone reached the caller; {stats}"
        assert stats["dtls"] == "connected", stats
        desk.click("#phone-talking button.hangup")
        result = call.wait(30)
        call = None
        assert result.ok, f"{result.output}\n{https_hotline.log_tail()}"
        desk.wait_for_selector("#phone-state[data-state=registered]")
        desk.close()
        wait_for("gina unreachable", lambda: agent_state(https_hotline) == "unreachable")
    finally:
        if call is not None and call.proc is not None and call.proc.poll() is None:
            call.proc.kill()
        sink.close()
        context.close()
    deadline = time.monotonic() + 10
    while (left := left_in(https_hotline.ari)) != ([], []):
        assert time.monotonic() < deadline, f"left in Asterisk: {left}"
        time.sleep(0.2)


def test_the_wallboard_and_the_chat_widget_live_over_wss(
    named_browser: Any, https_hotline: HttpsHotline
) -> None:
    base = f"https://{NAME}:{https_hotline.config['web']['port']}"
    context = named_browser.new_context(ignore_https_errors=True)
    context.set_default_timeout(20_000)
    sockets: list[str] = []
    try:
        board = context.new_page()
        board.on("websocket", lambda ws: sockets.append(ws.url))
        login(board, base, "sue", TEST_PASSWORD)
        board.goto(f"{base}/wallboard")
        board.wait_for_selector('#connection[data-connected="true"]')
        customer = context.new_page()
        customer.on("websocket", lambda ws: sockets.append(ws.url))
        customer.goto(f"{base}/chat/demo")
        customer.wait_for_selector("#hotline-chat[data-connected=true]", state="attached")
    finally:
        context.close()
    assert f"wss://{NAME}:{https_hotline.config['web']['port']}/wallboard/ws" in sockets, sockets
    assert any(u.startswith(f"{base.replace('https', 'wss')}/chat/ws") for u in sockets), sockets


def test_over_plain_http_by_name_the_desk_says_the_phone_needs_https(
    named_browser: Any, hotline: RunningHotline
) -> None:
    base = f"http://{NAME}:{hotline.config['web']['port']}"
    context = named_browser.new_context()
    context.set_default_timeout(20_000)
    try:
        desk = context.new_page()
        login(desk, base, AGENT, TEST_PASSWORD)
        assert desk.evaluate("window.isSecureContext") is False
        desk.wait_for_selector("#phone-state[data-state=error]")
        assert desk.inner_text("#phone-message").startswith(
            "The browser phone needs the desk over HTTPS"
        )
    finally:
        context.close()


def test_an_operators_certificate_that_is_not_its_keys_stops_the_start(tmp_path: Path) -> None:
    one = ensure_certificate(tmp_path / "one", ["127.0.0.1"], name="web")
    two = ensure_certificate(tmp_path / "two", ["127.0.0.1"], name="web")
    config = config_for_test(f"https-bad-{os.getpid()}")
    config["web"].update(tls=True, tls_cert_file=str(one.cert), tls_key_file=str(two.key))
    (tmp_path / "hotline.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "HOTLINE_STATE": str(tmp_path / "state")}
    done = subprocess.run(
        [str(HOTLINE), "--config", str(tmp_path / "hotline.yaml"), "run"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().endswith(
        f"HTTPS (web.tls) refused: TLS certificate {one.cert} does not match the key {two.key}"
    ), done.stderr
    assert not (tmp_path / "state/tls").exists()
