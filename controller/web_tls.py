"""HTTPS and WSS for the web (`web.tls`): the certificate the web server serves, the
operator's (checked) or one made at first start like the SIP/TLS one
(`controller/secrets.py`), and the TLS context aiohttp serves it with.

Browsers give the microphone only to secure pages (https, or http on the agent's own
machine), so the desk's browser phone on another machine needs the desk over HTTPS;
its relay (`/desk/phone/ws`) is then WSS on the same origin.
"""

from __future__ import annotations

import socket
import ssl
from ipaddress import ip_address
from pathlib import Path

from controller.secrets import CertificateError, TlsFiles, check_certificate, ensure_certificate
from hotline.config import WebConfig


def web_hosts(web: WebConfig, host_name: str | None = None) -> list[str]:
    """Names and addresses the generated certificate is made for: this machine on
    loopback, its host name, the address the web binds to (not "any") and the
    operator's `tls_names`."""
    hosts = ["127.0.0.1", "localhost", host_name or socket.gethostname()]
    if not ip_address(web.bind).is_unspecified:
        hosts.append(web.bind)
    return list(dict.fromkeys([*hosts, *web.tls_names]))


def web_certificate(web: WebConfig, home: Path, state: Path) -> TlsFiles | None:
    """The web's certificate when `web.tls` is on: the operator's (relative paths from
    the checkout `home`; checked: readable, its key's, not expired) or a self-signed one
    made once into `state/tls/` (web.crt, web.key). Raises CertificateError."""
    if not web.tls:
        return None
    if web.tls_cert_file is not None and web.tls_key_file is not None:
        cert, key = home / web.tls_cert_file, home / web.tls_key_file
        check_certificate(cert, key)
        return TlsFiles(cert, key, generated=False)
    return ensure_certificate(state / "tls", web_hosts(web), name="web", subject="Hotline web")


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """TLS 1.2 or later with Python's default ciphers, serving `files`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.cert, files.key)
    except (ssl.SSLError, OSError) as error:
        raise CertificateError(f"TLS certificate {files.cert}: cannot serve it ({error})") from None
    return context
