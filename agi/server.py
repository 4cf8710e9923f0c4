"""The FastAGI server: `AGI(agi://127.0.0.1:4573/flow/main)` in a dialplan runs the YAML
flow `main` on that channel, with the same contact and event log as a Stasis call.

Requests other than `flow/<name>` are refused: the server logs why, sets the channel
variable HOTLINE_AGI_ERROR and closes, and the dialplan goes on with its next line.
When the flow ends the connection closes and the dialplan goes on too (the shipped
dialplan hangs up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable

from agi.port import AgiPort
from agi.protocol import AgiChannel, AgiError, quote
from hotline.flows.services import QueueRequest
from voice.contact import ContactCall, VoiceRuntime

log = logging.getLogger(__name__)

#: agi_network_script -> flow name: "flow/main", optionally "?arguments" after it.
ROUTE = re.compile(r"^/?flow/([A-Za-z0-9][A-Za-z0-9_.-]{0,63})/?(?:\?.*)?$")


def handoff_to_stasis(port: AgiPort, contact_id: str) -> Callable[[QueueRequest], Awaitable[str]]:
    """A FastAGI flow's queue node: the channel goes to the ARI side, where the routing
    engine runs for every runtime, and comes back with the outcome."""

    async def enqueue(request: QueueRequest) -> str:
        await port.emit("queue.handoff", {"queue": request.queue, "to": "stasis"})
        outcome = await port.handoff(request, contact_id)
        await port.emit("queue.returned", {"queue": request.queue, "outcome": outcome})
        return outcome

    return enqueue


class FastAgiServer:
    def __init__(self, runtime: VoiceRuntime, ari_app: str) -> None:
        self.runtime = runtime
        self.ari_app = ari_app
        self.server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self, bind: str, port: int) -> None:
        try:
            self.server = await asyncio.start_server(self._accept, bind, port)
        except OSError as error:
            raise OSError(
                error.errno, f"FastAGI server cannot listen on {bind}:{port}: {error.strerror}"
            ) from None
        log.info("FastAGI listening on agi://%s:%d/flow/NAME", bind, port)

    @property
    def active_calls(self) -> int:
        return len(self._sessions)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        agi = AgiChannel(reader, writer)
        try:
            await self._serve(agi)
        except Exception:
            log.exception("FastAGI session failed")
        finally:
            self._sessions.discard(task)
            await agi.close()

    async def _serve(self, agi: AgiChannel) -> None:
        try:
            env = await agi.read_env()
        except (AgiError, TimeoutError) as error:
            log.warning("FastAGI: no valid request: %s", error)
            return
        script = env.get("agi_network_script", "")
        route = ROUTE.match(script)
        if route is None:
            message = f"unknown FastAGI request {script!r}: use agi://host:port/flow/NAME"
            log.warning("%s (channel %s)", message, env.get("agi_channel"))
            with contextlib.suppress(AgiError):
                await agi.command("SET VARIABLE", "HOTLINE_AGI_ERROR", quote(message))
            return
        caller = env.get("agi_callerid", "")
        contact = ContactCall(
            self.runtime,
            channel_id=env.get("agi_uniqueid", ""),
            caller="" if caller in ("unknown", "") else caller,
            dialed=env.get("agi_extension") or env.get("agi_dnid", ""),
            via="agi",
            errors=(AgiError,),
        )
        port = AgiPort(
            agi,
            self.runtime.prompts,
            contact.emit,
            recordings=self.runtime.recordings,
            agents=self.runtime.agents,
            ari_app=self.ari_app,
        )
        contact_id = await contact.open()
        await contact.run_flow(port, route.group(1), handoff_to_stasis(port, contact_id))

    async def close(self, timeout: float = 10) -> None:
        if self.server is not None:
            self.server.close()
        if self._sessions:
            # Calls in progress finish their bookkeeping; then they are cut.
            await asyncio.wait(self._sessions, timeout=timeout)
            for task in self._sessions:
                task.cancel()
        if self.server is not None:
            await self.server.wait_closed()
