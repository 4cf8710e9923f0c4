"""tests/pg.py: the private PostgreSQL server helper itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pg import PostgresServer, PostgresUnavailable, private_postgres, require_or_skip


def test_missing_binaries_are_reported(tmp_path: Path) -> None:
    with pytest.raises(PostgresUnavailable, match="PostgreSQL binaries not found in"):
        PostgresServer(tmp_path)


def test_missing_postgres_skips_unless_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOTLINE_REQUIRE_PG", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no postgres"):
        require_or_skip("no postgres")
    monkeypatch.setenv("HOTLINE_REQUIRE_PG", "1")
    with pytest.raises(
        pytest.fail.Exception, match=r"no postgres \(and HOTLINE_REQUIRE_PG is set\)"
    ):
        require_or_skip("no postgres")


@pytest.mark.pg
def test_private_postgres_is_loopback_only_and_cleaned_up() -> None:
    try:
        with private_postgres() as server:
            directory = server.dir
            assert server.url().startswith(
                f"postgresql+asyncpg://postgres@127.0.0.1:{server.port}/"
            )
            settings = server.psql("SHOW listen_addresses; SHOW unix_socket_directories;")
            assert "127.0.0.1" in settings and str(server.dir) in settings
            url = server.create_database("extra")
            assert url.endswith("/extra")
            assert directory.exists()
    except PostgresUnavailable as exc:
        require_or_skip(str(exc))
    assert not directory.exists()
