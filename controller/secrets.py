"""Generated secrets: ARI, AMI, the API token, each agent's SIP password and the SIP/TLS
certificate.

They are made once into the state folder (mode 0600) and never have defaults.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from hotline.yamlsource import load_yaml


def _token() -> str:
    return secrets.token_urlsafe(18)


@dataclass
class Secrets:
    ari_user: str = "hotline"
    ari_password: str = field(default_factory=_token)
    ami_user: str = "hotline"
    ami_secret: str = field(default_factory=_token)
    api_token: str = field(default_factory=_token)
    agent_passwords: dict[str, str] = field(default_factory=dict)


def load_secrets(path: Path, endpoints: list[str]) -> Secrets:
    """Read the secrets file, adding passwords for new agents; write it back if changed."""
    known = load_yaml(path)[0] if path.exists() else None
    current = Secrets(**known) if isinstance(known, dict) else Secrets()
    missing = [e for e in endpoints if e not in current.agent_passwords]
    for endpoint in missing:
        current.agent_passwords[endpoint] = _token()
    if missing or known is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            yaml.safe_dump(asdict(current), out, sort_keys=True)
    return current


class CertificateError(Exception):
    """A TLS certificate or key that cannot be used, with what to do about it."""


@dataclass(frozen=True)
class TlsFiles:
    """The certificate (PEM) and its private key Asterisk serves SIP/TLS with."""

    cert: Path
    key: Path
    generated: bool


def _openssl(*args: str, stdin: bytes | None = None) -> str:
    try:
        done = subprocess.run(
            ["openssl", *args], input=stdin, capture_output=True, timeout=60, check=False
        )
    except FileNotFoundError as error:
        raise CertificateError("openssl is not installed (apt-get install openssl)") from error
    if done.returncode != 0:
        said = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
        raise CertificateError(said[-1] if said else f"openssl {args[0]} exited {done.returncode}")
    return done.stdout.decode()


def ensure_certificate(
    folder: Path, hosts: list[str], *, name: str = "sip", subject: str = "Hotline SIP"
) -> TlsFiles:
    """A self-signed certificate for `hosts` (IP addresses or names), made once into
    `folder` as `<name>.crt` and `<name>.key` (key mode 0600) like the other secrets,
    and kept while it is valid and names every host (made again when one is added)."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    names = [_alt_name(h) for h in dict.fromkeys(hosts)]
    if cert.exists() and key.exists():
        with contextlib.suppress(CertificateError):
            check_certificate(cert, key)
            if set(names) <= subject_alt_names(cert):
                return TlsFiles(cert, key, generated=True)
    folder.mkdir(parents=True, exist_ok=True)
    tmp_key, tmp_cert = folder / f"{name}.key.tmp", folder / f"{name}.crt.tmp"
    tmp_key.unlink(missing_ok=True)
    os.close(os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-sha256", "-days", "3650", "-subj", f"/CN={subject}",
        "-addext", f"subjectAltName={','.join(names)}",
        "-keyout", str(tmp_key), "-out", str(tmp_cert),
    )  # fmt: skip
    tmp_key.chmod(0o600)
    tmp_key.replace(key)
    tmp_cert.replace(cert)
    return TlsFiles(cert, key, generated=True)


def subject_alt_names(cert: Path) -> set[str]:
    """The certificate's subject alternative names as `IP:…` and `DNS:…`."""
    out = _openssl("x509", "-in", str(cert), "-noout", "-ext", "subjectAltName")
    found = set()
    for entry in out.replace("\n", ",").split(","):
        kind, _, value = entry.strip().partition(":")
        if kind == "IP Address":
            found.add(_alt_name(value))  # openssl writes ::1 as 0:0:0:0:0:0:0:1
        elif kind == "DNS":
            found.add(f"DNS:{value}")
    return found


def check_certificate(cert: Path, key: Path) -> None:
    """Refuse a certificate that is unreadable, expired, or not the key's."""
    for path, what in ((cert, "certificate"), (key, "key")):
        if not path.is_file():
            raise CertificateError(f"TLS {what} {path}: no such file")
    try:
        cert_pub = _openssl("x509", "-in", str(cert), "-noout", "-pubkey")
    except CertificateError as error:
        raise CertificateError(f"TLS certificate {cert}: not a PEM certificate ({error})") from None
    try:
        key_pub = _openssl("pkey", "-in", str(key), "-pubout", "-passin", "pass:")
    except CertificateError as error:
        raise CertificateError(
            f"TLS key {key}: not an unencrypted PEM private key ({error})"
        ) from None
    if cert_pub.strip() != key_pub.strip():
        raise CertificateError(f"TLS certificate {cert} does not match the key {key}")
    try:
        _openssl("x509", "-in", str(cert), "-noout", "-checkend", "0")
    except CertificateError:
        raise CertificateError(f"TLS certificate {cert} has expired") from None


def fingerprint(cert: Path) -> str:
    """The certificate's SHA-256 fingerprint, as phones show it (AB:CD:…)."""
    out = _openssl("x509", "-in", str(cert), "-noout", "-fingerprint", "-sha256")
    return out.strip().split("=", 1)[1]


def _alt_name(host: str) -> str:
    """`IP:<address>` (compressed, as ipaddress writes it) or `DNS:<name>`."""
    if _is_ip(host):
        return f"IP:{ipaddress.ip_address(host).compressed}"
    return f"DNS:{host}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
