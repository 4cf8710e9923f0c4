"""A controller killed while an agent consults (issue 16): the caller on hold is brought
back to the agent, not left on hold for ever.

The test runs its own Asterisk (as tests/e2e/test_recovery.py does): a SIPp caller
reaches carol (a SIPp phone) through e2e_fifo (304); carol consults a number (the
"customer" SIPp phone) through the REST API and talks with it while the caller hears
music on hold; the controller is killed (SIGKILL) and started again. The new one
hangs the consulted party up, stops the music and puts the caller back with carol:
measured at both (each one's tone reaches the other), and logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.sipp import Gate, HangUp, SippCall
from tests.e2e.test_call_consult import HEARS, Phone, Voice, consult, heard_by, until_state
from tests.e2e.test_call_control import Api, live_contact
from tests.e2e.test_recovery import Site, ended, no_leaks, running_site

pytestmark = pytest.mark.e2e


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with running_site(tmp_path, speech=False) as place:  # nothing here listens
        yield place


def test_a_controller_killed_mid_consultation_brings_the_caller_back(site: Site) -> None:
    hotline = site.start()
    caller_voice, carol_voice, party_voice = Voice("caller"), Voice("carol"), Voice("party")
    carol = Phone(hotline, "carol", carol_voice, ring=0.5, gate=False)
    party = Phone(hotline, "customer", party_voice, ring=1.0, gate=False)
    caller = SippCall(
        site.workdir / "sipp",
        site.config["asterisk"]["sip_port"],
        "304",
        "5559101",
        [Gate(150), HangUp()],
        rtp_port=caller_voice.port,
    ).start()
    site.callers.append(caller)
    heard: dict[str, dict[str, float]] = {}
    states: dict[str, Any] = {}
    try:

        async def before() -> str:
            contact = await live_contact(hotline, "5559101")
            await asyncio.to_thread(caller_voice.learn, caller.workdir / "messages.log")
            await asyncio.to_thread(carol.answered)
            async with Api(hotline, "carol") as api:
                await consult(api, contact)
            party.answered()
            return contact

        contact = asyncio.run(before())
        heard["carol consults"] = heard_by(carol_voice, party_voice, caller_voice)
        site.kill()
        hotline = site.start()
        recovered = site.until(lambda: site.events(["controller.recovered"]), 30, "recovery")
        assert recovered[-1].data["talking"] == 1, recovered[-1].data
        # The consulted number is hung up by the new controller.
        done = party.wait_done(30)
        assert done.ok, f"{done.output}\n{party.messages()[-3000:]}"

        async def after() -> None:
            async with Api(hotline, "carol") as api:
                states["call"] = await until_state(
                    api,
                    contact,
                    lambda status, st: status == 200 and not st["held"] and st["consult"] is None,
                    timeout=20,
                )

        asyncio.run(after())
        heard["carol talks"] = heard_by(carol_voice, caller_voice)
        heard["caller talks"] = heard_by(caller_voice, carol_voice)
        caller.open_gate()
        result = caller.wait(30)
        assert result.ok, f"{result.output}\n{site.log_tail()}"
        done = carol.wait_done(30)
        assert done.ok, f"{done.output}\n{carol.messages()[-3000:]}"
    finally:
        for phone in (carol, party):
            phone.stop()
        for voice in (caller_voice, carol_voice, party_voice):
            voice.close()
    # Before the kill: carol and the party talk, the caller on hold hears neither.
    assert heard["carol consults"]["party"] >= HEARS, heard
    # After it: caller and carol hear each other again.
    assert heard["carol talks"]["caller"] >= HEARS, heard
    assert heard["caller talks"]["carol"] >= HEARS, heard
    assert states["call"]["state"]["agent"] == "carol"

    closed = site.until(lambda: ended(site, "5559101"), 10, "contact closed")
    assert closed.status == "completed"
    _, events = site.contact("5559101")
    kinds = [e.type for e in events]
    (gave_up,) = [e.data for e in events if e.type == "call.consult_ended"]
    assert (gave_up["outcome"], gave_up["by"], gave_up["to"]) == (
        "failed",
        "controller_restart",
        "number:5557801",
    )
    (resumed,) = [e.data for e in events if e.type == "call.resumed"]
    assert (resumed["by"], resumed["agent"], resumed["ended"]) == ("recovery", "carol", False)
    assert resumed["hold_seconds"] > 0
    assert kinds.index("call.consult_ended") < kinds.index("call.resumed")
    (over,) = [e.data for e in events if e.type == "queue.call_ended"]
    assert (over["agent"], over["ended_by"]) == ("carol", "caller")
    no_leaks(site)
