"""Flow services for live contacts: the real clock, HTTP integrations, the event log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from hotline.acd.model import Channel
from hotline.acd.router import RoutingError
from hotline.acd.service import RoutingService
from hotline.callbacks.rules import PROMPTS, CallbackRefused
from hotline.callbacks.service import CallbackService
from hotline.config import IntegrationConfig
from hotline.events import EventType, SurveyAnswered
from hotline.flows.hours import Schedule
from hotline.flows.services import (
    CallbackBooking,
    CallbackRequest,
    HttpRequest,
    HttpResult,
    HttpTimeout,
    KnowledgeSearch,
    KnowledgeUnavailable,
    QueueRequest,
    SurveyAnswers,
)
from hotline.flows.steps import FlowFailure
from hotline.knowledge.article import Hit
from hotline.store import Store

#: An integration's answer larger than this is refused (it is an API, not a download).
MAX_RESPONSE_BYTES = 256 * 1024


class LiveServices:
    """One contact's services. `enqueue` here is for channels with no queue experience
    of their own (voice and FastAGI bring theirs, see ChannelQueueServices): "closed"."""

    def __init__(
        self,
        store: Store,
        contact_id: str,
        http: aiohttp.ClientSession,
        integrations: Mapping[str, IntegrationConfig] | None = None,
        schedules: Mapping[str, Schedule] | None = None,
        routing: RoutingService | None = None,
        callbacks: CallbackService | None = None,
        knowledge: KnowledgeSearch | None = None,
    ) -> None:
        self.knowledge = knowledge
        self.routing = routing
        self.callbacks = callbacks
        self.store = store
        self.contact_id = contact_id
        self.session = http
        self.integrations = integrations or {}
        self.schedules = schedules or {}

    def now(self) -> datetime:
        return datetime.now(UTC)

    def schedule(self, name: str) -> Schedule | None:
        return self.schedules.get(name)

    def is_open(self, schedule: Schedule) -> bool:
        return schedule.is_open(self.now())

    async def http(self, request: HttpRequest) -> HttpResult:
        integration = self.integrations.get(request.target)
        base = integration.url if integration else request.target
        url = base.rstrip("/") + (request.path or "") if request.path else base
        # The integration's cap wins over a node asking to wait longer.
        timeout = min(request.timeout, integration.timeout) if integration else request.timeout
        options: dict[str, Any] = (
            {"params": dict(request.params)}
            if request.method.upper() in ("GET", "DELETE")
            else {"json": dict(request.params)}
        )
        try:
            async with asyncio.timeout(timeout):
                async with self.session.request(request.method, url, **options) as response:
                    body = await response.content.read(MAX_RESPONSE_BYTES + 1)
        except TimeoutError as error:
            raise HttpTimeout(f"{url} did not answer in {timeout:g} s") from error
        if len(body) > MAX_RESPONSE_BYTES:
            raise ValueError(f"{url} answered with more than {MAX_RESPONSE_BYTES} bytes")
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        return HttpResult(response.status, data)

    async def queue_status(self, queue: str) -> Mapping[str, Any]:
        if self.routing is None:
            raise FlowFailure("no routing engine runs here")
        try:
            return self.routing.queue_status(queue, Channel.VOICE).variables()
        except RoutingError as error:
            raise FlowFailure(str(error)) from None

    async def enqueue(self, request: QueueRequest) -> str:
        await self.store.append(
            self.contact_id, "queue.refused", {"outcome": "closed"}, queue=request.queue
        )
        return "closed"

    def check_callback(self, queue: str, number: str) -> CallbackBooking:
        if self.callbacks is None:
            return CallbackBooking(None, reason="no_callbacks", prompt=PROMPTS["no_callbacks"])
        try:
            return CallbackBooking(self.callbacks.check(number, queue))
        except CallbackRefused as refused:
            return CallbackBooking(None, reason=refused.reason, prompt=refused.prompt)

    async def abandoned(self, queue: str, waited: float, channel: str) -> None:
        """The contact left `queue` unanswered (a chat nobody took): the queue's
        abandoned policy, with the customer's phone number if one is known."""
        if self.callbacks is None:
            return
        number = ""
        contact = await self.store.contact(self.contact_id)
        if contact is not None and contact.customer_id is not None:
            customer = await self.store.customer(contact.customer_id)
            number = (customer.phone or "") if customer is not None else ""
        await self.callbacks.abandoned(self.contact_id, number, queue, waited, channel)

    async def search_knowledge(
        self, question: str, language: str, limit: int, tags: tuple[str, ...]
    ) -> list[Hit]:
        if self.knowledge is None:
            raise KnowledgeUnavailable("no knowledge base: knowledge nodes cannot answer")
        return await self.knowledge.search(question, language, limit, tags=tags)

    async def book_callback(self, request: CallbackRequest) -> CallbackBooking:
        """Book from a flow's callback node: stored first, then logged on the contact."""
        if self.callbacks is None:
            return CallbackBooking(None, reason="no_callbacks", prompt=PROMPTS["no_callbacks"])
        try:
            callback = await self.callbacks.book(
                request.number,
                request.queue,
                origin_contact_id=self.contact_id,
                source="flow",
                language=request.language,
                priority=request.priority,
            )
        except CallbackRefused as refused:
            return CallbackBooking(request.number, reason=refused.reason, prompt=refused.prompt)
        await self.store.append(
            self.contact_id,
            "flow.callback",
            {"queue": request.queue, "callback": callback.contact_id, "number": callback.number},
            queue=request.queue,
        )
        return CallbackBooking(callback.number, callback_id=callback.contact_id)

    async def save_survey(self, answers: SurveyAnswers) -> None:
        survey = SurveyAnswered(
            survey=answers.survey, node=answers.node, answers=dict(answers.answers)
        )
        await self.store.append(self.contact_id, EventType.SURVEY_ANSWERED, dict(survey))
