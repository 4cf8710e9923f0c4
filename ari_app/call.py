"""One inbound call over ARI: its channel's events feed the voice port, and the shared
contact bookkeeping (`voice/contact.py`) runs the number's flow."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from ari_app.client import AriClient, AriError, AriEvent
from ari_app.queueing import Queueing, VoiceQueue
from ari_app.voice_port import VoicePort
from hotline.flows.services import QueueRequest
from voice.caller_id import caller_id
from voice.contact import ContactCall, VoiceRuntime

log = logging.getLogger(__name__)

#: The music-on-hold class an inbound caller hears as it enters Stasis: its channel has
#: no class of its own (chan_pjsip sets none, nor does dialplan/extensions.conf.j2), so
#: Asterisk plays `default`, the queues' default class: a queue of it needs no request
#: to set the class (ari_app/holding.py). A dialplan of one's own that sets
#: CHANNEL(musicclass) before `Stasis(hotline,inbound)` overrides such queues' music.
INBOUND_MUSIC = "default"

#: Seconds an answered caller may hear silence while its contact is being opened; after
#: that (the database slow or unreachable: the store's writes wait and retry) it hears
#: music on hold until the contact is written and its flow starts.
QUIET = 1.0


class CallSession:
    def __init__(
        self,
        runtime: VoiceRuntime,
        ari: AriClient,
        channel: AriEvent,
        follow: Callable[[str, bool], None],
        queueing: Queueing | None = None,
    ) -> None:
        self.runtime = runtime
        self.ari = ari
        #: The routing engine and how queues sound; None: queues answer "closed".
        self.queueing = queueing
        self.channel = channel
        self.channel_id: str = channel["id"]
        self.contact = ContactCall(
            runtime,
            channel_id=self.channel_id,
            caller=channel.get("caller", {}).get("number") or "",
            dialed=channel.get("dialplan", {}).get("exten") or "",
            via="ari",
            errors=(AriError,),
        )
        self.port = VoicePort(
            ari,
            self.channel_id,
            runtime.prompts,
            self.contact.emit,
            recordings=runtime.recordings,
            agents=runtime.agents,
            follow=follow,
            caller_id=caller_id(None, self.contact.caller),
        )
        self.port.music_class = INBOUND_MUSIC
        # A conversation's bridge may outlive it until the flow next acts on the
        # caller: `run` settles the port at the end, whatever happens.
        self.port.lazy_leave = True

    @property
    def contact_id(self) -> str | None:
        return self.contact.contact_id

    def deliver(self, event: AriEvent) -> None:
        self.port.deliver(event)

    async def _open_contact(self) -> str:
        """The contact opened; music for the caller if that takes longer than QUIET."""
        opening = asyncio.ensure_future(self.contact.open())
        try:
            done, _ = await asyncio.wait({opening}, timeout=QUIET)
            if done:
                return opening.result()
            log.warning(
                "call from %r: its contact is not written after %g s (the database?): "
                "music on hold meanwhile",
                self.contact.caller,
                QUIET,
            )
            moh = f"channels/{self.channel_id}/moh"
            with contextlib.suppress(AriError):  # the caller gone: the flow finds out
                await self.ari.request("POST", moh)
            try:
                return await opening
            finally:
                with contextlib.suppress(AriError):
                    await self.ari.request("DELETE", moh)
        finally:
            opening.cancel()  # run cancelled (the caller hung up): no orphan write waits

    async def run(self) -> None:
        # The answer and the contact's opening (the store) go together: the caller's
        # 200 OK does not wait for the write.
        self.port.start_answer()
        contact_id = await self._open_contact()
        self.port.caller_id = caller_id(self.contact.customer_name, self.contact.caller)
        flow_name = self.runtime.numbers.get(self.contact.dialed)
        queueing, run = self.queueing, self.contact.run
        enqueue = None
        if queueing is not None:

            async def enqueue(request: QueueRequest) -> str:
                return await VoiceQueue(queueing, self.port, contact_id, run).run(request)

        try:
            await self.contact.run_flow(self.port, flow_name, enqueue)
        finally:  # a conversation's bridge the caller ended in goes
            await self.port.settle()
