"""The event catalogue: every event type of the contact event log, its meaning and the
shape of its data.

The store refuses a type that is not here; reports name types through `EventType`;
`docs/events.md` is generated from this module (`python -m hotline.events_doc`).
A new event type is added in three places, all here: a member of `EventType`, a
payload TypedDict, and its `EventSpec` in `CATALOGUE`.

Every agent event also carries the log row's `agent` column; contact steps carry the
`queue` column where there is one. Agent transitions and contact steps the routing
engine records (`agent.*` from its state table, `contact.*`) share the router's fields.
"""

# No `from __future__ import annotations`: the TypedDicts' Required/NotRequired keys are
# read at class creation, from real (not stringized) annotations.

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NotRequired, TypedDict


class EventType(StrEnum):
    """Every event type the log may hold."""

    # agents (routing engine transitions, presence, feature codes)
    AGENT_LOGIN = "agent.login"
    AGENT_LOGOUT = "agent.logout"
    AGENT_PAUSE = "agent.pause"
    AGENT_UNPAUSE = "agent.unpause"
    AGENT_RESERVE = "agent.reserve"
    AGENT_RING = "agent.ring"
    AGENT_ACCEPT = "agent.accept"
    AGENT_REJECT = "agent.reject"
    AGENT_RELEASE = "agent.release"
    AGENT_NO_ANSWER = "agent.no_answer"
    AGENT_FINISH = "agent.finish"
    AGENT_WRAP_END = "agent.wrap_end"
    AGENT_RESTORE = "agent.restore"
    AGENT_REACHABLE = "agent.reachable"
    AGENT_UNREACHABLE = "agent.unreachable"
    AGENT_FEATURE = "agent.feature"
    # contacts in queues (routing engine)
    CONTACT_JOIN = "contact.join"
    CONTACT_RESTORE = "contact.restore"
    CONTACT_REFUSED = "contact.refused"
    CONTACT_RELAX = "contact.relax"
    CONTACT_OFFER = "contact.offer"
    CONTACT_ANSWERED = "contact.answered"
    CONTACT_REQUEUE = "contact.requeue"
    CONTACT_LEAVE = "contact.leave"
    CONTACT_WRAPUP = "contact.wrapup"
    CONTACT_NOTE = "contact.note"
    # calls
    CALL_ARRIVED = "call.arrived"
    CALL_ANSWERED = "call.answered"
    CALL_NO_FLOW = "call.no_flow"
    CALL_ERROR = "call.error"
    CALL_ENDED = "call.ended"
    CALL_HELD = "call.held"
    CALL_RESUMED = "call.resumed"
    CALL_TRANSFERRED = "call.transferred"
    CALL_FEATURE = "call.feature"
    CALL_REFER = "call.refer"
    CALL_CONSULT_STARTED = "call.consult_started"
    CALL_CONSULT_ANSWERED = "call.consult_answered"
    CALL_CONSULT_ENDED = "call.consult_ended"
    CALL_CONSULT_REFUSED = "call.consult_refused"
    CALL_CONFERENCE_STARTED = "call.conference_started"
    CALL_CONFERENCE_ENDED = "call.conference_ended"
    OUTBOUND_STARTED = "outbound.started"
    OUTBOUND_ANSWERED = "outbound.answered"
    OUTBOUND_FAILED = "outbound.failed"
    MONITOR_STARTED = "monitor.started"
    MONITOR_CHANGED = "monitor.changed"
    MONITOR_ENDED = "monitor.ended"
    CHAT_WHISPER = "chat.whisper"
    CHAT_TAKEN_OVER = "chat.taken_over"
    EVALUATION_SUBMITTED = "evaluation.submitted"
    RECORDING_ACCESSED = "recording.accessed"
    TRANSCRIPT_ACCESSED = "transcript.accessed"
    # chats
    CHAT_STARTED = "chat.started"
    CHAT_REOPENED = "chat.reopened"
    CHAT_MESSAGE = "chat.message"
    CHAT_TRANSFERRED = "chat.transferred"
    CHAT_CLOSED = "chat.closed"
    # flows
    FLOW_STARTED = "flow.started"
    FLOW_NODE = "flow.node"
    FLOW_INPUT = "flow.input"
    FLOW_VARIABLE = "flow.variable"
    FLOW_LANGUAGE = "flow.language"
    FLOW_OUTCOME = "flow.outcome"
    FLOW_ERROR = "flow.error"
    FLOW_CALLBACK = "flow.callback"
    FLOW_ENDED = "flow.ended"
    PROMPT_PLAYED = "prompt.played"
    SPEECH_RECOGNISED = "speech.recognised"
    CALL_TRANSCRIBED = "call.transcribed"
    CALL_TRANSCRIPTION_STOPPED = "call.transcription_stopped"
    SURVEY_ANSWERED = "survey.answered"
    # the knowledge base answering in a flow
    KNOWLEDGE_SEARCHED = "knowledge.searched"
    KNOWLEDGE_ANSWERED = "knowledge.answered"
    KNOWLEDGE_FEEDBACK = "knowledge.feedback"
    KNOWLEDGE_UNANSWERED = "knowledge.unanswered"
    # the queue experience of a contact
    QUEUE_UNKNOWN = "queue.unknown"
    QUEUE_REFUSED = "queue.refused"
    QUEUE_HANDOFF = "queue.handoff"
    QUEUE_RETURNED = "queue.returned"
    QUEUE_ANNOUNCED = "queue.announced"
    QUEUE_LEFT = "queue.left"
    QUEUE_CALLBACK_ASKED = "queue.callback_asked"
    QUEUE_CALLBACK_DECLINED = "queue.callback_declined"
    QUEUE_CALLBACK_REFUSED = "queue.callback_refused"
    QUEUE_CALLBACK = "queue.callback"
    QUEUE_CONNECTED = "queue.connected"
    QUEUE_CALL_ENDED = "queue.call_ended"
    # recordings, transcripts, transfers
    RECORDING_STARTED = "recording.started"
    RECORDING_SAVED = "recording.saved"
    RECORDING_FAILED = "recording.failed"
    TRANSCRIPT_SAVED = "transcript.saved"
    TRANSFER_STARTED = "transfer.started"
    TRANSFER_ANSWERED = "transfer.answered"
    TRANSFER_FAILED = "transfer.failed"
    TRANSFER_ENDED = "transfer.ended"
    # callbacks
    CALLBACK_REQUESTED = "callback.requested"
    CALLBACK_REFUSED = "callback.refused"
    CALLBACK_SCHEDULED = "callback.scheduled"
    CALLBACK_ATTEMPT = "callback.attempt"
    CALLBACK_COMPLETED = "callback.completed"
    CALLBACK_FAILED = "callback.failed"
    CALLBACK_CANCELLED = "callback.cancelled"
    CALLBACK_ABANDONED_ADDED = "callback.abandoned_added"
    CALLBACK_HANDED = "callback.handed"
    # a lost Asterisk node (hotline/cluster/node_loss.py)
    ROUTING_NODE_LOST = "routing.node_lost"
    # the controller
    CONTROLLER_RECOVERED = "controller.recovered"


# ---- payloads ------------------------------------------------------------------------


#: An agent channel's state change, as the routing engine records it: `at` on the
#: engine's monotonic clock, the states `from` and `to`, the pause `reason`.
AgentTransition = TypedDict(
    "AgentTransition",
    {
        "at": float,
        "channel": str,
        "from": str,
        "to": str,
        "reason": NotRequired[str],
        "detail": NotRequired[str],
    },
)


class AgentPresence(TypedDict):
    """Reachability of an agent's channel (the phone registered or not)."""

    at: float
    channel: str


class AgentFeature(TypedDict):
    """A feature code dialled from an agent's phone."""

    action: str
    endpoint: str
    state: NotRequired[str]  # the voice state after the change
    refused: NotRequired[str]  # why nothing changed


class ContactStep(TypedDict):
    """A contact's step in a queue, as the routing engine records it."""

    at: float
    channel: NotRequired[str]
    reason: NotRequired[str]
    detail: NotRequired[str]  # an outcome or an explanation
    explanation: NotRequired[str]  # contact.offer: why this agent
    ring_timeout: NotRequired[float]
    ring_group: NotRequired[list[str]]
    #: contact.join / contact.restore: all it takes to restore the place after a restart.
    priority: NotRequired[int]
    skills: NotRequired[dict[str, int]]
    timeout: NotRequired[float | str]  # seconds, or "never"
    waited: NotRequired[float]


class ContactWrapUp(TypedDict):
    """The wrap-up (disposition) code an agent gave a call after it."""

    code: str
    by: str  # who gave it: the agent, or a supervisor's user id
    channel: str  # the contact's channel (voice, callback, outbound)
    required: bool  # the queue requires a code: giving it ended the agent's wrap-up


class ContactNote(TypedDict):
    """A note written on a contact (a call or a chat), for whoever handles the customer next."""

    text: str
    by: str  # the agent, or a supervisor's user id


class CallArrived(TypedDict):
    caller: str
    dialed: str
    channel: str  # the Asterisk channel id
    via: str  # "ari" or "agi"


class Empty(TypedDict):
    """No data."""


class CallNoFlow(TypedDict):
    dialed: str
    flow: str | None


class ErrorMessage(TypedDict):
    message: str


class CallEnded(TypedDict):
    status: str  # the contact's final status
    reason: str
    hung_up_by: str | None


class ChatOpened(TypedDict):
    session: str
    kind: str  # web, or the messenger


# "from" is a keyword: these TypedDicts are declared in the functional form.
ChatMessage = TypedDict(
    "ChatMessage",
    {"from": str, "message_id": int, "session": str, "kind": str},
)


class ChatTransferred(TypedDict):
    from_agent: str
    queue: str
    to_agent: str | None


class ChatClosed(TypedDict):
    by: str  # agent, customer, flow, inactivity, controller_restart
    wrap_up: NotRequired[str]
    customer_left: NotRequired[bool]
    status: NotRequired[str]
    reason: NotRequired[str]


class FlowStarted(TypedDict):
    flow: str
    version: str | None
    depth: int


class FlowNode(TypedDict):
    flow: str
    node: str
    type: str


class FlowInput(TypedDict):
    flow: str
    node: str
    digits: str | None
    result: str


class KnowledgeSearched(TypedDict):
    flow: str
    node: str
    question: str
    language: str
    articles: list[str]  # found, most confident first
    confidence: float  # the first one's (0 when nothing was found)


class KnowledgeAnswered(TypedDict):
    flow: str
    node: str
    question: str
    language: str
    article: str
    confidence: float
    chosen: bool  # picked by the customer among the closest articles


class KnowledgeFeedback(TypedDict):
    flow: str
    node: str
    article: str
    helpful: bool


class KnowledgeUnanswered(TypedDict):
    flow: str
    node: str
    question: str
    language: str
    tried: list[str]  # articles given that did not help


class FlowVariable(TypedDict):
    flow: str
    name: str
    value: Any  # "***" for a sensitive value


class FlowLanguage(TypedDict):
    flow: str
    language: str


class FlowOutcome(TypedDict):
    flow: str
    node: str
    outcome: str
    next: str | None
    message: NotRequired[str]


class FlowError(TypedDict):
    flow: str
    node: str | None
    message: str


class CallbackBooked(TypedDict):
    queue: str
    callback: str  # the callback's contact id
    number: str


class FlowEnded(TypedDict):
    flow: str
    outcome: str
    node: str | None
    depth: NotRequired[int]


class PromptPlayed(TypedDict):
    prompts: list[str]
    media: list[str]
    language: str
    state: str  # done, interrupted, ...


class SpeechRecognised(TypedDict):
    node: str
    text: str | None
    confidence: float | None
    language: str
    fallback: str | None  # None: understood; again, keys, or why speech was unavailable


class CallTranscribed(TypedDict):
    """One utterance of a call in conversation, transcribed live (ari_app/live_transcript.py)."""

    utterance: int  # 1, 2, ... in the conversation
    text: str
    confidence: float
    side: str  # "caller": what the caller said
    language: str


class CallTranscriptionStopped(TypedDict):
    utterance: int  # utterances transcribed before it stopped
    reason: str  # busy, no_model, loading, failed, slow, no_audio


class SurveyAnswered(TypedDict):
    """One completed survey, every channel alike (migration 0006 rewrote older chat rows)."""

    survey: str
    node: str
    answers: dict[str, int | None]  # score by question; None: not answered


class QueueNamed(TypedDict):
    queue: str


class QueueRefused(TypedDict):
    outcome: str


class QueueReturned(TypedDict):
    queue: str
    outcome: str


class QueueHandoff(TypedDict):
    queue: str
    to: str


class QueueAnnounced(TypedDict, total=False):
    """What the waiting contact was told; each key only when told."""

    position: int
    eta_minutes: int
    periodic: str
    callback_offer: bool


class QueueLeft(TypedDict):
    key: str


class QueueCallbackDeclined(TypedDict):
    queue: str
    reason: str | None


class QueueCallbackRefused(TypedDict):
    queue: str
    reason: str
    message: str


class QueueConnected(TypedDict):
    agent: str
    queue: str
    waited: float


class QueueCallEnded(TypedDict):
    agent: str
    ended_by: str
    talk_seconds: float | None
    #: Time the caller spent on hold during the conversation (inside talk_seconds).
    hold_seconds: NotRequired[float]


class CallHeld(TypedDict):
    """The agent's caller put on hold (the queue's music); `by`: who asked (a user id)."""

    agent: str
    by: str


class CallResumed(TypedDict):
    """A hold ended: resumed by `by`, or `ended` with the call (`by` is then who hung
    up: caller or agent)."""

    agent: str
    by: str
    hold_seconds: float
    total_hold_seconds: float
    ended: bool


class CallTransferred(TypedDict):
    """The agent (or a supervisor, `by`) transferred the caller to `to` (a target
    text: agent:<id>, queue:<name> or number:<digits>), `kind` blind or consult (a
    consultation completed); the agent's part ended, the note goes with the contact."""

    agent: str
    to: str
    kind: str  # blind | consult
    note: str
    by: str


class CallConsultStarted(TypedDict):
    """The agent put the caller on hold and calls `to` (a target text) to consult."""

    agent: str
    to: str
    by: str
    note: str


class CallConsultRefused(TypedDict):
    """The agent called `to` from their phone while talking with the caller (a
    consultation from the phone: the phone's second call) and it was refused with
    `reason`; that second call was hung up, the caller's call is as it was."""

    agent: str
    to: str
    reason: str


class CallConsultAnswered(TypedDict):
    """The consulted party answered (`party`: the agent id, the queue's agent who took
    it, or the number)."""

    agent: str
    to: str
    party: str


class CallConsultEnded(TypedDict):
    """The consultation ended: `outcome` completed (the party took the caller),
    conference, cancelled (back to the caller), unanswered, failed, or hung_up;
    `seconds` from its start. `by`: who ended it (the user who completed, conferenced
    or cancelled; `agent` when the agent hung up; `party` or `caller` for hung_up),
    or why it went unanswered (busy, no_answer, failed; timeout for an agent or a
    queue the engine gave up on); failed by controller_restart: a restarted controller
    hung the party up and brought the caller on hold back to the agent."""

    agent: str
    to: str
    outcome: str
    by: str
    seconds: float


class CallConferenceStarted(TypedDict):
    """Caller, agent and the consulted party `party` talk together."""

    agent: str
    to: str
    party: str
    by: str


class CallConferenceEnded(TypedDict):
    """The three-way conference ended (`by`: who left first or ended it)."""

    agent: str
    by: str
    seconds: float


class MonitorStarted(TypedDict):
    """A supervisor began monitoring the contact's conversation with `agent`: `mode`
    listen, whisper or barge (a call), read (a chat); `phone` the endpoint rung ("" for
    a chat)."""

    supervisor: str
    agent: str
    mode: str
    phone: str


class MonitorChanged(TypedDict):
    """The supervisor switched from `previous` to `mode` (the call stays up)."""

    supervisor: str
    agent: str
    mode: str
    previous: str


class MonitorEnded(TypedDict):
    """The monitoring ended: `reason` stopped (asked, or the supervisor's page closed),
    hung_up (the supervisor's phone), call_ended, chat_ended (closed or transferred by
    the agent), taken_over (the supervisor took the chat), no_answer (the supervisor's
    phone was not answered), failed, and on several web processes a chat reading's
    chat_process_gone (the chat's process died; logged by the page's) or reader_gone (the
    page's process died; ended where the chat runs); `seconds` connected, by mode in
    `modes`."""

    supervisor: str
    agent: str
    reason: str
    seconds: float
    modes: dict[str, float]


class EvaluationSubmitted(TypedDict):
    """A supervisor scored the contact with an evaluation form (hotline/quality): the
    stored evaluation's `evaluation` id, `agent` evaluated, `score` 0-100 (None when
    every question was n/a) and whether it `passed`."""

    evaluation: int
    form: str
    by: str
    agent: str
    score: float | None
    passed: bool


class RecordingAccessed(TypedDict):
    """Someone played or downloaded the contact's recording (an audit trail)."""

    by: str
    role: str
    recording: str


class TranscriptAccessed(TypedDict):
    """Someone read the contact's transcript (an audit trail)."""

    by: str
    role: str
    transcript: int


class ChatWhisper(TypedDict):
    """A supervisor's private note to the agent on a live chat: stored here, shown on
    the agent's desk, never sent to the customer or a messenger."""

    supervisor: str
    agent: str
    text: str


class ChatTakenOver(TypedDict):
    """A supervisor took the chat over from `agent` (it moves to their desk)."""

    supervisor: str
    agent: str


class OutboundStarted(TypedDict):
    """An agent's outbound call (click-to-call, a callback by hand): the agent's phone
    rings first, then `to` is dialed with `queue`'s caller id."""

    agent: str
    to: str
    queue: str
    by: str


class OutboundAnswered(TypedDict):
    """The customer answered the agent's outbound call."""

    agent: str
    to: str


class OutboundFailed(TypedDict):
    """The outbound call did not connect: `reason` is agent_no_answer, agent_busy
    (declined), agent_failed (their phone could not be rung), agent_hung_up (before the
    customer answered), no_answer, busy, failed (the customer's side), controller_lost
    (the controller stopped under it), or the routing engine's refusal."""

    agent: str
    to: str
    reason: str
    cause: NotRequired[int]  # the customer's leg's hang-up cause (Q.850)
    error: NotRequired[str]  # Asterisk refused the customer's leg: its error


class CallFeature(TypedDict):
    """A feature code the agent keyed on their phone while talking (`*1`, `*2<n>#`),
    carried out, or `refused` with the reason."""

    agent: str
    keys: str
    refused: NotRequired[str]


class CallRefer(TypedDict):
    """The agent's phone sent a REFER (a blind transfer to `to`, what it named: an
    agent's id or extension, a queue's name, or a number; `attended`: a REFER with
    Replaces completing the consultation the phone's second call is), carried out, or
    `refused` with the reason."""

    agent: str
    to: str
    attended: NotRequired[bool]
    refused: NotRequired[str]


class RecordingStarted(TypedDict):
    name: str
    agent: NotRequired[str]


class RecordingSaved(TypedDict):
    name: str
    duration: float
    outcome: str  # recorded or empty
    format: str
    file: str
    asterisk_file: str
    ended_by: NotRequired[str]
    agent: NotRequired[str]
    queue: NotRequired[str]


class RecordingFailed(TypedDict):
    name: str
    reason: NotRequired[str]
    error: NotRequired[str]


class TranscriptSaved(TypedDict):
    recording: str
    words: int
    flags: list[str]
    sentiment: float | None
    language: str
    queue: str | None


class TransferStarted(TypedDict):
    target: str
    endpoint: str
    leg: NotRequired[str]


class TransferAnswered(TypedDict):
    target: str
    bridge: NotRequired[str]


class TransferFailed(TypedDict):
    target: str
    reason: str


class TransferEnded(TypedDict):
    """A transfer's target (a number, or an agent: `target` agent:<id>) is done with
    the caller: unanswered (`outcome`, `cause`) or after talking (`ended_by`). A
    transfer to an agent that did not take the caller says why (`reason`) and the
    queue the caller went back to (`back_to`)."""

    target: str
    outcome: str
    cause: NotRequired[str | None]
    ended_by: NotRequired[str]
    talk_seconds: NotRequired[float]
    dial_status: NotRequired[str]
    reason: NotRequired[str]
    back_to: NotRequired[str]


class CallbackLogged(TypedDict):
    """Every callback.* event of a callback's own contact carries its number and queue."""

    number: str
    queue: str
    origin: NotRequired[str | None]  # callback.requested: the contact it came from
    source: NotRequired[str]  # queue, flow, chat, api, abandoned
    scheduled_for: NotRequired[str]  # ISO time
    attempt: NotRequired[int]
    agent: NotRequired[str | None]
    event: NotRequired[str]  # callback.attempt: dialing, ringing, answered, failed, ...
    reason: NotRequired[str]
    by: NotRequired[str]  # callback.cancelled
    message: NotRequired[str]
    #: How an attempt's call went: its length, who hung up, the dial cause or error.
    talk_seconds: NotRequired[float]
    ended_by: NotRequired[str]
    cause: NotRequired[str | None]
    error: NotRequired[str]


class RoutingNodeLost(TypedDict):
    """The node holding the contact was lost: what the routing leader did with it."""

    node: str  # the call worker (host/instance) that held it
    reason: str  # node_lost
    # callback (booked at its place), lost (left its queue), ended (talking, or another
    # open call of the node), redial (a callback's call that died with the node: dialed
    # again by another worker)
    action: str
    queue: NotRequired[str]
    callback: NotRequired[str]  # action callback: the callback's own contact
    why: NotRequired[str]  # action lost: why no callback; ended: why (not talking there)
    agent: NotRequired[str]  # action ended: the agent, now in wrap-up


class CallbackHanded(TypedDict):
    """A cluster's routing leader handed an open callback to a call worker to dial."""

    worker: str  # the call worker (host/instance) that dials it from now on
    epoch: int  # the leader's fencing epoch (a worker refuses an older one)
    why: str  # booked by the leader, served by no worker, its worker is lost, ...


class CallbackAbandoned(TypedDict):
    """The queue's abandoned policy applied to a contact that left unanswered."""

    number: str
    queue: str
    waited: float
    channel: str
    via: NotRequired[str]  # hook or callback
    status: NotRequired[int]
    error: NotRequired[str]
    callback: NotRequired[str]
    list_queue: NotRequired[str]
    refused: NotRequired[str]
    message: NotRequired[str]


class ControllerRecovered(TypedDict):
    """One pass of taking over calls after a (re)start."""

    waiting: int
    talking: int
    restarted: int
    orphans: int
    lost: int
    seconds: float
    first: bool


# ---- the catalogue ---------------------------------------------------------------------


@dataclass(frozen=True)
class EventSpec:
    """One event type: what it means and the TypedDict of its data."""

    name: EventType
    meaning: str
    payload: type


def _specs(*specs: tuple[EventType, type, str]) -> Mapping[EventType, EventSpec]:
    return {kind: EventSpec(kind, meaning, payload) for kind, payload, meaning in specs}


E = EventType

CATALOGUE: Mapping[EventType, EventSpec] = _specs(
    (
        E.AGENT_LOGIN,
        AgentTransition,
        "An agent's channel went from offline to available or paused.",
    ),
    (E.AGENT_LOGOUT, AgentTransition, "An agent's channel went offline."),
    (E.AGENT_PAUSE, AgentTransition, "An agent's channel was paused (data: the reason)."),
    (E.AGENT_UNPAUSE, AgentTransition, "An agent's channel came back from a pause."),
    (E.AGENT_RESERVE, AgentTransition, "The engine reserved an agent for an offer."),
    (E.AGENT_RING, AgentTransition, "The offered agent's phone or desk is ringing."),
    (E.AGENT_ACCEPT, AgentTransition, "The agent took the offered contact."),
    (E.AGENT_REJECT, AgentTransition, "The agent declined the offer (or was busy)."),
    (
        E.AGENT_RELEASE,
        AgentTransition,
        "The offer was withdrawn (the contact left or went elsewhere).",
    ),
    (E.AGENT_NO_ANSWER, AgentTransition, "The offer rang out unanswered."),
    (E.AGENT_FINISH, AgentTransition, "The agent's contact ended (to wrap-up, or free again)."),
    (E.AGENT_WRAP_END, AgentTransition, "The agent's wrap-up time ended."),
    (
        E.AGENT_RESTORE,
        AgentTransition,
        "A contact in progress was given back to its agent after a restart.",
    ),
    (
        E.AGENT_REACHABLE,
        AgentPresence,
        "An agent's channel can take contacts again (phone registered).",
    ),
    (
        E.AGENT_UNREACHABLE,
        AgentPresence,
        "An agent's channel cannot take contacts (phone unregistered).",
    ),
    (E.AGENT_FEATURE, AgentFeature, "An agent dialled a feature code (pause, ready, ...)."),
    (E.CONTACT_JOIN, ContactStep, "A contact joined a queue."),
    (
        E.CONTACT_RESTORE,
        ContactStep,
        "A contact was put back at its place in a queue after a restart.",
    ),
    (E.CONTACT_REFUSED, ContactStep, "A queue refused a contact (closed, full, no agents)."),
    (E.CONTACT_RELAX, ContactStep, "A waiting contact's skill requirements were relaxed."),
    (E.CONTACT_OFFER, ContactStep, "The engine offered a waiting contact to an agent (with why)."),
    (E.CONTACT_ANSWERED, ContactStep, "An agent answered a queued contact."),
    (E.CONTACT_REQUEUE, ContactStep, "An answered contact went back to waiting."),
    (E.CONTACT_LEAVE, ContactStep, "A contact left a queue unanswered (data: the outcome)."),
    (E.CONTACT_WRAPUP, ContactWrapUp, "An agent gave a call its wrap-up (disposition) code."),
    (E.CONTACT_NOTE, ContactNote, "A note was written on a contact."),
    (E.CALL_ARRIVED, CallArrived, "A call reached Hotline."),
    (E.CALL_ANSWERED, Empty, "Hotline answered the call."),
    (E.CALL_NO_FLOW, CallNoFlow, "No flow serves the dialed number."),
    (E.CALL_ERROR, ErrorMessage, "Asterisk failed under the call."),
    (E.CALL_ENDED, CallEnded, "The call ended (data: the contact's final status and why)."),
    (E.CHAT_STARTED, ChatOpened, "A chat contact started."),
    (
        E.CHAT_REOPENED,
        ChatOpened,
        "A closed chat's customer wrote again: a new contact on the thread.",
    ),
    (E.CHAT_MESSAGE, ChatMessage, "A chat message was stored."),
    (E.CHAT_TRANSFERRED, ChatTransferred, "An agent transferred a chat to a queue or agent."),
    (E.CHAT_CLOSED, ChatClosed, "The chat contact ended (data: by whom, the wrap-up)."),
    (E.FLOW_STARTED, FlowStarted, "A flow (or subflow) started."),
    (E.FLOW_NODE, FlowNode, "A flow entered a node."),
    (E.FLOW_INPUT, FlowInput, "The contact answered a node (masked when sensitive)."),
    (
        E.KNOWLEDGE_SEARCHED,
        KnowledgeSearched,
        "A knowledge node searched the knowledge base for the contact's question.",
    ),
    (
        E.KNOWLEDGE_ANSWERED,
        KnowledgeAnswered,
        "A knowledge node gave an article's answer (above the threshold, or chosen).",
    ),
    (
        E.KNOWLEDGE_FEEDBACK,
        KnowledgeFeedback,
        "The contact said whether the answer given helped.",
    ),
    (
        E.KNOWLEDGE_UNANSWERED,
        KnowledgeUnanswered,
        "A knowledge node gave up: no answer found or none helped; the flow goes on.",
    ),
    (E.FLOW_VARIABLE, FlowVariable, "A flow set a variable (masked when sensitive)."),
    (E.FLOW_LANGUAGE, FlowLanguage, "A flow changed the contact's language."),
    (E.FLOW_OUTCOME, FlowOutcome, "A node's outcome and the node it leads to."),
    (E.FLOW_ERROR, FlowError, "A flow failed at a node."),
    (E.FLOW_CALLBACK, CallbackBooked, "A flow's callback node booked a callback."),
    (E.FLOW_ENDED, FlowEnded, "A flow (or subflow) ended with an outcome."),
    (E.PROMPT_PLAYED, PromptPlayed, "Prompts were played (or shown) to the contact."),
    (
        E.SPEECH_RECOGNISED,
        SpeechRecognised,
        "A spoken answer was heard (or speech was unavailable).",
    ),
    (
        E.CALL_TRANSCRIBED,
        CallTranscribed,
        "What the caller said in the conversation with the agent, one utterance, live.",
    ),
    (
        E.CALL_TRANSCRIPTION_STOPPED,
        CallTranscriptionStopped,
        "The live transcript of a call stopped before the conversation ended.",
    ),
    (E.SURVEY_ANSWERED, SurveyAnswered, "The contact answered a survey."),
    (E.QUEUE_UNKNOWN, QueueNamed, "A flow asked for a queue that is not configured."),
    (E.QUEUE_REFUSED, QueueRefused, "No routing engine could take the contact."),
    (E.QUEUE_HANDOFF, QueueHandoff, "FastAGI handed the call to the ARI side's queue."),
    (E.QUEUE_RETURNED, QueueReturned, "The handed-off call came back to FastAGI with an outcome."),
    (
        E.QUEUE_ANNOUNCED,
        QueueAnnounced,
        "The waiting contact was told their position, wait or a message.",
    ),
    (E.QUEUE_LEFT, QueueLeft, "The caller pressed the queue's leave key."),
    (E.QUEUE_CALLBACK_ASKED, QueueNamed, "The waiting contact was asked for a callback number."),
    (
        E.QUEUE_CALLBACK_DECLINED,
        QueueCallbackDeclined,
        "The callback dialog ended without a booking.",
    ),
    (E.QUEUE_CALLBACK_REFUSED, QueueCallbackRefused, "The callback could not be booked."),
    (
        E.QUEUE_CALLBACK,
        CallbackBooked,
        "The waiting contact booked a callback that keeps their place.",
    ),
    (E.QUEUE_CONNECTED, QueueConnected, "The caller and the agent were connected."),
    (E.QUEUE_CALL_ENDED, QueueCallEnded, "The conversation with the agent ended."),
    (E.CALL_HELD, CallHeld, "The agent put the caller on hold (the queue's music on hold)."),
    (E.CALL_RESUMED, CallResumed, "The caller's hold ended (resumed, or the call ended)."),
    (E.CALL_TRANSFERRED, CallTransferred, "The agent transferred the caller (blind or consult)."),
    (
        E.CALL_CONSULT_STARTED,
        CallConsultStarted,
        "The agent started a consultation (caller on hold).",
    ),
    (E.CALL_CONSULT_ANSWERED, CallConsultAnswered, "The consulted party answered."),
    (E.CALL_CONSULT_ENDED, CallConsultEnded, "The consultation ended (and how)."),
    (
        E.CALL_CONSULT_REFUSED,
        CallConsultRefused,
        "A consultation the agent called from the phone was refused.",
    ),
    (E.CALL_CONFERENCE_STARTED, CallConferenceStarted, "A three-way conference started."),
    (E.CALL_CONFERENCE_ENDED, CallConferenceEnded, "The three-way conference ended."),
    (E.OUTBOUND_STARTED, OutboundStarted, "An agent's outbound call started (agent first)."),
    (E.OUTBOUND_ANSWERED, OutboundAnswered, "The customer answered an agent's outbound call."),
    (E.OUTBOUND_FAILED, OutboundFailed, "An agent's outbound call did not connect."),
    (E.MONITOR_STARTED, MonitorStarted, "A supervisor began monitoring the conversation."),
    (E.MONITOR_CHANGED, MonitorChanged, "The monitoring supervisor switched mode."),
    (E.MONITOR_ENDED, MonitorEnded, "The monitoring ended (why, and for how long)."),
    (E.CHAT_WHISPER, ChatWhisper, "A supervisor's private note to the agent (not the customer)."),
    (E.CHAT_TAKEN_OVER, ChatTakenOver, "A supervisor took a live chat over from its agent."),
    (E.EVALUATION_SUBMITTED, EvaluationSubmitted, "A supervisor scored the contact."),
    (E.RECORDING_ACCESSED, RecordingAccessed, "Someone played or downloaded the recording."),
    (E.TRANSCRIPT_ACCESSED, TranscriptAccessed, "Someone read the transcript."),
    (E.CALL_FEATURE, CallFeature, "The agent keyed a feature code on their phone while talking."),
    (E.CALL_REFER, CallRefer, "The agent's phone asked for a transfer (SIP REFER)."),
    (E.RECORDING_STARTED, RecordingStarted, "A conversation recording started."),
    (E.RECORDING_SAVED, RecordingSaved, "A recording was saved with the contact."),
    (E.RECORDING_FAILED, RecordingFailed, "A recording could not be made."),
    (E.TRANSCRIPT_SAVED, TranscriptSaved, "A recording was transcribed."),
    (E.TRANSFER_STARTED, TransferStarted, "A flow's transfer started ringing the target."),
    (E.TRANSFER_ANSWERED, TransferAnswered, "The transfer target answered."),
    (E.TRANSFER_FAILED, TransferFailed, "The transfer could not be placed."),
    (E.TRANSFER_ENDED, TransferEnded, "The transfer ended (unanswered, or the conversation over)."),
    (E.CALLBACK_REQUESTED, CallbackLogged, "A callback was booked (its own contact)."),
    (
        E.CALLBACK_HANDED,
        CallbackHanded,
        "A cluster's routing leader handed an open callback to one call worker to dial.",
    ),
    (
        E.ROUTING_NODE_LOST,
        RoutingNodeLost,
        "The Asterisk node holding the contact was lost: rebooked as a callback, or ended.",
    ),
    (E.CALLBACK_REFUSED, CallbackLogged, "A callback booking was refused."),
    (
        E.CALLBACK_SCHEDULED,
        CallbackLogged,
        "A callback waits for its time (booked for later, or a retry).",
    ),
    (
        E.CALLBACK_ATTEMPT,
        CallbackLogged,
        "A step of one callback attempt (dialing, the customer's answer, ...).",
    ),
    (E.CALLBACK_COMPLETED, CallbackLogged, "The callback reached the customer."),
    (E.CALLBACK_FAILED, CallbackLogged, "The callback gave up."),
    (E.CALLBACK_CANCELLED, CallbackLogged, "The callback was cancelled."),
    (
        E.CALLBACK_ABANDONED_ADDED,
        CallbackAbandoned,
        "A contact left a queue unanswered: the abandoned policy ran.",
    ),
    (
        E.CONTROLLER_RECOVERED,
        ControllerRecovered,
        "The controller took over calls after a (re)start.",
    ),
)


class UnknownEventType(ValueError):
    """An event type that is not in the catalogue."""


def spec_of(name: str) -> EventSpec:
    """The catalogue entry of `type`; UnknownEventType if there is none."""
    try:
        return CATALOGUE[EventType(name)]
    except ValueError:
        raise UnknownEventType(
            f"event type {name!r} is not in the event catalogue (hotline/events.py)"
        ) from None
