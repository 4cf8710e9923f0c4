"""A FastAGI call's queue node runs on the ARI side (ari_app/app.py): the call waits
there and goes back to the dialplan with the outcome, and its contact, which runs on
the AGI side, is told directly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from ari_app.app import StasisApp
from ari_app.holding import HoldingBridges
from ari_app.queueing import Queueing
from ari_app.recording import LiveRecordings
from hotline.acd.settings import QueueSettings
from hotline.contacts import ContactRun
from hotline.flows.loader import FlowSet
from hotline.flows.services import FlowServices, QueueRequest
from hotline.store import Store
from tests.unit.voice.fake_ari import FakeAri, channel_event, prompts, routing
from voice import handoff
from voice.contact import VoiceRuntime
from voice.recordings import Recordings

CHANNEL = "agi-call"


async def eventually(check: Callable[[], object], timeout: float = 1.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.001)


def no_services(contact_id: str) -> FlowServices:
    raise AssertionError("the hand-off runs no flow")


async def test_the_handed_over_call_leaves_with_the_key_and_its_contact_is_told(
    store: Store, tmp_path: Path
) -> None:
    ari = FakeAri()
    service, _ = routing()
    runtime = VoiceRuntime(
        store=store,
        prompts=prompts(tmp_path),
        flows=FlowSet(),
        numbers={},
        services_for=no_services,
        default_language="en",
        recordings=Recordings("/recordings", None),
    )
    queueing = Queueing(
        routing=service,
        settings={"q": QueueSettings.model_validate({"leave_key": "*"})},
        endpoints={},
        bridges=HoldingBridges(ari, token="t"),
        recordings=LiveRecordings(ari),
    )
    stasis = StasisApp(runtime, ari, queueing=queueing)
    contact_id = await store.open_contact("voice", "inbound", "5550001", "100")
    run = runtime.runs[contact_id] = ContactRun()  # the AGI side's open contact
    request = QueueRequest("q", 0, {}, None, "en", {})
    args = ["queue", *handoff.encode(request, contact_id)]
    await stasis.handle({"type": "StasisStart", "args": args, "channel": {"id": CHANNEL}})
    await eventually(lambda: ari.made("POST", "bridges/hold-q-t-1/addChannel"))
    await stasis.handle(channel_event("ChannelDtmfReceived", CHANNEL, digit="*"))
    await eventually(lambda: ari.made("POST", f"channels/{CHANNEL}/continue"))
    (returned,) = [
        r
        for r in ari.made("POST", f"channels/{CHANNEL}/variable")
        if r.param("variable") != "CHANNEL(musicclass)"  # the holding bridge's music
    ]
    assert returned.param("variable") == handoff.QUEUE_OUTCOME_VARIABLE
    assert returned.param("value") == "left"
    assert run.queue_outcomes == ["left"]
    assert [e.type for e in await store.events(contact_id)] == ["queue.left"]
