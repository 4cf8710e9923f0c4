"""Which call worker holds a contact's call now (`contacts.asterisk_node`).

A contact's node is written when its call arrives or is placed. A callback called by
hand carries on its own contact, maybe on another worker than the one it was first on
(its first call came in there): the node must follow the worker that places the new
call, or a desk on a web process would send the call's controls (hold, transfer,
monitoring) to the old worker, which has no such call (404).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import update

from hotline.acd.service import Ticket
from hotline.callbacks.service import AttemptResult, Dialer
from hotline.callbacks.settings import QueueCallback
from hotline.store import Store
from hotline.store.callbacks import Callback
from hotline.store.store import CONTACTS


async def move_to_node(store: Store, contact_id: str, node: str) -> None:
    """From now on the contact's call is held by the call worker `node`."""
    statement = update(CONTACTS).where(CONTACTS.c.id == contact_id).values(asterisk_node=node)
    await store.write(lambda conn: conn.execute(statement), "move a contact to its worker")


class DialsHere:
    """A callback's dialer (`Dialer`, ari_app/callback_dialer.py) on the call worker
    `node`: each attempt moves the callback's contact to this worker first. A callback
    is dialed by the worker the routing leader hands it to, not always the one it was
    booked on (or it was booked with no node at all: by a flow, the API, a lost node's
    rebooking), and its controls and monitoring from a web process go to its node."""

    def __init__(self, dialer: Dialer, store: Store, node: str) -> None:
        self.dialer = dialer
        self.store = store
        self.node = node

    async def attempt(
        self,
        callback: Callback,
        ticket: Ticket,
        settings: QueueCallback,
        dialing: Callable[[str], Awaitable[int]],
    ) -> AttemptResult:
        await move_to_node(self.store, callback.contact_id, self.node)
        return await self.dialer.attempt(callback, ticket, settings, dialing)
