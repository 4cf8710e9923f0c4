"""An agent's reachability said to a new leader while the agent's phone registers
(hotline/cluster/remote.py): the leader keeps the last thing it was told, so the worker
must never let an older value land after a newer one.

Seen under load (bench_cluster, one worker): agents stayed paused "unreachable" at the
leader although their phones had registered: the worker started with every phone
unregistered, said that to the leader it first heard, and the phones' registrations,
said meanwhile, reached the leader before that stale "no".
"""

from __future__ import annotations

import asyncio

from hotline.acd.model import Channel
from hotline.cluster.bus import dumps, loads
from hotline.cluster.remote import RemoteRouting


class Answer:
    def __init__(self, data: bytes) -> None:
        self.data = data


class SlowLeader:
    """Answers `reachable` requests after `gate` opens, keeping the last said per agent
    in the order the requests arrive (as the leader's last-said-wins rule does)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.arrived: list[tuple[str, bool]] = []
        self.state: dict[str, bool] = {}

    async def request(self, subject: str, body: bytes, timeout: float) -> Answer:
        request = loads(body)
        assert request["op"] == "reachable", request
        args = request["args"]
        self.arrived.append((args["agent"], args["yes"]))
        self.state[args["agent"]] = args["yes"]
        await self.gate.wait()
        return Answer(dumps({"ok": None, "epoch": 1, "clock": 0.0}))


async def test_a_phone_registering_while_the_old_state_is_said_is_said_last() -> None:
    leader = SlowLeader()
    remote = RemoteRouting(leader, "sales", worker="w1")
    for agent in ("ann", "bob"):
        remote.note_reachable(agent, Channel.VOICE, False)  # no phone registered yet
    remote._saw_epoch(1)  # the first leader heard: everything said to it
    await asyncio.sleep(0)
    # bob's phone registers while the old state is being said (ann's first).
    registering = asyncio.create_task(remote.reachable("bob", Channel.VOICE, True))
    await asyncio.sleep(0.01)
    assert leader.arrived == [("ann", False), ("bob", False)]  # bob's "yes" waits its turn
    leader.gate.set()
    await registering
    for _ in range(100):
        if not remote._tasks:
            break
        await asyncio.sleep(0.001)
    assert leader.arrived == [("ann", False), ("bob", False), ("bob", True)]
    assert leader.state == {"ann": False, "bob": True}
    assert remote.is_reachable("bob", Channel.VOICE)


async def test_each_saying_tells_what_is_known_when_it_is_sent() -> None:
    leader = SlowLeader()
    remote = RemoteRouting(leader, "sales", worker="w1")
    remote._saw_epoch(1)  # the leader is known already (nothing to say to it yet)
    first = asyncio.create_task(remote.reachable("ann", Channel.VOICE, True))
    await asyncio.sleep(0)
    second = asyncio.create_task(remote.reachable("ann", Channel.VOICE, False))
    third = asyncio.create_task(remote.reachable("ann", Channel.VOICE, True))
    await asyncio.sleep(0.01)
    leader.gate.set()
    await asyncio.gather(first, second, third)
    # The two waiting sayings both tell the newest value: the leader ends with it.
    assert leader.arrived == [("ann", True), ("ann", True), ("ann", True)]
    assert leader.state == {"ann": True}
