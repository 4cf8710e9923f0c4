"""The `hotline` command."""

from __future__ import annotations

import argparse
import logging
import os
import secrets as secrets_module
import shlex
import socket
import ssl
import sys
from pathlib import Path

from controller import event_loop, gc_young
from controller.app import Endpoints, Hotline, StartFailed, run_until_signal
from controller.asterisk import AsteriskError, find_install
from controller.edge import add_edge_command
from controller.export import ExportError, system_cli
from controller.haproxy import add_haproxy_command
from controller.instance import AsteriskInstance, export_fragments
from controller.paths import ProjectPaths
from controller.reload import FlowChecker, FlowsRefused, known_from
from controller.report_cli import add_report_command
from controller.routing_node import add_routing_command
from controller.secrets import (
    CertificateError,
    Secrets,
    TlsFiles,
    check_certificate,
    ensure_certificate,
    fingerprint,
    load_secrets,
)
from controller.stop_requests import StopRequests
from controller.web_node import add_web_command
from controller.web_tls import server_context, web_certificate
from hotline.config import HotlineConfig, load_config
from hotline.flows.cli import add_flow_commands
from hotline.flows.loader import FlowSet
from hotline.knowledge.loader import lint_directory
from hotline.logcontext import install as install_log_context
from hotline.quality.forms import load_forms
from hotline.web.auth import PasswordFile
from hotline.yamlsource import SourceError

log = logging.getLogger("hotline")

EXIT_CONFIG = 2
EXIT_ASTERISK = 3


class Refused(Exception):
    """Hotline will not start; the message says why and what to do."""


def _paths(args: argparse.Namespace) -> ProjectPaths:
    paths = ProjectPaths.discover()
    if getattr(args, "config", None):
        return ProjectPaths(home=paths.home, state=paths.state, config=Path(args.config))
    return paths


def checked_config(paths: ProjectPaths) -> HotlineConfig:
    try:
        return load_config(paths.config_file)
    except SourceError as error:
        raise Refused(f"config refused:\n{error}") from None


def load_all(paths: ProjectPaths) -> tuple[HotlineConfig, FlowSet, Secrets]:
    """Config, flows (linted) and secrets, or Refused naming file, line and field."""
    config = checked_config(paths)
    try:
        flows, warnings = flow_checker(config, paths).load()
    except FlowsRefused as error:
        raise Refused(f"flows refused:\n{error}") from None
    for warning in warnings:
        log.warning("%s", warning)
    try:
        load_forms(paths.home / config.evaluations_dir)
    except SourceError as error:
        raise Refused(f"evaluation forms refused:\n{error}") from None
    try:
        secrets = load_secrets(paths.secrets_file, config.phone_endpoints)
    except SourceError as error:
        raise Refused(f"secrets refused:\n{error}") from None
    return config, flows, secrets


def flow_checker(config: HotlineConfig, paths: ProjectPaths) -> FlowChecker:
    """How flows are checked, at start-up and on every reload alike."""
    return FlowChecker(
        flows_dir=paths.home / config.flows_dir,  # an absolute flows_dir stays absolute
        catalogue_file=paths.home / config.sounds_dir / "catalogue.yaml",
        known=known_from(config),
        required=frozenset(config.flow_numbers.values()),
        config_file=paths.config_file,
    )


def managed_instance(
    config: HotlineConfig, secrets: Secrets, paths: ProjectPaths
) -> AsteriskInstance:
    install = find_install(paths.cache)
    return AsteriskInstance(
        install, config.asterisk.instance, config, secrets, paths.home, tls_files(config, paths)
    )


def tls_files(config: HotlineConfig, paths: ProjectPaths) -> TlsFiles | None:
    """The SIP/TLS certificate when asterisk.sip_tls is on: the operator's (checked), or
    one made at first start into the state folder."""
    ast = config.asterisk
    if not ast.sip_tls:
        return None
    try:
        if ast.tls_cert_file and ast.tls_key_file:
            cert, key = paths.home / ast.tls_cert_file, paths.home / ast.tls_key_file
            check_certificate(cert, key)
            return TlsFiles(cert, key, generated=False)
        hosts = [ast.sip_bind, "127.0.0.1", socket.gethostname()]
        if ast.sip_bind in ("0.0.0.0", "::"):
            hosts = ["127.0.0.1", socket.gethostname()]
        return ensure_certificate(paths.state / "tls", hosts)
    except CertificateError as error:
        raise Refused(f"SIP/TLS refused: {error}") from None


def web_tls_files(config: HotlineConfig, paths: ProjectPaths) -> TlsFiles | None:
    """The HTTPS certificate when web.tls is on (controller/web_tls.py)."""
    try:
        return web_certificate(config.web, paths.home, paths.state)
    except CertificateError as error:
        raise Refused(f"HTTPS (web.tls) refused: {error}") from None


def web_tls_context(files: TlsFiles | None) -> ssl.SSLContext | None:
    if files is None:
        return None
    try:
        return server_context(files)
    except CertificateError as error:
        raise Refused(f"HTTPS (web.tls) refused: {error}") from None


def endpoints_for(
    config: HotlineConfig, secrets: Secrets, instance: AsteriskInstance | None
) -> Endpoints:
    ast = config.asterisk
    if instance is not None:
        return Endpoints(
            ari_url=f"http://{ast.http_bind}:{ast.http_port}",
            ari_user=secrets.ari_user,
            ari_password=secrets.ari_password,
            ami_host=ast.ami_bind,
            ami_port=ast.ami_port,
            ami_user=secrets.ami_user,
            ami_secret=secrets.ami_secret,
            sounds_host_dir=instance.host("sounds"),
            sounds_asterisk_dir=instance.sounds_dir,
            recordings_asterisk_dir=instance.inside("spool/recording"),
            recordings_host_dir=instance.recordings_dir,
        )
    assert ast.ari_url and ast.ari_user and ast.ari_password
    sounds = ast.sounds_dir or "/var/lib/asterisk/sounds/hotline"
    return Endpoints(
        ari_url=ast.ari_url,
        ari_user=ast.ari_user,
        ari_password=ast.ari_password,
        ami_host=ast.ami_host,
        ami_port=ast.ami_port,
        ami_user=ast.ami_user or "",
        ami_secret=ast.ami_secret or "",
        sounds_host_dir=Path(sounds) if Path(sounds).parent.exists() else None,
        sounds_asterisk_dir=sounds,
        recordings_asterisk_dir=ast.recordings_dir,
        recordings_host_dir=Path(ast.recordings_dir) if Path(ast.recordings_dir).exists() else None,
    )


def banner(
    config: HotlineConfig,
    secrets: Secrets,
    hotline: Hotline,
    tls: TlsFiles | None = None,
    web_tls: TlsFiles | None = None,
) -> str:
    ast = config.asterisk
    server = f"{ast.sip_bind}:{ast.sip_port}"
    lines = ["", "Hotline is running.", ""]
    if config.edge is not None:
        # Behind the SIP edge, callers and phones go through Kamailio, not to this node.
        server = f"{config.edge.listen}:{config.edge.port}"
        lines.append(f"  This node is behind the SIP edge at {server} (hotline edge run).")
    lines.append("  Call the hotline (from an agent softphone, or any SIP phone, UDP):")
    for number, flow in config.numbers.items():
        lines.append(f"      sip:{number}@{server}    -> flow {flow!r}")
    for number, flow in ast.agi_numbers.items():
        lines.append(f"      sip:{number}@{server}    -> flow {flow!r} over FastAGI")
    lines.append("")
    lines.append(f"  Agents' softphones: SIP server {server} (UDP), register with:")
    for agent in config.agents:
        password = secrets.agent_passwords[agent.endpoint]
        lines.append(f"      user {agent.endpoint:<8} password {password}   ({agent.name})")
    # Supervisors' own phones: monitoring (listen, whisper, barge) rings them.
    for person in config.users:
        if person.endpoint:
            password = secrets.agent_passwords[person.endpoint]
            lines.append(
                f"      user {person.endpoint:<8} password {password}   "
                f"({person.name}, {person.role})"
            )
    if tls is not None:
        tls_server = f"{ast.sip_bind}:{ast.sip_tls_port}"
        lines.append(f"  SIP over TLS with SRTP media: {tls_server} (same accounts)")
        origin = "generated" if tls.generated else "yours"
        lines.append(f"      certificate ({origin}): {tls.cert}")
        lines.append(f"      SHA-256 fingerprint: {fingerprint(tls.cert)}")
    if ast.browser_phone:
        lines.append("  Browser phone: agents sign in to the desk; it registers for them.")
        if config.edge is not None:
            lines.append(f"      (at the SIP edge: {config.edge.ws_url}, relayed by the desk)")
    lines.append("")
    web_url = hotline.web_url.rstrip("/")
    lines.append(f"  Web (log in):       {web_url}/login")
    lines.append(f"      agent desk:     {web_url}/desk")
    lines.append(f"      wallboard:      {web_url}/wallboard  (reports: {web_url}/reports)")
    lines.append(f"      chat demo:      {web_url}/chat/demo")
    lines.append(f"      REST API token: {secrets.api_token}")
    if web_tls is not None:
        origin = "generated" if web_tls.generated else "yours"
        lines.append(f"      HTTPS certificate ({origin}): {web_tls.cert}")
        lines.append(f"      SHA-256 fingerprint: {fingerprint(web_tls.cert)}")
    users = [a.id for a in config.agents] + [u.id for u in config.users]
    if hotline.new_passwords:
        lines.append("      new web passwords (shown once; change: hotline users passwd ID):")
        for user, password in hotline.new_passwords.items():
            lines.append(f"          {user:<12} {password}")
    elif users:
        lines.append(f"      web users: {', '.join(users)} (hotline users passwd ID)")
    if config.demo_crm.enabled:
        crm = f"http://127.0.0.1:{config.demo_crm.port}/customers/100001"
        lines.append(f"  Demo CRM:           {crm}")
    lines.append("  Asterisk console:   .venv/bin/hotline asterisk cli")
    lines.append("")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    stop: StopRequests = args.stop  # Ctrl-C is a request, taken between the start's steps
    paths = _paths(args)
    config, flows, secrets = load_all(paths)
    try:  # checked before Asterisk starts: a bad choice leaves nothing running
        event_loop.loop_factory()
    except event_loop.EventLoopError as error:
        raise Refused(f"event loop refused: {error}") from None
    try:  # the same for the garbage collector's young threshold (controller/gc_young.py)
        gc_young.young_from()
    except ValueError as error:
        raise Refused(str(error)) from None
    web_tls = web_tls_files(config, paths)
    instance = proc = None
    if config.asterisk.managed:
        instance = managed_instance(config, secrets, paths)
        if instance.running():
            log.info("using the Asterisk instance already running (pid %s)", instance.pid())
        else:
            stop.check()
            log.info("starting Asterisk")
            proc = instance.start()  # a stop asked meanwhile: checked once it is up
    try:  # from here on, whatever fails (Ctrl-C included) stops the Asterisk started
        stop.check()
        hotline = Hotline(
            config,
            flows,
            paths,
            secrets,
            endpoints_for(config, secrets, instance),
            checker=flow_checker(config, paths),
            web_ssl=web_tls_context(web_tls),
        )
        sip_tls = tls_files(config, paths)
        event_loop.run(
            run_until_signal(
                hotline,
                lambda h: print(banner(config, secrets, h, sip_tls, web_tls), flush=True),
                stop.requested,
            )
        )
    finally:
        if proc is not None and instance is not None:
            log.info("stopping Asterisk")
            instance.stop(proc)
    return 0


def export(
    config: HotlineConfig,
    secrets: Secrets,
    paths: ProjectPaths,
    target: Path,
    *,
    check: bool,
    console: list[str] | None = None,
    root: Path = Path("/"),
) -> int:
    """Write the fragments, have the running Asterisk reload them, say what to do."""
    cli = system_cli(console) if check else None
    try:
        report = export_fragments(
            config, secrets, paths.home, target, root=root, cli=cli, tls=tls_files(config, paths)
        )
    except ExportError as error:
        raise Refused(f"export: {error}") from None
    for path in report.written:
        print(f"wrote {path}")
    for command in report.todo:
        print(f"to do (as root): {command}")
    for note in report.notes:
        print(f"note: {note}")
    if report.tls_paths is not None:
        print(
            f"SIP/TLS: give your TLS transport cert_file = {report.tls_paths['cert']} and "
            f"priv_key_file = {report.tls_paths['key']}"
        )
    if cli is None:
        print("not checked: no running Asterisk here (or --no-check); after including the")
        print("fragments, reload: asterisk -rx 'core reload'")
        return 0 if not report.todo else 1
    for line in report.loaded:
        print(f"loaded: {line}")
    for line in report.problems:
        print(f"problem: {line}")
    if report.rolled_back:
        print("the new fragments were taken back; Asterisk runs with the previous ones")
    return 0 if report.ok and not report.todo else 1


def cmd_asterisk(args: argparse.Namespace) -> int:
    paths = _paths(args)
    if args.action == "prepare":
        install = find_install(paths.cache)
        where = f"chroot {install.root}" if install.chrooted else f"system {install.binary}"
        print(f"Asterisk ready: {where}")
        return 0
    config, _, secrets = load_all(paths)
    if args.action == "export":
        return export(
            config,
            secrets,
            paths,
            Path(args.dir),
            check=not args.no_check,
            console=shlex.split(args.asterisk) if args.asterisk else None,
            root=Path(args.root),
        )
    if not config.asterisk.managed:
        raise Refused("asterisk.managed is false: Hotline does not run this Asterisk")
    instance = managed_instance(config, secrets, paths)
    if args.action == "up":
        if instance.running():
            print(f"Asterisk already runs (pid {instance.pid()})")
        else:
            instance.start()
            print(f"Asterisk is up (pid {instance.pid()})")
    elif args.action == "down":
        instance.stop()
        print("Asterisk is down")
    elif args.action == "status":
        where = "chroot " + str(instance.install.root) if instance.install.chrooted else "system"
        ast = config.asterisk
        print(f"install:  {where}")
        print(f"config:   {instance.host('etc')}")
        if not instance.running():
            print("state:    stopped")
            return 1
        print(f"state:    running (pid {instance.pid()})")
        print(f"SIP:      udp {ast.sip_bind}:{ast.sip_port}")
        if ast.sip_tls:
            print(f"SIP/TLS:  tls {ast.sip_bind}:{ast.sip_tls_port} (SRTP media)")
        if ast.browser_phone and config.edge is not None:
            print(f"WebRTC:   at the SIP edge, {config.edge.ws_url} (relayed by the desk)")
        elif ast.browser_phone:
            print(f"WebRTC:   ws {ast.http_bind}:{ast.http_port}/ws (relayed by the desk)")
        print(f"ARI:      http://{ast.http_bind}:{ast.http_port}/ari")
        print(f"AMI:      {ast.ami_bind}:{ast.ami_port}")
        print(instance.rx("core show uptime").strip())
        print(instance.rx("core show channels count").strip())
        print(instance.rx("pjsip show contacts").strip())
    elif args.action == "cli":
        if args.words:
            print(instance.rx(" ".join(args.words)), end="")
            return 0
        if not sys.stdin.isatty():
            # asterisk -r without a terminal busy-loops on its input.
            raise Refused(
                "the Asterisk console needs a terminal; to run one command: "
                "hotline asterisk cli pjsip show contacts"
            )
        command = instance.command("-r")
        os.execvp(command[0], command)
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    paths = _paths(args)
    config, flows, _ = load_all(paths)
    knowledge = lint_directory(paths.home / config.knowledge_dir, config.languages)
    if knowledge:
        raise Refused("knowledge base refused:\n" + "\n".join(str(p) for p in knowledge))
    print(f"{paths.config_file}: ok ({len(config.numbers)} numbers, {len(flows)} flows)")
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    paths = _paths(args)
    config = checked_config(paths)
    known = {a.id: "agent" for a in config.agents} | {u.id: u.role for u in config.users}
    if args.action == "list":
        for user, role in known.items():
            print(f"{user:<16} {role}")
        return 0
    if args.id not in known:
        raise Refused(f"no user {args.id!r} in {paths.config_file.name}; users: {', '.join(known)}")
    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
        if len(password) < 8:
            raise Refused("a password needs at least 8 characters")
    else:
        password = secrets_module.token_urlsafe(12)
    PasswordFile(paths.state / "passwords.yaml").set(args.id, password)
    if not args.stdin:
        print(f"{args.id}: new password {password}")
    else:
        print(f"{args.id}: password set")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description="Hotline contact centre")
    parser.add_argument("--config", help="config file (default: config/hotline.yaml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start Asterisk (if managed) and the controller")
    run.set_defaults(func=cmd_run, serves=True)
    ast = sub.add_parser("asterisk", help="manage Hotline's Asterisk")
    actions = ast.add_subparsers(dest="action", required=True)
    actions.add_parser("prepare", help="install Asterisk (system one, or the sid chroot)")
    actions.add_parser("up", help="start the managed Asterisk in the background")
    actions.add_parser("down", help="stop it")
    actions.add_parser("status", help="what runs, where")
    cli = actions.add_parser("cli", help="the Asterisk console, or one CLI command")
    cli.add_argument("words", nargs="*", help="a CLI command to run, e.g. pjsip show contacts")
    export = actions.add_parser("export", help="config fragments for an existing Asterisk")
    export.add_argument("dir", help="where to write them")
    export.add_argument(
        "--no-check",
        action="store_true",
        help="do not ask the running Asterisk to reload them and report what it loaded",
    )
    export.add_argument(
        "--asterisk",
        metavar="COMMAND",
        help="how to run Asterisk's console (default: asterisk), e.g. "
        "'asterisk -C /etc/pbx/asterisk.conf' or 'chroot /srv/pbx asterisk'",
    )
    export.add_argument(
        "--root",
        default="/",
        help="the root folder of Asterisk's machine, whose etc/passwd and etc/group name "
        "its asterisk user (a chroot or a container's root; default /)",
    )
    ast.set_defaults(func=cmd_asterisk)
    config = sub.add_parser("config", help="configuration")
    config.add_argument("action", choices=["check"])
    config.set_defaults(func=cmd_config_check)
    users = sub.add_parser("users", help="web users (agents, supervisors, admins)")
    users_actions = users.add_subparsers(dest="action", required=True)
    users_actions.add_parser("list", help="who may log in, with their role")
    passwd = users_actions.add_parser("passwd", help="set a user's web password")
    passwd.add_argument("id", help="the agent or user id")
    passwd.add_argument(
        "--stdin", action="store_true", help="read the password from stdin (else generate one)"
    )
    users.set_defaults(func=cmd_users)
    add_flow_commands(sub)
    add_report_command(sub)
    add_routing_command(sub)
    add_edge_command(sub)
    add_web_command(sub)
    add_haproxy_command(sub)
    return parser


def main(argv: list[str] | None = None, stop: StopRequests | None = None) -> int:
    """The `hotline` command; `stop`: the stop signals seen since the process began
    (controller/main.py), else from now on."""
    if stop is None:
        stop = StopRequests()
        stop.install()
    try:
        stop.check()  # asked for while the command was imported
        return _command(build_parser().parse_args(argv), stop)
    except KeyboardInterrupt:
        return 130


def _command(args: argparse.Namespace, stop: StopRequests) -> int:
    args.stop = stop
    if not getattr(args, "serves", False):
        # Python's Ctrl-C back. A command that serves (run, routing, web) keeps them as
        # requests: its event loop stops at once if one came before its handlers.
        stop.uninstall()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("panoramisk.quiet").setLevel(logging.CRITICAL)
    install_log_context()  # contact id on every line (HOTLINE_LOG_FORMAT=json: JSON lines)
    try:
        stop.check()
        return args.func(args)
    except (Refused, StartFailed, SourceError) as error:
        print(f"hotline: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except AsteriskError as error:
        print(f"hotline: {error}", file=sys.stderr)
        return EXIT_ASTERISK


if __name__ == "__main__":
    sys.exit(main())
