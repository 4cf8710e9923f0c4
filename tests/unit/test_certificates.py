"""The SIP/TLS certificate: made once at first start like the other secrets, or the
operator's, checked (it matches its key, it has not expired) with clear errors."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from controller.cli import Refused, tls_files
from controller.paths import ProjectPaths
from controller.secrets import CertificateError, check_certificate, ensure_certificate, fingerprint
from hotline.config import HotlineConfig

MINIMAL = {"numbers": {"100": "main"}}


def test_made_once_with_a_private_key_and_kept(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path / "tls", ["127.0.0.1", "hotline.example"])
    assert stat.S_IMODE(first.key.stat().st_mode) == 0o600
    check_certificate(first.cert, first.key)
    text = subprocess.run(
        ["openssl", "x509", "-in", str(first.cert), "-noout", "-ext", "subjectAltName"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "IP Address:127.0.0.1" in text and "DNS:hotline.example" in text
    print_ = fingerprint(first.cert)
    assert len(print_.split(":")) == 32
    again = ensure_certificate(tmp_path / "tls", ["127.0.0.1"])
    assert fingerprint(again.cert) == print_  # not made again
    assert not list((tmp_path / "tls").glob("*.tmp"))


def test_a_broken_pair_is_made_again(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path / "tls", ["127.0.0.1"])
    before = fingerprint(first.cert)
    first.key.write_text("garbage\n")
    again = ensure_certificate(tmp_path / "tls", ["127.0.0.1"])
    check_certificate(again.cert, again.key)
    assert fingerprint(again.cert) != before


def test_a_certificate_that_does_not_match_its_key(tmp_path: Path) -> None:
    one = ensure_certificate(tmp_path / "one", ["127.0.0.1"])
    two = ensure_certificate(tmp_path / "two", ["127.0.0.1"])
    with pytest.raises(CertificateError) as error:
        check_certificate(one.cert, two.key)
    assert str(error.value) == f"TLS certificate {one.cert} does not match the key {two.key}"


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    good = ensure_certificate(tmp_path / "tls", ["127.0.0.1"])
    with pytest.raises(CertificateError, match=r"^TLS certificate .*/none.crt: no such file$"):
        check_certificate(tmp_path / "none.crt", good.key)
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(
        CertificateError, match=r"^TLS certificate .*bogus.pem: not a PEM certificate"
    ):
        check_certificate(bogus, good.key)
    with pytest.raises(CertificateError, match=r"^TLS key .*bogus.pem: not an unencrypted PEM"):
        check_certificate(good.cert, bogus)


def test_an_expired_certificate(tmp_path: Path) -> None:
    key, cert = tmp_path / "old.key", tmp_path / "old.crt"
    # openssl 3.0's req has no -not_after: a one-off self-signing CA sets the dates.
    (tmp_path / "ca.cnf").write_text(
        "[ca]\ndefault_ca = x\n[x]\ndatabase = index.txt\nnew_certs_dir = .\n"
        "serial = serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n"
    )
    (tmp_path / "index.txt").write_text("")
    (tmp_path / "serial").write_text("01\n")
    openssl = {"capture_output": True, "check": True, "cwd": tmp_path}
    subprocess.run(
        ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-subj", "/CN=old", "-keyout", str(key), "-out", "old.csr"],
        **openssl,
    )  # fmt: skip
    subprocess.run(
        ["openssl", "ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", str(key),
         "-in", "old.csr", "-out", str(cert),
         "-startdate", "20200101000000Z", "-enddate", "20210101000000Z"],
        **openssl,
    )  # fmt: skip
    with pytest.raises(CertificateError) as error:
        check_certificate(cert, key)
    assert str(error.value) == f"TLS certificate {cert} has expired"


def test_the_operators_mismatched_pair_refuses_the_start(tmp_path: Path) -> None:
    one = ensure_certificate(tmp_path / "one", ["127.0.0.1"])
    two = ensure_certificate(tmp_path / "two", ["127.0.0.1"])
    tls = {"sip_tls": True, "tls_cert_file": str(one.cert), "tls_key_file": str(two.key)}
    config = HotlineConfig.model_validate({**MINIMAL, "asterisk": tls})
    paths = ProjectPaths(home=tmp_path, state=tmp_path / "state")
    with pytest.raises(Refused) as error:
        tls_files(config, paths)
    assert str(error.value) == (
        f"SIP/TLS refused: TLS certificate {one.cert} does not match the key {two.key}"
    )
    assert not (tmp_path / "state").exists()  # nothing generated in its place


def test_generated_at_first_start_into_the_state_folder(tmp_path: Path) -> None:
    config = HotlineConfig.model_validate({**MINIMAL, "asterisk": {"sip_tls": True}})
    paths = ProjectPaths(home=tmp_path, state=tmp_path / "state")
    tls = tls_files(config, paths)
    assert tls is not None and tls.generated and tls.cert == tmp_path / "state/tls/sip.crt"
    assert tls_files(HotlineConfig.model_validate(MINIMAL), paths) is None  # off by default


def test_config_refusals() -> None:
    with pytest.raises(ValueError, match="tls_cert_file and tls_key_file go together"):
        HotlineConfig.model_validate({**MINIMAL, "asterisk": {"tls_cert_file": "a.crt"}})
    with pytest.raises(ValueError, match="sip_tls_port must differ from sip_port"):
        HotlineConfig.model_validate(
            {**MINIMAL, "asterisk": {"sip_tls": True, "sip_tls_port": 5060}}
        )
