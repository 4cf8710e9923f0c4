"""config/hotline.yaml: valid files load; broken ones are refused naming file, line, field."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.instance import template_env
from hotline.config import load_config
from hotline.yamlsource import SourceError

HOME = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotline.yaml"
    path.write_text(text)
    return path


def refused(path: Path) -> str:
    with pytest.raises(SourceError) as caught:
        load_config(path)
    return str(caught.value)


def test_shipped_config_loads() -> None:
    config = load_config(HOME / "config/hotline.yaml")
    assert config.numbers["100"] == "main"
    assert config.asterisk.sip_bind == "127.0.0.1"
    assert config.web.bind == "127.0.0.1"


def test_wrong_type_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, 'numbers:\n  "100": main\nasterisk:\n  sip_port: many\n')
    message = refused(path)
    assert f"{path}:4:" in message
    assert "asterisk.sip_port" in message
    assert "integer" in message


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, 'numbers:\n  "100": main\nweb:\n  bnd: 0.0.0.0\n')
    message = refused(path)
    assert f"{path}:4:" in message
    assert "web.bnd" in message


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'numbers:\n  "100": main\n agents: [\n')
    assert f"{path}:" in refused(path)


def test_bad_address_and_port_range(tmp_path: Path) -> None:
    path = write(tmp_path, 'numbers: {"100": main}\nasterisk:\n  sip_bind: 300.1.1.1\n')
    assert "asterisk.sip_bind" in refused(path)
    path = write(
        tmp_path, 'numbers: {"100": main}\nasterisk:\n  rtp_start: 20000\n  rtp_end: 100\n'
    )
    assert "rtp_end must be above rtp_start" in refused(path)


def test_duplicate_agent_endpoints(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'numbers: {"100": main}\nagents:\n'
        "  - {id: a, name: A, endpoint: '1001'}\n"
        "  - {id: b, name: B, endpoint: '1001'}\n",
    )
    assert "agents.endpoint must be unique; repeated: 1001" in refused(path)


def test_numbers_must_be_dialable(tmp_path: Path) -> None:
    path = write(tmp_path, 'numbers: {"sales": main}\n')
    assert "number 'sales' must be digits" in refused(path)


def test_unmanaged_asterisk_needs_credentials(tmp_path: Path) -> None:
    path = write(tmp_path, 'numbers: {"100": main}\nasterisk:\n  managed: false\n')
    assert "needs ari_url, ari_user and ari_password" in refused(path)


def test_default_language_must_be_declared(tmp_path: Path) -> None:
    path = write(tmp_path, 'numbers: {"100": main}\nlanguages: [en]\ndefault_language: ru\n')
    assert "default_language 'ru' is not in languages" in refused(path)


def test_integrations_schedules_and_demo_crm(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'numbers: {"100": main}\n'
        "integrations:\n  crm: {url: 'http://127.0.0.1:9000/api', timeout: 4}\n"
        "schedules:\n  office:\n    timezone: Europe/Paris\n    weekly: {mon: ['09:00-17:00']}\n"
        "    holidays: [2026-12-25]\n"
        "demo_crm: {enabled: true, port: 9000}\n",
    )
    config = load_config(path)
    assert config.integrations["crm"].url == "http://127.0.0.1:9000/api"
    assert config.integrations["crm"].timeout == 4
    assert config.schedules["office"].timezone == "Europe/Paris"
    assert config.demo_crm.enabled and config.demo_crm.port == 9000


def test_shipped_config_has_the_demo_crm_and_its_integration() -> None:
    config = load_config(HOME / "config/hotline.yaml")
    assert config.demo_crm.enabled
    assert config.integrations["crm"].url == f"http://127.0.0.1:{config.demo_crm.port}"
    assert "office" in config.schedules
    assert config.asterisk.agi_numbers == {"200": "main"}
    assert config.flow_numbers["200"] == "main" and config.flow_numbers["100"] == "main"


def test_integration_needs_an_http_url_and_a_sane_timeout(tmp_path: Path) -> None:
    path = write(tmp_path, 'numbers: {"100": main}\nintegrations:\n  crm: {url: "ftp://x"}\n')
    message = refused(path)
    assert f"{path}:3:" in message and "integrations.crm.url" in message
    path = write(
        tmp_path, 'numbers: {"100": main}\nintegrations:\n  crm: {url: "http://x", timeout: 60}\n'
    )
    assert "integrations.crm.timeout" in refused(path)
    path = write(tmp_path, 'numbers: {"100": main}\nintegrations:\n  crm: {uri: "http://x"}\n')
    assert "integrations.crm.uri" in refused(path)


def test_bad_schedule_is_refused_with_its_field(tmp_path: Path) -> None:
    path = write(
        tmp_path, 'numbers: {"100": main}\nschedules:\n  office: {timezone: Mars/Olympus}\n'
    )
    message = refused(path)
    assert "schedules.office.timezone" in message and "unknown time zone" in message
    path = write(
        tmp_path,
        'numbers: {"100": main}\nschedules:\n  office:\n    weekly: {mon: ["17:00-09:00"]}\n',
    )
    assert "ends before it starts" in refused(path)
    path = write(tmp_path, 'numbers: {"100": main}\nschedules:\n  office:\n    weekly: {xyz: []}\n')
    assert "schedules.office.weekly.xyz" in refused(path)


def test_demo_crm_port_and_agi_settings_are_checked(tmp_path: Path) -> None:
    path = write(tmp_path, 'numbers: {"100": main}\ndemo_crm: {port: 70000}\n')
    assert "demo_crm.port" in refused(path)
    path = write(tmp_path, 'numbers: {"100": main}\nasterisk: {agi_bind: "localhost"}\n')
    assert "asterisk.agi_bind" in refused(path)
    path = write(tmp_path, 'numbers: {"100": main}\nasterisk:\n  agi_numbers: {"1x": main}\n')
    assert "number '1x' must be digits" in refused(path)


def test_a_number_goes_to_stasis_or_fastagi_not_both(tmp_path: Path) -> None:
    path = write(tmp_path, 'numbers: {"100": main}\nasterisk:\n  agi_numbers: {"100": main}\n')
    assert "number(s) 100 are in both numbers and asterisk.agi_numbers" in refused(path)


def test_a_supervisors_phone_may_not_be_an_agents(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'numbers: {"100": main}\nagents:\n'
        "  - {id: a, name: A, endpoint: '1001'}\n"
        "users:\n"
        "  - {id: sue, name: Sue, role: supervisor, endpoint: '1001'}\n",
    )
    assert "agents.endpoint and users.endpoint must be unique; repeated: 1001" in refused(path)


def test_supervisors_phones_and_team_leads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'numbers: {"100": main}\nagents:\n'
        "  - {id: a, name: A, endpoint: '1001'}\n"
        "  - {id: lead, name: Lead, endpoint: '1002', role: supervisor}\n"
        "users:\n"
        "  - {id: sue, name: Sue, role: supervisor, endpoint: '2901',"
        " contact: 'sip:2901@127.0.0.1:5099'}\n"
        "  - {id: adam, name: Adam, role: admin}\n"
        "monitoring: {tell_agent: desk_and_beep}\n",
    )
    config = load_config(path)
    assert config.phone_endpoints == ["1001", "1002", "2901"]
    assert config.monitoring.tell_agent == "desk_and_beep"
    assert [a.role for a in config.agents] == ["agent", "supervisor"]


def test_monitoring_settings_are_checked(tmp_path: Path) -> None:
    path = write(tmp_path, 'numbers: {"100": main}\nmonitoring: {tell_agent: sometimes}\n')
    assert "2:26: monitoring.tell_agent: expected 'no', 'desk', 'beep' or 'desk_and_beep'" in (
        refused(path)
    )
    path = write(
        tmp_path,
        'numbers: {"100": main}\nusers:\n  - {id: s, name: S, role: supervisor, endpoint: "a b"}\n',
    )
    assert "3:50: users.0.endpoint: expected text matching" in refused(path)


def test_strict_rtp_reads_yaml_booleans_and_renders_into_rtp_conf(tmp_path: Path) -> None:
    env = template_env(HOME)
    for written, meant in (("yes", "yes"), ("no", "no"), ("seqno", "seqno"), ('"yes"', "yes")):
        path = write(tmp_path, f'numbers: {{"100": main}}\nasterisk:\n  strict_rtp: {written}\n')
        asterisk = load_config(path).asterisk
        assert asterisk.strict_rtp == meant
        rendered = env.get_template("rtp.conf.j2").render(asterisk=asterisk)
        assert f"\nstrictrtp = {meant}\n" in rendered
    assert load_config(HOME / "config/hotline.yaml").asterisk.strict_rtp == "yes"


def test_strict_rtp_refuses_other_values(tmp_path: Path) -> None:
    path = write(tmp_path, 'numbers: {"100": main}\nasterisk:\n  strict_rtp: sometimes\n')
    message = refused(path)
    assert f"{path}:3:" in message and "asterisk.strict_rtp" in message
    assert "'yes', 'seqno' or 'no'" in message
