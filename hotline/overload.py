"""Overload admission: past what the box can carry, new calls are turned away at the
door, early and cleanly, so that the calls already in go on with normal latency.

Three signals, each optional (`OverloadSettings`):
- calls in progress at or above `max_calls` (the hard limit a telephony engineer sizes
  from the benchmark: docs/benchmarks.md);
- the controller's event loop running late by more than `max_loop_lag_ms` (its CPU is
  used up: every call's next step would wait);
- ARI round trips slower than `max_ari_latency_ms` (90th percentile of the recent
  ones: Asterisk or the way to it waits in line).

A refused call gets the configured `answer`: `busy` (SIP 486, the caller's phone plays
a busy tone), `congestion` (SIP 503: a carrier may route the call elsewhere) or
`message` (answered, a short prompt, then hung up). The decision is here, pure and
adapter-neutral; how a refusal sounds is the voice adapter's (ari_app/admission.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Answer = Literal["busy", "congestion", "message"]
#: Why a call was turned away: the signal that was over its limit.
Reason = Literal["max_calls", "loop_lag", "ari_latency"]
REASONS: tuple[Reason, ...] = ("max_calls", "loop_lag", "ari_latency")


class OverloadSettings(BaseModel):
    """`overload:` in config/hotline.yaml. None turns a signal off."""

    model_config = ConfigDict(extra="forbid")

    #: Calls in progress (ARI and FastAGI) at which a new call is turned away.
    max_calls: int | None = Field(default=None, ge=1, le=100_000)
    #: The event loop's lag (ms, last measured every 0.5 s) above which new calls are
    #: turned away. The default is far above a healthy loop (< 25 ms under load): a
    #: backstop, not a sizing.
    max_loop_lag_ms: float | None = Field(default=1000.0, gt=0, le=60_000)
    #: The recent ARI round trips' 90th percentile (ms) above which new calls are
    #: turned away (healthy: <= 25 ms; a backstop too).
    max_ari_latency_ms: float | None = Field(default=2000.0, gt=0, le=60_000)
    #: What a turned-away caller gets.
    answer: Answer = "busy"
    #: The prompt (a catalogue key) played when `answer` is `message`.
    message: str = Field(default="overloaded", pattern=r"^[a-z0-9_]{1,64}$")


@dataclass(frozen=True)
class Load:
    """The signals, measured now."""

    calls: int
    loop_lag_ms: float = 0.0
    ari_latency_ms: float = 0.0


def over_limit(settings: OverloadSettings, load: Load) -> Reason | None:
    """Which limit `load` is over (the first, in REASONS order), None: admit."""
    if settings.max_calls is not None and load.calls >= settings.max_calls:
        return "max_calls"
    if settings.max_loop_lag_ms is not None and load.loop_lag_ms > settings.max_loop_lag_ms:
        return "loop_lag"
    if (
        settings.max_ari_latency_ms is not None
        and load.ari_latency_ms > settings.max_ari_latency_ms
    ):
        return "ari_latency"
    return None


class Admission:
    """Decides, per new call, admit or turn away, and counts what it turned away.

    `measure` reads the signals at the moment of the decision (passed in: the
    composition root knows where the call count, the loop lag and the ARI latency
    are)."""

    def __init__(self, settings: OverloadSettings, measure: Callable[[], Load]) -> None:
        self.settings = settings
        self.measure = measure
        self.refused: Counter[Reason] = Counter()
        self.admitted = 0

    def decide(self) -> Reason | None:
        """None: admit the call (counted); else why it is turned away (counted)."""
        reason = over_limit(self.settings, self.measure())
        if reason is None:
            self.admitted += 1
        else:
            self.refused[reason] += 1
        return reason

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    def view(self) -> dict[str, object]:
        """For the wallboard and /metrics: counts since the controller started."""
        return {
            "refused": self.refused_total,
            "refused_by": {reason: self.refused[reason] for reason in REASONS},
            "admitted": self.admitted,
            "max_calls": self.settings.max_calls,
            "answer": self.settings.answer,
        }
