"""Set-up refuses clearly when it cannot do its job: no root, no debootstrap."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from controller import asterisk
from controller.asterisk import AsteriskError, chroot_install

HOME = Path(__file__).resolve().parents[2]


def test_setup_without_root_names_the_missing_packages() -> None:
    if os.geteuid() != 0 or not shutil.which("runuser"):
        pytest.skip("needs root to run the script as another user")
    # A dpkg-query that knows no package: as if this were a fresh machine. It lives
    # outside pytest's private temp folder so that 'nobody' can run it.
    with tempfile.TemporaryDirectory() as fake:
        os.chmod(fake, 0o755)
        query = Path(fake) / "dpkg-query"
        query.write_text("#!/bin/sh\nexit 1\n")
        query.chmod(0o755)
        done = _setup_as_nobody(fake)
    assert done.returncode == 1
    assert "only root can install them" in done.stderr
    assert "debootstrap" in done.stderr and "espeak-ng" in done.stderr
    assert "Using an existing Asterisk" in done.stderr


def _setup_as_nobody(path: str) -> subprocess.CompletedProcess[str]:
    runuser = shutil.which("runuser") or "runuser"
    # A copy beside the fake dpkg-query: the checkout may sit in a folder 'nobody'
    # cannot enter (a clone under `mktemp -d` is mode 0700).
    scripts = Path(path) / "scripts"
    scripts.mkdir(mode=0o755)
    script = str(shutil.copy(HOME / "scripts/setup.sh", scripts / "setup.sh"))
    return subprocess.run(
        [runuser, "-u", "nobody", "--", "env", f"PATH={path}:/usr/bin:/bin", "bash", script, "run"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_chroot_needs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asterisk.os, "geteuid", lambda: 1000)
    with pytest.raises(AsteriskError) as refused:
        chroot_install(tmp_path / "state")
    message = str(refused.value)
    assert "needs root" in message
    assert "asterisk.managed: false" in message
    assert not (tmp_path / "state").exists()


def test_chroot_needs_debootstrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("the debootstrap check comes after the root check")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AsteriskError) as refused:
        chroot_install(tmp_path / "state")
    assert "debootstrap is missing" in str(refused.value)
    assert "existing Asterisk" in str(refused.value)
    assert not (tmp_path / "state").exists()


def test_mirror_comes_from_apt_sources(tmp_path: Path) -> None:
    mirror = asterisk.debian_mirror()
    assert mirror.startswith(("http://", "https://")) and mirror.endswith("/debian")
