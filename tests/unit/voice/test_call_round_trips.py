"""Round trips a call no longer makes (issue 15): the answer is sent while the contact
opens and not again; a call the flow hung up is not hung up a second time; a caller who
hung up before the answer is a caller gone, not an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from ari_app.client import AriNotFound
from ari_app.voice_port import VoicePort
from hotline.flows.loader import FlowSet
from hotline.flows.port import CallerGone
from hotline.flows.services import FlowServices
from hotline.store import Store
from tests.unit.voice.fake_ari import FakeAri, prompts, settle
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
