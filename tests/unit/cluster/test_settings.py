"""`routing:` in hotline.yaml: a call worker's settings, refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.config import load_config
from hotline.yamlsource import SourceError

BASE = """numbers:
  "100": main
{database}
routing:
{routing}
"""


def write(tmp_path: Path, routing: str, database: str = "") -> Path:
    path = tmp_path / "hotline.yaml"
    path.write_text(BASE.format(database=database, routing=routing))
    return path


PG = "database_url: postgresql+asyncpg://hotline@db/hotline"


def test_the_single_box_is_the_default(tmp_path: Path) -> None:
    path = tmp_path / "hotline.yaml"
    path.write_text('numbers:\n  "100": main\n')
    routing = load_config(path).routing
    assert (routing.mode, routing.domain, routing.nats_url) == (
        "local",
        "default",
        "nats://127.0.0.1:4222",
    )


def test_a_call_worker_on_postgresql(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "  mode: remote\n  domain: sales\n  nats_url: nats://a:4222,nats://b:4222",
        PG,
    )
    routing = load_config(path).routing
    assert routing.mode == "remote" and routing.domain == "sales"
    assert routing.servers == ["nats://a:4222", "nats://b:4222"]


@pytest.mark.parametrize(
    ("routing", "database", "error"),
    [
        (
            "  mode: remote",
            "",
            "routing.mode remote needs database_url on PostgreSQL: the leader and its "
            "workers share one event log (SQLite is one process: use routing.mode local)",
        ),
        (
            "  mode: remote",
            "database_url: sqlite+aiosqlite:///x.db",
            "routing.mode remote needs database_url on PostgreSQL",
        ),
        (
            "  mode: cluster",
            PG,
            ":5:9: routing.mode: expected 'local' or 'remote', got 'cluster'",
        ),
        (
            "  mode: remote\n  nats_url: http://nats:4222",
            PG,
            ":6:13: routing.nats_url: expected text matching ^(nats|tls)://",
        ),
        (
            "  mode: remote\n  domain: 'a b'",
            PG,
            ":6:11: routing.domain: expected text matching ^[A-Za-z0-9_-]+$, got 'a b'",
        ),
        (
            "  mode: remote\n  request_timeout: 0",
            PG,
            ":6:20: routing.request_timeout: input should be greater than or equal to 1, got 0",
        ),
        ("  mode: remote\n  nats: x", PG, ":6:3: routing.nats: unknown field"),
    ],
)
def test_what_cannot_work_is_refused_with_the_reason(
    tmp_path: Path, routing: str, database: str, error: str
) -> None:
    path = write(tmp_path, routing, database)
    with pytest.raises(SourceError) as refused:
        load_config(path)
    assert error in str(refused.value), str(refused.value)
    assert str(path) in str(refused.value)
