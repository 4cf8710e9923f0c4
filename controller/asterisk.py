"""A managed Asterisk: a system one (>= 20) or a Debian sid chroot cached in the state folder.

Each instance (the `make run` one, a test session's one) lives in its own folder
`/srv/hotline/<name>` as Asterisk sees it, with its own etc, run, spool, log and lib,
so several can run side by side on different ports.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: What Hotline uses; nothing else is loaded (autoload = no).
MODULES = [
    "res_timing_timerfd.so",
    "res_sorcery_config.so",
    "res_sorcery_memory.so",
    "res_sorcery_astdb.so",
    "res_pjproject.so",
    "res_pjsip.so",
    "res_pjsip_session.so",
    "res_pjsip_authenticator_digest.so",
    "res_pjsip_endpoint_identifier_user.so",
    "res_pjsip_endpoint_identifier_ip.so",
    "res_pjsip_endpoint_identifier_anonymous.so",
    "res_pjsip_registrar.so",
    "res_pjsip_sdp_rtp.so",
    "res_pjsip_caller_id.so",
    "res_pjsip_dtmf_info.so",
    "res_pjsip_nat.so",
    "res_pjsip_rfc3326.so",
    "res_pjsip_logger.so",
    "res_pjsip_pubsub.so",
    "res_pjsip_refer.so",  # agents' transfers (REFER), reported to Hotline over ARI
    "res_pjsip_header_funcs.so",
    "res_rtp_asterisk.so",
    "res_rtp_multicast.so",
    "chan_pjsip.so",
    "chan_bridge_media.so",
    "chan_rtp.so",
    "codec_ulaw.so",
    "codec_alaw.so",
    "codec_a_mu.so",
    "codec_gsm.so",
    "codec_resample.so",
    "format_wav.so",
    "format_wav_gsm.so",
    "format_gsm.so",
    "format_pcm.so",
    "format_sln.so",
    "bridge_simple.so",
    "bridge_softmix.so",
    "bridge_holding.so",
    "bridge_native_rtp.so",
    "bridge_builtin_features.so",
    "res_musiconhold.so",
    "res_http_websocket.so",
    "res_pjsip_transport_websocket.so",  # the desk's browser phones (SIP over WebSocket)
    "res_srtp.so",  # SRTP: SDES for phones over TLS, DTLS-SRTP for browser phones
    "res_websocket_client.so",
    "res_speech.so",
    "res_stasis.so",
    "res_stasis_answer.so",
    "res_stasis_playback.so",
    "res_stasis_recording.so",
    "res_stasis_snoop.so",
    "res_stasis_device_state.so",
    "res_ari.so",
    "res_ari_model.so",
    "res_ari_applications.so",
    "res_ari_asterisk.so",
    "res_ari_bridges.so",
    "res_ari_channels.so",
    "res_ari_device_states.so",
    "res_ari_endpoints.so",
    "res_ari_events.so",
    "res_ari_playbacks.so",
    "res_ari_recordings.so",
    "res_ari_sounds.so",
    "app_stasis.so",
    "res_agi.so",
    "pbx_config.so",
    "app_dial.so",
    "app_playback.so",
    "app_echo.so",
    "app_queue.so",
    "app_mixmonitor.so",
    "app_verbose.so",
    "func_callerid.so",
    "func_channel.so",
    "func_strings.so",
    "func_logic.so",
    "func_groupcount.so",  # the overload door: callers in progress
    "func_global.so",  # ... and its count of callers let in this window,
    "func_lock.so",  # ... under a lock
    "app_userevent.so",  # the overload door tells the controller of each refusal
    "res_clioriginate.so",
]

CHROOT_PACKAGES = [
    "asterisk",
    "asterisk-core-sounds-en",
    "asterisk-core-sounds-ru",
    "asterisk-moh-opsound-wav",
]

MIN_VERSION = 20


class AsteriskError(Exception):
    """Asterisk could not be set up, started or reached; the message says what to do."""


@dataclass(frozen=True)
class Install:
    """Where an Asterisk binary and its files are, as the host sees them."""

    root: Path  # "/" for a system Asterisk, the chroot folder otherwise
    binary: str = "/usr/sbin/asterisk"
    modules_dir: str = "/usr/lib/x86_64-linux-gnu/asterisk/modules"
    data_dir: str = "/usr/share/asterisk"

    @property
    def chrooted(self) -> bool:
        return self.root != Path("/")

    def host_path(self, inside: str) -> Path:
        """The host path of a path as Asterisk sees it."""
        return self.root / inside.lstrip("/")

    def command(self, *args: str) -> list[str]:
        prefix = ["chroot", str(self.root)] if self.chrooted else []
        return [*prefix, self.binary, *args]


Progress = Callable[[str], None]


def _say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def _modules_dir(root: Path) -> str | None:
    for candidate in root.glob("usr/lib*/**/asterisk/modules"):
        if (candidate / "chan_pjsip.so").exists():
            return "/" + str(candidate.relative_to(root))
    return None


def _version(install: Install) -> int | None:
    try:
        out = subprocess.run(
            install.command("-V"), capture_output=True, text=True, timeout=20
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"Asterisk (\d+)", out)
    return int(match.group(1)) if match else None


def system_install() -> Install | None:
    """A host Asterisk >= 20 with PJSIP, if there is one."""
    binary = shutil.which("asterisk") or (
        "/usr/sbin/asterisk" if Path("/usr/sbin/asterisk").exists() else None
    )
    if not binary:
        return None
    modules = _modules_dir(Path("/"))
    if not modules:
        return None
    install = Install(root=Path("/"), binary=binary, modules_dir=modules)
    version = _version(install)
    return install if version and version >= MIN_VERSION else None


def debian_mirror() -> str:
    """The Debian mirror apt on this machine already uses (we name none ourselves)."""
    sources = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for source in sources:
        with contextlib.suppress(OSError):
            for line in source.read_text().splitlines():
                line = line.strip()
                found = re.match(r"(?:URIs:\s*|deb\s+(?:\[[^]]*\]\s+)?)(\S+/debian)/?$", line)
                if found:
                    return found.group(1)
    raise AsteriskError(
        "no Debian mirror found in /etc/apt/sources.list*: "
        "set HOTLINE_DEBIAN_MIRROR to one, or point Hotline at an existing Asterisk"
    )


def chroot_install(state_dir: Path, progress: Progress = _say) -> Install:
    """The cached sid chroot with Debian's asterisk package, built on first use."""
    root = state_dir / "asterisk-root"
    ready = root / ".hotline-ready"
    if ready.exists():
        return _chroot_install(root)
    if os.geteuid() != 0:
        raise AsteriskError(
            "building the Asterisk chroot needs root (debootstrap and chroot). Run as root, "
            "install Asterisk >= 20 yourself, or set asterisk.managed: false in "
            "config/hotline.yaml and point Hotline at an existing Asterisk (README)."
        )
    if not shutil.which("debootstrap"):
        raise AsteriskError(
            "debootstrap is missing: apt-get install debootstrap (make run does this), "
            "or point Hotline at an existing Asterisk >= 20 (README)."
        )
    mirror = os.environ.get("HOTLINE_DEBIAN_MIRROR") or debian_mirror()
    building = state_dir / "asterisk-root.partial"
    shutil.rmtree(building, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    progress(f"building the Asterisk chroot (Debian sid, from {mirror}); about a minute")
    _run_step(
        ["debootstrap", "--variant=minbase", "sid", str(building), mirror],
        progress,
        "debootstrap",
    )
    progress("installing Asterisk 22 and its sounds into the chroot")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run_step(
        [
            "chroot",
            str(building),
            "apt-get",
            "install",
            "-y",
            "--no-install-recommends",
            *CHROOT_PACKAGES,
        ],
        progress,
        "apt-get",
        env=env,
    )
    # Debian's sample configs are never used: each instance renders its own.
    shutil.rmtree(building / "etc/asterisk", ignore_errors=True)
    own_user_id(building)
    (building / ".hotline-ready").write_text("ok\n")
    shutil.rmtree(root, ignore_errors=True)
    building.rename(root)
    install = _chroot_install(root)
    progress(f"Asterisk chroot ready: version {_version(install)}")
    return install


def _ids(path: Path) -> dict[str, int]:
    ids = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            fields = line.split(":")
            if len(fields) > 2 and fields[2].isdigit():
                ids[fields[0]] = int(fields[2])
    return ids


def own_user_id(root: Path) -> None:
    """Give the chroot's 'asterisk' user and group an id no host account has.

    Debian allots it a low system id, which on the host is often somebody else
    (postgres, say): Asterisk could then signal that account's processes.
    """
    users, groups = _ids(root / "etc/passwd"), _ids(root / "etc/group")
    taken = set(_ids(Path("/etc/passwd")).values()) | set(_ids(Path("/etc/group")).values())
    current = users.get("asterisk")
    if current is None or (current not in taken and groups.get("asterisk") not in taken):
        return
    inside = set(users.values()) | set(groups.values())
    free = next(i for i in range(64000, 65500) if i not in taken and i not in inside)
    for cmd in (
        ["groupmod", "-g", str(free), "asterisk"],
        ["usermod", "-u", str(free), "asterisk"],
    ):
        subprocess.run(["chroot", str(root), *cmd], check=True, capture_output=True)


def _chroot_install(root: Path) -> Install:
    if os.geteuid() == 0:
        own_user_id(root)
    modules = _modules_dir(root)
    if not modules:
        raise AsteriskError(f"the chroot at {root} has no Asterisk modules: delete it to rebuild")
    return Install(root=root, modules_dir=modules)


def _run_step(cmd: list[str], progress: Progress, what: str, env: dict | None = None) -> None:
    """Run a long set-up step, showing a line of progress every few seconds."""
    started = time.monotonic()
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as proc:
        assert proc.stdout
        last_shown = 0.0
        tail: list[str] = []
        for line in proc.stdout:
            tail = [*tail[-20:], line.rstrip()]
            now = time.monotonic()
            if now - last_shown > 5:
                progress(f"  {what} [{now - started:4.0f}s] {line.strip()[:90]}")
                last_shown = now
        if proc.wait() != 0:
            raise AsteriskError(f"{what} failed:\n" + "\n".join(tail))


def find_install(state_dir: Path, progress: Progress = _say) -> Install:
    """A system Asterisk >= 20 if installed, the cached chroot otherwise."""
    if os.environ.get("HOTLINE_ASTERISK") != "chroot":
        found = system_install()
        if found:
            return found
    return chroot_install(state_dir, progress)


def ensure_proc(install: Install) -> None:
    """Asterisk in a chroot needs /proc (and /dev/shm for some modules)."""
    if not install.chrooted:
        return
    proc = install.root / "proc"
    if not (proc / "self").exists():
        subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)


def running_pids(install: Install) -> list[int]:
    """Asterisk processes whose root is this install's chroot."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if Path(os.readlink(entry / "root")) == install.root.resolve() and (
                "asterisk" in (entry / "comm").read_text()
            ):
                pids.append(int(entry.name))
    return pids


def release_proc(install: Install) -> None:
    """Unmount the chroot's /proc once no Asterisk runs in it."""
    if install.chrooted and not running_pids(install):
        subprocess.run(["umount", str(install.root / "proc")], capture_output=True)


def kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
