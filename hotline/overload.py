"""Overload admission: past what the box can carry, new calls are turned away at the
door, early and cleanly, so that the calls already in go on with normal latency.

Four signals, each optional (`OverloadSettings`):
- calls in progress at or above `max_calls` (the hard limit a telephony engineer sizes
  from the benchmark: docs/benchmarks.md);
- new calls let in faster than `max_rate` a second (a token bucket holding `max_burst`
  calls): what the box can set up per second, sized from the benchmark's highest clean
  rate. `max_calls` alone lets a burst in: with every call young, a limit on calls in
  progress admits its whole count at the offered rate (317 calls in 2.5 s at 128 cps),
  and those calls' set-ups queue behind each other (docs/benchmarks.md, session 6);
- the controller's event loop running late by more than `max_loop_lag_ms` (its CPU is
  used up: every call's next step would wait);
- ARI round trips slower than `max_ari_latency_ms` (90th percentile of the recent
  ones: Asterisk or the way to it waits in line).

A refused call gets the configured `answer`: `busy` (SIP 486, the caller's phone plays
a busy tone), `congestion` (SIP 503: a carrier may route the call elsewhere) or
`message` (answered, a short prompt, then hung up). The decision is here, pure and
adapter-neutral; how a refusal sounds is the voice adapter's (ari_app/admission.py).

With `busy` or `congestion`, `max_calls` and `max_rate` are applied by Asterisk's
dialplan before the call reaches the controller (`Door`, dialplan/extensions.conf.j2):
a caller turned away there costs no StasisStart, no ARI request and no controller
work, which matters most when most callers are turned away (docs/benchmarks.md,
"Overload"). The rate is then counted in fixed windows of the clock, as Kamailio's
ratelimit counts per interval: windows of `max_burst / max_rate` seconds (whole
seconds, at least 1; `max_burst` defaults to one second's worth), each letting in
`max_rate` x its length new calls. The controller still decides the latency signals,
and counts the dialplan's refusals it is told of.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Answer = Literal["busy", "congestion", "message"]
#: Why a call was turned away: the signal that was over its limit.
Reason = Literal["max_calls", "max_rate", "loop_lag", "ari_latency"]
REASONS: tuple[Reason, ...] = ("max_calls", "max_rate", "loop_lag", "ari_latency")


class OverloadSettings(BaseModel):
    """`overload:` in config/hotline.yaml. None turns a signal off."""

    model_config = ConfigDict(extra="forbid")

    #: Calls in progress (ARI and FastAGI) at which a new call is turned away.
    max_calls: int | None = Field(default=None, ge=1, le=100_000)
    #: New calls let in per second at most (a token bucket); off unless set.
    max_rate: float | None = Field(default=None, gt=0, le=10_000)
    #: Calls the bucket lets in at once after a quiet spell (default: one second's
    #: worth of `max_rate`, at least 1).
    max_burst: int | None = Field(default=None, ge=1, le=100_000)
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


#: The Q.850 cause each unanswered refusal hangs up with (PJSIP sends 486, 503).
CAUSE = {"busy": 17, "congestion": 34}


@dataclass(frozen=True)
class Door:
    """The limits Asterisk's dialplan applies itself, before Stasis."""

    #: Callers in progress at which a new one is turned away (None: not checked).
    max_calls: int | None
    #: New callers let in per window at most (None: the rate is not checked).
    per_window: int | None
    #: The window's length in whole seconds (windows start at multiples of it).
    window: int
    #: The hang-up cause of a refusal.
    cause: int


def dialplan_door(settings: OverloadSettings) -> Door | None:
    """The door the dialplan applies for these settings; None: none (no limit set, or
    the `message` answer, which needs the controller to play its prompt)."""
    if settings.answer not in CAUSE or (settings.max_calls is None and settings.max_rate is None):
        return None
    cause = CAUSE[settings.answer]
    if settings.max_rate is None:
        return Door(settings.max_calls, None, 1, cause)
    burst = settings.max_burst or max(1, round(settings.max_rate))
    # Whole seconds: a burst under one second's worth is a one-second window, whose
    # count keeps the rate (not the burst: 10 a window of 1 s would make 30/s 10/s).
    window = max(1, round(burst / settings.max_rate))
    return Door(settings.max_calls, max(1, round(settings.max_rate * window)), window, cause)


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


class TokenBucket:
    """`rate` tokens a second, at most `burst` kept; a call let in takes one."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def has_token(self) -> bool:
        """True if a call may be let in now (refilled for the time since last asked)."""
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return self._tokens >= 1.0

    def take(self) -> None:
        """One call let in."""
        self._tokens -= 1.0


def rate_bucket(settings: OverloadSettings, clock: Callable[[], float]) -> TokenBucket | None:
    """The bucket of `max_rate` (None when it is off)."""
    if settings.max_rate is None:
        return None
    burst = settings.max_burst or max(1, round(settings.max_rate))
    return TokenBucket(settings.max_rate, burst, clock)


class Admission:
    """Decides, per new call, admit or turn away, and counts what it turned away.

    `measure` reads the signals at the moment of the decision (passed in: the
    composition root knows where the call count, the loop lag and the ARI latency
    are); `clock` is the rate limit's (seconds, monotonic). `rate_at_door`: the
    dialplan applies `max_rate` (`dialplan_door`): no second bucket here, whose edges
    would turn away callers the dialplan's second let in."""

    def __init__(
        self,
        settings: OverloadSettings,
        measure: Callable[[], Load],
        clock: Callable[[], float] = time.monotonic,
        rate_at_door: bool = False,
    ) -> None:
        self.settings = settings
        self.measure = measure
        self.refused: Counter[Reason] = Counter()
        self.admitted = 0
        self._bucket = None if rate_at_door else rate_bucket(settings, clock)

    def turned_away_at_door(self, reason: str) -> None:
        """The dialplan turned a caller away for `reason` (counted; other text ignored)."""
        known = [r for r in REASONS if r == reason]
        if known:
            self.refused[known[0]] += 1

    def decide(self) -> Reason | None:
        """None: admit the call (counted); else why it is turned away (counted)."""
        load = self.measure()
        reason = over_limit(self.settings, load)
        if reason is None and self._bucket is not None:
            # Checked last: a call another limit turns away takes no token.
            if self._bucket.has_token():
                self._bucket.take()
            else:
                reason = "max_rate"
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
            "max_rate": self.settings.max_rate,
            "answer": self.settings.answer,
        }
