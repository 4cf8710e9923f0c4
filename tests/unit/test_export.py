"""`hotline asterisk export`: fragments an existing Asterisk can include as they are,
readable by its `asterisk` user, checked against the running Asterisk, and taken back
when they would make it drop the site's own configuration.

The machine is a temporary root with its own /etc/passwd and /etc/group (as the
managed instance reads the chroot's), and the running Asterisk a fake console that
answers as Asterisk 22's CLI does.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from controller.cli import export
from controller.export import (
    ExportError,
    ExportReport,
    asterisk_owner,
    asterisk_path,
    install_fragments,
    system_cli,
)
from controller.instance import export_fragments
from controller.paths import ProjectPaths
from controller.secrets import ensure_certificate, load_secrets
from hotline.config import HotlineConfig

HOME = Path(__file__).resolve().parents[2]


def hotline_config(**asterisk: object) -> HotlineConfig:
    return HotlineConfig.model_validate(
        {
            "numbers": {"100": "main", "5550100": "main"},
            "asterisk": {
                "managed": False,
                "ari_url": "http://127.0.0.1:8088",
                "ari_user": "hotline-ari",
                "ari_password": "ari-secret-from-config",
                "ami_user": "hotline-ami",
                "ami_secret": "ami-secret-from-config",
                **asterisk,
            },
            "agents": [{"id": "alice", "name": "Alice", "endpoint": "1001"}],
        }
    )


def fake_root(tmp_path: Path, gid: int | None = None) -> Path:
    """A machine whose `asterisk` user has group `gid` (ours by default: chgrp works)."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    gid = os.getgid() if gid is None else gid
    (root / "etc/passwd").write_text(
        f"root:x:0:0:root:/root:/bin/bash\nasterisk:x:{os.getuid()}:{gid}::/var/lib/asterisk:/usr/sbin/nologin\n"
    )
    (root / "etc/group").write_text(f"root:x:0:\nasterisk:x:{gid}:\n")
    return root


class FakeAsterisk:
    """The site's Asterisk console: its own endpoints, plus ours once the fragments
    load (or, `breaks`, none at all: its pjsip.conf rejected)."""

    def __init__(self, target: Path, site: list[str], *, breaks: bool = False) -> None:
        self.target, self.site, self.breaks = target, site, breaks
        self.commands: list[str] = []
        self.endpoints = list(site)
        self.included = True
        #: pbx_config not running: extensions.conf was refused at start (it included a
        #: fragment that was not there yet).
        self.dialplan_down = False

    def __call__(self, command: str) -> str:
        self.commands.append(command)
        if command == "module reload pbx_config.so" and self.dialplan_down:
            return (
                "The module 'pbx_config.so' was not properly initialized. Before reloading the "
                'module, you must run "module load pbx_config.so" and fix whatever is preventing'
                " the module from being initialized.\n"
            )
        if command == "module load pbx_config.so":
            self.dialplan_down = False
            return "Loaded pbx_config.so\n"
        if command == "module reload res_pjsip.so":
            fragment = (self.target / "pjsip_hotline.conf").read_text()
            if self.breaks and "type = endpoint" in fragment:
                self.endpoints = []
            else:
                ours = [
                    line.strip("[]") for line in fragment.splitlines() if line.startswith("[1001")
                ]
                self.endpoints = self.site + (sorted(set(ours)) if self.included else [])
            return ""
        if command == "pjsip show endpoints":
            if not self.endpoints:
                return "No objects found.\n"
            header = " Endpoint:  <Endpoint/CID.....................................>  <State>\n"
            rows = "".join(
                f" Endpoint:  {e}/{e}   Unavailable   0 of inf\n" for e in self.endpoints
            )
            return header + rows
        if command == "dialplan show hotline-public":
            if self.included and not self.dialplan_down:
                return "[ Context 'hotline-public' created by 'pbx_config' ]\n"
            return "There is no existence of 'hotline-public' context\n"
        if command == "ari show users":
            return "r/o?  Username\n----  --------\nNo    hotline-ari\n" if self.included else ""
        if command == "manager show users":
            return "username\n--------\nhotline-ami\n" if self.included else ""
        return ""


def test_fragments_carry_hotline_only(tmp_path: Path) -> None:
    config = hotline_config()
    secrets = load_secrets(tmp_path / "secrets.yaml", ["1001"])
    report = export_fragments(config, secrets, HOME, tmp_path / "out", root=fake_root(tmp_path))

    names = sorted(p.name for p in report.written)
    assert names == [
        "ari_hotline.conf", "extensions_hotline.conf", "manager_hotline.conf", "pjsip_hotline.conf",
    ]  # fmt: skip
    text = {p.name: p.read_text() for p in report.written}
    for body in text.values():
        # Their [general], [global], transports and anonymous endpoint stay theirs.
        assert "[general]" not in body and "[global]" not in body
        assert "type = transport" not in body and "[anonymous]" not in body
    assert "[hotline-ari]" in text["ari_hotline.conf"]
    assert "password = ari-secret-from-config" in text["ari_hotline.conf"]
    assert "secret = ami-secret-from-config" in text["manager_hotline.conf"]
    assert f"password = {secrets.agent_passwords['1001']}" in text["pjsip_hotline.conf"]
    assert "exten => 100,1,Stasis(hotline,inbound)" in text["extensions_hotline.conf"]
    assert "exten => 5550100,1,Stasis(hotline,inbound)" in text["extensions_hotline.conf"]
    # The browser phone: a WebRTC endpoint with the agent's own credentials.
    assert "[1001-web]" in text["pjsip_hotline.conf"]
    assert "webrtc = yes" in text["pjsip_hotline.conf"]


def test_files_are_readable_by_asterisks_group_and_nobody_else(tmp_path: Path) -> None:
    secrets = load_secrets(tmp_path / "secrets.yaml", ["1001"])
    root = fake_root(tmp_path)
    report = export_fragments(hotline_config(), secrets, HOME, tmp_path / "out", root=root)
    for path in report.written:
        info = path.stat()
        assert stat.S_IMODE(info.st_mode) == 0o640, path
        assert info.st_gid == os.getgid()
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) & 0o050 == 0o050
    assert report.todo == []
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_a_group_we_cannot_give_is_said_as_the_exact_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = load_secrets(tmp_path / "secrets.yaml", ["1001"])
    root = fake_root(tmp_path, gid=4242)

    def not_allowed(path: object, uid: int, gid: int) -> None:
        raise PermissionError(1, "Operation not permitted")  # as for a user not root

    monkeypatch.setattr(os, "chown", not_allowed)
    fake = FakeAsterisk(tmp_path / "out", ["site-phone"])
    report = export_fragments(
        hotline_config(), secrets, HOME, tmp_path / "out", root=root, cli=fake
    )
    pjsip = tmp_path / "out/pjsip_hotline.conf"
    assert f"chgrp asterisk {pjsip} && chmod 0640 {pjsip}" in report.todo
    assert not report.checked and fake.commands == ["pjsip show endpoints"]  # nothing reloaded


def test_no_asterisk_user_says_what_to_do(tmp_path: Path) -> None:
    secrets = load_secrets(tmp_path / "secrets.yaml", ["1001"])
    root = tmp_path / "bare"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    report = export_fragments(hotline_config(), secrets, HOME, tmp_path / "out", root=root)
    assert len(report.todo) == 1
    assert report.todo[0].startswith("no 'asterisk' user here: let the user Asterisk runs as read")


def test_checked_against_the_running_asterisk(tmp_path: Path) -> None:
    secrets = load_secrets(tmp_path / "secrets.yaml", ["1001"])
    fake = FakeAsterisk(tmp_path / "out", ["site-phone", "trunk"])
    report = export_fragments(
        hotline_config(), secrets, HOME, tmp_path / "out", root=fake_root(tmp_path), cli=fake
    )
    assert report.checked and report.ok, report.problems
    assert "module reload res_pjsip.so" in fake.commands
    assert "module reload pbx_config.so" in fake.commands
    assert report.loaded == [
        "PJSIP endpoint 1001", "PJSIP endpoint 1001-web", "dialplan context hotline-public",
        "ARI user hotline-ari", "AMI user hotline-ami",
    ]  # fmt: skip


def test_fragments_not_included_yet_are_named_with_the_line_to_add(tmp_path: Path) -> None:
    secrets = load_secrets(tmp_path / "secrets.yaml", ["1001"])
    fake = FakeAsterisk(tmp_path / "out", ["site-phone"])
    fake.included = False
    report = export_fragments(
        hotline_config(), secrets, HOME, tmp_path / "out", root=fake_root(tmp_path), cli=fake
    )
    assert not report.ok and not report.rolled_back
    assert report.problems[0].startswith(
        "PJSIP endpoint 1001 is not loaded: is '#include hotline/pjsip_hotline.conf' in pjsip.conf"
    )
    assert any("'#include hotline/extensions_hotline.conf'" in p for p in report.problems)
    assert any(p.startswith("ARI user hotline-ari is not loaded") for p in report.problems)
    assert any(p.startswith("AMI user hotline-ami is not loaded") for p in report.problems)


def test_a_fragment_that_drops_the_sites_endpoints_is_taken_back(tmp_path: Path) -> None:
    secrets = load_secrets(tmp_path / "secrets.yaml", ["1001"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "pjsip_hotline.conf").write_text("; the version that worked\n")
    fake = FakeAsterisk(out, ["site-phone", "trunk"], breaks=True)
    report = export_fragments(
        hotline_config(), secrets, HOME, out, root=fake_root(tmp_path), cli=fake
    )
    assert report.rolled_back and not report.ok
    assert report.problems[-1] == (
        "Asterisk dropped PJSIP endpoints it had before (the site's own): site-phone, trunk;"
        " the previous fragments are restored"
    )
    # The previous fragment is back, a new one with nothing before is empty, and
    # Asterisk was reloaded with them: the site's endpoints are there again.
    assert (out / "pjsip_hotline.conf").read_text() == "; the version that worked\n"
    assert (out / "ari_hotline.conf").read_text() == ""
    assert fake.commands.count("module reload res_pjsip.so") == 2
    assert fake.endpoints == ["site-phone", "trunk"]


def test_owner_is_read_from_the_machines_files(tmp_path: Path) -> None:
    root = fake_root(tmp_path, gid=4242)
    (root / "etc/group").write_text("asterisk:x:4242:\n")
    owner = asterisk_owner(root)
    assert owner is not None and (owner.gid, owner.group) == (4242, "asterisk")
    assert asterisk_owner(tmp_path / "nowhere") is None


def test_an_asterisk_that_cannot_be_asked_is_a_clear_error(tmp_path: Path) -> None:
    fake_binary = tmp_path / "asterisk"
    fake_binary.write_text("#!/bin/sh\necho 'Unable to connect to remote asterisk' >&2\nexit 1\n")
    fake_binary.chmod(0o755)
    cli = system_cli([str(fake_binary)])
    assert cli is not None
    with pytest.raises(ExportError) as error:
        install_fragments([("pjsip_hotline.conf", "")], tmp_path / "out", None, cli, [], ("a", "b"))
    assert str(error.value) == (
        "asterisk -rx 'pjsip show endpoints' failed: Unable to connect to remote asterisk "
        "(is Asterisk running, and may this user use its console?)"
    )
    assert not (tmp_path / "out/pjsip_hotline.conf").exists()  # nothing written


def test_a_dialplan_refused_at_start_is_started(tmp_path: Path) -> None:
    """extensions.conf included the fragment before it was written: Asterisk refused it
    at start (pbx_config not running); the export starts it once the fragment is there."""
    secrets = load_secrets(tmp_path / "secrets.yaml", ["1001"])
    fake = FakeAsterisk(tmp_path / "out", ["site-phone"])
    fake.dialplan_down = True
    report = export_fragments(
        hotline_config(), secrets, HOME, tmp_path / "out", root=fake_root(tmp_path), cli=fake
    )
    assert report.ok, report.problems
    assert "pbx_config.so started (it was not running)" in report.loaded
    assert "dialplan context hotline-public" in report.loaded
    assert fake.commands.index("module load pbx_config.so") > fake.commands.index(
        "module reload pbx_config.so"
    )


def tls_export(tmp_path: Path, target: Path, root: Path, cli: object = None) -> object:
    secrets = load_secrets(tmp_path / "secrets.yaml", ["1001"])
    tls = ensure_certificate(tmp_path / "tls", ["127.0.0.1"])
    return export_fragments(
        hotline_config(sip_tls=True), secrets, HOME, target, root=root, tls=tls, cli=cli
    )


def test_tls_files_are_the_certificate_readable_by_asterisks_group(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    target = root / "etc/asterisk/hotline"
    report = tls_export(tmp_path, target, root)
    assert isinstance(report, ExportReport)
    cert, key = target / "hotline_sip.crt", target / "hotline_sip.key"
    assert cert.read_bytes() == (tmp_path / "tls/sip.crt").read_bytes()
    assert key.read_bytes() == (tmp_path / "tls/sip.key").read_bytes()
    for path in (cert, key):
        info = path.stat()
        assert (stat.S_IMODE(info.st_mode), info.st_gid) == (0o640, os.getgid()), path
        assert path in report.written
    assert report.todo == [] and report.notes == []
    # The agents' phones get SRTP; the transport (and so cert_file) stays the site's.
    pjsip = (target / "pjsip_hotline.conf").read_text()
    assert "media_encryption = sdes" in pjsip and "cert_file" not in pjsip


def test_tls_paths_are_those_a_chrooted_asterisk_reads(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    report = tls_export(tmp_path, root / "etc/asterisk/hotline", root)
    assert isinstance(report, ExportReport)
    assert report.tls_paths == {
        "cert": "/etc/asterisk/hotline/hotline_sip.crt",
        "key": "/etc/asterisk/hotline/hotline_sip.key",
    }
    # Asterisk on this machine itself: the paths as they are, made absolute.
    report = tls_export(tmp_path, root / "etc/asterisk/hotline", Path("/"))
    assert isinstance(report, ExportReport) and report.tls_paths is not None
    assert report.tls_paths["cert"] == str(root / "etc/asterisk/hotline/hotline_sip.crt")


def test_a_relative_target_gives_absolute_tls_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = fake_root(tmp_path)
    monkeypatch.chdir(root / "etc")
    report = tls_export(tmp_path, Path("asterisk/hotline"), root)
    assert isinstance(report, ExportReport) and report.tls_paths is not None
    assert report.tls_paths["key"] == "/etc/asterisk/hotline/hotline_sip.key"


def test_a_target_outside_the_asterisk_root_is_said(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    report = tls_export(tmp_path, tmp_path / "elsewhere", root)
    assert isinstance(report, ExportReport) and report.tls_paths is not None
    assert report.tls_paths["cert"] == str(tmp_path / "elsewhere/hotline_sip.crt")
    assert report.notes == [
        f"{tmp_path / 'elsewhere'} is outside {root}: the certificate paths are this "
        "machine's; give your Asterisk the paths it sees the folder by (its mount)"
    ]
    assert asterisk_path(tmp_path / "elsewhere", root) is None
    assert asterisk_path(root / "etc/asterisk", root) == Path("/etc/asterisk")
    assert asterisk_path(root, root) == Path("/")


def test_a_rollback_takes_a_new_certificate_back_too(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    target = root / "etc/asterisk/hotline"
    target.mkdir(parents=True)
    (target / "pjsip_hotline.conf").write_text("; the version that worked\n")
    fake = FakeAsterisk(target, ["site-phone"], breaks=True)
    report = tls_export(tmp_path, target, root, cli=fake)
    assert isinstance(report, ExportReport) and report.rolled_back
    assert (target / "pjsip_hotline.conf").read_text() == "; the version that worked\n"
    assert (target / "ari_hotline.conf").read_text() == ""  # the #include stays valid
    assert not (target / "hotline_sip.crt").exists()
    assert not (target / "hotline_sip.key").exists()


def test_the_export_command_prints_the_paths_asterisk_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = fake_root(tmp_path)
    target = root / "etc/asterisk/hotline"
    paths = ProjectPaths(home=HOME, state=tmp_path / "state")
    secrets = load_secrets(tmp_path / "secrets.yaml", ["1001"])
    code = export(hotline_config(sip_tls=True), secrets, paths, target, check=False, root=root)
    assert code == 0
    out = capsys.readouterr().out
    assert (
        "SIP/TLS: give your TLS transport cert_file = /etc/asterisk/hotline/hotline_sip.crt "
        "and priv_key_file = /etc/asterisk/hotline/hotline_sip.key"
    ) in out
    assert f"wrote {target / 'hotline_sip.key'}" in out
    key = target / "hotline_sip.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o640
    assert key.read_bytes() == (tmp_path / "state/tls/sip.key").read_bytes()
    # Without SIP/TLS no certificate is written and nothing about it is said.
    code = export(hotline_config(), secrets, paths, tmp_path / "plain", check=False, root=root)
    assert "SIP/TLS" not in capsys.readouterr().out
    assert not (tmp_path / "plain/hotline_sip.crt").exists()
