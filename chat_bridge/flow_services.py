"""A chat's flow services: the chat's own queue experience, queue status for the chat
channel, and a survey logged as on a call (one survey.answered)."""

from __future__ import annotations

from typing import Any

from chat_bridge.chat import LiveChat
from chat_bridge.queueing import ChatQueueing
from hotline.acd.model import Channel
from hotline.acd.router import RoutingError
from hotline.acd.service import RoutingService
from hotline.events import EventType, SurveyAnswered
from hotline.flows.services import (
    CallbackBooking,
    CallbackRequest,
    ChannelQueueServices,
    FlowServices,
    QueueRequest,
    SurveyAnswers,
)
from hotline.flows.steps import FlowFailure
from hotline.store import Store


class ChatServices(ChannelQueueServices):
    """`services` (integrations, schedules, callbacks...) with the chat's own queue."""

    def __init__(
        self,
        services: FlowServices,
        chat: LiveChat,
        queueing: ChatQueueing,
        routing: RoutingService,
        store: Store,
    ) -> None:
        async def enqueue(request: QueueRequest) -> str:
            return await queueing.enqueue(chat, request)

        super().__init__(services, enqueue)
        self.chat = chat
        self.routing = routing
        self.store = store

    async def book_callback(self, request: CallbackRequest) -> CallbackBooking:
        """The flow's callback node: booked, the contact is served by it."""
        booking = await super().book_callback(request)
        if booking.booked and self.chat.contact is not None:
            self.chat.contact.run.callback_booked = True
        return booking

    async def queue_status(self, queue: str) -> dict[str, Any]:
        try:
            return self.routing.queue_status(queue, Channel.CHAT).variables()
        except RoutingError as error:
            raise FlowFailure(str(error)) from None

    async def save_survey(self, answers: SurveyAnswers) -> None:
        survey = SurveyAnswered(
            survey=answers.survey, node=answers.node, answers=dict(answers.answers)
        )
        await self.store.append(self.chat.contact_id, EventType.SURVEY_ANSWERED, dict(survey))
