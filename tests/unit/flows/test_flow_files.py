"""A flow sends a file (`file:` in a prompt, named inside `files/` beside the flows):
refused at load with file:line when it names a path out of the folder, linted against
the chat's attachment rules (missing, too big, type not allowed, not really its type),
stored as the chat's attachment like an agent's file when a chat runs it, said as
nothing on voice, shown by the simulator."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from chat_bridge.attachments import Attachments, download_key, download_key_ok, download_url
from chat_bridge.text_port import Input, TextPort
from controller.reload import FlowArchive, FlowChecker, FlowsRefused, FlowWatcher
from hotline.catalogue import Catalogue
from hotline.flows.cli import run as run_cli
from hotline.flows.interpreter import FlowRunner
from hotline.flows.lint import Known, format_human, lint_paths
from hotline.flows.loader import FlowSet, load_flow, load_flows, parse_flow
from hotline.flows.port import Prompt
from hotline.flows.services import DefaultServices
from hotline.flows.simulator import SimulatorPort
from hotline.yamlsource import SourceError
from tests.unit.chat.conftest import Rig, make_rig
from voice.prompts import PromptLibrary

PDF = b"%PDF-1.4\n% price list\n" + b"1" * 200
CATALOGUE = Path(__file__).resolve().parents[3] / "sounds" / "catalogue.yaml"

FLOW = """\
name: prices
start: send
nodes:
  send:
    type: play
    prompts:
      - file: NAME
    next: bye
    on: {error: sorry}
  sorry:
    type: hangup
  bye:
    type: hangup
"""


def flow_folder(tmp_path: Path, name: str = "price-list.pdf", body: bytes = PDF) -> Path:
    """A flows folder with prices.yaml sending files/<name>, holding `body` there."""
    folder = tmp_path / "flows"
    (folder / "files").mkdir(parents=True)
    (folder / "prices.yaml").write_text(FLOW.replace("NAME", name))
    if body:
        (folder / "files" / "price-list.pdf").write_bytes(body)
    return folder


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/etc/passwd", "docs/../../secret.pdf", "a\\..\\b.pdf", "./a.pdf"]
)
def test_a_path_out_of_the_files_folder_is_refused_at_load(tmp_path: Path, name: str) -> None:
    folder = flow_folder(tmp_path, name=f"'{name}'")
    with pytest.raises(SourceError) as refused:
        load_flows(folder)
    text = str(refused.value)
    assert text.startswith(f"{folder / 'prices.yaml'}:7:"), text
    assert "a flow file is named inside files/ beside the flows" in text
    assert repr(name) in text


def test_a_card_and_a_file_in_one_prompt_are_refused(tmp_path: Path) -> None:
    raw = FLOW.replace(
        "- file: NAME", "- {file: price-list.pdf, card: {type: link, url: 'https://e.x'}}"
    )
    with pytest.raises(SourceError, match="a prompt sends either a `card` or a `file`, not both"):
        parse_flow(raw, "prices.yaml")
    with pytest.raises(SourceError, match="a `file` prompt has no `key`, `say` or `value`"):
        parse_flow(FLOW.replace("- file: NAME", "- {file: a.pdf, key: goodbye}"), "prices.yaml")


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """A chat bridge on a real SQLite store (tests/unit/chat/conftest.py)."""
    async with make_rig(tmp_path) as made:
        yield made


def lint_folder(folder: Path, **known: object) -> list[str]:
    return [str(p) for p in lint_paths([folder], known=Known(**known))]  # type: ignore[arg-type]


def test_a_file_that_is_there_and_allowed_lints_clean(tmp_path: Path) -> None:
    assert lint_folder(flow_folder(tmp_path)) == []


@pytest.mark.parametrize(
    ("name", "body", "known", "message"),
    [
        ("missing.pdf", PDF, {}, "no such file: files/missing.pdf beside the flows"),
        (
            "price-list.pdf",
            PDF,
            {"attachment_bytes": 100},
            f"{len(PDF)} bytes, over chat.max_attachment_bytes (100)",
        ),
        (
            "price-list.pdf",
            PDF,
            {"attachment_types": ["image/png"]},
            "files of type 'application/pdf' are not accepted; allowed: image/png "
            "(chat.attachment_types)",
        ),
        ("price-list.pdf", b"<html>not a pdf</html>", {}, "the file is not really application/pdf"),
        ("price-list.pdf", b"", {}, "no such file: files/price-list.pdf beside the flows"),
    ],
)
def test_a_bad_file_is_a_lint_error_with_its_line(
    tmp_path: Path, name: str, body: bytes, known: dict[str, object], message: str
) -> None:
    folder = flow_folder(tmp_path, name=name, body=body)
    problems = lint_folder(folder, **known)
    where = f"{folder / 'prices.yaml'}:7:15: error [file] file {name!r}: "
    assert problems == [where + message], problems


def test_a_link_out_of_the_files_folder_is_a_lint_error(tmp_path: Path) -> None:
    outside = tmp_path / "secret.pdf"
    outside.write_bytes(PDF)
    folder = flow_folder(tmp_path, name="link.pdf")
    os.symlink(outside, folder / "files" / "link.pdf")
    assert lint_folder(folder) == [
        f"{folder / 'prices.yaml'}:7:15: error [file] file 'link.pdf': not inside files/ "
        "beside the flows (a link out of it is not sent)"
    ]


def test_nothing_is_loaded_when_a_file_is_wrong(tmp_path: Path) -> None:
    folder = flow_folder(tmp_path, name="missing.pdf")
    checker = FlowChecker(folder, CATALOGUE, Known(attachment_bytes=1000))
    with pytest.raises(FlowsRefused) as refused:
        checker.load()
    assert refused.value.problems == [
        f"{folder / 'prices.yaml'}:7:15: error [file] file 'missing.pdf': "
        "no such file: files/missing.pdf beside the flows"
    ]
    (folder / "prices.yaml").write_text(FLOW.replace("NAME", "price-list.pdf"))
    flows, warnings = checker.load()
    assert flows.names() == ["prices"] and warnings == []


def test_the_shipped_lint_fixture_names_the_rule() -> None:
    fixture = Path(__file__).parent / "fixtures" / "lint" / "file.yaml"
    problems = lint_paths([fixture])
    assert [p.rule for p in problems] == ["file"], format_human(problems)


async def test_a_chat_gets_the_file_as_its_attachment(rig: Rig, tmp_path: Path) -> None:
    folder = flow_folder(tmp_path)
    attachments = Attachments(
        tmp_path / "stored", rig.bridge.chats, max_bytes=10_000, types=["application/pdf"]
    )
    chat = await rig.bridge.new_session("web")
    frames: list[dict[str, object]] = []
    rig.bridge.attach(chat, frames.append)
    port = TextPort(chat, None, attachments=attachments)
    result = await FlowRunner(load_flows(folder), port, DefaultServices()).run("prices")
    assert result.path == ["send", "bye"]
    # (the bridge runs the chat's own flow beside this one: only the file is counted)
    [message] = [m for m in await rig.bridge.chats.messages(chat.id) if "attachment" in m.data]
    info = message.data["attachment"]
    # Stored before delivery exactly as an agent's file: the attachment table, its bytes
    # under the attachments folder, an `attachment` message naming it.
    assert (message.sender, message.kind, message.text) == (
        "system",
        "attachment",
        "price-list.pdf",
    )
    assert info["filename"] == "price-list.pdf" and info["content_type"] == "application/pdf"
    assert info["size"] == len(PDF)
    kept = await rig.bridge.chats.attachment(info["id"])
    assert kept is not None and kept.session_id == chat.id
    assert attachments.path_of(kept).read_bytes() == PDF
    assert [f["seq"] for f in frames if f.get("kind") == "attachment"] == [message.seq]


@pytest.mark.parametrize(
    ("limit", "types", "enabled", "reason"),
    [
        (100, ["application/pdf"], True, "the file is over the limit of 100 bytes"),
        (10_000, ["image/png"], True, "files of type 'application/pdf' are not accepted"),
        (10_000, ["application/pdf"], False, "files are not enabled for chats"),
    ],
)
async def test_a_file_the_chat_cannot_take_is_the_nodes_error(
    rig: Rig, tmp_path: Path, limit: int, types: list[str], enabled: bool, reason: str
) -> None:
    folder = flow_folder(tmp_path)
    attachments = Attachments(tmp_path / "stored", rig.bridge.chats, limit, types)
    chat = await rig.bridge.new_session("web")
    port = TextPort(chat, None, attachments=attachments if enabled else None)
    events: list[tuple[str, dict[str, object]]] = []

    async def emit(kind: str, data: dict[str, object]) -> None:
        events.append((kind, data))

    result = await FlowRunner(load_flows(folder), port, DefaultServices(), emit).run("prices")
    assert result.path == ["send", "sorry"]
    [outcome] = [d for k, d in events if k == "flow.outcome"]
    assert outcome["outcome"] == "error"
    assert str(outcome["message"]).startswith("flow file price-list.pdf: ")
    assert reason in str(outcome["message"])
    assert [m for m in await rig.bridge.chats.messages(chat.id) if m.kind == "attachment"] == []
    assert not (tmp_path / "stored").exists() or not any((tmp_path / "stored").rglob("*-*"))


def test_the_simulator_shows_the_file(tmp_path: Path) -> None:
    folder = flow_folder(tmp_path)
    out = io.StringIO()
    code = run_cli(["flows", "--flows-dir", str(folder), "simulate", "prices"], out)
    assert code == 0, out.getvalue()
    shown = f"(file price-list.pdf, application/pdf, {len(PDF)} bytes: sent to chats; "
    assert shown + "calls hear nothing)" in out.getvalue()
    (folder / "files" / "price-list.pdf").unlink()
    out = io.StringIO()
    assert run_cli(["flows", "--flows-dir", str(folder), "simulate", "prices"], out) == 0
    assert "(file price-list.pdf, application/pdf, missing: sent to chats;" in out.getvalue()


async def test_voice_plays_nothing_for_a_file(tmp_path: Path) -> None:
    """What the voice runtime (ARI and FastAGI) plays for a `file:` prompt: nothing."""
    loaded = load_flow(flow_folder(tmp_path) / "prices.yaml")
    played: list[Prompt] = []

    class Voice(SimulatorPort):
        async def play(self, prompts: Sequence[Prompt], *, language: str, barge_in: bool) -> None:
            played.extend(prompts)

    await FlowRunner(FlowSet({"prices": loaded}), Voice([]), DefaultServices()).run("prices")
    library = PromptLibrary(
        Catalogue.load(CATALOGUE), tmp_path / "sounds", tmp_path / "cache", None, "hotline"
    )
    assert len(played) == 1 and played[0].file is not None
    assert library.media(played, "en") == []


def test_a_download_key_opens_one_file_only() -> None:
    key = download_key("s" * 20, "a1")
    assert download_key_ok("s" * 20, "a1", key)
    assert not download_key_ok("s" * 20, "a2", key)
    assert not download_key_ok("t" * 20, "a1", key)
    assert not download_key_ok(None, "a1", key)
    assert not download_key_ok("s" * 20, "a1", "")
    assert download_url("https://help.example.com/", "s" * 20, "a1") == (
        f"https://help.example.com/chat/attachments/a1?key={key}"
    )


async def test_putting_the_missing_file_back_reloads_the_flows(tmp_path: Path) -> None:
    folder = flow_folder(tmp_path, body=b"")
    live: list[FlowSet] = []
    checker = FlowChecker(folder, CATALOGUE, Known())
    watcher = FlowWatcher(checker, FlowArchive(tmp_path / "versions"), live.append)
    (folder / "files" / "price-list.pdf").write_bytes(PDF)
    assert await watcher.poll() is True
    assert [flows.names() for flows in live] == [["prices"]]
    # Grown over the limit: refused again, the last good set stays.
    (folder / "files" / "price-list.pdf").write_bytes(PDF + b"1" * 6_000_000)
    assert await watcher.poll() is False
    assert len(live) == 1


async def test_many_chats_share_one_stored_copy(rig: Rig, tmp_path: Path) -> None:
    """Each chat gets its own attachment (its own id and access), the bytes are kept once."""
    flows = load_flows(flow_folder(tmp_path))
    stored = tmp_path / "stored"
    attachments = Attachments(stored, rig.bridge.chats, 10_000, ["application/pdf"])
    kept = []
    for _ in range(3):
        chat = await rig.bridge.new_session("web")
        port = TextPort(chat, None, attachments=attachments)
        await FlowRunner(flows, port, DefaultServices()).run("prices")
        [message] = [m for m in await rig.bridge.chats.messages(chat.id) if m.kind == "attachment"]
        found = await rig.bridge.chats.attachment(message.data["attachment"]["id"])
        assert found is not None and found.session_id == chat.id
        kept.append(attachments.path_of(found))
    assert len(set(kept)) == 1
    assert [p.name for p in stored.rglob("*") if p.is_file()] == [kept[0].name]
    assert kept[0].read_bytes() == PDF


class Typed:
    """A chat's conversation that answers "1" at once and records what it is told."""

    def __init__(self, chat_id: str) -> None:
        self.id = chat_id
        self.said: list[tuple[str, dict[str, object]]] = []

    async def say(self, text: str, *, buttons: Sequence[object] = (), **data: object) -> None:
        self.said.append((text, data))

    async def next_input(self, timeout: float) -> Input | None:
        return Input("1")

    async def end(self) -> None:
        return None


async def test_a_menu_sends_its_file_before_the_question(rig: Rig, tmp_path: Path) -> None:
    folder = flow_folder(tmp_path)
    (folder / "prices.yaml").write_text(
        FLOW.replace("type: play", "type: menu")
        .replace("prompts:", "prompt:")
        .replace("      - file: NAME", "      - file: price-list.pdf\n      - chat_language")
        .replace("    next: bye", '    options: {"1": bye, "2": bye}')
        .replace("on: {error: sorry}", "on: {error: sorry, exhausted: bye}")
    )
    attachments = Attachments(tmp_path / "stored", rig.bridge.chats, 10_000, ["application/pdf"])
    chat = await rig.bridge.new_session("web")
    typed = Typed(chat.id)
    port = TextPort(typed, None, attachments=attachments)  # type: ignore[arg-type]
    result = await FlowRunner(load_flows(folder), port, DefaultServices()).run("prices")
    assert result.path == ["send", "bye"]
    assert [text for text, _data in typed.said] == ["price-list.pdf", "chat_language"]
    assert "attachment" in typed.said[0][1] and "attachment" not in typed.said[1][1]
