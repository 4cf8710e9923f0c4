"""The `reports:` section of the config: thresholds and windows the metrics use."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class QueueTargets(BaseModel):
    """One queue's service-level threshold and targets (overriding the defaults)."""

    model_config = ConfigDict(extra="forbid")

    #: Answered within this many seconds counts as within service level.
    sl_threshold: float | None = Field(None, gt=0, le=3600)
    #: Service level (percent) at or above this is green on the wallboard ...
    sl_target: float | None = Field(None, gt=0, le=100)
    #: ... at or above this amber, below it red.
    sl_amber: float | None = Field(None, ge=0, le=100)


class ReportSettings(BaseModel):
    """Defaults for every queue, per-queue overrides, and the report time zone."""

    model_config = ConfigDict(extra="forbid")

    #: Intervals, days and "today" on the wallboard are in this zone (IANA name).
    timezone: str = "UTC"
    sl_threshold: float = Field(20.0, gt=0, le=3600)
    sl_target: float = Field(80.0, gt=0, le=100)
    sl_amber: float = Field(70.0, ge=0, le=100)
    #: Callers who leave a queue sooner than this (seconds) are short abandons: left
    #: out of service level and abandon rate (misdials, changed minds).
    short_abandon: float = Field(5.0, ge=0, le=600)
    #: A customer's next contact within this many hours makes it a repeat contact (and
    #: the earlier one not resolved first time).
    repeat_window_hours: float = Field(24.0, gt=0, le=24 * 90)
    #: Survey scores at or above this count as satisfied (CSAT %).
    csat_satisfied: int = Field(4, ge=1, le=10)
    queues: dict[str, QueueTargets] = {}

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @model_validator(mode="after")
    def _amber_below_target(self) -> ReportSettings:
        levels: list[tuple[str, ReportSettings | QueueTargets]] = [("", self)]
        levels += [(f"queues.{n}.", t) for n, t in self.queues.items()]
        for name, q in levels:
            target = q.sl_target if q.sl_target is not None else self.sl_target
            amber = q.sl_amber if q.sl_amber is not None else self.sl_amber
            if amber > target:
                raise ValueError(
                    f"{name}sl_amber ({amber:g}) must not be above sl_target ({target:g})"
                )
        return self

    def threshold(self, queue: str | None) -> float:
        """The service-level threshold (seconds) of `queue`."""
        q = self.queues.get(queue or "")
        return q.sl_threshold if q is not None and q.sl_threshold is not None else self.sl_threshold

    def colour(self, queue: str | None, level: float | None) -> str:
        """green, amber or red for a service level (percent); grey when there is none."""
        if level is None:
            return "grey"
        q = self.queues.get(queue or "")
        target = q.sl_target if q is not None and q.sl_target is not None else self.sl_target
        amber = q.sl_amber if q is not None and q.sl_amber is not None else self.sl_amber
        if level >= target:
            return "green"
        return "amber" if level >= amber else "red"

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.timezone)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or a ValueError saying it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)"
        ) from None
