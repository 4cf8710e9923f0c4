"""`hotline haproxy`: one address in front of several web processes (`hotline web`).

    hotline haproxy config [--out DIR]   # write haproxy.cfg, check it (haproxy -c)
    hotline haproxy run [--out DIR]      # the same, then run haproxy in the foreground

The config comes from the `web_tier:` section of hotline.yaml (hotline/cluster/web_tier.py)
and the template config/haproxy/haproxy.cfg.j2: round robin over the processes its
health checks find up, WebSocket upgrades passed through, no sticky sessions (why: the
template's header). `run` replaces this process with haproxy (`-db`: foreground, its log
on stdout), so a supervisor's SIGTERM reaches haproxy itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from hotline.cluster.web_tier import WebTierConfig

EXIT_CONFIG = 2
TEMPLATE = "haproxy.cfg.j2"


class HaproxyError(Exception):
    """haproxy cannot be configured or started; the message says why."""


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    if found is None:
        raise HaproxyError(
            "haproxy is not installed: apt-get install haproxy (scripts/setup.sh test installs it)"
        )
    return found


def render(tier: WebTierConfig, templates: Path) -> str:
    """haproxy.cfg for `tier` from the template folder `templates`."""
    env = Environment(
        loader=FileSystemLoader(str(templates)),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    return env.get_template(TEMPLATE).render(
        tier=tier,
        check_ms=round(tier.check_interval * 1000),
        idle_ms=round(tier.idle_timeout * 1000),
    )


def check(binary: str, path: Path) -> None:
    """`haproxy -c`; HaproxyError with its words if it refuses the file."""
    done = subprocess.run(
        [binary, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    if done.returncode != 0:
        said = (done.stdout + done.stderr).strip()
        raise HaproxyError(f"haproxy refused {path}:\n{said}")


def write_config(tier: WebTierConfig, templates: Path, out: Path) -> Path:
    """Render, write (out/haproxy.cfg) and check the config; its path."""
    binary = haproxy_binary()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "haproxy.cfg"
    path.write_text(render(tier, templates), encoding="utf-8")
    check(binary, path)
    return path


def cmd_haproxy(args: argparse.Namespace) -> int:
    from controller.cli import _paths, checked_config

    paths = _paths(args)
    config = checked_config(paths)
    if config.web_tier is None:
        print(
            "hotline haproxy: no web_tier: section in the config (the web processes to put "
            "behind one address; see README: Beyond one box)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    out = Path(args.out) if args.out else paths.state / "haproxy"
    try:
        path = write_config(config.web_tier, paths.home / "config" / "haproxy", out)
        if args.action == "config":
            print(f"wrote {path} (checked by haproxy -c)")
            return 0
        binary = haproxy_binary()
    except HaproxyError as error:
        print(f"hotline haproxy: {error}", file=sys.stderr)
        return EXIT_CONFIG
    sys.stdout.flush()
    os.execv(binary, [binary, "-db", "-f", str(path)])


def add_haproxy_command(sub: Any) -> None:
    """`hotline haproxy`: see the module docstring."""
    parser = sub.add_parser(
        "haproxy", help="one address in front of the web processes (web_tier:; see README)"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    for name, text in (
        ("config", "write and check haproxy.cfg"),
        ("run", "write and check it, then run haproxy in the foreground"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--out", help="folder for haproxy.cfg (default: the state's haproxy/)")
    parser.set_defaults(func=cmd_haproxy)
