"""Round trips a call no longer makes (issue 15): the answer is sent while the contact
opens and not again; a call the flow hung up is not hung up a second time; a caller who
hung up before the answer is a caller gone, not an error."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ari_app.client import AriNotFound
from ari_app.voice_port import VoicePort
from hotline.flows.loader import FlowSet
from hotline.flows.port import CallerGone
from hotline.flows.services import FlowServices
from hotline.store import Store
from tests.unit.voice.fake_ari import FakeAri, channel_event, prompts, settle
from tests.unit.voice.test_transfers import Desk
from tests.unit.voice.test_voice_queue import Call, eventually
from voice.contact import ContactCall, VoiceRuntime
from voice.recordings import Recordings


def port_on(ari: FakeAri, tmp_path: Path) -> VoicePort:
    async def emit(kind: str, data: dict[str, object]) -> None:
        pass

    return VoicePort(ari, "ch", prompts(tmp_path), emit, recordings=Recordings("/r", None))


async def test_an_answer_sent_early_is_not_sent_again(tmp_path: Path) -> None:
    ari = FakeAri()
    port = port_on(ari, tmp_path)
    port.start_answer()
    await settle()
    assert [r.path for r in ari.made("POST")] == ["channels/ch/answer"]  # sent at once
    await port.answer()
    await port.answer()  # a later answer (none is) asks again
    assert [r.path for r in ari.made("POST")] == ["channels/ch/answer"] * 2


async def test_a_caller_gone_before_the_early_answer_is_gone(tmp_path: Path) -> None:
    ari = FakeAri()
    ari.failures[("POST", "channels/ch/answer")] = AriNotFound(404, "Channel not found")
    port = port_on(ari, tmp_path)
    port.start_answer()
    await settle()
    assert port.gone
    with pytest.raises(CallerGone):
        await port.answer()


def no_services(contact_id: str) -> FlowServices:
    raise AssertionError("no flow runs")


async def test_a_call_the_flow_hung_up_is_hung_up_once(store: Store, tmp_path: Path) -> None:
    runtime = VoiceRuntime(
        store=store,
        prompts=prompts(tmp_path),
        flows=FlowSet(),
        numbers={},
        services_for=no_services,
        default_language="en",
        recordings=Recordings("/recordings", None),
    )
    call = ContactCall(
        runtime, channel_id="ch", caller="5550001", dialed="100", via="ari", errors=()
    )
    contact_id = await store.open_contact("voice", "inbound", "5550001", "100")
    call.adopt(contact_id)
    ari = FakeAri()
    port = VoicePort(ari, "ch", runtime.prompts, call.emit, recordings=runtime.recordings)

    async def rest() -> None:
        await port.hangup()  # the flow's `hangup` node

    await call.resume(port, rest)
    assert ari.hung_up() == ["ch"]
    (end,) = [e.data for e in await store.events(contact_id) if e.type == "call.ended"]
    assert end["hung_up_by"] == "hotline"


async def test_a_call_still_up_at_the_end_is_hung_up(store: Store, tmp_path: Path) -> None:
    runtime = VoiceRuntime(
        store=store,
        prompts=prompts(tmp_path),
        flows=FlowSet(),
        numbers={},
        services_for=no_services,
        default_language="en",
        recordings=Recordings("/recordings", None),
    )
    call = ContactCall(
        runtime, channel_id="ch", caller="5550001", dialed="100", via="ari", errors=()
    )
    contact_id = await store.open_contact("voice", "inbound", "5550001", "100")
    call.adopt(contact_id)
    ari = FakeAri()
    port = VoicePort(ari, "ch", runtime.prompts, call.emit, recordings=runtime.recordings)

    async def rest() -> None:
        pass  # the flow ended without hanging up

    await call.resume(port, rest)
    assert ari.hung_up() == ["ch"]


async def test_under_call_control_the_agents_leg_is_rung_referring_to_us(tmp_path: Path) -> None:
    """PJSIP_TRANSFER_HANDLING() goes with the ring (originate's variables), not in a
    request of its own once the agent answers."""
    desk = Desk(tmp_path)
    await desk.talking_with_a()
    (ring,) = desk.ari.originated()
    assert ring.body == {"variables": {"PJSIP_TRANSFER_HANDLING()": "ari-only"}}
    assert desk.ari.made("POST", f"channels/{ring.param('channelId')}/variable") == []


async def test_without_call_control_the_leg_is_rung_plainly(tmp_path: Path) -> None:
    call = Call(tmp_path, "a")
    await call.start()
    await eventually(call.ari.originated)
    (ring,) = call.ari.originated()
    leg = ring.param("channelId")
    assert ring.body is None
    call.port.deliver(channel_event("StasisStart", leg))
    await eventually(lambda: call.said("queue.connected"))
    assert call.ari.made("POST", f"channels/{leg}/variable") == []


async def test_a_conversation_not_rung_referring_sets_it_on_answer(tmp_path: Path) -> None:
    """A leg rung elsewhere (a callback's, an outbound call's) still gets the setting
    once it talks under call control."""
    desk = Desk(tmp_path)
    conversation = desk.queueing.conversation(desk.port, "c1", None)
    talking = asyncio.ensure_future(conversation.talk("a", "q", "leg-x", record=False))
    await eventually(lambda: desk.ari.made("POST", "channels/leg-x/variable"))
    (set_it,) = desk.ari.made("POST", "channels/leg-x/variable")
    assert (set_it.param("variable"), set_it.param("value")) == (
        "PJSIP_TRANSFER_HANDLING()",
        "ari-only",
    )
    talking.cancel()
