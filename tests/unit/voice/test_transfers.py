"""Blind transfers to an agent or a queue over a fake ARI (ari_app/call_control.py,
conversation.py, queueing.py): the checks before the call is touched, the agent's part
ending, the caller offered to the named agent alone (or waiting in the queue at its
transfer priority), and a transfer nobody answers going back to the call's queue."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ari_app.call_control import AriCallControl
from ari_app.holding import HoldingBridges
from ari_app.queueing import Queueing, VoiceQueue
from ari_app.recording import LiveRecordings
from ari_app.voice_port import VoicePort
from hotline.acd import Agent, Queue, Router
from hotline.acd.service import RoutingService
from hotline.acd.settings import QueueSettings
from hotline.calls import Command, Conflict, NotFound, Target, parse_command
from hotline.config import load_config
from hotline.flows.services import QueueRequest
from hotline.yamlsource import SourceError
from tests.unit.voice.fake_ari import EventLog, FakeAri, Followed, channel_event, prompts
from tests.unit.voice.test_voice_queue import eventually
from voice.recordings import Recordings

CALLER = "caller"
ENDPOINTS = {"a": "1001", "b": "1002", "s": "1003"}


class Desk:
    """Caller c1 in queue "q" (agent a; b serves no queue of the call's), queue
    "sales" (agent s, transfer priority 7): the call control, queueing and routing."""

    def __init__(self, tmp_path: Path, **sales: Any) -> None:
        self.ari = FakeAri()
        router = Router()
        router.add_queue(Queue("q", ring_timeout=5))
        router.add_queue(Queue("sales", ring_timeout=5))
        router.add_agent(Agent("a", queues={"q": 0}))
        router.add_agent(Agent("b", queues={"other": 0}))
        router.add_agent(Agent("s", queues={"sales": 0}))
        self.log = EventLog()
        self.routing = RoutingService(router, self.log)
        self.emitted: list[tuple[str, dict[str, Any]]] = []

        async def emit(kind: str, data: dict[str, Any]) -> None:
            self.emitted.append((kind, data))

        self.port = VoicePort(
            self.ari,
            CALLER,
            prompts(tmp_path),
            emit,
            recordings=Recordings("/recordings", None),
            follow=Followed(),
            caller_id="5551234",
        )
        settings = {
            "q": QueueSettings(),
            "sales": QueueSettings(transfer_priority=7, music_on_hold="jazz", **sales),
        }
        self.calls = AriCallControl(
            self.ari, settings, agents=list(ENDPOINTS), routing=self.routing, endpoints=ENDPOINTS
        )
        self.queueing = Queueing(
            routing=self.routing,
            settings=settings,
            endpoints=ENDPOINTS,
            bridges=HoldingBridges(self.ari),
            recordings=LiveRecordings(self.ari),
            calls=self.calls,
        )

    async def talking_with_a(self, *others: str) -> tuple[asyncio.Task[str], str]:
        """c1 waits in q and a answers; `others` log in meanwhile."""
        await self.routing.login("a")
        wait = VoiceQueue(self.queueing, self.port, "c1").run(
            QueueRequest("q", 0, {}, None, "en", {})
        )
        task = asyncio.ensure_future(wait)
        leg = await self.rung("1001")
        self.port.deliver(channel_event("StasisStart", leg))
        await eventually(lambda: self.calls.state("c1") is not None)
        for agent in others:
            await self.routing.login(agent)
        return task, leg

    async def rung(self, endpoint: str, nth: int = 1) -> str:
        """The leg of the `nth` ring of `endpoint`."""

        def legs() -> list[str]:
            return [
                r.param("channelId")
                for r in self.ari.originated()
                if r.param("endpoint") == f"PJSIP/{endpoint}"
            ]

        await eventually(lambda: len(legs()) >= nth)
        return legs()[nth - 1]

    def said(self, kind: str) -> list[dict[str, Any]]:
        return [data for k, data in self.emitted if k == kind]

    def kinds(self) -> list[str]:
        return [k for k, _ in self.emitted]


def holding(desk: Desk, queue: str) -> list[Any]:
    """The caller's joins of `queue`'s holding bridge (hold-<queue>..., however named)."""
    return [
        r
        for r in desk.ari.made("POST", f"bridges/hold-{queue}")
        if r.path.endswith("/addChannel") and r.path.split("/")[1].startswith(f"hold-{queue}")
    ]


def transfer(to: str, note: str = "") -> Command:
    return parse_command("transfer", {"to": to, "note": note})


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return Desk(tmp_path)


async def test_to_an_agent_the_caller_rings_them_alone_and_talks_with_them(desk: Desk) -> None:
    wait, a_leg = await desk.talking_with_a("b")
    state = await desk.calls.act("c1", transfer("agent:b", "VIP, billing"), by_agent="a", by="a")
    assert state.agent == "a"
    b_leg = await desk.rung("1002")
    # a's part is over: hung up, to wrap-up, logged before the transfer.
    assert a_leg in desk.ari.hung_up()
    (ended,) = desk.said("queue.call_ended")
    assert (ended["agent"], ended["ended_by"]) == ("a", "transfer")
    assert desk.said("call.transferred") == [
        {"agent": "a", "to": "agent:b", "kind": "blind", "note": "VIP, billing", "by": "a"}
    ]
    assert desk.kinds().index("queue.call_ended") < desk.kinds().index("call.transferred")
    # Offered to b alone, in the call's queue; the caller hears its music meanwhile.
    assert str(desk.routing.agent_status("b")["voice"].state) in ("reserved", "ringing")
    ring = next(r for r in desk.ari.originated() if r.param("channelId") == b_leg)
    assert ring.param("appArgs") == "agent,c1"
    adds = holding(desk, "q")
    assert len(adds) == 2 and adds[-1].param("channel") == CALLER
    desk.port.deliver(channel_event("StasisStart", b_leg))
    await eventually(lambda: desk.calls.live_of_agent("b") == "c1")
    assert desk.calls.state("c1").agent == "b" and desk.calls.state("c1").queue == "q"
    desk.port.deliver(channel_event("StasisEnd", b_leg))  # b hangs up
    assert await asyncio.wait_for(wait, 1) == "answered"
    ends = desk.said("queue.call_ended")
    assert [(e["agent"], e["ended_by"]) for e in ends] == [("a", "transfer"), ("b", "agent")]
    assert [c["agent"] for c in desk.said("queue.connected")] == ["a", "b"]


async def test_an_agent_who_does_not_answer_sends_the_caller_back_to_the_queue(
    desk: Desk,
) -> None:
    wait, _ = await desk.talking_with_a("b")
    await desk.calls.act("c1", transfer("agent:b"), by_agent="a")
    b_leg = await desk.rung("1002")
    desk.port.deliver(channel_event("ChannelDestroyed", b_leg, cause=21))  # b declines
    # Back in q, at its first place; a (free again: no wrap-up) is offered it.
    a_again = await desk.rung("1001", 2)
    (back,) = desk.said("transfer.ended")
    assert back["target"] == "agent:b" and back["outcome"] == "timeout"
    assert back["back_to"] == "q" and "b did not take the call" in back["reason"]
    joins = [d for kind, c, d in desk.log.records if kind == "contact.join" and c == "c1"]
    assert len(joins) == 3  # q, q for b alone, q again
    desk.port.deliver(channel_event("StasisStart", a_again))
    await eventually(lambda: desk.calls.live_of_agent("a") == "c1")
    desk.port.deliver(channel_event("StasisEnd", a_again))
    assert await asyncio.wait_for(wait, 1) == "answered"
    assert [e["agent"] for e in desk.said("queue.call_ended")] == ["a", "a"]


async def test_a_caller_who_hangs_up_while_the_agent_rings_is_gone_once(desk: Desk) -> None:
    wait, _ = await desk.talking_with_a("b")
    await desk.calls.act("c1", transfer("agent:b"), by_agent="a")
    b_leg = await desk.rung("1002")
    desk.port.deliver(channel_event("StasisEnd", CALLER))
    with pytest.raises(Exception) as gone:
        await asyncio.wait_for(wait, 1)
    assert type(gone.value).__name__ == "CallerGone"
    assert b_leg in desk.ari.hung_up()
    assert desk.routing.agent_status("b")["voice"].state == "available"
    leaves = [d.get("detail") for kind, c, d in desk.log.records if kind == "contact.leave"]
    assert leaves == ["left"]


@pytest.mark.parametrize(
    ("to", "error", "says"),
    [
        ("agent:zed", NotFound, "no agent 'zed'"),
        ("agent:a", Conflict, "contact c1 is already with a"),
        ("agent:b", Conflict, "cannot transfer to b: agent b is offline on voice"),
        ("agent:s", Conflict, "cannot transfer to s: agent s is paused on voice"),
        ("queue:nowhere", NotFound, "no queue 'nowhere'"),
    ],
)
async def test_refused_transfers_leave_the_call_as_it_was(
    desk: Desk, to: str, error: type, says: str
) -> None:
    await desk.routing.login("s")
    await desk.routing.pause("s", "lunch")
    wait, a_leg = await desk.talking_with_a()
    before = (len(desk.ari.requests), len(desk.emitted), len(desk.log.records))
    with pytest.raises(error) as refused:
        await desk.calls.act("c1", transfer(to), by_agent="a")
    assert says in str(refused.value)
    assert (len(desk.ari.requests), len(desk.emitted), len(desk.log.records)) == before
    assert desk.calls.state("c1").agent == "a" and desk.port.inbox.empty()
    desk.port.deliver(channel_event("StasisEnd", a_leg))
    assert await asyncio.wait_for(wait, 1) == "answered"


async def test_an_agent_on_another_call_is_busy(desk: Desk) -> None:
    await desk.routing.login("b")
    other = await desk.routing.enqueue("c0", "voice", "q", agent="b")
    await desk.routing.accepted(other.offers.get_nowait())  # b took another call
    wait, a_leg = await desk.talking_with_a()
    with pytest.raises(Conflict, match="cannot transfer to b: agent b is busy on voice"):
        await desk.calls.act("c1", transfer("agent:b"), by_agent="a")
    desk.port.deliver(channel_event("StasisEnd", a_leg))
    assert await asyncio.wait_for(wait, 1) == "answered"


async def test_a_second_transfer_while_one_is_in_progress_is_refused(desk: Desk) -> None:
    wait, _ = await desk.talking_with_a("b")
    async with desk.calls.calls["c1"].lock:  # the conversation has not taken it yet
        await desk.calls._transfer(desk.calls.calls["c1"], Target("queue", "sales"), "", "a")
    with pytest.raises(Conflict, match="c1 is being transferred to queue:sales"):
        await desk.calls.act("c1", transfer("agent:b"), by_agent="a")
    await eventually(lambda: desk.said("call.transferred"))
    desk.port.deliver(channel_event("StasisEnd", CALLER))
    with pytest.raises(Exception):  # noqa: B017 (CallerGone: the caller left)
        await asyncio.wait_for(wait, 1)


async def test_to_a_queue_the_contact_waits_there_before_those_who_came_on_their_own(
    desk: Desk,
) -> None:
    await desk.routing.login("s")
    await desk.routing.pause("s", "lunch")
    earlier = await desk.routing.enqueue("c0", "voice", "sales")  # waiting since before
    wait, _ = await desk.talking_with_a()
    await desk.calls.act("c1", transfer("queue:sales", "wants a quote"), by_agent="a")
    await eventually(lambda: holding(desk, "sales"))
    (joined,) = [d for kind, c, d in desk.log.records if kind == "contact.join" and c == "c1"][1:]
    assert "priority 7" in joined.get("detail", "")
    assert desk.routing.position("c1") == 1 and desk.routing.position("c0") == 2
    assert holding(desk, "sales")[0].param("channel") == CALLER
    await desk.routing.unpause("s")
    s_leg = await desk.rung("1003")
    desk.port.deliver(channel_event("StasisStart", s_leg))
    await eventually(lambda: desk.calls.live_of_agent("s") == "c1")
    assert desk.routing.position("c0") == 1  # still waiting: c1 went first
    desk.port.deliver(channel_event("StasisEnd", s_leg))
    assert await asyncio.wait_for(wait, 1) == "answered"
    assert [c["queue"] for c in desk.said("queue.connected")] == ["q", "sales"]
    await desk.routing.leave(earlier.contact_id)


async def test_to_a_queue_that_refuses_newcomers_the_queue_node_ends_closed(
    tmp_path: Path,
) -> None:
    desk = Desk(tmp_path)
    desk.routing._router.update_queue(Queue("sales", join_empty="no_agents"), 0.0)
    wait, _ = await desk.talking_with_a()
    await desk.calls.act("c1", transfer("queue:sales"), by_agent="a")
    assert await asyncio.wait_for(wait, 1) == "closed"
    assert desk.said("call.transferred")[0]["to"] == "queue:sales"


def test_what_a_phone_names_is_an_agent_a_queue_or_a_number(desk: Desk) -> None:
    target = desk.calls.phone_target
    assert target("1002") == Target("agent", "b")
    assert target("b") == Target("agent", "b")
    assert target("sales") == Target("queue", "sales")
    assert target(" 5551234 ") == Target("number", "5551234")


async def test_star_two_with_an_agents_extension_transfers_to_that_agent(desk: Desk) -> None:
    wait, a_leg = await desk.talking_with_a("b")
    for digit in "*21002#":
        desk.port.deliver(channel_event("ChannelDtmfReceived", a_leg, digit=digit))
    await desk.rung("1002")
    (feature,) = desk.said("call.feature")
    assert feature == {"agent": "a", "keys": "*21002#"}
    assert desk.said("call.transferred")[0]["to"] == "agent:b"
    desk.port.deliver(channel_event("StasisEnd", CALLER))
    with pytest.raises(Exception):  # noqa: B017 (CallerGone: the caller left)
        await asyncio.wait_for(wait, 1)


async def test_a_refer_naming_a_queue_transfers_there(desk: Desk) -> None:
    await desk.routing.login("s")
    wait, a_leg = await desk.talking_with_a()
    refer = {"requested_destination": {"destination": "sales"}}
    desk.port.deliver(channel_event("ChannelTransfer", a_leg, refer_to=refer))
    await desk.rung("1003")
    assert desk.said("call.refer") == [{"agent": "a", "to": "sales"}]
    assert desk.said("call.transferred")[0]["to"] == "queue:sales"
    (progress,) = desk.ari.made("POST", f"channels/{a_leg}/transfer_progress")
    assert progress.param("states") == "channel_answered"
    desk.port.deliver(channel_event("StasisEnd", CALLER))
    with pytest.raises(Exception):  # noqa: B017 (CallerGone: the caller left)
        await asyncio.wait_for(wait, 1)


async def test_a_call_taken_over_after_a_restart_goes_to_numbers_only(desk: Desk) -> None:
    emitted: list[Any] = []

    async def emit(kind: str, data: dict[str, Any]) -> None:
        emitted.append(kind)

    desk.calls.open("c9", "a", "q", "x", "leg-x", "talk-x", emit, lambda e: None, routable=False)
    with pytest.raises(Conflict, match="can be transferred to a number only"):
        await desk.calls.act("c9", transfer("queue:sales"), by_agent="a")
    assert emitted == [] and desk.calls.calls["c9"].transfer is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("101", "queues.support.transfer_priority: input should be less than or equal to 100"),
        ("-1", "queues.support.transfer_priority: input should be greater than or equal to 0"),
        ("high", "queues.support.transfer_priority: expected an integer, got 'high'"),
    ],
)
def test_a_bad_transfer_priority_is_refused_with_its_line(
    tmp_path: Path, value: str, says: str
) -> None:
    config = (Path(__file__).parents[3] / "config/hotline.yaml").read_text()
    assert "    transfer_priority: 5\n" in config
    bad = tmp_path / "hotline.yaml"
    bad.write_text(config.replace("transfer_priority: 5\n", f"transfer_priority: {value}\n"))
    line = 1 + config.split("    transfer_priority: 5\n")[0].count("\n")
    with pytest.raises(SourceError) as refused:
        load_config(bad)
    assert f"{bad}:{line}:" in str(refused.value) and says in str(refused.value)


def test_the_demo_support_queue_gives_transferred_calls_priority() -> None:
    config = load_config(Path(__file__).parents[3] / "config/hotline.yaml")
    assert config.queues["support"].transfer_priority == 5
    assert QueueSettings().transfer_priority == 0


async def test_an_attended_refer_is_declined_and_the_call_goes_on(desk: Desk) -> None:
    """A REFER with Replaces (the phone's attended transfer) names the other call by its
    SIP Call-ID: declined, logged, the phone told, the caller still with the agent."""
    wait, a_leg = await desk.talking_with_a("b")
    refer = {"requested_destination": {"destination": "1002", "protocol_id": "abc@phone"}}
    desk.port.deliver(channel_event("ChannelTransfer", a_leg, refer_to=refer))
    # Asterisk echoes the progress reported: not a second REFER.
    echo = channel_event("ChannelTransfer", a_leg, refer_to=refer, state="channel_declined")
    desk.port.deliver(echo)
    await eventually(lambda: desk.said("call.refer"))
    await asyncio.sleep(0.05)
    (logged,) = desk.said("call.refer")
    assert logged["to"] == "1002" and logged["attended"] is True
    assert "the phone's other call is not one Hotline has" in logged["refused"]
    (progress,) = desk.ari.made("POST", f"channels/{a_leg}/transfer_progress")
    assert progress.param("states") == "channel_declined"
    assert desk.said("call.transferred") == [] and desk.calls.state("c1").agent == "a"
    assert len(desk.ari.originated()) == 1  # only a was ever rung
    desk.port.deliver(channel_event("StasisEnd", a_leg))
    assert await asyncio.wait_for(wait, 1) == "answered"


async def test_an_attended_refer_naming_a_call_that_is_no_consultation_is_declined(
    desk: Desk,
) -> None:
    """The phone's other call is a channel Asterisk has, but no consultation of this
    call (the agent consults nobody): declined with the reason, the call untouched."""
    wait, a_leg = await desk.talking_with_a("b")
    refer = {
        "requested_destination": {"destination": "1002", "protocol_id": "abc@phone"},
        "destination_channel": {"id": "some-other-call"},
    }
    desk.port.deliver(channel_event("ChannelTransfer", a_leg, refer_to=refer))
    await eventually(lambda: desk.said("call.refer"))
    (logged,) = desk.said("call.refer")
    assert "is not a consultation of this call" in logged["refused"]
    (progress,) = desk.ari.made("POST", f"channels/{a_leg}/transfer_progress")
    assert progress.param("states") == "channel_declined"
    assert desk.said("call.transferred") == [] and desk.calls.state("c1").agent == "a"
    desk.port.deliver(channel_event("StasisEnd", a_leg))
    assert await asyncio.wait_for(wait, 1) == "answered"


async def test_the_target_queues_recording_policy_holds_for_the_transferred_call(
    tmp_path: Path,
) -> None:
    """q does not record, sales does: the caller is told before waiting there, and the
    conversation with sales's agent is recorded (not the one with a)."""
    desk = Desk(tmp_path, recording="on")
    await desk.routing.login("s")
    wait, _ = await desk.talking_with_a()
    assert not [r for r in desk.ari.requests if r.path.endswith("/record")]
    await desk.calls.act("c1", transfer("queue:sales"), by_agent="a")

    def notice() -> list[Any]:
        plays = desk.ari.made("POST", f"channels/{CALLER}/play")
        return [r for r in plays if r.all("media") == ["sound:recording_notice"]]

    await eventually(notice)  # told before waiting in sales
    played = {"id": notice()[0].param("playbackId"), "state": "done"}
    desk.port.deliver({"type": "PlaybackFinished", "playback": played})
    s_leg = await desk.rung("1003")
    desk.port.deliver(channel_event("StasisStart", s_leg))
    await eventually(lambda: desk.said("recording.started"))
    (record,) = [r for r in desk.ari.requests if r.path.endswith("/record")]
    assert record.path == f"bridges/talk-{s_leg}/record"
    assert desk.said("recording.started")[0]["agent"] == "s"
    desk.port.deliver(channel_event("StasisEnd", s_leg))
    assert await asyncio.wait_for(wait, 1) == "answered"


async def test_an_agent_who_became_unavailable_meanwhile_sends_the_caller_back(
    desk: Desk,
) -> None:
    """b is free when the transfer is checked but paused before the caller is offered:
    the engine refuses the contact for b and the caller goes back to q, not dropped."""
    wait, _ = await desk.talking_with_a("b")
    call = desk.calls.calls["c1"]
    async with call.lock:  # the conversation ends a's part only once this is released
        await desk.calls._transfer(call, Target("agent", "b"), "", "a")
        await desk.routing.pause("b", "lunch")
    a_again = await desk.rung("1001", 2)
    (back,) = desk.said("transfer.ended")
    assert (back["outcome"], back["back_to"]) == ("refused", "q")
    assert back["reason"] == "agent b is paused on voice"
    assert [r.param("endpoint") for r in desk.ari.originated()] == ["PJSIP/1001"] * 2
    desk.port.deliver(channel_event("StasisStart", a_again))
    await eventually(lambda: desk.calls.live_of_agent("a") == "c1")
    desk.port.deliver(channel_event("StasisEnd", a_again))
    assert await asyncio.wait_for(wait, 1) == "answered"
