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
