"""`hotline asterisk export`: fragments for an Asterisk Hotline does not manage.

The fragments are written so the site's Asterisk can read them (group of its `asterisk`
user, mode 0640), then checked against the running Asterisk: it reloads them and is
asked whether Hotline's endpoints, dialplan, ARI and AMI users are there. A fragment
that makes Asterisk drop configuration it had (the site's own PJSIP endpoints, say) is
taken back: the previous fragments are restored and Asterisk reloaded again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from controller.secrets import Secrets, TlsFiles

#: Runs one CLI command on the site's running Asterisk and returns its output, or
#: raises ExportError when Asterisk cannot be asked.
Cli = Callable[[str], str]

#: (template, fragment file) in the order the site includes them.
FRAGMENTS = (
    ("pjsip.conf.j2", "pjsip_hotline.conf"),
    ("extensions.conf.j2", "extensions_hotline.conf"),
    ("ari.conf.j2", "ari_hotline.conf"),
    ("manager.conf.j2", "manager_hotline.conf"),
)
#: Where each fragment is included from, and the reload that reads it again.
INCLUDED_FROM = {
    "pjsip_hotline.conf": ("pjsip.conf", "res_pjsip.so"),
    "extensions_hotline.conf": ("extensions.conf", "pbx_config.so"),
    "ari_hotline.conf": ("ari.conf", "res_ari.so"),
    "manager_hotline.conf": ("manager.conf", "manager"),
}
MODE = 0o640


class ExportError(Exception):
    """The export could not be done or checked; the message says what to do."""


@dataclass(frozen=True)
class Owner:
    """Whom Asterisk runs as on the target machine: its user and group ids."""

    user: str
    uid: int
    gid: int
    group: str


def asterisk_owner(root: Path = Path("/"), user: str = "asterisk") -> Owner | None:
    """The `asterisk` user of the machine at `root` (its /etc/passwd and /etc/group)."""
    with contextlib.suppress(OSError):
        for line in (root / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if len(fields) >= 4 and fields[0] == user:
                uid, gid = int(fields[2]), int(fields[3])
                return Owner(user, uid, gid, _group_name(root, gid) or str(gid))
    return None


def _group_name(root: Path, gid: int) -> str | None:
    with contextlib.suppress(OSError):
        for line in (root / "etc/group").read_text().splitlines():
            fields = line.split(":")
            if len(fields) >= 3 and fields[2] == str(gid):
                return fields[0]
    return None


@dataclass
class ExportReport:
    """What was written, what the running Asterisk loaded, and what is left to do."""

    written: list[Path] = field(default_factory=list)
    #: Exact commands the operator must run (permissions we could not set).
    todo: list[str] = field(default_factory=list)
    #: Checks that passed ("pjsip endpoint 1001 loaded") and problems found.
    loaded: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rolled_back: bool = False
    checked: bool = False
    #: With SIP/TLS: the certificate and key as the site's Asterisk reads them (its
    #: TLS transport's `cert_file` and `priv_key_file`).
    tls_paths: dict[str, str] | None = None
    #: What the operator should know but need not act on.
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.rolled_back


def write_fragment(path: Path, text: str | bytes, owner: Owner | None, todo: list[str]) -> None:
    """Replace `path` atomically with mode 0640, group of Asterisk's user; what cannot
    be set here goes to `todo` as the exact command to run."""
    data = text.encode() if isinstance(text, str) else text
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MODE)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, MODE)  # whatever the umask
    if owner is not None:
        try:
            os.chown(tmp, -1, owner.gid)
        except PermissionError:
            todo.append(f"chgrp {owner.group} {path} && chmod 0640 {path}")
    tmp.replace(path)


def install_fragments(
    rendered: Sequence[tuple[str, str | bytes]],
    target: Path,
    owner: Owner | None,
    cli: Cli | None,
    agents: Sequence[str],
    users: tuple[str, str],
) -> ExportReport:
    """Write the rendered fragments into `target` and check them with `cli`.

    `agents`: the PJSIP endpoints the fragments define; `users`: (ARI user, AMI user)."""
    report = ExportReport()
    target.mkdir(parents=True, exist_ok=True)
    if owner is not None:
        with contextlib.suppress(PermissionError):
            os.chown(target, -1, owner.gid)
        target.chmod(target.stat().st_mode | 0o050)  # the group may enter and list it
    previous = {
        name: (target / name).read_bytes() for name, _ in rendered if (target / name).exists()
    }
    before = _endpoints(cli) if cli else None
    for name, text in rendered:
        write_fragment(target / name, text, owner, report.todo)
        report.written.append(target / name)
    if owner is None:
        report.todo.append(
            f"no 'asterisk' user here: let the user Asterisk runs as read {target} "
            f"(chgrp <its group> {target}/* && chmod 0640 {target}/*)"
        )
    if cli is None or report.todo:
        return report
    report.checked = True
    modules = [INCLUDED_FROM[name][1] for name, _ in rendered if name in INCLUDED_FROM]
    _reload(cli, modules, report)
    _check(cli, report, agents, users)
    lost = sorted(set(before or ()) - set(_endpoints(cli)) - set(agents))
    if lost:
        report.problems.append(
            "Asterisk dropped PJSIP endpoints it had before (the site's own): "
            + ", ".join(lost)
            + "; the previous fragments are restored"
        )
        for name, _ in rendered:
            if name in previous or name.endswith(".conf"):
                # An empty fragment keeps the site's #include lines valid.
                write_fragment(target / name, previous.get(name, b""), owner, report.todo)
            else:
                (target / name).unlink(missing_ok=True)  # a certificate that was not there
        _reload(cli, modules, ExportReport())
        report.rolled_back = True
    return report


def _reload(cli: Cli, modules: Sequence[str], report: ExportReport) -> None:
    """Reload each module; one that is not running (its configuration was refused at
    start, say an #include of a fragment not written yet) is loaded instead."""
    for module in modules:
        said = cli(f"module reload {module}")
        if "not properly initialized" in said or 'must run "module load' in said:
            loaded = cli(f"module load {module}")
            if "Loaded" in loaded:
                report.loaded.append(f"{module} started (it was not running)")
            else:
                report.problems.append(f"{module} does not start: {loaded.strip()}")


def _endpoints(cli: Cli) -> list[str]:
    """PJSIP endpoint names the running Asterisk has now."""
    out = cli("pjsip show endpoints")
    names = []
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "Endpoint:" and not words[1].startswith("<"):
            names.append(words[1].split("/", 1)[0])
    return names


def _check(cli: Cli, report: ExportReport, agents: Sequence[str], users: tuple[str, str]) -> None:
    have = set(_endpoints(cli))
    for endpoint in agents:
        if endpoint in have:
            report.loaded.append(f"PJSIP endpoint {endpoint}")
        else:
            report.problems.append(
                f"PJSIP endpoint {endpoint} is not loaded: is '#include hotline/pjsip_hotline.conf'"
                " in pjsip.conf, and does Asterisk's log name an error in it?"
            )
    dialplan = cli("dialplan show hotline-public")
    if "hotline-public" in dialplan and "no existence" not in dialplan.lower():
        report.loaded.append("dialplan context hotline-public")
    else:
        report.problems.append(
            "dialplan context hotline-public is not loaded: add "
            "'#include hotline/extensions_hotline.conf' to extensions.conf"
        )
    ari_user, ami_user = users
    if _names_user(cli("ari show users"), ari_user):
        report.loaded.append(f"ARI user {ari_user}")
    else:
        report.problems.append(
            f"ARI user {ari_user} is not loaded: add '#include hotline/ari_hotline.conf' to "
            "ari.conf (and 'enabled = yes' in its [general])"
        )
    if _names_user(cli("manager show users"), ami_user):
        report.loaded.append(f"AMI user {ami_user}")
    else:
        report.problems.append(
            f"AMI user {ami_user} is not loaded: add '#include hotline/manager_hotline.conf' "
            "to manager.conf (and 'enabled = yes' in its [general])"
        )


def _names_user(listing: str, user: str) -> bool:
    return any(user in line.split() for line in listing.splitlines())


def system_cli(command: Sequence[str] | None = None, timeout: float = 30) -> Cli | None:
    """`asterisk -rx` on the running Asterisk, or None when there is no Asterisk here.

    `command`: how to run its console (`["chroot", "/srv/pbx", "asterisk", "-C", …]`);
    by default the `asterisk` on the PATH or in /usr/sbin."""
    if command is None:
        binary = shutil.which("asterisk") or shutil.which("asterisk", path="/usr/sbin")
        if binary is None:
            return None
        command = [binary]
    prefix = list(command)

    def run(cli: str) -> str:
        try:
            done = subprocess.run(
                [*prefix, "-rx", cli], capture_output=True, text=True, timeout=timeout
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ExportError(f"asterisk -rx {cli!r}: {error}") from None
        if done.returncode != 0:
            raise ExportError(
                f"asterisk -rx {cli!r} failed: {(done.stderr or done.stdout).strip()} "
                "(is Asterisk running, and may this user use its console?)"
            )
        return done.stdout

    return run


def tls_fragments(tls: TlsFiles) -> list[tuple[str, bytes]]:
    """The certificate and key Asterisk's TLS transport reads, next to the fragments
    (written like them: mode 0640, Asterisk's group)."""
    return [("hotline_sip.crt", tls.cert.read_bytes()), ("hotline_sip.key", tls.key.read_bytes())]


def asterisk_path(path: Path, root: Path = Path("/")) -> Path | None:
    """`path` (on this machine, made absolute) as the Asterisk whose machine is at `root`
    sees it: a chrooted Asterisk reads /srv/pbx/etc/asterisk/x as /etc/asterisk/x.
    None when `path` is outside `root` (that Asterisk sees it only through a mount)."""
    where = Path(os.path.abspath(path))
    top = Path(os.path.abspath(root))
    if not where.is_relative_to(top):
        return None
    return Path("/") / where.relative_to(top)


def external_secrets(secrets: Secrets, ari: tuple[str, str], ami: tuple[str, str]) -> Secrets:
    """The secrets the fragments carry: ARI and AMI users the site chose, agents' ours."""
    return Secrets(
        ari_user=ari[0],
        ari_password=ari[1],
        ami_user=ami[0],
        ami_secret=ami[1],
        api_token=secrets.api_token,
        agent_passwords=secrets.agent_passwords,
    )
