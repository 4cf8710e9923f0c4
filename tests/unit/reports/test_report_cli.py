"""`hotline report`: tables on stdout, CSV files, and bad input as exit 2 with the
reason on stderr."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from controller.cli import main
from hotline.store import Store, sqlite_url
from tests.unit.reports.golden import write_golden_log

CONFIG = """\
numbers: {"100": main}
reports:
  timezone: UTC
  sl_threshold: 20
"""


@pytest.fixture
def golden_db(tmp_path: Path) -> tuple[str, Path]:
    url = sqlite_url(str(tmp_path / "golden.db"))

    async def fill() -> None:
        store = await Store.connect(url)
        await store.migrate()
        await write_golden_log(store)
        await store.close()

    asyncio.run(fill())
    config = tmp_path / "hotline.yaml"
    config.write_text(CONFIG)
    return url, config


def test_report_prints_tables_and_writes_csv(
    golden_db: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, config = golden_db
    out = tmp_path / "csv"
    code = main(
        [
            "--config",
            str(config),
            "report",
            "--db",
            url,
            "--from",
            "2026-11-23T09:00",
            "--to",
            "2026-11-23T11:00",
            "--tables",
            "queues,agents,timeline",
            "--csv",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "(UTC, by hour)" in printed and "By queue and channel" in printed
    assert "Agent state timeline" not in printed  # timeline only goes to CSV
    assert sorted(p.name for p in out.iterdir()) == ["agents.csv", "queues.csv", "timeline.csv"]
    sales = [
        line for line in (out / "queues.csv").read_text().splitlines() if "sales,voice" in line
    ]
    assert sales[0].split(",")[2:4] == ["6", "3"]
    assert "a1,voice,idle," in (out / "timeline.csv").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--queue", "nope"], "unknown queue 'nope': known queues are sales, support"),
        (["--agent", "zz"], "unknown agent 'zz': known agents are a1, a2"),
        (["--tables", "queues,pies"], "unknown table(s) pies: tables are intervals, queues"),
        (["--from", "2026-11-24", "--to", "2026-11-23"], "empty period: to"),
        (["--from", "2026-11-23T09:00"], "--to is needed when --from is a date-time"),
        (["--timezone", "Moon/Base"], "unknown time zone 'Moon/Base'"),
    ],
)
def test_bad_input_exits_2_with_the_reason(
    golden_db: tuple[str, Path],
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    url, config = golden_db
    code = main(
        ["--config", str(config), "report", "--db", url, "--csv", str(tmp_path / "x"), *args]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("hotline report: ") and message in captured.err
    assert not (tmp_path / "x").exists()  # nothing written


def test_a_database_without_the_event_log_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "hotline.yaml"
    config.write_text(CONFIG)
    empty = sqlite_url(str(tmp_path / "empty.db"))
    assert main(["--config", str(config), "report", "--db", empty]) == 2
    err = capsys.readouterr().err
    assert "cannot read the event log in sqlite+aiosqlite:///" in err
    assert "no such table: contact_events" in err
