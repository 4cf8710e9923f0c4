"""HTTPS for the web (`web.tls`, controller/web_tls.py): the certificate made at first
start with the SIP/TLS code (its own name, for the web's hosts, remade when one is
added) or the operator's, checked with clear errors; the config's refusals."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path
from typing import ClassVar

import aiohttp
import pytest
from aiohttp import web

from controller.cli import Refused, banner, web_tls_context, web_tls_files
from controller.paths import ProjectPaths
from controller.secrets import (
    CertificateError,
    TlsFiles,
    ensure_certificate,
    fingerprint,
    subject_alt_names,
)
from controller.web_tls import server_context, web_certificate, web_hosts
from hotline.config import HotlineConfig, WebConfig

MINIMAL = {"numbers": {"100": "main"}}


def config(**web_: object) -> HotlineConfig:
    return HotlineConfig.model_validate({**MINIMAL, "web": web_})


def test_off_by_default_and_nothing_made(tmp_path: Path) -> None:
    assert web_certificate(WebConfig(), tmp_path, tmp_path / "state") is None
    paths = ProjectPaths(home=tmp_path, state=tmp_path / "state")
    assert web_tls_files(config(), paths) is None
    assert web_tls_context(None) is None
    assert not (tmp_path / "state").exists()


def test_the_hosts_of_the_generated_certificate() -> None:
    assert web_hosts(WebConfig(), "desk-host") == ["127.0.0.1", "localhost", "desk-host"]
    lan = WebConfig(bind="192.0.2.10", tls=True, tls_names=["hotline.example", "192.0.2.10"])
    assert web_hosts(lan, "desk-host") == [
        "127.0.0.1",
        "localhost",
        "desk-host",
        "192.0.2.10",
        "hotline.example",
    ]
    # Bound to "any": the address agents use is not known; tls_names says it.
    assert "0.0.0.0" not in web_hosts(WebConfig(bind="0.0.0.0"), "h")


def test_generated_at_first_start_kept_and_remade_for_a_new_name(tmp_path: Path) -> None:
    state = tmp_path / "state"
    web_ = WebConfig(tls=True, tls_names=["hotline.example"])
    made = web_certificate(web_, tmp_path, state)
    assert made is not None and made.generated
    assert (made.cert, made.key) == (state / "tls/web.crt", state / "tls/web.key")
    assert stat.S_IMODE(made.key.stat().st_mode) == 0o600
    assert {"IP:127.0.0.1", "DNS:localhost", "DNS:hotline.example"} <= subject_alt_names(made.cert)
    first = fingerprint(made.cert)
    again = web_certificate(web_, tmp_path, state)
    assert again is not None and fingerprint(again.cert) == first  # kept
    more = WebConfig(tls=True, tls_names=["hotline.example", "192.0.2.10"])
    remade = web_certificate(more, tmp_path, state)
    assert remade is not None and fingerprint(remade.cert) != first
    assert "IP:192.0.2.10" in subject_alt_names(remade.cert)
    assert not (state / "tls/sip.crt").exists()  # the SIP certificate is another one
    assert not list((state / "tls").glob("*.tmp"))


def test_the_operators_certificate_is_checked(tmp_path: Path) -> None:
    one = ensure_certificate(tmp_path / "one", ["127.0.0.1"], name="web")
    two = ensure_certificate(tmp_path / "two", ["127.0.0.1"], name="web")
    paths = ProjectPaths(home=tmp_path, state=tmp_path / "state")
    # Relative paths are from the checkout.
    good = web_tls_files(
        config(tls=True, tls_cert_file="one/web.crt", tls_key_file="one/web.key"), paths
    )
    assert good == TlsFiles(one.cert, one.key, generated=False)
    with pytest.raises(Refused) as error:
        web_tls_files(
            config(tls=True, tls_cert_file=str(one.cert), tls_key_file=str(two.key)), paths
        )
    assert str(error.value) == (
        f"HTTPS (web.tls) refused: TLS certificate {one.cert} does not match the key {two.key}"
    )
    with pytest.raises(Refused, match=r"^HTTPS \(web.tls\) refused: TLS key .*none.key: no such"):
        web_tls_files(config(tls=True, tls_cert_file=str(one.cert), tls_key_file="none.key"), paths)
    assert not (tmp_path / "state").exists()  # nothing generated in its place


def test_a_key_that_cannot_be_served_is_refused(tmp_path: Path) -> None:
    good = ensure_certificate(tmp_path / "tls", ["127.0.0.1"], name="web")
    broken = tmp_path / "broken.key"
    broken.write_text("garbage\n")
    with pytest.raises(CertificateError, match="cannot serve it"):
        server_context(TlsFiles(good.cert, broken, generated=False))
    with pytest.raises(Refused, match=r"^HTTPS \(web.tls\) refused: TLS certificate .*web.crt"):
        web_tls_context(TlsFiles(good.cert, broken, generated=False))


async def test_the_context_serves_https_that_a_client_trusting_it_accepts(
    tmp_path: Path,
) -> None:
    files = ensure_certificate(tmp_path / "tls", ["127.0.0.1"], name="web")
    app = web.Application()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=request.scheme)

    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context(files))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        trusting = ssl.create_default_context(cafile=str(files.cert))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"https://127.0.0.1:{port}/", ssl=trusting) as answer:
                assert await answer.text() == "https"
            other = ensure_certificate(tmp_path / "other", ["127.0.0.1"], name="web")
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await http.get(
                    f"https://127.0.0.1:{port}/",
                    ssl=ssl.create_default_context(cafile=str(other.cert)),
                )
    finally:
        await runner.cleanup()


def test_config_refusals() -> None:
    with pytest.raises(ValueError, match="tls_cert_file and tls_key_file go together"):
        config(tls=True, tls_cert_file="a.crt")
    with pytest.raises(ValueError, match="tls_cert_file, tls_key_file and tls_names need tls"):
        config(tls_cert_file="a.crt", tls_key_file="a.key")
    with pytest.raises(ValueError, match="tls_cert_file, tls_key_file and tls_names need tls"):
        config(tls_names=["hotline.example"])
    with pytest.raises(ValueError, match="tls_names are for the generated certificate"):
        config(tls=True, tls_cert_file="a.crt", tls_key_file="a.key", tls_names=["x.example"])
    with pytest.raises(ValueError, match="tls_names"):
        config(tls=True, tls_names=["not a name/"])


class Started:
    """What the banner reads of a started Hotline."""

    web_url = "https://0.0.0.0:8443/"
    new_passwords: ClassVar[dict[str, str]] = {}


def test_the_banner_prints_the_https_certificate_and_its_fingerprint(tmp_path: Path) -> None:
    from controller.secrets import Secrets

    files = ensure_certificate(tmp_path / "tls", ["127.0.0.1"], name="web")
    secrets = Secrets("ari", "p", "ami", "s", "token", {})
    text = banner(config(tls=True), secrets, Started(), web_tls=files)  # type: ignore[arg-type]
    assert "agent desk:     https://0.0.0.0:8443/desk" in text
    assert f"HTTPS certificate (generated): {files.cert}" in text
    assert f"SHA-256 fingerprint: {fingerprint(files.cert)}" in text
    assert "HTTPS certificate" not in banner(config(), secrets, Started())  # type: ignore[arg-type]


def test_an_ipv6_address_is_kept_in_the_certificate_once(tmp_path: Path) -> None:
    """openssl writes ::1 back as 0:0:0:0:0:0:0:1: still the same name, not made again."""
    web_ = WebConfig(bind="::1", tls=True)
    made = web_certificate(web_, tmp_path, tmp_path / "state")
    assert made is not None and "IP:::1" in subject_alt_names(made.cert)
    again = web_certificate(web_, tmp_path, tmp_path / "state")
    assert again is not None and fingerprint(again.cert) == fingerprint(made.cert)
