"""Carrying on the chats a previous controller left open (run once at start-up, before
the web server takes connections).

Chats live only in the controller (Asterisk has no part in them), so a controller
killed outright leaves their sessions, messages and event log in the store and
nothing else. `ChatRecovery.run`:

- logs the agents who were logged in to chat back in (their own pause kept), held as
  unreachable until their desk reconnects (the desk's socket was the old controller's);
- gives each agent back the chats they were talking in (`RoutingService.restore`, the
  voice path): the agent's capacity counts them and their desk shows the tabs again;
- puts each waiting chat back in its queue at its original place (entry time and
  priority from the log, `hotline/acd/restore.py`), offered to agents in order;
- starts the flow again, as a new contact, for chats in the middle of their flow (why:
  chat_bridge/resume.py); the old contact ends `lost`, reason `controller_restart`;
- ends `lost` any other chat contact still marked active.

Customers' and agents' clients reconnect and ask for the messages after the last one
they saw: every message was committed before it was delivered, so none is lost and a
resend with the same client id is stored once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from chat_bridge.bridge import ChatBridge
from chat_bridge.resume import RESTART_REASON, ChatPlan, Resume, chat_presence, plan_chat
from chat_bridge.resume import request_of as queue_request
from hotline.acd.model import Channel, Contact
from hotline.acd.restore import Talking, clock_of
from hotline.acd.router import RoutingError
from hotline.acd.states import IllegalTransition
from hotline.contacts import ContactLifecycle, EndReason
from hotline.store.active import active_contacts
from hotline.store.chats import ChatSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatRecoveryReport:
    """What a pass did: chats waiting on, talking on, restarted, lost; agents back."""

    waiting: int
    talking: int
    restarted: int
    lost: int
    agents: int
    seconds: float


class ChatRecovery:
    """Takes over the open chats of the store (see the module docstring)."""

    def __init__(
        self,
        bridge: ChatBridge,
        agents: Iterable[str],
        *,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bridge = bridge
        self.agents = list(agents)
        self.wall = wall
        self.clock = clock

    async def run(self, only: list[ChatSession] | None = None) -> ChatRecoveryReport:
        """Every open chat of the store; or `only` these sessions (a web process taking
        over the chats of another, chat_bridge/cluster.py: the agents and the other
        chats are not this pass's business)."""
        started = time.monotonic()
        bridge, routing = self.bridge, self.bridge.routing
        sessions = await bridge.chats.open_sessions() if only is None else only
        plans: list[tuple[ChatSession, ChatPlan, str | None]] = []
        for session in sessions:
            contact_id = session.contact_id or ""
            plan = plan_chat(contact_id, await bridge.store.events(contact_id))
            stored = await bridge.store.contact(contact_id)
            plans.append((session, plan, stored.flow if stored else None))
        agents = await self._agents_back() if only is None else 0
        now_wall, now = self.wall(), self.clock()
        waiting: list[Contact] = []
        talking: list[Talking] = []
        for _session, plan, _flow in plans:
            place = plan.place
            if place is None:
                continue
            contact = place.contact(clock_of(place.entered, now_wall, now))
            if plan.how is Resume.AGENT and place.agent and place.answered:
                since = clock_of(place.answered, now_wall, now)
                talking.append(Talking(place.agent, contact, since))
            else:
                waiting.append(contact)
        tickets, refused = await routing.restore(waiting, talking)
        # An agent the routing engine cannot give the chat back to (no longer in the
        # config, not logged in to chat): the chat goes back to its queue instead.
        again = [t.contact for t in talking if t.contact.id in refused]
        if again:
            more, still = await routing.restore(again)
            tickets.update(more)
            refused.update(still)
        counts = {"waiting": 0, "talking": 0, "restarted": 0}
        resumed: set[str] = set()
        for session, plan, flow in plans:
            language = plan.language or session.language or bridge.deps.default_language
            ticket = tickets.get(plan.contact_id)
            place = plan.place
            try:
                if place is not None and ticket is not None:
                    await bridge.adopt(
                        session,
                        queue_request(place, language),
                        flow=flow,
                        ticket=ticket,
                        joined=ticket.contact.entered_at,
                    )
                    counts["waiting"] += 1
                elif (
                    place is not None
                    and plan.how is Resume.AGENT
                    and plan.contact_id not in refused
                ):
                    await bridge.adopt(
                        session, queue_request(place, language), flow=flow, agent=place.agent
                    )
                    counts["talking"] += 1
                else:
                    if place is not None:
                        log.warning(
                            "chat recovery: contact %s not restored in routing: %s",
                            plan.contact_id,
                            refused.get(plan.contact_id, "no place"),
                        )
                    await bridge.restart(session, language, flow)
                    counts["restarted"] += 1
                resumed.add(plan.contact_id)
            except Exception:  # one chat's failure must not keep the others from going on
                log.exception("chat recovery: session %s could not be carried on", session.id)
        lost = 0
        left = [] if only is not None else await active_contacts(bridge.store, Channel.CHAT.value)
        for left_open in left:
            if left_open.id in resumed or left_open.id in bridge.by_contact:
                continue
            lifecycle = ContactLifecycle(bridge.store, "chat", contact_id=left_open.id)
            ending = lifecycle.ending(EndReason.CONTROLLER_LOST)
            await bridge.store.append(
                left_open.id,
                "chat.closed",
                {"by": RESTART_REASON, "status": ending.status.value, "reason": RESTART_REASON},
            )
            await lifecycle.close(ending)
            lost += 1
        report = ChatRecoveryReport(
            **counts, lost=lost, agents=agents, seconds=round(time.monotonic() - started, 3)
        )
        if plans or lost:
            log.info("chat recovery: %s", report)
        return report

    async def _agents_back(self) -> int:
        """Agents logged in to chat when the log ends are logged in again, unreachable
        until their desk connects. Returns how many."""
        routing = self.bridge.routing
        back = 0
        for agent in self.agents:
            presence = chat_presence(await self.bridge.chats.agent_events(agent))
            if presence is None:
                continue
            try:
                await routing.reachable(agent, Channel.CHAT, self.bridge.hub.connected(agent))
                await routing.login(agent, [Channel.CHAT], paused=presence.paused)
            except (RoutingError, IllegalTransition, ValueError) as error:
                log.warning("chat recovery: agent %s not logged in to chat: %s", agent, error)
                continue
            back += 1
        return back
