"""`edge:` in hotline.yaml and `hotline edge`: the Kamailio config, refused with the reason;
the rendered file checked by the real `kamailio -c`; the nodes' agents at the edge."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

import asyncpg  # type: ignore[import-untyped]
import pytest

from controller.cli import banner, main
from controller.devices import browser_phones
from controller.edge import SCHEMA_DIR, EdgeError, check, prepare_database, render
from controller.instance import template_context, template_env
from controller.secrets import Secrets
from controller.web_phones import WorkerPhones, web_phones
from hotline.cluster.edge import EdgeConfig
from hotline.cluster.leader import asyncpg_dsn
from hotline.config import load_config
from hotline.yamlsource import SourceError
from tests.e2e.ports import free_port

HOME = Path(__file__).resolve().parents[3]

EDGE = """edge:
  listen: {listen}
  nodes: {nodes}
  database_url: {url}
"""
AGENTS = """agents:
  - {id: carol, name: Carol, endpoint: "2001", queues: [q]}
  - {id: dan, name: Dan, endpoint: "2002", contact: "sip:2002@10.0.0.9:5062", queues: [q]}
queues: {q: {}}
"""


def write(
    tmp_path: Path,
    *,
    listen: str = "10.0.0.4",
    nodes: str = "[10.0.0.2:5060, 10.0.0.3:5070]",
    url: str = "postgresql+asyncpg://kamailio@10.0.0.9:5432/kamailio",
    edge: bool = True,
    ws_port: str | None = None,
    browser_phone: bool = True,
) -> Path:
    path = tmp_path / "hotline.yaml"
    text = 'numbers:\n  "100": main\n' + AGENTS
    if not browser_phone:
        text += "asterisk: {browser_phone: false}\n"
    if edge:
        text += EDGE.format(listen=listen, nodes=nodes, url=url)
        if ws_port is not None:
            text += f"  ws_port: {ws_port}\n"
    path.write_text(text)
    return path


def edge_of(tmp_path: Path, **fields: Any) -> EdgeConfig:
    edge = load_config(write(tmp_path, **fields)).edge
    assert edge is not None
    return edge


def test_one_box_has_no_edge(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, edge=False)).edge is None


def test_an_edge_with_its_defaults(tmp_path: Path) -> None:
    edge = edge_of(tmp_path)
    assert [str(n) for n in edge.nodes] == ["10.0.0.2:5060", "10.0.0.3:5070"]
    assert (edge.port, edge.probe_interval, edge.failover_after, edge.agent_qualify) == (
        5060,
        5,
        2.0,
        10,
    )
    assert edge.kamailio_db_url == "postgres://kamailio@10.0.0.9:5432/kamailio"
    assert edge.agent_contact("2001") == "sip:2001@10.0.0.4:5060"
    assert (edge.ws_port, edge.ws_url) == (5066, "ws://10.0.0.4:5066/")


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"listen": "0.0.0.0"}, "edge.listen must be the address the others reach it at"),
        ({"listen": "edge.example"}, "edge.listen must be an IP address, not 'edge.example'"),
        ({"nodes": "[10.0.0.2]"}, "a node is written address:port (10.0.0.2:5060), not '10.0.0.2'"),
        ({"nodes": "[node-a:5060]"}, "node 'node-a:5060' must be an IP address"),
        ({"nodes": "[]"}, "nodes"),
        ({"nodes": "[10.0.0.2:5060, 10.0.0.2:5060]"}, "10.0.0.2:5060 given more than once"),
        ({"nodes": "[10.0.0.4:5060]"}, "10.0.0.4:5060 is the edge itself"),
        ({"url": "sqlite+aiosqlite:///x.db"}, "edge.database_url must be a PostgreSQL URL"),
        ({"url": "postgresql://kamailio@db"}, "edge.database_url needs a host and a database"),
        ({"ws_port": "0"}, "ws_port"),
        ({"ws_port": "5070", "listen": "10.0.0.3"}, "edge.ws_port: 10.0.0.3:5070 is a node's"),
    ],
)
def test_a_bad_edge_is_refused_with_the_reason(
    tmp_path: Path, fields: dict[str, Any], said: str
) -> None:
    with pytest.raises(SourceError) as error:
        load_config(write(tmp_path, **fields))
    assert said in str(error.value)
    assert "edge" in str(error.value)


def test_unknown_edge_settings_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path)
    path.write_text(path.read_text() + "  ds_ping: 3\n")
    with pytest.raises(SourceError) as error:
        load_config(path)
    assert "ds_ping" in str(error.value)


needs_kamailio = pytest.mark.skipif(
    shutil.which("kamailio") is None and not Path("/usr/sbin/kamailio").exists(),
    reason="kamailio is not installed (scripts/setup.sh test)",
)


@needs_kamailio
def test_the_rendered_config_passes_kamailio_c(tmp_path: Path) -> None:
    edge = edge_of(tmp_path)
    out = tmp_path / "edge"
    config = render(edge, {"2001": "pw-carol", "2002": "pw-dan"}, HOME, out)
    check(config)  # the real kamailio -c
    text = config.read_text()
    assert "listen=udp:10.0.0.4:5060" in text
    assert '$sht(agents=>2001) = "pw-carol";' in text
    assert 'modparam("usrloc", "db_url", "postgres://kamailio@10.0.0.9:5432/kamailio")' in text
    assert 'modparam("usrloc", "db_mode", 1)' in text
    assert 'modparam("dispatcher", "ds_ping_interval", 5)' in text
    assert 'modparam("tm", "fr_timer", 2000)' in text
    assert (out / "dispatcher.list").read_text().splitlines()[1:] == [
        "1 sip:10.0.0.2:5060",
        "1 sip:10.0.0.3:5070",
    ]
    assert config.stat().st_mode & 0o777 == 0o600  # the agents' passwords are in it


@needs_kamailio
def test_the_edge_for_browser_phones_passes_kamailio_c(tmp_path: Path) -> None:
    """The desks' phones: a WebSocket listener, each agent's <endpoint>-web account
    with the agent's password, the handshake on the ws port only, and the socket's
    alias for the dialog's later requests."""
    edge = edge_of(tmp_path, ws_port="8443")
    config = render(edge, {"2001": "pw-carol"}, HOME, tmp_path / "edge", browser_phones=True)
    check(config)  # the real kamailio -c
    text = config.read_text()
    assert "listen=tcp:10.0.0.4:8443" in text and "tcp_accept_no_cl=yes" in text
    for module in ("xhttp", "websocket", "nathelper"):
        assert f'loadmodule "{module}.so"' in text
    assert '$sht(agents=>2001) = "pw-carol";' in text
    assert '$sht(agents=>2001-web) = "pw-carol";' in text
    assert "if ($Rp != 8443) {" in text and "ws_handle_handshake()" in text
    assert 'sl_send_reply("403", "The browser phone registers over WebSocket");' in text
    assert "fix_nated_register();" in text and "handle_ruri_alias();" in text
    assert 'unregister("location", "sip:$var(aor)@10.0.0.4");' in text
    assert 'modparam("usrloc", "db_clean_tcp", 1)' in text
    assert 'modparam("websocket", "rm_delay_interval", 1)' in text


@needs_kamailio
def test_an_edge_without_browser_phones_has_no_websocket(tmp_path: Path) -> None:
    config = render(edge_of(tmp_path), {"2001": "pw-carol"}, HOME, tmp_path / "edge")
    check(config)
    text = config.read_text()
    assert "listen=tcp:" not in text and "websocket" not in text and "2001-web" not in text
    assert 'pv_auth_check("$td", "$sht(agents=>$tU)", "0", "1")' in text


@needs_kamailio
def test_a_config_kamailio_refuses_is_said_in_its_words(tmp_path: Path) -> None:
    broken = tmp_path / "kamailio.cfg"
    broken.write_text('#!KAMAILIO\nloadmodule "no_such_module.so"\nrequest_route { exit; }\n')
    with pytest.raises(EdgeError) as error:
        check(broken)
    assert f"kamailio -c refused {broken}" in str(error.value)
    assert "no_such_module" in str(error.value)


def pjsip(tmp_path: Path, *, edge: bool, browser_phone: bool = True) -> str:
    config = load_config(write(tmp_path, edge=edge, browser_phone=browser_phone))
    secrets = Secrets(agent_passwords={"2001": "a", "2002": "b"})
    return (
        template_env(HOME).get_template("pjsip.conf.j2").render(template_context(config, secrets))
    )


def aor(text: str, endpoint: str) -> str:
    return text.split(f"[{endpoint}]\ntype = aor\n", 1)[1].split("\n[", 1)[0]


def test_a_node_behind_the_edge_rings_its_agents_at_the_edge_and_qualifies(
    tmp_path: Path,
) -> None:
    text = pjsip(tmp_path, edge=True)
    carol = aor(text, "2001")
    assert "contact = sip:2001@10.0.0.4:5060" in carol
    assert "qualify_frequency = 10" in carol
    # A fixed contact stays as it was.
    dan = aor(text, "2002")
    assert "contact = sip:2002@10.0.0.9:5062" in dan and "qualify_frequency = 0" in dan


def test_one_box_lets_agents_register_at_asterisk(tmp_path: Path) -> None:
    text = pjsip(tmp_path, edge=False)
    carol = aor(text, "2001")
    assert "contact =" not in carol and "qualify_frequency = 30" in carol
    # The browser phone registers at Asterisk's own WebSocket, as always.
    assert "[transport-ws]\ntype = transport\nprotocol = ws" in text
    web = aor(text, "2001-web")
    assert "contact =" not in web and "max_contacts = 1" in web
    assert "rtp_timeout" not in text


def endpoint(text: str, name: str) -> str:
    return text.split(f"[{name}]\ntype = endpoint\n", 1)[1].split("\n[", 1)[0]


def test_a_node_behind_the_edge_rings_the_browser_phone_at_the_edge_with_webrtc(
    tmp_path: Path,
) -> None:
    text = pjsip(tmp_path, edge=True)
    web = aor(text, "2001-web")
    assert "contact = sip:2001-web@10.0.0.4:5060" in web and "qualify_frequency = 10" in web
    carol = endpoint(text, "2001-web")
    assert "webrtc = yes" in carol and "aors = 2001-web" in carol and "auth = 2001" in carol
    assert "rtp_timeout = 30" in carol  # a desk gone mid-call: the call ends here
    # No phone registers at a node: no WebSocket transport on its Asterisk.
    assert "protocol = ws" not in text
    # Browser phones off: nothing of them.
    assert "2001-web" not in pjsip(tmp_path, edge=True, browser_phone=False)


async def alive(token: str) -> bool:
    return True


def test_the_web_tier_relays_the_phone_to_the_edge_when_there_is_one(tmp_path: Path) -> None:
    behind = load_config(write(tmp_path, ws_port="5080"))
    phones = web_phones(behind, {}, alive)
    assert not isinstance(phones, WorkerPhones) and phones.asterisk_ws == "ws://10.0.0.4:5080/"
    secrets = Secrets(agent_passwords={"2001": "a", "2002": "b"})
    worker = browser_phones(behind, secrets, "http://127.0.0.1:8088/ari", None)  # type: ignore[arg-type]
    assert worker.asterisk_ws == "ws://10.0.0.4:5080/"
    assert worker.accounts["carol"].endpoint == "2001-web"
    # No edge: a web process relays to a call worker, a box to its own Asterisk.
    one_box = load_config(write(tmp_path, edge=False))
    assert isinstance(web_phones(one_box, {}, alive), WorkerPhones)
    box = browser_phones(one_box, secrets, "http://127.0.0.1:8088/ari", None)  # type: ignore[arg-type]
    assert box.asterisk_ws == "ws://127.0.0.1:8088/ws"


def test_hotline_edge_without_an_edge_section_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTLINE_STATE", str(tmp_path / "state"))
    path = write(tmp_path, edge=False)
    assert main(["--config", str(path), "edge", "config", "--out", str(tmp_path / "out")]) == 2
    said = capsys.readouterr().err
    assert f"hotline edge: {path} has no edge: section (listen, nodes, database_url)" in said
    assert not (tmp_path / "out").exists()


@needs_kamailio
def test_hotline_edge_config_writes_and_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTLINE_STATE", str(tmp_path / "state"))
    path = write(tmp_path)
    assert main(["--config", str(path), "edge", "config", "--out", str(tmp_path / "out")]) == 0
    assert "checked (kamailio -c): 2 node(s)" in capsys.readouterr().out
    # The agents' passwords are the generated ones every node has (secrets.yaml).
    secrets = (tmp_path / "state/secrets.yaml").read_text()
    text = (tmp_path / "out/kamailio.cfg").read_text()
    for endpoint in ("2001", "2002"):
        assert f"$sht(agents=>{endpoint})" in text and endpoint in secrets


@pytest.mark.pg
async def test_kamailios_tables_are_made_once(tmp_path: Path, pg_url: str) -> None:
    edge = edge_of(tmp_path, url=pg_url)
    if not (SCHEMA_DIR / "usrloc-create.sql").exists():
        pytest.skip("kamailio is not installed (its PostgreSQL schema)")
    assert await prepare_database(edge) == ["version", "location"]
    assert await prepare_database(edge) == []  # a restart finds them


@pytest.mark.pg
async def test_a_missing_schema_is_said_and_nothing_made(tmp_path: Path, pg_url: str) -> None:
    edge = edge_of(tmp_path, url=pg_url)
    with pytest.raises(EdgeError) as error:
        await prepare_database(edge, tmp_path / "nowhere")
    assert "standard-create.sql is missing: apt-get install kamailio" in str(error.value)
    conn = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        assert await conn.fetchval("SELECT to_regclass('version')") is None
    finally:
        await conn.close()


async def test_an_unreachable_database_is_said(tmp_path: Path) -> None:
    port = free_port()
    edge = edge_of(tmp_path, url=f"postgresql://kamailio@127.0.0.1:{port}/kamailio")
    with pytest.raises(EdgeError) as error:
        await prepare_database(edge)
    assert "cannot reach edge.database_url" in str(error.value)


class Started:
    """What the banner reads of a started Hotline."""

    web_url = "http://127.0.0.1:8080/"
    new_passwords: ClassVar[dict[str, str]] = {}


def test_a_nodes_banner_sends_callers_and_phones_to_the_edge(tmp_path: Path) -> None:
    secrets = Secrets(agent_passwords={"2001": "pw-a", "2002": "pw-b"})
    text = banner(load_config(write(tmp_path)), secrets, Started())  # type: ignore[arg-type]
    assert "This node is behind the SIP edge at 10.0.0.4:5060 (hotline edge run)." in text
    assert "sip:100@10.0.0.4:5060    -> flow 'main'" in text
    assert "Agents' softphones: SIP server 10.0.0.4:5060 (UDP), register with:" in text
    assert "(at the SIP edge: ws://10.0.0.4:5066/, relayed by the desk)" in text
    one_box = banner(load_config(write(tmp_path, edge=False)), secrets, Started())  # type: ignore[arg-type]
    assert "SIP edge" not in one_box and "SIP server 127.0.0.1:5060" in one_box
    assert "Browser phone: agents sign in to the desk" in one_box
