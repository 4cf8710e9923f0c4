"""One voice call's contact, whatever carries it (ARI or FastAGI): open the contact,
answer, run the flow, close the contact with a status, through the contact lifecycle
every channel shares (hotline/contacts). Shared by `ari_app/call.py` and
`agi/server.py`, so both write the same events the same way.

What decides the end besides why the call ended (served by an agent, a booked
callback, a transfer) is handed to the contact's `run` as it happens: by the queue
experience (ari_app/queueing.py, also for a FastAGI call handed over to Stasis: it
finds the run in `VoiceRuntime.runs`), the flow's callback node (`VoiceServices`) and
the port (a transfer).

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

from hotline.contacts import ContactLifecycle, ContactNotOpen, ContactRun, EndReason
from hotline.flows.interpreter import FlowRunner
from hotline.flows.loader import FlowSet
from hotline.flows.port import CallerGone, FlowPort, Prompt
from hotline.flows.services import FlowServices
from hotline.logcontext import bind_contact
from hotline.store import Store
from voice.prompts import PromptLibrary
from voice.recordings import Recordings
from voice.services import Enqueue, VoiceServices

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
    #: The Asterisk node the calls are on (`host/instance`), kept on each contact
    #: (contacts.asterisk_node): with several nodes, where a call and its recording are.
    node: str | None = None
    #: The runs of the calls open now, by contact id: where the ARI side hands the
    #: queue experience of a call FastAGI handed over to it.
    runs: dict[str, ContactRun] = field(default_factory=dict)


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
        self.lifecycle = ContactLifecycle(runtime.store, "voice")
        self.customer_name: str | None = None  # from the customer record, once open
        # The flow set in force when the call arrived: a reload does not change it.
        self.flows = runtime.flows
        self._writing: set[asyncio.Future[Any]] = set()

    async def emit(self, kind: str, data: dict[str, Any]) -> None:
        """Log an event of this call. The call goes on while it is written (in order,
        sharing commits with the writes queued with it): a caller must not wait on the
        disk between two prompts. `_written` waits for what is still being written.
        Lazy: it shares the commit of the next write something waits for (a routing
        record, the contact's close) rather than make one of its own."""
        assert self.contact_id is not None
        self._meanwhile(self.runtime.store.append_soon(self.contact_id, kind, data, lazy=True))
        log.debug("contact %s %s %s", self.contact_id, kind, data)

    @property
    def contact_id(self) -> str | None:
        """The contact's id once open (or adopted, `resume`)."""
        try:
            return self.lifecycle.contact_id
        except ContactNotOpen:
            return None

    @property
    def run(self) -> ContactRun:
        """What the call hands over while it runs (see the module docstring)."""
        return self.lifecycle.run

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
            self.runtime.store.hurry()  # waited for now: no lazy wait
            await asyncio.wait(set(self._writing))

    async def open(self) -> str:
        store = self.runtime.store
        customer = None
        with contextlib.suppress(ValueError):  # "anonymous" and the like: no identity
            customer = await store.customer_for_phone(self.caller) if self.caller else None
        self.customer_name = customer.display_name if customer else None
        contact_id = await self.lifecycle.open(
            "inbound",
            source=self.caller,
            destination=self.dialed,
            customer_id=customer.id if customer else None,
            asterisk_channel=self.channel_id,
            asterisk_node=self.runtime.node,
        )
        self.runtime.runs[contact_id] = self.run
        bind_contact(contact_id)  # every log line of this call's task names it
        log.info(
            "call %s from %r to %r (%s): contact %s",
            self.channel_id,
            self.caller,
            self.dialed,
            self.via,
            contact_id,
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
        return contact_id

    async def run_flow(
        self, port: VoiceLeg, flow_name: str | None, enqueue: Enqueue | None = None
    ) -> None:
        """Answer and run `flow_name` (None: the number has no flow); always closes the
        contact. The contact must be open (`open`). `enqueue` is the call's queue
        experience (None: the runtime services' own, which answers "closed")."""
        reason = EndReason.FLOW_COMPLETED
        try:
            await port.answer()
            await self.emit("call.answered", {})
            reason = await self._serve(port, flow_name, enqueue)
        except CallerGone:
            reason = EndReason.CUSTOMER_LEFT
        except self.errors as error:
            reason = await self._failed(error)
        finally:
            await self._finish(port, reason)

    def adopt(self, contact_id: str) -> None:
        """Take on a contact a previous controller opened (`ari_app/recovery.py`)."""
        self.lifecycle = ContactLifecycle(self.runtime.store, "voice", contact_id=contact_id)
        self.runtime.runs[contact_id] = self.run

    async def resume(self, port: VoiceLeg, rest: Callable[[], Awaitable[object]]) -> None:
        """Carry on the adopted contact: run `rest` (its time in a queue, or its
        conversation), then close the contact as `run_flow` does. The flow does not
        resume: its place in the flow died with the old controller."""
        assert self.contact_id is not None, "adopt the contact first"
        bind_contact(self.contact_id)
        reason = EndReason.FLOW_COMPLETED
        try:
            await rest()
        except CallerGone:
            reason = EndReason.CUSTOMER_LEFT
        except self.errors as error:
            reason = await self._failed(error)
        finally:
            await self._finish(port, reason)

    async def _failed(self, error: Exception) -> EndReason:
        """The runtime's own failure (an ARI or AGI error): logged with the contact."""
        log.warning("contact %s: %s", self.contact_id, error)
        await self.emit("call.error", {"message": str(error)})
        # Asterisk went away under the call: lost with it, not a failure of ours.
        if getattr(error, "unreachable", False):
            return EndReason.CHANNEL_LOST
        return EndReason.CHANNEL_ERROR

    def services(self, enqueue: Enqueue | None = None) -> FlowServices:
        """The flow services of this call (see `VoiceServices`)."""
        assert self.contact_id is not None
        services = self.runtime.services_for(self.contact_id)
        return VoiceServices(services, enqueue or services.enqueue, self.run)

    async def _serve(
        self, port: VoiceLeg, flow_name: str | None, enqueue: Enqueue | None
    ) -> EndReason:
        if flow_name is None or flow_name not in self.flows:
            log.warning("contact %s: no flow for number %r", self.contact_id, self.dialed)
            await self.emit("call.no_flow", {"dialed": self.dialed, "flow": flow_name})
            await port.play(
                [Prompt(key=NO_SERVICE_PROMPT)],
                language=self.runtime.default_language,
                barge_in=False,
            )
            await port.hangup()
            return EndReason.NO_FLOW
        assert self.contact_id is not None
        flow = self.flows[flow_name]
        self._meanwhile(
            asyncio.ensure_future(
                self.runtime.store.update_contact(
                    self.contact_id, lazy=True, flow=flow_name, flow_version=flow.version
                )
            )
        )
        runner = FlowRunner(
            self.flows,
            port,
            self.services(enqueue),
            self.emit,
            max_steps=self.runtime.max_steps,
        )
        result = await runner.run(
            flow_name,
            {"caller_id": self.caller, "dialed": self.dialed},
            language=self.runtime.default_language,
        )
        # Lazy, as the call's events: it commits with them before the contact closes
        # (`_finish` waits for what is being written).
        self._meanwhile(
            asyncio.ensure_future(
                self.runtime.store.update_contact(
                    self.contact_id,
                    lazy=True,
                    language=result.language,
                    node=result.path[-1] if result.path else None,
                    variables=result.public_variables(),
                )
            )
        )
        if result.outcome == "hangup" and not port.hung_up_by_us:
            return EndReason.CUSTOMER_LEFT
        if result.outcome == "error":
            return EndReason.FLOW_ERROR
        return EndReason.FLOW_COMPLETED

    async def _finish(self, port: VoiceLeg, reason: EndReason) -> None:
        if port.lost:
            reason = EndReason.CHANNEL_LOST
        # Talked to a transfer target, then hung up: served elsewhere, not abandoned.
        self.run.transferred = self.run.transferred or port.transferred
        ending = self.lifecycle.ending(reason)
        hung_up_by = "hotline" if port.hung_up_by_us else "caller"
        # Not twice: a flow's `hangup` node has asked Asterisk already.
        if not port.gone and not port.hung_up_by_us:
            with contextlib.suppress(*self.errors):
                await port.hangup()
                hung_up_by = "hotline"
        status, why = ending.status.value, ending.reason.value
        await self.emit("call.ended", {"status": status, "reason": why, "hung_up_by": hung_up_by})
        contact_id = self.lifecycle.contact_id
        await self._written()  # a closed contact has its whole story in the log
        await self.lifecycle.close(ending)
        self.runtime.runs.pop(contact_id, None)
        log.info("contact %s ended: %s (%s)", contact_id, status, why)
