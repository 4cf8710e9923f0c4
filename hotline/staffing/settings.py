"""The `staffing:` section of the config (forecast and agents needed)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StaffingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The share of paid time agents cannot answer (breaks, training, meetings, absence):
    #: scheduled agents = agents needed / (1 - shrinkage).
    shrinkage: float = Field(0.30, ge=0, lt=0.9)
    #: Weeks of history the forecast averages, per weekday and interval.
    history_weeks: int = Field(4, ge=1, le=52)
    #: Handle time (seconds) assumed where the history has none.
    default_handle_time: float = Field(180.0, gt=0, le=36000)
