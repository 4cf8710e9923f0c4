"""The callback service: books callbacks (written to the store before anyone is told),
keeps each one's place in its queue through the one routing engine, retries failed
attempts, and restores every open callback when the controller starts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from hotline.acd.model import Channel
from hotline.acd.router import RoutingError
from hotline.acd.service import RoutingService, Ticket
from hotline.callbacks.rules import (
    CallbackRefused,
    NumberHistory,
    activation,
    normalize_number,
    refuse_flood,
    refuse_own,
    retry_at,
)
from hotline.callbacks.settings import CallbackConfig, QueueCallback
from hotline.errors import error_text
from hotline.flows.hours import Schedule
from hotline.store import Store
from hotline.store.callbacks import Callback, CallbackState, CallbackStore, NewCallback

log = logging.getLogger(__name__)

#: A callback whose queue refuses it for now (closed: nobody logged in) tries again after.
REJOIN_DELAY = 10.0

#: Attempt outcomes that end the callback well, or that are no attempt at all.
COMPLETED = "completed"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class AttemptResult:
    """How one turn at the head of the queue ended.

    `outcome`: completed; cancelled (taken out of the queue); requeue (nothing was
    dialed, e.g. the queue closed it: wait and join again); or why the customer was
    not reached: no_answer, busy, short (answered, over within min_talk_seconds:
    voicemail or hang-up), failed (the call could not be set up), agent_lost.
    """

    outcome: str
    agent: str | None = None
    detail: dict[str, Any] | None = None


class Dialer(Protocol):
    """The channel side (ari_app/callback_dialer.py): rings agents for the ticket's offers and
    dials the customer. `dialing(agent)` must be awaited right before the customer's
    phone is dialed (it counts and logs the attempt)."""

    async def attempt(
        self,
        callback: Callback,
        ticket: Ticket,
        settings: QueueCallback,
        dialing: Callable[[str], Awaitable[int]],
    ) -> AttemptResult: ...


#: POSTs the abandoned-contact message hook: (url, json) -> HTTP status.
Notify = Callable[[str, dict[str, Any]], Awaitable[int]]


class CallbackService:
    """Callbacks for every channel.

    A contact waiting in a queue (a caller: ari_app/waiting.py; a chat:
    chat_bridge/waiting.py): `check(number, queue)` while the customer gives their
    number, then `book_from_queue(contact_id, number, queue, channel=...)`: the
    contact's entry is replaced by a callback entry with the same entry time and
    priority, so it keeps its place.

    Flows (`callback` node) and the API book with::

        callback = await callbacks.book(
            number="+15550123", queue="support",
            origin_contact_id=contact_id,           # the contact it came from, if any
            source="flow",                          # voice | chat | flow | abandoned | api
            language="en",
            scheduled_for=None,                     # or an aware datetime: not before then,
        )                                           # and within the queue's schedule
        # CallbackRefused(reason, message): reason in rules.PROMPTS (invalid, prefix,
        # own_number, already_booked, too_many, no_callbacks); nothing was booked.

    A chat left unanswered goes to `abandoned(...)` as a voice caller hanging up does.

    `cancel(contact_id, by)`, `pending(queue)` serve the API. Every change is logged:
    callback.requested, callback.scheduled, callback.attempt, callback.completed,
    callback.failed (final), callback.cancelled, callback.abandoned_added.
    """

    def __init__(
        self,
        store: Store,
        routing: RoutingService,
        config: CallbackConfig,
        queues: Mapping[str, QueueCallback | None],
        *,
        schedules: Mapping[str, Schedule] | None = None,
        own_numbers: Iterable[str] = (),
        notify: Notify | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.rows = CallbackStore(store)
        self.routing = routing
        self.config = config
        self.queues = {name: cb for name, cb in queues.items() if cb is not None}
        self.schedules = dict(schedules or {})
        self.own_numbers = (*own_numbers, *config.own_numbers)
        self.notify = notify
        self.clock = clock
        self.wall = wall
        self.dialer: Dialer | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: Callbacks whose customer is being dialed or talking: not cancellable.
        self._busy: dict[str, str] = {}
        self._booking = asyncio.Lock()
        #: Callbacks being handed to this worker now (`adopt`), done when it has them.
        self._adopting: dict[str, asyncio.Future[None]] = {}
        self._started = False

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self, dialer: Dialer, *, restore: bool = True) -> int:
        """Restore every open callback, in queue order; returns how many. `restore`
        False: a call worker of a cluster, whose routing leader hands each open
        callback to one worker (`adopt`; hotline/cluster/callback_keeper.py)."""
        self.dialer = dialer
        self._started = True
        if not restore:
            return 0
        restored = await self.rows.open_callbacks()
        for callback in restored:
            if callback.state == CallbackState.DIALING:
                # The controller stopped mid-attempt: that call is gone, the place is not.
                callback = (
                    await self.rows.update(callback.contact_id, state=CallbackState.PENDING.value)
                    or callback
                )
            ticket = None
            if self._due(callback) is None:
                try:
                    ticket = await self._join(callback)
                except RoutingError as error:  # its queue is gone from the config
                    log.warning("callback %s stays booked: %s", callback.contact_id, error)
                    continue
            self._spawn(callback, ticket)
        if restored:
            log.info("callbacks: %d restored", len(restored))
        return len(restored)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    # ---- booking -----------------------------------------------------------------------

    def settings(self, queue: str) -> QueueCallback:
        found = self.queues.get(queue)
        if found is None:
            raise CallbackRefused("no_callbacks", f"queue {queue!r} takes no callbacks")
        return found

    def _settings_of(self, callback: Callback) -> QueueCallback:
        """A booked callback is served even if its queue's callbacks were switched off
        since: with the default settings then."""
        return self.queues.get(callback.queue) or QueueCallback()

    def check(self, number: str, queue: str) -> str:
        """The number as it will be dialed, or CallbackRefused (invalid, prefix,
        own_number, no_callbacks). The number's history is checked when booking."""
        self.settings(queue)
        normalized = normalize_number(number, self.config)
        refuse_own(normalized, self.own_numbers)
        return normalized

    async def book(
        self,
        number: str,
        queue: str,
        *,
        origin_contact_id: str | None = None,
        source: str = "api",
        language: str = "en",
        priority: int = 0,
        scheduled_for: datetime | None = None,
    ) -> Callback:
        """Book a callback (see the class docstring): written to the store, then put in
        its queue (or kept for its time). CallbackRefused if it cannot be booked (then
        nothing is)."""
        callback = await self._book(
            number,
            queue,
            origin_contact_id=origin_contact_id,
            source=source,
            language=language,
            priority=priority,
            scheduled_for=scheduled_for,
        )
        self._spawn(callback, None)
        return callback

    async def _book(
        self,
        number: str,
        queue: str,
        *,
        origin_contact_id: str | None,
        source: str,
        language: str,
        priority: int = 0,
        scheduled_for: datetime | None = None,
        entered_at: datetime | None = None,
    ) -> Callback:
        normalized = self.check(number, queue)
        settings = self.settings(queue)
        schedule = self.schedules.get(settings.schedule) if settings.schedule else None
        now = self.wall()
        if scheduled_for is not None and (
            scheduled_for.tzinfo is None or scheduled_for > now + timedelta(days=31)
        ):
            raise CallbackRefused(
                "invalid", "scheduled_for must be a time with a zone, within 31 days"
            )
        activate = activation(scheduled_for, schedule, now)

        def flood(pending: tuple[str, ...], last_hour: int) -> None:
            refuse_flood(normalized, queue, NumberHistory(pending, last_hour), self.config)

        customer_id = await self._customer_of(origin_contact_id, normalized)
        async with self._booking:
            contact_id = await self.store.open_contact(
                channel="callback",
                direction="outbound",
                source=self.config.caller_id or queue,
                destination=normalized,
                customer_id=customer_id,
            )
            try:
                callback = await self.rows.book(
                    NewCallback(
                        contact_id=contact_id,
                        origin_contact_id=origin_contact_id,
                        queue=queue,
                        number=normalized,
                        source=source,
                        priority=priority,
                        language=language,
                        entered_at=entered_at or now,
                        scheduled_for=activate,
                    ),
                    flood,
                )
            except CallbackRefused as refused:
                await self.store.end_contact(
                    contact_id,
                    "failed",
                    "callback.refused",
                    {"number": normalized, "reason": refused.reason, "message": str(refused)},
                    queue=queue,
                )
                raise
        await self._log(callback, "callback.requested", origin=origin_contact_id, source=source)
        if activate is not None:
            await self._log(callback, "callback.scheduled", scheduled_for=activate.isoformat())
        return callback

    async def book_from_queue(
        self,
        contact_id: str,
        number: str,
        queue: str,
        *,
        language: str = "en",
        channel: str = "voice",
        source: str | None = None,
        before_leave: Callable[[Callback], None] | None = None,
    ) -> Callback:
        """A contact waiting in a queue (a call, a chat: `channel`) asked to be called
        back: book it (persisted first), then put the callback entry in the contact's
        place and take the contact out of the queue. `source`: the record's (default
        `channel`; `node_lost` when a cluster's routing leader rebooks it);
        `before_leave`: told the callback before the contact leaves its queue."""
        ticket = self.routing.ticket(contact_id)
        if ticket is None:
            raise CallbackRefused("no_callbacks", "the contact is no longer waiting in the queue")
        waited = max(0.0, self.clock() - ticket.contact.entered_at)
        callback = await self._book(
            number,
            queue,
            origin_contact_id=contact_id,
            source=source or channel,
            language=language,
            priority=ticket.contact.priority,
            entered_at=self.wall() - timedelta(seconds=waited),
        )
        # The entry joins first: with the caller's entry time and priority it sits just
        # behind the call, and takes its place when the call leaves. Nobody overtakes.
        joined = (
            await self._join(callback, ticket.contact.entered_at)
            if callback.scheduled_for is None
            else None
        )
        if before_leave is not None:
            before_leave(callback)
        with contextlib.suppress(RoutingError):
            await self.routing.leave(contact_id, "left")
        self._spawn(callback, joined)
        return callback

    async def _customer_of(self, origin_contact_id: str | None, number: str) -> int | None:
        """Who is called back: the customer of the contact the callback came from, else
        the one with this phone number (created if new), so the agent's screen pop shows
        them."""
        if origin_contact_id is not None:
            origin = await self.store.contact(origin_contact_id)
            if origin is not None and origin.customer_id is not None:
                return origin.customer_id
        with contextlib.suppress(ValueError):  # not a number the customer records take
            customer = await self.store.customer_for_phone(number)
            return customer.id if customer is not None else None
        return None

    async def abandoned(
        self, contact_id: str, number: str, queue: str, waited: float, channel: str = "voice"
    ) -> None:
        """A customer left `queue` unanswered: apply its abandoned policy (callback list
        or message hook). Failures are logged, never raised: the customer is gone."""
        try:
            await self._abandoned(contact_id, number, queue, waited, channel)
        except Exception:
            log.exception("abandoned contact %s: policy of queue %s failed", contact_id, queue)

    async def _abandoned(
        self, contact_id: str, number: str, queue: str, waited: float, channel: str
    ) -> None:
        settings = self.queues.get(queue)
        if settings is None or settings.abandoned.action == "off":
            return
        policy = settings.abandoned
        data: dict[str, Any] = {
            "number": number,
            "queue": queue,
            "waited": round(waited, 1),
            "channel": channel,
        }
        if policy.action == "hook":
            assert policy.url is not None
            try:
                if self.notify is None:
                    raise RuntimeError("no message hook client")
                status = await self.notify(policy.url, {**data, "contact_id": contact_id})
                data.update(via="hook", status=status)
            except Exception as error:  # the hook is someone else's service
                data.update(via="hook", error=error_text(error))
            await self.store.append(contact_id, "callback.abandoned_added", data, queue=queue)
            return
        target = policy.queue or queue
        try:
            callback = await self._book(
                number, target, origin_contact_id=contact_id, source="abandoned", language="en"
            )
        except CallbackRefused as refused:
            data.update(via="callback", refused=refused.reason, message=str(refused))
            await self.store.append(contact_id, "callback.abandoned_added", data, queue=queue)
            return
        data.update(via="callback", callback=callback.contact_id, list_queue=target)
        await self.store.append(contact_id, "callback.abandoned_added", data, queue=queue)
        self._spawn(callback, None)

    async def cancel(self, contact_id: str, by: str) -> Callback:
        """Cancel an open callback. LookupError if there is none; CallbackRefused
        (reason "busy") while its call is under way."""
        if contact_id in self._busy:
            raise CallbackRefused("busy", "the callback's call is under way")
        callback = await self.rows.finish_if_open(
            contact_id, CallbackState.CANCELLED.value, f"cancelled by {by}"
        )
        if callback is None:
            raise LookupError(f"no open callback {contact_id!r}")
        await self._end(callback, "completed", "callback.cancelled", by=by)
        task = self._tasks.get(contact_id)
        if self.routing.ticket(contact_id) is not None:
            # Its turn ends with "left"; the dialer hangs up any agent leg ringing for it.
            with contextlib.suppress(RoutingError):
                await self.routing.leave(contact_id, "left")
        elif task is not None:
            task.cancel()  # waiting for its time or next attempt
        return callback

    async def pending(self, queue: str | None = None) -> list[dict[str, Any]]:
        """Open callbacks in queue order, with their live place."""
        rows = await self.rows.open_callbacks(queue)
        out = []
        for callback in rows:
            item = callback.public()
            item["position"] = self.routing.position(callback.contact_id)
            item["agent"] = self._busy.get(callback.contact_id)
            out.append(item)
        return out

    def agent_of(self, contact_id: str) -> str | None:
        """The agent on an open callback's call (or offered it), if any."""
        return self._busy.get(contact_id)

    async def release(self) -> list[str]:
        """Stop serving the callbacks not being called now, telling routing nothing (a
        call worker cut off from its routing leader: the leader hands them to a live
        worker once it declares this node lost). The ones released."""
        released = []
        for contact_id, task in list(self._tasks.items()):
            if contact_id not in self._busy:
                task.cancel()
                released.append(contact_id)
        return sorted(released)

    def serving(self) -> list[str]:
        """The open callbacks served here: waiting for their turn or time, or being
        called now (a call worker says them to its routing leader)."""
        return sorted(set(self._tasks) | set(self._busy))

    async def adopt(self, contact_ids: Iterable[str]) -> int:
        """Serve open callbacks the cluster's routing leader hands this worker (booked
        elsewhere, or served by a worker that is gone): each joins its queue, at its
        place, and this controller dials it in its turn. Handed twice, served once. An
        attempt a lost worker left `dialing` keeps its count and is tried again. How
        many are served here now."""
        ids = list(contact_ids)
        handed = asyncio.get_running_loop().create_future()
        for contact_id in ids:
            self._adopting[contact_id] = handed
        try:
            return await self._adopt(ids)
        finally:
            for contact_id in ids:
                if self._adopting.get(contact_id) is handed:
                    del self._adopting[contact_id]
            handed.set_result(None)

    async def adopted(self, contact_id: str) -> None:
        """Wait until a hand-over of `contact_id` to this worker under way is done: a
        cancel asked meanwhile is answered by the worker it was just handed to."""
        handed = self._adopting.get(contact_id)
        if handed is not None:
            await asyncio.shield(handed)

    async def _adopt(self, contact_ids: list[str]) -> int:
        count = 0
        for contact_id in contact_ids:
            if contact_id in self._busy:
                count += 1  # being called here now
                continue
            callback = await self.rows.get(contact_id)
            if callback is None or not callback.open:
                continue
            if contact_id not in self._tasks and callback.state == CallbackState.DIALING:
                callback = (
                    await self.rows.update(contact_id, state=CallbackState.PENDING.value)
                    or callback
                )
            if contact_id not in self._tasks:
                self._spawn(callback, None)
            count += contact_id in self._tasks
        return count

    # ---- a callback called by hand (hotline/calls/outbound.py) --------------------------

    async def claim(self, contact_id: str, agent: str) -> Callback:
        """`agent` calls the open callback now, by hand: it leaves its queue and its
        automatic attempts stop, until `by_hand_ended`. LookupError if none is open;
        CallbackRefused ("busy") while a call of it is under way."""
        if contact_id in self._busy:
            raise CallbackRefused(
                "busy", f"callback {contact_id} is being called by {self._busy[contact_id]}"
            )
        callback = await self.rows.get(contact_id)
        if callback is None or not callback.open:
            raise LookupError(f"no open callback {contact_id!r}")
        task = self._tasks.pop(contact_id, None)
        if task is not None:  # its waits and a ringing agent of its turn end here
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if contact_id in self._busy:  # claimed by someone else meanwhile
            raise CallbackRefused(
                "busy", f"callback {contact_id} is being called by {self._busy[contact_id]}"
            )
        self._busy[contact_id] = agent
        if self.routing.ticket(contact_id) is not None:
            with contextlib.suppress(RoutingError):
                await self.routing.leave(contact_id, "left")
        return callback

    async def by_hand_ended(self, contact_id: str, result: AttemptResult, *, dialed: bool) -> None:
        """The call by hand is over: completed, or a failed attempt (retried as the
        queue says, or failed for good). Not `dialed` (the agent's phone did not answer,
        the call could not be placed): no attempt counts, the callback goes back to its
        queue, at its place."""
        try:
            callback = await self.rows.get(contact_id)
            if callback is None or not callback.open:
                return
            if not dialed:
                await self._log(
                    callback,
                    "callback.attempt",
                    agent=result.agent,
                    event="not_dialed",
                    reason=result.outcome,
                )
                self._spawn(callback, None)
                return
            latest = await self.rows.update(contact_id, attempts=callback.attempts + 1)
            assert latest is not None
            await self._log(
                latest,
                "callback.attempt",
                attempt=latest.attempts,
                agent=result.agent,
                event="by_hand",
            )
            if result.outcome == COMPLETED:
                await self._final(latest, CallbackState.COMPLETED, result)
                return
            latest = await self._failed_attempt(latest, result)
            if latest.open:
                self._spawn(latest, None)
        finally:
            self._busy.pop(contact_id, None)

    # ---- the life of one callback ------------------------------------------------------

    def _spawn(self, callback: Callback, ticket: Ticket | None) -> None:
        if not self._started or callback.contact_id in self._tasks:
            return
        task = asyncio.create_task(self._life(callback, ticket), name=f"callback-{callback.seq}")
        self._tasks[callback.contact_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(callback.contact_id, None))

    def _due(self, callback: Callback) -> datetime | None:
        """When the callback may next join its queue; None: now."""
        settings = self.queues.get(callback.queue)
        schedule = self.schedules.get(settings.schedule) if settings and settings.schedule else None
        wanted = max(
            (t for t in (callback.scheduled_for, callback.next_attempt_at) if t is not None),
            default=None,
        )
        try:
            return activation(wanted, schedule, self.wall())
        except CallbackRefused:
            return None

    async def _join(self, callback: Callback, entered: float | None = None) -> Ticket | None:
        """Put the callback in its queue at its place; None if the queue refuses now.
        `entered` (routing clock) is the call's own entry when it is still known; else
        the stored wall-clock entry is converted (the routing clock does not survive a
        restart)."""
        if entered is None:
            waited = (self.wall() - callback.entered_at).total_seconds()
            entered = self.clock() - max(0.0, waited)
        ticket = await self.routing.enqueue(
            callback.contact_id,
            Channel.CALLBACK,
            callback.queue,
            priority=callback.priority,
            timeout=math.inf,
            entered_at=entered,
        )
        return ticket if ticket.joined else None

    async def _life(self, callback: Callback, ticket: Ticket | None) -> None:
        """Turns at the head of the queue until the callback ends. A failure here (the
        store down, say) costs a pause, not the callback: it stays booked and in order."""
        while True:
            try:
                await self._turns(callback, ticket)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # Stopped while its dialer cleaned up (and that failed): stopped.
                    raise asyncio.CancelledError from None
                log.exception("callback %s: trying again shortly", callback.contact_id)
            ticket = None
            with contextlib.suppress(Exception):
                await self.routing.leave(callback.contact_id, "left")
            await asyncio.sleep(REJOIN_DELAY)
            with contextlib.suppress(Exception):
                latest = await self.rows.get(callback.contact_id)
                if latest is None or not latest.open:
                    return
                callback = latest

    async def _turns(self, callback: Callback, ticket: Ticket | None) -> None:
        while True:
            if ticket is None:
                due = self._due(callback)
                if due is not None:
                    await asyncio.sleep(max(0.0, (due - self.wall()).total_seconds()))
                    continue
                ticket = await self._join(callback)
                if ticket is None:  # the queue refuses it for now (closed)
                    await asyncio.sleep(REJOIN_DELAY)
                    continue
            result = await self._attempt(callback, ticket)
            ticket = None
            latest = await self.rows.get(callback.contact_id)
            if latest is None or not latest.open or result.outcome == CANCELLED:
                return
            callback = latest
            if result.outcome == "requeue":
                await asyncio.sleep(REJOIN_DELAY)
                continue
            if result.outcome == COMPLETED:
                await self._final(callback, CallbackState.COMPLETED, result)
                return
            callback = await self._failed_attempt(callback, result)
            if not callback.open:
                return

    async def _attempt(self, callback: Callback, ticket: Ticket) -> AttemptResult:
        assert self.dialer is not None
        settings = self._settings_of(callback)

        async def dialing(agent: str) -> int:
            latest = await self.rows.update(
                callback.contact_id,
                state=CallbackState.DIALING.value,
                attempts=(await self._attempts(callback)) + 1,
            )
            assert latest is not None
            self._busy[callback.contact_id] = agent
            await self._log(
                latest, "callback.attempt", attempt=latest.attempts, agent=agent, event="dialing"
            )
            return latest.attempts

        try:
            return await self.dialer.attempt(callback, ticket, settings, dialing)
        finally:
            self._busy.pop(callback.contact_id, None)

    async def _attempts(self, callback: Callback) -> int:
        latest = await self.rows.get(callback.contact_id)
        return latest.attempts if latest else callback.attempts

    async def _failed_attempt(self, callback: Callback, result: AttemptResult) -> Callback:
        settings = self._settings_of(callback)
        await self._log(
            callback,
            "callback.attempt",
            attempt=callback.attempts,
            agent=result.agent,
            event="failed",
            reason=result.outcome,
            **(result.detail or {}),
        )
        again = retry_at(callback.attempts, settings, self.wall())
        if again is None:
            return await self._final(callback, CallbackState.FAILED, result)
        updated = await self.rows.update(
            callback.contact_id, state=CallbackState.PENDING.value, next_attempt_at=again
        )
        assert updated is not None
        await self._log(
            updated,
            "callback.scheduled",
            scheduled_for=again.isoformat(),
            reason=f"retry after {result.outcome}",
        )
        return updated

    async def _final(
        self, callback: Callback, state: CallbackState, result: AttemptResult
    ) -> Callback:
        done = await self.rows.finish_if_open(callback.contact_id, state.value, result.outcome)
        if done is None:  # cancelled meanwhile
            return callback
        completed = state is CallbackState.COMPLETED
        await self._end(
            done,
            "completed" if completed else "failed",
            "callback.completed" if completed else "callback.failed",
            attempt=done.attempts,
            agent=result.agent,
            reason=result.outcome,
            **(result.detail or {}),
        )
        return done

    async def _log(self, callback: Callback, kind: str, **data: Any) -> None:
        await self.store.append(callback.contact_id, kind, *_event(callback, data))

    async def _end(self, callback: Callback, status: str, kind: str, **data: Any) -> None:
        """`_log` the callback's last event and close its contact, in one transaction."""
        await self.store.end_contact(callback.contact_id, status, kind, *_event(callback, data))


def _event(callback: Callback, data: dict[str, Any]) -> tuple[dict[str, Any], str, str | None]:
    """A callback event's data, queue and agent."""
    return (
        {"number": callback.number, "queue": callback.queue, **data},
        callback.queue,
        data.get("agent"),
    )
