"""Prometheus metrics at /metrics (admin: a session or the API bearer token).

    hotline_calls_active, hotline_chats_active       contacts in progress
    hotline_queue_waiting{queue,channel}             contacts waiting now
    hotline_queue_service_level_percent{queue,channel}  today, answered+abandoned base
    hotline_agents{channel,state}                    agent channels by state
    hotline_ari_request_seconds{method}              ARI REST round trip (histogram)
    hotline_event_loop_lag_seconds                   how late the event loop runs timers
    hotline_errors_total{logger}                     log records at ERROR and above
    hotline_events_total{type}                       events appended to the log
    hotline_calls_refused_total{reason}              new calls turned away (overload)
    hotline_calls_admitted_total                     new calls let in by the admission

Process-wide instruments (ARI latency, loop lag, errors, events) live in REGISTRY; the
live gauges are read from the wallboard and the routing engine at each scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hotline.overload import REASONS, Admission
from hotline.store.records import LoggedEvent

REGISTRY = CollectorRegistry()
ARI_LATENCY = Histogram(
    "hotline_ari_request_seconds",
    "ARI REST request round-trip time",
    ["method"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
LOOP_LAG = Gauge(
    "hotline_event_loop_lag_seconds",
    "How late the event loop woke a timer, last measured (every LAG_INTERVAL)",
    registry=REGISTRY,
)
LOOP_LAG_SEEN = Histogram(
    "hotline_event_loop_lag_observed_seconds",
    "Event-loop lag measurements",
    registry=REGISTRY,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
ERRORS = Counter(
    "hotline_errors", "Log records at level ERROR and above", ["logger"], registry=REGISTRY
)
LAG_INTERVAL = 0.5


@dataclass
class LagReading:
    """The event loop's lag, last measured (read by the overload admission)."""

    seconds: float = 0.0


LOOP_LAG_NOW = LagReading()


class ErrorCounter(logging.Handler):
    """Counts ERROR+ log records by logger (installed on the root logger)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        ERRORS.labels(logger=record.name).inc()


async def watch_loop_lag(interval: float = LAG_INTERVAL) -> None:
    """Sleep `interval` over and over; the overshoot is the loop's lag."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(interval)
        lag = max(0.0, loop.time() - start - interval)
        LOOP_LAG_NOW.seconds = lag
        LOOP_LAG.set(lag)
        LOOP_LAG_SEEN.observe(lag)


class LiveGauges(Collector):
    """Gauges read at scrape time from `view()`: the wallboard's view."""

    def __init__(self, view: Callable[[], dict[str, Any]]) -> None:
        self.view = view

    def collect(self) -> Iterator[Metric]:
        view = self.view()
        calls = GaugeMetricFamily("hotline_calls_active", "Calls in progress")
        calls.add_metric([], view["active"].get("voice", 0))
        chats = GaugeMetricFamily("hotline_chats_active", "Chats in progress")
        chats.add_metric([], view["active"].get("chat", 0))
        waiting = GaugeMetricFamily(
            "hotline_queue_waiting", "Contacts waiting in a queue", labels=["queue", "channel"]
        )
        level = GaugeMetricFamily(
            "hotline_queue_service_level_percent",
            "Service level today (answered in threshold / answered + abandoned)",
            labels=["queue", "channel"],
        )
        for q in view["queues"]:
            waiting.add_metric([q["queue"], q["channel"]], q["waiting"])
            if q["service_level"] is not None:
                level.add_metric([q["queue"], q["channel"]], q["service_level"])
        states: Tally[tuple[str, str]] = Tally()
        for agent in view["agents"]:
            for ch in agent["channels"]:
                states[(ch["channel"], ch["state"])] += 1
        agents = GaugeMetricFamily(
            "hotline_agents", "Agent channels by state", labels=["channel", "state"]
        )
        for (channel, state), n in sorted(states.items()):
            agents.add_metric([channel, state], n)
        yield from (calls, chats, waiting, level, agents)


class AdmissionCounts(Collector):
    """The overload admission's counts since the controller started, at scrape time."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission

    def collect(self) -> Iterator[Metric]:
        refused = CounterMetricFamily(
            "hotline_calls_refused",
            "New calls turned away by the overload admission, by the limit they hit",
            labels=["reason"],
        )
        for reason in REASONS:
            refused.add_metric([reason], self.admission.refused[reason])
        admitted = CounterMetricFamily(
            "hotline_calls_admitted", "New calls the overload admission let in"
        )
        admitted.add_metric([], self.admission.admitted)
        yield from (refused, admitted)


class EventCounts(Collector):
    """hotline_events_total{type}: events appended, counted in a plain tally (every
    event passes here; a prometheus Counter takes a lock per count) and read out at
    each scrape."""

    def __init__(self) -> None:
        self.counts: Tally[str] = Tally()

    def count(self, event: LoggedEvent) -> None:
        """A Store.listen listener."""
        self.counts[event.type] += 1

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "hotline_events", "Events appended to the log", labels=["type"]
        )
        for kind, n in sorted(self.counts.items()):
            family.add_metric([str(kind)], n)
        yield family


EVENT_COUNTS = EventCounts()
REGISTRY.register(EVENT_COUNTS)
#: A Store.listen listener: count appended events by type.
count_event = EVENT_COUNTS.count


def add_metrics_routes(
    app: web.Application,
    view: Callable[[], dict[str, Any]],
    listen: Callable[..., Callable[[], None]],
    admission: Admission | None = None,
) -> None:
    """/metrics; `view`: the wallboard's view; `listen`: Store.listen; `admission`: the
    overload admission whose counts are shown (None: none). Starts the lag watcher,
    error counting and event counting with the app, stops them after it."""
    gauges = LiveGauges(view)
    counts = AdmissionCounts(admission) if admission is not None else None
    errors = ErrorCounter()
    state: dict[str, object] = {}

    async def started(_app: web.Application) -> None:
        REGISTRY.register(gauges)
        if counts is not None:
            REGISTRY.register(counts)
        logging.getLogger().addHandler(errors)
        state["unlisten"] = listen(count_event)
        state["lag"] = asyncio.create_task(watch_loop_lag(), name="loop-lag")

    async def stopped(_app: web.Application) -> None:
        with contextlib.suppress(KeyError):
            REGISTRY.unregister(gauges)
        if counts is not None:
            with contextlib.suppress(KeyError):
                REGISTRY.unregister(counts)
        logging.getLogger().removeHandler(errors)
        unlisten = state.pop("unlisten", None)
        if callable(unlisten):
            unlisten()
        task = state.pop("lag", None)
        if isinstance(task, asyncio.Task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.on_startup.append(started)
    app.on_cleanup.append(stopped)

    # No access mark: admin only (a logged-in admin, or the API token for scrapers).
    async def metrics(request: web.Request) -> web.Response:
        body = generate_latest(REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", metrics)
