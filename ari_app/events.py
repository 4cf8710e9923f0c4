"""What an ARI event is about."""

from __future__ import annotations

from ari_app.client import AriEvent

#: Events that mean a channel is gone.
GONE_EVENTS = frozenset({"StasisEnd", "ChannelDestroyed", "ChannelHangupRequest"})


def channel_of(event: AriEvent) -> str | None:
    """The channel an ARI event is about, if any."""
    if "channel" in event:
        channel: str = event["channel"]["id"]
        return channel
    if event.get("type") == "ChannelTransfer":  # a REFER: about the phone that sent it
        referrer: str | None = event.get("referred_by", {}).get("source_channel", {}).get("id")
        return referrer
    for key in ("playback", "recording"):
        target: str = event.get(key, {}).get("target_uri", "")
        if target.startswith("channel:"):
            return target.removeprefix("channel:")
    return None
