"""What the chat says: catalogue texts (a key's chat variant first) with values filled in."""

from __future__ import annotations

from chat_bridge.text_port import prompt_text
from hotline.catalogue import Catalogue


class Texts:
    """`texts("chat_queue_position", "en", position=3)` -> "You are number 3 ..."."""

    def __init__(self, catalogue: Catalogue | None) -> None:
        self.catalogue = catalogue

    def __call__(self, key: str, language: str, **values: object) -> str:
        text = prompt_text(self.catalogue, key, language)
        for name, value in values.items():
            text = text.replace("{" + name + "}", str(value))
        return text
