"""One inbound call: open the contact, answer, run the number's flow, end cleanly."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ari_app.client import AriClient, AriError, Event
from ari_app.prompts import PromptLibrary
from ari_app.voice_port import VoicePort
from hotline.flows.interpreter import FlowRunner
from hotline.flows.loader import FlowSet
from hotline.flows.port import CallerGone, Prompt
from hotline.flows.services import FlowServices
from hotline.store import Store

log = logging.getLogger(__name__)

#: Played when a number has no flow, then the call ends.
NO_SERVICE_PROMPT = "no_service"


@dataclass
class VoiceRuntime:
    """What every call needs, passed in once."""

    ari: AriClient
    store: Store
    prompts: PromptLibrary
    flows: FlowSet
    numbers: dict[str, str]
    #: The flow services for one contact (they log against it).
    services_for: Callable[[str], FlowServices]
    default_language: str
    max_steps: int = 500


class CallSession:
    def __init__(self, runtime: VoiceRuntime, channel: Event) -> None:
        self.runtime = runtime
        self.channel = channel
        self.channel_id: str = channel["id"]
        self.contact_id: str | None = None
        self.port = VoicePort(runtime.ari, self.channel_id, runtime.prompts, self.emit)
        # The flow set in force when the call arrived: a reload does not change it.
        self.flows = runtime.flows

    def deliver(self, event: Event) -> None:
        self.port.deliver(event)

    async def emit(self, kind: str, data: dict[str, Any]) -> None:
        assert self.contact_id is not None
        await self.runtime.store.append(self.contact_id, kind, data)
        log.debug("contact %s %s %s", self.contact_id, kind, data)

    async def run(self) -> None:
        caller = self.channel.get("caller", {}).get("number") or ""
        dialed = self.channel.get("dialplan", {}).get("exten") or ""
        store = self.runtime.store
        customer = None
        with contextlib.suppress(ValueError):  # "anonymous" and the like: no identity
            customer = await store.customer_for_phone(caller) if caller else None
        self.contact_id = await store.open_contact(
            channel="voice",
            direction="inbound",
            source=caller,
            destination=dialed,
            customer_id=customer.id if customer else None,
            asterisk_channel=self.channel_id,
        )
        log.info(
            "call %s from %r to %r: contact %s", self.channel_id, caller, dialed, self.contact_id
        )
        await self.emit(
            "call.arrived", {"caller": caller, "dialed": dialed, "channel": self.channel_id}
        )
        reason = "flow_completed"
        try:
            await self.port._ari(self.runtime.ari.answer(self.channel_id))
            await self.emit("call.answered", {})
            reason = await self._serve(dialed)
        except CallerGone:
            reason = "caller_hangup"
        except AriError as error:
            log.warning("contact %s: %s", self.contact_id, error)
            reason = "asterisk_error"
            await self.emit("call.error", {"message": str(error)})
        finally:
            await self._finish(reason)

    async def _serve(self, dialed: str) -> str:
        flow_name = self.runtime.numbers.get(dialed)
        if flow_name is None or flow_name not in self.flows:
            log.warning("contact %s: no flow for number %r", self.contact_id, dialed)
            await self.emit("call.no_flow", {"dialed": dialed, "flow": flow_name})
            await self.port.play(
                [Prompt(key=NO_SERVICE_PROMPT)],
                language=self.runtime.default_language,
                barge_in=False,
            )
            await self.port.hangup()
            return "no_flow"
        flow = self.flows[flow_name]
        await self.runtime.store.update_contact(
            self.contact_id, flow=flow_name, flow_version=flow.version
        )
        runner = FlowRunner(
            self.flows,
            self.port,
            self.runtime.services_for(self.contact_id),
            self.emit,
            max_steps=self.runtime.max_steps,
        )
        caller = self.channel.get("caller", {}).get("number") or ""
        result = await runner.run(
            flow_name, {"caller_id": caller}, language=self.runtime.default_language
        )
        await self.runtime.store.update_contact(
            self.contact_id,
            language=result.language,
            node=result.path[-1] if result.path else None,
            variables=result.public_variables(),
        )
        if result.outcome == "hangup" and not self.port.hung_up_by_us:
            return "caller_hangup"
        return "flow_error" if result.outcome == "error" else "flow_completed"

    async def _finish(self, reason: str) -> None:
        if self.port.lost:
            reason = "asterisk_lost"
        hung_up_by = "hotline" if self.port.hung_up_by_us else "caller"
        if not self.port.gone:
            with contextlib.suppress(AriError):
                await self.port.hangup()
                hung_up_by = "hotline"
        status = STATUS_OF[reason]
        await self.emit(
            "call.ended", {"status": status, "reason": reason, "hung_up_by": hung_up_by}
        )
        await self.runtime.store.close_contact(self.contact_id, status)
        log.info("contact %s ended: %s (%s)", self.contact_id, status, reason)


#: Why a call ended -> the contact's final status.
STATUS_OF = {
    "flow_completed": "completed",
    "caller_hangup": "abandoned",  # left before the flow finished (reports split IVR/queue)
    "no_flow": "failed",
    "flow_error": "failed",
    "asterisk_error": "failed",
    "asterisk_lost": "lost",
}


def channel_of(event: Event) -> str | None:
    """The channel an ARI event is about, if any."""
    if "channel" in event:
        return event["channel"]["id"]
    for key in ("playback", "recording"):
        target = event.get(key, {}).get("target_uri", "")
        if target.startswith("channel:"):
            return target.removeprefix("channel:")
    return None
