"""`hotline edge`: the SIP edge (Kamailio) in front of several Asterisk nodes.

    hotline edge config [--out DIR]   # write kamailio.cfg and dispatcher.list, check them
    hotline edge run                  # the same, the location tables, then run Kamailio

The config comes from the `edge:` section of hotline.yaml (hotline/cluster/edge.py) and
the template config/kamailio/kamailio.cfg.j2; the agents' SIP passwords are the
generated ones in the state folder's secrets.yaml (copy it to every box of a cluster:
a phone signs in at the edge with the password the desk shows). Every rendered config
is checked with `kamailio -c` before it is used. `run` creates Kamailio's own tables
(`version`, `location`, from the SQL Debian's kamailio package ships) in
edge.database_url when they are missing, then runs Kamailio in the foreground until
SIGINT/SIGTERM, which it passes on.
"""

from __future__ import annotations

import argparse
import asyncio
import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # ships no type hints
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from hotline.cluster.edge import EdgeConfig
from hotline.cluster.leader import asyncpg_dsn

#: Kamailio's PostgreSQL schema, as Debian's kamailio package ships it.
SCHEMA_DIR = Path("/usr/share/kamailio/postgres")
#: The tables the edge uses, by the file that creates them (in this order).
SCHEMA = {"version": "standard-create.sql", "location": "usrloc-create.sql"}
EXIT_CONFIG = 2
EXIT_KAMAILIO = 3


class EdgeError(Exception):
    """The edge cannot be configured or started; the message says why."""


def kamailio_binary() -> str:
    found = shutil.which("kamailio") or (
        "/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None
    )
    if found is None:
        raise EdgeError(
            "kamailio is not installed: apt-get install kamailio kamailio-postgres-modules "
            "(scripts/setup.sh test installs them)"
        )
    return found


def render(
    edge: EdgeConfig,
    passwords: dict[str, str],
    home: Path,
    out: Path,
    *,
    foreground: bool = True,
    children: int = 4,
    log_level: int = 1,
    browser_phones: bool = False,
) -> Path:
    """Write kamailio.cfg (mode 0600: it holds the agents' passwords) and
    dispatcher.list into `out`; the config's path. `browser_phones`: the desks' phones
    register here too (`<endpoint>-web` over WebSocket on edge.ws_port)."""
    out.mkdir(parents=True, exist_ok=True)
    nodes = out / "dispatcher.list"
    nodes.write_text(
        "# Rendered by Hotline from the edge: section of hotline.yaml: set 1, the nodes.\n"
        + "".join(f"1 sip:{node}\n" for node in edge.nodes)
    )
    env = Environment(
        loader=FileSystemLoader(home / "config/kamailio"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    text = env.get_template("kamailio.cfg.j2").render(
        edge=edge,
        passwords=sorted(passwords.items()),
        dispatcher_list=str(nodes.resolve()),
        foreground=foreground,
        children=children,
        log_level=log_level,
        browser_phones=browser_phones,
    )
    target = out / "kamailio.cfg"
    fd = os.open(target.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    target.with_suffix(".tmp").replace(target)
    return target


def check(config_file: Path) -> None:
    """`kamailio -c`: EdgeError with Kamailio's own words when it refuses the file."""
    done = subprocess.run(
        [kamailio_binary(), "-c", "-f", str(config_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        said = [
            line
            for line in (done.stderr + done.stdout).splitlines()
            if re.search(r"ERROR|CRITICAL|error", line)
        ]
        raise EdgeError(
            f"kamailio -c refused {config_file}:\n" + "\n".join(said[-12:] or [done.stderr])
        )


async def prepare_database(edge: EdgeConfig, schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """Create Kamailio's tables the edge needs where they are missing; their names."""
    try:
        conn = await asyncpg.connect(asyncpg_dsn(edge.database_url), timeout=10)
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        raise EdgeError(f"cannot reach edge.database_url: {error}") from None
    made = []
    try:
        for table, sql in SCHEMA.items():
            exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table)
            if exists:
                continue
            path = schema_dir / sql
            if not path.exists():
                raise EdgeError(
                    f"{path} is missing: apt-get install kamailio (its PostgreSQL schema)"
                )
            async with conn.transaction():
                await conn.execute(path.read_text())
            made.append(table)
    finally:
        await conn.close()
    return made


def run_as() -> list[str]:
    """Started as root: Kamailio drops to Debian's `kamailio` user once it has read its
    config and bound its socket (it parses SIP from anyone: never as root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("kamailio")
        grp.getgrnam("kamailio")
    except KeyError:
        return []
    return ["-u", "kamailio", "-g", "kamailio"]


def run_kamailio(config_file: Path, pid_file: Path) -> int:
    """Kamailio in the foreground until it ends or we are told to stop (passed on)."""
    proc = subprocess.Popen(
        [
            kamailio_binary(),
            *("-DD", "-E", "-f", str(config_file), "-P", str(pid_file)),
            *run_as(),
        ]
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        proc.send_signal(signal.SIGTERM)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    code = proc.wait()
    # Kamailio, running as its own user by then, may leave its pid file behind.
    pid_file.unlink(missing_ok=True)
    return 0 if code in (0, -signal.SIGTERM, 128 + signal.SIGTERM) else EXIT_KAMAILIO


def _edge_of(args: argparse.Namespace) -> tuple[EdgeConfig, dict[str, str], Path, Path, bool]:
    from controller.cli import _paths, checked_config
    from controller.secrets import load_secrets

    paths = _paths(args)
    config = checked_config(paths)
    if config.edge is None:
        raise EdgeError(
            f"{paths.config_file} has no edge: section (listen, nodes, database_url): "
            "see README, 'Several Asterisk nodes behind Kamailio'"
        )
    secrets = load_secrets(paths.secrets_file, config.phone_endpoints)
    passwords = {e: secrets.agent_passwords[e] for e in config.phone_endpoints}
    out = Path(args.out) if getattr(args, "out", None) else paths.state / "edge"
    return config.edge, passwords, paths.home, out, config.asterisk.browser_phone


def cmd_edge(args: argparse.Namespace) -> int:
    try:
        edge, passwords, home, out, browser = _edge_of(args)
        config_file = render(edge, passwords, home, out, browser_phones=browser)
        check(config_file)
        print(f"hotline edge: {config_file} checked (kamailio -c): {len(edge.nodes)} node(s)")
        if args.action == "config":
            return 0
        made = asyncio.run(prepare_database(edge))
        if made:
            print(f"hotline edge: created Kamailio's tables {', '.join(made)}")
        print(f"hotline edge: listening on {edge.listen}:{edge.port}", flush=True)
        if browser:
            print(f"hotline edge: browser phones' relays on {edge.ws_url}", flush=True)
    except EdgeError as error:
        print(f"hotline edge: {error}", file=sys.stderr)
        return EXIT_CONFIG
    return run_kamailio(config_file, out / "kamailio.pid")


def add_edge_command(sub: Any) -> None:
    """`hotline edge`: see the module docstring."""
    edge = sub.add_parser("edge", help="the SIP edge (Kamailio) in front of Asterisk nodes")
    actions = edge.add_subparsers(dest="action", required=True)
    config = actions.add_parser("config", help="write the Kamailio config and check it")
    run = actions.add_parser("run", help="write and check the config, then run Kamailio")
    for parser in (config, run):
        parser.add_argument("--out", help="the folder for the files (default: .hotline/edge)")
    edge.set_defaults(func=cmd_edge)
