"""SIP over TLS with SRTP media for agents' phones (asterisk.sip_tls), with a real
softphone: a Hotline of its own starts with TLS on (the certificate made at first
start, its fingerprint in the start-up text); baresip registers over TLS as gina,
checking the certificate against the one Hotline made, with SRTP mandatory; a SIPp
caller (plain UDP, as callers stay) walks into her queue (307), baresip answers, and
its tone reaches the caller, while every RTP packet between baresip and Asterisk on
the wire is SRTP (the 80-bit auth tag, payloads that look random), never the tone in
clear. A client that trusts another certificate refuses Asterisk's; an operator's
certificate that does not match its key stops `hotline run` with a clear error.
(A phone that trusts another certificate: checked with openssl s_client, since
Debian 12's baresip 1.0 does not verify the server's certificate.)
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from controller.secrets import ensure_certificate, fingerprint
from tests.e2e.conftest import (
    HOTLINE,
    RunningHotline,
    spawn,
    wait_ready,
    with_test_flows,
    without_speech,
)
from tests.e2e.conftest import test_config as config_for_test
from tests.e2e.ports import free_port, free_range
from tests.e2e.rtp import RtpSink
from tests.e2e.sipp import ExpectHangup, SippCall
from tests.e2e.test_softphone import MODULES

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not shutil.which("baresip"), reason="baresip is not installed"),
]

AGENT, ENDPOINT, NUMBER = "gina", "2005", "307"


@pytest.fixture(scope="module")
def tls_hotline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHotline]:
    workdir = tmp_path_factory.mktemp("tls-hotline")
    config = config_for_test(f"tls-{os.getpid()}")
    config, targets = with_test_flows(config, workdir)
    config = without_speech(config)  # nothing here listens: no Vosk model to load
    config["asterisk"]["sip_tls"] = True
    config["asterisk"]["sip_tls_port"] = free_port(seconds=900)
    running = spawn(config, workdir, targets)
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


class TlsBaresip:
    """baresip registering over TLS (trusting `cafile`) with SRTP mandatory; it
    answers by itself and sends a 440 Hz tone; its RTP on `rtp_ports`."""

    def __init__(self, workdir: Path, hotline: RunningHotline, cafile: Path) -> None:
        self.dir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        tone = workdir / "tone.wav"
        subprocess.run(
            ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(tone),
             "synth", "60", "sine", "440", "vol", "0.5"],
            check=True,
        )  # fmt: skip
        self.rtp_ports = free_range(20, hold=False, seconds=900)
        self.control = free_port()
        (workdir / "config").write_text(
            "\n".join(
                [
                    "poll_method epoll",
                    f"sip_listen 127.0.0.1:{free_port('sip')}",
                    f"sip_cafile {cafile}",
                    f"rtp_ports {self.rtp_ports}-{self.rtp_ports + 19}",
                    "audio_player aubridge,nil",
                    f"audio_source aufile,{tone}",
                    "audio_alert aubridge,nil",
                    f"module_path {MODULES}",
                    "module g711.so",
                    "module aufile.so",
                    "module aubridge.so",
                    "module sndfile.so",
                    "module srtp.so",
                    "module_app account.so",
                    "module_app menu.so",
                    "module_app ctrl_tcp.so",
                    f"ctrl_tcp_listen 127.0.0.1:{self.control}",
                    f"snd_path {workdir}",
                    "",
                ]
            )
        )
        port = hotline.config["asterisk"]["sip_tls_port"]
        password = hotline.secrets["agent_passwords"][ENDPOINT]
        (workdir / "accounts").write_text(
            f"<sip:{ENDPOINT}@127.0.0.1:{port};transport=tls>;auth_pass={password};regint=60"
            ";mediaenc=srtp-mand;answermode=auto\n"
        )
        self.log = workdir / "baresip.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                ["baresip", "-f", str(workdir)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def received_audio(self) -> list[Path]:
        return sorted(p for p in self.dir.glob("dump-*.wav") if "dec" in p.name)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Wire:
    """UDP packets on the loopback interface to or from `ports` (a raw socket: root)."""

    def __init__(self, ports: range) -> None:
        self.ports = ports
        self.payloads: list[bytes] = []  # the UDP payloads, as they crossed the wire
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                frame, meta = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if meta[2] == socket.PACKET_OUTGOING:
                continue  # loopback shows each packet twice: keep the incoming copy
            ip = frame[14:]  # an Ethernet header of zeros on lo
            if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP:
                continue
            udp = ip[(ip[0] & 0x0F) * 4 :]
            source, target = struct.unpack("!HH", udp[:4])
            if source in self.ports or target in self.ports:
                self.payloads.append(udp[8:])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def entropy(data: bytes) -> float:
    """Shannon entropy in bits per byte (8.0: random; mu-law tone or silence far less)."""
    counts = Counter(data)
    return -sum(n / len(data) * math.log2(n / len(data)) for n in counts.values())


def agent_state(hotline: RunningHotline) -> str:
    status, body = hotline.api("/api/status", token=hotline.secrets["api_token"])
    assert status == 200
    return body["agents"][AGENT]


def test_banner_prints_the_generated_certificates_fingerprint(tls_hotline: RunningHotline) -> None:
    cert = tls_hotline.state / "tls/sip.crt"
    assert cert.exists()
    deadline = time.monotonic() + 10
    while "SHA-256 fingerprint" not in tls_hotline.log.read_text():
        assert time.monotonic() < deadline, tls_hotline.log_tail()
        time.sleep(0.2)
    text = tls_hotline.log.read_text()
    port = tls_hotline.config["asterisk"]["sip_tls_port"]
    assert f"SIP over TLS with SRTP media: 127.0.0.1:{port}" in text
    assert f"SHA-256 fingerprint: {fingerprint(cert)}" in text


@pytest.mark.skipif(os.geteuid() != 0, reason="reading the loopback wire needs root")
def test_baresip_over_tls_with_srtp_answers_a_queued_call(
    tls_hotline: RunningHotline, tmp_path: Path
) -> None:
    phone = TlsBaresip(tmp_path / "baresip", tls_hotline, tls_hotline.state / "tls/sip.crt")
    wire = Wire(range(phone.rtp_ports, phone.rtp_ports + 20))
    sink = RtpSink()
    call = None
    try:
        deadline = time.monotonic() + 20
        while agent_state(tls_hotline) != "reachable":
            assert time.monotonic() < deadline, phone.log.read_text()[-3000:]
            time.sleep(0.3)
        call = SippCall(
            tls_hotline.workdir / "sipp",
            tls_hotline.sip_port,
            NUMBER,
            "5551807",
            [ExpectHangup(30)],
            rtp_port=sink.port,
            timeout=60,
        ).start()
        # baresip answers at once; the caller hears its tone through Asterisk.
        time.sleep(8)
        phone.stop()  # hangs up (BYE over TLS) and un-registers
        result = call.wait(40)
        call = None
        assert result.ok, f"{result.output}\n{tls_hotline.log_tail()}"
    finally:
        if call is not None and call.proc is not None and call.proc.poll() is None:
            call.proc.kill()
        phone.stop()
        wire.close()
        sink.close()
    log = phone.log.read_text()
    assert sink.audible_seconds() > 3, f"the caller heard no tone\n{log[-3000:]}"
    rtp = [p for p in wire.payloads if len(p) >= 12 and p[0] >> 6 == 2 and p[1] & 0x7F == 0]
    assert len(rtp) > 200, f"{len(rtp)} RTP packets of baresip's call on the wire\n{log[-2000:]}"
    # 12-byte header, 160 bytes of 20 ms PCMU, 10 bytes of SRTP auth tag: clear RTP
    # would be 172 bytes and its payload the tone's few mu-law values.
    assert Counter(len(p) for p in rtp).most_common(1)[0][0] == 172 + 10
    payloads = b"".join(p[12:172] for p in rtp)
    assert entropy(payloads) > 7.9, f"RTP payloads look clear: {entropy(payloads):.2f} bits/byte"
    clear_tone = subprocess.run(
        ["sox", "-n", "-t", "ul", "-r", "8000", "-c", "1", "-", "synth", "1", "sine", "440",
         "vol", "0.5"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert entropy(clear_tone) < 7.0  # the measure tells clear from encrypted apart
    assert not any(clear_tone[800:960] in p for p in rtp)
    assert "srtp" in log.lower(), log[-2000:]


def verify(port: int, cafile: Path) -> subprocess.CompletedProcess[str]:
    """A TLS client that checks the server's certificate against `cafile` and 127.0.0.1
    (openssl s_client; baresip 1.0, Debian 12's, does not check it: README says so)."""
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(cafile),
         "-verify_ip", "127.0.0.1", "-verify_return_error", "-brief"],
        input="", capture_output=True, text=True, timeout=20,
    )  # fmt: skip


def test_the_served_certificate_is_checked_by_a_client_that_trusts_it(
    tls_hotline: RunningHotline, tmp_path: Path
) -> None:
    port = tls_hotline.config["asterisk"]["sip_tls_port"]
    good = verify(port, tls_hotline.state / "tls/sip.crt")
    assert good.returncode == 0, good.stderr
    assert "Verification: OK" in good.stderr
    # A client that trusts another certificate refuses the connection, and says why.
    other = ensure_certificate(tmp_path / "other-ca", ["127.0.0.1"])
    bad = verify(port, other.cert)
    assert bad.returncode != 0
    assert "certificate verify failed" in bad.stderr or "self-signed certificate" in bad.stderr, (
        bad.stderr
    )


def test_an_operators_certificate_that_does_not_match_its_key_stops_the_start(
    tmp_path: Path,
) -> None:
    one = ensure_certificate(tmp_path / "one", ["127.0.0.1"])
    two = ensure_certificate(tmp_path / "two", ["127.0.0.1"])
    config = config_for_test(f"tls-bad-{os.getpid()}")
    config["asterisk"].update(sip_tls=True, tls_cert_file=str(one.cert), tls_key_file=str(two.key))
    (tmp_path / "hotline.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "HOTLINE_STATE": str(tmp_path / "state")}
    done = subprocess.run(
        [str(HOTLINE), "--config", str(tmp_path / "hotline.yaml"), "run"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().endswith(
        f"SIP/TLS refused: TLS certificate {one.cert} does not match the key {two.key}"
    ), done.stderr
    assert not (tmp_path / "state/tls").exists()
    with contextlib.suppress(FileNotFoundError):
        assert not list((tmp_path / "state").glob("*.pid"))
