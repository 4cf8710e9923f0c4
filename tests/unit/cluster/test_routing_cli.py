"""`hotline routing` refuses what cannot work, with the reason."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import pytest

from controller.cli import main
from controller.stop_requests import StopRequests
from tests.e2e.ports import free_port

CONFIG = """
numbers:
  "100": main
{database}
queues:
  support: {{}}
"""


def config(tmp_path: Path, database: str = "") -> str:
    path = tmp_path / "hotline.yaml"
    path.write_text(CONFIG.format(database=database))
    return str(path)


def test_without_a_database_it_says_to_use_postgresql(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", config(tmp_path), "routing", "--domain", "sales"]) == 2
    assert capsys.readouterr().err == (
        "hotline routing: no database_url: a routing leader and its standby share one "
        "PostgreSQL (on SQLite Hotline is one process: use `hotline run`)\n"
    )


def test_on_sqlite_it_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "hotline.db"
    path = config(tmp_path, f"database_url: sqlite+aiosqlite:///{db}")
    assert main(["--config", path, "routing"]) == 2
    assert capsys.readouterr().err == (
        "hotline routing: leader election needs PostgreSQL, not sqlite (on SQLite Hotline "
        "is one process: use `hotline run`)\n"
    )
    assert not db.exists()  # nothing created


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--domain", ""], "routing domain must be 1 to 100 characters, got ''"),
        (["--lease", "0.5"], "lease must be at least 1 second, got 0.5"),
    ],
)
def test_bad_options_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], error: str
) -> None:
    path = config(tmp_path, "database_url: postgresql://nobody@127.0.0.1:1/none")
    assert main(["--config", path, "routing", *args]) == 2
    assert capsys.readouterr().err == f"hotline routing: {error}\n"


def test_nats_down_at_start_is_said_and_nothing_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    path = config(tmp_path, "database_url: postgresql://nobody@127.0.0.1:1/none")
    nats = f"nats://127.0.0.1:{port}"
    assert main(["--config", path, "routing", "--nats", nats]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hotline routing: cannot reach NATS at {nats} within 5 s: "), err
    assert "is nats-server running?" in err


def test_a_stop_signal_while_it_starts_is_taken_once_its_loop_runs(
    tmp_path: Path, pg_url: str, caplog: pytest.LogCaptureFixture, stop_requests: StopRequests
) -> None:
    """Ctrl-C while `hotline routing` reads its config (pydantic's validators, where a
    KeyboardInterrupt can be lost) stays a request: the node starts, then stops at once
    and cleanly (0, its candidacy given up), not an exception wherever it came."""
    import controller.cli

    path = config(tmp_path, f"database_url: {pg_url}")
    read = controller.cli.checked_config

    def read_then_ctrl_c(*args: object) -> object:
        os.kill(os.getpid(), signal.SIGINT)  # handled at the next bytecode
        return read(*args)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(controller.cli, "checked_config", read_then_ctrl_c)
        caplog.set_level(logging.INFO)
        started = time.monotonic()
        assert main(["--config", path, "routing", "--no-bus", "--domain", "t1"], stop_requests) == 0
    assert stop_requests.requested()
    assert time.monotonic() - started < 10
    assert "routing domain 't1': " in caplog.text  # it did start
