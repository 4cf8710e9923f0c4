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
