"""The callback dialer over a fake ARI (ari_app/callback_dialer.py): agent first,
customer first, and the attempts that fail."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ari_app.callback_dialer import CallbackCalls
from ari_app.client import AriEvent
from hotline.acd import Channel
from hotline.callbacks.service import AttemptResult
from hotline.callbacks.settings import CallbackConfig, QueueCallback
from hotline.store.callbacks import Callback
from tests.unit.voice.fake_ari import (
    FakeAri,
    Request,
    channel_event,
    log_in,
    prompts,
    routing,
)

NUMBER = "5551234"


async def eventually(check: Callable[[], object], timeout: float = 1.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.001)


def callback() -> Callback:
    now = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    return Callback(
        seq=7,
        contact_id="cb1",
        origin_contact_id="c1",
        queue="q",
        number=NUMBER,
        state="queued",
        source="queue",
        priority=0,
        language="en",
        entered_at=now,
        requested_at=now,
        scheduled_for=None,
        next_attempt_at=None,
        attempts=0,
        outcome=None,
        updated_at=now,
    )


class Dialer:
    """One callback's turn with agent "a" (1001) logged in."""

    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self.ari = FakeAri()
        self.routing, self.log = routing("a")
        self.followed: dict[str, Callable[[AriEvent], None]] = {}
        self.calls = CallbackCalls(
            self.ari,
            self.routing,
            self.log,
            prompts(tmp_path),
            CallbackConfig(dial_template="PJSIP/{number}@trunk", caller_id="100"),
            {"a": "1001"},
            self.followed,
        )
        self.settings = QueueCallback(min_talk_seconds=0, **settings)
        self.dialed: list[str] = []

    async def start(self) -> asyncio.Task[AttemptResult]:
        await log_in(self.routing, "a")
        ticket = await self.routing.enqueue("cb1", Channel.CALLBACK, "q")

        async def dialing(agent: str) -> int:
            self.dialed.append(agent)
            return len(self.dialed)

        turn = self.calls.attempt(callback(), ticket, self.settings, dialing)
        return asyncio.ensure_future(turn)

    async def leg(self, kind: str, nth: int = 0) -> str:
        """The id of the `nth` leg of this kind ("agent", "customer") once dialed."""

        def legs() -> list[str]:
            ids = [r.param("channelId") for r in self.ari.originated()]
            return [leg for leg in ids if f"-{kind}-" in leg]

        await eventually(lambda: len(legs()) > nth)
        return legs()[nth]

    def send(self, event: AriEvent) -> None:
        channel = event.get("channel", {}).get("id") or event["playback"]["target_uri"][8:]
        self.followed[channel](event)

    async def answer(self, leg: str) -> None:
        await eventually(lambda: leg in self.followed)
        self.send(channel_event("StasisStart", leg))

    async def finish_playback(self, leg: str, nth: int = 0) -> None:
        """The `nth` prompt played to `leg` ends."""

        def plays() -> list[Request]:
            return self.ari.made("POST", f"channels/{leg}/play")

        await eventually(lambda: len(plays()) > nth)
        playback = plays()[nth].param("playbackId")
        self.send(
            {
                "type": "PlaybackFinished",
                "playback": {"id": playback, "target_uri": f"channel:{leg}"},
            }
        )

    def steps(self) -> list[str]:
        return [data["event"] for data in self.log.of("callback.attempt")]


async def test_agent_first_the_agent_hears_whom_they_call_then_the_customer_answers(
    tmp_path: Path,
) -> None:
    dialer = Dialer(tmp_path)
    turn = await dialer.start()
    agent = await dialer.leg("agent")
    ring = dialer.ari.originated()[0]
    assert (ring.param("endpoint"), ring.param("callerId")) == ("PJSIP/1001", NUMBER)
    await dialer.answer(agent)
    await dialer.finish_playback(agent)  # the whisper
    customer = await dialer.leg("customer")
    dial = dialer.ari.originated()[-1]
    assert (dial.param("endpoint"), dial.param("callerId")) == (f"PJSIP/{NUMBER}@trunk", "100")
    assert dialer.ari.played(agent)[-1] == ["tone:ring"]  # the agent hears it ring
    await dialer.answer(customer)
    await eventually(lambda: "answered" in dialer.steps())
    (bridge,) = [r for r in dialer.ari.made("POST", "bridges/") if r.path.endswith("addChannel")]
    assert bridge.param("channel") == f"{agent},{customer}"
    dialer.send(channel_event("StasisEnd", customer))
    result = await asyncio.wait_for(turn, 1)
    assert (result.outcome, result.agent) == ("completed", "a")
    assert result.detail is not None and result.detail["ended_by"] == "customer"
    assert dialer.steps() == ["whisper", "answered"] and dialer.dialed == ["a"]
    assert dialer.followed == {} and set(dialer.ari.hung_up()) >= {agent, customer}


async def test_a_busy_customer_ends_the_attempt_as_busy(tmp_path: Path) -> None:
    dialer = Dialer(tmp_path)
    turn = await dialer.start()
    agent = await dialer.leg("agent")
    await dialer.answer(agent)
    await dialer.finish_playback(agent)
    customer = await dialer.leg("customer")
    dialer.send(channel_event("ChannelDestroyed", customer, cause=17))
    result = await asyncio.wait_for(turn, 1)
    assert (result.outcome, result.agent, result.detail) == ("busy", "a", {"cause": 17})
    assert dialer.log.of("agent.finish") and dialer.followed == {}


async def test_an_agent_who_does_not_answer_is_passed_over_and_rung_again(
    tmp_path: Path,
) -> None:
    dialer = Dialer(tmp_path)
    turn = await dialer.start()
    first = await dialer.leg("agent")
    dialer.send(channel_event("ChannelDestroyed", first, cause=19))
    second = await dialer.leg("agent", 1)  # the only agent: offered again
    assert second != first
    assert [d.get("reason") for d in dialer.log.of("contact.requeue")] == ["no_answer by a"]
    turn.cancel()
    await asyncio.gather(turn, return_exceptions=True)
    assert dialer.followed == {} and second in dialer.ari.hung_up()


async def test_an_agent_who_hangs_up_during_the_whisper_leaves_the_callback_its_place(
    tmp_path: Path,
) -> None:
    dialer = Dialer(tmp_path)
    turn = await dialer.start()
    agent = await dialer.leg("agent")
    await dialer.answer(agent)
    await eventually(lambda: dialer.ari.played(agent))
    dialer.send(channel_event("StasisEnd", agent))
    result = await asyncio.wait_for(turn, 1)
    assert (result.outcome, result.agent) == ("requeue", "a")
    assert dialer.dialed == []  # nothing was dialed: no attempt used


async def test_customer_first_the_customer_waits_with_music_while_the_agent_rings(
    tmp_path: Path,
) -> None:
    dialer = Dialer(tmp_path, order="customer_first")
    turn = await dialer.start()
    customer = await dialer.leg("customer")
    assert dialer.ari.originated()[0].param("endpoint") == f"PJSIP/{NUMBER}@trunk"
    await dialer.answer(customer)
    await dialer.finish_playback(customer)  # "the Hotline is calling you back"
    await eventually(lambda: dialer.ari.made("POST", f"channels/{customer}/moh"))
    agent = await dialer.leg("agent")
    assert dialer.ari.originated()[-1].param("originator") == customer
    await dialer.answer(agent)
    await dialer.finish_playback(agent)  # the whisper
    await eventually(lambda: "answered" in dialer.steps())
    assert dialer.ari.made("DELETE", f"channels/{customer}/moh")
    dialer.send(channel_event("StasisEnd", agent))
    result = await asyncio.wait_for(turn, 1)
    assert (result.outcome, result.agent) == ("completed", "a")
    assert result.detail is not None and result.detail["ended_by"] == "agent"
    assert dialer.steps() == ["customer_on_line", "whisper", "answered"]


async def test_customer_first_an_agent_who_cannot_take_it_is_apologised_for(
    tmp_path: Path,
) -> None:
    dialer = Dialer(tmp_path, order="customer_first")
    turn = await dialer.start()
    customer = await dialer.leg("customer")
    await dialer.answer(customer)
    await dialer.finish_playback(customer)
    agent = await dialer.leg("agent")
    dialer.send(channel_event("ChannelDestroyed", agent, cause=17))
    await dialer.finish_playback(customer, 1)  # "sorry, we will call again"
    result = await asyncio.wait_for(turn, 1)
    assert (result.outcome, result.agent) == ("agent_unavailable", "a")
    assert result.detail == {"error": "agent busy"}
    assert dialer.ari.played(customer)[-1] == ["sound:callback_sorry"]
