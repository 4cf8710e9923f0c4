"""A generated week (bench/bench_reports.py, here 2,000 contacts): the report finds
exactly the totals the generator counted while making it. Speed is measured by the
benchmark, not here."""

from __future__ import annotations

from bench.bench_reports import generate_week, write_week
from hotline.reports import ReportQuery, ReportSettings, build_report
from hotline.store import Store


async def test_report_totals_match_the_generated_week(store: Store) -> None:
    week = generate_week(2_000, seed=7)
    await write_week(store, week)
    expected = week.expected
    r = await build_report(store, ReportQuery("2026-11-16", "2026-11-22", "day"), ReportSettings())
    total = r.tables["queues"].rows[-1]
    assert total["queue"] == "all"
    for key in ("offered", "answered", "abandoned", "short_abandoned", "overflow", "handled"):
        assert total[key] == expected[key], key
    assert total["sl_answered"] == 100 * expected["answered_in_sl"] / expected["answered"]
    assert total["callbacks_requested"] == expected["callbacks_requested"]
    assert total["callbacks_completed"] == expected["callbacks_completed"]
    assert total["callbacks_failed"] == expected["callbacks_failed"]
    channels = {row["channel"]: row for row in r.tables["channels"].rows}
    assert sum(row["contacts"] for row in channels.values()) == expected["contacts"]
    assert sum(row["contained"] for row in channels.values()) == expected["contained"]
    assert sum(row["csat_responses"] for row in channels.values()) == expected["surveys"]
    days = r.tables["intervals"].rows
    assert len(days) == 7 and sum(d["offered"] for d in days) == expected["offered"]
    # Agents: every handled contact is some agent's, and nobody works more than they
    # are logged in.
    agents = r.tables["agents"].rows
    assert sum(a["handled"] for a in agents) == expected["handled"]
    assert all(a["handling"] + a["wrap"] <= a["logged_in"] + 1e-6 for a in agents)
    assert all(0 <= a["occupancy"] <= 100 for a in agents if a["occupancy"] is not None)
