"""The wallboard's calls with agents over a real store: followed as events are
appended, and rebuilt from today's log after a restart (a hold still running then is
still shown)."""

from __future__ import annotations

import asyncio

from hotline.reports import ReportSettings
from hotline.store import Store
from hotline.web.wallboard import Wallboard


async def _log(store: Store) -> tuple[str, str]:
    held = await store.open_contact("voice", "inbound", "5551234", "100")
    moved = await store.open_contact("voice", "inbound", "5551235", "100")
    await store.append(held, "call.held", {"agent": "a1", "by": "a1"})
    await store.append(moved, "call.held", {"agent": "a2", "by": "a2"})
    await store.append(
        moved,
        "call.resumed",
        {"agent": "a2", "by": "a2", "hold_seconds": 2.0, "total_hold_seconds": 2.0, "ended": False},
    )
    await store.append(
        moved,
        "call.transferred",
        {"agent": "a2", "to": "queue:sales", "kind": "blind", "note": "", "by": "a2"},
    )
    return held, moved


async def test_followed_live_and_rebuilt_after_a_restart(store: Store) -> None:
    live = Wallboard(store, None, ReportSettings())
    await live.start()
    try:
        await _log(store)
        await asyncio.sleep(0)
        calls = live.view()["calls"]
        assert (calls["on_hold"], calls["holds"], calls["transfers"], calls["blind_queue"]) == (
            1,
            2,
            1,
            1,
        )
    finally:
        await live.stop()

    restarted = Wallboard(store, None, ReportSettings())
    await restarted.start()
    try:
        assert restarted.view()["calls"] == calls
    finally:
        await restarted.stop()


async def test_an_outbound_call_is_no_visit_live_or_rebuilt(store: Store) -> None:
    """An agent's outbound call (contact channel outbound) joins its queue for the agent
    only: the board asks the store and leaves it out of waiting and answered."""
    live = Wallboard(store, None, ReportSettings())
    await live.start()
    try:
        out = await store.open_contact("outbound", "outbound", "agent:a1", "5550100")
        inbound = await store.open_contact("voice", "inbound", "5551234", "100")
        for contact in (out, inbound):
            await store.append(contact, "contact.join", {"at": 0.0, "channel": "voice"}, "sales")
        for _ in range(100):  # the store's answer comes in the background
            if out in live.board.outbound:
                break
            await asyncio.sleep(0.01)
        await store.append(out, "contact.answered", {"at": 0.0, "channel": "voice"}, "sales")
        (sales,) = live.view()["queues"]
        assert (sales["waiting"], sales["answered"]) == (1, 0)  # the inbound caller waits
    finally:
        await live.stop()

    restarted = Wallboard(store, None, ReportSettings())
    await restarted.start()
    try:
        (sales,) = restarted.view()["queues"]
        assert (sales["waiting"], sales["answered"]) == (1, 0)
    finally:
        await restarted.stop()


async def test_who_monitors_a_call_followed_and_rebuilt(store: Store) -> None:
    """The live contacts name the supervisor monitoring a call, and a wallboard started
    while it goes on (a restart) still does, from today's log."""
    call = await store.open_contact("voice", "inbound", "5551236", "100")
    await store.append(
        call, "call.arrived", {"caller": "5551236", "dialed": "100", "channel": "c", "via": "ari"}
    )
    await store.append(call, "contact.join", {"channel": "voice"}, queue="support")
    await store.append(call, "agent.accept", {"channel": "voice"}, agent="a1")
    live = Wallboard(store, None, ReportSettings())
    await live.start()
    try:
        await store.append(
            call,
            "monitor.started",
            {"supervisor": "sue", "agent": "a1", "mode": "whisper", "phone": "2901"},
            agent="a1",
        )
        await asyncio.sleep(0)
        (row,) = live.view()["contacts"]
        assert row["monitors"] == [{"supervisor": "sue", "mode": "whisper"}]
    finally:
        await live.stop()

    restarted = Wallboard(store, None, ReportSettings())
    await restarted.start()
    try:
        (row,) = restarted.view()["contacts"]
        assert row["monitors"] == [{"supervisor": "sue", "mode": "whisper"}]
        await store.append(
            call,
            "monitor.ended",
            {
                "supervisor": "sue",
                "agent": "a1",
                "reason": "stopped",
                "seconds": 4.0,
                "modes": {"whisper": 4.0},
            },
            agent="a1",
        )
        await asyncio.sleep(0)
        (row,) = restarted.view()["contacts"]
        assert row["monitors"] == []
    finally:
        await restarted.stop()
