"""Holding bridges (ari_app/holding.py): each waiting caller in a bridge of their own with
the queue's music, so that under many callers at once nobody waits in line behind
another's round trip or shares a bridge; a caller's bridge goes when they stop waiting
(out first when they go back to the flow), and a bridge an older controller shared is
kept for the callers still in it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ari_app.client import AriError
from ari_app.holding import HoldingBridges
from tests.unit.voice.fake_ari import FakeAri

ROUND_TRIP = 0.02  # seconds each request takes


class SlowAri(FakeAri):
    """FakeAri whose requests take ROUND_TRIP each; counts how many run at once."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0
        self.most = 0

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | Sequence[tuple[str, Any]] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(ROUND_TRIP)
            return await super().request(method, path, params=params, body=body)
        finally:
            self.running -= 1


async def test_each_caller_waits_in_a_bridge_of_their_own_with_the_music() -> None:
    ari = FakeAri()
    bridges = HoldingBridges(ari)
    assert await bridges.join("q", "jazz", "a") == "hold-q-a"
    assert await bridges.join("q", "jazz", "b") == "hold-q-b"
    made = [r for r in ari.made("POST", "bridges") if r.path == "bridges"]
    assert [(r.param("type"), r.param("bridgeId")) for r in made] == [
        ("holding", "hold-q-a"),
        ("holding", "hold-q-b"),
    ]
    # The music is the bridge's entertainment of each caller (music on hold on their
    # own channel, of its music class), not an announcer channel per bridge.
    assert [r.path for r in ari.requests if r.path.endswith("/moh")] == []
    (classed,) = ari.made("POST", "channels/a/variable")
    assert (classed.param("variable"), classed.param("value")) == ("CHANNEL(musicclass)", "jazz")
    (added,) = ari.made("POST", "bridges/hold-q-a/addChannel")
    assert (added.param("channel"), added.param("role")) == ("a", "holding_participant")
    assert bridges.members == {"hold-q-a": {"a"}, "hold-q-b": {"b"}}


async def test_the_caller_joins_once_their_bridge_and_music_class_are_set() -> None:
    ari = SlowAri()
    bridges = HoldingBridges(ari)
    await bridges.join("q", "jazz", "a")
    assert [(r.method, r.path) for r in ari.requests] == [
        ("POST", "bridges"),
        ("POST", "channels/a/variable"),
        ("POST", "bridges/hold-q-a/addChannel"),
    ]
    assert ari.most == 2  # the bridge and the class together; the join after both


async def test_a_channel_that_plays_the_queues_class_already_is_not_set_it_again() -> None:
    ari = SlowAri()
    bridges = HoldingBridges(ari)
    assert await bridges.join("q", "default", "a", has="default") == "hold-q-a"
    assert [(r.method, r.path) for r in ari.requests] == [
        ("POST", "bridges"),
        ("POST", "bridges/hold-q-a/addChannel"),
    ]
    # Another class, or a class not known (a call taken over from an older
    # controller): set, as before.
    ari.requests.clear()
    await bridges.join("jazz-q", "jazz", "b", has="default")
    await bridges.join("q", "default", "c", has=None)
    assert [(r.path, r.param("value")) for r in ari.requests if r.path.endswith("/variable")] == [
        ("channels/b/variable", "jazz"),
        ("channels/c/variable", "default"),
    ]


async def test_a_bridge_that_cannot_be_made_leaves_nothing_to_undo() -> None:
    ari = FakeAri()
    ari.failures[("POST", "bridges")] = AriError(500, "Internal Server Error")
    bridges = HoldingBridges(ari)
    for has in ("default", None):
        try:
            await bridges.join("q", "default", "a", has=has)
        except AriError as error:
            assert error.status == 500
        else:
            raise AssertionError("the join must fail with the bridge")
    assert bridges.members == {}
    assert ari.made("POST", "bridges/hold-q-a/addChannel") == []


class StaleAri(FakeAri):
    """FakeAri whose first `POST bridges` answers 409: a bridge of that id exists."""

    def __init__(self, status: int = 409) -> None:
        super().__init__()
        self.status = status
        self.refused = 0

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | Sequence[tuple[str, Any]] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        answer = await super().request(method, path, params=params, body=body)
        if (method, path) == ("POST", "bridges") and not self.refused:
            self.refused += 1
            raise AriError(self.status, "Bridge with id 'hold-q-a' already exists")
        return answer


async def test_a_bridge_of_an_earlier_wait_not_gone_yet_is_destroyed_and_made_anew() -> None:
    ari = StaleAri()
    bridges = HoldingBridges(ari)
    assert await bridges.join("q", "default", "a", has="default") == "hold-q-a"
    assert [(r.method, r.path) for r in ari.requests] == [
        ("POST", "bridges"),
        ("DELETE", "bridges/hold-q-a"),
        ("POST", "bridges"),
        ("POST", "bridges/hold-q-a/addChannel"),
    ]
    assert bridges.members == {"hold-q-a": {"a"}}
    # Any other refusal is not retried: the join fails, nothing is made or destroyed.
    other = StaleAri(status=500)
    try:
        await HoldingBridges(other).join("q", "default", "a", has="default")
    except AriError as error:
        assert error.status == 500
    else:
        raise AssertionError("a refusal other than 409 must fail the join")
    assert [(r.method, r.path) for r in other.requests] == [("POST", "bridges")]


async def test_many_callers_join_and_leave_together_not_one_after_another() -> None:
    ari = SlowAri()
    bridges = HoldingBridges(ari)
    callers = [f"c{n}" for n in range(20)]
    joined = await asyncio.gather(*(bridges.join("q", "default", c) for c in callers))
    await asyncio.gather(*(bridges.leave(b, c) for b, c in zip(joined, callers, strict=True)))
    assert ari.most >= len(callers)
    # Every caller's requests were in flight at once: nobody waited in line behind
    # another caller's round trips (how long that takes is the benchmark's to say).
    assert bridges.members == {}


async def test_back_to_the_flow_the_caller_is_taken_out_before_the_bridge_goes() -> None:
    ari = FakeAri()
    bridges = HoldingBridges(ari)
    bridge = await bridges.join("q", "default", "a")
    ari.requests.clear()
    await bridges.leave(bridge, "a")
    assert [(r.method, r.path, r.param("channel")) for r in ari.requests] == [
        ("POST", "bridges/hold-q-a/removeChannel", "a"),
        ("DELETE", "bridges/hold-q-a", None),
    ]
    await bridges.leave(bridge, "a")  # twice: nothing more
    assert len(ari.requests) == 2


async def test_a_caller_who_hung_up_or_moved_to_a_conversation_only_loses_the_bridge() -> None:
    ari = FakeAri()
    bridges = HoldingBridges(ari)
    gone = await bridges.join("q", "default", "a")
    talking = await bridges.join("q", "default", "b")
    ari.requests.clear()
    await bridges.leave(gone, "a", gone=True)
    await bridges.moved(talking, "b")
    assert [(r.method, r.path) for r in ari.requests] == [
        ("DELETE", "bridges/hold-q-a"),
        ("DELETE", "bridges/hold-q-b"),
    ]
    assert bridges.members == {}


async def test_a_bridge_an_older_controller_shared_stays_for_the_callers_still_in_it() -> None:
    ari = FakeAri()
    bridges = HoldingBridges(ari)
    bridges.adopt("hold-q", {"a", "b"})
    await bridges.leave("hold-q", "a")
    assert ari.made("DELETE", "bridges") == []
    assert [r.param("channel") for r in ari.made("POST", "bridges/hold-q/removeChannel")] == ["a"]
    await bridges.moved("hold-q", "b")
    assert [r.path for r in ari.made("DELETE", "bridges")] == ["bridges/hold-q"]
    assert bridges.members == {}


async def test_a_caller_who_is_gone_before_joining_does_not_leave_a_bridge_behind() -> None:
    ari = SlowAri()
    ari.failures[("POST", "bridges/hold-q-gone/addChannel")] = AriError(404, "Channel not found")
    bridges = HoldingBridges(ari)
    try:
        await bridges.join("q", "default", "gone")
    except AriError as error:
        assert error.status == 404
    else:
        raise AssertionError("the join of a channel that is gone must fail")
    assert bridges.members == {}
    assert [r.path for r in ari.made("DELETE", "bridges")] == ["bridges/hold-q-gone"]
    assert ari.made("POST", "bridges/hold-q-gone/removeChannel") == []


async def test_a_caller_gone_before_their_music_class_is_set_leaves_no_bridge() -> None:
    ari = FakeAri()
    ari.failures[("POST", "channels/gone/variable")] = AriError(404, "Channel not found")
    bridges = HoldingBridges(ari)
    try:
        await bridges.join("q", "default", "gone")
    except AriError as error:
        assert error.status == 404
    else:
        raise AssertionError("the join of a channel that is gone must fail")
    assert bridges.members == {}
    assert [r.path for r in ari.made("DELETE", "bridges")] == ["bridges/hold-q-gone"]
    assert ari.made("POST", "bridges/hold-q-gone/addChannel") == []


async def test_a_bridge_asterisk_refuses_to_make_is_not_joined() -> None:
    ari = FakeAri()
    ari.failures[("POST", "bridges")] = AriError(500, "Internal Server Error")
    bridges = HoldingBridges(ari)
    try:
        await bridges.join("q", "default", "a")
    except AriError as error:
        assert error.status == 500
    else:
        raise AssertionError("a bridge Asterisk refused must fail the join")
    assert bridges.members == {}
    assert ari.made("POST", "bridges/hold-q-a/addChannel") == []
    assert ari.made("DELETE", "bridges") == []


async def test_asterisk_gone_the_bridges_are_forgotten() -> None:
    ari = FakeAri()
    bridges = HoldingBridges(ari)
    await bridges.join("q", "default", "a")
    bridges.forget()
    await bridges.leave("hold-q-a", "a")
    assert ari.made("DELETE", "bridges") == []
