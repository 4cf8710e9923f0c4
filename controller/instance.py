"""One Asterisk instance: its rendered config, its process, its CLI."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from controller.asterisk import (
    MODULES,
    AsteriskError,
    Install,
    ensure_proc,
    kill_quietly,
    release_proc,
)
from controller.export import (
    FRAGMENTS,
    Cli,
    ExportReport,
    asterisk_owner,
    asterisk_path,
    external_secrets,
    install_fragments,
    tls_fragments,
)
from controller.secrets import Secrets, TlsFiles
from hotline.config import HotlineConfig
from hotline.overload import dialplan_door

SUBDIRS = ("etc", "run", "spool", "spool/recording", "log", "lib", "sounds")
#: How long an Asterisk whose boot failed or was interrupted has to end on SIGTERM.
BOOT_STOP_SECONDS = 5.0


@dataclass
class AsteriskInstance:
    install: Install
    name: str
    config: HotlineConfig
    secrets: Secrets
    home: Path  # the checkout, for config/asterisk/ and dialplan/ templates
    #: SIP/TLS certificate and key (asterisk.sip_tls), copied into the instance.
    tls: TlsFiles | None = None
    #: The Asterisk this object started, if any (it reaps it on stop).
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        """The instance folder as Asterisk sees it."""
        return f"/srv/hotline/{self.name}"

    def inside(self, sub: str) -> str:
        return f"{self.base}/{sub}"

    def host(self, sub: str = "") -> Path:
        return self.install.host_path(self.inside(sub) if sub else self.base)

    @property
    def conf(self) -> str:
        return self.inside("etc/asterisk.conf")

    @property
    def sounds_dir(self) -> str:
        """Where Hotline's rendered prompts go, as Asterisk sees it."""
        return self.inside("sounds")

    @property
    def recordings_dir(self) -> Path:
        """ARI stores recordings under the spool's recording folder."""
        return self.host("spool/recording")

    def _run_user(self) -> str | None:
        """Asterisk drops root for the 'asterisk' user where the install has one."""
        if os.geteuid() != 0:
            return None
        passwd = self.install.host_path("/etc/passwd")
        with contextlib.suppress(OSError):
            for line in passwd.read_text().splitlines():
                if line.startswith("asterisk:"):
                    return "asterisk"
        return None

    def _owner(self) -> tuple[int, int] | None:
        user = self._run_user()
        if not user:
            return None
        if not self.install.chrooted:
            entry = pwd.getpwnam(user)
            return entry.pw_uid, entry.pw_gid
        for line in self.install.host_path("/etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == user:
                return int(fields[2]), int(fields[3])
        return None

    def render(self) -> None:
        """Write a complete, minimal config set for this instance (no sample files)."""
        for sub in SUBDIRS:
            self.host(sub).mkdir(parents=True, exist_ok=True)
        context = {
            "dirs": {
                "etc": self.inside("etc"),
                "modules": self.install.modules_dir,
                "lib": self.inside("lib"),
                "data": self.install.data_dir,
                "spool": self.inside("spool"),
                "run": self.inside("run"),
                "log": self.inside("log"),
                "sbin": str(Path(self.install.binary).parent),
            },
            "run_user": self._run_user(),
            "modules": MODULES,
            **template_context(self.config, self.secrets, self._install_tls()),
        }
        env = template_env(self.home)
        for template in sorted(env.list_templates(extensions=["j2"])):
            write_rendered(env, template, context, self.host("etc") / template.removesuffix(".j2"))
        owner = self._owner()
        if owner:
            for path in [self.host(), *self.host().rglob("*")]:
                with contextlib.suppress(FileNotFoundError):
                    os.chown(path, *owner)

    def _install_tls(self) -> dict[str, str] | None:
        """Copy the certificate and key where the (chrooted) Asterisk reads them."""
        if self.tls is None:
            return None
        keys = self.host("etc/keys")
        keys.mkdir(parents=True, exist_ok=True)
        for source, name in ((self.tls.cert, "sip.crt"), (self.tls.key, "sip.key")):
            tmp = keys / f"{name}.tmp"
            tmp.unlink(missing_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            with os.fdopen(fd, "wb") as out:
                out.write(source.read_bytes())
            tmp.replace(keys / name)
        return {"cert": self.inside("etc/keys/sip.crt"), "key": self.inside("etc/keys/sip.key")}

    def command(self, *args: str) -> list[str]:
        return self.install.command("-C", self.conf, *args)

    def rx(self, cli: str, timeout: float = 15) -> str:
        """Run one CLI command on the running instance."""
        done = subprocess.run(
            self.command("-rx", cli), capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise AsteriskError(f"asterisk -rx {cli!r}: {done.stderr.strip() or done.stdout}")
        return done.stdout

    def pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.host("run/asterisk.pid").read_text().strip())
            os.kill(pid, 0)
            return pid
        return None

    def running(self) -> bool:
        return self.pid() is not None

    def start(self, timeout: float = 60) -> subprocess.Popen:
        """Start Asterisk in the foreground as our child and wait until it is fully booted."""
        if self.running():
            raise AsteriskError(f"Asterisk instance {self.name!r} already runs (pid {self.pid()})")
        self.render()
        ensure_proc(self.install)
        log = open(self.host("log") / "console.log", "ab")  # noqa: SIM115 - child keeps it
        proc = subprocess.Popen(
            self.command("-f", "-n"),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop Asterisk cleanly
        )
        log.close()
        self.process = proc
        try:
            self.wait_booted(proc, timeout)
        except BaseException:
            # Not booted in time, or Ctrl-C while booting: it runs in a session of its
            # own, so nobody else would ever stop it. It has no calls yet and its console
            # may not answer a 'core stop': SIGTERM, then a kill.
            proc.terminate()
            try:
                proc.wait(BOOT_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            self.process = None
            release_proc(self.install)
            raise
        return proc

    def wait_booted(self, proc: subprocess.Popen | None, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise AsteriskError(
                    f"Asterisk exited with code {proc.returncode} while starting; "
                    f"see {self.host('log')}/console.log and messages.log"
                )
            with contextlib.suppress(AsteriskError, subprocess.TimeoutExpired):
                self.rx("core waitfullybooted", timeout=max(1, deadline - time.monotonic()))
                return
            time.sleep(0.2)
        raise AsteriskError(f"Asterisk did not finish booting within {timeout:.0f}s")

    def stop(self, proc: subprocess.Popen | None = None, timeout: float = 20) -> None:
        """Stop Asterisk: a clean 'core stop now', then a kill if it hangs."""
        proc = proc or self.process
        if proc is not None and proc.poll() is not None:
            proc = None  # already gone (and reaped)
        pid = proc.pid if proc else self.pid()
        if pid is None:
            release_proc(self.install)
            return
        with contextlib.suppress(AsteriskError, subprocess.TimeoutExpired):
            self.rx("core stop now", timeout=10)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None:
                if proc.poll() is not None:
                    break
            elif not _alive(pid):
                break
            time.sleep(0.1)
        else:
            kill_quietly(pid)
            if proc is not None:
                proc.wait(5)
        self.process = None
        release_proc(self.install)

    def remove(self) -> None:
        """Delete the instance folder (tests' instances)."""
        shutil.rmtree(self.host(), ignore_errors=True)


def template_env(home: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader([home / "config/asterisk", home / "dialplan"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def template_context(
    config: HotlineConfig, secrets: Secrets, tls: dict[str, str] | None = None
) -> dict[str, Any]:
    """What the Asterisk templates see, for a managed instance and for export alike.

    `tls`: where Asterisk reads the SIP/TLS certificate and key (`cert`, `key`), when
    asterisk.sip_tls is on."""
    return {
        "tls": tls if config.asterisk.sip_tls else None,
        "default_language": config.default_language,
        "asterisk": config.asterisk,
        "secrets": secrets,
        "agents": config.agents,
        #: The SIP edge agents' phones register at (several nodes), or None (one box).
        "edge": config.edge,
        #: Supervisors and admins with a phone of their own (monitoring rings it).
        "supervisor_phones": [u for u in config.users if u.endpoint],
        "numbers": list(config.numbers),
        "ari_app": config.asterisk.ari_app,
        #: The overload limits the dialplan applies before Stasis (None: none).
        "door": dialplan_door(config.overload),
        "moh": {},
        #: True when rendering fragments for someone else's Asterisk: no [general],
        #: [global], transports or anonymous endpoint of ours.
        "fragment": False,
    }


def write_rendered(env: Environment, template: str, context: dict[str, Any], target: Path) -> None:
    """Render one template and replace the target atomically."""
    text = env.get_template(template).render(context)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o640)
    tmp.replace(target)


def export_fragments(
    config: HotlineConfig,
    secrets: Secrets,
    home: Path,
    target: Path,
    *,
    root: Path = Path("/"),
    cli: Cli | None = None,
    tls: TlsFiles | None = None,
) -> ExportReport:
    """Write `<name>_hotline.conf` fragments for an Asterisk Hotline does not manage,
    readable by its `asterisk` user (found under `root`), and check them with `cli`
    (the running Asterisk's console) when given."""
    ast = config.asterisk
    external = external_secrets(
        secrets,
        (ast.ari_user or secrets.ari_user, ast.ari_password or secrets.ari_password),
        (ast.ami_user or secrets.ami_user, ast.ami_secret or secrets.ami_secret),
    )
    rendered: list[tuple[str, str | bytes]] = []
    tls_paths = None
    notes = []
    if tls is not None and ast.sip_tls:
        rendered.extend(tls_fragments(tls))
        seen = asterisk_path(target, root)  # where a chrooted Asterisk reads them
        if seen is None:
            seen = Path(os.path.abspath(target))
            notes.append(
                f"{target} is outside {root}: the certificate paths are this machine's; "
                "give your Asterisk the paths it sees the folder by (its mount)"
            )
        tls_paths = {"cert": str(seen / "hotline_sip.crt"), "key": str(seen / "hotline_sip.key")}
    env = template_env(home)
    context = {**template_context(config, external, tls_paths), "fragment": True}
    for template, name in FRAGMENTS:
        rendered.append((name, env.get_template(template).render(context)))
    endpoints = [a.endpoint for a in config.agents]
    if ast.browser_phone:
        endpoints += [f"{e}-web" for e in endpoints]
    report = install_fragments(
        rendered,
        target,
        asterisk_owner(root),
        cli,
        endpoints,
        (external.ari_user, external.ami_user),
    )
    report.tls_paths = tls_paths
    report.notes.extend(notes)
    return report


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
