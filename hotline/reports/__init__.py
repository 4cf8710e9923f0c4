"""Metrics computed from the contact event log, with written definitions (docs/metrics.md)."""

from hotline.reports.errors import ReportError
from hotline.reports.periods import Period, make_period
from hotline.reports.report import CHANNELS, TABLES, Report, ReportQuery, build_report
from hotline.reports.settings import ReportSettings

__all__ = [
    "CHANNELS",
    "TABLES",
    "Period",
    "Report",
    "ReportError",
    "ReportQuery",
    "ReportSettings",
    "build_report",
    "make_period",
]
