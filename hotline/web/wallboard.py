"""The supervisors' live wallboard: /wallboard (page), /wallboard/ws (pushed views),
/api/wallboard (the same view as JSON).

`Wallboard` folds every appended event into a `LiveBoard` (Store.listen) and pushes a
fresh view to every open socket shortly after each event (coalesced over
PUSH_DELAY), and once a second so that waits and times in state keep counting. On
start it replays today's log, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from hotline.acd.service import RoutingService
from hotline.reports.live import LIVE_TYPES, LiveBoard, rebuild_window
from hotline.reports.settings import ReportSettings
from hotline.reports.source import EventSource
from hotline.store import Store
from hotline.store.records import Contact, LoggedEvent
from hotline.web.auth import STATIC_DIR, Role, requires
from hotline.web.live_contacts import MONITOR_TYPES, LiveContacts

log = logging.getLogger(__name__)

#: Events that change what the board shows (counters, or the engine's state).
#: How long `stop` waits for its cancelled tasks to end.
STOP_WAIT = 2.0

_WATCHED = ("contact.", "agent.", "call.", "chat.", "callback.", "outbound.", "queue.", "monitor.")
PUSH_DELAY = 0.05
TICK = 1.0


class Wallboard:
    """Today's board, kept current from the event log and the routing engine."""

    def __init__(
        self,
        store: Store,
        routing: RoutingService | None,
        settings: ReportSettings,
        names: dict[str, str] | None = None,
        active: Callable[[], dict[str, int]] | None = None,
    ) -> None:
        self.store = store
        #: Contacts in progress by channel from the adapters, when they know better
        #: than the log (calls do not outlive the controller; the log's may).
        self.active = active
        self.routing = routing
        #: The engine's clock now: what it knows of agents' states starts here (at the
        #: controller's start), and no time in state is older.
        self.known_since = routing.snapshot().at if routing is not None else None
        self.board = LiveBoard(settings)
        self.names = names or {}
        #: Each contact in progress, for supervisors to act on (hotline/web/live_contacts.py);
        #: its one read of each contact also tells the board an agent's outbound call.
        self.contacts = LiveContacts(store, on_contact=self._read)
        self._changed = asyncio.Event()
        self._subscribers: list[Callable[[str], None]] = []
        self._buffer: list[LoggedEvent] | None = None
        self._unlisten: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        """Listen to the log, replay today's, then push views."""
        self._buffer = []
        self._unlisten = self.store.listen(self._on_event)
        try:
            start, end = rebuild_window(datetime.now(UTC), self.board.settings)
            outbound = await EventSource(self.store).outbound_contacts(
                start.timestamp(), end.timestamp()
            )
            for contact in outbound:
                self.board.not_a_visit(contact)
            history = await self.store.events_between(start, end, (*LIVE_TYPES, *MONITOR_TYPES))
            self.board.replay(history)
            self.contacts.replay(history)
            log.info("wallboard rebuilt from the event log up to event %d", self.board.last_id)
        except Exception:  # the board still follows new events
            log.exception("wallboard could not replay today's event log")
        finally:
            buffered, self._buffer = self._buffer, None
            self.board.replay(buffered)  # appended meanwhile (ids already seen are skipped)
            self.contacts.replay(buffered)
            self._task = asyncio.create_task(self._pump(), name="wallboard")
            self.ready.set()

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        task, self._task = self._task, None
        reader = self.contacts.reader
        pending = [each for each in (reader, task) if each is not None]
        for each in pending:
            each.cancel()
        if not pending:
            return
        # Bounded: a store read caught in its cancellation must not hold the stop (and
        # the server's shutdown) forever; seen once in CI as a test hung for minutes.
        _done, stuck = await asyncio.wait(pending, timeout=STOP_WAIT)
        if stuck:
            log.warning("wallboard: %d task(s) still ending after %g s", len(stuck), STOP_WAIT)

    def _on_event(self, event: LoggedEvent) -> None:
        # Called inside Store.append: only cheap in-memory work here.
        if self._buffer is not None:
            self._buffer.append(event)
            return
        self.board.apply(event)
        # An agent's outbound call (no visit)? Its first event is its `contact.join`,
        # which has the live contacts read it at once (`_read`): the agent's phone
        # rings for seconds before such a visit would be settled.
        self.contacts.apply(event)
        if event.type.startswith(_WATCHED):
            self._changed.set()

    def _read(self, contact: Contact) -> None:
        """A contact read by the live contacts: an agent's outbound call is no visit."""
        if contact.channel == "outbound":
            self.board.not_a_visit(contact.id)
            self._changed.set()

    def view(self) -> dict[str, Any]:
        snapshot = live = None
        if self.routing is not None:
            snapshot = self.routing.snapshot()
            live = {c for c in self.board.waiting if self.routing.position(c) is not None}
        view = self.board.view(
            snapshot, time.time(), live=live, names=self.names, known_since=self.known_since
        )
        if self.active is not None:
            view["active"].update(self.active())
        view["contacts"] = self.contacts.view(time.time(), self.names)
        return view

    def subscribe(self, send: Callable[[str], None]) -> Callable[[], None]:
        """`send(json_text)` gets every pushed view; returns the unsubscribe function."""
        self._subscribers.append(send)
        return lambda: self._subscribers.remove(send) if send in self._subscribers else None

    async def _pump(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), TICK)
                await asyncio.sleep(PUSH_DELAY)  # one view for a burst of events
            self._changed.clear()
            if not self._subscribers:
                continue
            try:
                text = json.dumps(self.view(), default=str)
            except Exception:
                log.exception("wallboard view failed")
                continue
            for send in tuple(self._subscribers):
                send(text)


def add_wallboard_routes(app: web.Application, wallboard: Wallboard) -> None:
    """The page, its socket and the JSON view, for supervisors; the board starts and
    stops with the application."""
    sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    rebuilding: list[asyncio.Task[None]] = []

    async def started(_app: web.Application) -> None:
        # In the background: a busy day's log takes a moment to replay, and the rest
        # of the web need not wait for it (the board's handlers wait for `ready`).
        rebuilding.append(asyncio.create_task(wallboard.start(), name="wallboard-rebuild"))

    async def closing(_app: web.Application) -> None:
        for ws in list(sockets):
            await ws.close(code=1001, message=b"server stopping")

    async def stopped(_app: web.Application) -> None:
        for task in rebuilding:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await wallboard.stop()

    app.on_startup.append(started)
    app.on_shutdown.append(closing)
    app.on_cleanup.append(stopped)

    @requires(Role.SUPERVISOR)
    async def page(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "wallboard" / "wallboard.html")

    @requires(Role.SUPERVISOR)
    async def as_json(request: web.Request) -> web.Response:
        await wallboard.ready.wait()
        return web.json_response(wallboard.view(), dumps=lambda d: json.dumps(d, default=str))

    @requires(Role.SUPERVISOR)
    async def socket(request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin not in (
            f"http://{request.host}",
            f"https://{request.host}",
        ):  # another site's page opening the board with a supervisor's cookie
            return web.json_response({"error": "cross-site WebSocket refused"}, status=403)
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
        await ws.prepare(request)
        sockets.add(ws)
        await wallboard.ready.wait()
        outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=4)

        def send(text: str) -> None:
            if outbox.full():  # a slow screen gets the newest view, not a backlog
                with contextlib.suppress(asyncio.QueueEmpty):
                    outbox.get_nowait()
            outbox.put_nowait(text)

        async def writer() -> None:
            while True:
                await ws.send_str(await outbox.get())

        send(json.dumps(wallboard.view(), default=str))
        unsubscribe = wallboard.subscribe(send)
        sender = asyncio.create_task(writer())
        try:
            async for msg in ws:  # the board only talks; anything but text closes
                if msg.type != WSMsgType.TEXT:
                    break
        finally:
            unsubscribe()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await sender
        return ws

    app.router.add_get("/wallboard", page)
    app.router.add_get("/wallboard/ws", socket)
    app.router.add_get("/api/wallboard", as_json)
