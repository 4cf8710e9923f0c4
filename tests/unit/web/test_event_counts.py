"""hotline_events_total{type}: appended events counted by type, read out at a scrape."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest

from hotline.store.records import LoggedEvent
from hotline.web.metrics import EventCounts


def event(n: int, kind: str) -> LoggedEvent:
    return LoggedEvent(n, "c1", datetime(2026, 12, 6, tzinfo=UTC), kind, None, None, {})


def test_events_are_counted_by_type_and_scraped() -> None:
    counts = EventCounts()
    registry = CollectorRegistry()
    registry.register(counts)
    assert registry.get_sample_value("hotline_events_total", {"type": "flow.node"}) is None
    for n, kind in enumerate(["flow.node", "call.arrived", "flow.node"]):
        counts.count(event(n, kind))
    assert registry.get_sample_value("hotline_events_total", {"type": "flow.node"}) == 2
    assert registry.get_sample_value("hotline_events_total", {"type": "call.arrived"}) == 1
    text = generate_latest(registry).decode()
    assert "# TYPE hotline_events_total counter" in text
    assert 'hotline_events_total{type="flow.node"} 2.0' in text
