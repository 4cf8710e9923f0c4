"""The `chat:` section of config/hotline.yaml: web chat, messengers and the agent desk.

chat:
  flow: chat                  # the flow chats run (as text)
  entries: {sales: chat_sales}  # widgets with data-entry="sales" run chat_sales
  reminder_after: 120         # seconds of customer silence before a reminder,
  close_after: 60             # then this long before the chat closes
  queue_message_every: 60     # a waiting message every N s (0 = off)
  queue_messages: [chat_queue_wait]
  callback_after: 120         # offer a callback after N s waiting (0 = never)
  max_attachment_bytes: 5000000
  attachment_types: [image/png, image/jpeg, image/gif, application/pdf, text/plain]
  rate: 5                     # messages a second from one client, on average,
  burst: 10                   # with bursts up to this
  wrap_up_codes: [resolved, follow_up, not_resolved]
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
"""

from __future__ import annotations

from typing import Annotated

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
    reminder_after: float = Field(120.0, gt=0, le=86400)
    close_after: float = Field(60.0, gt=0, le=86400)
    queue_message_every: float = Field(60.0, ge=0)
    queue_messages: list[Name] = ["chat_queue_wait"]
    callback_after: float = Field(120.0, ge=0)
    max_attachment_bytes: int = Field(5_000_000, ge=1, le=50_000_000)
    attachment_types: list[MimeType] = [
        "image/png",
        "image/jpeg",
        "image/gif",
        "application/pdf",
        "text/plain",
    ]
    rate: float = Field(5.0, gt=0)
    burst: int = Field(10, ge=1)
    max_sessions: int = Field(20_000, ge=1)
    wrap_up_codes: list[Name] = Field(["resolved", "follow_up", "not_resolved"], min_length=1)
    canned: dict[Name, list[Annotated[str, Field(min_length=1, max_length=1000)]]] = {}
    telegram: TelegramSettings = TelegramSettings()
    webhook: WebhookSettings = WebhookSettings()
