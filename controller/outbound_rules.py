"""The outbound calls' rules from the config: the same for a call worker (which places
the calls) and a web process (which answers the desk's choice of queues)."""

from __future__ import annotations

from hotline.calls.outbound import OutboundRules
from hotline.config import HotlineConfig


def outbound_rules(config: HotlineConfig) -> OutboundRules:
    return OutboundRules(
        caller_ids={name: q.caller_id or "" for name, q in config.queues.items()},
        agent_queues={a.id: list(a.penalties()) for a in config.agents},
        dialing=config.callbacks,
        own_numbers=(*config.flow_numbers, *config.callbacks.own_numbers),
    )
