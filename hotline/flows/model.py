"""The flow file, as pydantic models: the one definition the loader, interpreter,
linter, JSON Schema and diagrams share.

A flow is `nodes: {id: node}`; each node has a `type` and its parameters. Where it goes
next is named per outcome: `next` for straight-line nodes, `options` for a menu's keys,
`cases`/`default` for a switch, `target` for goto, and `on: {outcome: node}` for the rest
(`on` also takes `error` for failures inside the node, and `other` for any outcome not
listed). Outcomes a node can produce but no target handles are lint errors.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic_core import PydanticCustomError

from hotline.flows.expressions import check, check_template
from hotline.flows.hours import Schedule
from hotline.flows.port import SayAs
from hotline.messages import Card, Image, Link


def _node_id(value: Any) -> Any:
    if not isinstance(value, str):
        raise PydanticCustomError("node_id", "expected a node id (string)")
    return value


def _digits_key(value: Any) -> Any:
    # YAML reads an unquoted `1:` as the integer 1; a DTMF key is text.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _scalar_text(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


NodeId = Annotated[
    str,
    Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$", description="A node id in this flow"),
    BeforeValidator(_node_id),
]
VarName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
FlowName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Language = Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$", examples=["en", "ru"])]
DtmfKey = Annotated[str, BeforeValidator(_digits_key), Field(min_length=1, max_length=8)]
Expression = Annotated[
    str, AfterValidator(check), Field(description="A safe expression, e.g. tier == 'gold'")
]
Template = Annotated[
    str,
    BeforeValidator(_scalar_text),
    AfterValidator(check_template),
    Field(description="Text with {{ variable }} placeholders"),
]
Scalar = str | int | float | bool | None

#: The folder beside the flow files that holds the files flows send (`file:` prompts).
FILES_DIR = "files"


def _check_file_name(value: str) -> str:
    # Named inside the files folder only: a flow must not send the server's own files.
    parts = value.replace("\\", "/").split("/")
    if value.startswith("/") or "\\" in value or any(p in ("", ".", "..") for p in parts):
        raise ValueError(
            f"a flow file is named inside {FILES_DIR}/ beside the flows (e.g. price-list.pdf), "
            f"without '..', '/' at the start or empty parts: {value!r}"
        )
    return value


FileName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f]+$",
        description=f"A file in the `{FILES_DIR}/` folder beside the flows",
        examples=["price-list.pdf"],
    ),
    AfterValidator(_check_file_name),
]
Seconds = Annotated[float, Field(gt=0, le=600)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromptSpec(Strict):
    """A catalogue key, or a value said as a number, digits, a date; optionally forced
    into one language (a language menu says each choice in its own language)."""

    key: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,80}$")] | None = None
    say: SayAs | None = None
    value: Template | None = None
    language: Language | None = None
    #: A card, link or image for text channels (hotline/messages.py; shown as written,
    #: no templates); voice says its text form.
    card: Annotated[Card | Link | Image, Field(discriminator="type")] | None = None
    #: A file from the `files/` folder beside the flows, sent to text channels as the
    #: chat's attachment (a download); voice ports skip it.
    file: FileName | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> PromptSpec:
        if self.card is not None and self.file is not None:
            raise ValueError("a prompt sends either a `card` or a `file`, not both")
        if self.card is not None or self.file is not None:
            kind = "card" if self.card is not None else "file"
            if self.key is not None or self.say is not None or self.value is not None:
                raise ValueError(f"a `{kind}` prompt has no `key`, `say` or `value`")
            return self
        if (self.key is None) == (self.say is None):
            raise ValueError("a prompt has either `key` or `say` (with `value`), not both")
        if self.say is not None and self.value is None:
            raise ValueError("`say` needs a `value`, e.g. value: '{{ balance }}'")
        if self.key is not None and self.value is not None:
            raise ValueError("`value` goes with `say`, not with `key`")
        return self


def _prompt_list(value: Any) -> Any:
    # One prompt may be written without a list; a bare string is a catalogue key.
    items = value if isinstance(value, list) else [value]
    return [{"key": item} if isinstance(item, str) else item for item in items]


Prompts = Annotated[
    list[PromptSpec],
    BeforeValidator(_prompt_list, json_schema_input_type=str | PromptSpec | list[str | PromptSpec]),
]


class On(Strict):
    """Outcome targets; `error` catches failures, `other` any outcome not named."""

    # Frozen: a node's routes are made once (`Node._targets`).
    model_config = ConfigDict(extra="forbid", frozen=True)

    error: NodeId | None = None
    other: NodeId | None = None


class Node(Strict):
    """What every node type shares. Class variables describe the type to tools."""

    #: A note for people reading the flow or its diagram.
    description: str | None = None

    #: Outcomes this type of node can produce (besides `error`).
    OUTCOMES: ClassVar[tuple[str, ...]] = ()
    #: Where an outcome goes when it has no target of its own.
    FALLBACK: ClassVar[dict[str, str]] = {}
    #: Ends the flow.
    TERMINAL: ClassVar[bool] = False
    #: Waits for the caller (a cycle through it cannot spin on its own).
    INPUT: ClassVar[bool] = False

    def outcomes(self) -> tuple[str, ...]:
        """The outcomes this node can produce."""
        return self.OUTCOMES

    def targets(self) -> dict[str, str]:
        """Outcome -> node id, as written (including `error` and `other`)."""
        on = getattr(self, "on", None)
        if isinstance(on, BaseModel):
            return {k: v for k, v in on.model_dump().items() if v is not None}
        return dict(on or {})

    @cached_property
    def _targets(self) -> dict[str, str]:
        # `targets()` for `route`, made once: it dumps the node's `on` model, tens of
        # microseconds, and a call routes each node it runs. Assigning a field makes
        # it anew (below), `on` models are frozen; a flow's dicts (a menu's options)
        # are never changed in place: flows are loaded, not edited where they run.
        return self.targets()

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        self.__dict__.pop("_targets", None)  # a node changed in place routes anew

    def route(self, outcome: str) -> str | None:
        """Where `outcome` leads, following fallbacks and `other`; None if nowhere."""
        targets = self._targets
        seen: str | None = outcome
        while seen is not None:
            if seen in targets and seen != "other":
                return targets[seen]
            seen = self.FALLBACK.get(seen)
        return targets.get("other") if outcome != "error" else None


class Linear(Node):
    """A node with one way on."""

    next: NodeId
    on: On = On()
    OUTCOMES = ("next",)

    def targets(self) -> dict[str, str]:
        return {"next": self.next, **super().targets()}


class PlayNode(Linear):
    """Say prompts."""

    type: Literal["play"]
    prompts: Prompts = Field(min_length=1)
    barge_in: bool = True


Phrase = Annotated[str, Field(min_length=1, max_length=100)]


class SpeechOptions(Strict):
    """Spoken answers as well as keys (needs a speech model for each language used)."""

    #: Below this confidence (0..1) an answer is not taken; default: speech.min_confidence.
    min_confidence: float | None = Field(None, ge=0, le=1)
    #: Answers not understood that are asked again by voice; after that, keys only.
    retries: int = Field(1, ge=0, le=5)
    #: Said once when speech is given up for this node ("please use your keypad").
    fallback_prompt: Prompts = []

    def offered(self) -> list[str]:
        """The languages in which answers may be said."""
        raise NotImplementedError


class MenuSpeech(SpeechOptions):
    #: option key -> language -> phrases: {"2": {en: [billing, bills], ko: [요금]}}.
    phrases: dict[DtmfKey, dict[Language, list[Phrase]]] = Field(min_length=1)

    def offered(self) -> list[str]:
        return sorted({lang for by_lang in self.phrases.values() for lang in by_lang})


class CollectSpeech(SpeechOptions):
    #: Languages in which the digits may be said (digit words: hotline/speech/grammar.py).
    languages: list[Language] = Field(min_length=1)

    def offered(self) -> list[str]:
        return list(self.languages)


class MenuOn(On):
    exhausted: NodeId
    #: Where to go when `max_timeouts` is reached; defaults to `exhausted`.
    timeout: NodeId | None = None


class MenuNode(Node):
    """Ask for a key and branch on it, re-prompting on invalid keys and silence."""

    type: Literal["menu"]
    prompt: Prompts = Field(min_length=1)
    #: Said instead of `prompt` on retries.
    short_prompt: Prompts | None = None
    invalid_prompt: Prompts = []
    timeout_prompt: Prompts = []
    options: dict[DtmfKey, NodeId] = Field(min_length=1)
    timeout: Seconds = 5.0
    inter_digit_timeout: Seconds = 3.0
    max_failures: int = Field(3, ge=1, le=10)
    max_timeouts: int = Field(3, ge=1, le=10)
    barge_in: bool = True
    #: Spoken answers: phrases per option and language.
    speech: MenuSpeech | None = None
    #: Typed answers in the customer's words (text channels): option key -> language ->
    #: example phrases or keywords ({"2": {en: [pay my bill, billing]}}). A message
    #: that fits one option picks it; one that fits several asks which, with buttons.
    intents: dict[DtmfKey, dict[Language, list[Phrase]]] = {}
    on: MenuOn
    FALLBACK = {"timeout": "exhausted"}
    INPUT = True

    def outcomes(self) -> tuple[str, ...]:
        return (*self.options, "timeout", "exhausted")

    def targets(self) -> dict[str, str]:
        return {**self.options, **super().targets()}


class Regex(Strict):
    regex: str

    @model_validator(mode="after")
    def _compiles(self) -> Regex:
        import re

        try:
            re.compile(self.regex)
        except re.error as error:
            raise ValueError(f"bad regex {self.regex!r}: {error}") from None
        return self


class CollectOn(On):
    ok: NodeId
    #: After `max_retries` more attempts without a valid answer.
    invalid: NodeId
    #: When the last attempt timed out; defaults to `invalid`.
    timeout: NodeId | None = None


class CollectNode(Node):
    """Collect digits into a variable, with validation and retries."""

    type: Literal["collect"]
    into: VarName
    prompt: Prompts = Field(min_length=1)
    invalid_prompt: Prompts = []
    timeout_prompt: Prompts = []
    min_digits: int = Field(1, ge=0, le=64)
    max_digits: int = Field(20, ge=1, le=64)
    finish_key: DtmfKey | None = "#"
    timeout: Seconds = 5.0
    inter_digit_timeout: Seconds = 3.0
    validate_: Literal["luhn", "phone"] | Regex | None = Field(None, alias="validate")
    max_retries: int = Field(2, ge=0, le=10)
    #: Mask the digits in events, logs and transcripts (card numbers, PINs).
    sensitive: bool = False
    barge_in: bool = True
    #: Digits may be said as well as keyed, in these languages.
    speech: CollectSpeech | None = None
    on: CollectOn
    OUTCOMES = ("ok", "invalid", "timeout")
    FALLBACK = {"timeout": "invalid"}
    INPUT = True
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SetLanguageNode(Linear):
    """Switch the contact's language (`ru`, or a template like `{{ lang }}`)."""

    type: Literal["set_language"]
    language: Template


class SetNode(Linear):
    """Set variables from expressions (strings) or literal YAML values."""

    type: Literal["set"]
    values: dict[VarName, Expression | int | float | bool | None] = Field(min_length=1)


class SwitchNode(Node):
    """Go to the first case whose expression is true, else to `default`."""

    type: Literal["switch"]
    cases: dict[Expression, NodeId] = Field(min_length=1)
    default: NodeId
    on: On = On()

    def outcomes(self) -> tuple[str, ...]:
        return (*self.cases, "default")

    def targets(self) -> dict[str, str]:
        return {**self.cases, "default": self.default, **super().targets()}


class HoursOn(On):
    open: NodeId
    closed: NodeId


class HoursNode(Node):
    """Branch on opening hours: a schedule named in the config, or one written inline."""

    type: Literal["hours"]
    schedule: Name | Schedule
    on: HoursOn
    OUTCOMES = ("open", "closed")


class HttpOn(On):
    ok: NodeId
    not_found: NodeId | None = None
    timeout: NodeId | None = None


class HttpNode(Node):
    """Ask an integration (or a URL) for data and map the JSON answer into variables."""

    type: Literal["http"]
    integration: Name | None = None
    url: Template | None = None
    #: Appended to the integration's base URL.
    path: Template | None = None
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    params: dict[str, bool | int | float | Template] = {}
    timeout: float = Field(5.0, gt=0, le=30)
    retries: int = Field(0, ge=0, le=3)
    #: variable -> dotted path into the JSON answer (`customer.name`, `items.0.id`).
    response: dict[VarName, str] = {}
    on: HttpOn
    OUTCOMES = ("ok", "not_found", "timeout", "error")
    FALLBACK = {"not_found": "error", "timeout": "error"}

    @model_validator(mode="after")
    def _one_target(self) -> HttpNode:
        if (self.integration is None) == (self.url is None):
            raise ValueError("an http node has either `integration` or `url`")
        return self


class SubflowNode(Node):
    """Run another flow; its `return` outcome picks where this one goes on."""

    type: Literal["subflow"]
    flow: FlowName
    #: child variable -> value (a template or literal) passed in.
    inputs: dict[VarName, bool | int | float | Template | None] = {}
    #: this flow's variable -> child variable copied back when the child returns.
    outputs: dict[VarName, VarName] = {}
    on: dict[str, NodeId] = Field(min_length=1)

    def outcomes(self) -> tuple[str, ...]:
        return tuple(k for k in self.on if k not in ("error", "other"))


class GotoNode(Node):
    """Jump to another node (a named join point)."""

    type: Literal["goto"]
    target: NodeId
    OUTCOMES = ("next",)

    def targets(self) -> dict[str, str]:
        return {"next": self.target}


class RecordOn(On):
    recorded: NodeId | None = None
    empty: NodeId | None = None
    failed: NodeId | None = None


class RecordNode(Node):
    """Record a voicemail until silence, '#' or `max_seconds`."""

    type: Literal["record"]
    prompt: Prompts = []
    #: Variable receiving the recording's name.
    into: VarName | None = None
    max_seconds: Seconds = 120.0
    beep: bool = True
    silence_seconds: float = Field(5.0, ge=0, le=60)
    on: RecordOn
    OUTCOMES = ("recorded", "empty", "failed")


class TransferOn(On):
    answered: NodeId | None = None
    busy: NodeId | None = None
    no_answer: NodeId | None = None
    failed: NodeId | None = None


class TransferNode(Node):
    """Connect the contact to an extension or a `sip:` URI."""

    type: Literal["transfer"]
    target: Annotated[Template, Field(examples=["1001", "sip:sales@127.0.0.1"])]
    prompt: Prompts = []
    timeout: float = Field(30.0, gt=0, le=300)
    on: TransferOn
    OUTCOMES = ("answered", "busy", "no_answer", "failed")


class Question(Strict):
    id: VarName
    prompt: Prompts = Field(min_length=1)
    #: Answers run from 1 to `scale`.
    scale: int = Field(5, ge=2, le=9)


class SurveyOn(On):
    done: NodeId | None = None
    skipped: NodeId | None = None


class SurveyNode(Node):
    """Ask questions answered on a 1..scale keypad scale; saved through the services."""

    type: Literal["survey"]
    survey: Name = "csat"
    questions: list[Question] = Field(min_length=1)
    invalid_prompt: Prompts = []
    timeout: Seconds = 5.0
    max_retries: int = Field(1, ge=0, le=5)
    on: SurveyOn
    OUTCOMES = ("done", "skipped")
    INPUT = True


class QueueOn(On):
    answered: NodeId | None = None
    timeout: NodeId | None = None
    full: NodeId | None = None
    closed: NodeId | None = None
    left: NodeId | None = None
    #: The caller booked a callback while waiting (keeps the place); defaults to `left`.
    callback: NodeId | None = None


class QueueNode(Node):
    """Hand the contact to a queue; the routing engine reports how it ended."""

    type: Literal["queue"]
    queue: Name
    priority: int = Field(0, ge=0, le=100)
    #: skill -> minimum level an agent needs.
    skills: dict[Name, Annotated[int, Field(ge=0, le=100)]] = {}
    #: Longest wait before the `timeout` outcome; None leaves it to the queue.
    max_wait: Seconds | None = None
    on: QueueOn
    OUTCOMES = ("answered", "timeout", "full", "closed", "left", "callback")
    FALLBACK = {"callback": "left"}


class QueueStatusNode(Linear):
    """Read how a queue stands into variables, to decide before (or instead of)
    queueing: queue_waiting, queue_eta (seconds; -1 when nobody serves the queue),
    queue_longest_wait, queue_agents_logged_in, queue_agents_free, queue_agents_paused."""

    type: Literal["queue_status"]
    queue: Name
    VARIABLES: ClassVar[tuple[str, ...]] = (
        "queue_waiting",
        "queue_eta",
        "queue_longest_wait",
        "queue_agents_logged_in",
        "queue_agents_free",
        "queue_agents_paused",
    )


class CallbackOn(On):
    booked: NodeId
    #: No number could be confirmed (refused as invalid or the hotline's own, silence).
    invalid: NodeId | None = None
    #: A good number, but the booking was refused (already booked, too many); defaults
    #: to `invalid`.
    refused: NodeId | None = None


class CallbackNode(Node):
    """Book a callback in a queue: the caller's number read back for confirmation, or
    one typed in; refusals are said to the caller. Sets callback_number and
    callback_id (booked) or callback_reason (not)."""

    type: Literal["callback"]
    queue: Name
    #: The number offered first (default: the caller's own, `caller_id`); the caller
    #: may type another.
    number: Template | None = None
    priority: int = Field(0, ge=0, le=100)
    #: Said once booked (nothing if empty).
    prompt: Prompts = Field(default_factory=lambda: [PromptSpec(key="callback_booked")])
    on: CallbackOn
    OUTCOMES = ("booked", "invalid", "refused")
    FALLBACK = {"refused": "invalid"}
    INPUT = True
    VARIABLES: ClassVar[tuple[str, ...]] = ("callback_number", "callback_id", "callback_reason")


class KnowledgeOn(On):
    #: The customer said the answer helped.
    answered: NodeId
    #: Nothing found above the threshold, or no answer helped, `max_questions` times.
    unanswered: NodeId


class KnowledgeNode(Node):
    """Answer a typed question from the knowledge base: above `threshold` the best
    article's answer, then "did this help?"; below it the closest articles to choose
    from. Sets kb_question, kb_article (the one that helped) and kb_tried (titles of
    the articles that did not), for the agent who takes over. Text channels only."""

    type: Literal["knowledge"]
    #: Asks for the question (the first time; `again_prompt` after that).
    prompt: Prompts = Field(min_length=1)
    again_prompt: Prompts = Field(default_factory=lambda: [PromptSpec(key="kb_ask_again")])
    #: Confidence (0..1) above which the best article is given as the answer.
    threshold: float = Field(0.5, gt=0, le=1)
    #: Closest articles offered to choose from when none is confident enough (0: none).
    suggestions: int = Field(3, ge=0, le=5)
    #: Questions asked before giving up (`unanswered`).
    max_questions: int = Field(2, ge=1, le=5)
    #: Only articles with one of these tags (empty: all).
    tags: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,49}$")]] = []
    on: KnowledgeOn
    OUTCOMES = ("answered", "unanswered")
    INPUT = True
    VARIABLES: ClassVar[tuple[str, ...]] = ("kb_question", "kb_article", "kb_tried")


class HangupNode(Node):
    """Hang up; the flow ends with `outcome`."""

    type: Literal["hangup"]
    outcome: Name = "completed"
    TERMINAL = True


class ReturnNode(Node):
    """End this flow without hanging up; a calling subflow node branches on `outcome`."""

    type: Literal["return"]
    outcome: Name
    TERMINAL = True


AnyNode = Annotated[
    PlayNode
    | MenuNode
    | CollectNode
    | SetLanguageNode
    | SetNode
    | SwitchNode
    | HoursNode
    | HttpNode
    | SubflowNode
    | GotoNode
    | RecordNode
    | TransferNode
    | SurveyNode
    | QueueNode
    | QueueStatusNode
    | CallbackNode
    | KnowledgeNode
    | HangupNode
    | ReturnNode,
    Field(discriminator="type"),
]


class VariableDecl(Strict):
    """A variable the flow expects from its caller (or starts with)."""

    default: Scalar = None
    description: str | None = None
    #: Mask its value in events and transcripts.
    sensitive: bool = False


class Flow(Strict):
    """One flow file."""

    model_config = ConfigDict(extra="forbid", title="Hotline flow")

    name: FlowName
    #: A label for people; the loader also derives a version id from the file bytes.
    version: str | int | None = None
    description: str | None = None
    start: NodeId
    #: Languages this flow is offered in (a subset of the hotline's).
    languages: list[Language] | None = None
    #: Inputs the flow expects: `caller_id:` or `tier: {default: basic}`.
    variables: dict[VarName, VariableDecl | None] = {}
    nodes: dict[NodeId, AnyNode] = Field(min_length=1)

    def declared(self) -> dict[str, VariableDecl]:
        """The declared variables, with empty declarations filled in."""
        return {name: decl or VariableDecl() for name, decl in self.variables.items()}
