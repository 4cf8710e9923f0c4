"""Reports on the web, for supervisors: /reports (page with charts) and

    GET /api/reports?from=&to=&interval=&queue=&agent=&channel=   -> JSON tables
    GET /api/reports/{table}.csv?…                                -> CSV download
    GET /api/reports/charts/{chart}.svg?…   chart: volume, service_level, handle_time,
                                            timeline (agent states)

Bad input (period, unknown queue or agent, ...) is a 400 with {"error": reason}. A
few recent reports are kept for a short while: the page asks for the tables and
four charts of the same report at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from aiohttp import web

from hotline.reports import TABLES, Report, ReportError, ReportQuery, ReportSettings, build_report
from hotline.reports.charts import bar_chart, line_chart, timeline_chart
from hotline.store import Store
from hotline.web.auth import STATIC_DIR, Role, requires

CHARTS = ("volume", "service_level", "handle_time", "timeline")
CACHE_SECONDS = 30.0
CACHE_SIZE = 8


class Reports:
    """Builds reports for web requests, keeping the last few for CACHE_SECONDS."""

    def __init__(
        self,
        store: Store,
        settings: ReportSettings,
        queues: Iterable[str],
        agents: Iterable[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings
        self.queues = list(queues)
        self.agents = list(agents)
        self._cache: OrderedDict[tuple[Any, ...], tuple[float, Report]] = OrderedDict()

    def query(self, params: Any, timeline: bool = False) -> ReportQuery:
        today = datetime.now(self.settings.zone).date().isoformat()
        start = params.get("from") or today
        end = params.get("to") or (start if len(start) == 10 else "")
        if not end:
            raise ReportError("to is needed when from is a date-time")
        return ReportQuery(
            start,
            end,
            params.get("interval") or "hour",
            params.get("queue") or None,
            params.get("agent") or None,
            params.get("channel") or None,
            timeline=timeline,
        )

    async def report(self, params: Any, timeline: bool = False) -> Report:
        """The report of a request's query; `timeline`: with agent state stretches
        (only the timeline chart needs them: long periods have very many)."""
        query = self.query(params, timeline)
        key = tuple(vars(query).values())
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        report = await build_report(
            self.store,
            query,
            self.settings,
            queues=self.queues,
            agents=self.agents,
            now=self.clock(),
        )
        self._cache[key] = (now, report)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return report


def as_json(report: Report) -> dict[str, Any]:
    return {
        "heading": report.heading(),
        "period": {
            "from": report.period.start.isoformat(),
            "to": report.period.end.isoformat(),
            "timezone": report.period.zone.key,
            "interval": report.period.interval,
        },
        "tables": {
            name: {
                "title": table.title,
                "note": table.note,
                "columns": [vars(c) for c in table.columns],
                "rows": table.rows,
            }
            for name, table in report.tables.items()
            if name != "timeline"
        },
    }


def chart(report: Report, name: str) -> str:
    rows = report.tables["intervals"].rows
    labels = [r["interval"] for r in rows]
    days = {label[:10] for label in labels}
    if report.period.interval != "day" and len(days) == 1:
        labels = [label[11:] for label in labels]  # one day: the times say enough
    if name == "volume":
        return bar_chart(
            f"Contacts by {report.period.interval}",
            labels,
            {k: [r[k] for r in rows] for k in ("offered", "answered", "abandoned")},
        )
    if name == "service_level":
        s = report.settings
        target = s.sl_target
        if report.query.queue and report.query.queue in s.queues:
            target = s.queues[report.query.queue].sl_target or target
        return line_chart(
            "Service level",
            labels,
            {k: [r[k] for r in rows] for k in ("sl_offered", "sl_answered")},
            unit="%",
            y_max=100,
            target=target,
        )
    if name == "handle_time":
        return line_chart(
            "Average handle time and speed of answer",
            labels,
            {k: [r[k] for r in rows] for k in ("aht", "asa")},
            unit="s",
        )
    p = report.period
    return timeline_chart("Agent states", report.timeline, p.t0, p.t1, p.zone)


def add_report_routes(app: web.Application, reports: Reports) -> None:
    """The reports page and its API, for supervisors."""

    def bad(error: Exception) -> web.Response:
        return web.json_response({"error": str(error)}, status=400)

    @requires(Role.SUPERVISOR)
    async def page(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "reports" / "reports.html")

    @requires(Role.SUPERVISOR)
    async def tables(request: web.Request) -> web.Response:
        try:
            report = await reports.report(request.query)
        except ReportError as error:
            return bad(error)
        return web.json_response(as_json(report))

    @requires(Role.SUPERVISOR)
    async def csv(request: web.Request) -> web.Response:
        name = request.match_info["table"]
        if name not in TABLES:
            return web.json_response(
                {"error": f"no table {name!r}: tables are {', '.join(TABLES)}"}, status=404
            )
        try:
            report = await reports.report(request.query, timeline=name == "timeline")
        except ReportError as error:
            return bad(error)
        if name not in report.tables:
            return bad(ReportError(f"the {name} table is not made with a queue or agent filter"))
        return web.Response(
            text=report.tables[name].csv(),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="hotline-{name}.csv"'},
        )

    @requires(Role.SUPERVISOR)
    async def svg(request: web.Request) -> web.Response:
        name = request.match_info["chart"]
        if name not in CHARTS:
            return web.json_response(
                {"error": f"no chart {name!r}: charts are {', '.join(CHARTS)}"}, status=404
            )
        try:
            report = await reports.report(request.query, timeline=name == "timeline")
        except ReportError as error:
            return bad(error)
        return web.Response(text=chart(report, name), content_type="image/svg+xml")

    app.router.add_get("/reports", page)
    app.router.add_get("/api/reports", tables)
    app.router.add_get("/api/reports/{table}.csv", csv)
    app.router.add_get("/api/reports/charts/{chart}.svg", svg)
