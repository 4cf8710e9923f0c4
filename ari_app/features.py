"""Agents' feature codes (dialplan/extensions.conf.j2): a softphone dials *21..*24 to
log in, log out, pause with a reason or unpause; a prompt confirms, then it hangs up.

The agent is known by the PJSIP endpoint the call came from: only authenticated
agents' endpoints reach these codes (context hotline-agents)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ari_app.client import AriEvent
from ari_app.voice_port import VoicePort
from hotline.acd.model import CALL_CHANNELS, AgentState, Channel
from hotline.acd.presence import PresenceError, change_presence
from hotline.acd.service import RoutingService
from hotline.flows.port import CallerGone, Prompt
from hotline.store import Store

log = logging.getLogger(__name__)


@dataclass
class Features:
    routing: RoutingService
    store: Store
    #: PJSIP endpoint -> agent id
    agents: Mapping[str, str]
    #: digit -> reason
    pause_reasons: Mapping[str, str]
    language: str


def endpoint_of(channel: AriEvent) -> str:
    """'PJSIP/1001-0000002a' -> '1001'."""
    name = str(channel.get("name", ""))
    return name.split("/", 1)[-1].rsplit("-", 1)[0]


async def run_feature(
    features: Features, port: VoicePort, channel: AriEvent, args: list[str]
) -> None:
    agent = features.agents.get(endpoint_of(channel))
    action = args[0] if args else ""
    reason = features.pause_reasons.get(args[1]) if len(args) > 1 else None
    prompt = "feature_refused"
    outcome: dict[str, Any] = {"action": action, "endpoint": endpoint_of(channel)}
    try:
        await port.answer()
        if agent is None:
            outcome["refused"] = "not an agent's phone"
        elif len(args) > 1 and reason is None:
            outcome["refused"] = f"no pause reason {args[1]}"
        else:
            try:
                # The phone's channels: voice calls and callbacks ring the same phone.
                statuses = features.routing.agent_status(agent)
                phone = sorted(set(statuses) & CALL_CHANNELS)
                if action == "ready":  # only what is in wrap-up can end it
                    wrapping = [ch for ch in phone if statuses[ch].state is AgentState.WRAP_UP]
                    phone = wrapping or [Channel.VOICE]
                view = await change_presence(
                    features.routing, agent, action, reason=reason, channels=phone
                )
                prompt = f"agent_{action}"
                outcome["state"] = view[Channel.VOICE]["state"]
            except PresenceError as error:
                outcome["refused"] = str(error)
        await features.store.append(None, "agent.feature", outcome, agent=agent)
        log.info("feature code from %s: %s", agent or outcome["endpoint"], outcome)
        await port.play([Prompt(key=prompt)], language=features.language, barge_in=False)
        await port.hangup()
    except CallerGone:
        return
