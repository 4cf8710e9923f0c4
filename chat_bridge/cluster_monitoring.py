"""Supervisors on live chats when chats run on several web processes (`hotline web`):
a supervisor's page on one process reads, whispers to and takes over a chat that
another process runs (chat_bridge/cluster.py: the process holding the chat's claim).

Every request goes where the chat runs, over the chat's own subject
(`hotline.web.<domain>.contact.<id>`, as a desk's requests do), and is served there by
that process's `ChatMonitors` (chat_bridge/monitoring.py), so a chat is read, noted
and taken over in one place whoever asks: its notes, its readers and its take-overs
live with the chat. The agent's desk, wherever it is, gets the whisper and the
take-over through the desks' relay (every process hands an agent's frames to that
agent's desks connected to it). A chat nobody runs (its process died) is taken over by
the asking process first (`ChatCluster.at_owner`), then served here.

Reading live: the asking process subscribes to a subject of its own for the reader
(`hotline.web.<domain>.reader.<id>`), then asks the chat's process to start reading
with its frames published there ("chat", then "message", "note", "ended"); stopping
(the page closed) asks it to stop. Every `check_every` seconds the asking process asks
whether that reading still goes on there: a chat whose process died (taken over
elsewhere, without its readers) ends the page's reading ("ended", "chat_ended"), as a
chat leaving its agent does, and the page's process logs its `monitor.ended` (reason
`chat_process_gone`: the dead process could not). Those checks are also the reading's
lease where the chat runs: a reading not checked for `LEASE_CHECKS` check intervals
(the page's own web process died) is ended there and logged (reason `reader_gone`).
A refusal there comes back as the same error (`NotFound`, `Conflict`, `BadCommand`:
the same HTTP status and words).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from chat_bridge.agents import DeskError
from chat_bridge.cluster import ChatCluster, ChatGone
from chat_bridge.monitoring import ChatMonitors
from hotline.calls import CallControlError, Conflict, NotFound
from hotline.cluster.bus import dumps, loads, settle, token

log = logging.getLogger(__name__)

#: Seconds between two checks that a page's reading still goes on where the chat runs.
CHECK_EVERY = 2.0
#: Check intervals a reading goes unchecked before the chat's process ends it.
LEASE_CHECKS = 2.5
#: Seconds a reading's end is remembered where it ran (told apart from a process gone).
ENDED_KEPT = 60.0

Push = Callable[[dict[str, Any]], None]


def plain(value: Any) -> Any:
    """`value` as the bus carries it: JSON (dates as their text, as the API shows them)."""
    return json.loads(json.dumps(value, default=str))


class ClusterChatMonitors:
    """The chat monitoring API (hotline/web/monitor_api.py `ChatMonitoring`) on one of
    several web processes (module docstring)."""

    def __init__(
        self,
        cluster: ChatCluster,
        local: ChatMonitors,
        name: str,
        *,
        check_every: float = CHECK_EVERY,
    ) -> None:
        """`local`: this process's monitors, which serve the chats run here; `name`:
        this process's name, said in a thread's answer (`server`)."""
        self.cluster = cluster
        self.local = local
        self.name = name
        self.check_every = check_every
        #: Readers started here for pages on other processes: reader id -> its stop.
        self.serving: dict[str, Callable[..., Awaitable[None]]] = {}
        #: When each reader served here was last checked by its page's process.
        self.checked: dict[str, float] = {}
        #: Readers that ended here (logged here): reader id -> when.
        self.ended: dict[str, float] = {}
        self._reaper: asyncio.Task[None] | None = None
        cluster.monitors = self

    def reader_subject(self, reader: str) -> str:
        return f"{self.cluster.subjects.prefix}.reader.{token(reader)}"

    # ---- the page's side (any process) -----------------------------------------------

    async def thread(self, contact_id: str) -> dict[str, Any]:
        frame: dict[str, Any] = await self._ask(contact_id, "monitor_thread", "")
        return frame

    async def whisper(self, contact_id: str, supervisor: str, text: object) -> dict[str, Any]:
        note: dict[str, Any] = await self._ask(contact_id, "monitor_whisper", supervisor, text=text)
        return note

    async def take_over(
        self, contact_id: str, supervisor: str, desk_agent: str | None
    ) -> dict[str, Any]:
        moved: dict[str, Any] = await self._ask(
            contact_id, "monitor_take_over", supervisor, desk_agent=desk_agent
        )
        return moved

    async def read(
        self, contact_id: str, supervisor: str, push: Push
    ) -> Callable[[], Awaitable[None]]:
        reader = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        started = loop.time()
        seen: dict[str, Any] = {"agent": "", "ended": False}

        async def on_frame(msg: Any) -> None:
            try:
                frame = loads(msg.data)
                if frame.get("type") == "chat":
                    seen["agent"] = str(frame.get("agent") or "")
                elif frame.get("type") == "ended":
                    seen["ended"] = True  # ended and logged where the chat runs
                push(frame)
            except Exception:  # the page going away: its socket's end stops the reader
                log.debug("chat reader %s: frame not pushed", reader, exc_info=True)

        # Listening first: the thread is the first frame the chat's process sends.
        sub = await self.cluster.nc.subscribe(self.reader_subject(reader), cb=on_frame)
        await settle(self.cluster.nc)
        try:
            await self._ask(contact_id, "monitor_read", supervisor, reader=reader)
        except BaseException:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            raise

        async def watch() -> None:
            while True:
                await asyncio.sleep(self.check_every)
                try:
                    alive = await self._ask(contact_id, "monitor_alive", "", reader=reader)
                except NotFound:  # the chat is open nowhere now
                    alive = False
                except CallControlError as error:  # no answer in time: asked again later
                    log.debug("chat reader %s: %s", reader, error)
                    continue
                if alive is True:
                    continue
                if not seen["ended"]:
                    push({"type": "ended", "contact_id": contact_id, "reason": "chat_ended"})
                if alive != "ended":  # not known there: it ran on a process that died
                    await self._log_gone(contact_id, supervisor, str(seen["agent"]), started)
                return

        watching = asyncio.create_task(watch(), name=f"chat-reader-{reader}")

        async def stop() -> None:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watching
            with contextlib.suppress(CallControlError):  # ended there already, or gone
                await self._ask(contact_id, "monitor_stop", supervisor, reader=reader)
            with contextlib.suppress(Exception):
                await settle(self.cluster.nc)  # the last frames ("ended") before leaving
                await sub.unsubscribe()

        return stop

    async def _log_gone(self, contact_id: str, supervisor: str, agent: str, started: float) -> None:
        """The reading's `monitor.ended`, which its chat's dead process could not log."""
        seconds = round(asyncio.get_running_loop().time() - started, 1)
        try:
            await self.local.store.append(
                contact_id,
                "monitor.ended",
                {
                    "supervisor": supervisor,
                    "agent": agent,
                    "reason": "chat_process_gone",
                    "seconds": seconds,
                    "modes": {"read": seconds},
                },
                agent=agent or None,
            )
        except Exception as error:  # the page is told anyway; the log is a record
            log.warning("contact=%s reading's end not logged: %s", contact_id, error)
            return
        log.info(
            "contact=%s chat reading by %s ended: its chat's web process is gone",
            contact_id,
            supervisor,
        )

    async def _ask(self, contact_id: str, op: str, supervisor: str, **args: Any) -> Any:
        """`op` served by the process running the chat (this one, maybe)."""
        try:
            return await self.cluster.at_owner(contact_id, op, supervisor, **args)
        except ChatGone:
            raise NotFound(f"contact {contact_id} has no live chat with an agent") from None
        except DeskError as error:  # no answer from the chat's process, or refused there
            raise Conflict(str(error)) from None

    # ---- the chat's side (the process running it) ------------------------------------

    async def carried_on(self, contact_id: str) -> None:
        """A chat taken over here (its process gone, or handed over): its supervisors'
        notes, kept in memory where it ran, are read back from the log (`chat.whisper`),
        so they still show on its agent's desk and to whoever takes it over."""
        if self.local.notes.get(contact_id):
            return
        events = await self.local.store.events(contact_id)
        notes = [
            {
                "from": str(e.data.get("supervisor", "")),
                "text": str(e.data.get("text", "")),
                "private": True,
                "at": e.ts.isoformat(timespec="seconds"),
            }
            for e in events
            if e.type == "chat.whisper"
        ]
        if notes:
            self.local.notes[contact_id] = notes

    async def serve(self, contact_id: str, op: str, supervisor: str, args: dict[str, Any]) -> Any:
        """A monitoring request about a chat run here (CallControlError: refused)."""
        local = self.local
        if op == "monitor_thread":
            return plain({**await local.thread(contact_id), "server": self.name})
        if op == "monitor_whisper":
            return plain(await local.whisper(contact_id, supervisor, args.get("text")))
        if op == "monitor_take_over":
            desk_agent = args.get("desk_agent")
            moved = await local.take_over(
                contact_id, supervisor, None if desk_agent is None else str(desk_agent)
            )
            return plain(moved)
        if op == "monitor_read":
            return await self._start_reading(contact_id, supervisor, str(args["reader"]))
        if op == "monitor_alive":
            # True: goes on; "ended": ended here (logged here); False: unknown here.
            reader = str(args["reader"])
            if reader in self.serving:
                self.checked[reader] = asyncio.get_running_loop().time()
                return True
            return "ended" if reader in self.ended else False
        if op == "monitor_stop":
            reader = str(args["reader"])
            stop = self.serving.pop(reader, None)
            self._forget(reader)
            if stop is not None:
                await stop()
            return True
        raise DeskError(f"unknown request {op!r}")

    async def _start_reading(self, contact_id: str, supervisor: str, reader: str) -> bool:
        subject = self.reader_subject(reader)

        def push(frame: dict[str, Any]) -> None:
            if frame.get("type") == "ended":
                self.serving.pop(reader, None)
                self._forget(reader)
            self.cluster._spawn(self.cluster.nc.publish(subject, dumps(plain(frame))))

        self.serving[reader] = await self.local.read(contact_id, supervisor, push)
        self.checked[reader] = asyncio.get_running_loop().time()
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap(), name="chat-readers-lease")
            self.cluster._tasks.add(self._reaper)  # cancelled with the cluster
            self._reaper.add_done_callback(self.cluster._tasks.discard)
        return True

    def _forget(self, reader: str) -> None:
        """A reading that ended here: remembered a while as ended (not as unknown)."""
        self.checked.pop(reader, None)
        now = asyncio.get_running_loop().time()
        self.ended[reader] = now
        for old in [r for r, at in self.ended.items() if now - at > ENDED_KEPT]:
            del self.ended[old]

    async def _reap(self) -> None:
        """End the readings whose page's process stopped checking them (it died)."""
        while self.serving:
            await asyncio.sleep(self.check_every / 2)
            now = asyncio.get_running_loop().time()
            lease = self.check_every * LEASE_CHECKS
            for reader in [r for r, at in self.checked.items() if now - at > lease]:
                stop = self.serving.pop(reader, None)
                self._forget(reader)
                if stop is None:
                    continue
                log.warning("chat reader %s: its page's web process stopped checking", reader)
                try:
                    await stop("reader_gone")
                except Exception:
                    log.exception("chat reader %s: not ended", reader)
