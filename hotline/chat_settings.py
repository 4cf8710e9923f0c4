"""The `chat:` section of config/hotline.yaml: web chat, messengers and the agent desk.

chat:
  flow: chat                  # the flow chats run (as text)
  entries: {sales: chat_sales}  # widgets with data-entry="sales" run chat_sales
  reminder_after: 120         # seconds of customer silence before a reminder,
  close_after: 60             # then this long before the chat closes
  max_attachment_bytes: 5000000
  attachment_types: [image/png, image/jpeg, image/gif, application/pdf, text/plain]
  rate: 5                     # messages a second from one client, on average,
  burst: 10                   # with bursts up to this
  wrap_up_codes: [resolved, follow_up, not_resolved]
  public_url: https://help.example.com  # files go to the JSON webhook as links here
  canned:                     # the desk's canned responses, per queue
    support: ["Hello! How can I help?", "Is there anything else?"]
  telegram:                   # a Telegram bot (webhook in, Bot API out)
    enabled: true
    api_base: https://api.telegram.org
    token: "123456:ABC..."    # the bot's token from BotFather
    webhook_secret: "..."     # sent back by Telegram in X-Telegram-Bot-Api-Secret-Token
  webhook:                    # a generic JSON webhook, signed with HMAC-SHA256
    enabled: true
    secret: "..."
    reply_url: http://127.0.0.1:9000/replies

What a waiting chat is told (position, wait, periodic messages, the callback offer) is
its queue's, as for a call (hotline/waiting.py): `queues: NAME: announcements:` and
`callback: offer_after:`. The old chat-wide settings are refused with the replacement.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Url = Annotated[str, Field(pattern=r"^https?://[^\s/?#]+[^\s]*$")]
Secret = Annotated[str, Field(min_length=16, max_length=256, pattern=r"^[A-Za-z0-9_:.-]+$")]
MimeType = Annotated[str, Field(pattern=r"^[a-z]+/[a-z0-9.+-]+$")]


def identity_skill(agent_id: str) -> str:
    """The skill only this agent has (level 100): a chat transferred to the agent
    requires it, so the one routing engine offers it to that agent alone."""
    return f"agent.{agent_id}"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: Chat-wide settings that became the queue's (one waiting experience for every
#: channel), with what replaces them.
RETIRED = {
    "callback_after": (
        "queues.<name>.callback.offer_after (seconds of *estimated* wait before a "
        "callback is offered, for calls and chats alike)"
    ),
    "queue_message_every": "queues.<name>.announcements.periodic_every",
    "queue_messages": "queues.<name>.announcements.periodic (prompt keys, said in turn)",
}


def refuse_retired(section: object) -> object:
    """ValueError naming the replacement of a chat-wide waiting setting."""
    if isinstance(section, dict):
        for name, replacement in RETIRED.items():
            if name in section:
                raise ValueError(f"chat.{name} is no longer a setting; use {replacement}")
    return section


class TelegramSettings(_Section):
    enabled: bool = False
    api_base: Url = "https://api.telegram.org"
    token: Annotated[str, Field(pattern=r"^[0-9]+:[A-Za-z0-9_-]{10,}$")] | None = None
    webhook_secret: Secret | None = None

    @model_validator(mode="after")
    def _complete(self) -> TelegramSettings:
        if self.enabled and not (self.token and self.webhook_secret):
            raise ValueError("an enabled telegram channel needs token and webhook_secret")
        return self


class WebhookSettings(_Section):
    enabled: bool = False
    secret: Secret | None = None
    reply_url: Url | None = None

    @model_validator(mode="after")
    def _complete(self) -> WebhookSettings:
        if self.enabled and not (self.secret and self.reply_url):
            raise ValueError("an enabled webhook channel needs secret and reply_url")
        return self


class ChatConfig(_Section):
    """See the module docstring."""

    enabled: bool = True
    flow: Name = "chat"
    #: More entry points: a page's widget names one (data-entry) to run another flow.
    entries: dict[Name, Name] = {}
    reminder_after: float = Field(default=120.0, gt=0, le=86400)
    close_after: float = Field(default=60.0, gt=0, le=86400)
    max_attachment_bytes: int = Field(default=5_000_000, ge=1, le=50_000_000)
    attachment_types: list[MimeType] = [
        "image/png",
        "image/jpeg",
        "image/gif",
        "application/pdf",
        "text/plain",
    ]
    rate: float = Field(default=5.0, gt=0)
    burst: int = Field(default=10, ge=1)
    max_sessions: int = Field(default=20_000, ge=1)
    wrap_up_codes: list[Name] = Field(
        default=["resolved", "follow_up", "not_resolved"], min_length=1
    )
    canned: dict[Name, list[Annotated[str, Field(min_length=1, max_length=1000)]]] = {}
    #: The address customers reach Hotline's web at (https://help.example.com): a file
    #: sent to a channel that cannot carry files (the JSON webhook) goes as a link there.
    public_url: Url | None = None
    telegram: TelegramSettings = TelegramSettings()
    webhook: WebhookSettings = WebhookSettings()

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        return refuse_retired(data)
