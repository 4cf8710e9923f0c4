"""Holding bridges (ari_app/holding.py): each waiting caller alone in a bridge with the
queue's music, so that under many callers at once nobody waits in line behind another's
round trip or shares a bridge; the bridges are pooled: a caller's bridge, empty again
when they stop waiting (out first when they go back to the flow), is the next caller's,
and a bridge an older controller shared is kept for the callers still in it, then
destroyed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

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


def made(ari: FakeAri) -> list[str]:
    """The ids of the bridges made."""
    return [r.param("bridgeId") for r in ari.made("POST", "bridges") if r.path == "bridges"]


def destroyed(ari: FakeAri) -> list[str]:
    return [r.path.removeprefix("bridges/") for r in ari.made("DELETE", "bridges/")]


async def test_each_caller_waits_in_a_bridge_of_their_own_with_the_music() -> None:
    ari = FakeAri()
    bridges = HoldingBridges(ari, token="t")
    assert await bridges.join("q", "jazz", "a") == "hold-q-t-1"
    assert await bridges.join("q", "jazz", "b") == "hold-q-t-2"
    holding = [r for r in ari.made("POST", "bridges") if r.path == "bridges"]
    assert [(r.param("type"), r.param("bridgeId")) for r in holding] == [
        ("holding", "hold-q-t-1"),
        ("holding", "hold-q-t-2"),
    ]
    # The music is the bridge's entertainment of each caller (music on hold on their
    # own channel, of its music class), not an announcer channel per bridge.
    assert [r.path for r in ari.requests if r.path.endswith("/moh")] == []
    (classed,) = ari.made("POST", "channels/a/variable")
    assert (classed.param("variable"), classed.param("value")) == ("CHANNEL(musicclass)", "jazz")
    (added,) = ari.made("POST", "bridges/hold-q-t-1/addChannel")
    assert (added.param("channel"), added.param("role")) == ("a", "holding_participant")
    assert bridges.members == {"hold-q-t-1": {"a"}, "hold-q-t-2": {"b"}}


async def test_ids_are_unique_across_controllers_and_keep_the_queue_prefix() -> None:
    """A restarted controller never takes the id of a bridge an older one left."""
    first, second = HoldingBridges(FakeAri()), HoldingBridges(FakeAri())
    assert first.token != second.token and first.token and second.token
    ids = [await b.join("e2e-fifo", "default", c) for b in (first, second) for c in "ab"]
    assert len(set(ids)) == 4
    assert all(i.startswith("hold-e2e-fifo-") for i in ids)
    assert ids[0] == f"hold-e2e-fifo-{first.token}-1"


async def test_the_caller_joins_once_their_bridge_and_music_class_are_set() -> None:
    ari = SlowAri()
    bridges = HoldingBridges(ari, token="t")
    await bridges.join("q", "jazz", "a")
    assert [(r.method, r.path) for r in ari.requests] == [
        ("POST", "bridges"),
        ("POST", "channels/a/variable"),
        ("POST", "bridges/hold-q-t-1/addChannel"),
    ]
    assert ari.most == 2  # the bridge and the class together; the join after both


async def test_a_channel_that_plays_the_queues_class_already_is_not_set_it_again() -> None:
    ari = SlowAri()
    bridges = HoldingBridges(ari, token="t")
    assert await bridges.join("q", "default", "a", has="default") == "hold-q-t-1"
    assert [(r.method, r.path) for r in ari.requests] == [
        ("POST", "bridges"),
        ("POST", "bridges/hold-q-t-1/addChannel"),
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
    bridges = HoldingBridges(ari, token="t")
    for has in ("default", None):
        with pytest.raises(AriError) as raised:
            await bridges.join("q", "default", "a", has=has)
        assert raised.value.status == 500
    assert bridges.members == {} and bridges.idle == {} and bridges.pooled == {}
    assert ari.made("POST", "bridges/") == []
    assert ari.made("DELETE", "bridges") == []


async def test_many_callers_join_and_leave_together_not_one_after_another() -> None:
    ari = SlowAri()
    bridges = HoldingBridges(ari)
    callers = [f"c{n}" for n in range(20)]
    joined = await asyncio.gather(*(bridges.join("q", "default", c) for c in callers))
    await asyncio.gather(*(bridges.leave(b, c) for b, c in zip(joined, callers, strict=True)))
    assert ari.most >= len(callers)
    # Every caller's requests were in flight at once: nobody waited in line behind
    # another caller's round trips (how long that takes is the benchmark's to say).
    assert len(set(joined)) == len(callers)
    assert bridges.members == {}
    assert sorted(bridges.idle["q"]) == sorted(joined)  # all kept for the next callers


async def test_back_to_the_flow_the_caller_is_taken_out_and_the_bridge_kept() -> None:
    ari = FakeAri()
    bridges = HoldingBridges(ari, token="t")
    bridge = await bridges.join("q", "default", "a")
    ari.requests.clear()
    await bridges.leave(bridge, "a")
    assert [(r.method, r.path, r.param("channel")) for r in ari.requests] == [
        ("POST", "bridges/hold-q-t-1/removeChannel", "a"),
    ]
    await bridges.leave(bridge, "a")  # twice: nothing more
    assert len(ari.requests) == 1
    assert bridges.members == {} and bridges.idle == {"q": [bridge]}
    # The next caller of the queue waits in it: no bridge made, none destroyed.
    ari.requests.clear()
    assert await bridges.join("q", "default", "b", has="default") == bridge
    assert [(r.method, r.path, r.param("channel")) for r in ari.requests] == [
        ("POST", "bridges/hold-q-t-1/addChannel", "b"),
    ]
    assert bridges.members == {bridge: {"b"}} and bridges.idle == {"q": []}


async def test_a_caller_who_hung_up_or_moved_to_a_conversation_frees_the_bridge() -> None:
    ari = FakeAri()
    bridges = HoldingBridges(ari, token="t")
    gone = await bridges.join("q", "default", "a")
    talking = await bridges.join("q", "default", "b")
    ari.requests.clear()
    await bridges.leave(gone, "a", gone=True)
    await bridges.moved(talking, "b")
    assert ari.requests == []  # nobody to take out; nothing destroyed
    assert bridges.members == {} and bridges.idle == {"q": [gone, talking]}
    # Reused by the next callers of that queue (the last freed first); another queue's
    # callers get bridges of their own queue.
    assert await bridges.join("q", "default", "c") == talking
    assert await bridges.join("q", "default", "d") == gone
    assert await bridges.join("other", "default", "e") == "hold-other-t-3"
    assert made(ari) == ["hold-other-t-3"]
    assert destroyed(ari) == []


async def test_a_reused_bridge_gets_the_music_class_set_alone_before_the_join() -> None:
    ari = SlowAri()
    bridges = HoldingBridges(ari, token="t")
    bridge = await bridges.join("q", "default", "a", has="default")
    await bridges.moved(bridge, "a")
    ari.requests.clear()
    assert await bridges.join("q", "jazz", "b", has="default") == bridge
    assert [(r.method, r.path, r.param("value")) for r in ari.requests] == [
        ("POST", "channels/b/variable", "jazz"),
        ("POST", "bridges/hold-q-t-1/addChannel", None),
    ]
    assert ari.most == 1  # the class is set before the caller joins: their music starts
    await bridges.moved(bridge, "b")
    ari.requests.clear()
    await bridges.join("q", "jazz", "c", has="jazz")  # the class already: no request
    assert [(r.method, r.path) for r in ari.requests] == [
        ("POST", "bridges/hold-q-t-1/addChannel"),
    ]


async def test_a_bridge_still_holding_its_caller_is_never_given_to_another() -> None:
    ari = SlowAri()
    bridges = HoldingBridges(ari, token="t")
    a = await bridges.join("q", "default", "a")
    # a leaves (taken out of the bridge: a round trip) while b and c start waiting.
    leaving = asyncio.create_task(bridges.leave(a, "a"))
    await asyncio.sleep(0)
    assert not leaving.done() and bridges.members[a] == {"a"}  # being taken out
    b = await bridges.join("q", "default", "b")
    await leaving
    c = await bridges.join("q", "default", "c")
    assert (a, b, c) == ("hold-q-t-1", "hold-q-t-2", "hold-q-t-1")
    assert bridges.members == {a: {"c"}, b: {"b"}}
    assert [r.param("channel") for r in ari.made("POST", f"bridges/{a}/addChannel")] == ["a", "c"]


async def test_a_bridge_an_older_controller_shared_stays_for_the_callers_still_in_it() -> None:
    ari = FakeAri()
    bridges = HoldingBridges(ari, token="t")
    bridges.adopt("hold-q", {"a", "b"})
    await bridges.leave("hold-q", "a")
    assert ari.made("DELETE", "bridges") == []
    assert [r.param("channel") for r in ari.made("POST", "bridges/hold-q/removeChannel")] == ["a"]
    await bridges.moved("hold-q", "b")
    # Destroyed once empty, not pooled: its id is of the older controller's making.
    assert destroyed(ari) == ["hold-q"]
    assert bridges.members == {} and bridges.idle == {}
    assert await bridges.join("q", "default", "c") == "hold-q-t-1"


async def test_idle_bridges_beyond_the_cap_are_destroyed() -> None:
    ari = FakeAri()
    bridges = HoldingBridges(ari, idle_cap=2, token="t")
    joined = [await bridges.join("q", "default", c) for c in "abc"]
    other = await bridges.join("r", "default", "d")
    for bridge, caller in zip(joined, "abc", strict=True):
        await bridges.leave(bridge, caller, gone=True)
    await bridges.leave(other, "d", gone=True)
    assert bridges.idle == {"q": ["hold-q-t-1", "hold-q-t-2"], "r": [other]}  # per queue
    assert destroyed(ari) == ["hold-q-t-3"]
    assert set(bridges.pooled) == {"hold-q-t-1", "hold-q-t-2", other}
    # No pool at all (a cap of 0): every bridge goes as its caller stops waiting.
    none = HoldingBridges(ari, idle_cap=0, token="n")
    await none.moved(await none.join("q", "default", "e"), "e")
    assert destroyed(ari)[-1] == "hold-q-n-1" and none.idle == {"q": []} and none.pooled == {}


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (404, "Bridge not found"),
        (409, "Bridge not in Stasis application"),
        (422, "Channel not in Stasis application"),
    ],
)
async def test_an_idle_bridge_that_fails_the_next_join_is_dropped_for_a_new_one(
    status: int, why: str
) -> None:
    ari = FakeAri()
    bridges = HoldingBridges(ari, token="t")
    await bridges.moved(await bridges.join("q", "default", "a"), "a")
    ari.failures[("POST", "bridges/hold-q-t-1/addChannel")] = AriError(status, why)
    ari.requests.clear()
    assert await bridges.join("q", "default", "b", has="default") == "hold-q-t-2"
    assert [(r.method, r.path) for r in ari.requests] == [
        ("POST", "bridges/hold-q-t-1/addChannel"),
        ("DELETE", "bridges/hold-q-t-1"),  # if it is still there, it would stay behind
        ("POST", "bridges"),
        ("POST", "bridges/hold-q-t-2/addChannel"),
    ]
    assert bridges.members == {"hold-q-t-2": {"b"}}
    assert set(bridges.pooled) == {"hold-q-t-2"} and bridges.idle == {"q": []}


async def test_a_new_bridge_is_tried_once_after_an_idle_one_failed() -> None:
    ari = FakeAri()
    bridges = HoldingBridges(ari, token="t")
    await bridges.moved(await bridges.join("q", "default", "a"), "a")
    ari.requests.clear()
    ari.failures[("POST", "bridges/")] = AriError(404, "Channel not found")  # b is gone
    with pytest.raises(AriError) as raised:
        await bridges.join("q", "default", "b", has="default")
    assert raised.value.status == 404
    assert [r.path for r in ari.made("POST", "bridges/")] == [
        "bridges/hold-q-t-1/addChannel",
        "bridges/hold-q-t-2/addChannel",
    ]
    assert destroyed(ari) == ["hold-q-t-1", "hold-q-t-2"]
    assert bridges.members == {} and bridges.pooled == {} and bridges.idle == {"q": []}


async def test_an_idle_bridge_refused_otherwise_is_dropped_and_the_join_fails() -> None:
    ari = FakeAri()
    bridges = HoldingBridges(ari, token="t")
    await bridges.moved(await bridges.join("q", "default", "a"), "a")
    ari.requests.clear()
    ari.failures[("POST", "bridges/")] = AriError(500, "Internal Server Error")
    with pytest.raises(AriError) as raised:
        await bridges.join("q", "default", "b", has="default")
    assert raised.value.status == 500
    assert made(ari) == []  # no second bridge for an error not the bridge's
    assert destroyed(ari) == ["hold-q-t-1"]
    assert bridges.members == {} and bridges.pooled == {} and bridges.idle == {"q": []}


async def test_a_caller_gone_before_their_class_is_set_leaves_the_idle_bridge_idle() -> None:
    ari = FakeAri()
    bridges = HoldingBridges(ari, token="t")
    await bridges.moved(await bridges.join("q", "default", "a"), "a")
    ari.failures[("POST", "channels/gone/variable")] = AriError(404, "Channel not found")
    with pytest.raises(AriError):
        await bridges.join("q", "jazz", "gone", has="default")
    assert ari.made("POST", "bridges/hold-q-t-1/addChannel")[1:] == []
    assert destroyed(ari) == []
    assert bridges.members == {} and bridges.idle == {"q": ["hold-q-t-1"]}


async def test_a_caller_who_is_gone_before_joining_does_not_leave_a_bridge_behind() -> None:
    ari = SlowAri()
    ari.failures[("POST", "bridges/hold-q-t-1/addChannel")] = AriError(404, "Channel not found")
    bridges = HoldingBridges(ari, token="t")
    with pytest.raises(AriError) as raised:
        await bridges.join("q", "default", "gone")
    assert raised.value.status == 404
    assert bridges.members == {} and bridges.pooled == {} and bridges.idle == {}
    assert destroyed(ari) == ["hold-q-t-1"]
    assert ari.made("POST", "bridges/hold-q-t-1/removeChannel") == []


async def test_a_caller_gone_before_their_music_class_is_set_leaves_no_bridge() -> None:
    ari = FakeAri()
    ari.failures[("POST", "channels/gone/variable")] = AriError(404, "Channel not found")
    bridges = HoldingBridges(ari, token="t")
    with pytest.raises(AriError) as raised:
        await bridges.join("q", "default", "gone")
    assert raised.value.status == 404
    assert bridges.members == {} and bridges.pooled == {} and bridges.idle == {}
    assert destroyed(ari) == ["hold-q-t-1"]
    assert ari.made("POST", "bridges/hold-q-t-1/addChannel") == []


async def test_asterisk_gone_the_bridges_and_the_pool_are_forgotten() -> None:
    ari = FakeAri()
    bridges = HoldingBridges(ari, token="t")
    waiting = await bridges.join("q", "default", "a")
    await bridges.moved(await bridges.join("q", "default", "b"), "b")
    bridges.forget()
    await bridges.leave(waiting, "a")
    assert ari.made("DELETE", "bridges") == []
    assert bridges.members == {} and bridges.idle == {} and bridges.pooled == {}
    assert await bridges.join("q", "default", "c") == "hold-q-t-3"  # made anew


async def test_the_controller_stopping_destroys_its_idle_bridges_only() -> None:
    ari = FakeAri()
    bridges = HoldingBridges(ari, token="t")
    waiting = await bridges.join("q", "default", "a")
    for queue, caller in (("q", "b"), ("r", "c")):
        await bridges.moved(await bridges.join(queue, "default", caller), caller)
    await bridges.close()
    assert sorted(destroyed(ari)) == ["hold-q-t-2", "hold-r-t-3"]
    # The waiting caller's bridge stays, for the next controller to take over.
    assert bridges.members == {waiting: {"a"}} and bridges.idle == {}
    assert set(bridges.pooled) == {waiting}


def test_an_empty_holding_bridge_is_the_pool_not_a_leak() -> None:
    from ari_app.holding import is_idle_holding

    assert is_idle_holding({"id": "hold-q-ab12cd34-1", "channels": []})
    assert not is_idle_holding({"id": "hold-q-ab12cd34-1", "channels": ["1.2"]})
    assert not is_idle_holding({"id": "talk-1.2", "channels": []})
