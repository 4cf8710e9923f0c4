import json
from pathlib import Path

import pytest

from hotline.flows.port import Ask
from hotline.flows.services import HttpResult
from hotline.flows.simulator import Overrides, SimulatorPort, load_http_fixtures, simulate


async def test_main_flow_transcript(catalogue, make_flows):
    from hotline.flows.loader import load_flows

    flowset = load_flows(Path(__file__).resolve().parents[3] / "ivr_flows")
    transcript = await simulate(flowset, "main", ["2", "1"], catalogue=catalogue)
    assert transcript.outcome == "completed"
    assert transcript.result.language == "ru"
    text = str(transcript)
    assert '< welcome [en]: "Welcome to the Hotline."' in text
    assert '< lang_russian [ru]: "Для обслуживания на русском языке нажмите 2."' in text
    assert "< opening_hours [ru]:" in text
    assert text.endswith("outcome: completed")


async def test_port_takes_keys_per_question():
    port = SimulatorPort(["1234#9", "timeout"])
    collect = Ask(prompts=[], max_digits=10, finish_key="#")
    assert (await port.ask(collect, language="en")).digits == "1234"
    menu = Ask(prompts=[], max_digits=2, complete_on=frozenset({"9", "10"}))
    assert (await port.ask(menu, language="en")).digits == "9"  # typed ahead
    answer = await port.ask(menu, language="en")
    assert (answer.digits, answer.timed_out) == ("", True)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="use keys"):
        SimulatorPort(["one"])


def test_overrides_from_scenario_mapping(tmp_path: Path):
    (tmp_path / "http.json").write_text(
        json.dumps({"crm": {"status": 200, "json": {"a": 1}}, "x": "timeout"})
    )
    overrides = Overrides.from_mapping(
        {"hours": "closed", "http": "http.json", "queue": "full"}, tmp_path
    )
    assert overrides.hours is False and overrides.queue == "full"
    assert overrides.http == {"crm": HttpResult(200, {"a": 1}), "x": "timeout"}
    assert Overrides.from_mapping({"http": {"crm": "timeout"}}).http == {"crm": "timeout"}
    (tmp_path / "bad.json").write_text('{"crm": 200}')
    with pytest.raises(ValueError, match="HTTP fixture 'crm'"):
        load_http_fixtures(tmp_path / "bad.json")


async def test_hours_and_http_overrides(make_flows):
    flowset = make_flows(
        """
        name: t
        start: h
        nodes:
          h: {type: hours, schedule: office, on: {open: lookup, closed: closed}}
          lookup:
            type: http
            integration: crm
            response: {name: name}
            on: {ok: hello, error: closed}
          hello:
            type: play
            prompts: [{say: text, value: "{{ name }}"}]
            next: end
          closed: {type: play, prompts: closed, next: end}
          end: {type: hangup}
        """
    )
    closed = await simulate(flowset, "t", [], Overrides(hours=False))
    assert closed.prompts == ["closed"]
    ok = await simulate(
        flowset, "t", [], Overrides(hours=True, http={"crm": HttpResult(200, {"name": "Ann"})})
    )
    assert ok.prompts == ["text:Ann"] and ok.variables == {"name": "Ann"}
    timeout = await simulate(flowset, "t", [], Overrides(hours=True, http={"crm": "timeout"}))
    assert timeout.prompts == ["closed"]


def test_bad_http_fixture_file_names_the_file(tmp_path: Path) -> None:
    for text, problem in (
        ("", "Expecting value"),
        ("[1]", "expected an object"),
        ('{"crm": 5}', 'use {"status": 200'),
    ):
        path = tmp_path / "fixture.json"
        path.write_text(text)
        with pytest.raises(ValueError) as error:
            load_http_fixtures(path)
        assert str(error.value).startswith(f"{path}: HTTP fixtures: ")
        assert problem in str(error.value)
