"""A call's flow services: its channel's queue experience, and the contact's run told
at once what its end depends on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from hotline.contacts import ContactRun
from hotline.flows.services import (
    CallbackBooking,
    CallbackRequest,
    ChannelQueueServices,
    FlowServices,
    QueueRequest,
)

Enqueue = Callable[[QueueRequest], Awaitable[str]]


class VoiceServices(ChannelQueueServices):
    """`services` with the call's own `enqueue`; a callback the flow's callback node
    books is handed to the contact's `run` (a caller who hangs up after it was served)."""

    def __init__(self, services: FlowServices, enqueue: Enqueue, run: ContactRun) -> None:
        super().__init__(services, enqueue)
        self.run = run

    async def book_callback(self, request: CallbackRequest) -> CallbackBooking:
        booking = await super().book_callback(request)
        if booking.booked:
            self.run.callback_booked = True
        return booking
