"""Reading the event log for reports: narrow SQL per concern, times as epoch seconds.

Reports read hundreds of thousands of events; building LoggedEvent records (with their
JSON documents and datetimes) for each would take most of the time. So each query
selects only the columns and JSON fields one metric family needs, and the database
turns timestamps into epoch seconds (SQLite: julianday, millisecond precision;
PostgreSQL: EXTRACT(EPOCH)).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, and_, case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from hotline.events import EventType
from hotline.store import Store
from hotline.store.models import ContactEventRow, ContactRow

EVENTS = ContactEventRow.__table__
CONTACTS = ContactRow.__table__

#: Router events that move an agent's channel from one state to another.
AGENT_TRANSITIONS = (
    EventType.AGENT_LOGIN,
    EventType.AGENT_LOGOUT,
    EventType.AGENT_PAUSE,
    EventType.AGENT_UNPAUSE,
    EventType.AGENT_RESERVE,
    EventType.AGENT_RING,
    EventType.AGENT_ACCEPT,
    EventType.AGENT_REJECT,
    EventType.AGENT_RELEASE,
    EventType.AGENT_NO_ANSWER,
    EventType.AGENT_FINISH,
    EventType.AGENT_WRAP_END,
)
QUEUE_EVENTS = (
    EventType.CONTACT_JOIN,
    EventType.CONTACT_ANSWERED,
    EventType.CONTACT_LEAVE,
    EventType.CONTACT_REFUSED,
    # an agent's transfer: the contact's next joins are transfers-in (queues.py)
    EventType.CALL_TRANSFERRED,
    EventType.CHAT_TRANSFERRED,
)
QUEUE_ENDS = (EventType.CONTACT_ANSWERED, EventType.CONTACT_LEAVE)
#: Events that mean a contact was not self-served: it reached (or asked for) a queue,
#: a person or a callback.
ASSISTED = (
    EventType.CONTACT_JOIN,
    EventType.CONTACT_REFUSED,
    EventType.QUEUE_REFUSED,
    EventType.TRANSFER_ANSWERED,
    EventType.CALLBACK_REQUESTED,
    EventType.CHAT_TRANSFERRED,
)
CALLBACK_EVENTS = (
    EventType.CALLBACK_REQUESTED,
    EventType.CALLBACK_COMPLETED,
    EventType.CALLBACK_FAILED,
)
TRANSFER_EVENTS = (EventType.TRANSFER_ANSWERED, EventType.CHAT_TRANSFERRED)
#: Contacts in progress longer than this before a period starts are not carried in.
LOAD_LOOKBACK = 86400.0
#: A contact that started in the period is looked at this long after it for whether
#: it reached a queue or an agent.
FLAG_LOOKAHEAD = 86400.0
_CHUNK = 500
#: Above this many calls their queues are read in one scan of the period's answers.
SCAN_ABOVE = 4 * _CHUNK


class epoch(FunctionElement[float]):
    """A timestamp column as epoch seconds (float)."""

    type = Float()
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: Any, **kw: Any) -> str:
    # julianday keeps milliseconds; rounding drops the float noise of the day fraction
    column = compiler.process(element.clauses, **kw)
    return f"round((julianday({column}) - 2440587.5) * 86400.0, 3)"


@compiles(epoch, "postgresql")
def _epoch_pg(element: epoch, compiler: Any, **kw: Any) -> str:
    return (
        f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS DOUBLE PRECISION)"
    )


def _field(name: str) -> ColumnElement[str]:
    value: ColumnElement[str] = EVENTS.c.data[name].as_string()
    return value


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _between(t0: float, t1: float) -> ColumnElement[bool]:
    return and_(EVENTS.c.ts >= _at(t0), EVENTS.c.ts < _at(t1))


class EventSource:
    """The queries reports need, on one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def _rows(self, query: Any, what: str) -> list[tuple[Any, ...]]:
        async def op(conn: AsyncConnection) -> list[tuple[Any, ...]]:
            return [tuple(row) for row in (await conn.execute(query)).all()]

        return await self.store.read(op, f"report {what}")

    async def known_queues(self) -> set[str]:
        query = select(EVENTS.c.queue).where(EVENTS.c.queue.is_not(None)).distinct()
        return {row[0] for row in await self._rows(query, "queues")}

    async def known_agents(self) -> set[str]:
        query = select(EVENTS.c.agent).where(EVENTS.c.agent.is_not(None)).distinct()
        return {row[0] for row in await self._rows(query, "agents")}

    async def queue_events(self, t0: float, t1: float) -> list[tuple[Any, ...]]:
        """(t, type, contact, queue, agent, channel, detail) of joins, answers, leaves,
        refusals in [t0, t1), in log order."""
        query = (
            select(*_queue_columns())
            .where(_between(t0, t1), EVENTS.c.type.in_(QUEUE_EVENTS))
            .order_by(EVENTS.c.id)
        )
        return await self._rows(query, "queue events")

    async def queue_ends_after(self, contacts: Iterable[str], t1: float) -> list[tuple[Any, ...]]:
        """Answers and leaves at or after t1 of these contacts (same columns)."""
        found: list[tuple[Any, ...]] = []
        for chunk in _chunks(sorted(contacts)):
            query = (
                select(*_queue_columns())
                .where(
                    EVENTS.c.contact_id.in_(chunk),
                    EVENTS.c.ts >= _at(t1),
                    EVENTS.c.type.in_(QUEUE_EVENTS),
                )
                .order_by(EVENTS.c.id)
            )
            found += await self._rows(query, "queue ends")
        return found

    async def agent_events(self, t0: float, t1: float) -> list[tuple[Any, ...]]:
        """(t, type, contact, queue, agent, channel, from, to, reason) of agent state
        transitions in [t0, t1), in log order."""
        query = (
            select(
                epoch(EVENTS.c.ts),
                EVENTS.c.type,
                EVENTS.c.contact_id,
                EVENTS.c.queue,
                EVENTS.c.agent,
                _field("channel"),
                _field("from"),
                _field("to"),
                _field("reason"),
            )
            .where(_between(t0, t1), EVENTS.c.type.in_(AGENT_TRANSITIONS))
            .order_by(EVENTS.c.id)
        )
        return await self._rows(query, "agent events")

    async def agent_states_at(self, t0: float) -> list[tuple[Any, ...]]:
        """(agent, channel, state, reason, since) of every agent channel's last
        transition before t0."""
        channel = _field("channel")
        last = (
            select(func.max(EVENTS.c.id))
            .where(EVENTS.c.ts < _at(t0), EVENTS.c.type.in_(AGENT_TRANSITIONS))
            .group_by(EVENTS.c.agent, channel)
        )
        query = select(
            EVENTS.c.agent, channel, _field("to"), _field("reason"), epoch(EVENTS.c.ts)
        ).where(EVENTS.c.id.in_(last.scalar_subquery()))
        return await self._rows(query, "agent states")

    async def agent_loads_at(self, t0: float) -> list[tuple[Any, ...]]:
        """(t, type, agent, channel, from, contact, queue) of logins, accepts and
        finishes in the day before t0, in log order: contacts in progress at t0."""
        query = (
            select(
                epoch(EVENTS.c.ts),
                EVENTS.c.type,
                EVENTS.c.agent,
                _field("channel"),
                _field("from"),
                EVENTS.c.contact_id,
                EVENTS.c.queue,
            )
            .where(
                _between(t0 - LOAD_LOOKBACK, t0),
                EVENTS.c.type.in_(
                    (EventType.AGENT_LOGIN, EventType.AGENT_ACCEPT, EventType.AGENT_FINISH)
                ),
            )
            .order_by(EVENTS.c.id)
        )
        return await self._rows(query, "agent loads")

    async def next_transition(self, agent: str, channel: str, t1: float) -> float | None:
        """When the agent's channel next changed state at or after t1 (ends a wrap-up)."""
        query = select(func.min(epoch(EVENTS.c.ts))).where(
            EVENTS.c.agent == agent,
            EVENTS.c.ts >= _at(t1),
            EVENTS.c.type.in_(AGENT_TRANSITIONS),
            _field("channel") == channel,
        )
        rows = await self._rows(query, "wrap-up end")
        return rows[0][0] if rows else None

    async def contacts(self, t0: float, t1: float) -> list[tuple[Any, ...]]:
        """(id, channel, customer, started, status, assisted, answered) of contacts that
        started in [t0, t1). assisted: reached (or asked for) a queue, a transfer or a
        callback; answered: an agent took it (within a day after the period)."""
        query = select(
            CONTACTS.c.id,
            CONTACTS.c.channel,
            CONTACTS.c.customer_id,
            epoch(CONTACTS.c.started_at),
            CONTACTS.c.status,
        ).where(CONTACTS.c.started_at >= _at(t0), CONTACTS.c.started_at < _at(t1))
        # One grouped scan of the few event types that matter (index type, ts), rather
        # than a correlated lookup per contact, which SQLite may plan on the wrong index.
        answered = func.max(case((EVENTS.c.type == EventType.CONTACT_ANSWERED, 1), else_=0))
        flags_query = (
            select(EVENTS.c.contact_id, answered)
            .where(
                _between(t0, t1 + FLAG_LOOKAHEAD),
                EVENTS.c.type.in_((*ASSISTED, EventType.CONTACT_ANSWERED)),
            )
            .group_by(EVENTS.c.contact_id)
        )
        flags = {cid: bool(ans) for cid, ans in await self._rows(flags_query, "contact flags")}
        return [
            (*row, cid in flags, flags.get(cid, False))
            for row in await self._rows(query, "contacts")
            for cid in (row[0],)
        ]

    async def customer_starts(
        self, customers: Iterable[int], t0: float, t1: float
    ) -> list[tuple[Any, ...]]:
        """(customer, started) of these customers' contacts in [t0, t1)."""
        found: list[tuple[Any, ...]] = []
        for chunk in _chunks(sorted(customers)):
            query = select(CONTACTS.c.customer_id, epoch(CONTACTS.c.started_at)).where(
                CONTACTS.c.customer_id.in_(chunk),
                CONTACTS.c.started_at >= _at(t0),
                CONTACTS.c.started_at < _at(t1),
            )
            found += await self._rows(query, "customer contacts")
        return found

    async def documents(self, t0: float, t1: float, types: Sequence[str]) -> list[tuple[Any, ...]]:
        """(t, type, contact, queue, agent, contact channel, data) of a few rare event
        types (callbacks, transfers, surveys), with their whole data."""
        query = (
            select(
                epoch(EVENTS.c.ts),
                EVENTS.c.type,
                EVENTS.c.contact_id,
                EVENTS.c.queue,
                EVENTS.c.agent,
                CONTACTS.c.channel,
                EVENTS.c.data,
            )
            .select_from(EVENTS.outerjoin(CONTACTS, CONTACTS.c.id == EVENTS.c.contact_id))
            .where(_between(t0, t1), EVENTS.c.type.in_(list(types)))
            .order_by(EVENTS.c.id)
        )
        return await self._rows(query, "documents")

    async def outbound_contacts(self, t0: float, t1: float) -> set[str]:
        """Agents' outbound calls (contact channel `outbound`) that started in
        [t0 - a day, t1): they pass through a queue for its agent, but are no queue
        visit."""
        query = select(CONTACTS.c.id).where(
            CONTACTS.c.channel == "outbound",
            CONTACTS.c.started_at >= _at(t0 - LOAD_LOOKBACK),
            CONTACTS.c.started_at < _at(t1),
        )
        return {row[0] for row in await self._rows(query, "outbound contacts")}

    async def call_queues(
        self, contacts: Iterable[str], t0: float, t1: float
    ) -> list[tuple[Any, ...]]:
        """(contact, t, queue) of these contacts' answers by a queue's agent and
        outbound calls in [t0 - a day, t1): which queue a call was in."""
        kinds = (EventType.CONTACT_ANSWERED, EventType.OUTBOUND_STARTED)
        wanted = set(contacts)
        columns = (
            EVENTS.c.contact_id,
            epoch(EVENTS.c.ts),
            func.coalesce(EVENTS.c.queue, _field("queue")),
        )
        within = (_between(t0 - LOAD_LOOKBACK, t1), EVENTS.c.type.in_(kinds))
        if len(wanted) > SCAN_ABOVE:
            # Many calls (a busy week's holds): one scan of the period's answers (index
            # type, ts) is several times faster than a lookup per chunk of contacts.
            rows = await self._rows(select(*columns).where(*within), "call queues")
            return [row for row in rows if row[0] in wanted]
        found: list[tuple[Any, ...]] = []
        for chunk in _chunks(sorted(wanted)):
            query = select(*columns).where(EVENTS.c.contact_id.in_(chunk), *within)
            found += await self._rows(query, "call queues")
        return found

    async def first_after(
        self, contacts: Iterable[str], types: Sequence[str], t0: float
    ) -> list[tuple[Any, ...]]:
        """(contact, t) of each of these contacts' first event of `types` at or after
        t0 (within a day after the period's start and beyond)."""
        found: list[tuple[Any, ...]] = []
        for chunk in _chunks(sorted(contacts)):
            query = (
                select(EVENTS.c.contact_id, func.min(epoch(EVENTS.c.ts)))
                .where(
                    EVENTS.c.contact_id.in_(chunk),
                    EVENTS.c.ts >= _at(t0),
                    EVENTS.c.type.in_(list(types)),
                )
                .group_by(EVENTS.c.contact_id)
            )
            found += await self._rows(query, "first events")
        return found

    async def flow_nodes(self, t0: float, t1: float) -> list[tuple[Any, ...]]:
        """(flow, node, node type, contact channel, visits, contacts) of flow nodes
        entered in [t0, t1)."""
        flow, node, kind = _field("flow"), _field("node"), _field("type")
        query = (
            select(
                flow,
                node,
                kind,
                CONTACTS.c.channel,
                func.count(),
                func.count(distinct(EVENTS.c.contact_id)),
            )
            .select_from(EVENTS.join(CONTACTS, CONTACTS.c.id == EVENTS.c.contact_id))
            .where(_between(t0, t1), EVENTS.c.type == EventType.FLOW_NODE)
            .group_by(flow, node, kind, CONTACTS.c.channel)
        )
        return await self._rows(query, "flow nodes")

    async def flow_exits(self, t0: float, t1: float) -> list[tuple[Any, ...]]:
        """(flow, node, contact channel, contact status, contacts): the last flow node
        each contact entered in [t0, t1), by how the contact ended."""
        last = (
            select(func.max(EVENTS.c.id))
            .where(_between(t0, t1), EVENTS.c.type == EventType.FLOW_NODE)
            .group_by(EVENTS.c.contact_id)
        )
        flow, node = _field("flow"), _field("node")
        query = (
            select(flow, node, CONTACTS.c.channel, CONTACTS.c.status, func.count())
            .select_from(EVENTS.join(CONTACTS, CONTACTS.c.id == EVENTS.c.contact_id))
            .where(EVENTS.c.id.in_(last.scalar_subquery()))
            .group_by(flow, node, CONTACTS.c.channel, CONTACTS.c.status)
        )
        return await self._rows(query, "flow exits")


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _queue_columns() -> tuple[Any, ...]:
    """The columns of queue events: (t, type, contact, queue, agent, channel, detail)."""
    return (
        epoch(EVENTS.c.ts),
        EVENTS.c.type,
        EVENTS.c.contact_id,
        EVENTS.c.queue,
        EVENTS.c.agent,
        _field("channel"),
        _field("detail"),
    )
