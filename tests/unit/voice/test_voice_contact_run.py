"""A voice contact's end is decided from what its run was handed (hotline/contacts), not
by reading the event log back: the queue's answer and outcome, a booked callback, a
transfer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from ari_app.voice_port import VoicePort
from hotline.contacts import ContactRun
from hotline.flows.loader import FlowSet
from hotline.flows.port import CallerGone
from hotline.flows.services import CallbackBooking, CallbackRequest, FlowServices
from hotline.store import Store
from tests.unit.voice.fake_ari import FakeAri, prompts
from voice.contact import ContactCall, VoiceRuntime
from voice.recordings import Recordings
from voice.services import VoiceServices


def no_services(contact_id: str) -> FlowServices:
    raise AssertionError("no flow runs")


async def ended(
    store: Store,
    tmp_path: Path,
    happened: Callable[[ContactRun], None],
    transferred: bool = False,
) -> tuple[dict[str, Any], str, dict[str, ContactRun]]:
    """Carry a call on until the caller hangs up, after `happened` told its run."""
    runtime = VoiceRuntime(
        store=store,
        prompts=prompts(tmp_path),
        flows=FlowSet(),
        numbers={},
        services_for=no_services,
        default_language="en",
        recordings=Recordings("/recordings", None),
    )
    runs = runtime.runs
    call = ContactCall(
        runtime,
        channel_id="ch",
        caller="5550001",
        dialed="100",
        via="agi",
        errors=(),
    )
    contact_id = await store.open_contact("voice", "inbound", "5550001", "100")
    call.adopt(contact_id)
    assert runs == {contact_id: call.run}  # where the ARI side finds a FastAGI call

    async def rest() -> None:
        happened(call.run)
        raise CallerGone()

    port = VoicePort(FakeAri(), "ch", runtime.prompts, call.emit, recordings=runtime.recordings)
    port.gone = True  # the caller hung up: nothing left to hang up
    port.transferred = transferred
    await call.resume(port, rest)
    (end,) = [e.data for e in await store.events(contact_id) if e.type == "call.ended"]
    contact = await store.contact(contact_id)
    assert contact is not None
    return end, contact.status, runs


def nothing(run: ContactRun) -> None:
    """The caller hung up before anything served them."""


def answered(run: ContactRun) -> None:
    run.agent_answered = True


def left_queue(run: ContactRun) -> None:
    run.queue_finished("left")


def booked_in_queue(run: ContactRun) -> None:
    run.queue_finished("callback")


@pytest.mark.parametrize(
    ("happened", "reason", "status"),
    [
        (nothing, "caller_hangup", "abandoned"),
        (left_queue, "caller_hangup", "abandoned"),
        (answered, "caller_hangup_after_agent", "completed"),
        (booked_in_queue, "callback_booked", "completed"),
    ],
)
async def test_the_end_follows_what_the_run_was_told_and_nothing_is_read_back(
    store: Store,
    tmp_path: Path,
    happened: Callable[[ContactRun], None],
    reason: str,
    status: str,
) -> None:
    end, closed, runs = await ended(store, tmp_path, happened)
    assert (end["reason"], end["status"], closed) == (reason, status, status)
    assert runs == {}  # closed: no longer found by the ARI side


async def test_a_caller_who_talked_to_a_transfer_target_was_transferred(
    store: Store, tmp_path: Path
) -> None:
    end, closed, _ = await ended(store, tmp_path, nothing, transferred=True)
    assert (end["reason"], closed) == ("transferred", "transferred")


class Booking:
    """The flow services underneath: a callback node books (or is refused)."""

    def __init__(self, booked: bool) -> None:
        self.booked = booked

    async def book_callback(self, request: CallbackRequest) -> CallbackBooking:
        return CallbackBooking(request.number, callback_id="cb1" if self.booked else None)

    async def enqueue(self, request: object) -> str:
        return "closed"


@pytest.mark.parametrize("booked", [True, False])
async def test_a_callback_the_flow_books_is_handed_to_the_run(booked: bool, tmp_path: Path) -> None:
    run = ContactRun()
    below = cast(FlowServices, Booking(booked))  # only book_callback is called
    services = VoiceServices(below, below.enqueue, run)
    request = CallbackRequest(number="5550001", queue="q", language="en", priority=0)
    assert (await services.book_callback(request)).booked is booked
    assert run.callback_booked is booked
