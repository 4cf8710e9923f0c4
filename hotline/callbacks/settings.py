"""Callback settings: the hotline-wide `callbacks:` section and each queue's `callback:`.

Hotline-wide (config/hotline.yaml)::

    callbacks:
      dial_template: "PJSIP/{number}@trunk"   # how a number is dialed ({number} filled in)
      caller_id: "5550100"                    # what the customer's phone shows
      min_length: 5                           # digits, after dropping spaces, dashes, a +
      max_length: 15
      allowed_prefixes: []                    # e.g. ["+44", "0"]; empty: any
      own_numbers: ["+15550100"]              # refused besides the hotline's `numbers`
      max_pending_per_number: 2               # callbacks waiting for one number
      max_requests_per_hour: 5                # bookings from one number per hour

Per queue (under `queues: NAME:`)::

    callback:
      key: "5"                  # pressed while waiting: book a callback, keep the place
      offer_after: 120          # offer it when the estimated wait passes this (s); 0 = never
      attempts: 3               # calls to the customer before giving up
      retry_delay: 300          # seconds between attempts
      order: agent_first        # or customer_first
      ring_seconds: 30          # how long the customer's phone rings
      min_talk_seconds: 5       # answered but over sooner (voicemail, hang-up): failed
      node_lost: callback       # callers waiting on a lost cluster node: callback | lost
      schedule: office          # callbacks are dialed only while open (config schedules)
      abandoned:                # callers who hang up while waiting in this queue:
        action: callback        # off | callback (added to `queue`'s list) | hook
        queue: support
        url: http://sms-gateway/send   # for action: hook (POSTed JSON)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

QueueName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _key(value: object) -> object:
    # YAML reads an unquoted `key: 5` as a number.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class AbandonedPolicy(_Section):
    """What happens to a caller who hangs up while waiting in the queue."""

    action: Literal["off", "callback", "hook"] = "off"
    #: The queue whose callback list takes them (action callback); default: this queue.
    queue: QueueName | None = None
    #: The message hook (an SMS gateway, say) POSTed {number, queue, contact_id, waited}.
    url: Annotated[str, Field(pattern=r"^https?://[^\s/?#]+[^\s]*$")] | None = None

    @model_validator(mode="after")
    def _complete(self) -> AbandonedPolicy:
        if self.action == "hook" and not self.url:
            raise ValueError("abandoned action 'hook' needs a url (the message hook)")
        if self.action != "hook" and self.url:
            raise ValueError(f"abandoned url is only used with action 'hook', not {self.action!r}")
        return self


class QueueCallback(_Section):
    """One queue's callbacks; see the module docstring."""

    key: str | None = Field(default=None, pattern=r"^[0-9*#]$")
    offer_after: float = Field(default=0, ge=0)
    attempts: int = Field(default=3, ge=1, le=10)
    retry_delay: float = Field(default=300, ge=0)
    order: Literal["agent_first", "customer_first"] = "agent_first"
    ring_seconds: float = Field(default=30, gt=0, le=120)
    min_talk_seconds: float = Field(default=5, ge=0, le=60)
    #: Callers waiting on an Asterisk node that is lost (a cluster): booked as callbacks
    #: at their place, or ended as lost (hotline/cluster/node_loss.py).
    node_lost: Literal["callback", "lost"] = "callback"
    schedule: QueueName | None = None
    abandoned: AbandonedPolicy = AbandonedPolicy()

    @field_validator("key", mode="before")
    @classmethod
    def _dtmf_key(cls, value: object) -> object:
        return _key(value)

    @model_validator(mode="after")
    def _offered_somehow(self) -> QueueCallback:
        if self.offer_after and self.key is None:
            raise ValueError("offer_after needs a key: the offer tells the caller what to press")
        return self


class CallbackConfig(_Section):
    """The hotline-wide `callbacks:` section; see the module docstring."""

    dial_template: str = Field(default="PJSIP/{number}@trunk", min_length=8, max_length=200)
    caller_id: str = Field(default="", max_length=40)
    min_length: int = Field(default=5, ge=2, le=32)
    max_length: int = Field(default=15, ge=2, le=32)
    allowed_prefixes: list[Annotated[str, Field(pattern=r"^\+?[0-9]{1,8}$")]] = []
    own_numbers: list[str] = []
    max_pending_per_number: int = Field(default=2, ge=1, le=100)
    max_requests_per_hour: int = Field(default=5, ge=1, le=1000)

    @field_validator("dial_template")
    @classmethod
    def _template(cls, value: str) -> str:
        if "{number}" not in value:
            raise ValueError("dial_template must contain {number}, e.g. PJSIP/{number}@trunk")
        if not value.startswith(("PJSIP/", "Local/")):
            raise ValueError("dial_template must dial a PJSIP/ or Local/ channel")
        rest = value.replace("{number}", "")
        if "{" in rest or "}" in rest:
            raise ValueError("dial_template may contain only the {number} placeholder")
        return value

    @model_validator(mode="after")
    def _lengths(self) -> CallbackConfig:
        if self.min_length > self.max_length:
            raise ValueError(f"min_length {self.min_length} is above max_length {self.max_length}")
        return self

    def dial_string(self, number: str) -> str:
        """The channel to originate for a validated number."""
        return self.dial_template.replace("{number}", number)


def check_callbacks(
    queues: Mapping[str, object],
    schedules: Iterable[str],
    *,
    callbacks: Mapping[str, QueueCallback | None],
    leave_keys: Mapping[str, str | None],
) -> list[str]:
    """Problems across sections: unknown schedules and queues, a callback key that is
    also the leave key."""
    problems = []
    known = set(schedules)
    for name, cb in sorted(callbacks.items()):
        if cb is None:
            continue
        if cb.schedule is not None and cb.schedule not in known:
            problems.append(f"queue {name}: callback schedule {cb.schedule!r} is not in schedules")
        target = cb.abandoned.queue
        if target is not None and target not in queues:
            problems.append(f"queue {name}: abandoned callbacks go to unknown queue {target!r}")
        if cb.key is not None and cb.key == leave_keys.get(name):
            problems.append(f"queue {name}: callback key {cb.key!r} is also the leave key")
    return problems
