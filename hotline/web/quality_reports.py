"""The quality and staffing reports on the web, for supervisors:

    GET /reports/quality    the page (static/contact/quality.html)
    GET /api/quality?from=&to=&form=&agent=&queue=     -> {"tables": {...}}
    GET /api/quality/{table}.csv?…                    CSV download
    GET /api/quality/chart.svg?…                      average score and pass rate by day

    GET /reports/staffing   the page (static/contact/staffing.html)
    GET /api/staffing?date=&days=&interval=&queue=     -> {"table": ..., "target", ...}
    GET /api/staffing.csv?…                            CSV download
    GET /api/staffing/chart.svg?…                      agents needed, scheduled, logged in

Bad input is a 400 with {"error": reason}.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from aiohttp import web

from hotline.config import HotlineConfig
from hotline.quality.evaluations import Evaluations
from hotline.reports.charts import bar_chart, line_chart
from hotline.reports.errors import ReportError
from hotline.reports.quality import quality_report
from hotline.reports.settings import ReportSettings
from hotline.reports.staffing import StaffingQuery, StaffingReport, staffing_report
from hotline.reports.tables import Table
from hotline.staffing.settings import StaffingSettings
from hotline.store import Store
from hotline.web.auth import STATIC_DIR, Role, requires
from hotline.web.reports_web import Reports, add_report_routes


def _day(raw: str | None, name: str, default: date) -> date:
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ReportError(f"{name} must be a date (YYYY-MM-DD)") from None


def table_json(table: Table) -> dict[str, Any]:
    return {
        "name": table.name,
        "title": table.title,
        "columns": [{"key": c.key, "title": c.title, "kind": c.kind} for c in table.columns],
        "rows": table.rows,
        "note": table.note,
    }


def _csv(table: Table) -> web.Response:
    return web.Response(
        text=table.csv(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="hotline-{table.name}.csv"'},
    )


def _bad(error: Exception) -> web.Response:
    return web.json_response({"error": str(error)}, status=400)


def add_quality_report_routes(
    app: web.Application,
    store: Store,
    evaluations: Evaluations,
    settings: ReportSettings,
    staffing: StaffingSettings,
    queues: Iterable[str] = (),
    agents: Iterable[str] = (),
    today: Callable[[], date] | None = None,
) -> None:
    queue_names, agent_names = list(queues), list(agents)

    def local_today() -> date:
        return today() if today is not None else datetime.now(settings.zone).date()

    async def quality(params: Mapping[str, str]) -> dict[str, Table]:
        end = _day(params.get("to"), "to", local_today())
        start = _day(params.get("from"), "from", end)
        return await quality_report(
            evaluations,
            settings.zone,
            start,
            end,
            form=params.get("form") or None,
            agent=params.get("agent") or None,
            queue=params.get("queue") or None,
        )

    async def staffing_of(params: Mapping[str, str]) -> StaffingReport:
        raw_days = params.get("days") or "1"
        if not raw_days.isdigit():
            raise ReportError("days must be a whole number")
        query = StaffingQuery(
            _day(params.get("date"), "date", local_today()),
            int(raw_days),
            params.get("interval") or "hour",
            params.get("queue") or None,
            params.get("channel") or "voice",
        )
        return await staffing_report(
            store, query, settings, staffing, queues=queue_names, agents=agent_names
        )

    @requires(Role.SUPERVISOR)
    async def quality_page(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "contact" / "quality.html")

    @requires(Role.SUPERVISOR)
    async def quality_json(request: web.Request) -> web.Response:
        try:
            tables = await quality(request.query)
        except ReportError as error:
            return _bad(error)
        return web.json_response({"tables": {n: table_json(t) for n, t in tables.items()}})

    @requires(Role.SUPERVISOR)
    async def quality_csv(request: web.Request) -> web.Response:
        try:
            tables = await quality(request.query)
        except ReportError as error:
            return _bad(error)
        name = request.match_info["table"]
        if name not in tables:
            return web.json_response(
                {"error": f"no table {name!r}: tables are {', '.join(tables)}"}, status=404
            )
        return _csv(tables[name])

    @requires(Role.SUPERVISOR)
    async def quality_svg(request: web.Request) -> web.Response:
        try:
            rows = (await quality(request.query))["quality_days"].rows
        except ReportError as error:
            return _bad(error)
        svg = line_chart(
            "Evaluation score and pass rate by day",
            [r["day"] for r in rows],
            {k: [r[k] for r in rows] for k in ("avg_score", "pass_rate")},
            unit="%",
            y_max=100,
        )
        return web.Response(text=svg, content_type="image/svg+xml")

    @requires(Role.SUPERVISOR)
    async def staffing_page(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "contact" / "staffing.html")

    @requires(Role.SUPERVISOR)
    async def staffing_json(request: web.Request) -> web.Response:
        try:
            report = await staffing_of(request.query)
        except ReportError as error:
            return _bad(error)
        return web.json_response(
            {
                "table": table_json(report.table),
                "target": report.target,
                "threshold": report.threshold,
                "shrinkage": report.shrinkage,
                "history": [d.isoformat() for d in report.history],
            }
        )

    @requires(Role.SUPERVISOR)
    async def staffing_csv(request: web.Request) -> web.Response:
        try:
            report = await staffing_of(request.query)
        except ReportError as error:
            return _bad(error)
        return _csv(report.table)

    @requires(Role.SUPERVISOR)
    async def staffing_svg(request: web.Request) -> web.Response:
        try:
            report = await staffing_of(request.query)
        except ReportError as error:
            return _bad(error)
        rows = report.table.rows
        labels = [r["interval"][11:16] if report.query.days == 1 else r["interval"] for r in rows]
        kind = request.query.get("chart", "agents")
        if kind == "contacts":
            svg = bar_chart(
                "Contacts: forecast and offered",
                labels,
                {k: [r[k] for r in rows] for k in ("forecast", "offered")},
            )
        else:
            svg = line_chart(
                "Agents needed, scheduled and logged in",
                labels,
                {k: [r[k] for r in rows] for k in ("agents", "scheduled", "logged_in")},
            )
        return web.Response(text=svg, content_type="image/svg+xml")

    app.router.add_get("/reports/quality", quality_page)
    app.router.add_get("/api/quality", quality_json)
    app.router.add_get("/api/quality/chart.svg", quality_svg)
    app.router.add_get("/api/quality/{table}.csv", quality_csv)
    app.router.add_get("/reports/staffing", staffing_page)
    app.router.add_get("/api/staffing", staffing_json)
    app.router.add_get("/api/staffing.csv", staffing_csv)
    app.router.add_get("/api/staffing/chart.svg", staffing_svg)


def add_all_report_routes(
    app: web.Application, store: Store, evaluations: Evaluations, config: HotlineConfig
) -> None:
    """The reports pages and API and the quality and staffing reports, as configured."""
    agents = [a.id for a in config.agents]
    add_report_routes(app, Reports(store, config.reports, config.queues, agents))
    add_quality_report_routes(
        app, store, evaluations, config.reports, config.staffing, config.queues, agents
    )
