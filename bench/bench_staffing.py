"""The routing engine against Erlang C: simulated days through hotline.acd.Router.

    python bench/bench_staffing.py [--quick] [--days N] [--no-write]

For each centre (calls an hour, 180 s handle time, 24-hour days of constant load) it
sizes the agents by Erlang C for 80 % answered in 20 s, runs `days` independent days of
Poisson arrivals and exponential handle times through the Router (offers answered at
once, no wrap-up: Erlang C's model), and compares the pooled service level and ASA with
Erlang C's. One day scatters by about 3 points around the prediction (the spread per day
is shown), so days are pooled; the check is that the pooled figure is within 2 points,
with 0 capacity violations, 0 overtakes at equal priority and no agent idle while a
contact waits. Exits 1 if a check fails (not with --quick: too few days to be sure).
Writes its section of docs/benchmarks.md (between its markers) unless --no-write.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hotline.staffing.erlang import asa
from hotline.staffing.simulation import DayPlan, DayResult, simulate_day

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN = "<!-- bench_staffing: begin (written by python bench/bench_staffing.py) -->"
END = "<!-- bench_staffing: end -->"
AHT = 180.0
CENTRES = (200.0, 1000.0)  # calls an hour: 10 and 50 Erlangs
TOLERANCE = 0.02


def run(rate: float, days: int, hours: float) -> dict[str, float]:
    plan = DayPlan(rate=rate, hours=hours, aht=AHT, target=0.80, threshold=20.0, seed=1)
    started = time.process_time()
    daily: list[float] = []
    pooled: DayResult | None = None
    for day in range(days):
        one = simulate_day(DayPlan(plan.rate, plan.hours, plan.aht, seed=1 + day))
        daily.append(one.measured_sl)
        if pooled is None:
            pooled = one
            continue
        for name in (
            "contacts",
            "answered",
            "within",
            "total_wait",
            "capacity_violations",
            "overtakes",
            "idle_while_waiting",
            "busy_seconds",
        ):
            setattr(pooled, name, getattr(pooled, name) + getattr(one, name))
    assert pooled is not None
    traffic = rate * AHT / 3600.0
    return {
        "rate": rate,
        "traffic": traffic,
        "agents": pooled.agents,
        "days": days,
        "contacts": pooled.contacts,
        "predicted": pooled.predicted_sl,
        "measured": pooled.measured_sl,
        "day_min": min(daily),
        "day_max": max(daily),
        "day_sd": statistics.stdev(daily) if len(daily) > 1 else 0.0,
        "asa_predicted": asa(pooled.agents, traffic, AHT),
        "asa_measured": pooled.asa,
        "occupancy": pooled.busy_seconds / (pooled.agents * hours * 3600.0 * days),
        "violations": pooled.capacity_violations,
        "overtakes": pooled.overtakes,
        "idle": pooled.idle_while_waiting,
        "cpu": time.process_time() - started,
    }


def ok(row: dict[str, float]) -> bool:
    return (
        abs(row["measured"] - row["predicted"]) <= TOLERANCE
        and row["violations"] == 0
        and row["overtakes"] == 0
        and row["idle"] == 0
    )


def section(rows: list[dict[str, float]], command: str) -> str:
    lines = [
        BEGIN,
        "## Staffing: the routing engine against Erlang C",
        "",
        f"`{command}` (pure Python, no Asterisk). Days of 24 hours at a constant rate, "
        f"handle time exponential with mean {AHT:.0f} s, agents sized by Erlang C for "
        "80 % in 20 s, offers answered at once (no ring time, no wrap-up: the model's "
        "assumptions), one queue, equal priority. Service level pooled over the days; "
        "one day's own figure scatters (min-max and sd per day shown), as an M/M/N "
        "queue's does. The unit test (tests/unit/staffing/test_simulation.py) also "
        "checks each day contact by contact against an ideal FCFS M/M/N queue.",
        "",
        "| calls/h | Erlangs | agents | days | contacts | SL predicted | SL measured | "
        "difference | one day: min-max (sd) | ASA predicted | ASA measured | occupancy | "
        "capacity violations | overtakes | idle while waiting | CPU s | check |",
        "|" + "---|" * 17,
    ]
    for r in rows:
        lines.append(
            f"| {r['rate']:.0f} | {r['traffic']:.0f} | {r['agents']:.0f} | {r['days']:.0f} | "
            f"{r['contacts']:.0f} | {100 * r['predicted']:.2f} % | {100 * r['measured']:.2f} % | "
            f"{100 * (r['measured'] - r['predicted']):+.2f} | "
            f"{100 * r['day_min']:.1f}-{100 * r['day_max']:.1f} % ({100 * r['day_sd']:.1f}) | "
            f"{r['asa_predicted']:.1f} s | {r['asa_measured']:.1f} s | "
            f"{100 * r['occupancy']:.1f} % | {r['violations']:.0f} | {r['overtakes']:.0f} | "
            f"{r['idle']:.0f} | {r['cpu']:.0f} | {'pass' if ok(r) else 'FAIL'} |"
        )
    lines.append(END)
    return "\n".join(lines)


def write_section(text: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    if BEGIN in doc and END in doc:
        before, rest = doc.split(BEGIN, 1)
        doc = before + text + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    DOC.write_text(doc, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer days (a looser figure)")
    parser.add_argument("--days", type=int, help="days per centre (default 60, quick 10)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    days = args.days or (10 if args.quick else 60)
    rows = [run(rate, days, 24.0) for rate in CENTRES]
    command = "python bench/bench_staffing.py" + (f" --days {days}" if args.days else "")
    if args.quick:
        command += " --quick"
    text = section(rows, command)
    print(text)
    if not args.no_write:
        write_section(text)
    if args.quick:
        # 10 days pool to about 1 point (sd) around the prediction: a report, not a check.
        return 0
    return 0 if all(ok(r) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
