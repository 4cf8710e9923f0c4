"""`hotline report …`: metrics from the event log as tables on the terminal and CSV.

    hotline report                                  # today, by hour
    hotline report --from 2026-03-23 --to 2026-03-29 --interval day --csv out/
    hotline report --from yesterday --queue support --channel voice --tables queues,agents

Every metric's formula is in docs/metrics.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import OperationalError, ProgrammingError

from controller.app import database_url
from controller.paths import ProjectPaths
from hotline.config import load_config
from hotline.reports import TABLES, ReportError, ReportQuery, ReportSettings, build_report
from hotline.reports.periods import INTERVALS
from hotline.reports.settings import zone
from hotline.store import Store, StoreError
from hotline.yamlsource import SourceError

EXIT_BAD_INPUT = 2
DEFAULT_TABLES = (
    "intervals",
    "queues",
    "agents",
    "channels",
    "ivr",
    "wrap_ups",
    "handling_queues",
    "handling_agents",
)


def add_report_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `report` to the `hotline` command."""
    report = subparsers.add_parser(
        "report", help="service level, handle time, agents, FCR, CSAT… from the event log"
    )
    report.add_argument(
        "--from",
        dest="start",
        default="today",
        help="date or date-time (2026-03-29, 2026-03-29T08:00), today or yesterday (default today)",
    )
    report.add_argument(
        "--to", dest="end", help="date (included) or date-time (excluded); default: the --from day"
    )
    report.add_argument("--interval", choices=list(INTERVALS), default="hour")
    report.add_argument("--queue", help="only this queue")
    report.add_argument("--agent", help="only this agent")
    report.add_argument("--channel", help="only voice, chat or callback")
    report.add_argument(
        "--tables",
        default=",".join(DEFAULT_TABLES),
        help=f"which tables, comma-separated: {', '.join(TABLES)}",
    )
    report.add_argument("--csv", type=Path, metavar="DIR", help="also write DIR/<table>.csv")
    report.add_argument("--timezone", help="IANA zone (default: reports.timezone of the config)")
    report.add_argument("--db", help="database URL (default: the config's)")
    report.set_defaults(func=report_command)
    return report


def _day(text: str, today: date) -> str:
    """`today` and `yesterday` as dates (ISO text); anything else as given."""
    named = {"today": today, "yesterday": today - timedelta(days=1)}
    return named[text].isoformat() if text in named else text


def report_command(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_report(args))
    except (ReportError, SourceError, StoreError, ValueError, OSError) as error:
        print(f"hotline report: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


async def _report(args: argparse.Namespace) -> int:
    paths = ProjectPaths.discover()
    config_file = Path(args.config) if getattr(args, "config", None) else paths.config_file
    config = load_config(config_file) if config_file.exists() or not args.db else None
    settings = config.reports if config else ReportSettings()
    if args.timezone:
        settings = settings.model_copy(update={"timezone": args.timezone})
    today = datetime.now(zone(settings.timezone)).date()
    start = _day(args.start, today)
    end = _day(args.end, today) if args.end else (start if len(start) == 10 else None)
    if end is None:
        raise ReportError("--to is needed when --from is a date-time")
    tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise ReportError(f"unknown table(s) {', '.join(unknown)}: tables are {', '.join(TABLES)}")
    query = ReportQuery(
        start,
        end,
        args.interval,
        args.queue,
        args.agent,
        args.channel,
        timeline="timeline" in tables,
    )
    if args.db:
        url = args.db
    else:
        assert config is not None, "the config is loaded whenever --db is not given"
        url = database_url(config, paths)
    store = await Store.connect(url, retry_for=2.0)
    try:
        report = await build_report(
            store,
            query,
            settings,
            queues=config.queues if config else (),
            agents=[a.id for a in config.agents] if config else (),
        )
    except (OperationalError, ProgrammingError) as error:
        raise ReportError(
            f"cannot read the event log in {store.url!r}: {error.orig} "
            "(is this Hotline's database? `hotline run` creates its tables)"
        ) from None
    finally:
        await store.close()
    print(report.text(tables), end="")
    if args.csv:
        args.csv.mkdir(parents=True, exist_ok=True)
        for name in tables:
            if name in report.tables:
                (args.csv / f"{name}.csv").write_text(report.tables[name].csv())
        print(
            f"\nCSV written to {args.csv}/ ({', '.join(t for t in tables if t in report.tables)})"
        )
    return 0
