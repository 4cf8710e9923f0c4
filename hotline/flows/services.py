"""What a running flow needs from the rest of Hotline, besides the channel port.

The interpreter does no I/O of its own: HTTP integrations, the routing engine,
survey storage, schedules and the clock all come through `FlowServices`.
`DefaultServices` is a self-contained implementation for the simulator and tests,
with fixed answers you can override.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from hotline.callbacks.rules import PROMPTS, CallbackRefused, normalize_number
from hotline.callbacks.settings import CallbackConfig
from hotline.flows.hours import Schedule
from hotline.knowledge.article import Hit


class KnowledgeUnavailable(RuntimeError):
    """No knowledge base is configured for the flows (a knowledge node fails)."""


class HttpTimeout(TimeoutError):
    """The integration did not answer within the node's timeout."""


@dataclass(frozen=True)
class HttpRequest:
    """`target` is an integration name from the config, or a full URL."""

    target: str
    method: str
    params: Mapping[str, Any]
    timeout: float
    path: str | None = None


@dataclass(frozen=True)
class HttpResult:
    status: int
    json: Any = None


@dataclass(frozen=True)
class QueueRequest:
    queue: str
    priority: int
    skills: Mapping[str, int]
    max_wait: float | None
    language: str
    variables: Mapping[str, Any]


@dataclass(frozen=True)
class SurveyAnswers:
    """Scores by question id; None for a question left unanswered."""

    flow: str
    node: str
    survey: str
    answers: Mapping[str, int | None]
    language: str


@dataclass(frozen=True)
class CallbackRequest:
    queue: str
    number: str
    priority: int
    language: str


@dataclass(frozen=True)
class CallbackBooking:
    """A booked callback (`callback_id`), or why not: `reason` (invalid, prefix,
    own_number, already_booked, too_many, no_callbacks) and the `prompt` that says so."""

    number: str | None
    callback_id: str | None = None
    reason: str | None = None
    prompt: str | None = None

    @property
    def booked(self) -> bool:
        return self.callback_id is not None


class FlowServices(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""

    def schedule(self, name: str) -> Schedule | None:
        """A named schedule from the config, or None if there is no such schedule."""

    def is_open(self, schedule: Schedule) -> bool:
        """Is the schedule open now? (The simulator forces this open or closed.)"""

    async def http(self, request: HttpRequest) -> HttpResult:
        """Call an integration; raise HttpTimeout when it does not answer in time."""

    async def enqueue(self, request: QueueRequest) -> str:
        """Queue the contact and wait; return answered, timeout, full, closed or left."""

    async def save_survey(self, answers: SurveyAnswers) -> None:
        """Store a survey's answers."""

    async def queue_status(self, queue: str) -> Mapping[str, Any]:
        """The queue_status node's variables (queue_waiting, queue_eta, …)."""

    def check_callback(self, queue: str, number: str) -> CallbackBooking:
        """Is `number` one a callback from `queue` may dial? `number` is the normalised
        number, or None with the reason and prompt. Nothing is booked."""

    async def book_callback(self, request: CallbackRequest) -> CallbackBooking:
        """Book a callback (persisted before this returns) or say why not."""

    async def search_knowledge(
        self, question: str, language: str, limit: int, tags: tuple[str, ...]
    ) -> list[Hit]:
        """The knowledge base's best articles for `question` (BadQuestion, UnknownLanguage
        as it raises them); KnowledgeUnavailable when there is none."""


class KnowledgeSearch(Protocol):
    """The knowledge base's search (hotline.knowledge.KnowledgeBase)."""

    async def search(
        self, query: str, language: str, limit: int = 5, *, tags: tuple[str, ...] = ()
    ) -> list[Hit]: ...


HttpFixture = HttpResult | str  # "timeout" for an integration that never answers


@dataclass
class DefaultServices:
    """Services with canned answers: for the simulator, scenario tests and unit tests."""

    schedules: dict[str, Schedule] = field(default_factory=dict)
    #: Force every hours node open (True) or closed (False); None follows the schedule.
    hours_open: bool | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: integration name or URL -> canned answer; unknown targets get a 404.
    http_fixtures: dict[str, HttpFixture] = field(default_factory=dict)
    queue_outcome: str = "answered"
    #: What a queue_status node reads; keys as QueueStatusNode.VARIABLES.
    queue_state: dict[str, Any] = field(
        default_factory=lambda: {
            "queue_waiting": 0,
            "queue_eta": 0,
            "queue_longest_wait": 0,
            "queue_agents_logged_in": 1,
            "queue_agents_free": 1,
            "queue_agents_paused": 0,
        }
    )
    surveys: list[SurveyAnswers] = field(default_factory=list)
    requests: list[HttpRequest] = field(default_factory=list)
    enqueued: list[QueueRequest] = field(default_factory=list)
    #: The simulator's callback answers: booked, or a refusal reason (too_many, ...).
    callback_outcome: str = "booked"
    callbacks: list[CallbackRequest] = field(default_factory=list)
    #: (queue, channel) of each contact that left a queue unanswered.
    abandoned_in: list[tuple[str, str]] = field(default_factory=list)
    #: The knowledge base knowledge nodes search (None: they fail, as with no config).
    knowledge: KnowledgeSearch | None = None

    def now(self) -> datetime:
        return self.clock()

    def schedule(self, name: str) -> Schedule | None:
        if name not in self.schedules and self.hours_open is not None:
            return Schedule()  # forced open/closed anyway: any name will do
        return self.schedules.get(name)

    def is_open(self, schedule: Schedule) -> bool:
        return self.hours_open if self.hours_open is not None else schedule.is_open(self.now())

    async def http(self, request: HttpRequest) -> HttpResult:
        self.requests.append(request)
        fixture = self.http_fixtures.get(request.target, HttpResult(404))
        if fixture == "timeout":
            raise HttpTimeout(f"{request.target} did not answer in {request.timeout:g} s")
        if isinstance(fixture, str):
            raise ValueError(f"bad HTTP fixture for {request.target}: {fixture!r}")
        return fixture

    async def enqueue(self, request: QueueRequest) -> str:
        self.enqueued.append(request)
        return self.queue_outcome

    async def save_survey(self, answers: SurveyAnswers) -> None:
        self.surveys.append(answers)

    async def queue_status(self, queue: str) -> Mapping[str, Any]:
        return dict(self.queue_state)

    def check_callback(self, queue: str, number: str) -> CallbackBooking:
        try:
            return CallbackBooking(normalize_number(number, CallbackConfig()))
        except CallbackRefused as refused:
            return CallbackBooking(None, reason=refused.reason, prompt=refused.prompt)

    async def abandoned(self, queue: str, waited: float, channel: str) -> None:
        self.abandoned_in.append((queue, channel))

    async def search_knowledge(
        self, question: str, language: str, limit: int, tags: tuple[str, ...]
    ) -> list[Hit]:
        if self.knowledge is None:
            raise KnowledgeUnavailable("no knowledge base: knowledge nodes cannot answer")
        return await self.knowledge.search(question, language, limit, tags=tags)

    async def book_callback(self, request: CallbackRequest) -> CallbackBooking:
        self.callbacks.append(request)
        if self.callback_outcome != "booked":
            reason = self.callback_outcome
            return CallbackBooking(request.number, reason=reason, prompt=PROMPTS.get(reason))
        return CallbackBooking(request.number, callback_id=f"callback-{len(self.callbacks)}")


class ChannelQueueServices:
    """A contact's services whose `enqueue` is its channel's own queue experience: a
    voice call holds with music while agents are rung, a FastAGI call is handed over
    to the ARI side, a chat shows its position. Everything else is `services`'."""

    def __init__(
        self, services: FlowServices, enqueue: Callable[[QueueRequest], Awaitable[str]]
    ) -> None:
        self.services = services
        self._enqueue = enqueue

    def now(self) -> datetime:
        return self.services.now()

    def schedule(self, name: str) -> Schedule | None:
        return self.services.schedule(name)

    def is_open(self, schedule: Schedule) -> bool:
        return self.services.is_open(schedule)

    async def http(self, request: HttpRequest) -> HttpResult:
        return await self.services.http(request)

    async def save_survey(self, answers: SurveyAnswers) -> None:
        await self.services.save_survey(answers)

    async def queue_status(self, queue: str) -> Mapping[str, Any]:
        return await self.services.queue_status(queue)

    def check_callback(self, queue: str, number: str) -> CallbackBooking:
        return self.services.check_callback(queue, number)

    async def book_callback(self, request: CallbackRequest) -> CallbackBooking:
        return await self.services.book_callback(request)

    async def enqueue(self, request: QueueRequest) -> str:
        return await self._enqueue(request)

    async def search_knowledge(
        self, question: str, language: str, limit: int, tags: tuple[str, ...]
    ) -> list[Hit]:
        return await self.services.search_knowledge(question, language, limit, tags)
