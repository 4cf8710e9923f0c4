"""`edge:` in hotline.yaml and `hotline edge`: the Kamailio config, refused with the reason;
the rendered file checked by the real `kamailio -c`; the nodes' agents at the edge."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import ClassVar

import asyncpg  # type: ignore[import-untyped]
import pytest

from controller.cli import banner, main
from controller.edge import SCHEMA_DIR, EdgeError, check, prepare_database, render
from controller.instance import template_context, template_env
from controller.secrets import Secrets
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
) -> Path:
    path = tmp_path / "hotline.yaml"
    text = 'numbers:\n  "100": main\n' + AGENTS
    if edge:
        text += EDGE.format(listen=listen, nodes=nodes, url=url)
    path.write_text(text)
    return path


def edge_of(tmp_path: Path, **fields: str) -> EdgeConfig:
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
    ],
)
def test_a_bad_edge_is_refused_with_the_reason(
    tmp_path: Path, fields: dict[str, str], said: str
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
def test_a_config_kamailio_refuses_is_said_in_its_words(tmp_path: Path) -> None:
    broken = tmp_path / "kamailio.cfg"
    broken.write_text('#!KAMAILIO\nloadmodule "no_such_module.so"\nrequest_route { exit; }\n')
    with pytest.raises(EdgeError) as error:
        check(broken)
    assert f"kamailio -c refused {broken}" in str(error.value)
    assert "no_such_module" in str(error.value)


def pjsip(tmp_path: Path, *, edge: bool) -> str:
    config = load_config(write(tmp_path, edge=edge))
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
    carol = aor(pjsip(tmp_path, edge=False), "2001")
    assert "contact =" not in carol and "qualify_frequency = 30" in carol


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
    one_box = banner(load_config(write(tmp_path, edge=False)), secrets, Started())  # type: ignore[arg-type]
    assert "SIP edge" not in one_box and "SIP server 127.0.0.1:5060" in one_box
