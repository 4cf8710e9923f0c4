"""An agent's outbound call (click-to-call, a callback called by hand): the REST body of
`POST /api/calls` and the rules that decide whether the call may be placed.

    {"to": "number:5551234" | "customer:42", "queue": "support", "agent": "bob"}

- `to`: a number (the callbacks' dial rules apply: digits, length, allowed prefixes,
  never the hotline's own numbers) or a customer by id (their phone number).
- `queue`: the queue the call is made for: its caller id is what the customer's phone
  shows, its recording policy and wrap-up codes apply, and it counts in its reports.
  Omitted: the agent's first queue.
- `agent`: whose phone rings first; only a supervisor (or a program with the API token)
  may name one. An agent always calls as themselves: naming another agent is refused
  (403), naming themselves is allowed.

An agent may only call out for a queue they serve (403 otherwise): the queue's caller
id is a promise to the customer that calling that number back reaches people who work
that queue, and its wrap-up codes and reports are that team's. A supervisor placing a
call for an agent is held to the same rule.

Pure: no I/O. Whether the agent can take a call now (offline, paused, on a call) is the
routing engine's answer; a customer's phone number is the store's.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from hotline.callbacks.rules import CallbackRefused, normalize_number, refuse_own
from hotline.callbacks.settings import CallbackConfig
from hotline.calls.errors import BadCommand, NotFound, NotYours
from hotline.calls.targets import parse_target

ToKind = Literal["number", "customer"]

FIELDS = ("to", "queue", "agent")
_CUSTOMER = re.compile(r"^[1-9][0-9]{0,17}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


@dataclass(frozen=True)
class Callee:
    """Whom the call is for: a number as typed, or a customer id."""

    kind: ToKind
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class OutboundRequest:
    """A parsed body: nothing checked against the configuration yet."""

    to: Callee
    queue: str | None = None
    agent: str | None = None


@dataclass(frozen=True)
class OutboundPlan:
    """A call that may be placed: the agent's phone rings first, then `dial` (the
    customer's channel) is dialed showing `caller_id`."""

    agent: str
    queue: str
    number: str  # as dialed (the dial rules' normal form)
    dial: str  # the channel to originate (the dial template filled in)
    caller_id: str  # what the customer's phone shows ("" : Asterisk's default)


def _name(body: Mapping[str, object], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not _NAME.match(value.strip()):
        article = "an" if field[0] in "aeiou" else "a"
        raise BadCommand(
            f"\"{field}\" must be {article} {field} id (letters, digits, '_', '.', '-'; at most 64)"
        )
    return value.strip()


def parse_callee(text: object) -> Callee:
    """'number:5551234' or 'customer:42'; BadCommand with a clear text otherwise."""
    if isinstance(text, str) and text.strip().startswith("customer:"):
        value = text.strip().removeprefix("customer:").strip()
        if not _CUSTOMER.match(value):
            raise BadCommand(f"{text!r}: a customer is named by their id (digits)")
        return Callee("customer", value)
    if not isinstance(text, str) or not text.strip().startswith("number:"):
        raise BadCommand(
            '"to" must be "number:<digits>" or "customer:<id>" '
            '(e.g. "number:5551234", "customer:42")'
        )
    return Callee("number", parse_target(text).value)


def parse_outbound(body: object) -> OutboundRequest:
    """The request in a JSON body; BadCommand (400) with a clear text otherwise."""
    if not isinstance(body, dict):
        raise BadCommand('the body must be a JSON object {"to": ..., "queue": ...}')
    unknown = sorted(str(k) for k in body if k not in FIELDS)
    if unknown:
        raise BadCommand(f"a call takes 'to', 'queue' and 'agent' (unknown: {', '.join(unknown)})")
    if "to" not in body:
        raise BadCommand('a call needs "to": "number:<digits>" or "customer:<id>"')
    return OutboundRequest(parse_callee(body["to"]), _name(body, "queue"), _name(body, "agent"))


def acting_agent(named: str | None, asker: str | None) -> str:
    """Whose phone rings: `asker` is the agent who asks (None: a supervisor or the API
    token, who must name one). NotYours if an agent names someone else."""
    if asker is None:
        if named is None:
            raise BadCommand('name the agent whose phone rings first: "agent": "<id>"')
        return named
    if named is not None and named != asker:
        raise NotYours(f"an agent places calls as themselves: {asker} cannot call as {named}")
    return asker


@dataclass(frozen=True)
class OutboundRules:
    """What the configuration allows: queues (with their caller ids), the agents with
    their queues in order, and the number rules and dial template."""

    #: queue -> the caller id its outbound calls show ("" : none configured)
    caller_ids: Mapping[str, str]
    #: agent -> the queues they serve, in the order of their config
    agent_queues: Mapping[str, Sequence[str]]
    #: The callbacks' number rules and dial template; None: no numbers are dialed.
    dialing: CallbackConfig | None
    #: The hotline's own numbers, never dialed (a loop).
    own_numbers: tuple[str, ...] = ()

    def queue_for(self, agent: str, queue: str | None) -> str:
        """The queue of `agent`'s call: NotFound for an unknown agent or queue, NotYours
        for a queue the agent does not serve, BadCommand if none is named and they
        serve none."""
        if agent not in self.agent_queues:
            raise NotFound(f"no agent {agent!r}")
        theirs = list(self.agent_queues[agent])
        if queue is None:
            if not theirs:
                raise BadCommand(f'agent {agent} serves no queue: name one ("queue": "<name>")')
            return theirs[0]
        if queue not in self.caller_ids:
            raise NotFound(f"no queue {queue!r}")
        if queue not in theirs:
            raise NotYours(
                f"agent {agent} is not in queue {queue}: an outbound call goes out for a "
                f"queue the agent serves ({', '.join(theirs) or 'none'})"
            )
        return queue

    def number(self, raw: str) -> str:
        """The number as dialed; BadCommand if the dial rules refuse it."""
        if self.dialing is None:
            raise BadCommand("this Hotline dials no numbers (no callbacks: section)")
        try:
            number = normalize_number(raw, self.dialing)
            refuse_own(number, self.own_numbers)
        except CallbackRefused as refused:
            raise BadCommand(f"cannot dial {raw}: {refused}") from None
        return number

    def plan(self, agent: str, queue: str | None, raw_number: str) -> OutboundPlan:
        """The call `agent` may place for `queue` to `raw_number`, or the refusal
        (NotFound, NotYours, BadCommand) with its text; nothing is changed."""
        chosen = self.queue_for(agent, queue)
        number = self.number(raw_number)
        assert self.dialing is not None  # number() refused otherwise
        return OutboundPlan(
            agent=agent,
            queue=chosen,
            number=number,
            dial=self.dialing.dial_string(number),
            caller_id=self.caller_ids.get(chosen) or self.dialing.caller_id,
        )


@dataclass(frozen=True)
class OutboundResult:
    """How an outbound call ended.

    `outcome`: answered (they talked), transferred (the agent passed the customer on),
    or why it never connected: agent_no_answer, agent_busy, agent_failed (the agent's
    phone), agent_hung_up, no_answer, busy, failed (the customer's side)."""

    outcome: str
    agent: str
    talk_seconds: float | None = None
    ended_by: str | None = None

    @property
    def connected(self) -> bool:
        return self.outcome in ("answered", "transferred")

    @property
    def dialed(self) -> bool:
        """The customer's number was dialed (the agent answered first)."""
        return not self.outcome.startswith("agent_") or self.outcome == "agent_hung_up"


OnEnd = Callable[[OutboundResult], Awaitable[None]]


class Placer(Protocol):
    """The voice side that places the call (ari_app/outbound.py)."""

    def check(self, agent: str) -> None:
        """Conflict with the reason if the agent cannot take a call now."""
        ...

    async def place(
        self,
        plan: OutboundPlan,
        *,
        to: str,
        by: str,
        customer_name: str | None = None,
        customer_id: int | None = None,
        contact_id: str | None = None,
        ring_seconds: float | None = None,
        on_end: OnEnd | None = None,
    ) -> str:
        """Ring the agent, then dial the customer: the contact id. CallControlError
        (nothing placed) when the agent cannot take it."""
        ...
