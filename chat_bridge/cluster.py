"""Chats on several web processes (`hotline web` behind haproxy): a widget's socket and
an agent's desk may each land on any process.

Who runs a chat: the process that holds its claim (chat_bridge/claims.py, a PostgreSQL
advisory lock per chat session). The process that makes a chat claims it; its flow,
queue visit and agent part run there, and every message is stored before it is
delivered, as on one box. Why a claim and not "the leader assigns": a chat's flow is
in-process state (a coroutine half way through a menu), so it must run where it is;
the claim is freed by PostgreSQL the moment its process dies (its connection closes),
so another process takes the chat over at once without asking anybody, and two
processes never run one chat.

Over NATS (subjects under `hotline.web.<domain>`):
- `desks`: every frame for an agent's desk ({agent, frame}); each process hands it to
  the agent's desks connected to it. A desk that opens asks every process for what it
  has for that agent (`snapshot`: offers and open chats, sent on `desks`).
- `contact.<id>`: a desk's request about a chat (accept, reject, send, typing, close,
  transfer, history), answered by the process running it. No process answering means
  that process died: the asking process takes the chat over and serves it.
- `session.<id>`: "hand this chat over" (a widget's socket reconnected to another
  process while its chat runs here): the chat's task ends here without closing, its
  claim is let go, and the asking process carries it on from the store.

Two copies of a chat never both write (issue #20): the chat store numbers each message
from the last stored one and writes it only if this process's claim is, in the write's
own transaction, PostgreSQL's (claims.py: the fence). A copy that lost its claim (its
claims session ended unnoticed, or a stale copy left in memory) gets its message
refused: the chat is let go here at once (its sockets closed `MOVED`, its requests no
longer answered here), a customer's message is refused `moved` unacknowledged (the
widget sends it again to the chat's process) and a desk's request is sent again to the
process running the chat.

Every few seconds (`sweep_every`) each process tries to claim the open chats nobody
holds (their process died): queued chats are offered again, talking ones go on with
their agent, a chat in its flow starts it again (chat_bridge/resume.py, as after a
restart). Customers' widgets and agents' desks reconnect through haproxy and ask for
what they missed (messages after their last sequence number): nothing is lost, and
nothing is delivered twice (the widget and the desk drop a sequence number seen).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from chat_bridge.agents import AgentHub, DeskError, Push
from chat_bridge.attachments import AttachmentRefused, KeptFile, file_response
from chat_bridge.bridge import ChatBridge, ChatRefused
from chat_bridge.chat import LiveChat
from chat_bridge.claims import ChatClaims, ClaimsLost
from chat_bridge.recovery import ChatRecovery
from chat_bridge.web import CLOSE
from hotline.calls import BadCommand, CallControlError, Conflict, NotFound, NotYours
from hotline.cluster.bus import dumps, loads, nats_request, settle, token
from hotline.errors import error_text
from hotline.store.chats import ChatNotHeld, ChatSession

log = logging.getLogger(__name__)

#: Seconds between two looks for chats nobody runs.
SWEEP_EVERY = 2.0
#: Seconds a request to the process running a chat waits for its answer.
REQUEST_TIMEOUT = 5.0
#: Seconds a process asking for a chat's hand-over waits for its claim.
HANDOVER_WAIT = 5.0
#: Close code of a widget socket whose chat moved to another process (it reconnects).
MOVED = 4012

#: A refused monitoring request comes back as its own error (by its HTTP status).
_CONTROL_ERRORS: dict[int, type[CallControlError]] = {
    400: BadCommand,
    403: NotYours,
    404: NotFound,
    409: Conflict,
}


class _Moved(Exception):
    """The process asked ran a stale copy of the chat (now let go): ask again."""


class ChatGone(DeskError):
    """The chat asked about is open nowhere (closed, or never was)."""


class MonitorServer(Protocol):
    """Supervisors' requests about a chat run here (chat_bridge/cluster_monitoring.py)."""

    async def serve(
        self, contact_id: str, op: str, supervisor: str, args: dict[str, Any]
    ) -> Any: ...

    async def carried_on(self, contact_id: str) -> None:
        """A chat taken over here: what its monitoring kept where it ran, read back."""


class WebSubjects:
    """The NATS subjects of a domain's web processes."""

    def __init__(self, domain: str) -> None:
        self.prefix = f"hotline.web.{token(domain)}"

    @property
    def desks(self) -> str:
        return f"{self.prefix}.desks"

    @property
    def snapshot(self) -> str:
        return f"{self.prefix}.snapshot"

    def contact(self, contact_id: str) -> str:
        return f"{self.prefix}.contact.{token(contact_id)}"

    def session(self, session_id: str) -> str:
        return f"{self.prefix}.session.{token(session_id)}"


class ChatCluster:
    """This process's part of the web tier's chats (module docstring)."""

    def __init__(
        self,
        nc: Any,
        domain: str,
        bridge: ChatBridge,
        claims: ChatClaims,
        *,
        sweep_every: float = SWEEP_EVERY,
    ) -> None:
        self.nc = nc
        self.subjects = WebSubjects(domain)
        self.bridge = bridge
        self.hub: AgentHub = bridge.hub
        self.claims = claims
        self.sweep_every = sweep_every
        self.recovery = ChatRecovery(bridge, [])
        self._subs: list[Any] = []
        self._contacts: dict[str, Any] = {}
        self._sessions: dict[str, Any] = {}
        self._taking: dict[str, asyncio.Lock] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Chats being let go after the fence refused one of their messages.
        self._letting_go: dict[str, asyncio.Task[None]] = {}
        #: Chats let go here because the fence refused their messages (logs, tests).
        self.fenced = 0
        #: Chats taken over from a process gone (for the logs and tests).
        self.taken_over = 0
        #: Serves supervisors' requests ("monitor_*") about chats run here (None: none).
        self.monitors: MonitorServer | None = None

    # ---- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Relay desks' frames, answer snapshots, take over the chats nobody runs."""
        self.bridge.owner = self
        self.hub.relay = self._relay
        self.bridge.chats.fence = self.claims
        self.claims.on_fenced = self._on_fenced
        self._subs.append(await self.nc.subscribe(self.subjects.desks, cb=self._on_desk_frame))
        self._subs.append(await self.nc.subscribe(self.subjects.snapshot, cb=self._on_snapshot))
        await settle(self.nc)
        await self.sweep()
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="chat-sweep")
        self._spawn(self._keep_claims())

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._sweeper] if self._sweeper else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for sub in [*self._subs, *self._contacts.values(), *self._sessions.values()]:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()
        self._contacts.clear()
        self._sessions.clear()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- desks' frames ------------------------------------------------------------------

    def _relay(self, agent: str, frame: dict[str, Any]) -> None:
        """A frame for `agent`'s desks, wherever they are (this process's too)."""
        self._spawn(self.nc.publish(self.subjects.desks, dumps({"agent": agent, "frame": frame})))

    async def _on_desk_frame(self, msg: Any) -> None:
        try:
            data = loads(msg.data)
            agent, frame = str(data["agent"]), data["frame"]
        except (ValueError, KeyError, TypeError) as error:
            log.error("desk frame refused: %s", error)
            return
        if self.hub.connected(agent):
            self.hub.deliver(agent, frame)

    def ask_snapshot(self, agent: str) -> None:
        """A desk of `agent` opened here: every process sends what it has for them."""
        self._spawn(self.nc.publish(self.subjects.snapshot, dumps({"agent": agent})))

    async def _on_snapshot(self, msg: Any) -> None:
        try:
            agent = str(loads(msg.data)["agent"])
        except (ValueError, KeyError, TypeError) as error:
            log.error("desk snapshot request refused: %s", error)
            return
        try:
            for frame in await self.hub.snapshot(agent):
                await self.nc.publish(self.subjects.desks, dumps({"agent": agent, "frame": frame}))
        except Exception:
            log.exception("desk snapshot for %s not sent", agent)

    # ---- running chats (ChatOwner, chat_bridge/bridge.py) ------------------------------

    async def claim(self, chat: LiveChat) -> None:
        try:
            claimed = await self.claims.claim(chat.id)
        except ClaimsLost as error:
            raise ChatRefused("busy", f"this server cannot take chats now ({error})") from None
        if not claimed:  # a new session's id: nobody else can have it
            raise ChatRefused("busy", "this chat is held by another server; try again")
        await self._hold_session(chat.id)

    async def runs(self, chat: LiveChat, contact_id: str) -> None:
        if contact_id not in self._contacts:

            async def on_request(msg: Any) -> None:
                await self._on_contact_request(contact_id, msg)

            subject = self.subjects.contact(contact_id)
            self._contacts[contact_id] = await self.nc.subscribe(subject, cb=on_request)

    async def _hold_session(self, session_id: str) -> None:
        if session_id not in self._sessions:

            async def on_request(msg: Any) -> None:
                await self._on_session_request(session_id, msg)

            subject = self.subjects.session(session_id)
            self._sessions[session_id] = await self.nc.subscribe(subject, cb=on_request)

    async def take(self, session: Any) -> LiveChat:
        """The chat of `session`, run here from now on: taken from its process (asked
        to hand it over), or from a dead one's, or loaded closed."""
        async with self._taking_lock(session.id):
            chat = self.bridge.live.get(session.id)
            if chat is not None:
                return chat
            try:
                claimed = await self.claims.claim(session.id)
                if not claimed:
                    claimed = await self._hand_over(session.id)
            except ClaimsLost as error:
                raise ChatRefused("busy", f"this server cannot take chats now ({error})") from None
            if not claimed:
                raise ChatRefused("busy", "this chat is held by another server; try again")
            return await self._carry_on(session)

    def _taking_lock(self, session_id: str) -> asyncio.Lock:
        """Held while this process claims and carries on one chat: a widget's reconnect
        (`take`), a desk's request (`_take_contact`) and the sweep racing for one chat
        must carry it on once, or two live copies of it here would each count its
        messages (issue #20: a reply stored with a sequence number already taken)."""
        return self._taking.setdefault(session_id, asyncio.Lock())

    async def _hand_over(self, session_id: str) -> bool:
        """Ask the process running the chat to let it go; then claim it."""
        # No answer: its process is gone, and its claim was freed with its connection.
        with contextlib.suppress(NoRespondersError, NatsTimeout):
            subject = self.subjects.session(session_id)
            await nats_request(self.nc, subject, dumps({"op": "release"}), HANDOVER_WAIT)
        loop = asyncio.get_running_loop()
        until = loop.time() + HANDOVER_WAIT
        while loop.time() < until:
            if await self.claims.claim(session_id):
                return True
            await asyncio.sleep(0.1)
        return False

    async def _carry_on(self, session: ChatSession) -> LiveChat:
        """A chat claimed here: carried on from the store (`ChatRecovery` for this one
        session), or loaded closed; its agent's desk gets its thread again."""
        await self._hold_session(session.id)
        running = self.bridge.live.get(session.id)
        if running is not None:  # carried on here already: one live copy only
            return running
        fresh = await self.bridge.chats.session(session.id) or session
        open_ids = {s.id for s in await self.bridge.chats.open_sessions()}
        if fresh.id in open_ids:
            if self.monitors is not None and fresh.contact_id:
                try:
                    await self.monitors.carried_on(fresh.contact_id)
                except Exception as error:  # the notes are a help; the chat goes on
                    log.warning("chat %s: supervisors' notes not read back: %s", fresh.id, error)
            await self.recovery.run(only=[fresh])
            self.taken_over += 1
            log.info("chat %s (contact %s) taken over here", fresh.id, fresh.contact_id)
        chat = self.bridge.live.get(fresh.id)
        if chat is None:
            chat = await self.bridge._load(fresh)
            if chat.contact_id:
                await self.runs(chat, chat.contact_id)
        elif chat.agent and chat.contact_id:
            self._relay(chat.agent, await self.hub.history(chat.agent, chat.contact_id, 0))
        return chat

    async def _on_session_request(self, session_id: str, msg: Any) -> None:
        try:
            await self._release(session_id, msg)
        except Exception:  # said here: NATS would only say it at debug level
            log.exception("chat %s: the hand-over failed", session_id)

    async def _release(self, session_id: str, msg: Any) -> None:
        try:
            op = loads(msg.data).get("op")
        except ValueError:
            op = None
        if op != "release":
            await msg.respond(dumps({"error": f"unknown request {op!r}"}))
            return
        await self._stop_serving(session_id)
        with contextlib.suppress(ClaimsLost):
            await self.claims.release(session_id)
        log.info("chat %s handed over to another web process", session_id)
        await msg.respond(dumps({"ok": True}))
        sub = self._sessions.pop(session_id, None)
        if sub is not None:  # not from inside its own callback: nats-py would cancel it
            self._spawn(sub.unsubscribe())

    def _on_fenced(self, session_id: str) -> None:
        """A message of `session_id` was refused by the fence: another process holds
        the chat, so this copy stops serving it (in a task of its own: the refused write
        may be the chat's own task, which letting it go cancels)."""
        if session_id not in self._letting_go:
            task = asyncio.ensure_future(self._let_go(session_id))
            self._letting_go[session_id] = task
            task.add_done_callback(lambda _t: self._letting_go.pop(session_id, None))

    async def _stop_serving(self, session_id: str) -> None:
        """This process no longer runs the chat (handed over, or fenced off)."""
        chat = self.bridge.live.get(session_id)
        if chat is not None:
            await self.bridge.release(chat)
            # Its widget sockets here reconnect (through haproxy) to wherever it runs now.
            chat.send({CLOSE: MOVED, "reason": "chat moved to another server"})
            if chat.contact_id is not None:
                await self._drop_contact(chat.contact_id)

    async def _let_go(self, session_id: str) -> None:
        await self._stop_serving(session_id)
        sub = self._sessions.pop(session_id, None)
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self.fenced += 1
        log.warning("chat %s let go: another process holds its claim", session_id)

    async def settled(self, session_id: str) -> None:
        """Wait until a chat the fence refused is let go here (if it is being)."""
        task = self._letting_go.get(session_id)
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(task)

    async def _drop_contact(self, contact_id: str) -> None:
        sub = self._contacts.pop(contact_id, None)
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    # ---- taking over what nobody runs ---------------------------------------------------

    async def sweep(self) -> int:
        """Claim and carry on the open chats whose process is gone. How many."""
        taken = 0
        sessions = await self.bridge.chats.open_sessions()
        # The per-chat locks of chats no longer open leave (an unlocked one has no holder
        # and no waiter: taking it never waits, so nobody holds it between two lines).
        open_ids = {session.id for session in sessions}
        for session_id in [s for s, lock in self._taking.items() if not lock.locked()]:
            if session_id not in open_ids:
                del self._taking[session_id]
        for session in sessions:
            if session.id in self.bridge.live or self.claims.holds(session.id):
                continue
            async with self._taking_lock(session.id):
                if session.id in self.bridge.live:  # taken meanwhile (a widget's reconnect)
                    continue
                try:
                    if not await self.claims.claim(session.id):
                        continue  # run by a live process
                except ClaimsLost:
                    return taken
                try:
                    await self._carry_on(session)
                    taken += 1
                except Exception:
                    log.exception("chat %s could not be taken over", session.id)
        for contact_id in list(self._contacts):  # contacts no longer run here
            chat = self.bridge.by_contact.get(contact_id)
            if chat is None or chat.id not in self.bridge.live:
                await self._drop_contact(contact_id)
        return taken

    async def _keep_claims(self) -> None:
        """The claims' session lost (PostgreSQL restarted): another process may take
        this one's chats now, so they are let go here (their sockets reconnect, to any
        process, which takes them over from the store), and claims start again."""
        while True:
            await self.claims.lost.wait()
            chats = list(self.bridge.live.values())
            log.error("chat claims lost: %d chat(s) let go; claiming again", len(chats))
            for chat in chats:
                try:
                    await self.bridge.release(chat)
                except Exception as error:  # its messages' writes wait for the database
                    log.warning("chat %s let go: %s", chat.id, error_text(error))
                chat.send({CLOSE: MOVED, "reason": "chat moved to another server"})
            for contact_id in list(self._contacts):
                await self._drop_contact(contact_id)
            for sub in list(self._sessions.values()):
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
            self._sessions.clear()
            while True:
                try:
                    await self.claims.reopen()
                    break
                except Exception as error:
                    log.warning("chat claims not opened again: %s", error_text(error))
                    await asyncio.sleep(1.0)
            log.info("chat claims opened again")

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_every)
            try:
                await self.sweep()
            except Exception as error:  # the database away: the next sweep tries again
                log.warning("chat sweep: %s", error_text(error))

    # ---- desks' requests (this process runs the chat) -----------------------------------

    async def _on_contact_request(self, contact_id: str, msg: Any) -> None:
        try:
            request = loads(msg.data)
            answer = {"ok": await self._serve(contact_id, request)}
        except DeskError as error:
            answer = {"error": str(error), "kind": "desk"}
        except ChatNotHeld as error:  # a stale copy here: the asker sends it again
            await self.settled(error.session_id)
            answer = {"error": str(error), "kind": "moved"}
        except CallControlError as error:  # a supervisor's request refused
            answer = {"error": str(error), "kind": "control", "status": error.status}
        except (ValueError, KeyError, TypeError) as error:
            answer = {"error": f"bad request: {error}", "kind": "desk"}
        except Exception as error:
            log.exception("desk request about %s failed", contact_id)
            answer = {"error": f"{type(error).__name__}: {error}", "kind": "failed"}
        with contextlib.suppress(Exception):
            await msg.respond(dumps(answer))

    async def _serve(self, contact_id: str, request: dict[str, Any]) -> Any:
        hub, op, agent = self.hub, request["op"], str(request["agent"])
        args = request.get("args", {})
        if str(op).startswith("monitor_") and self.monitors is not None:
            return await self.monitors.serve(contact_id, op, agent, args)
        if op == "accept":
            return await hub.accept(agent, contact_id)
        if op == "reject":
            return await hub.reject(agent, contact_id)
        if op == "history":
            return await hub.history(agent, contact_id, int(args["after"]))
        if op == "send":
            return await hub.send(agent, contact_id, args["text"], args.get("id"), args.get("rich"))
        if op == "send_kept":
            kept = KeptFile(
                str(args["filename"]),
                str(args["content_type"]),
                int(args["size"]),
                str(args["sha256"]),
            )
            return await hub.send_kept(agent, contact_id, kept)
        if op == "may_read":
            return hub.has_session(agent, str(args["session"]))
        if op == "typing":
            return hub.typing(agent, contact_id, bool(args["on"]))
        if op == "close":
            return await hub.close(agent, contact_id, args["wrap_up"])
        if op == "transfer":
            return await hub.transfer(agent, contact_id, args.get("queue"), args.get("to_agent"))
        raise DeskError(f"unknown request {op!r}")

    # ---- the desk's side ----------------------------------------------------------------

    def runs_here(self, contact_id: str) -> bool:
        chat = self.bridge.by_contact.get(contact_id)
        return chat is not None and chat.id in self.bridge.live and self.claims.holds(chat.id)

    async def at_owner(self, contact_id: str, op: str, agent: str, **args: Any) -> Any:
        """A desk's request about a chat, served where the chat runs: here, at its
        process, or (that process gone) here after taking the chat over. A copy that
        turns out stale (the fence refused its write: nothing was written) is let go
        and the request is sent again, to the process that holds the chat."""
        for attempt in range(3):
            try:
                return await self._at_owner(contact_id, op, agent, args)
            except ChatNotHeld as error:
                await self.settled(error.session_id)
                if attempt == 2:
                    raise DeskError("this chat is moving to another server; try again") from None
            except _Moved:
                await asyncio.sleep(0.1 * (attempt + 1))  # its copy there being let go
        raise DeskError("this chat is moving to another server; try again")

    async def _at_owner(self, contact_id: str, op: str, agent: str, args: dict[str, Any]) -> Any:
        if not self.runs_here(contact_id):
            body = dumps({"op": op, "agent": agent, "args": args})
            try:
                msg = await nats_request(
                    self.nc, self.subjects.contact(contact_id), body, REQUEST_TIMEOUT
                )
            except NoRespondersError:
                await self._take_contact(contact_id)
            except NatsTimeout:
                raise DeskError("the server running this chat did not answer; try again") from None
            else:
                answer = loads(msg.data)
                if answer.get("kind") == "control":
                    error = _CONTROL_ERRORS.get(int(answer.get("status", 0)), Conflict)
                    raise error(str(answer["error"]))
                if answer.get("kind") == "moved":
                    raise _Moved(str(answer["error"]))
                if "error" in answer:
                    raise DeskError(str(answer["error"]))
                return answer["ok"]
        return await self._serve(contact_id, {"op": op, "agent": agent, "args": args})

    async def _take_contact(self, contact_id: str) -> None:
        """Nobody runs the chat of `contact_id`: take it over here (DeskError if it is
        not open any more)."""
        for session in await self.bridge.chats.open_sessions():
            if session.contact_id == contact_id:
                await self.take(session)
                if self.runs_here(contact_id):
                    return
        raise ChatGone("this chat is no longer open")


class ClusterDesk:
    """The chat side of a desk on one of several web processes (hotline/web/desk.py
    `ChatDesk`): frames from every process, requests to the process running the chat."""

    def __init__(self, cluster: ChatCluster) -> None:
        self.cluster = cluster
        self.hub = cluster.hub

    def subscribe(self, agent: str, push: Push) -> Callable[[], None]:
        return self.hub.subscribe(agent, push)

    async def snapshot(self, agent: str) -> list[dict[str, Any]]:
        """Sent by every process on the bus (to every desk of the agent), not returned."""
        self.cluster.ask_snapshot(agent)
        return []

    async def accept(self, agent: str, contact_id: str) -> dict[str, Any]:
        frame: dict[str, Any] = await self.cluster.at_owner(contact_id, "accept", agent)
        return frame

    async def reject(self, agent: str, contact_id: str) -> None:
        await self.cluster.at_owner(contact_id, "reject", agent)

    async def history(self, agent: str, contact_id: str, after: int) -> dict[str, Any]:
        frame: dict[str, Any] = await self.cluster.at_owner(
            contact_id, "history", agent, after=after
        )
        return frame

    async def send(
        self,
        agent: str,
        contact_id: str,
        text: str,
        client_id: str | None,
        rich: dict[str, Any] | None = None,
    ) -> int:
        seq = await self.cluster.at_owner(
            contact_id, "send", agent, text=text, id=client_id, rich=rich
        )
        return int(seq)

    async def send_file(
        self, agent: str, contact_id: str, filename: str, content_type: str, body: bytes
    ) -> int:
        """The file's bytes are checked and kept in the database here; only their hash
        and name go to the process running the chat (no file crosses the bus, whatever
        its size)."""
        if self.cluster.runs_here(contact_id):
            return await self.hub.send_file(agent, contact_id, filename, content_type, body)
        attachments = self.hub.attachments
        if attachments is None:
            raise DeskError("files are not enabled for chats")
        try:
            kept = await attachments.keep(filename, content_type, body)
        except AttachmentRefused as error:
            raise DeskError(str(error)) from None
        seq = await self.cluster.at_owner(
            contact_id,
            "send_kept",
            agent,
            filename=kept.filename,
            content_type=kept.content_type,
            size=kept.size,
            sha256=kept.sha256,
        )
        return int(seq)

    def typing(self, agent: str, contact_id: str, on: bool) -> None:
        async def say() -> None:
            with contextlib.suppress(DeskError):
                await self.cluster.at_owner(contact_id, "typing", agent, on=on)

        self.cluster._spawn(say())

    async def close(self, agent: str, contact_id: str, wrap_up: str) -> None:
        await self.cluster.at_owner(contact_id, "close", agent, wrap_up=wrap_up)

    async def transfer(
        self, agent: str, contact_id: str, queue: str | None = None, to_agent: str | None = None
    ) -> None:
        await self.cluster.at_owner(contact_id, "transfer", agent, queue=queue, to_agent=to_agent)

    async def attachment(self, agent: str, attachment_id: str) -> web.StreamResponse | None:
        """A chat's file, if the chat is open on the agent's desk (asked of the process
        running it), its bytes read here from the database."""
        attachments = self.hub.attachments
        found = await self.hub.chats.attachment(attachment_id)
        if found is None or attachments is None:
            return None
        session = await self.hub.chats.session(found.session_id)
        if session is None or session.contact_id is None:
            return None
        try:
            allowed = await self.cluster.at_owner(
                session.contact_id, "may_read", agent, session=found.session_id
            )
        except DeskError:
            return None
        if not allowed:
            return None
        return await file_response(attachments, found)
