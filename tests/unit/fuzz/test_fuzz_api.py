"""The REST API against its OpenAPI description (hotline/web/openapi.yaml), fuzzed by
schemathesis: whatever the request, no 500, and every answer is one the description
documents (status, content type, body schema). Run as the admin token, as an agent
(whose powers end at their own presence) and with no credentials at all.

The application is the real one (hotline/web/api.py and auth.py) on a real SQLite
store and routing engine, served on loopback from a thread.
"""

from __future__ import annotations

import os
import wave
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ari_app.call_control import AriCallControl
from ari_app.client import AriClient
from ari_app.holding import HoldingBridges
from ari_app.monitoring import CallMonitors
from ari_app.outbound import AriOutbound
from ari_app.queueing import Queueing
from ari_app.recording import LiveRecordings
from chat_bridge.messengers import Messengers, add_messenger_routes
from chat_bridge.monitoring import ChatMonitors
from hotline.acd import Agent, Queue, Router
from hotline.acd.service import RoutingService
from hotline.callbacks.settings import CallbackConfig
from hotline.calls.outbound import OutboundRules
from hotline.calls.outbound_service import OutboundCalls
from hotline.chat_settings import TelegramSettings, WebhookSettings
from hotline.contacts.wrapup import WrapUps
from hotline.knowledge import KnowledgeBase
from hotline.quality.evaluations import Evaluations
from hotline.quality.forms import load_forms
from hotline.store import Store, sqlite_url
from hotline.store.chats import ChatStore
from hotline.store.sessions import SessionStore
from hotline.web.api import ApiStatus, add_api_routes, openapi_document
from hotline.web.assist_api import Assist, add_assist_routes
from hotline.web.auth import Auth, PasswordFile, Role, Sessions, User, build_web_app
from hotline.web.calls_api import add_call_routes
from hotline.web.contact_page import add_contact_page_routes
from hotline.web.contacts_api import add_contacts_routes
from hotline.web.evaluations_api import add_evaluation_routes
from hotline.web.knowledge_api import add_knowledge_routes
from hotline.web.monitor_api import add_chat_monitor_routes, add_monitor_routes
from hotline.web.phone_api import BrowserPhones, PhoneAccount, add_phone_routes
from tests.unit.chat.conftest import make_rig
from tests.unit.fuzz.mutations import EXAMPLES
from tests.unit.fuzz.served import ServedInThread

TOKEN = "fuzz-api-token"
SCHEMA_FILE = Path(__file__).resolve().parents[3] / "hotline/web/openapi.yaml"
schema = schemathesis.openapi.from_path(SCHEMA_FILE)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class Served(ServedInThread):
    """The API on 127.0.0.1 in a thread of its own, with a seeded store."""

    async def _start(self) -> None:
        store = await Store.connect(sqlite_url(str(self.folder / "api.db")))
        await store.migrate()
        contact = await store.open_contact("voice", "inbound", "5550001", "100")
        await store.append(contact, "call.arrived", {"caller": "5550001"})
        audio = self.folder / "call-1.wav"
        with wave.open(str(audio), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(b"\0\0" * 800)
        await store.append(
            contact,
            "recording.saved",
            {"name": "call-1", "file": str(audio), "duration": 0.1, "outcome": "empty"},
            agent="alice",
        )
        await store.close_contact(contact, "completed")
        router = Router()
        router.add_queue(Queue("q"))
        router.add_agent(Agent("alice", queues=["q"]))
        self.routing = RoutingService(router, store.append)
        users = [
            User("alice", "Alice", Role.AGENT, "alice"),
            User("sue", "Sue", Role.SUPERVISOR),
        ]
        sessions = Sessions(SessionStore(store), {u.id: u for u in users})
        auth = Auth(users, PasswordFile(self.folder / "passwords.yaml"), sessions, TOKEN)
        self.alice = await sessions.create(users[0])
        app = build_web_app(auth)
        add_api_routes(
            app,
            store,
            lambda: ApiStatus(True, True, 0, {"alice": "reachable"}),
            routing=self.routing,
            agents={"alice": "Alice"},
            recording=LiveRecordings(AriClient("http://127.0.0.1:9", "u", "p", "hotline")),
        )
        # Call control over an Asterisk that is not there: every command is refused.
        ari = AriClient("http://127.0.0.1:9", "u", "p", "hotline")
        # Outbound calls: alice is not logged in, so every call is refused before dialing.
        queueing = Queueing(
            routing=self.routing,
            settings={},
            endpoints={"alice": "1001"},
            bridges=HoldingBridges(ari),
            recordings=LiveRecordings(ari),
        )
        outbound = OutboundCalls(
            OutboundRules({"q": ""}, {"alice": ["q"]}, CallbackConfig()),
            AriOutbound(ari, queueing, SimpleNamespace(followed={}), store),
            store,
        )
        control = AriCallControl(ari, {})
        # Monitoring: no live call, so none to monitor (before the call routes, whose
        # {action} would take "monitor").
        add_monitor_routes(app, CallMonitors(ari, control, {}, {}))
        add_call_routes(app, control, outbound)
        # Wrap-up codes and notes: the stored contact is no agent's, so an agent is refused.
        add_contacts_routes(app, WrapUps(store, self.routing, {}, ["resolved"]))
        # Evaluations and the contact page: the stored contact was answered by nobody,
        # so an evaluation of it is refused (409).
        forms = load_forms(SCHEMA_FILE.parents[2] / "config" / "evaluations")
        evaluations = Evaluations(store, forms)
        add_evaluation_routes(app, evaluations, forms)
        add_contact_page_routes(app, store, evaluations, forms)
        # The messenger webhooks are in the description too: served by a real chat
        # bridge (tests/unit/fuzz/test_fuzz_messengers.py fuzzes their valid side).
        self.chat = make_rig(self.folder)
        rig = await self.chat.__aenter__()
        # Supervisors on chats: no chat is live here.
        add_chat_monitor_routes(app, ChatMonitors(rig.bridge.hub, rig.store, rig.routing))
        self.messengers = Messengers(
            rig.bridge,
            aiohttp.ClientSession(),
            TelegramSettings(enabled=True, token="1:fuzz-api-token", webhook_secret="s" * 20),
            WebhookSettings(enabled=True, secret="s" * 20, reply_url="http://127.0.0.1:9/"),
        )
        add_messenger_routes(app, self.messengers)
        # The knowledge base (the shipped articles; the admin's PUTs add versions) and
        # agent assist over it (the stored contact is no chat's: suggestions 404).
        kb, _refused = await KnowledgeBase.open(
            store, ["en", "ru"], SCHEMA_FILE.parents[2] / "knowledge"
        )
        add_knowledge_routes(app, kb)
        add_assist_routes(app, Assist(kb, ChatStore(store)))
        # The browser phone's account: alice's own (the relay's Asterisk is not there).
        alice_phone = PhoneAccount("1001-web", "1001", "sip-secret", "Alice")

        async def alive(token: str) -> bool:
            return await sessions.resolve(token) is not None

        add_phone_routes(app, BrowserPhones({"alice": alice_phone}, "ws://127.0.0.1:9/ws", alive))
        self.store = store
        await self._serve(app)

    async def _close(self) -> None:
        await self.messengers.close()
        await self.messengers.http.close()
        await self.chat.__aexit__(None, None, None)
        await self.store.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = Served(tmp_path_factory.mktemp("api")).start()
    yield served
    served.stop()


FUZZ = settings(
    max_examples=max(20, EXAMPLES // 3),
    derandomize="HOTLINE_FUZZ_EXAMPLES" not in os.environ,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@FUZZ
def test_as_admin(case: schemathesis.Case, api: Served) -> None:
    case.call_and_validate(
        base_url=api.url, headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS
    )


@schema.parametrize()
@FUZZ
def test_as_an_agent(case: schemathesis.Case, api: Served) -> None:
    response = case.call_and_validate(
        base_url=api.url, cookies={"hotline_session": api.alice}, checks=CHECKS
    )
    # An agent may act on their own presence and see who they are, and read and search
    # the knowledge base (not its versions); nothing else.
    path = case.formatted_path
    if response.status_code == 200:
        own = path.startswith("/api/agents/alice/") or path in (
            "/api/me",
            "/api/health",
            "/api/phone/account",
        )
        knowledge = case.method.upper() == "GET" and (
            path == "/api/assist/search"
            or (path.startswith("/api/knowledge/") and "/versions" not in path)
        )
        assert own or knowledge or path in ("/api/openapi.json", "/login"), path


@schema.parametrize()
@FUZZ
def test_without_credentials(case: schemathesis.Case, api: Served) -> None:
    response = case.call_and_validate(base_url=api.url, checks=CHECKS)
    own_method = case.method.upper() == case.operation.method.upper()
    if own_method and case.operation.definition.raw.get("security") != []:
        assert response.status_code == 401, (case.formatted_path, response.status_code)


def test_the_description_is_served_and_matches_the_routes(api: Served) -> None:
    got = requests.get(f"{api.url}/api/openapi.json", timeout=10)
    assert got.status_code == 200 and got.json() == openapi_document()
    routes = requests.get(f"{api.url}/api/contacts", timeout=10)
    assert routes.status_code == 401 and routes.json()["error"]


def test_a_body_over_the_limit_is_refused_with_413(api: Served) -> None:
    got = requests.post(
        f"{api.url}/api/agents/alice/pause",
        data=b"{" + b" " * 70_000 + b"}",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert got.status_code == 413


def test_json_nested_too_deep_is_a_clear_400(api: Served) -> None:
    """Found in review: Python's JSON parser raises RecursionError, not ValueError."""
    got = requests.post(
        f"{api.url}/api/agents/alice/pause",
        data=b"[" * 20_000,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert got.status_code == 400 and got.json() == {"error": "the body must be JSON"}
