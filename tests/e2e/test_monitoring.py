"""Supervisors monitoring a live call on a real Asterisk (issue 18): a SIPp caller
reaches carol (a SIPp phone on her fixed contact) through queue e2e_fifo (number 304);
sue the supervisor monitors the call from her own phone (a SIPp phone on her fixed
contact, endpoint 2901) through the REST API (`/api/calls/{contact}/monitor`).

Each of the three plays its own tone into the call (caller 600 Hz, carol 1000 Hz,
sue 1400 Hz; tests/e2e/tones.py) and the tones each one hears are measured: listening,
sue hears both and nobody hears her; whispering, only carol hears her; barging, both
do. Switching keeps every phone up; stopping hangs up sue's phone only; the audited
events are in the contact's log; refusals leave the call as it was; nothing is left in
Asterisk (`no_leaks`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import RunningHotline
from tests.e2e.sipp import ExpectHangup, Gate, HangUp, SippCall
from tests.e2e.sipp_uas import TransferTarget
from tests.e2e.test_call_control import Api, live_contact
from tests.e2e.test_ivr_call import contact_of, of_type
from tests.e2e.tones import TonePhone

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]

CALLER, AGENT, SUPERVISOR = 600, 1000, 1400
TONES = (CALLER, AGENT, SUPERVISOR)
#: A tone heard in at least this share of a window's packets is heard; at most LOW, not.
HIGH, LOW = 0.6, 0.05


@pytest.fixture
def tones() -> Iterator[dict[str, TonePhone]]:
    phones = {
        "caller": TonePhone(CALLER, TONES),
        "carol": TonePhone(AGENT, TONES),
        "sue": TonePhone(SUPERVISOR, TONES),
    }
    yield phones
    for phone in phones.values():
        phone.close()


def phone_with_media(
    hotline: RunningHotline, who: str, media: TonePhone, behaviour: str, **kw: float
) -> TransferTarget:
    """`who`'s SIPp phone on their fixed contact, its audio at `media`'s port."""
    phone = TransferTarget(hotline.workdir / "phones", behaviour, hotline.targets[who], **kw)  # type: ignore[arg-type]
    text = phone.file.read_text().replace("m=audio [media_port] ", f"m=audio {media.port} ")
    phone.file.write_text(text)
    return phone.start()


def caller(hotline: RunningHotline, number: str, media: TonePhone, gated: bool = False) -> SippCall:
    """The caller, hung up by carol's phone; `gated`: it hangs up itself when the test
    opens its Gate (its checks of the conversation done: carol waits for that BYE)."""
    steps = [Gate(90), HangUp()] if gated else [ExpectHangup(90)]
    return SippCall(
        hotline.workdir / "sipp", hotline.sip_port, "304", number, steps, rtp_port=media.port
    ).start()


async def connected(api: Api, contact: str, timeout: float = 15) -> dict:
    """The monitoring once sue's phone answered and is connected."""
    deadline = time.monotonic() + timeout
    answer: dict = {}
    while time.monotonic() < deadline:
        status, answer = await api.call("GET", f"/api/calls/{contact}/monitor")
        if status == 200 and answer["monitor"]["state"] == "connected":
            return answer["monitor"]
        await asyncio.sleep(0.1)
    raise AssertionError(f"the monitoring never connected: {answer}")


def test_listen_whisper_barge_and_stop(
    hotline: RunningHotline, tones: dict[str, TonePhone]
) -> None:
    # carol talks until the caller hangs up, once every window is measured.
    carol = phone_with_media(
        hotline, "carol", tones["carol"], "answer_until_hangup", ring=0.3, talk=60
    )
    sue = phone_with_media(hotline, "sue", tones["sue"], "answer_until_hangup", ring=0.3, talk=60)
    windows: dict[str, tuple[float, float]] = {}

    async def settle_and_measure(
        name: str, seconds: float = 2.0, hearing: tuple[tuple[str, int], ...] = ()
    ) -> None:
        await asyncio.sleep(0.8)  # the new snoop in place, jitter settled
        # Then who should now hear someone new does (at most 5 s: a loaded box starts
        # the new media late, once 1 s into the barge's window).
        for who, tone in hearing:
            await asyncio.to_thread(tones[who].wait_hearing, tone, HIGH, 5.0)
        start = time.monotonic()
        await asyncio.sleep(seconds)
        windows[name] = (start, time.monotonic())

    async def control() -> None:
        contact = await live_contact(hotline, "5551801")
        path = f"/api/calls/{contact}/monitor"
        async with (
            Api(hotline, "sue") as supervisor,
            Api(hotline, "carol") as agent,
            Api(hotline, "adam") as admin,
        ):
            await settle_and_measure("talking", 1.5)
            # Refused, each with its reason; the call goes on as it was.
            refusals = [
                (agent, path, {"mode": "listen"}, 403, "only supervisors and admins may monitor"),
                (supervisor, "/api/calls/no-such-contact/monitor", None, 404, "no live call"),
                (supervisor, path, {"mode": "spy"}, 400, '"mode" must be one of listen'),
                (supervisor, path, {"mode": "listen", "x": 1}, 400, "unknown field(s) 'x'"),
                (supervisor, path, ["listen"], 400, "must be a JSON object"),
                (admin, path, {"mode": "listen"}, 409, "adam has no phone to monitor on"),
                (supervisor, f"{path}/stop", None, 404, "is not being monitored"),
            ]
            for api, url, body, status, says in refusals:
                got, answer = await api.call("POST", url, body)
                assert (got, says in answer.get("error", "")) == (status, True), (url, answer)
            got, answer = await admin.call("GET", f"/api/calls/{contact}")
            assert got == 200 and answer["state"]["agent"] == "carol"

            got, answer = await supervisor.call("POST", path, {"mode": "listen"})
            assert got == 200, answer
            assert answer["monitor"]["mode"] == "listen" and answer["monitor"]["agent"] == "carol"
            await connected(supervisor, contact)
            got, answer = await admin.call("POST", path, {"mode": "barge"})
            assert got == 409 and "already monitored by sue" in answer["error"], answer
            got, answer = await agent.call("GET", "/api/monitoring")
            assert got == 403
            got, answer = await admin.call("GET", "/api/monitoring")
            assert [m["supervisor"] for m in answer["monitoring"]] == ["sue"]
            await settle_and_measure("listen")

            got, answer = await supervisor.call("POST", path, {"mode": "whisper"})
            assert got == 200 and answer["monitor"]["mode"] == "whisper", answer
            await settle_and_measure("whisper", hearing=(("carol", SUPERVISOR),))

            got, answer = await supervisor.call("POST", path, {"mode": "barge"})
            assert got == 200 and answer["monitor"]["mode"] == "barge", answer
            await settle_and_measure(
                "barge", hearing=(("carol", SUPERVISOR), ("caller", SUPERVISOR))
            )

            got, answer = await supervisor.call("POST", path, {"mode": "listen"})
            assert got == 200 and answer["monitor"]["mode"] == "listen", answer
            await settle_and_measure("listen again", 2.0)

            got, answer = await supervisor.call("POST", f"{path}/stop")
            assert got == 200, answer
            assert answer["monitor"]["state"] == "ended"
            got, answer = await supervisor.call("GET", path)
            assert got == 404
            await settle_and_measure("after", 1.5)
            got, answer = await admin.call("GET", f"/api/calls/{contact}")
            assert got == 200, "the call goes on after the monitoring"

    call = caller(hotline, "5551801", tones["caller"], gated=True)
    try:
        asyncio.run(control())
    finally:
        call.open_gate()  # the caller hangs up
    result = call.wait(90)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert carol.wait_done().ok
    assert sue.wait_done(30).ok, sue.messages()  # hung up by the stop

    def hears(who: str, window: str, tone: int) -> float:
        return tones[who].share(tone, *windows[window])

    def sent(who: str, window: str) -> float:
        """The share of its 20 ms packets `who`'s phone sent in the window."""
        start, end = windows[window]
        return tones[who].sent(start, end) / ((end - start) / 0.02)

    report = {
        window: {
            who: {tone: round(hears(who, window, tone), 2) for tone in TONES}
            | {"sent": round(sent(who, window), 2)}
            for who in ("caller", "carol", "sue")
        }
        for window in windows
    }
    print(report)
    # Before: caller and carol hear each other, nothing of sue.
    assert hears("caller", "talking", AGENT) >= HIGH, report
    assert hears("carol", "talking", CALLER) >= HIGH, report
    for window in ("listen", "listen again"):
        assert hears("sue", window, CALLER) >= HIGH, report
        assert hears("sue", window, AGENT) >= HIGH, report
        assert hears("caller", window, SUPERVISOR) <= LOW, report
        assert hears("carol", window, SUPERVISOR) <= LOW, report
        assert hears("caller", window, AGENT) >= HIGH, report  # the call goes on
    assert hears("sue", "whisper", CALLER) >= HIGH, report
    assert hears("sue", "whisper", AGENT) >= HIGH, report
    assert hears("carol", "whisper", SUPERVISOR) >= HIGH, report
    assert hears("caller", "whisper", SUPERVISOR) <= LOW, report
    assert hears("carol", "barge", SUPERVISOR) >= HIGH, report
    assert hears("caller", "barge", SUPERVISOR) >= HIGH, report
    assert hears("sue", "barge", CALLER) >= HIGH, report
    assert hears("caller", "after", AGENT) >= HIGH, report
    assert hears("carol", "after", SUPERVISOR) <= LOW, report

    _, events = contact_of(hotline, "5551801")
    (started,) = of_type(events, "monitor.started")
    assert started == {"supervisor": "sue", "agent": "carol", "mode": "listen", "phone": "2901"}
    changes = [(c["previous"], c["mode"]) for c in of_type(events, "monitor.changed")]
    assert changes == [("listen", "whisper"), ("whisper", "barge"), ("barge", "listen")]
    (ended,) = of_type(events, "monitor.ended")
    assert ended["reason"] == "stopped" and ended["supervisor"] == "sue"
    assert set(ended["modes"]) == {"listen", "whisper", "barge"}
    assert 2.5 <= ended["modes"]["whisper"] <= 9 and 2.5 <= ended["modes"]["barge"] <= 9
    assert ended["seconds"] == pytest.approx(sum(ended["modes"].values()), abs=0.2)
    kinds = [e.type for e in events]
    assert kinds.index("monitor.ended") < kinds.index("queue.call_ended")


def test_monitoring_ends_with_the_call(
    hotline: RunningHotline, tones: dict[str, TonePhone]
) -> None:
    """carol hangs up while sue listens: the monitoring ends with the call (sue's
    phone is hung up), logged as call_ended; a call that ended cannot be monitored."""
    carol = phone_with_media(hotline, "carol", tones["carol"], "answer", ring=0.3, talk=8)
    sue = phone_with_media(hotline, "sue", tones["sue"], "answer_until_hangup", ring=0.3, talk=60)

    async def control() -> None:
        contact = await live_contact(hotline, "5551802")
        path = f"/api/calls/{contact}/monitor"
        async with Api(hotline, "sue") as supervisor:
            got, answer = await supervisor.call("POST", path, {"mode": "whisper"})
            assert got == 200, answer
            await connected(supervisor, contact)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # carol hangs up about 8 s in
                got, _ = await supervisor.call("GET", path)
                if got == 404:
                    break
                await asyncio.sleep(0.2)
            assert got == 404
            got, answer = await supervisor.call("POST", path, {"mode": "listen"})
            assert got == 404 and "no live call" in answer["error"], answer

    call = caller(hotline, "5551802", tones["caller"])
    asyncio.run(control())
    result = call.wait(90)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert carol.wait_done().ok
    assert sue.wait_done(30).ok, sue.messages()
    _, events = contact_of(hotline, "5551802")
    (ended,) = of_type(events, "monitor.ended")
    assert ended["reason"] == "call_ended" and ended["modes"].keys() == {"whisper"}


def test_the_supervisor_hangs_up_and_the_call_goes_on(
    hotline: RunningHotline, tones: dict[str, TonePhone]
) -> None:
    """sue barges in, then hangs up her phone: the monitoring ends (hung_up), the
    caller and carol go on talking, hearing each other and no more of sue."""
    # carol talks until the caller hangs up, once the window after sue's hang-up is measured.
    carol = phone_with_media(
        hotline, "carol", tones["carol"], "answer_until_hangup", ring=0.3, talk=60
    )
    sue = phone_with_media(hotline, "sue", tones["sue"], "answer", ring=0.3, talk=3)
    marks: dict[str, float] = {}

    async def control() -> None:
        contact = await live_contact(hotline, "5551804")
        path = f"/api/calls/{contact}/monitor"
        async with Api(hotline, "sue") as supervisor, Api(hotline, None) as admin:
            got, answer = await supervisor.call("POST", path, {"mode": "barge"})
            assert got == 200, answer
            await connected(supervisor, contact)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:  # sue hangs up 3 s after answering
                got, _ = await supervisor.call("GET", path)
                if got == 404:
                    break
                await asyncio.sleep(0.2)
            assert got == 404
            got, answer = await admin.call("GET", f"/api/calls/{contact}")
            assert got == 200, "the call goes on"
            await asyncio.sleep(1.0)
            marks["start"] = time.monotonic()
            await asyncio.sleep(2.5)
            marks["end"] = time.monotonic()

    call = caller(hotline, "5551804", tones["caller"], gated=True)
    try:
        asyncio.run(control())
    finally:
        call.open_gate()  # the caller hangs up
    result = call.wait(90)
    assert result.ok, f"{result.output}\n{hotline.log_tail()}"
    assert carol.wait_done().ok
    assert sue.wait_done(30).ok, sue.messages()
    window = (marks["start"], marks["end"])
    assert tones["caller"].share(AGENT, *window) >= HIGH
    assert tones["carol"].share(CALLER, *window) >= HIGH
    assert tones["caller"].share(SUPERVISOR, *window) <= LOW
    _, events = contact_of(hotline, "5551804")
    (ended,) = of_type(events, "monitor.ended")
    assert ended["reason"] == "hung_up" and list(ended["modes"]) == ["barge"]
    assert 1.5 <= ended["seconds"] <= 6
