"""A contact's node follows the worker that places its call (hotline/cluster/contact_node.py)."""

from __future__ import annotations

from pathlib import Path

from hotline.cluster.contact_node import move_to_node
from hotline.store import Store


async def test_the_contacts_node_is_the_worker_that_took_its_call(tmp_path: Path) -> None:
    store = await Store.connect(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        await store.migrate()
        moved = await store.open_contact(
            "callback", "outbound", "5550100", "5551234", asterisk_node="host-a/node1"
        )
        other = await store.open_contact(
            "voice", "inbound", "555", "100", asterisk_node="host-a/node1"
        )
        await move_to_node(store, moved, "host-b/node2")
        contact = await store.contact(moved)
        assert contact is not None and contact.asterisk_node == "host-b/node2"
        untouched = await store.contact(other)  # only that contact
        assert untouched is not None and untouched.asterisk_node == "host-a/node1"
        await move_to_node(store, "no-such-contact", "host-b/node2")  # nothing to move
        assert await store.contact("no-such-contact") is None
    finally:
        await store.close()


async def test_each_callback_attempt_moves_its_contact_to_the_dialing_worker(
    tmp_path: Path,
) -> None:
    """A callback booked with no node (a flow, the API) or on another worker is dialed
    here: its contact's node is this worker before the attempt starts; the attempt's
    result is the dialer's own."""
    from typing import Any, cast

    from hotline.callbacks.service import AttemptResult, Dialer
    from hotline.cluster.contact_node import DialsHere

    store = await Store.connect(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        await store.migrate()
        booked = await store.open_contact("callback", "outbound", "5550100", "5551234")
        seen: list[str | None] = []

        class Dialer_:
            async def attempt(self, callback: Any, *_: Any) -> AttemptResult:
                contact = await store.contact(callback.contact_id)
                seen.append(None if contact is None else contact.asterisk_node)
                return AttemptResult("completed", "carol")

        callback = type("Cb", (), {"contact_id": booked})()
        here = DialsHere(cast(Dialer, Dialer_()), store, "host-b/node2")

        async def dialing(agent: str) -> int:
            return 1

        result = await here.attempt(cast(Any, callback), cast(Any, None), cast(Any, None), dialing)
        assert result == AttemptResult("completed", "carol")
        assert seen == ["host-b/node2"]  # moved before the dialer began
    finally:
        await store.close()
