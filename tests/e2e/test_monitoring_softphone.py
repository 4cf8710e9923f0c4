"""A supervisor monitors a call answered on a real softphone (issue 18): a SIPp caller
reaches alice, whose baresip softphone auto-answers (number 314, queue e2e_alice); sue
monitors from her own SIPp phone through the REST API: listens, whispers, barges, then
leaves, and the call goes on until alice hangs up; nothing is left in Asterisk.

Each plays its own tone (caller 600 Hz, alice 1000 Hz from baresip's audio file, sue
1400 Hz). The caller and sue hear through Python RTP endpoints (tests/e2e/tones.py);
what alice hears is baresip's own decoded audio, dumped to a WAV file as it arrives:
each window of the test is marked by that file's size, so the same 20 ms measure is
taken over the same windows on all three.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningHotline
from tests.e2e.sipp import ExpectHangup, SippCall
from tests.e2e.test_agent_presence import post, wait_state
from tests.e2e.test_call_control import Api, live_contact
from tests.e2e.test_ivr_call import contact_of, of_type
from tests.e2e.test_monitoring import HIGH, LOW, connected, phone_with_media
from tests.e2e.test_softphone import Baresip, agent_state
from tests.e2e.tones import HEARD, SAMPLES, TonePhone, amplitude

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.usefixtures("no_leaks"),
    pytest.mark.skipif(not shutil.which("baresip"), reason="baresip is not installed"),
]

CALLER, AGENT, SUPERVISOR = 600, 1000, 1400
TONES = (CALLER, AGENT, SUPERVISOR)
NUMBER = "5551811"


class Dump:
    """The audio a baresip phone received in its one call (its sndfile dump), read
    while it grows: `mark` is where it has got to, `share` measures between marks."""

    def __init__(self, phone: Baresip) -> None:
        self.phone = phone
        self.path: Path | None = None

    def mark(self) -> int:
        """Bytes written so far (waits for the dump to exist: the call's audio began)."""
        deadline = time.monotonic() + 10
        while self.path is None:
            dumps = self.phone.received_audio()
            if dumps:
                self.path = dumps[0]
                break
            assert time.monotonic() < deadline, self.phone.log.read_text()[-2000:]
            time.sleep(0.1)
        return self.path.stat().st_size

    def share(self, frequency: int, start: int, end: int) -> float:
        """The share (0..1) of the 20 ms frames between two marks carrying `frequency`."""
        assert self.path is not None
        raw = self.path.read_bytes()
        data = raw.find(b"data") + 8  # the WAV header's size, whatever libsndfile wrote
        assert data >= 8, f"{self.path} is not a WAV file"
        start, end = max(start, data), min(end, len(raw))
        pcm = raw[start - (start - data) % 2 : end]
        samples = [
            int.from_bytes(pcm[i : i + 2], "little", signed=True) for i in range(0, len(pcm) - 1, 2)
        ]
        frames = [samples[i : i + SAMPLES] for i in range(0, len(samples) - SAMPLES + 1, SAMPLES)]
        if not frames:
            return 0.0
        return sum(1 for f in frames if amplitude(f, frequency) >= HEARD) / len(frames)


@pytest.fixture
def alice(hotline: RunningHotline, tmp_path: Path) -> Iterator[Baresip]:
    """alice's baresip softphone, registered, logged in, auto-answering, sending 1000 Hz."""
    token = hotline.secrets["api_token"]
    password = hotline.secrets["agent_passwords"]["1001"]
    phone = Baresip(tmp_path / "alice", "1001", password, hotline.sip_port, ";answermode=auto")
    try:
        # What the phone sends once a call's audio starts (the file is opened then).
        synth = ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(phone.dir / "silence.wav")]
        subprocess.run([*synth, "synth", "60", "sine", str(AGENT), "vol", "0.2"], check=True)
        status, answer = post(hotline, "/api/agents/alice/login", None, token)
        assert status == 200, answer
        deadline = time.monotonic() + 20
        while agent_state(hotline, "alice") != "reachable":
            assert time.monotonic() < deadline, phone.log.read_text()[-2000:]
            time.sleep(0.3)
        wait_state(hotline, "alice", "available")
        yield phone
    finally:
        phone.stop()
        post(hotline, "/api/agents/alice/logout", None, token)  # as the session had her


@pytest.fixture
def tones() -> Iterator[dict[str, TonePhone]]:
    phones = {"caller": TonePhone(CALLER, TONES), "sue": TonePhone(SUPERVISOR, TONES)}
    yield phones
    for phone in phones.values():
        phone.close()


def test_listen_whisper_barge_leave_on_a_softphone_call(
    hotline: RunningHotline, alice: Baresip, tones: dict[str, TonePhone]
) -> None:
    sue = phone_with_media(hotline, "sue", tones["sue"], "answer_until_hangup", ring=0.3, talk=60)
    dump = Dump(alice)
    windows: dict[str, tuple[float, float]] = {}
    marks: dict[str, tuple[int, int]] = {}

    async def measure(name: str, seconds: float = 2.0) -> None:
        await asyncio.sleep(0.8)  # the new snoop in place, jitter settled
        start, first = time.monotonic(), dump.mark()
        await asyncio.sleep(seconds)
        windows[name], marks[name] = (start, time.monotonic()), (first, dump.mark())

    async def control() -> None:
        contact = await live_contact(hotline, NUMBER)
        path = f"/api/calls/{contact}/monitor"
        async with Api(hotline, "sue") as supervisor, Api(hotline, "alice") as agent:
            await measure("talking", 1.5)
            got, answer = await agent.call("POST", path, {"mode": "listen"})
            assert got == 403 and "only supervisors and admins" in answer["error"], answer
            for mode in ("listen", "whisper", "barge"):
                got, answer = await supervisor.call("POST", path, {"mode": mode})
                assert got == 200 and answer["monitor"]["mode"] == mode, answer
                if mode == "listen":
                    await connected(supervisor, contact)
                await measure(mode)
            got, answer = await supervisor.call("POST", f"{path}/stop")
            assert got == 200 and answer["monitor"]["state"] == "ended", answer
            await measure("after", 1.5)
            got, _ = await supervisor.call("GET", f"/api/calls/{contact}")
            assert got == 200, "the call goes on after the supervisor left"
        alice.command("hangup")

    call = SippCall(
        hotline.workdir / "sipp",
        hotline.sip_port,
        "314",
        NUMBER,
        [ExpectHangup(60)],
        rtp_port=tones["caller"].port,
    ).start()
    asyncio.run(control())
    result = call.wait(60)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert sue.wait_done(30).ok, sue.messages()  # hung up when she left

    def hears(who: str, window: str, tone: int) -> float:
        if who == "alice":
            return dump.share(tone, *marks[window])
        return tones[who].share(tone, *windows[window])

    report = {
        window: {
            who: {tone: round(hears(who, window, tone), 2) for tone in TONES}
            for who in ("caller", "alice", "sue")
        }
        for window in windows
    }
    print(report)
    for window in windows:  # the call itself, untouched throughout
        assert hears("caller", window, AGENT) >= HIGH, report
        assert hears("alice", window, CALLER) >= HIGH, report
    for window in ("talking", "listen", "after"):  # nobody hears sue
        assert hears("caller", window, SUPERVISOR) <= LOW, report
        assert hears("alice", window, SUPERVISOR) <= LOW, report
    for window in ("listen", "whisper", "barge"):  # sue hears both
        assert hears("sue", window, CALLER) >= HIGH, report
        assert hears("sue", window, AGENT) >= HIGH, report
    assert hears("alice", "whisper", SUPERVISOR) >= HIGH, report  # only alice hears her
    assert hears("caller", "whisper", SUPERVISOR) <= LOW, report
    assert hears("alice", "barge", SUPERVISOR) >= HIGH, report  # all hear all
    assert hears("caller", "barge", SUPERVISOR) >= HIGH, report

    _, events = contact_of(hotline, NUMBER)
    (started,) = of_type(events, "monitor.started")
    assert started == {"supervisor": "sue", "agent": "alice", "mode": "listen", "phone": "2901"}
    changes = [(c["previous"], c["mode"]) for c in of_type(events, "monitor.changed")]
    assert changes == [("listen", "whisper"), ("whisper", "barge")]
    (ended,) = of_type(events, "monitor.ended")
    assert ended["reason"] == "stopped" and set(ended["modes"]) == {"listen", "whisper", "barge"}
    (link,) = of_type(events, "queue.connected")
    assert link["agent"] == "alice" and link["queue"] == "e2e_alice"
    kinds = [e.type for e in events]
    assert kinds.index("monitor.ended") < kinds.index("queue.call_ended")
