"""Report speed on a generated week of contacts (`hotline report` on 50,000 contacts).

    python bench/bench_reports.py [--quick] [--contacts N] [--seed S] [--keep FILE]

Generates a week (Monday to Sunday, UTC) of a contact centre into a fresh SQLite
database: 60 agents (45 voice, 15 chat) log in at 07:55, take lunch and log out at
21:00; contacts arrive 08:00-19:30 (80 % voice, 15 % chat, 5 % callbacks), some are
self-served in the flow, the rest queue for sales, support or billing, are answered
by the agent free first or give up after their patience. About 18 events per
contact, as the live adapters write them. Then it times reports over the whole week
(by day, by hour, by 15 minutes; filtered by queue and by agent), in-process and as
the `hotline report` command. Prints a Markdown section to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from hotline.reports import ReportQuery, ReportSettings, build_report
from hotline.store import Store, sqlite_url
from hotline.store.models import ContactEventRow, ContactRow, CustomerRow

HOME = Path(__file__).resolve().parents[1]
MONDAY = datetime(2026, 11, 16, tzinfo=UTC)
QUEUES = ("sales", "support", "billing")
VOICE_AGENTS = [f"v{i:02d}" for i in range(45)]
CHAT_AGENTS = [f"c{i:02d}" for i in range(15)]
RING = 5.0
WRAP = 30.0
SHORT = 5.0


@dataclass
class Week:
    """The generated rows and the totals a report must find in them."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    expected: Counter[str] = field(default_factory=Counter)


def generate_week(n_contacts: int, seed: int = 1) -> Week:
    """A deterministic week of `n_contacts` contacts (see the module docstring)."""
    rng = random.Random(seed)
    week = Week()
    created = MONDAY - timedelta(days=30)
    for i in range(max(1, n_contacts * 2 // 5)):
        week.customers.append(
            {"id": i + 1, "created_at": created, "phone": f"+1555{i:07d}", "attributes": {}}
        )
    n_customers = len(week.customers)
    raw: list[tuple[float, int, dict[str, Any]]] = []
    seq = 0

    def add(
        t: float,
        type: str,
        contact: str | None,
        data: dict[str, Any],
        queue: str | None = None,
        agent: str | None = None,
    ) -> None:
        nonlocal seq
        seq += 1
        raw.append(
            (
                t,
                seq,
                {"contact_id": contact, "type": type, "data": data, "queue": queue, "agent": agent},
            )
        )

    def move(
        t: float,
        action: str,
        agent: str,
        channel: str,
        src: str,
        dst: str,
        contact: str | None = None,
        queue: str | None = None,
        reason: str | None = None,
    ) -> None:
        data = {"at": t, "channel": channel, "from": src, "to": dst}
        if reason:
            data["reason"] = reason
        add(t, f"agent.{action}", contact, data, queue, agent)

    base = MONDAY.timestamp()
    per_day = [n_contacts // 7 + (1 if d < n_contacts % 7 else 0) for d in range(7)]
    for day in range(7):
        t_day = base + day * 86400
        pools: dict[str, list[tuple[float, str]]] = {}
        for channel, agents in (("voice", VOICE_AGENTS), ("chat", CHAT_AGENTS)):
            for a in agents:
                move(t_day + 7 * 3600 + 55 * 60, "login", a, channel, "offline", "available")
            pools[channel] = [(t_day + 8 * 3600, a) for a in agents]
        lunches = sorted(
            (t_day + 12 * 3600 + (i % 8) * 900, a, ch)
            for ch, agents in (("voice", VOICE_AGENTS), ("chat", CHAT_AGENTS))
            for i, a in enumerate(agents)
        )
        arrivals = sorted(rng.uniform(8 * 3600, 19.5 * 3600) + t_day for _ in range(per_day[day]))
        for arrival in arrivals:
            while lunches and lunches[0][0] <= arrival:
                target, a, ch = lunches.pop(0)
                pool = pools[ch]
                free = next(f for f, name in pool if name == a)
                p = max(target, free)
                move(p, "pause", a, ch, "available", "paused", reason="lunch")
                move(p + 1800, "unpause", a, ch, "paused", "available")
                pools[ch] = [(p + 1800 if name == a else f, name) for f, name in pool]
                heapq.heapify(pools[ch])
            _contact(week, rng, add, move, pools, arrival, n_customers)
        for ch, pool in pools.items():
            for free, a in pool:
                move(max(t_day + 21 * 3600, free + 1), "logout", a, ch, "available", "offline")
    raw.sort(key=lambda r: (r[0], r[1]))
    for t, _, row in raw:
        row["ts"] = datetime.fromtimestamp(t, UTC)
        week.events.append(row)
    return week


def _contact(
    week: Week,
    rng: random.Random,
    add: Any,
    move: Any,
    pools: dict[str, list[tuple[float, str]]],
    t: float,
    n_customers: int,
) -> None:
    exp = week.expected
    cid = str(uuid.uuid4())
    r = rng.random()
    channel = "voice" if r < 0.80 else "chat" if r < 0.95 else "callback"
    customer = rng.randrange(1, n_customers + 1) if rng.random() < 0.85 else None
    queue = rng.choice(QUEUES)
    status = "completed"
    exp["contacts"] += 1
    exp[f"contacts_{channel}"] += 1
    if channel == "voice":
        add(t, "call.arrived", cid, {"caller": "x", "dialed": "100", "via": "ari"})
        add(t + 0.2, "call.answered", cid, {})
        add(t + 0.3, "flow.started", cid, {"flow": "main", "version": "v1", "depth": 0})
        add(t + 0.4, "flow.node", cid, {"flow": "main", "node": "menu", "type": "menu"})
        t += 6
        r = rng.random()
        if r < 0.20:
            add(t, "flow.node", cid, {"flow": "main", "node": "balance", "type": "http"})
            exp["contained"] += 1
            return _end(week, cid, channel, customer, t - 6, t + 20, "completed", add)
        if r < 0.25:
            exp["ivr_hangups"] += 1
            return _end(week, cid, channel, customer, t - 6, t, "abandoned", add)
        add(t, "flow.node", cid, {"flow": "main", "node": f"to_{queue}", "type": "queue"})
    elif channel == "chat":
        add(t, "chat.started", cid, {"from": "customer"})
        t += 10
        if rng.random() < 0.10:
            exp["contained"] += 1
            return _end(week, cid, channel, customer, t - 10, t + 60, "completed", add)
    else:
        add(t, "callback.requested", cid, {"number": "+15550000000", "queue": queue}, queue)
        exp["callbacks_requested"] += 1
    start = t
    add(t, "contact.join", cid, {"at": t, "channel": channel, "detail": "priority 0"}, queue)
    exp["offered"] += 1
    pool = pools["chat" if channel == "chat" else "voice"]
    free, agent = pool[0]
    answer = max(t + 2, free) + RING
    patience = rng.expovariate(1 / 120)
    if answer - t > min(patience, 300):
        leave = t + min(patience, 300)
        outcome = "left" if patience < 300 else "timeout"
        add(
            leave, "contact.leave", cid, {"at": leave, "channel": channel, "detail": outcome}, queue
        )
        if outcome == "timeout":
            exp["overflow"] += 1
        elif leave - t < SHORT:
            exp["short_abandoned"] += 1
        else:
            exp["abandoned"] += 1
        status = "abandoned" if outcome == "left" else "completed"
        if channel == "callback":
            add(leave + 1, "callback.failed", cid, {"reason": "no agent"}, queue)
            exp["callbacks_failed"] += 1
        return _end(week, cid, channel, customer, start, leave + 1, status, add)
    heapq.heappop(pool)
    ch = "chat" if channel == "chat" else "voice"
    move(answer - RING, "reserve", agent, ch, "available", "reserved", cid, queue)
    add(answer - RING, "contact.offer", cid, {"at": 0, "channel": channel}, queue, agent)
    move(answer - RING, "ring", agent, ch, "reserved", "ringing", cid, queue)
    move(answer, "accept", agent, ch, "ringing", "busy", cid, queue)
    add(answer, "contact.answered", cid, {"at": 0, "channel": channel}, queue, agent)
    exp["answered"] += 1
    if answer - t <= 20:
        exp["answered_in_sl"] += 1
    talk = max(20.0, rng.expovariate(1 / 240))
    end = answer + talk
    if channel == "voice":
        add(answer + 0.1, "queue.connected", cid, {"agent": agent, "queue": queue, "waited": 0})
    move(end, "finish", agent, ch, "busy", "wrap_up", cid, queue)
    move(end + WRAP, "wrap_end", agent, ch, "wrap_up", "available")
    exp["handled"] += 1
    heapq.heappush(pool, (end + WRAP, agent))
    if channel == "callback":
        add(end, "callback.completed", cid, {"attempt": 1}, queue)
        exp["callbacks_completed"] += 1
    if rng.random() < 0.15:
        answers = {"q1": rng.randint(1, 5)}
        add(end + 5, "survey.answered", cid, {"survey": "csat", "node": "s", "answers": answers})
        exp["surveys"] += 1
    return _end(week, cid, channel, customer, start, end + 10, status, add)


def _end(
    week: Week,
    cid: str,
    channel: str,
    customer: int | None,
    start: float,
    end: float,
    status: str,
    add: Any,
) -> None:
    closing = "chat.closed" if channel == "chat" else "call.ended"
    add(end, closing, cid, {"status": status})
    week.contacts.append(
        {
            "id": cid,
            "channel": channel,
            "direction": "inbound",
            "customer_id": customer,
            "source": "x",
            "destination": "100",
            "status": status,
            "variables": {},
            "started_at": datetime.fromtimestamp(start, UTC),
            "ended_at": datetime.fromtimestamp(end, UTC),
        }
    )


async def write_week(store: Store, week: Week) -> None:
    """Bulk-insert the week (customers, contacts, then events in log order)."""
    for table, rows in (
        (CustomerRow.__table__, week.customers),
        (ContactRow.__table__, week.contacts),
        (ContactEventRow.__table__, week.events),
    ):
        for i in range(0, len(rows), 20_000):
            chunk = rows[i : i + 20_000]

            async def op(conn: Any, table: Any = table, chunk: list[Any] = chunk) -> None:
                await conn.execute(insert(table), chunk)

            await store.write(op, "bench insert")


async def _timed(store: Store, query: ReportQuery) -> tuple[float, Any]:
    t0 = time.perf_counter()
    report = await build_report(store, query, ReportSettings())
    return time.perf_counter() - t0, report


async def run(n: int, seed: int, db: Path) -> list[tuple[str, float]]:
    t0 = time.perf_counter()
    week = generate_week(n, seed)
    t_gen = time.perf_counter() - t0
    store = await Store.connect(sqlite_url(str(db)))
    await store.migrate()
    t0 = time.perf_counter()
    await write_week(store, week)
    t_write = time.perf_counter() - t0
    print(
        f"Generated {n:,} contacts, {len(week.events):,} events in {t_gen:.1f} s; "
        f"written to SQLite in {t_write:.1f} s.\n"
    )
    rows: list[tuple[str, float]] = []
    first, last = "2026-11-16", "2026-11-22"
    for label, query in (
        ("week by day", ReportQuery(first, last, "day")),
        ("week by hour", ReportQuery(first, last, "hour")),
        ("week by 15 min", ReportQuery(first, last, "15min")),
        ("week, queue support, by hour", ReportQuery(first, last, "hour", queue="support")),
        ("week, agent v07, by day", ReportQuery(first, last, "day", agent="v07")),
        ("week by day, with agent timeline", ReportQuery(first, last, "day", timeline=True)),
        ("one day by hour", ReportQuery("2026-11-18", "2026-11-18", "hour")),
    ):
        seconds, report = await _timed(store, query)
        rows.append((label, seconds))
        if label == "week by day":
            total = report.tables["queues"].rows[-1]
            assert total["offered"] == week.expected["offered"], (total, week.expected)
            assert total["answered"] == week.expected["answered"]
            assert total["handled"] == week.expected["handled"]
    await store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 contacts")
    parser.add_argument("--contacts", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep the database in this file")
    args = parser.parse_args()
    n = args.contacts or (10_000 if args.quick else 50_000)
    command = "python bench/bench_reports.py" + (" --quick" if args.quick else "")
    if args.contacts:
        command += f" --contacts {args.contacts}"
    print("## Reports on a generated week\n")
    print(f"Command: `{command}`  ")
    print(
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
        f"{platform.python_version()}, SQLite {__import__('sqlite3').sqlite_version}; "
        f"load average {os.getloadavg()[0]:.1f} at the start (a shared machine is slower)  "
    )
    with tempfile.TemporaryDirectory() as tmp:
        db = args.keep or Path(tmp) / "week.db"
        rows = asyncio.run(run(n, args.seed, db))
        t0 = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "controller.cli",
                "report",
                "--db",
                sqlite_url(str(db)),
                "--from",
                "2026-11-16",
                "--to",
                "2026-11-22",
                "--interval",
                "hour",
                "--timezone",
                "UTC",
                "--csv",
                str(Path(tmp) / "csv"),
            ],
            cwd=HOME,
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(
            ("`hotline report` week by hour + CSV (whole command)", time.perf_counter() - t0)
        )
        assert "By queue and channel" in done.stdout
    print("| report | seconds |")
    print("|---|---:|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} |")
    print(
        "\nIn-process times are `build_report` (all tables but the timeline, from a cold\n"
        "connection); the last line is the whole `hotline report` command, Python start-up\n"
        "and CSV files included. About half of a week's report is SQLite reading the agent\n"
        "transitions and queue events (JSON fields extracted in SQL), the rest folding them\n"
        "in Python. The benchmark asserts the report's totals against the generator's; so\n"
        "does `tests/unit/reports/test_report_generated.py` on a 2,000-contact week.\n"
    )


if __name__ == "__main__":
    main()
