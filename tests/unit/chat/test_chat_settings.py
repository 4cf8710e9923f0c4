"""The `chat:` section: the chat-wide waiting settings are refused, naming the queue
settings that replace them (one waiting experience for calls and chats)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.config import load_config
from hotline.yamlsource import SourceError


@pytest.mark.parametrize(
    ("setting", "replacement"),
    [
        ("callback_after: 120", "queues.<name>.callback.offer_after"),
        ("queue_message_every: 60", "queues.<name>.announcements.periodic_every"),
        ("queue_messages: [chat_queue_wait]", "queues.<name>.announcements.periodic"),
    ],
)
def test_a_retired_chat_setting_names_its_replacement(
    tmp_path: Path, setting: str, replacement: str
) -> None:
    path = tmp_path / "hotline.yaml"
    path.write_text(f'numbers:\n  "100": main\nchat:\n  flow: chat\n  {setting}\n')
    with pytest.raises(SourceError) as caught:
        load_config(path)
    message = str(caught.value)
    assert f"chat.{setting.split(':')[0]} is no longer a setting" in message
    assert replacement in message
    assert str(path) in message
