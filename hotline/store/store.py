"""The async Store: customers, contacts and the append-only contact event log.

Every write is committed before the call returns. Every call retries while the database
is briefly unavailable (SQLite locked or unreachable file, PostgreSQL down or
restarting) with exponential back-off for `retry_for` seconds, then raises
StoreUnavailable. The event log has no update or delete: it is append-only.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, event, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hotline.events import CATALOGUE, spec_of
from hotline.store.checkpoints import Checkpointer
from hotline.store.coltypes import as_utc, utcnow
from hotline.store.epochs import Fence, FencedInsert
from hotline.store.errors import UnknownContact, UnknownCustomer
from hotline.store.group_commit import LAZY_DELAY, GroupCommit, InsertRow, Together, UpdateRow
from hotline.store.inline_sqlite import InlineConnection, inline_engine
from hotline.store.jsontext import dumps
from hotline.store.migrate import upgrade
from hotline.store.models import ContactEventRow, ContactRow, CustomerRow, table_of
from hotline.store.phone import normalize_phone
from hotline.store.raw_lookup import RawLookup
from hotline.store.records import Channel, Contact, ContactStatus, Customer, Direction, LoggedEvent
from hotline.store.retry import is_transient, retrying

_logger = logging.getLogger(__name__)

T = TypeVar("T")

CUSTOMERS = table_of(CustomerRow)
CONTACTS = table_of(ContactRow)
EVENTS = table_of(ContactEventRow)

#: Contact fields `update_contact` may change.
CUSTOMER_FIELDS = frozenset({"display_name", "email", "chat_id", "language", "attributes"})
SUMMARY_FIELDS = frozenset(
    {"status", "ended_at", "flow", "flow_version", "language", "node", "variables"}
)
#: The event catalogue's type names, for the check each append makes (a set lookup;
#: `spec_of` builds an enum member first, and raises the error for the others).
_EVENT_TYPES = frozenset(str(kind.value) for kind in CATALOGUE)
_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def async_url(url: str | URL) -> URL:
    """`url` with the async driver filled in: sqlite -> aiosqlite, postgresql -> asyncpg."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def sqlite_url(path: str) -> str:
    """The store URL of an SQLite database file."""
    return f"sqlite+aiosqlite:///{path}"


class Store:
    """Access to the Hotline database; make one with `await Store.connect(url)`."""

    def __init__(
        self,
        engine: AsyncEngine,
        retry_for: float,
        write_engine: AsyncEngine | None = None,
        lookup: RawLookup | None = None,
        commit_delay: float = 0.0,
        lazy_delay: float = LAZY_DELAY,
        checkpointer: Checkpointer | None = None,
    ) -> None:
        self._engine = engine
        #: Where the one writer writes (SQLite: hotline/store/inline_sqlite.py); reads
        #: use `engine`.
        self._write_engine = write_engine or engine
        #: Rows by key on an SQLite file, through the driver on the loop's thread
        #: (hotline/store/raw_lookup.py); None: through `engine`, as other reads.
        self._lookup = lookup
        # One writer, group commit: SQLite takes one writer at a time (ours queue here
        # rather than collide on the file lock), and one commit serves many writes.
        self._writer = GroupCommit(
            self._write_engine, commit_delay=commit_delay, lazy_delay=lazy_delay
        )
        self.retry_for = retry_for
        self._listeners: list[Callable[[LoggedEvent], None]] = []
        #: SQLite files: the thread that checkpoints the WAL (hotline/store/checkpoints.py).
        self._checkpointer = checkpointer
        if checkpointer is not None:
            checkpointer.start()

    @classmethod
    async def connect(
        cls,
        url: str | URL,
        *,
        retry_for: float = 10.0,
        busy_timeout: float = 5.0,
        echo: bool = False,
        commit_delay: float = 0.0,
        lazy_delay: float = LAZY_DELAY,
    ) -> Store:
        """Open the database at `url` (sqlite+aiosqlite or postgresql+asyncpg).

        `retry_for`: seconds to keep retrying while the database is unavailable.
        `busy_timeout`: seconds one SQLite statement waits for a lock (PostgreSQL:
        the connect timeout). `commit_delay`: seconds the idle writer waits for more
        writes to share its next commit (hotline/store/group_commit.py; the controller
        gives COMMIT_DELAY). `lazy_delay`: seconds a lazy event (`append_soon(lazy=True)`)
        may wait for an awaited write to share its commit. Raises StoreUnavailable if
        the database cannot be reached.
        """
        parsed = async_url(url)
        write_engine = lookup = checkpointer = None
        if parsed.get_backend_name() == "sqlite":
            engine = create_async_engine(parsed, echo=echo, json_serializer=dumps)
            _sqlite_setup(engine, busy_timeout)
            if parsed.database and parsed.database != ":memory:":
                # The writer on the loop's thread, never waiting for the lock there.
                write_engine = inline_engine(parsed, echo=echo)
                _sqlite_setup(write_engine, 0)
                # Key lookups too (WAL: a reader never waits for the writer).
                lookup = RawLookup(parsed.database)
                # The WAL copied back into the file off any COMMIT's way.
                checkpointer = Checkpointer(parsed.database)
        else:
            engine = create_async_engine(
                parsed,
                echo=echo,
                json_serializer=dumps,
                pool_pre_ping=True,
                connect_args={
                    "timeout": busy_timeout,
                    "server_settings": {"application_name": "hotline"},
                },
            )
        store = cls(engine, retry_for, write_engine, lookup, commit_delay, lazy_delay, checkpointer)
        try:
            await store.read(lambda conn: conn.execute(select(1)), "connect")
        except BaseException:
            await store.close()
            raise
        return store

    @property
    def url(self) -> URL:
        """The database URL (password hidden when printed)."""
        return self._engine.url

    @property
    def dialect(self) -> str:
        """The dialect name: sqlite or postgresql."""
        return self._engine.dialect.name

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine, for reports and tests that need plain SQL."""
        return self._engine

    @property
    def write_engine(self) -> AsyncEngine:
        """The engine the store's one writer commits through (`engine` but for SQLite
        files: hotline/store/inline_sqlite.py)."""
        return self._write_engine

    async def migrate(self) -> None:
        """Upgrade the schema to the newest migration; does nothing if already there."""

        async def op(conn: AsyncConnection) -> None:
            await conn.run_sync(upgrade)

        # Alembic keeps its migration context in module globals: one run at a time per
        # process. Other processes are kept apart by the database (a PostgreSQL advisory
        # lock; SQLite's write lock, with a retry).
        async with _migration_lock():
            await self.write(op, "migrate")

    async def close(self) -> None:
        """Close all connections."""
        await self._writer.close()
        await self._engine.dispose()
        if self._write_engine is not self._engine:
            await self._write_engine.dispose()
        if self._lookup is not None:
            self._lookup.close()
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # customers

    async def customer_for_phone(self, phone: str, create: bool = True) -> Customer | None:
        """The customer with this phone number, created if missing (unless create=False).

        The number is normalised first (see `normalize_phone`); ValueError if it is not a
        phone number at all (for example the caller id "anonymous").
        """
        number = normalize_phone(phone)
        if number is None:
            raise ValueError(f"not a phone number: {phone!r}")
        if self._lookup is not None:  # a caller known already: no write at all
            known = await self._row(CUSTOMERS, "phone", number, "customer_for_phone")
            if known is not None or not create:
                return None if known is None else Customer(**known)
            return await self._new_customer(number)
        query = select(CUSTOMERS).where(CUSTOMERS.c.phone == number)

        async def op(conn: AsyncConnection) -> Row[Any] | None:
            row = (await conn.execute(query)).first()
            if row is not None or not create:
                return row
            values = {"created_at": utcnow(), "phone": number, "attributes": {}}
            await conn.execute(self.insert_ignore(CUSTOMERS, ["phone"]).values(values))
            return (await conn.execute(query)).one()

        row = await (
            self.write(op, "customer_for_phone") if create else self.read(op, "customer_for_phone")
        )
        return None if row is None else Customer(**row._mapping)

    async def _new_customer(self, number: str) -> Customer:
        """A customer for a number not known a moment ago (SQLite file): one row
        inserted through the driver (hotline/store/raw_rows.py) and the record made from
        what was written, instead of a select, an insert and a select through SQLAlchemy
        (every new caller's: about a tenth of the controller's CPU under load)."""
        created = utcnow()
        values = {"created_at": created, "phone": number, "attributes": {}}
        try:
            key = await self.write(InsertRow(CUSTOMERS, values), "customer_for_phone")
        except IntegrityError:  # the number's row was made meanwhile (its other call)
            known = await self._row(CUSTOMERS, "phone", number, "customer_for_phone")
            if known is None:
                raise
            return Customer(**known)
        return Customer(
            id=int(key),
            created_at=created,
            display_name=None,
            phone=number,
            email=None,
            chat_id=None,
            language=None,
            attributes={},
        )

    async def customer(self, customer_id: int) -> Customer | None:
        """The customer with this id, or None."""
        row = await self._row(CUSTOMERS, "id", customer_id, "customer")
        return None if row is None else Customer(**row)

    # contacts

    async def update_customer(self, customer_id: int, **fields: Any) -> None:
        """Change what is known of a customer: display_name, email, chat_id, language,
        attributes (the whole dict is replaced)."""
        unknown = set(fields) - CUSTOMER_FIELDS
        if unknown:
            raise TypeError(
                f"update_customer: cannot set {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(CUSTOMER_FIELDS))}"
            )
        if not fields:
            return
        values = dict(fields)
        for name in ("display_name", "email", "chat_id", "language"):
            if name in values and values[name] is not None:
                values[name] = _text(values[name], name)
        if "attributes" in values:
            values["attributes"] = _json_dict(values["attributes"], "attributes")
        stmt = update(CUSTOMERS).where(CUSTOMERS.c.id == customer_id).values(values)

        async def op(conn: AsyncConnection) -> None:
            if (await conn.execute(stmt)).rowcount == 0:
                raise UnknownCustomer(f"no customer with id {customer_id!r}")

        await self.write(op, "update_customer")

    async def open_contact(
        self,
        channel: str,
        direction: str,
        source: str,
        destination: str,
        customer_id: int | None = None,
        asterisk_channel: str | None = None,
        *,
        asterisk_node: str | None = None,
    ) -> str:
        """Record a new active contact; returns its id (a uuid4 string)."""
        contact_id = str(uuid.uuid4())
        values: dict[str, Any] = {
            "id": contact_id,
            "channel": _member(Channel, channel, "channel"),
            "direction": _member(Direction, direction, "direction"),
            "customer_id": customer_id,
            "source": _text(source, "source"),
            "destination": _text(destination, "destination"),
            "started_at": utcnow(),
            "status": ContactStatus.ACTIVE.value,
            "variables": {},
            "asterisk_channel": asterisk_channel,
            "asterisk_node": asterisk_node,
        }

        try:
            # A row insert: it shares a batch's lean transaction (hotline/store/raw_rows.py).
            await self.write(InsertRow(CONTACTS, values), "open_contact")
        except IntegrityError as exc:
            raise UnknownCustomer(f"no customer with id {customer_id!r}") from exc
        return contact_id

    async def update_contact(self, contact_id: str, *, lazy: bool = False, **fields: Any) -> None:
        """Change a contact's summary fields: status, ended_at, flow, flow_version,
        language, node, variables (the whole dict is replaced). `lazy`: the caller
        goes on meanwhile (a task), so the write may wait to share a commit as a lazy
        event does (`append_soon`)."""
        unknown = set(fields) - SUMMARY_FIELDS
        if unknown:
            raise TypeError(
                f"update_contact: cannot set {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(SUMMARY_FIELDS))}"
            )
        if not fields:
            return
        values = dict(fields)
        if "status" in values:
            values["status"] = _member(ContactStatus, values["status"], "status")
        if values.get("ended_at") is not None:
            values["ended_at"] = as_utc(values["ended_at"], "ended_at")
        if "variables" in values:
            values["variables"] = _json_dict(values["variables"], "variables")
        for name in ("flow", "flow_version", "language", "node"):
            if name in values and values[name] is not None:
                values[name] = _text(values[name], name)
        op = UpdateRow(CONTACTS, "id", contact_id, values, _no_contact(contact_id))
        await self.write(op, "update_contact", lazy=lazy)

    async def close_contact(self, contact_id: str, status: str) -> None:
        """End a contact with a final status; ended_at is set now unless already set."""
        await self.write(_close(contact_id, status), "close_contact")

    async def end_contact(
        self,
        contact_id: str,
        status: str,
        type: str,
        data: dict[str, Any] | None = None,
        queue: str | None = None,
        agent: str | None = None,
    ) -> int:
        """Append a contact's last event and close it with a final status (as
        `close_contact`), in one transaction: a reader sees both or neither, and a crash
        cannot leave the event without the close. The event's id once committed."""
        row, values = self._event_row(contact_id, type, data, queue, agent, None)
        close = _close(contact_id, status)
        try:
            event_id, _ = await self.write(Together(row, close), f"end_contact {type}")
        except IntegrityError as exc:
            raise UnknownContact(f"no contact with id {contact_id!r}") from exc
        self._notify(values, int(event_id))
        return int(event_id)

    async def contact(self, contact_id: str) -> Contact | None:
        """The contact with this id, or None."""
        row = await self._row(CONTACTS, "id", contact_id, "contact")
        return None if row is None else Contact(**row)

    async def contact_and_customer(self, contact_id: str) -> tuple[Contact, Customer | None] | None:
        """The contact with this id and its customer (None if it has none), in one read;
        None if there is no such contact. For the live views, which need both a call."""
        lookup = self._lookup
        if lookup is not None:

            async def by_key() -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
                # One attempt: two lookups by key on SQLite's page cache, no await between.
                contact = lookup.row(CONTACTS, "id", contact_id)
                owner = None if contact is None else contact["customer_id"]
                return contact, None if owner is None else lookup.row(CUSTOMERS, "id", owner)

            found, customer = await retrying(by_key, self.retry_for, "contact_and_customer")
            if found is None:
                return None
            return Contact(**found), None if customer is None else Customer(**customer)
        query = (
            select(CONTACTS, CUSTOMERS)
            .select_from(CONTACTS.outerjoin(CUSTOMERS, CUSTOMERS.c.id == CONTACTS.c.customer_id))
            .where(CONTACTS.c.id == contact_id)
        )
        row = await self.read(lambda conn: _first(conn, query), "contact_and_customer")
        if row is None:
            return None
        width = len(CONTACTS.columns)
        contact = Contact(**dict(zip(CONTACTS.columns.keys(), row[:width], strict=True)))
        values = dict(zip(CUSTOMERS.columns.keys(), row[width:], strict=True))
        return contact, None if values["id"] is None else Customer(**values)

    async def recent_contacts(self, limit: int = 50) -> list[Contact]:
        """The newest contacts, newest first."""
        query = (
            select(CONTACTS)
            .order_by(CONTACTS.c.started_at.desc(), CONTACTS.c.id.desc())
            .limit(limit)
        )
        rows = await self.read(lambda conn: _all(conn, query), "recent_contacts")
        return [Contact(**row._mapping) for row in rows]

    async def open_contacts_on(self, node: str) -> list[Contact]:
        """The contacts not ended whose call the Asterisk node `node` holds (its call
        worker's name, contacts.asterisk_node), oldest first."""
        query = (
            select(CONTACTS)
            .where(CONTACTS.c.asterisk_node == node, CONTACTS.c.ended_at.is_(None))
            .order_by(CONTACTS.c.started_at, CONTACTS.c.id)
        )
        rows = await self.read(lambda conn: _all(conn, query), "open_contacts_on")
        return [Contact(**row._mapping) for row in rows]

    # the event log

    async def append(
        self,
        contact_id: str | None,
        type: str,
        data: dict[str, Any] | None = None,
        queue: str | None = None,
        agent: str | None = None,
        *,
        ts: datetime | None = None,
    ) -> int:
        """Append an event to the log; returns its id once it is committed.

        `contact_id` is None for agent-only events. `type` is one of the event
        catalogue's (`hotline.events`; UnknownEventType otherwise). `ts` defaults to
        now (give it only to import history).
        """
        row, values = self._event_row(contact_id, type, data, queue, agent, ts)
        queued = self._writer.submit(row)
        return await self._appended(queued, values)

    def append_soon(
        self,
        contact_id: str | None,
        type: str,
        data: dict[str, Any] | None = None,
        queue: str | None = None,
        agent: str | None = None,
        *,
        ts: datetime | None = None,
        lazy: bool = False,
    ) -> asyncio.Future[int]:
        """`append` for a caller that goes on meanwhile: the event takes its place in
        the log now (before any write asked for later); the future gives its id once it
        is committed. Bad arguments raise at once, as `append` does. `lazy`: nothing
        waits for it now (a call's own events), so it may wait up to the lazy delay to
        share the commit of a write that is awaited (`hurry` when one waits for it)."""
        row, values = self._event_row(contact_id, type, data, queue, agent, ts)
        queued = self._writer.submit(row, lazy=lazy)
        # No task per event (a call logs a score of them): committed, the future is
        # settled by a callback; a failure takes `_appended`'s way (retry, errors).
        appended: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def settle(done: asyncio.Future[Any]) -> None:
            if appended.done():
                return
            if done.cancelled():
                appended.cancel()
            elif done.exception() is not None:
                retried = asyncio.ensure_future(self._appended(done, values))
                retried.add_done_callback(lambda task: _pass_on(task, appended))
            else:
                event_id = int(done.result())
                self._notify(values, event_id)
                appended.set_result(event_id)

        def withdraw(done: asyncio.Future[int]) -> None:
            if done.cancelled():  # not wanted any more: not written, if still in line
                queued.cancel()

        queued.add_done_callback(settle)
        appended.add_done_callback(withdraw)
        return appended

    def _event_row(
        self,
        contact_id: str | None,
        type: str,
        data: dict[str, Any] | None,
        queue: str | None,
        agent: str | None,
        ts: datetime | None,
    ) -> tuple[InsertRow, dict[str, Any]]:
        """The event's row to insert, and its values (what its listeners hear); raises
        at once on a bad type or data."""
        if not isinstance(type, str):
            raise ValueError(f"event type must be a string like 'call.answered', got {type!r}")
        if type not in _EVENT_TYPES:
            spec_of(type)  # an UnknownEventType
        data = {} if data is None else data
        # The data's JSON text, made once: it checks the data and is what the row
        # stores on SQLite (hotline/store/jsontext.py).
        text = _json_text(data, "data")
        values = {
            "contact_id": contact_id,
            "ts": utcnow() if ts is None else as_utc(ts, "ts"),
            "type": type,
            "queue": queue,
            "agent": agent,
            "data": data,
        }
        return InsertRow(EVENTS, values, {"data": text}), values

    async def _appended(self, queued: asyncio.Future[Any], values: dict[str, Any]) -> int:
        what = f"append {values['type']}"
        try:
            try:
                event_id = int(await queued)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                # Unavailable: try again, in line with the writes asked for since.
                event_id = int(await self.write(InsertRow(EVENTS, values), what))
        except IntegrityError as exc:
            raise UnknownContact(f"no contact with id {values['contact_id']!r}") from exc
        self._notify(values, event_id)
        return event_id

    def hurry(self) -> None:
        """Commit the lazy events in line now: somebody waits for them."""
        self._writer.hurry()

    def _notify(self, values: dict[str, Any], event_id: int) -> None:
        """Tell the listeners of an event just committed."""
        if self._listeners:
            event = LoggedEvent(id=event_id, **values)
            for listener in tuple(self._listeners):
                try:
                    listener(event)
                except Exception:
                    _logger.exception("event listener failed on %s", values["type"])

    async def append_fenced(
        self,
        fence: Fence,
        contact_id: str | None,
        type: str,
        data: dict[str, Any] | None = None,
        queue: str | None = None,
        agent: str | None = None,
    ) -> int:
        """`append` for a routing leader (hotline/cluster): committed only while
        `fence.epoch` is still its domain's epoch, in the same transaction; StaleEpoch
        otherwise, with nothing written (hotline/store/epochs.py). `data` gets the
        epoch, so the log shows which leader wrote each event."""
        if not isinstance(type, str):
            raise ValueError(f"event type must be a string like 'call.answered', got {type!r}")
        spec_of(type)
        values: dict[str, Any] = {
            "contact_id": contact_id,
            "ts": utcnow(),
            "type": type,
            "queue": queue,
            "agent": agent,
            "data": {**_json_dict({} if data is None else data, "data"), "epoch": fence.epoch},
        }
        op = FencedInsert(fence, values)
        try:
            # Retried while the database is unavailable: each try checks the epoch again.
            event_id = int(await self.write(op, f"append {type} (epoch {fence.epoch})"))
        except IntegrityError as exc:
            raise UnknownContact(f"no contact with id {contact_id!r}") from exc
        event = LoggedEvent(id=event_id, **values)
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:
                _logger.exception("event listener failed on %s", type)
        return event_id

    def listen(self, listener: Callable[[LoggedEvent], None]) -> Callable[[], None]:
        """Call `listener` with every event this store appends, once it is committed.

        Listeners run inside `append` and must not block (put the event on a queue).
        Returns a function that removes the listener.
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def events(self, contact_id: str) -> list[LoggedEvent]:
        """All events of one contact, in log order."""
        query = select(EVENTS).where(EVENTS.c.contact_id == contact_id).order_by(EVENTS.c.id)
        rows = await self.read(lambda conn: _all(conn, query), "events")
        return [LoggedEvent(**row._mapping) for row in rows]

    async def events_between(
        self, start: datetime, end: datetime, types: Iterable[str] | None = None
    ) -> list[LoggedEvent]:
        """Events with start <= ts < end (optionally only these types), in log order."""
        query = select(EVENTS).where(
            EVENTS.c.ts >= as_utc(start, "start"), EVENTS.c.ts < as_utc(end, "end")
        )
        if types is not None:
            wanted = [types] if isinstance(types, str) else list(types)
            query = query.where(EVENTS.c.type.in_(wanted))
        query = query.order_by(EVENTS.c.id)
        rows = await self.read(lambda conn: _all(conn, query), "events_between")
        return [LoggedEvent(**row._mapping) for row in rows]

    # plumbing

    async def write(
        self, op: Callable[[AsyncConnection], Awaitable[T]], what: str, *, lazy: bool = False
    ) -> T:
        """Run `op` in a transaction (shared with the writes queued with it: group
        commit), committed before returning; retried while the database is unavailable.
        `lazy`: the caller does not wait for it now (`append_soon`)."""
        return await retrying(lambda: self._writer.run(op, lazy=lazy), self.retry_for, what)

    async def ping(self) -> None:
        """One `SELECT 1`, not retried (a health check): raises if the database does not
        answer now."""
        async with self._engine.connect() as conn:
            await conn.execute(select(1))

    async def read(self, op: Callable[[AsyncConnection], Awaitable[T]], what: str) -> T:
        """Run `op` on a connection; retried while the database is unavailable."""

        async def attempt() -> T:
            async with self._engine.connect() as conn:
                return await op(conn)

        return await retrying(attempt, self.retry_for, what)

    async def _row(self, table: Any, key: str, value: Any, what: str) -> dict[str, Any] | None:
        """The row whose unique `key` is `value`, as {column: value}, or None."""
        lookup = self._lookup
        if lookup is None:
            query = select(table).where(table.c[key] == value)
            found = await self.read(lambda conn: _first(conn, query), what)
            return None if found is None else dict(found._mapping)

        async def attempt() -> dict[str, Any] | None:
            return lookup.row(table, key, value)

        return await retrying(attempt, self.retry_for, what)

    def insert_ignore(self, table: Any, keys: list[str]) -> Any:
        """INSERT ... ON CONFLICT (keys) DO NOTHING for the current dialect."""
        make = pg_insert if self.dialect == "postgresql" else sqlite_insert
        return make(table).on_conflict_do_nothing(index_elements=keys)


_MIGRATION_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _migration_lock() -> asyncio.Lock:
    """The lock that serialises migrations on the running event loop."""
    loop = asyncio.get_running_loop()
    lock = _MIGRATION_LOCKS.get(loop)
    if lock is None:
        lock = _MIGRATION_LOCKS[loop] = asyncio.Lock()
    return lock


def _sqlite_setup(engine: AsyncEngine, busy_timeout: float) -> None:
    """WAL, a busy timeout, foreign keys, full sync and no checkpoint in a COMMIT on
    every SQLite connection.

    pysqlite's own transaction handling is turned off and BEGIN emitted explicitly, so
    transactions (and migrations) are atomic as on PostgreSQL.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        # Checkpoints are the Checkpointer's, not some COMMIT's (hotline/store/checkpoints.py).
        cursor.execute("PRAGMA wal_autocheckpoint = 0")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        driver = conn.connection.driver_connection
        if isinstance(driver, InlineConnection):
            # The writer's statements run on this thread: straight to sqlite3, not
            # through a SQLAlchemy execution (a third of a one-row transaction's CPU).
            driver._conn.execute("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN")


def _close(contact_id: str, status: str) -> UpdateRow:
    """The update that ends a contact with a final status (ended_at now, unless set)."""
    final = _member(ContactStatus, status, "status")
    if final == ContactStatus.ACTIVE:
        raise ValueError("a contact is closed with a final status, not 'active'")
    values = {"status": final, "ended_at": utcnow()}
    missing = _no_contact(contact_id)
    return UpdateRow(CONTACTS, "id", contact_id, values, missing, keep=frozenset({"ended_at"}))


def _pass_on(task: asyncio.Future[int], to: asyncio.Future[int]) -> None:
    """`task`'s outcome onto `to` (unless `to` is settled already)."""
    if to.done():
        return
    if task.cancelled():
        to.cancel()
    elif task.exception() is not None:
        to.set_exception(task.exception())  # type: ignore[arg-type]
    else:
        to.set_result(task.result())


async def _first(conn: AsyncConnection, query: Any) -> Row[Any] | None:
    return (await conn.execute(query)).first()


async def _all(conn: AsyncConnection, query: Any) -> list[Row[Any]]:
    return list((await conn.execute(query)).all())


def _no_contact(contact_id: str) -> Callable[[], Exception]:
    """The error of an update that found no contact with this id."""
    return lambda: UnknownContact(f"no contact with id {contact_id!r}")


def _member(enum: Any, value: Any, what: str) -> str:
    """`value` as a member of `enum` (its string value), or a ValueError naming the choices."""
    try:
        return str(enum(value).value)
    except ValueError:
        choices = ", ".join(m.value for m in enum)
        raise ValueError(f"{what} must be one of {choices}; got {value!r}") from None


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__}")
    return value


def _json_dict(value: Any, what: str) -> dict[str, Any]:
    """`value` if it is a dict that JSON can store, else a clear error."""
    _json_text(value, what)
    checked: dict[str, Any] = value
    return checked


def _json_text(value: Any, what: str) -> str:
    """The JSON text of `value` if it is a dict that JSON can store, else a clear error."""
    if not isinstance(value, dict):
        raise TypeError(f"{what} must be a dict, got {type(value).__name__}")
    try:
        return dumps(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON-serialisable: {exc}") from None
