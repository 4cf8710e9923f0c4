"""Routing settings: the `queues:` section of config/hotline.yaml and each agent's routing.

Validated with pydantic (unknown keys refused) and converted to the router's immutable
`Queue`/`Agent` definitions. A queue in YAML::

    queues:
      support:
        strategy: longest_idle          # or least_busy, fewest_contacts, rrmemory,
                                        # ringall, random, best_skilled (Asterisk's
                                        # leastrecent / fewestcalls are accepted too)
        weight: 0                       # higher wins when an agent serves several queues
        skills:                         # time-based relaxation, `after` seconds waited
          - {after: 0, require: {english: 50}}
          - {after: 60, require: {english: 1}}
        max_length: 0                   # 0 = no limit
        max_wait: 600                   # seconds, omitted = no limit -> outcome timeout
        join_empty: no_agents           # ignore | no_agents | all_paused -> outcome closed
        leave_when_empty: ignore
        wrap_up: 10
        wrap_up_codes: [sale, no_sale]  # a call's disposition codes; omitted: chat's list
        wrap_up_required: false         # true: wrap-up lasts until a code is given
        ring_timeout: 15
        on_no_answer: pause             # available | pause (reason "no answer")
        music_on_hold: default          # Asterisk music-on-hold class
        announcements:
          position_every: 60            # 0 = off
          eta_every: 60                 # 0 = off
          periodic: [queue_thanks]      # prompt keys from sounds/catalogue.yaml
          periodic_every: 45
        leave_key: "0"                  # DTMF key that leaves the queue (flow goes on)
        recording: "off"                # off | on
        transfer_priority: 0            # 0-100: priority of a call an agent transfers in
        caller_id: '"Support" <5550100>'  # what an agent's outbound call shows the
                                        # customer; omitted: callbacks.caller_id
        callback: {key: "5", offer_after: 120}   # see hotline/callbacks/settings.py

and an agent's routing part (next to id, name and endpoint in `agents:`)::

    skills: {english: 80, billing: 40}  # 0-100
    queues: [support, sales]            # or {support: 0, sales: 1} (penalty, lower first)
    capacity: {voice: 1, chat: 3}       # voice is 0 or 1 (one phone); chat 0 by default
    chat_while_voice: true              # chats may be offered during a call
    callbacks: true                     # may be given callback calls

`check_routing` and `routing_warnings` cross-check queues and agents (what one model
alone cannot see); `build_routing` and `make_router` refuse a config with errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hotline.acd.model import Agent, Channel, EmptyRule, NoAnswer, Queue, SkillStep, Strategy
from hotline.acd.router import Router
from hotline.callbacks.settings import QueueCallback
from hotline.yamlsource import word_for_bool

QueueName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
SkillName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]
Level = Annotated[int, Field(ge=0, le=100)]
Seconds = Annotated[float, Field(ge=0)]
PromptKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$")]

#: Asterisk app_queue names accepted for our strategies (ours are listed in `Strategy`).
STRATEGY_ALIASES: dict[str, Strategy] = {
    "leastrecent": Strategy.LONGEST_IDLE,
    "fewestcalls": Strategy.FEWEST_CONTACTS,
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SkillRule(_Section):
    """From `after` seconds of waiting on, an agent needs at least these skill levels."""

    after: Seconds = 0
    require: dict[SkillName, Level] = {}


class Announcements(_Section):
    """What a waiting contact is told besides music on hold, on every channel
    (hotline/waiting.py: callers hear it, chats read it)."""

    #: Announce the caller's position every N seconds; 0 = off.
    position_every: Seconds = 0
    #: Announce the estimated wait every N seconds; 0 = off.
    eta_every: Seconds = 0
    #: Prompt keys played in turn every `periodic_every` seconds.
    periodic: list[PromptKey] = []
    periodic_every: Seconds = 0

    @model_validator(mode="after")
    def _periodic(self) -> Announcements:
        if self.periodic and not self.periodic_every:
            raise ValueError("periodic prompts need periodic_every (seconds between them, > 0)")
        if self.periodic_every and not self.periodic:
            raise ValueError(
                f"periodic_every is {self.periodic_every:g} s but periodic lists no prompts"
            )
        return self


class QueueSettings(_Section):
    """One entry of `queues:`; see the module docstring for the YAML."""

    strategy: Strategy = Strategy.LONGEST_IDLE
    weight: int = Field(0, ge=0)
    skills: list[SkillRule] = []
    max_length: int = Field(0, ge=0)
    max_wait: float | None = Field(None, gt=0)
    join_empty: EmptyRule = EmptyRule.IGNORE
    leave_when_empty: EmptyRule = EmptyRule.IGNORE
    wrap_up: Seconds = 0
    #: The wrap-up (disposition) codes of this queue's calls; None: `chat.wrap_up_codes`,
    #: the one list for every channel.
    wrap_up_codes: list[QueueName] | None = Field(None, min_length=1)
    #: A call of this queue needs a code: the agent stays in wrap-up until it is given
    #: (which ends the wrap-up at once) or `wrap_up` runs out; Ready is refused meanwhile.
    wrap_up_required: bool = False
    ring_timeout: float = Field(15.0, gt=0)
    on_no_answer: NoAnswer = NoAnswer.AVAILABLE
    #: Seeds the wait estimate until real handle times come in.
    default_handle_time: float = Field(180.0, gt=0)
    music_on_hold: str = Field("default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
    announcements: Announcements = Announcements()
    leave_key: str | None = Field(None, pattern=r"^[0-9*#]$")
    recording: Literal["off", "on"] = "off"
    #: The priority (0-100, as a flow's queue node gives) of a contact an agent transfers
    #: into this queue: above 0 it is served before callers who came in by themselves.
    transfer_priority: int = Field(0, ge=0, le=100)
    #: What the customer's phone shows for an agent's outbound call of this queue
    #: (click-to-call, a callback by hand): a number, or "Name" <number>; None: the
    #: callbacks' caller id.
    caller_id: str | None = Field(
        None, pattern=r'^(?:"[^"<>\\\r\n]{0,60}" ?<\+?[0-9]{1,20}>|\+?[0-9]{1,20})$'
    )
    #: Callbacks that keep the caller's place; None: this queue offers none.
    callback: QueueCallback | None = None

    @model_validator(mode="after")
    def _wrap_up_required(self) -> QueueSettings:
        if self.wrap_up_required and not self.wrap_up:
            raise ValueError(
                "wrap_up_required needs a wrap-up time (wrap_up: seconds > 0): with none, "
                "the agent is free again at once and no code can hold them"
            )
        return self

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy(cls, value: Any) -> Any:
        if isinstance(value, Strategy):
            return value
        name = str(value).strip().lower() if isinstance(value, str) else value
        if not isinstance(name, str):  # a list or mapping is not hashable: say so plainly
            name = ""
        if name in STRATEGY_ALIASES:
            return STRATEGY_ALIASES[name]
        if name in {s.value for s in Strategy}:
            return Strategy(name)
        valid = ", ".join(s.value for s in Strategy)
        aliases = ", ".join(f"{k} = {v.value}" for k, v in STRATEGY_ALIASES.items())
        raise ValueError(
            f"unknown strategy {value!r}; valid strategies: {valid} (Asterisk names: {aliases})"
        )

    @field_validator("leave_key", mode="before")
    @classmethod
    def _leave_key(cls, value: Any) -> Any:
        # YAML reads an unquoted `leave_key: 0` as a number.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("recording", mode="before")
    @classmethod
    def _recording(cls, value: Any) -> Any:
        return word_for_bool(value, "on", "off")

    @field_validator("skills")
    @classmethod
    def _steps(cls, steps: list[SkillRule]) -> list[SkillRule]:
        afters = [s.after for s in steps]
        if afters != sorted(set(afters)):
            shown = ", ".join(f"{a:g}" for a in afters)
            raise ValueError(
                f"skill rules must be in order of strictly increasing 'after' (got {shown})"
            )
        return steps

    def to_queue(self, name: str) -> Queue:
        return Queue(
            name=name,
            strategy=self.strategy,
            weight=self.weight,
            skill_steps=tuple(SkillStep(s.after, s.require) for s in self.skills),
            max_length=self.max_length,
            max_wait=self.max_wait,
            join_empty=self.join_empty,
            leave_when_empty=self.leave_when_empty,
            wrap_up=self.wrap_up,
            ring_timeout=self.ring_timeout,
            on_no_answer=self.on_no_answer,
            default_handle_time=self.default_handle_time,
        )


class Capacity(_Section):
    """Contacts an agent holds at once, per channel."""

    voice: int = Field(1, ge=0, le=1, description="0 or 1: one phone, one call")
    chat: int = Field(0, ge=0, le=100)

    @model_validator(mode="before")
    @classmethod
    def _no_callback(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "callback" in data:
            raise ValueError(
                "capacity has no 'callback' entry: set `callbacks: true` or `false` on the "
                "agent (a callback rings the agent's phone, one call at a time)"
            )
        return data


class AgentRouting(_Section):
    """The routing part of an agent's config (config.py adds id, name, endpoint)."""

    skills: dict[SkillName, Level] = {}
    #: Queue names (penalty 0 each) or {queue: penalty}; lower penalties are tried first.
    queues: list[QueueName] | dict[QueueName, Annotated[int, Field(ge=0)]] = []
    capacity: Capacity = Capacity()
    chat_while_voice: bool = False
    callbacks: bool = True

    @field_validator("queues")
    @classmethod
    def _unique(cls, queues: list[str] | dict[str, int]) -> list[str] | dict[str, int]:
        if isinstance(queues, list):
            dupes = sorted({q for q in queues if queues.count(q) > 1})
            if dupes:
                raise ValueError(f"queue(s) listed more than once: {', '.join(dupes)}")
        return queues

    def penalties(self) -> dict[str, int]:
        """Queue -> penalty."""
        if isinstance(self.queues, dict):
            return dict(self.queues)
        return dict.fromkeys(self.queues, 0)

    def channel_capacity(self) -> dict[Channel, int]:
        return {
            Channel.VOICE: self.capacity.voice,
            Channel.CHAT: self.capacity.chat,
            Channel.CALLBACK: 1 if self.callbacks else 0,
        }

    def to_agent(self, agent_id: str) -> Agent:
        return Agent(
            id=agent_id,
            skills=self.skills,
            queues=self.penalties(),
            capacity=self.channel_capacity(),
            chat_while_voice=self.chat_while_voice,
        )


# ---- cross checks ----------------------------------------------------------------------


Agents = Mapping[str, AgentRouting] | Iterable[Any]


class RoutingConfigError(ValueError):
    """The routing settings have errors; `problems` lists them, one per line in str()."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def _agent_items(agents: Agents) -> list[tuple[str, AgentRouting]]:
    """(id, routing) pairs from {id: AgentRouting} or from objects with `.id`."""
    if isinstance(agents, Mapping):
        return list(agents.items())
    items: list[tuple[str, AgentRouting]] = []
    # Not a mapping here; mypy would still count a mapping's keys among the items.
    for a in cast("Iterable[Any]", agents):
        if not isinstance(a, AgentRouting):
            fields = {f: getattr(a, f) for f in AgentRouting.model_fields if hasattr(a, f)}
            a_routing = AgentRouting(**fields)
        else:
            a_routing = a
        items.append((a.id, a_routing))
    return items


def _req(require: Mapping[str, int]) -> dict[str, int]:
    return {s: lvl for s, lvl in require.items() if lvl > 0}


def _meets(skills: Mapping[str, int], require: Mapping[str, int]) -> bool:
    return all(skills.get(s, 0) >= lvl for s, lvl in require.items())


def _needs(require: Mapping[str, int]) -> str:
    return ", ".join(f"{s} >= {lvl}" for s, lvl in sorted(require.items())) or "nothing"


def _phases(queue: QueueSettings) -> list[tuple[float, dict[str, int]]]:
    """(from seconds, requirement) for each stretch of waiting, in order."""
    phases: list[tuple[float, dict[str, int]]] = []
    if not queue.skills or queue.skills[0].after > 0:
        phases.append((0.0, {}))
    phases.extend((s.after, _req(s.require)) for s in queue.skills)
    return phases


def _analyse(queues: Mapping[str, QueueSettings], agents: Agents) -> tuple[list[str], list[str]]:
    errors: list[str] = []
    warnings: list[str] = []
    items = _agent_items(agents)
    known = ", ".join(sorted(queues)) or "none defined"
    for aid, a in items:
        unknown = [q for q in a.penalties() if q not in queues]
        for q in unknown:
            errors.append(f"agent {aid}: queue {q!r} is not defined in queues (known: {known})")
        if not any(a.channel_capacity().values()):
            errors.append(
                f"agent {aid}: capacity is 0 on every channel (voice 0, chat 0, callbacks "
                "off): they could never take a contact"
            )
    if items and not any(any(a.channel_capacity().values()) for _, a in items):
        errors.append("no agent has any capacity: no contact could ever be taken")
    for name in sorted(queues):
        queue = queues[name]
        serving = [
            (aid, a)
            for aid, a in items
            if name in a.penalties() and any(a.channel_capacity().values())
        ]
        if not serving:
            warnings.append(
                f"queue {name}: no agent serves it (list it in an agent's queues); "
                "contacts would wait until they time out or leave"
            )
            continue
        phases = _phases(queue)
        ok = [any(_meets(a.skills, req) for _, a in serving) for _, req in phases]
        named = sorted({s for _, req in phases for s in req})
        best = ", ".join(
            f"{s} {lvl}" + (f" ({who})" if who else "")
            for s in named
            for lvl, who in [_best(serving, s)]
        )
        if not any(ok):
            steps = [f"step after {after:g} s needs {_needs(req)}" for after, req in phases]
            if len(steps) > 1:
                steps[-1] = steps[-1].replace("needs", "(the last) still needs", 1)
            errors.append(
                f"queue {name}: no agent serving it meets the skill rules at any step: "
                f"{'; '.join(steps)}; the best its agents have is {best}: no agent could "
                "ever take a contact"
            )
            continue
        for i, (after, req) in enumerate(phases):
            if ok[i]:
                continue
            later = next((phases[j][0] for j in range(i + 1, len(phases)) if ok[j]), None)
            until = (
                f"contacts wait at least until the step after {later:g} s"
                if later is not None
                else "contacts still waiting then can never be taken"
            )
            warnings.append(
                f"queue {name}: no agent serving it meets the step after {after:g} s "
                f"(needs {_needs(req)}; the best its agents have is {best}); {until}"
            )
    return errors, warnings


def _best(serving: list[tuple[str, AgentRouting]], skill: str) -> tuple[int, str]:
    level, who = max(((a.skills.get(skill, 0), aid) for aid, a in serving), key=lambda t: t[0])
    return level, who if level else ""


def check_routing(queues: Mapping[str, QueueSettings], agents: Agents) -> list[str]:
    """Problems that make the routing config wrong (refuse to start): agents naming
    unknown queues, agents with no capacity, queues whose skill rules no agent serving
    them could ever meet. `agents` is {id: AgentRouting} or objects with `.id` and the
    AgentRouting fields. Empty when all is well."""
    return _analyse(queues, agents)[0]


def routing_warnings(queues: Mapping[str, QueueSettings], agents: Agents) -> list[str]:
    """Problems worth a warning at start: queues no agent serves, skill steps no agent
    meets (contacts wait for a later, relaxed step)."""
    return _analyse(queues, agents)[1]


def build_routing(
    queues: Mapping[str, QueueSettings], agents: Agents
) -> tuple[list[Queue], list[Agent]]:
    """The router definitions; raises RoutingConfigError if `check_routing` finds errors."""
    errors = check_routing(queues, agents)
    if errors:
        raise RoutingConfigError(errors)
    return (
        [queues[name].to_queue(name) for name in sorted(queues)],
        [a.to_agent(aid) for aid, a in sorted(_agent_items(agents), key=lambda t: t[0])],
    )


def make_router(queues: Mapping[str, QueueSettings], agents: Agents, *, seed: int = 0) -> Router:
    """A Router with these queues and agents (all logged out)."""
    qs, ags = build_routing(queues, agents)
    router = Router(seed=seed)
    for q in qs:
        router.add_queue(q)
    for a in ags:
        router.add_agent(a)
    return router
