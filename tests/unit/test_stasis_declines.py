"""Asterisk's declined message types (config/asterisk/stasis.conf.j2): never one that
Hotline, its AMI listener or the load benchmark reads, and never one Asterisk's
manager routes by type (declining those stops Asterisk at boot: "Failed to load
module manager")."""

from __future__ import annotations

from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2] / "config/asterisk/stasis.conf.j2"

#: The stasis message types behind what Hotline reads: the ARI app's events
#: (ari_app/events.py), AMI's (ari_app/ami.py) and bench/call_evidence.py's.
READ = {
    "ast_channel_snapshot_type",  # StasisStart/End, ChannelDestroyed
    "ast_channel_hangup_request_type",  # ChannelHangupRequest
    "ast_channel_dtmf_end_type",  # ChannelDtmfReceived
    "ast_channel_transfer_request_type",  # ChannelTransfer (REFER)
    "stasis_app_playback_snapshot_type",  # PlaybackFinished
    "stasis_app_recording_snapshot_type",  # RecordingFinished/Failed
    "ast_multi_user_event_type",  # UserEvent (the overload door)
    "ast_endpoint_contact_state_type",  # ContactStatus (agents' phones)
    "ast_channel_entered_bridge_type",  # BridgeEnter (the load benchmark)
    "ast_channel_left_bridge_type",  # BridgeLeave
    "stasis_subscription_change_type",  # stasis's own bookkeeping of subscriptions
    # Not read, but declined Asterisk logs an ERROR for each ("Failed to issue
    # security event"): one per authenticated REGISTER or INVITE.
    "ast_security_event_type",
}

#: Types Asterisk's manager adds routes for at boot (main/manager_channels.c,
#: main/manager_bridges.c): declined, the manager fails to load and Asterisk exits.
ROUTED_BY_MANAGER = {
    "ast_channel_dtmf_begin_type",
    "ast_channel_hold_type",
    "ast_channel_unhold_type",
    "ast_channel_fax_type",
    "ast_channel_chanspy_start_type",
    "ast_channel_chanspy_stop_type",
    "ast_channel_hangup_handler_type",
    "ast_channel_moh_start_type",
    "ast_channel_moh_stop_type",
    "ast_channel_monitor_start_type",
    "ast_channel_monitor_stop_type",
    "ast_channel_dial_type",
}


def declined() -> set[str]:
    lines = TEMPLATE.read_text().splitlines()
    return {line.split("=", 1)[1].strip() for line in lines if line.strip().startswith("decline")}


def test_the_busiest_unread_types_are_declined() -> None:
    assert {"ast_channel_varset_type", "ast_test_suite_message_type"} <= declined()


def test_nothing_hotline_reads_is_declined() -> None:
    assert not declined() & READ


def test_nothing_the_manager_routes_is_declined() -> None:
    assert not declined() & ROUTED_BY_MANAGER
