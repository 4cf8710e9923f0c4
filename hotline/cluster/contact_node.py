"""Which call worker holds a contact's call now (`contacts.asterisk_node`).

A contact's node is written when its call arrives or is placed. A callback called by
hand carries on its own contact, maybe on another worker than the one it was first on
(its first call came in there): the node must follow the worker that places the new
call, or a desk on a web process would send the call's controls (hold, transfer,
monitoring) to the old worker, which has no such call (404).
"""

from __future__ import annotations

from sqlalchemy import update

from hotline.store import Store
from hotline.store.store import CONTACTS


async def move_to_node(store: Store, contact_id: str, node: str) -> None:
    """From now on the contact's call is held by the call worker `node`."""
    statement = update(CONTACTS).where(CONTACTS.c.id == contact_id).values(asterisk_node=node)
    await store.write(lambda conn: conn.execute(statement), "move a contact to its worker")
