"""What an ARI event is about."""

from __future__ import annotations

from ari_app.client import AriEvent

#: The ARI event types the controller acts on; Asterisk is told to send only these
#: (`PUT /applications/{app}/eventFilter`), so it does not turn the others (ChannelVarset,
#: ChannelStateChange, ChannelDialplan, bridge and playback-started events...) into
#: JSON text for the WebSocket, nor the controller parse them. A handler that starts
#: reading another type must add it here (tests/unit/voice/test_event_filter.py checks
#: that every type named in ari_app/ and voice/ is in the list).
WANTED_EVENTS = frozenset(
    {
        "StasisStart",
        "StasisEnd",
        "ChannelDestroyed",
        "ChannelHangupRequest",
        "ChannelDtmfReceived",
        "ChannelTransfer",
        "PlaybackFinished",
        "RecordingFinished",
        "RecordingFailed",
    }
)

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
