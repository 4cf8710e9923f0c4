"""The controller and an Asterisk it does not manage: not there yet, restarted, wrong password.

The controller must keep running, say what is wrong in one line (not a traceback per
retry), and connect by itself once Asterisk is reachable, re-registering its Stasis
application after Asterisk restarts.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ari_app.events import WANTED_EVENTS
from controller.asterisk import find_install
from controller.instance import AsteriskInstance
from controller.secrets import Secrets, load_secrets
from hotline.config import HotlineConfig
from tests.e2e.conftest import HOME, RunningHotline, spawn
from tests.e2e.conftest import test_config as config_on_free_ports
from tests.e2e.sipp import HangUp, SippCall, Wait

pytestmark = pytest.mark.e2e

HOTLINE = Path(sys.executable).with_name("hotline")


def asterisk_for(config: dict, secrets: Secrets) -> AsteriskInstance:
    """A managed-style instance the controller under test will not manage."""
    install = find_install(HOME / ".hotline")
    return AsteriskInstance(
        install, config["asterisk"]["instance"], HotlineConfig.model_validate(config), secrets, HOME
    )


def controller_config(config: dict, secrets: Secrets, password: str) -> dict:
    unmanaged = yaml.safe_load(yaml.safe_dump(config))
    unmanaged["asterisk"].update(
        managed=False,
        ari_url=f"http://127.0.0.1:{config['asterisk']['http_port']}",
        ari_user=secrets.ari_user,
        ari_password=password,
        ami_user=secrets.ami_user,
        ami_secret=secrets.ami_secret,
    )
    return unmanaged


@pytest.fixture
def setting(tmp_path: Path) -> Iterator[tuple[dict, Secrets, AsteriskInstance]]:
    config = config_on_free_ports(f"reconnect-{os.getpid()}")
    secrets = load_secrets(
        tmp_path / "asterisk-secrets.yaml", HotlineConfig.model_validate(config).phone_endpoints
    )
    instance = asterisk_for(config, secrets)
    try:
        yield config, secrets, instance
    finally:
        instance.stop()
        instance.remove()


def stop(hotline: RunningHotline) -> None:
    hotline.proc.send_signal(signal.SIGINT)
    try:
        assert hotline.proc.wait(30) == 0, hotline.log_tail()
    finally:
        if hotline.proc.poll() is None:
            hotline.proc.kill()


def ari_connected(hotline: RunningHotline) -> bool | None:
    """None while the web API is not up yet."""
    try:
        status, body = hotline.api("/api/health")
    except OSError:
        return None
    return bool(status == 200 and body["ari"])


def wait_for(check, timeout: float, what: str, hotline: RunningHotline) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        assert hotline.proc.poll() is None, f"controller died:\n{hotline.log_tail()}"
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout}s:\n{hotline.log_tail()}")


def allowed_events(config: dict, secrets: Secrets) -> dict:
    """The Stasis application as Asterisk describes it (its event filter among others)."""
    url = f"http://127.0.0.1:{config['asterisk']['http_port']}/ari"
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, url, secrets.ari_user, secrets.ari_password)
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager))
    app = config["asterisk"].get("ari_app", "hotline")
    with opener.open(f"{url}/applications/{app}", timeout=10) as response:
        described: dict = json.loads(response.read())
    return described


def short_call(hotline: RunningHotline, caller: str) -> None:
    steps = [Wait(1.0), HangUp()]
    result = SippCall(hotline.workdir / "sipp", hotline.sip_port, "100", caller, steps).run()
    assert result.ok, result.output


def test_waits_for_asterisk_then_survives_its_restart(
    tmp_path: Path, setting: tuple[dict, Secrets, AsteriskInstance]
) -> None:
    config, secrets, instance = setting
    hotline = spawn(controller_config(config, secrets, secrets.ari_password), tmp_path)
    try:
        wait_for(lambda: ari_connected(hotline) is False, 60, "web API up", hotline)
        time.sleep(4)  # several retries' worth
        log = hotline.log.read_text()
        assert ari_connected(hotline) is False
        assert log.count("cannot reach ARI") == 1, log
        assert "Traceback" not in log

        instance.start()
        wait_for(lambda: ari_connected(hotline), 20, "ARI connected", hotline)
        short_call(hotline, "5559001")

        instance.stop()
        wait_for(lambda: ari_connected(hotline) is False, 15, "ARI loss noticed", hotline)
        instance.start()
        wait_for(lambda: ari_connected(hotline), 20, "ARI reconnected", hotline)
        # The restarted Asterisk made the app anew: its event filter is set again.
        app = allowed_events(config, secrets)
        assert sorted(e["type"] for e in app["events_allowed"]) == sorted(WANTED_EVENTS)
        short_call(hotline, "5559002")
        assert "Traceback" not in hotline.log.read_text()
    finally:
        stop(hotline)


def test_wrong_ari_password_is_reported_once(
    tmp_path: Path, setting: tuple[dict, Secrets, AsteriskInstance]
) -> None:
    config, secrets, instance = setting
    instance.start()
    hotline = spawn(controller_config(config, secrets, "not-the-password"), tmp_path)
    try:
        wait_for(lambda: ari_connected(hotline) is False, 60, "web API up", hotline)
        time.sleep(4)
        log = hotline.log.read_text()
        assert ari_connected(hotline) is False
        assert log.count("ARI refused the credentials") == 1, log
        assert "Traceback" not in log
    finally:
        stop(hotline)
