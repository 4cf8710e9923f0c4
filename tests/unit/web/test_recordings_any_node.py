"""Recordings reachable from any node (hotline/web/recording_source.py): two web apps on
real aiohttp servers and one store (as two boxes on one PostgreSQL). The recording was
made on node b; node a, which does not have the file, fetches it from b with the API
token and streams it through, and logs the access once, with who; node b down, or not
in `routing.nodes`, is a 503 naming the node, with nothing logged; b's node endpoint
takes the API token only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hotline.quality.evaluations import Evaluations
from hotline.store import Store, sqlite_url
from hotline.store.sessions import SessionStore
from hotline.web.api import add_api_routes
from hotline.web.auth import Auth, PasswordFile, Sessions, build_web_app
from hotline.web.contact_page import add_contact_page_routes
from hotline.web.recording_source import RecordingSource, on_disk, under
from tests.unit.passwords import hashed
from tests.unit.web.test_contact_page import FORMS, PASSWORD, TOKEN, USERS, silence


@dataclass
class Boxes:
    store: Store
    a: TestClient  # node a's web, logged in as sue (supervisor)
    b: TestClient  # node b's web, where the recording is
    contact: str
    data: bytes


def app_of(store: Store, tmp_path: Path, source: RecordingSource) -> TestClient:
    passwords = PasswordFile(tmp_path / "passwords.yaml")
    passwords.save({u.id: hashed(PASSWORD) for u in USERS})
    sessions = Sessions(SessionStore(store), {u.id: u for u in USERS})
    app = build_web_app(Auth(USERS, passwords, sessions, TOKEN))
    add_contact_page_routes(app, store, Evaluations(store, FORMS), FORMS, source)
    add_api_routes(app, store, lambda: None, recording_source=source)  # type: ignore[arg-type,return-value]
    return TestClient(TestServer(app, host="127.0.0.1"))


async def rig(tmp_path: Path, nodes: dict[str, str] | None = None) -> AsyncIterator[Boxes]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")))
    await store.migrate()
    call = await store.open_contact("voice", "inbound", "+15550100", "100", asterisk_node="host/b")
    file = tmp_path / "b-disk" / "rec-b.wav"
    file.parent.mkdir()
    silence(file, 2.0)
    saved = {"name": "rec-b", "duration": 2.0, "format": "wav", "file": str(file)}
    await store.append(call, "recording.saved", saved, agent="alice")
    b = app_of(store, tmp_path, RecordingSource("host/b", {}, TOKEN))
    await b.start_server()
    b_url = f"http://127.0.0.1:{b.server.port}"
    # On node a the file is not on its disk (another box).
    source = RecordingSource(
        "host/a",
        {"host/b": b_url} if nodes is None else nodes,
        TOKEN,
        timeout=2.0,
        is_here=lambda f: not f.startswith(str(tmp_path / "b-disk")),
    )
    a = app_of(store, tmp_path, source)
    await a.start_server()
    try:
        response = await a.post("/login", json={"user": "sue", "password": PASSWORD})
        assert response.status == 200
        yield Boxes(store, a, b, call, file.read_bytes())
    finally:
        await a.close()
        await b.close()
        await store.close()


@pytest.fixture
async def boxes(tmp_path: Path) -> AsyncIterator[Boxes]:
    async for found in rig(tmp_path):
        yield found


async def accessed(boxes: Boxes) -> list[dict[str, object]]:
    events = await boxes.store.events(boxes.contact)
    return [e.data for e in events if e.type == "recording.accessed"]


async def test_a_recording_made_on_node_b_plays_and_downloads_through_node_a(
    boxes: Boxes,
) -> None:
    played = await boxes.a.get(f"/api/contacts/{boxes.contact}/recordings/rec-b")
    assert played.status == 200, await played.text()
    assert await played.read() == boxes.data
    assert played.headers["Content-Disposition"] == 'inline; filename="rec-b.wav"'
    assert played.headers["Cache-Control"] == "no-store"
    downloaded = await boxes.a.get("/api/recordings/rec-b")
    assert downloaded.status == 200
    assert await downloaded.read() == boxes.data
    # Logged once per access, by who asked node a (node b's serving is not an access).
    assert await accessed(boxes) == [
        {"by": "sue", "role": "supervisor", "recording": "rec-b"},
        {"by": "sue", "role": "supervisor", "recording": "rec-b"},
    ]


async def test_node_b_down_is_a_503_naming_it_and_nothing_is_logged(boxes: Boxes) -> None:
    await boxes.b.close()
    played = await boxes.a.get(f"/api/contacts/{boxes.contact}/recordings/rec-b")
    assert played.status == 503
    said = (await played.json())["error"]
    assert said.startswith("recording rec-b is on node host/b, which did not answer: "), said
    downloaded = await boxes.a.get("/api/recordings/rec-b")
    assert downloaded.status == 503
    assert "is on node host/b, which did not answer" in (await downloaded.json())["error"]
    assert await accessed(boxes) == []


async def test_a_node_missing_from_routing_nodes_is_a_503_saying_so(tmp_path: Path) -> None:
    async for boxes in rig(tmp_path, nodes={}):
        played = await boxes.a.get(f"/api/contacts/{boxes.contact}/recordings/rec-b")
        assert played.status == 503
        assert (await played.json())["error"] == (
            "recording rec-b is on node host/b, whose web address is not in routing.nodes"
        )
        assert await accessed(boxes) == []


async def test_a_recording_gone_from_its_node_too_is_a_404(boxes: Boxes) -> None:
    Path(str((await boxes.store.events(boxes.contact))[0].data["file"])).unlink()
    played = await boxes.a.get(f"/api/contacts/{boxes.contact}/recordings/rec-b")
    assert played.status == 404
    assert (await played.json())["error"] == (
        f"contact {boxes.contact} has no recording rec-b (not on node host/b either)"
    )
    unknown = await boxes.a.get(f"/api/contacts/{boxes.contact}/recordings/rec-x")
    assert unknown.status == 404
    assert await accessed(boxes) == []


async def test_the_node_endpoint_takes_the_api_token_only_and_logs_nothing(
    boxes: Boxes,
) -> None:
    path = f"/api/nodes/recordings/{boxes.contact}/rec-b"
    assert (await boxes.b.get(path)).status == 401
    wrong = await boxes.b.get(path, headers={"Authorization": "Bearer wrong"})
    assert wrong.status == 401
    login = await boxes.b.post("/login", json={"user": "sue", "password": PASSWORD})
    assert login.status == 200
    supervisor = await boxes.b.get(path)  # a person, with a session: not a node
    assert supervisor.status == 403
    token = {"Authorization": f"Bearer {TOKEN}"}
    served = await boxes.b.get(path, headers=token)
    assert served.status == 200 and await served.read() == boxes.data
    elsewhere = await boxes.a.get(path, headers=token)  # a serves its own disk only
    assert elsewhere.status == 404
    assert await accessed(boxes) == []


def test_a_node_reads_only_its_own_recordings_folder_from_disk(tmp_path: Path) -> None:
    mine, theirs = tmp_path / "a" / "recordings", tmp_path / "b" / "recordings"
    for folder in (mine, theirs):
        folder.mkdir(parents=True)
        (folder / "r.wav").write_bytes(b"RIFF")
    here = under(mine)
    assert here(str(mine / "r.wav"))
    assert not here(str(theirs / "r.wav"))  # another node's: fetched from it
    assert not here(str(mine / ".." / ".." / "b" / "recordings" / "r.wav"))
    assert not here(str(mine / "missing.wav"))
    assert not under(None)(str(mine / "r.wav"))  # a web process: nothing is here
    assert on_disk(str(theirs / "r.wav"))  # a single box: any stored file
