"""The store: customers, contacts and the append-only contact event log.

store = await Store.connect("sqlite+aiosqlite:///hotline.db")
await store.migrate()
contact_id = await store.open_contact("voice", "inbound", "+15550100", "100")
await store.append(contact_id, "call.answered")
"""

from hotline.store.errors import StoreError, StoreUnavailable, UnknownContact, UnknownCustomer
from hotline.store.phone import normalize_phone
from hotline.store.records import Channel, Contact, ContactStatus, Customer, Direction, LoggedEvent
from hotline.store.store import Store, async_url, sqlite_url

__all__ = [
    "Channel",
    "Contact",
    "ContactStatus",
    "Customer",
    "Direction",
    "LoggedEvent",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "UnknownContact",
    "UnknownCustomer",
    "async_url",
    "normalize_phone",
    "sqlite_url",
]
