"""A private PostgreSQL server for tests.

Use it from a conftest.py:

    from tests.pg import pg_server, pg_url  # noqa: F401  (pytest fixtures)

    async def test_something(pg_url):          # a fresh, empty database per test
        store = await Store.connect(pg_url)

`pg_server` (session scope) starts one PostgreSQL 15 cluster for the whole run, as the
`postgres` system user when we are root: initdb into a temporary directory, listening
only on 127.0.0.1 on a free port, unix socket in that directory, trust authentication.
It is stopped and deleted at the end. `pg_url` (function scope) creates a new database
on it and gives its postgresql+asyncpg URL. Without PostgreSQL binaries both skip, or
fail if HOTLINE_REQUIRE_PG=1. Outside pytest use `private_postgres()`.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.ports import free_port

PG_BIN = Path(os.environ.get("HOTLINE_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"  # the system user that runs the server when we are root
DB_USER = "postgres"  # the database superuser initdb creates
REQUIRE_ENV = "HOTLINE_REQUIRE_PG"

# Durability is not what these tests measure; this makes the test server fast.
_FAST = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here (no binaries, no postgres user)."""


def _free_port() -> int:
    """A TCP port no other test process is given (tests/e2e/ports.py)."""
    return free_port(hold=True)


class PostgresServer:
    """One private PostgreSQL cluster in a temporary directory."""

    def __init__(self, bin_dir: Path = PG_BIN) -> None:
        self.bin_dir = bin_dir
        missing = [b for b in ("initdb", "pg_ctl", "psql") if not (bin_dir / b).is_file()]
        if missing:
            raise PostgresUnavailable(
                f"PostgreSQL binaries not found in {bin_dir} ({', '.join(missing)}); "
                "install Debian's postgresql package or set HOTLINE_PG_BIN"
            )
        self.as_root = os.geteuid() == 0
        if self.as_root:
            try:
                self._pw = pwd.getpwnam(PG_USER)
            except KeyError:
                raise PostgresUnavailable(f"no system user {PG_USER!r} to run PostgreSQL") from None
        self.dir = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
        self.data = self.dir / "data"
        self.socket_dir = self.dir
        self.log = self.dir / "server.log"
        self.port = 0
        self.running = False
        self._names = itertools.count(1)
        #: A psql session that drops the tests' databases as they finish (`drop_soon`).
        self._dropper: subprocess.Popen[bytes] | None = None
        if self.as_root:
            os.chown(self.dir, self._pw.pw_uid, self._pw.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            DB_USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )

    def _command(self, tool: str, *args: str) -> list[str]:
        """A PostgreSQL tool's command line (as the postgres user when root)."""
        cmd = [str(self.bin_dir / tool), *args]
        return ["runuser", "-u", PG_USER, "--", *cmd] if self.as_root else cmd

    def _run(self, tool: str, *args: str) -> str:
        """Run a PostgreSQL tool (as the postgres user when root); its output, or an error."""
        cmd = self._command(tool, *args)
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=self.dir, timeout=120)
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{tool} failed ({proc.returncode}): {proc.stderr.strip()}\n{log}".strip()
            )
        return proc.stdout

    def start(self) -> None:
        """Start the server (again on the same port after a stop)."""
        if self.running:
            return
        if not self.port:
            self.port = _free_port()
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-p {self.port}",
                f"-k {self.socket_dir}",
                *(f"-c {o}" for o in _FAST),
            ]
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (mode: smart, fast or immediate)."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
            self.running = False

    def url(self, database: str = "postgres") -> str:
        """The postgresql+asyncpg URL of `database` on this server."""
        return f"postgresql+asyncpg://{DB_USER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres", *, bare: bool = False) -> str:
        """Run SQL with psql over TCP; its output (`bare`: the values alone, no headers)."""
        options = ("-t", "-A") if bare else ()
        return self._run("psql", *options, *self._session(database), "-c", sql)

    def _session(self, database: str, *, stop_on_error: bool = True) -> tuple[str, ...]:
        """psql's options for a session on `database` over TCP."""
        stop = ("-v", "ON_ERROR_STOP=1") if stop_on_error else ()
        where = ("-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER, "-d", database)
        return ("-X", "-q", *stop, *where)

    def drop_soon(self, url: str) -> None:
        """Drop the database at `url` without waiting: a test's database goes as the
        test ends, its files deleted by the server while the next tests run. Left to the
        end, a worker's few hundred databases took 13-37 s to delete in its last test's
        teardown, every worker at the same moment."""
        if self._dropper is None or self._dropper.poll() is not None:
            # A drop that fails (a test dropped it itself) must not stop the ones after it.
            session = self._session("postgres", stop_on_error=False)
            with (self.dir / "drops.log").open("ab") as log:
                self._dropper = subprocess.Popen(
                    self._command("psql", *session),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    cwd=self.dir,
                )
        assert self._dropper.stdin is not None
        name = url.rsplit("/", 1)[1]
        self._dropper.stdin.write(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);\n'.encode())
        self._dropper.stdin.flush()

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        """Create a new database, empty or a copy of `template`; its URL."""
        name = name or f"test_{next(self._names)}"
        copy = f' TEMPLATE "{template}"' if template else ""
        self.psql(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def cleanup(self) -> None:
        """Stop the server and delete its directory."""
        dropper, self._dropper = self._dropper, None
        if dropper is not None and dropper.stdin is not None:
            dropper.stdin.close()  # it drops the last few, then ends
            try:
                dropper.wait(30)
            except subprocess.TimeoutExpired:
                dropper.kill()  # (runuser's psql then ends with the server)
                dropper.wait()
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def private_postgres(bin_dir: Path = PG_BIN) -> Iterator[PostgresServer]:
    """A started private PostgreSQL server, stopped and deleted on exit."""
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


def require_or_skip(reason: str) -> None:
    """Skip the test, or fail it when HOTLINE_REQUIRE_PG is set."""
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{reason} (and {REQUIRE_ENV} is set)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for the whole test session."""
    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        require_or_skip(str(exc))
        raise  # unreachable: skip/fail raise
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """The postgresql+asyncpg URL of a fresh, empty database (dropped after the test)."""
    url = pg_server.create_database()
    yield url
    pg_server.drop_soon(url)
