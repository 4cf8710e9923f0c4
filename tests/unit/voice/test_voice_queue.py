"""A caller's time in a queue over a fake ARI (ari_app/queueing.py, waiting.py): what
they hear in the holding bridge, the keys they press, the agent who answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ari_app.holding import HoldingBridges
from ari_app.queueing import Queueing, VoiceQueue
from ari_app.recording import LiveRecordings
from ari_app.voice_port import VoicePort
from hotline.acd.settings import QueueSettings
from hotline.contacts import ContactRun
from hotline.flows.port import CallerGone, Prompt
from hotline.flows.services import QueueRequest
from tests.unit.voice.fake_ari import FakeAri, Followed, channel_event, log_in, prompts, routing
from voice.recordings import Recordings

CALLER = "caller"
#: The caller's holding bridge: the first of a pool that keeps none idle, so that a
#: caller's bridge is destroyed as they stop waiting (the pool: test_holding_bridges.py).
HELD = "hold-q-t-1"


async def eventually(check: Callable[[], object], timeout: float = 1.0) -> None:
    """Wait (a few ms at a time) until `check()` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.001)


class Call:
    """One caller in queue "q", with agents "a" (1001) and "b" (1002) configured."""

    def __init__(self, tmp_path: Path, *agents: str, **queue: Any) -> None:
        self.ari = FakeAri()
        self.routing, self.log = routing(*agents)
        self.agents = agents
        self.emitted: list[tuple[str, dict[str, Any]]] = []
        self.followed = Followed()

        async def emit(kind: str, data: dict[str, Any]) -> None:
            self.emitted.append((kind, data))

        self.port = VoicePort(
            self.ari,
            CALLER,
            prompts(tmp_path),
            emit,
            recordings=Recordings("/recordings", None),
            follow=self.followed,
            caller_id="5551234",
        )
        self.queueing = Queueing(
            routing=self.routing,
            settings={"q": QueueSettings.model_validate(queue)},
            endpoints={"a": "1001", "b": "1002"},
            bridges=HoldingBridges(self.ari, idle_cap=0, token="t"),
            recordings=LiveRecordings(self.ari),
        )

    async def start(self, run: ContactRun | None = None) -> asyncio.Task[str]:
        await log_in(self.routing, *self.agents)
        request = QueueRequest("q", 0, {}, None, "en", {})
        wait = VoiceQueue(self.queueing, self.port, "c1", run).run(request)
        return asyncio.ensure_future(wait)

    def said(self, kind: str) -> list[dict[str, Any]]:
        return [data for k, data in self.emitted if k == kind]


async def test_the_caller_waits_hears_their_position_and_leaves_with_the_key(
    tmp_path: Path,
) -> None:
    call = Call(tmp_path, leave_key="*", announcements={"position_every": 30})
    wait = await call.start()
    await eventually(lambda: call.said("queue.announced"))
    holding = [r for r in call.ari.made("POST", "bridges") if r.path == "bridges"]
    bridge = HELD  # the caller's own
    assert [(r.param("type"), r.param("bridgeId")) for r in holding] == [("holding", bridge)]
    assert call.ari.made("POST", f"bridges/{bridge}/addChannel")[0].param("channel") == CALLER
    assert call.said("queue.announced") == [{"position": 1}]
    assert call.ari.played(CALLER) == [["sound:queue_position", "number:1"]]
    call.port.deliver(channel_event("ChannelDtmfReceived", CALLER, digit="5"))  # not a key
    call.port.deliver(channel_event("ChannelDtmfReceived", CALLER, digit="*"))
    assert await asyncio.wait_for(wait, 1) == "left"
    assert call.said("queue.left") == [{"key": "*"}]
    assert [d.get("detail") for d in call.log.of("contact.leave")] == ["left"]
    assert [r.path for r in call.ari.made("DELETE", "bridges")] == [f"bridges/{HELD}"]


async def test_a_caller_who_hangs_up_while_waiting_leaves_the_queue_and_the_bridge(
    tmp_path: Path,
) -> None:
    call = Call(tmp_path)
    wait = await call.start()
    await eventually(lambda: call.ari.made("POST", f"bridges/{HELD}/addChannel"))
    call.port.deliver(channel_event("StasisEnd", CALLER))
    with pytest.raises(CallerGone):
        await asyncio.wait_for(wait, 1)
    assert [d.get("detail") for d in call.log.of("contact.leave")] == ["left"]
    assert [r.path for r in call.ari.made("DELETE", "bridges")] == [f"bridges/{HELD}"]


async def test_a_caller_who_hangs_up_loses_the_bridge_before_routing_is_told(
    tmp_path: Path,
) -> None:
    """Telling routing may wait out a store outage: the empty bridge must not stay
    in Asterisk meanwhile (a PostgreSQL outage test found one left behind)."""
    call = Call(tmp_path)
    told = asyncio.Event()
    leave = call.routing.leave

    async def slow_leave(contact_id: str, outcome: str) -> None:
        await told.wait()
        await leave(contact_id, outcome)

    call.routing.leave = slow_leave  # type: ignore[method-assign,assignment]
    wait = await call.start()
    await eventually(lambda: call.ari.made("POST", f"bridges/{HELD}/addChannel"))
    call.port.deliver(channel_event("StasisEnd", CALLER))
    await eventually(lambda: call.ari.made("DELETE", "bridges"))
    assert not wait.done() and not call.log.of("contact.leave")
    told.set()
    with pytest.raises(CallerGone):
        await asyncio.wait_for(wait, 1)
    assert [d.get("detail") for d in call.log.of("contact.leave")] == ["left"]
    assert [r.path for r in call.ari.made("DELETE", "bridges")] == [f"bridges/{HELD}"]


async def test_an_agent_answers_talks_and_hangs_up_first_the_flow_goes_on(
    tmp_path: Path,
) -> None:
    call = Call(tmp_path, "a", announcements={"position_every": 30})
    wait = await call.start()
    await eventually(call.ari.originated)
    (ring,) = call.ari.originated()
    leg = ring.param("channelId")
    assert (ring.param("endpoint"), ring.param("appArgs")) == ("PJSIP/1001", "agent,c1")
    call.port.deliver(channel_event("StasisStart", leg))
    await eventually(lambda: call.said("queue.connected"))
    (connected,) = call.said("queue.connected")
    assert (connected["agent"], connected["queue"]) == ("a", "q")
    (talk,) = call.ari.made("POST", f"bridges/talk-{leg}/addChannel")
    assert talk.param("channel") == f"{CALLER},{leg}"
    # Straight from the holding bridge into the conversation's (Asterisk moves the
    # channel), no leave on the way; the empty holding bridge goes after.
    await eventually(lambda: call.ari.made("DELETE", "bridges"))
    assert [r.path for r in call.ari.made("DELETE", "bridges")] == [f"bridges/{HELD}"]
    assert call.ari.made("POST", f"bridges/{HELD}/removeChannel") == []
    hold_gone = call.ari.made("DELETE", "bridges")[0]
    assert call.ari.requests.index(talk) < call.ari.requests.index(hold_gone)
    call.port.deliver(channel_event("StasisEnd", leg))  # the agent hangs up
    assert await asyncio.wait_for(wait, 1) == "answered"
    (ended,) = call.said("queue.call_ended")
    assert (ended["agent"], ended["ended_by"]) == ("a", "agent")
    # The agent's leg is gone already: no hang-up asked for it, its bridge destroyed.
    assert call.ari.hung_up() == [] and call.followed.legs == {}
    talk_gone = [r for r in call.ari.made("DELETE", "bridges") if r.path == f"bridges/talk-{leg}"]
    # The caller goes on (the flow's next prompt): out of the bridge before it goes, or
    # Asterisk may queue that prompt to a bridge channel that is leaving, and never play it.
    (out,) = call.ari.made("POST", f"bridges/talk-{leg}/removeChannel")
    assert out.param("channel") == CALLER
    assert call.ari.requests.index(out) < call.ari.requests.index(talk_gone[0])
    assert call.log.of("agent.finish")


async def test_a_busy_agent_is_passed_over_and_the_next_one_rings(tmp_path: Path) -> None:
    call = Call(tmp_path, "a", "b")
    wait = await call.start()
    await eventually(call.ari.originated)
    first = call.ari.originated()[0]
    call.port.deliver(channel_event("ChannelDestroyed", first.param("channelId"), cause=17))
    await eventually(lambda: len(call.ari.originated()) == 2)
    second = call.ari.originated()[1]
    assert {first.param("endpoint"), second.param("endpoint")} == {"PJSIP/1001", "PJSIP/1002"}
    call.port.deliver(channel_event("ChannelDtmfReceived", CALLER, digit="1"))
    call.port.deliver(channel_event("StasisEnd", CALLER))
    with pytest.raises(CallerGone):
        await asyncio.wait_for(wait, 1)
    assert call.ari.hung_up()[-1] == second.param("channelId")  # it stops ringing


async def test_the_outcome_is_handed_to_the_contacts_run(tmp_path: Path) -> None:
    call = Call(tmp_path, leave_key="*")
    run = ContactRun()
    wait = await call.start(run)
    await eventually(lambda: call.ari.made("POST", f"bridges/{HELD}/addChannel"))
    call.port.deliver(channel_event("ChannelDtmfReceived", CALLER, digit="*"))
    assert await asyncio.wait_for(wait, 1) == "left"
    assert (run.queue_outcomes, run.agent_answered) == (["left"], False)


async def test_a_caller_who_hangs_up_on_the_agent_was_served_all_the_same(
    tmp_path: Path,
) -> None:
    call = Call(tmp_path, "a")
    run = ContactRun()
    wait = await call.start(run)
    await eventually(call.ari.originated)
    leg = call.ari.originated()[0].param("channelId")
    call.port.deliver(channel_event("StasisStart", leg))
    await eventually(lambda: call.said("queue.connected"))
    call.port.deliver(channel_event("StasisEnd", CALLER))
    with pytest.raises(CallerGone):
        await asyncio.wait_for(wait, 1)
    assert (run.agent_answered, run.queue_outcomes) == (True, [])
    (ended,) = call.said("queue.call_ended")
    assert ended["ended_by"] == "caller"
    assert call.ari.made("POST", f"bridges/talk-{leg}/removeChannel") == []  # nobody to take out


async def test_the_music_class_is_set_only_when_the_channel_plays_another(
    tmp_path: Path,
) -> None:
    # A new inbound caller plays `default` (ari_app/call.py): a queue of that class
    # needs no request; the port then knows the class of the queue it waited in.
    call = Call(tmp_path, leave_key="*")
    call.port.music_class = "default"
    wait = await call.start()
    await eventually(lambda: call.ari.made("POST", f"bridges/{HELD}/addChannel"))
    assert call.ari.made("POST", f"channels/{CALLER}/variable") == []
    call.port.deliver(channel_event("ChannelDtmfReceived", CALLER, digit="*"))
    assert await asyncio.wait_for(wait, 1) == "left"
    assert call.port.music_class == "default"
    # Another class (a queue of its own, or not known): set, and known afterwards.
    jazz = Call(tmp_path, leave_key="*", music_on_hold="jazz")
    jazz.port.music_class = "default"
    wait = await jazz.start()
    await eventually(lambda: jazz.ari.made("POST", f"bridges/{HELD}/addChannel"))
    (classed,) = jazz.ari.made("POST", f"channels/{CALLER}/variable")
    assert (classed.param("variable"), classed.param("value")) == ("CHANNEL(musicclass)", "jazz")
    jazz.port.deliver(channel_event("ChannelDtmfReceived", CALLER, digit="*"))
    assert await asyncio.wait_for(wait, 1) == "left"
    assert jazz.port.music_class == "jazz"


async def answered_and_agent_gone(call: Call) -> str:
    """The caller of `call` talked with agent "a", who hung up; the leg's id."""
    wait = await call.start()
    await eventually(call.ari.originated)
    leg = call.ari.originated()[0].param("channelId")
    call.port.deliver(channel_event("StasisStart", leg))
    await eventually(lambda: call.ari.made("POST", f"bridges/talk-{leg}/addChannel"))
    call.port.deliver(channel_event("StasisEnd", leg))
    assert await asyncio.wait_for(wait, 1) == "answered"
    return str(leg)


async def test_a_call_that_ends_after_its_conversation_is_hung_up_in_the_bridge(
    tmp_path: Path,
) -> None:
    # A port its owner settles at the end (ari_app/call.py): the caller stays in the
    # conversation's bridge while nothing is done with them, hung up in it, the bridge
    # after: no leave (one ARI request less a call).
    call = Call(tmp_path, "a")
    call.port.lazy_leave = True
    leg = await answered_and_agent_gone(call)
    talk = f"bridges/talk-{leg}"
    assert call.port.left_in == f"talk-{leg}"
    assert call.ari.made("POST", f"{talk}/removeChannel") == []
    assert [r.path for r in call.ari.made("DELETE", talk)] == []
    (ended,) = call.said("queue.call_ended")
    assert ended["ended_by"] == "agent" and call.log.of("agent.finish")
    call.ari.requests.clear()
    await call.port.hangup()
    assert [(r.method, r.path) for r in call.ari.requests] == [
        ("DELETE", f"channels/{CALLER}"),
        ("DELETE", talk),
    ]
    assert call.port.left_in is None
    await call.port.settle()  # the call's end (ari_app/call.py): nothing more
    assert len(call.ari.requests) == 2


async def test_the_flow_playing_after_the_conversation_takes_the_caller_out_first(
    tmp_path: Path,
) -> None:
    call = Call(tmp_path, "a")
    call.port.lazy_leave = True
    leg = await answered_and_agent_gone(call)
    call.ari.requests.clear()
    goodbye = asyncio.ensure_future(
        call.port.play([Prompt(key="goodbye")], language="en", barge_in=False)
    )
    await eventually(lambda: call.ari.played(CALLER))
    goodbye.cancel()
    assert [(r.method, r.path) for r in call.ari.requests][:3] == [
        ("POST", f"bridges/talk-{leg}/removeChannel"),
        ("DELETE", f"bridges/talk-{leg}"),
        ("POST", f"channels/{CALLER}/play"),
    ]
    assert call.port.left_in is None


async def test_a_caller_who_hangs_up_after_the_conversation_only_loses_the_bridge(
    tmp_path: Path,
) -> None:
    call = Call(tmp_path, "a")
    call.port.lazy_leave = True
    leg = await answered_and_agent_gone(call)
    call.ari.requests.clear()
    call.port.gone = True  # the caller hung up before the flow did anything more
    await call.port.hangup()
    await call.port.settle()  # the call's end (ari_app/call.py): nothing more
    assert [(r.method, r.path) for r in call.ari.requests] == [("DELETE", f"bridges/talk-{leg}")]


async def test_without_lazy_leave_the_caller_leaves_the_bridge_as_the_conversation_ends(
    tmp_path: Path,
) -> None:
    # Ports no owner settles (a FastAGI hand-off, recovery, callbacks): as before.
    call = Call(tmp_path, "a")
    leg = await answered_and_agent_gone(call)
    assert call.port.left_in is None
    assert call.ari.made("POST", f"bridges/talk-{leg}/removeChannel")
    assert [r.path for r in call.ari.made("DELETE", f"bridges/talk-{leg}")] == [
        f"bridges/talk-{leg}"
    ]
