"""One voice call's contact, whatever carries it (ARI or FastAGI): open the contact,
answer, run the flow, close the contact with a status. Shared by `ari_app/call.py`
and `agi/server.py`, so both write the same events the same way.

    call.arrived {caller, dialed, channel, via}    call.answered {}
    call.no_flow {dialed, flow}                      call.error {message}
    call.ended {status, reason, hung_up_by}
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hotline.flows.interpreter import FlowRunner
from hotline.flows.loader import FlowSet
from hotline.flows.port import CallerGone, FlowPort, Prompt
from hotline.flows.services import FlowServices
from hotline.logcontext import bind_contact
from hotline.store import Store, StoreError
from voice.prompts import PromptLibrary
from voice.recordings import Recordings

log = logging.getLogger(__name__)

#: Played when a number has no flow, then the call ends.
NO_SERVICE_PROMPT = "no_service"


@dataclass
class VoiceRuntime:
    """What every voice call needs, over ARI or FastAGI, passed in once.

    `flows` is replaced as a whole by the flow watcher (hot reload); a call copies it
    when it starts."""

    store: Store
    prompts: PromptLibrary
    flows: FlowSet
    numbers: dict[str, str]
    #: The flow services for one contact (they log against it).
    services_for: Callable[[str], FlowServices]
    default_language: str
    recordings: Recordings
    #: Agents' PJSIP endpoints: the extensions a transfer may dial.
    agents: frozenset[str] = field(default_factory=frozenset)
    max_steps: int = 500


class VoiceLeg(FlowPort, Protocol):
    """A flow port over a live call, with what the bookkeeping needs to know."""

    @property
    def gone(self) -> bool:
        """The caller has left."""

    @property
    def lost(self) -> bool:
        """Asterisk itself went away."""

    @property
    def hung_up_by_us(self) -> bool: ...

    @property
    def transferred(self) -> bool:
        """The caller was connected to a transfer target who answered."""

    async def answer(self) -> None: ...


class ContactCall:
    """The contact of one call: the same events and statuses for every voice runtime."""

    def __init__(
        self,
        runtime: VoiceRuntime,
        *,
        channel_id: str,
        caller: str,
        dialed: str,
        via: str,
        errors: tuple[type[Exception], ...],
    ) -> None:
        self.runtime = runtime
        self.channel_id = channel_id
        self.caller = caller
        self.dialed = dialed
        self.via = via
        #: The runtime's own failures (ARI or AGI errors): logged, the call ends "failed".
        self.errors = errors
        self.contact_id: str | None = None
        self.customer_name: str | None = None  # from the customer record, once open
        #: An agent answered the caller from a queue (queue.connected was logged).
        self.agent_connected = False
        # The flow set in force when the call arrived: a reload does not change it.
        self.flows = runtime.flows
        self._writing: set[asyncio.Future[Any]] = set()

    async def emit(self, kind: str, data: dict[str, Any]) -> None:
        """Log an event of this call. The call goes on while it is written (in order,
        sharing commits with the writes queued with it): a caller must not wait on the
        disk between two prompts. `_written` waits for what is still being written."""
        assert self.contact_id is not None
        if kind == "queue.connected":
            self.agent_connected = True
        self._meanwhile(self.runtime.store.append_soon(self.contact_id, kind, data))
        log.debug("contact %s %s %s", self.contact_id, kind, data)

    def _meanwhile(self, writing: asyncio.Future[Any]) -> None:
        self._writing.add(writing)
        writing.add_done_callback(self._wrote)

    def _wrote(self, writing: asyncio.Future[Any]) -> None:
        self._writing.discard(writing)
        if not writing.cancelled() and writing.exception() is not None:
            log.error("contact %s: not written: %s", self.contact_id, writing.exception())

    async def _written(self) -> None:
        """Every event emitted so far is written (or its failure logged)."""
        if self._writing:
            await asyncio.wait(set(self._writing))

    async def open(self) -> str:
        store = self.runtime.store
        customer = None
        with contextlib.suppress(ValueError):  # "anonymous" and the like: no identity
            customer = await store.customer_for_phone(self.caller) if self.caller else None
        self.customer_name = customer.display_name if customer else None
        self.contact_id = await store.open_contact(
            channel="voice",
            direction="inbound",
            source=self.caller,
            destination=self.dialed,
            customer_id=customer.id if customer else None,
            asterisk_channel=self.channel_id,
        )
        bind_contact(self.contact_id)  # every log line of this call's task names it
        log.info(
            "call %s from %r to %r (%s): contact %s",
            self.channel_id,
            self.caller,
            self.dialed,
            self.via,
            self.contact_id,
        )
        await self.emit(
            "call.arrived",
            {
                "caller": self.caller,
                "dialed": self.dialed,
                "channel": self.channel_id,
                "via": self.via,
            },
        )
        return self.contact_id

    async def run(
        self, port: VoiceLeg, flow_name: str | None, services: FlowServices | None = None
    ) -> None:
        """Answer and run `flow_name` (None: the number has no flow); always closes the
        contact. The contact must be open (`open`). `services` defaults to the
        runtime's services for this contact."""
        reason = "flow_completed"
        try:
            await port.answer()
            await self.emit("call.answered", {})
            reason = await self._serve(port, flow_name, services)
        except CallerGone:
            reason = "caller_hangup"
        except self.errors as error:
            log.warning("contact %s: %s", self.contact_id, error)
            # Asterisk went away under the call: lost with it, not a failure of ours.
            reason = "asterisk_lost" if getattr(error, "unreachable", False) else "asterisk_error"
            await self.emit("call.error", {"message": str(error)})
        finally:
            await self._finish(port, reason)

    async def resume(
        self, contact_id: str, port: VoiceLeg, rest: Callable[[], Awaitable[object]]
    ) -> None:
        """Carry on a contact a previous controller started (`ari_app/recovery.py`):
        run `rest` (its time in a queue, or its conversation), then close the contact
        as `run` does. The flow does not resume: its place in the flow died with the
        old controller."""
        self.contact_id = contact_id
        bind_contact(contact_id)
        reason = "flow_completed"
        try:
            await rest()
        except CallerGone:
            reason = "caller_hangup"
        except self.errors as error:
            log.warning("contact %s: %s", self.contact_id, error)
            # Asterisk went away under the call: lost with it, not a failure of ours.
            reason = "asterisk_lost" if getattr(error, "unreachable", False) else "asterisk_error"
            await self.emit("call.error", {"message": str(error)})
        finally:
            await self._finish(port, reason)

    async def _serve(
        self, port: VoiceLeg, flow_name: str | None, services: FlowServices | None
    ) -> str:
        if flow_name is None or flow_name not in self.flows:
            log.warning("contact %s: no flow for number %r", self.contact_id, self.dialed)
            await self.emit("call.no_flow", {"dialed": self.dialed, "flow": flow_name})
            await port.play(
                [Prompt(key=NO_SERVICE_PROMPT)],
                language=self.runtime.default_language,
                barge_in=False,
            )
            await port.hangup()
            return "no_flow"
        assert self.contact_id is not None
        flow = self.flows[flow_name]
        self._meanwhile(
            asyncio.ensure_future(
                self.runtime.store.update_contact(
                    self.contact_id, flow=flow_name, flow_version=flow.version
                )
            )
        )
        runner = FlowRunner(
            self.flows,
            port,
            services or self.runtime.services_for(self.contact_id),
            self.emit,
            max_steps=self.runtime.max_steps,
        )
        result = await runner.run(
            flow_name,
            {"caller_id": self.caller, "dialed": self.dialed},
            language=self.runtime.default_language,
        )
        await self.runtime.store.update_contact(
            self.contact_id,
            language=result.language,
            node=result.path[-1] if result.path else None,
            variables=result.public_variables(),
        )
        if result.outcome == "hangup" and not port.hung_up_by_us:
            return "caller_hangup"
        return "flow_error" if result.outcome == "error" else "flow_completed"

    async def _finish(self, port: VoiceLeg, reason: str) -> None:
        await self._written()  # the log is read below
        if port.lost:
            reason = "asterisk_lost"
        elif reason == "caller_hangup" and port.transferred:
            # Talked to the transfer target, then hung up: served elsewhere, not abandoned.
            reason = "transferred"
        elif reason == "caller_hangup" and await self._served_by_agent():
            # Served by an agent, then hung up (the usual end of a call): not abandoned.
            reason = "caller_hangup_after_agent"
        elif reason == "caller_hangup" and await self._logged(CALLBACK_BOOKED):
            # Hung up after booking a callback (as told they may): served by it.
            reason = "callback_booked"
        hung_up_by = "hotline" if port.hung_up_by_us else "caller"
        if not port.gone:
            with contextlib.suppress(*self.errors):
                await port.hangup()
                hung_up_by = "hotline"
        status = STATUS_OF[reason]
        await self.emit(
            "call.ended", {"status": status, "reason": reason, "hung_up_by": hung_up_by}
        )
        assert self.contact_id is not None
        await self._written()  # a closed contact has its whole story in the log
        await self.runtime.store.close_contact(self.contact_id, status)
        log.info("contact %s ended: %s (%s)", self.contact_id, status, reason)

    async def _served_by_agent(self) -> bool:
        """An agent answered the caller from a queue. Over FastAGI the ARI side logs
        queue.connected against this contact, so the log is asked too."""
        if self.agent_connected:
            return True
        return await self._logged({"queue.connected"})

    async def _logged(self, kinds: frozenset[str] | set[str]) -> bool:
        """One of these events is in the contact's log."""
        assert self.contact_id is not None
        with contextlib.suppress(StoreError):
            events = await self.runtime.store.events(self.contact_id)
            return any(event.type in kinds for event in events)
        return False


#: Events saying the caller booked a callback (in a queue, or by a flow's callback node).
CALLBACK_BOOKED = frozenset({"queue.callback", "flow.callback"})


#: Why a call ended -> the contact's final status.
STATUS_OF = {
    "flow_completed": "completed",
    "caller_hangup": "abandoned",  # left before the flow finished (reports split IVR/queue)
    "transferred": "transferred",
    "caller_hangup_after_agent": "completed",
    "callback_booked": "completed",
    "no_flow": "failed",
    "flow_error": "failed",
    "asterisk_error": "failed",
    "asterisk_lost": "lost",
}
