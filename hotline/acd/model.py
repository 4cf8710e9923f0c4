"""The routing model: contacts, queues and agents, as immutable definitions.

Runtime state (who is waiting, what each agent is doing) lives in the `Router`; these
are the facts the adapters and the config hand it. Times are monotonic seconds passed
in by the caller, never read from a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import cast


class Channel(StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    #: An outbound call back to a customer who kept their place in a queue.
    CALLBACK = "callback"


#: Channels that occupy the agent's phone: an agent takes one of these at a time.
CALL_CHANNELS = frozenset({Channel.VOICE, Channel.CALLBACK})


class AgentState(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RESERVED = "reserved"
    RINGING = "ringing"
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class Strategy(StrEnum):
    """How a queue picks among free, eligible agents (Asterisk's names where it has one)."""

    #: Asterisk "leastrecent": the agent whose last contact ended longest ago.
    LONGEST_IDLE = "longest_idle"
    #: Lowest occupancy (handling time / logged-in time over the window); on
    #: multi-contact channels the current load counts first.
    LEAST_BUSY = "least_busy"
    #: Asterisk "fewestcalls": fewest contacts handled since the last counter reset.
    FEWEST_CONTACTS = "fewest_contacts"
    #: Asterisk "rrmemory": round robin, resuming after the agent served last.
    RR_MEMORY = "rrmemory"
    #: Asterisk "ringall": offer a voice contact to every eligible free agent at once.
    RING_ALL = "ringall"
    #: Asterisk "random", from the router's seeded generator (repeatable in tests).
    RANDOM = "random"
    #: Highest total proficiency in the skills the contact requires, then longest idle.
    BEST_SKILLED = "best_skilled"


class EmptyRule(StrEnum):
    """When a queue counts as empty (Asterisk's joinempty / leavewhenempty)."""

    #: Never empty: contacts join and stay whatever the agents are doing.
    IGNORE = "ignore"
    #: Empty when no agent of the queue is logged in on the contact's channel.
    NO_AGENTS = "no_agents"
    #: Empty when no agent is logged in, or every logged-in agent is paused.
    ALL_PAUSED = "all_paused"


class NoAnswer(StrEnum):
    """What happens to an agent who lets an offer ring out."""

    AVAILABLE = "available"
    #: Pause with reason "no answer" (Asterisk's autopause).
    PAUSE = "pause"


class Outcome(StrEnum):
    """How a contact leaves a queue: the flow's queue-node outcomes, plus "joined"."""

    JOINED = "joined"
    ANSWERED = "answered"
    TIMEOUT = "timeout"
    FULL = "full"
    CLOSED = "closed"
    LEFT = "left"


NO_ANSWER_REASON = "no answer"


def _frozen_map(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(value))


def _check_levels(owner: str, skills: Mapping[str, int]) -> None:
    for skill, level in skills.items():
        if not isinstance(level, int) or not 0 <= level <= 100:
            raise ValueError(
                f"{owner}: skill {skill!r} level must be an integer 0-100, got {level!r}"
            )


@dataclass(frozen=True)
class Contact:
    """One thing to route: a call, a chat, or a callback entry.

    `entered_at` is when the customer FIRST entered the queue; a callback entry keeps
    the original call's time so it keeps its place. `skills` are hard requirements
    (minimum proficiency), merged with the queue's current skill step. `timeout`
    overrides the queue's `max_wait` (a flow node's own limit; `math.inf` for never).
    """

    id: str
    channel: Channel
    queue: str
    entered_at: float
    priority: int = 0
    skills: Mapping[str, int] = field(default_factory=dict)
    timeout: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel", Channel(self.channel))
        _check_levels(f"contact {self.id}", self.skills)
        object.__setattr__(self, "skills", _frozen_map(self.skills))


@dataclass(frozen=True)
class SkillStep:
    """From `after` seconds of waiting on, agents need at least `require` levels."""

    after: float
    require: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.after < 0:
            raise ValueError(f"skill step: after must be >= 0, got {self.after}")
        _check_levels("skill step", self.require)
        object.__setattr__(self, "require", _frozen_map(self.require))


@dataclass(frozen=True)
class Queue:
    """A queue's rules. Numbers are seconds; `max_length` 0 and `max_wait` None mean no limit.

    `skill_steps` relax over time: the step in force is the last one whose `after`
    has passed since the contact entered (e.g. english 50 at once, english 1 after 60 s).
    `join_empty` refuses new contacts (outcome closed) when the queue is empty by that
    rule; `leave_when_empty` removes waiting ones (closed) on the next `tick`.
    `default_handle_time` seeds the wait estimate until real handle times arrive.
    """

    name: str
    strategy: Strategy = Strategy.LONGEST_IDLE
    weight: int = 0
    skill_steps: tuple[SkillStep, ...] = ()
    max_length: int = 0
    max_wait: float | None = None
    join_empty: EmptyRule = EmptyRule.IGNORE
    leave_when_empty: EmptyRule = EmptyRule.IGNORE
    wrap_up: float = 0.0
    ring_timeout: float = 15.0
    on_no_answer: NoAnswer = NoAnswer.AVAILABLE
    default_handle_time: float = 180.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategy", Strategy(self.strategy))
        object.__setattr__(self, "join_empty", EmptyRule(self.join_empty))
        object.__setattr__(self, "leave_when_empty", EmptyRule(self.leave_when_empty))
        object.__setattr__(self, "on_no_answer", NoAnswer(self.on_no_answer))
        steps = tuple(s if isinstance(s, SkillStep) else SkillStep(**s) for s in self.skill_steps)
        object.__setattr__(self, "skill_steps", steps)
        afters = [s.after for s in steps]
        if afters != sorted(set(afters)):
            raise ValueError(
                f"queue {self.name}: skill_steps must have strictly increasing "
                f"'after' values, got {afters}"
            )
        for attr in ("wrap_up", "ring_timeout", "default_handle_time", "max_length"):
            if getattr(self, attr) < 0:
                raise ValueError(f"queue {self.name}: {attr} must be >= 0")
        if self.max_wait is not None and self.max_wait < 0:
            raise ValueError(f"queue {self.name}: max_wait must be >= 0")
        if self.ring_timeout == 0:
            raise ValueError(f"queue {self.name}: ring_timeout must be > 0")


@dataclass(frozen=True)
class Agent:
    """Who an agent is: skills (0-100), queues with penalty (lower is tried first),
    and how many contacts of each channel they hold at once.

    `chat_while_voice` lets chats be offered while a call (voice or callback) is
    reserved, ringing, in progress or in wrap-up; without it such a call blocks chat
    offers. Calls are offered during chats (the chats wait); a voice call and a callback
    never overlap (one phone). A list of queue names means penalty 0 for each.
    """

    id: str
    skills: Mapping[str, int] = field(default_factory=dict)
    queues: Mapping[str, int] = field(default_factory=dict)
    capacity: Mapping[Channel, int] = field(
        default_factory=lambda: {Channel.VOICE: 1, Channel.CALLBACK: 1}
    )
    chat_while_voice: bool = False

    def __post_init__(self) -> None:
        _check_levels(f"agent {self.id}", self.skills)
        object.__setattr__(self, "skills", _frozen_map(self.skills))
        # A list of names is accepted too (see above): the field holds a mapping once built.
        given = cast("Mapping[str, int] | Iterable[str]", self.queues)
        queues = given if isinstance(given, Mapping) else dict.fromkeys(given, 0)
        for name, penalty in queues.items():
            if not isinstance(penalty, int) or penalty < 0:
                raise ValueError(
                    f"agent {self.id}: penalty for queue {name!r} must be an "
                    f"integer >= 0, got {penalty!r}"
                )
        object.__setattr__(self, "queues", MappingProxyType(dict(queues)))
        capacity = {Channel(ch): n for ch, n in self.capacity.items()}
        for ch, n in capacity.items():
            if not isinstance(n, int) or n < 0:
                raise ValueError(
                    f"agent {self.id}: capacity for {ch} must be an integer >= 0, got {n!r}"
                )
        object.__setattr__(self, "capacity", MappingProxyType(capacity))

    def capacity_for(self, channel: Channel) -> int:
        return self.capacity.get(channel, 0)
