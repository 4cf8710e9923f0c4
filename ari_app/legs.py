"""Outbound legs: a transfer target, an agent's phone or a customer called back, rung
into Stasis, then connected in a mixing bridge. Shared by transfers, queues and
callbacks."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Literal

from ari_app.client import AriClient, AriError, AriNotFound

#: What the side that waits for a leg to answer hears meanwhile.
RINGBACK = "tone:ring"

Unanswered = Literal["busy", "no_answer", "failed"]

#: Hang-up causes (Q.850) of a leg that never answered. 21 "call rejected" is the
#: callee declining: busy too, for whoever waits.
UNANSWERED_CAUSES: dict[int, Unanswered] = {
    17: "busy",
    21: "busy",
    18: "no_answer",
    19: "no_answer",
}


def unanswered(cause: int) -> Unanswered:
    """Why a leg that ended with hang-up `cause` never answered."""
    return UNANSWERED_CAUSES.get(cause, "failed")


async def originate(
    ari: AriClient,
    *,
    endpoint: str,
    leg: str,
    args: str,
    originator: str | None,
    ring_seconds: float,
    caller_id: str = "",
    variables: Mapping[str, str] | None = None,
) -> None:
    """Ring `endpoint` as channel `leg`; it enters Stasis with `args` when answered.
    `variables` are set on the leg as it is made (dialplan functions too): no request
    of their own afterwards.

    The id is ours, chosen before the request, so the Stasis app can route the leg's
    events to the call before the first one arrives."""
    params: dict[str, str | int] = {
        "endpoint": endpoint,
        "app": ari.app,
        "appArgs": args,
        "channelId": leg,
        # Asterisk's own limit is a backstop: the caller's timer decides.
        "timeout": math.ceil(ring_seconds) + 5,
    }
    if originator:
        params["originator"] = originator
    if caller_id:
        params["callerId"] = caller_id
    body = {"variables": dict(variables)} if variables else None
    await ari.request("POST", "channels", params=params, body=body)


class ChannelsGone(AriError):
    """Channels to connect hung up before they were in the bridge."""

    def __init__(self, channels: list[str]) -> None:
        super().__init__(400, f"channel(s) gone before connecting: {', '.join(channels)}")
        self.channels = channels


async def connect(ari: AriClient, bridge: str, *channels: str, dtmf: bool = False) -> None:
    """Put the channels in a new mixing bridge of that id. ChannelsGone names those
    that hung up before (the bridge is then left for `clean_up`). `dtmf`: the
    channels' keys reach the application (no native RTP bridging, which would pass
    them peer to peer): an agent's feature codes while talking."""
    kind = "mixing,dtmf_events" if dtmf else "mixing"
    await ari.request("POST", "bridges", params={"type": kind, "bridgeId": bridge})
    try:
        await ari.request(
            "POST", f"bridges/{bridge}/addChannel", params={"channel": ",".join(channels)}
        )
    except AriError as error:
        if error.unreachable:
            raise
        gone = [channel for channel in channels if not await exists(ari, channel)]
        if not gone:
            raise
        raise ChannelsGone(gone) from error


async def exists(ari: AriClient, channel: str) -> bool:
    """Whether Asterisk still has the channel."""
    try:
        await ari.request("GET", f"channels/{channel}")
    except AriNotFound:
        return False
    return True


async def clean_up(ari: AriClient, leg: str | None, bridge: str | None) -> None:
    """Hang up the leg and destroy the bridge, whatever state they are in.

    Best effort, never masking why we got here: either may be gone, Asterisk too."""
    if leg is not None:
        with contextlib.suppress(AriError):
            await ari.hangup(leg)
    if bridge is not None:
        with contextlib.suppress(AriError):
            await ari.request("DELETE", f"bridges/{bridge}")
